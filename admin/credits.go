package admin

import (
	"go.uber.org/zap"

	"github.com/arouter/arouter/money"
)

// maxCreditGrant bounds one grant, so that a typo cannot make a pool effectively unlimited.
const maxCreditGrant = 1_000_000 * money.PerUSD

// getCredits serves GET /v1/credits (admins): the context's pool.
func (c *call) getCredits() {
	if !c.requireAdmin() {
		return
	}
	c.writeCredits(c.p.Org.ID)
}

// writeCredits answers with orgID's pool.
func (c *call) writeCredits(orgID int64) {
	c.api.syncSpend(c.context(), c.api.now(), orgID)
	b := c.api.ledger.Balance(orgID)
	writeJSON(c.ctx, 200, map[string]any{"data": map[string]any{
		"total_credits": usdJSON(b.Credits),
		"total_usage":   usdJSON(b.Used),
	}})
}

// addCredits serves POST /v1/credits {"amount": USD, "organization_id": ID} (the instance
// admin only) and answers with the pool it raised.
//
// There is no payment processor: credits are an allowance of the operator's upstream spend, so
// only the operator grants them, to the context its key acts in or to any organization named
// by organization_id. An organization's Admins divide the pool among keys (key limits) but do
// not raise it: every user is the Admin of a personal context and may create organizations,
// so if Admins could grant credits, anyone with an account could spend without bound.
func (c *call) addCredits() {
	if !c.p.User.InstanceAdmin {
		if c.p.IsAdmin() {
			errCreditsByOperator.write(c.ctx)
		} else {
			errAdminOnly.write(c.ctx)
		}
		return
	}
	f, e := decodeFields(c.ctx.PostBody(), "amount", "organization_id")
	if e != nil {
		e.write(c.ctx)
		return
	}
	if !f.has("amount") {
		badField("amount", "is required").write(c.ctx)
		return
	}
	amount, e := f.usd("amount")
	if e != nil {
		e.write(c.ctx)
		return
	}
	if amount == 0 || amount > maxCreditGrant {
		badField("amount", "must be more than 0 and at most 1000000").write(c.ctx)
		return
	}
	orgID := c.p.Org.ID
	if f.has("organization_id") {
		if orgID, e = f.int("organization_id"); e != nil {
			e.write(c.ctx)
			return
		}
	}
	if err := c.api.store.AddCredits(c.context(), orgID, amount, c.p.User.ID); err != nil {
		c.fail(err, errOrgNotFound)
		return
	}
	c.api.log.Info("credits added", zap.Int64("org", orgID), zap.Stringer("usd", amount), zap.Int64("by", c.p.User.ID))
	// The ledger takes the stored total, not the amount: the periodic reload may already have
	// counted this grant, and a total read after the grant is stored includes it whichever
	// came first (see budget.Ledger.RaiseCredits).
	total, err := c.api.store.CreditsOf(c.context(), orgID)
	if err != nil {
		c.api.log.Warn("the grant is stored; it is usable after the next reload of credit totals", zap.Int64("org", orgID), zap.Error(err))
	} else {
		c.api.ledger.RaiseCredits(map[int64]money.Nanos{orgID: total})
	}
	c.writeCredits(orgID)
}

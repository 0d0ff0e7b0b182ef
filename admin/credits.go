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
	c.api.syncSpend(c.context(), c.api.now(), c.p.Org.ID)
	b := c.api.ledger.Balance(c.p.Org.ID)
	writeJSON(c.ctx, 200, map[string]any{"data": map[string]any{
		"total_credits": usdJSON(b.Credits),
		"total_usage":   usdJSON(b.Used),
	}})
}

// addCredits serves POST /v1/credits {"amount": USD} (admins). There is no payment processor:
// credits are an allowance the organization's admins manage.
func (c *call) addCredits() {
	if !c.requireAdmin() {
		return
	}
	f, e := decodeFields(c.ctx.PostBody(), "amount")
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
	if err := c.api.store.AddCredits(c.context(), c.p.Org.ID, amount, c.p.User.ID); err != nil {
		c.fail(err, errOrgNotFound)
		return
	}
	c.api.log.Info("credits added", zap.Int64("org", c.p.Org.ID), zap.Stringer("usd", amount), zap.Int64("by", c.p.User.ID))
	// The ledger takes the stored total, not the amount: the periodic reload may already have
	// counted this grant, and a total read after the grant is stored includes it whichever
	// came first (see budget.Ledger.RaiseCredits).
	total, err := c.api.store.CreditsOf(c.context(), c.p.Org.ID)
	if err != nil {
		c.api.log.Warn("the grant is stored; it is usable after the next reload of credit totals", zap.Int64("org", c.p.Org.ID), zap.Error(err))
	} else {
		c.api.ledger.RaiseCredits(map[int64]money.Nanos{c.p.Org.ID: total})
	}
	c.getCredits()
}

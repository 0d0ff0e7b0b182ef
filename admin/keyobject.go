package admin

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
)

// keyObject is an inference key on the wire, in OpenRouter's shape plus ARouter's fields
// (allowed_models, expires_at, creator and organization, prompt_logging).
type keyObject struct {
	Hash               string   `json:"hash"`
	Name               string   `json:"name"`
	Label              string   `json:"label"`
	Disabled           bool     `json:"disabled"`
	Limit              *usdJSON `json:"limit"`
	LimitRemaining     *usdJSON `json:"limit_remaining"`
	LimitReset         *string  `json:"limit_reset"`
	IncludeBYOKInLimit bool     `json:"include_byok_in_limit"`
	AllowedModels      []string `json:"allowed_models"`
	Usage              usdJSON  `json:"usage"`
	UsageDaily         usdJSON  `json:"usage_daily"`
	UsageWeekly        usdJSON  `json:"usage_weekly"`
	UsageMonthly       usdJSON  `json:"usage_monthly"`
	BYOKUsage          usdJSON  `json:"byok_usage"`
	BYOKUsageDaily     usdJSON  `json:"byok_usage_daily"`
	BYOKUsageWeekly    usdJSON  `json:"byok_usage_weekly"`
	BYOKUsageMonthly   usdJSON  `json:"byok_usage_monthly"`
	CreatedAt          timeJSON `json:"created_at"`
	UpdatedAt          timeJSON `json:"updated_at"`
	ExpiresAt          timeJSON `json:"expires_at"`
	CreatorUserID      int64    `json:"creator_user_id"`
	OrganizationID     int64    `json:"organization_id"`
	// PromptLogging is the key's own opt-in to prompt logging; its organization's opt-in
	// (GET /v1/orgs/{id}) makes the key's requests logged too.
	PromptLogging bool `json:"prompt_logging"`
}

// syncSpend brings the ledger's copy of keys' spend (and their contexts' credits) up to date
// with what other replicas spent, when budgets are shared (budget.Remote). On failure the
// ledger's copy is shown, which lags by this replica's view; that is logged, not an error.
func (a *API) syncSpend(ctx context.Context, now time.Time, orgID int64, keys ...*apikey.Key) {
	budgets := make([]int64, len(keys))
	for i, k := range keys {
		budgets[i] = k.BudgetID
	}
	if err := a.ledger.Sync(ctx, budgets, []int64{orgID}, now); err != nil {
		a.log.Warn("showing this replica's copy of the spend counters: the shared copy is unreachable", zap.Error(err))
	}
}

// newKeyObject renders k with its spend as the ledger holds it at now.
func newKeyObject(k *apikey.Key, ledger *budget.Ledger, now time.Time) keyObject {
	spend := ledger.KeyUsage(k.BudgetID, now)
	o := keyObject{
		Hash:               k.Hash.String(),
		Name:               k.Name,
		Label:              k.Label,
		Disabled:           k.Disabled,
		IncludeBYOKInLimit: k.IncludeBYOKInLimit,
		AllowedModels:      k.AllowedModels,
		Usage:              usdJSON(spend.Total),
		UsageDaily:         usdJSON(spend.Day),
		UsageWeekly:        usdJSON(spend.Week),
		UsageMonthly:       usdJSON(spend.Month),
		BYOKUsage:          usdJSON(spend.BYOKTotal),
		BYOKUsageDaily:     usdJSON(spend.BYOKDay),
		BYOKUsageWeekly:    usdJSON(spend.BYOKWeek),
		BYOKUsageMonthly:   usdJSON(spend.BYOKMonth),
		CreatedAt:          timeJSON(k.CreatedAt),
		UpdatedAt:          timeJSON(k.UpdatedAt),
		ExpiresAt:          timeJSON(k.ExpiresAt),
		CreatorUserID:      k.CreatorID,
		OrganizationID:     k.OrgID,
		PromptLogging:      k.PromptLogging,
	}
	if o.AllowedModels == nil {
		o.AllowedModels = []string{}
	}
	if k.HasLimit {
		limit := usdJSON(k.Limit)
		o.Limit = &limit
		rem, _ := ledger.Remaining(k, now)
		remaining := usdJSON(rem)
		o.LimitRemaining = &remaining
	}
	if k.LimitReset != apikey.NoReset {
		r := k.LimitReset.String()
		o.LimitReset = &r
	}
	return o
}

package budget

import (
	"time"

	"github.com/arouter/arouter/money"
)

// KeySpend is what one key budget (apikey.Key.BudgetID) has spent: in total, and in the UTC
// day, week (from Monday) and month that contain the snapshot's time.
type KeySpend struct {
	Total, Day, Week, Month money.Nanos
	// BYOK is the list price of requests served on the organization's own provider keys,
	// paid to the provider directly and tracked apart (OpenRouter's byok_usage fields).
	BYOKTotal, BYOKDay, BYOKWeek, BYOKMonth money.Nanos
}

// OrgBalance is one context's credit pool: credits granted and spent, in total.
type OrgBalance struct {
	Credits, Used money.Nanos
}

// Snapshot is the durable state a Ledger starts from, read from the store at start-up.
type Snapshot struct {
	At   time.Time // the periods in KeySpend are those containing At
	Keys map[int64]KeySpend
	Orgs map[int64]OrgBalance
}

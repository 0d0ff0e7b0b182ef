package sqlite

import (
	"context"
	"database/sql"

	"github.com/arouter/arouter/accounting"
)

// The daily roll-ups (usage_daily, usage_daily_models, usage_daily_keys) are kept by the batch
// writer rather than by a trigger: a trigger upserted all three for every record, which was
// most of the CPU a request cost the gateway. A batch of records from the same keys and models
// on the same day sums to a handful of rows, so the writer sums in memory and upserts each
// row once per batch, in the transaction that inserts the records. Only records actually
// inserted are summed (see WriteUsage), so a replayed batch adds nothing.

// rowSums are the measures every roll-up row carries.
type rowSums struct {
	requests, prompt, completion, reasoning, cached, cacheWrite, cost, byokRequests, byokCost int64
}

func (s *rowSums) add(r *accounting.Record) {
	s.requests++
	s.prompt += r.PromptTokens
	s.completion += r.CompletionTokens
	s.reasoning += r.ReasoningTokens
	s.cached += r.CachedTokens
	s.cacheWrite += r.CacheWriteTokens
	s.cost += int64(r.Cost)
	if r.BYOK {
		s.byokRequests++
	}
	s.byokCost += int64(r.BYOKCost)
}

func (s *rowSums) args() []any {
	return []any{s.requests, s.prompt, s.completion, s.reasoning, s.cached, s.cacheWrite, s.cost, s.byokRequests, s.byokCost}
}

type dailyRow struct {
	org, day, key   int64
	model, provider string
	budget          int64
}

type modelRow struct {
	org, day        int64
	model, provider string
}

type keyRow struct{ org, day, key int64 }

// batchSums sums one batch's inserted records per row of each roll-up.
type batchSums struct {
	daily  map[dailyRow]*rowSums
	models map[modelRow]*rowSums
	keys   map[keyRow]*rowSums
}

func newBatchSums() *batchSums {
	return &batchSums{daily: map[dailyRow]*rowSums{}, models: map[modelRow]*rowSums{}, keys: map[keyRow]*rowSums{}}
}

func sumsFor[K comparable](m map[K]*rowSums, k K) *rowSums {
	s := m[k]
	if s == nil {
		s = &rowSums{}
		m[k] = s
	}
	return s
}

func (ru *batchSums) add(r *accounting.Record) {
	day := r.Time.UnixMicro() / dayMicros
	sumsFor(ru.daily, dailyRow{r.OrgID, day, r.KeyID, r.Model, r.Provider, r.BudgetID}).add(r)
	sumsFor(ru.models, modelRow{r.OrgID, day, r.Model, r.Provider}).add(r)
	sumsFor(ru.keys, keyRow{r.OrgID, day, r.KeyID}).add(r)
}

// rollUpSet is the SET clause shared by the three upserts.
const rollUpSet = ` DO UPDATE SET
	requests           = requests + excluded.requests,
	prompt_tokens      = prompt_tokens + excluded.prompt_tokens,
	completion_tokens  = completion_tokens + excluded.completion_tokens,
	reasoning_tokens   = reasoning_tokens + excluded.reasoning_tokens,
	cached_tokens      = cached_tokens + excluded.cached_tokens,
	cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
	cost_nanos         = cost_nanos + excluded.cost_nanos,
	byok_requests      = byok_requests + excluded.byok_requests,
	byok_cost_nanos    = byok_cost_nanos + excluded.byok_cost_nanos`

const rollUpMeasures = "requests, prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos, byok_requests, byok_cost_nanos"

const (
	upsertDailySQL = `INSERT INTO usage_daily (org_id, day, key_id, model, provider, budget_id, ` + rollUpMeasures + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id, day, key_id, model, provider, budget_id)` + rollUpSet
	upsertModelsSQL = `INSERT INTO usage_daily_models (org_id, day, model, provider, ` + rollUpMeasures + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id, day, model, provider)` + rollUpSet
	upsertKeysSQL = `INSERT INTO usage_daily_keys (org_id, day, key_id, ` + rollUpMeasures + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id, day, key_id)` + rollUpSet
)

// write upserts every summed row in tx, with the store's prepared upserts.
func (ru *batchSums) write(ctx context.Context, tx *sql.Tx, upsert *[3]*sql.Stmt) error {
	exec := func(i int, args []any) error {
		_, err := tx.StmtContext(ctx, upsert[i]).ExecContext(ctx, args...)
		return err
	}
	for k, s := range ru.daily {
		if err := exec(0, append([]any{k.org, k.day, k.key, k.model, k.provider, k.budget}, s.args()...)); err != nil {
			return err
		}
	}
	for k, s := range ru.models {
		if err := exec(1, append([]any{k.org, k.day, k.model, k.provider}, s.args()...)); err != nil {
			return err
		}
	}
	for k, s := range ru.keys {
		if err := exec(2, append([]any{k.org, k.day, k.key}, s.args()...)); err != nil {
			return err
		}
	}
	return nil
}

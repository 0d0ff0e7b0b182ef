package postgres

import (
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arouter/arouter/accounting"
)

// The daily roll-ups (usage_daily, usage_daily_models, usage_daily_keys) are kept by the batch
// writer, as in store/sqlite: a batch of records from the same keys and models on the same day
// sums to a handful of rows, so WriteUsage sums the records it inserted in memory and upserts
// each roll-up row once per batch, in the transaction that inserts the records. Only records
// that the insert reports inserted are summed, so a replayed batch adds nothing. Activity and
// LoadSpend read the roll-ups, never the records, so retention does not change their answers.
//
// Each roll-up's rows go in one statement (the rows as array parameters, as for the records),
// and the three statements are pipelined in one round trip.

// dayMicros is the length of a day in usage_records.created_at units; usage_daily.day is
// created_at / dayMicros.
const dayMicros = 24 * 60 * 60 * 1_000_000

// dayNumber returns the usage_daily.day of t, for t at or after 1970.
func dayNumber(t time.Time) int64 { return t.UnixMicro() / dayMicros }

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

// measureArrays are the measure columns of a roll-up's rows, in rollUpMeasures order.
type measureArrays [9][]int64

func newMeasureArrays(n int) *measureArrays {
	var m measureArrays
	for i := range m {
		m[i] = make([]int64, 0, n)
	}
	return &m
}

func (m *measureArrays) add(s *rowSums) {
	for i, v := range [9]int64{s.requests, s.prompt, s.completion, s.reasoning, s.cached, s.cacheWrite,
		s.cost, s.byokRequests, s.byokCost} {
		m[i] = append(m[i], v)
	}
}

func (m *measureArrays) args() []any {
	out := make([]any, len(m))
	for i := range m {
		out[i] = m[i]
	}
	return out
}

const rollUpMeasures = "requests, prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, " +
	"cost_nanos, byok_requests, byok_cost_nanos"

// rollUpSet is the conflict action shared by the three upserts: add the batch's sums to the
// stored row, which the upsert holds locked, so concurrent writers' additions all land.
const rollUpSet = ` DO UPDATE SET
	requests           = t.requests + EXCLUDED.requests,
	prompt_tokens      = t.prompt_tokens + EXCLUDED.prompt_tokens,
	completion_tokens  = t.completion_tokens + EXCLUDED.completion_tokens,
	reasoning_tokens   = t.reasoning_tokens + EXCLUDED.reasoning_tokens,
	cached_tokens      = t.cached_tokens + EXCLUDED.cached_tokens,
	cache_write_tokens = t.cache_write_tokens + EXCLUDED.cache_write_tokens,
	cost_nanos         = t.cost_nanos + EXCLUDED.cost_nanos,
	byok_requests      = t.byok_requests + EXCLUDED.byok_requests,
	byok_cost_nanos    = t.byok_cost_nanos + EXCLUDED.byok_cost_nanos`

// measureParams are the array parameters of the measures, after n key columns.
func measureParams(n int) string {
	var b strings.Builder
	for i := range 9 {
		b.WriteString(", $" + strconv.Itoa(n+i+1) + "::bigint[]")
	}
	return b.String()
}

// The upserts. Each batch's rows go in the order of the conflict key (ORDER BY), so that
// writers touching the same rows lock them in the same order and one waits for the other
// instead of deadlocking; WriteUsage also runs the three statements in the same order every
// time. A batch has each key once (it was summed per key), which ON CONFLICT DO UPDATE
// requires of one statement.
var (
	upsertDailySQL = `INSERT INTO usage_daily AS t (org_id, day, key_id, model, provider, budget_id, ` + rollUpMeasures + `)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[]` + measureParams(6) + `)
		ORDER BY 1, 2, 3, 4, 5, 6
		ON CONFLICT (org_id, day, key_id, model, provider, budget_id)` + rollUpSet
	upsertModelsSQL = `INSERT INTO usage_daily_models AS t (org_id, day, model, provider, ` + rollUpMeasures + `)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]` + measureParams(4) + `)
		ORDER BY 1, 2, 3, 4
		ON CONFLICT (org_id, day, model, provider)` + rollUpSet
	upsertKeysSQL = `INSERT INTO usage_daily_keys AS t (org_id, day, key_id, ` + rollUpMeasures + `)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]` + measureParams(3) + `)
		ORDER BY 1, 2, 3
		ON CONFLICT (org_id, day, key_id)` + rollUpSet
)

// queue adds the upserts of every summed row to b, usage_daily first, then usage_daily_models,
// then usage_daily_keys; nothing if no record was inserted.
func (ru *batchSums) queue(b *pgx.Batch) {
	if len(ru.daily) == 0 {
		return
	}
	{
		n := len(ru.daily)
		org, day, key, budget := make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
		model, provider := make([]string, 0, n), make([]string, 0, n)
		m := newMeasureArrays(n)
		for k, s := range ru.daily {
			org, day, key, budget = append(org, k.org), append(day, k.day), append(key, k.key), append(budget, k.budget)
			model, provider = append(model, k.model), append(provider, k.provider)
			m.add(s)
		}
		b.Queue(upsertDailySQL, append([]any{org, day, key, model, provider, budget}, m.args()...)...)
	}
	{
		n := len(ru.models)
		org, day := make([]int64, 0, n), make([]int64, 0, n)
		model, provider := make([]string, 0, n), make([]string, 0, n)
		m := newMeasureArrays(n)
		for k, s := range ru.models {
			org, day = append(org, k.org), append(day, k.day)
			model, provider = append(model, k.model), append(provider, k.provider)
			m.add(s)
		}
		b.Queue(upsertModelsSQL, append([]any{org, day, model, provider}, m.args()...)...)
	}
	{
		n := len(ru.keys)
		org, day, key := make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
		m := newMeasureArrays(n)
		for k, s := range ru.keys {
			org, day, key = append(org, k.org), append(day, k.day), append(key, k.key)
			m.add(s)
		}
		b.Queue(upsertKeysSQL, append([]any{org, day, key}, m.args()...)...)
	}
}

package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/money"
)

// ErrRecordNotFound is returned (wrapped) by UsageByGeneration when no record has the id.
var ErrRecordNotFound = accounting.ErrRecordNotFound

const usageColumns = "generation_id, created_at, key_id, org_id, budget_id, model, provider, upstream_model, " +
	"prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, " +
	"cost_nanos, cache_discount_nanos, is_byok, byok_cost_nanos, latency_us, ttfb_us, status, streamed, cancelled, error_code, " +
	"upstream_id, finish_reason, native_finish_reason"

// insertUsageSQL inserts a whole batch with one statement of fixed text, whatever the batch's
// size: each column arrives as one array parameter (usageArrays, in usageColumns order) and
// unnest turns the arrays back into rows. One text means one prepared statement in pgx's cache,
// and arrays travel in binary, without the 26 placeholders per row (and the 65535 parameter
// cap) of a multi-row VALUES.
//
// ON CONFLICT DO NOTHING makes a replayed record a no-op; RETURNING names the records actually
// inserted, the only ones the roll-ups may count. ORDER BY fixes the order in which the rows'
// keys are claimed: when two writers insert overlapping batches, the second waits for the first
// on the first id they share and then skips it, and since both go in the same order neither can
// hold an id the other is waiting for while it waits (a deadlock).
const insertUsageSQL = "INSERT INTO usage_records (" + usageColumns + ")\n" +
	"SELECT * FROM unnest(" +
	"$1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], " +
	"$9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], " +
	"$14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[], " +
	"$21::bigint[], $22::bigint[], $23::text[], $24::text[], $25::text[], $26::text[]) AS r\n" +
	"ORDER BY 1\n" +
	"ON CONFLICT (generation_id) DO NOTHING\n" +
	"RETURNING generation_id"

// WriteUsage stores recs in one transaction: all of them or, on error, none, so the caller can
// retry the whole batch. Records whose generation id is already stored are skipped, which makes
// a retry after an ambiguous failure (a commit whose answer was lost) safe; a batch naming one id
// twice stores the first. The daily roll-ups are updated in the same transaction, and only with
// the records actually inserted (see rollup.go). Records with Bodies (prompt logging) have them
// stored in usage_bodies, in the same transaction.
//
// Any number of writers, in this process or in other replicas, may write overlapping batches at
// once: every row they both touch is claimed in one global order (records by id, then each
// roll-up by its key, then bodies by id), so one waits for the other instead of deadlocking, and
// a roll-up row is incremented under its row lock, so no increment is lost.
//
// It costs three round trips: BEGIN pipelined with the insert of the records; the roll-up
// upserts and the bodies, pipelined; COMMIT.
func (s *Store) WriteUsage(ctx context.Context, recs []accounting.Record) (err error) {
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		if recs[i].GenerationID.IsZero() {
			return fmt.Errorf("write usage: record %d has no generation id", i)
		}
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("write usage (%d records): %w", len(recs), err)
		}
	}()

	batch := newUsageBatch(recs)
	var b pgx.Batch
	b.BeginTx(pgx.TxOptions{})
	b.Queue(insertUsageSQL, batch.arrays.args()...).Query(batch.markInserted)
	br := s.pool.SendBatch(ctx, &b)
	if tx := br.Tx(); tx != nil {
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	}
	if err := br.Close(); err != nil {
		return err
	}
	tx := br.Tx()

	var rest pgx.Batch
	batch.sums.queue(&rest)
	queueBodies(&rest, batch.recs)
	if rest.Len() > 0 {
		if err := tx.SendBatch(ctx, &rest).Close(); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// usageBatch is one WriteUsage call's records, in the order they are inserted, and the sums of
// those the database reports inserted.
type usageBatch struct {
	recs   []*accounting.Record // by generation id, each id once
	arrays usageArrays
	sums   *batchSums
}

// newUsageBatch orders recs by generation id, dropping every repeat of an id after its first
// occurrence (SQLite's ON CONFLICT DO NOTHING keeps the first too), and builds the insert's
// parameters.
func newUsageBatch(recs []accounting.Record) *usageBatch {
	sorted := make([]*accounting.Record, len(recs))
	for i := range recs {
		sorted[i] = &recs[i]
	}
	slices.SortStableFunc(sorted, func(a, b *accounting.Record) int {
		return bytes.Compare(a.GenerationID[:], b.GenerationID[:])
	})
	sorted = slices.CompactFunc(sorted, func(a, b *accounting.Record) bool { return a.GenerationID == b.GenerationID })
	return &usageBatch{recs: sorted, arrays: newUsageArrays(sorted), sums: newBatchSums()}
}

// markInserted reads the ids RETURNING names and sums their records. It reads each id in
// place (RawValues), without allocating, and finds its record by binary search in recs.
func (u *usageBatch) markInserted(rows pgx.Rows) error {
	for rows.Next() {
		id := rows.RawValues()[0]
		i, ok := slices.BinarySearchFunc(u.recs, id, func(r *accounting.Record, id []byte) int {
			return bytes.Compare(r.GenerationID[:], id)
		})
		if !ok {
			return fmt.Errorf("the database reported inserting generation %q, which the batch does not hold", id)
		}
		u.sums.add(u.recs[i])
	}
	return rows.Err()
}

// usageArrays holds a batch column by column, in usageColumns order: the parameters of
// insertUsageSQL.
type usageArrays struct {
	gen, model, provider, upstreamModel, errorCode, upstreamID, finish, native []string

	created, key, org, budget, prompt, completion, reasoning, cached, cacheWrite, cost,
	cacheDiscount, byok, byokCost, latency, ttfb, status, streamed, cancelled []int64
}

// newUsageArrays builds the columns of recs. The generation ids, upstream ids and native finish
// reasons of the whole batch are cut from one string, so that they cost one allocation rather
// than one each; the other strings point at configuration or constants.
func newUsageArrays(recs []*accounting.Record) usageArrays {
	n := len(recs)
	strs := func() []string { return make([]string, 0, n) }
	ints := func() []int64 { return make([]int64, 0, n) }
	a := usageArrays{
		gen: strs(), model: strs(), provider: strs(), upstreamModel: strs(), errorCode: strs(),
		upstreamID: strs(), finish: strs(), native: strs(),
		created: ints(), key: ints(), org: ints(), budget: ints(), prompt: ints(), completion: ints(),
		reasoning: ints(), cached: ints(), cacheWrite: ints(), cost: ints(), cacheDiscount: ints(), byok: ints(),
		byokCost: ints(), latency: ints(), ttfb: ints(), status: ints(), streamed: ints(), cancelled: ints(),
	}
	size := 0
	for _, r := range recs {
		size += len(r.GenerationID) + len(r.UpstreamID.Bytes()) + len(r.NativeFinishReason.Bytes())
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, r := range recs {
		sb.Write(r.GenerationID[:])
		sb.Write(r.UpstreamID.Bytes())
		sb.Write(r.NativeFinishReason.Bytes())
	}
	text := sb.String()
	cut := func(n int) string {
		s := text[:n]
		text = text[n:]
		return s
	}
	for _, r := range recs {
		a.gen = append(a.gen, cut(len(r.GenerationID)))
		a.upstreamID = append(a.upstreamID, cut(len(r.UpstreamID.Bytes())))
		a.native = append(a.native, cut(len(r.NativeFinishReason.Bytes())))
		a.created = append(a.created, r.Time.UnixMicro())
		a.key = append(a.key, r.KeyID)
		a.org = append(a.org, r.OrgID)
		a.budget = append(a.budget, r.BudgetID)
		a.model = append(a.model, r.Model)
		a.provider = append(a.provider, r.Provider)
		a.upstreamModel = append(a.upstreamModel, r.UpstreamModel)
		a.prompt = append(a.prompt, r.PromptTokens)
		a.completion = append(a.completion, r.CompletionTokens)
		a.reasoning = append(a.reasoning, r.ReasoningTokens)
		a.cached = append(a.cached, r.CachedTokens)
		a.cacheWrite = append(a.cacheWrite, r.CacheWriteTokens)
		a.cost = append(a.cost, int64(r.Cost))
		a.cacheDiscount = append(a.cacheDiscount, int64(r.CacheDiscount))
		a.byok = append(a.byok, boolInt(r.BYOK))
		a.byokCost = append(a.byokCost, int64(r.BYOKCost))
		a.latency = append(a.latency, r.Latency.Microseconds())
		a.ttfb = append(a.ttfb, r.TTFB.Microseconds())
		a.status = append(a.status, int64(r.Status))
		a.streamed = append(a.streamed, boolInt(r.Streamed))
		a.cancelled = append(a.cancelled, boolInt(r.Cancelled))
		a.errorCode = append(a.errorCode, r.ErrorCode)
		a.finish = append(a.finish, r.FinishReason.String())
	}
	return a
}

// args returns the arrays in usageColumns order.
func (a *usageArrays) args() []any {
	return []any{a.gen, a.created, a.key, a.org, a.budget, a.model, a.provider, a.upstreamModel,
		a.prompt, a.completion, a.reasoning, a.cached, a.cacheWrite,
		a.cost, a.cacheDiscount, a.byok, a.byokCost, a.latency, a.ttfb, a.status, a.streamed, a.cancelled, a.errorCode,
		a.upstreamID, a.finish, a.native}
}

// CountUsage returns the number of stored usage records.
func (s *Store) CountUsage(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM usage_records").Scan(&n); err != nil {
		return 0, fmt.Errorf("count usage: %w", err)
	}
	return n, nil
}

// UsageByGeneration returns the record with generation id id, or an error wrapping
// ErrRecordNotFound. Times come back in UTC at microsecond precision.
func (s *Store) UsageByGeneration(ctx context.Context, id string) (accounting.Record, error) {
	var r accounting.Record
	if len(id) != len(r.GenerationID) {
		return r, fmt.Errorf("generation %q: %w", id, ErrRecordNotFound)
	}
	var (
		gen, upstreamID, finish, native    string
		createdUS, cost, latencyUS, ttfbUS int64
		cacheDiscount, isBYOK, byokCost    int64
		status, streamed, cancelled        int64
	)
	err := s.pool.QueryRow(ctx, "SELECT "+usageColumns+" FROM usage_records WHERE generation_id = $1", id).Scan(
		&gen, &createdUS, &r.KeyID, &r.OrgID, &r.BudgetID, &r.Model, &r.Provider, &r.UpstreamModel,
		&r.PromptTokens, &r.CompletionTokens, &r.ReasoningTokens, &r.CachedTokens, &r.CacheWriteTokens,
		&cost, &cacheDiscount, &isBYOK, &byokCost, &latencyUS, &ttfbUS, &status, &streamed, &cancelled, &r.ErrorCode,
		&upstreamID, &finish, &native)
	if errors.Is(err, pgx.ErrNoRows) {
		return accounting.Record{}, fmt.Errorf("generation %q: %w", id, ErrRecordNotFound)
	}
	if err != nil {
		return accounting.Record{}, fmt.Errorf("load generation %q: %w", id, err)
	}
	copy(r.GenerationID[:], gen)
	r.Time = time.UnixMicro(createdUS).UTC()
	r.Cost = money.Nanos(cost)
	r.CacheDiscount = money.Nanos(cacheDiscount)
	r.BYOK = isBYOK != 0
	r.BYOKCost = money.Nanos(byokCost)
	r.Latency = time.Duration(latencyUS) * time.Microsecond
	r.TTFB = time.Duration(ttfbUS) * time.Microsecond
	r.Status = int(status)
	r.Streamed = streamed != 0
	r.Cancelled = cancelled != 0
	r.UpstreamID.SetString(upstreamID)
	r.FinishReason = accounting.ParseFinishReason([]byte(finish))
	r.NativeFinishReason.SetString(native)
	return r, nil
}

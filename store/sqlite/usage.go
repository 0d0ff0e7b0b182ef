package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/money"
)

// ErrRecordNotFound is returned (wrapped) by UsageByGeneration when no record has the id.
var ErrRecordNotFound = accounting.ErrRecordNotFound

const usageColumns = "generation_id, created_at, key_id, org_id, budget_id, model, provider, upstream_model, " +
	"prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, " +
	"cost_nanos, cache_discount_nanos, is_byok, byok_cost_nanos, latency_us, ttfb_us, status, streamed, cancelled, error_code, " +
	"upstream_id, finish_reason, native_finish_reason"

// usageParams is the number of columns, hence bound parameters, per record.
const usageParams = 26

// chunkRows is the number of records per INSERT statement. 50 rows is 1300 parameters, far
// under SQLite's limit (32766 since 3.32). Larger statements write no faster
// (BenchmarkWriteUsage: 50 and 100 rows both about 185,000 records/s), and a chunk is the step
// after which the writer may rest (accounting.Pause): 50 rows are about 0.3 ms of a core.
const chunkRows = 50

// insertUsageSQL returns a multi-row insert for rows records. ON CONFLICT DO NOTHING makes a
// replayed batch (the writer retries after an error it cannot tell from a lost commit) a no-op.
func insertUsageSQL(rows int) string {
	var b strings.Builder
	row := "(" + strings.Repeat("?, ", usageParams-1) + "?)"
	b.Grow(len(usageColumns) + rows*(len(row)+2) + 80)
	b.WriteString("INSERT INTO usage_records (" + usageColumns + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(" ON CONFLICT (generation_id) DO NOTHING")
	return b.String()
}

// WriteUsage stores recs in one transaction: all of them or, on error, none, so the caller can
// retry the whole batch. Records whose generation id is already stored are skipped, which makes
// a retry after an ambiguous failure safe. The daily roll-ups are updated in the same
// transaction, and only for records actually inserted (see rollup.go). Records with Bodies
// (prompt logging) have them stored in usage_bodies, in the same transaction. When the
// accounting writer asks for pacing in ctx, WriteUsage rests after each chunk of rows.
func (s *Store) WriteUsage(ctx context.Context, recs []accounting.Record) error {
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		if recs[i].GenerationID.IsZero() {
			return fmt.Errorf("write usage: record %d has no generation id", i)
		}
	}
	err := s.writeUsage(ctx, recs, false)
	if errors.Is(err, errStoredBefore) {
		// A replay, whole or in part: written again one record at a time, the batch tells
		// which of its records are new, and only those are summed.
		err = s.writeUsage(ctx, recs, true)
	}
	if err != nil {
		return fmt.Errorf("write usage (%d records): %w", len(recs), err)
	}
	return nil
}

// errStoredBefore reports that a chunk inserted fewer rows than it holds: some of its records
// were stored before.
var errStoredBefore = errors.New("some records are stored already")

// writeUsage is WriteUsage's transaction. It inserts chunkRows records per statement and
// gives up with errStoredBefore when a chunk inserts fewer than it holds, since a multi-row
// insert tells how many rows are new but not which; with oneByOne it inserts one record per
// statement and sums exactly those it inserted. A replay is rare, so the common batch pays
// for no savepoints. The inserts run below database/sql (see usageInserts), on the write
// connection, taken before the transaction begins because the pool has only that one.
func (s *Store) writeUsage(ctx context.Context, recs []accounting.Record, oneByOne bool) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit

	sums := newBatchSums()
	err = withInserts(conn, func(u *usageInserts) error {
		if oneByOne {
			return u.insertEach(ctx, recs, sums)
		}
		return u.insertChunks(ctx, recs, sums)
	})
	if err != nil {
		return err
	}
	if err := sums.write(ctx, tx, &s.upsertRollUp); err != nil {
		return err
	}
	if err := writeBodies(ctx, tx, recs); err != nil {
		return err
	}
	return tx.Commit()
}

// appendUsageArgs appends the parameters of recs' rows. The batch writer runs it for every
// record, so it keeps allocations down: the generation and upstream ids of all of recs are cut
// from one string (each then costs only its boxing into args, not a string of its own too),
// finish reasons are boxed once for the whole process, and model, provider and error names,
// which a batch repeats, once per batch.
func appendUsageArgs(args []any, recs []accounting.Record) []any {
	names := make(boxed, 8)
	n := 0
	for i := range recs {
		n += len(recs[i].GenerationID) + len(recs[i].UpstreamID.Bytes())
	}
	var b strings.Builder
	b.Grow(n)
	for i := range recs {
		b.Write(recs[i].GenerationID[:])
		b.Write(recs[i].UpstreamID.Bytes())
	}
	ids := b.String()
	for i := range recs {
		r := &recs[i]
		gen := ids[:len(r.GenerationID)] // TEXT: a []byte would bind as a BLOB
		upstream := ids[len(gen) : len(gen)+len(r.UpstreamID.Bytes())]
		ids = ids[len(gen)+len(upstream):]
		args = append(args,
			gen,
			r.Time.UnixMicro(),
			r.KeyID,
			r.OrgID,
			r.BudgetID,
			names.box(r.Model),
			names.box(r.Provider),
			names.box(r.UpstreamModel),
			r.PromptTokens,
			r.CompletionTokens,
			r.ReasoningTokens,
			r.CachedTokens,
			r.CacheWriteTokens,
			int64(r.Cost),
			int64(r.CacheDiscount),
			boolInt(r.BYOK),
			int64(r.BYOKCost),
			r.Latency.Microseconds(),
			r.TTFB.Microseconds(),
			int64(r.Status),
			boolInt(r.Streamed),
			boolInt(r.Cancelled),
			names.box(r.ErrorCode),
			upstream,
			finishArgs[min(int(r.FinishReason), len(finishArgs)-1)],
			nativeFinishArg(r),
		)
	}
	return args
}

// boxed holds strings already converted to interface values: converting a string to an
// interface allocates, and a batch's records name a handful of models and providers.
type boxed map[string]any

func (b boxed) box(s string) any {
	if v, ok := b[s]; ok {
		return v
	}
	v := any(s)
	b[s] = v
	return v
}

// finishArgs are the finish_reason column's values, boxed once, by accounting.FinishReason.
var finishArgs = func() []any {
	var out []any
	for f := accounting.FinishNone; f <= accounting.FinishOther; f++ {
		out = append(out, f.String())
	}
	return out
}()

// nativeFinishArgs are the native finish reasons that providers send most, boxed once.
var nativeFinishArgs = func() map[string]any {
	out := map[string]any{}
	for _, v := range []string{"stop", "length", "tool_calls", "content_filter", "function_call", "error", // OpenAI
		"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", // Anthropic
		"STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "OTHER"} { // Gemini
		out[v] = v
	}
	return out
}()

// nativeFinishArg is r's native finish reason as a parameter, without allocating when it is a
// common one.
func nativeFinishArg(r *accounting.Record) any {
	b := r.NativeFinishReason.Bytes()
	if v, ok := nativeFinishArgs[string(b)]; ok {
		return v
	}
	return string(b)
}

// CountUsage returns the number of stored usage records.
func (s *Store) CountUsage(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM usage_records").Scan(&n); err != nil {
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
	err := s.r.QueryRowContext(ctx, "SELECT "+usageColumns+" FROM usage_records WHERE generation_id = ?", id).Scan(
		&gen, &createdUS, &r.KeyID, &r.OrgID, &r.BudgetID, &r.Model, &r.Provider, &r.UpstreamModel,
		&r.PromptTokens, &r.CompletionTokens, &r.ReasoningTokens, &r.CachedTokens, &r.CacheWriteTokens,
		&cost, &cacheDiscount, &isBYOK, &byokCost, &latencyUS, &ttfbUS, &status, &streamed, &cancelled, &r.ErrorCode,
		&upstreamID, &finish, &native)
	if errors.Is(err, sql.ErrNoRows) {
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

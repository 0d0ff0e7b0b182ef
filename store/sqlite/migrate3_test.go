package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/budget"
	"github.com/arouter/arouter/money"
)

// A store written by the previous release (schema version 2) keeps its keys and usage when a
// new binary opens it: keys get the new columns' defaults and become their own budget, and
// usage_daily is backfilled to exactly what the trigger would have built.
func TestMigrationFromVersion2(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "arouter.db")
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	must(t, migrateTo(ctx, db, 2))

	// Keys as version 2 stored them. Ids 1, 2 and 5, so that budget_id = id is not a count.
	var keys []*apikey.Key
	for i, id := range []int64{1, 2, 5} {
		k := testKey(i, i == 1)
		k.ID, k.BudgetID, k.UpdatedAt = id, id, k.CreatedAt
		k.Limit, k.HasLimit, k.LimitReset, k.AllowedModels, k.IncludeBYOKInLimit = 0, false, apikey.NoReset, nil, false
		_, err := db.Exec("INSERT INTO api_keys (id, hash, name, label, disabled, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			id, k.Hash[:], k.Name, k.Label, boolInt(k.Disabled), k.CreatedAt.UnixMilli(), msOrNull(k.ExpiresAt))
		must(t, err)
		keys = append(keys, k)
	}
	// Usage as version 2 stored it: three keys over four UTC days (one record a microsecond
	// before midnight, one at it), two models, two providers.
	base := time.Date(2025, 6, 1, 23, 59, 59, 999_999_000, time.UTC)
	var recs []accounting.Record
	for i := range 240 {
		ts := base.Add(time.Duration(i%4)*24*time.Hour + time.Duration(i/4%2)*time.Microsecond)
		r := testRecords(1)[0]
		r.GenerationID = accounting.NewGenerationID(ts)
		r.Time, r.KeyID, r.OrgID, r.BudgetID = ts, keys[i%3].ID, 0, 0
		r.Model = []string{"openai/a", "anthropic/b"}[i/3%2]
		r.Provider = []string{"p1", "p2"}[i/7%2]
		r.PromptTokens, r.CompletionTokens, r.ReasoningTokens = int64(i), int64(2*i), int64(i%5)
		r.CachedTokens, r.CacheWriteTokens, r.Cost = int64(i%9), int64(i%4), money.Nanos(1_000_003*i)
		recs = append(recs, r)
		_, err := db.Exec(`INSERT INTO usage_records (generation_id, created_at, key_id, model, provider, upstream_model,
			prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, cache_write_tokens, cost_nanos,
			latency_us, ttfb_us, status, streamed, cancelled, error_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.GenerationID.String(), r.Time.UnixMicro(), r.KeyID, r.Model, r.Provider, r.UpstreamModel,
			r.PromptTokens, r.CompletionTokens, r.ReasoningTokens, r.CachedTokens, r.CacheWriteTokens, int64(r.Cost),
			r.Latency.Microseconds(), r.TTFB.Microseconds(), r.Status, boolInt(r.Streamed), boolInt(r.Cancelled), r.ErrorCode)
		must(t, err)
	}
	must(t, db.Close())

	s := openAt(t, path)
	if v := schemaVersions(t, s); len(v) != len(migrations) {
		t.Fatalf("versions after upgrade: %v", v)
	}

	for _, k := range keys {
		got, err := s.LoadKey(ctx, k.Hash)
		if err != nil {
			t.Fatal(err)
		}
		checkKey(t, "migrated key "+k.Name, got, k)
		var limitNull, deletedNull bool
		var reset, models string
		must(t, s.r.QueryRow(`SELECT limit_nanos IS NULL, deleted_at IS NULL, limit_reset, allowed_models
			FROM api_keys WHERE id = ?`, k.ID).Scan(&limitNull, &deletedNull, &reset, &models))
		if !limitNull || !deletedNull || reset != "" || models != "[]" {
			t.Errorf("key %d defaults: limit null %v, deleted null %v, reset %q, models %q", k.ID, limitNull, deletedNull, reset, models)
		}
	}
	listed, err := s.ListKeys(ctx, apikey.Filter{IncludeDisabled: true})
	if err != nil || len(listed) != len(keys) {
		t.Fatalf("ListKeys of context 0 after upgrade: %d keys, %v", len(listed), err)
	}
	// A key inserted after the upgrade gets the next id, and that as its budget.
	fresh := newTestKey(1)
	must(t, s.InsertKey(ctx, fresh))
	if fresh.ID != 6 || fresh.BudgetID != 6 {
		t.Errorf("new key: id %d, budget %d; want 6, 6", fresh.ID, fresh.BudgetID)
	}

	// Old records read back with context and budget 0; the roll-up charges their key.
	old, err := s.UsageByGeneration(ctx, recs[0].GenerationID.String())
	if err != nil || old.OrgID != 0 || old.BudgetID != 0 || old != recs[0] {
		t.Errorf("old record: %+v, %v", old, err)
	}
	want := expectedDaily(recs)
	if got := dailyRows(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("backfilled usage_daily:\n got %v\nwant %v", got, want)
	}
	if len(want) < 40 {
		t.Errorf("only %d roll-up rows; the test data is too uniform", len(want))
	}

	// Spend restored per key; new usage adds to the backfilled rows.
	now := base.Add(3*24*time.Hour + time.Hour) // 2025-06-05, a Thursday
	snap, err := s.LoadSpend(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	wantSpend := map[int64]budget.KeySpend{}
	for _, r := range recs {
		ks := wantSpend[r.KeyID]
		ks.Total += r.Cost
		if !r.Time.Before(apikey.Daily.Start(now)) {
			ks.Day += r.Cost
		}
		if !r.Time.Before(apikey.Weekly.Start(now)) {
			ks.Week += r.Cost
		}
		if !r.Time.Before(apikey.Monthly.Start(now)) {
			ks.Month += r.Cost
		}
		wantSpend[r.KeyID] = ks
	}
	if !reflect.DeepEqual(snap.Keys, wantSpend) {
		t.Errorf("LoadSpend keys:\n got %v\nwant %v", snap.Keys, wantSpend)
	}
	more := rec(base, keys[0].ID, keys[0].ID, 0, 5)
	more.Model, more.Provider = recs[0].Model, recs[0].Provider
	must(t, s.WriteUsage(ctx, []accounting.Record{more}))
	if got := dailyRows(t, s); !reflect.DeepEqual(got, expectedDaily(append(recs, more))) {
		t.Errorf("usage_daily after a post-upgrade write:\n got %v", got)
	}
}

// expectedDaily computes usage_daily's rows, formatted as dailyRows does, for records written
// by version 2 (budget 0, so the roll-up charges the key) or later.
func expectedDaily(recs []accounting.Record) []string {
	type key struct {
		day, keyID      int64
		model, provider string
		org, budget     int64
	}
	type sums struct{ n, prompt, completion, reasoning, cached, cacheWrite, cost int64 }
	m := map[key]*sums{}
	var order []key
	for _, r := range recs {
		b := r.BudgetID
		if b == 0 {
			b = r.KeyID
		}
		k := key{r.Time.UnixMicro() / dayMicros, r.KeyID, r.Model, r.Provider, r.OrgID, b}
		if m[k] == nil {
			m[k] = &sums{}
			order = append(order, k)
		}
		s := m[k]
		s.n++
		s.prompt += r.PromptTokens
		s.completion += r.CompletionTokens
		s.reasoning += r.ReasoningTokens
		s.cached += r.CachedTokens
		s.cacheWrite += r.CacheWriteTokens
		s.cost += int64(r.Cost)
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		return fmt.Sprintf("%020d %020d %s\x00%s\x00%020d %020d", a.day, a.keyID, a.model, a.provider, a.org, a.budget) <
			fmt.Sprintf("%020d %020d %s\x00%s\x00%020d %020d", b.day, b.keyID, b.model, b.provider, b.org, b.budget)
	})
	var out []string
	for _, k := range order {
		s := m[k]
		out = append(out, fmt.Sprintln(k.day, k.keyID, k.model, k.provider, k.org, k.budget, s.n, s.prompt, s.completion,
			s.reasoning, s.cached, s.cacheWrite, s.cost))
	}
	return out
}

package retention_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/activity"
	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/retention"
	"github.com/arouter/arouter/store/sqlite"
)

// On the real store, a running Pruner deletes the records older than MaxAge and keeps the
// newer ones, while activity over the whole period (read from the roll-ups) stays the same.
// Prompt-logging bodies go with their records.
func TestPrunerOnSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "arouter.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	var recs []accounting.Record
	for i := range 2500 {
		ts := now.Add(-time.Duration(i%100) * 24 * time.Hour) // 100 days back, 25 per day
		recs = append(recs, accounting.Record{GenerationID: accounting.NewGenerationID(ts), Time: ts, KeyID: 1, OrgID: 1, BudgetID: 1,
			Model: "m/m", Provider: "p", UpstreamModel: "m", PromptTokens: 10, Cost: money.Nanos(i), Status: 200})
		if i%10 == 0 { // a logged request: days 0, 10, 20 … 90
			recs[i].Bodies = &accounting.Bodies{Request: []byte(`{"model":"m/m"}`), RequestSize: 15}
		}
	}
	if err := st.WriteUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	q := activity.Query{OrgID: 1, From: now.Add(-120 * 24 * time.Hour).Truncate(24 * time.Hour), To: now.Add(48 * time.Hour).Truncate(24 * time.Hour), GroupBy: activity.ByDay}
	before, err := st.Activity(ctx, q)
	if err != nil {
		t.Fatal(err)
	}

	p := retention.New(st, retention.Options{MaxAge: 30*24*time.Hour - time.Minute, Batch: 100, Pause: time.Millisecond})
	p.Start()
	defer p.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := st.CountUsage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 30*25 { // days 0 to 29
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records left, want 750", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, err := st.CountBodies(ctx); err != nil || n != 3*25 { // days 0, 10 and 20 are kept
		t.Errorf("%d logged bodies left, %v; want 75", n, err)
	}
	after, err := st.Activity(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if activity.Total(after) != activity.Total(before) || len(after) != len(before) || len(before) < 100 {
		t.Errorf("activity changed: %d days %+v, before %d days %+v", len(after), activity.Total(after), len(before), activity.Total(before))
	}
}

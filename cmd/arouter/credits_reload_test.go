package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/arouter/arouter/money"
	"github.com/arouter/arouter/store/sqlite"
)

// TestCreditsGrantedByAnotherProcessAreUsed: `arouter credits add` with a local store writes
// the grant to the SQLite file the running gateway uses; the gateway must honour it without a
// restart (within keys.refresh_after, 50ms here).
func TestCreditsGrantedByAnotherProcessAreUsed(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, gatewayOpts{extraYAML: "bootstrap: {initial_credits: \"0.000005\"}\n"})
	if status, out := tg.chatAs(tg.key, chatBody); status != 200 {
		t.Fatalf("first request: %d %v", status, out)
	}
	if status, out := tg.chatAs(tg.key, chatBody); status != 402 {
		t.Fatalf("on a spent pool: %d %v", status, out)
	}

	other, err := sqlite.Open(filepath.Join(tg.dir, "arouter.db"))
	if err != nil {
		t.Fatal(err)
	}
	err = other.AddCredits(context.Background(), tg.admin.PersonalOrgID, money.PerUSD, tg.admin.ID)
	other.Close()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, out := tg.chatAs(tg.key, chatBody)
		if status == 200 {
			break
		}
		if status != 402 || time.Now().After(deadline) {
			t.Fatalf("after another process granted credits: %d %v", status, out)
		}
		time.Sleep(20 * time.Millisecond) // polling the gateway: there is no event to wait on
	}
	// The reload sets totals: the grant counts once, however many reloads see it.
	got := data(tg.mustCall(200, "GET", "/v1/credits", tg.adminToken, nil))["total_credits"].(float64)
	if got < 1 || got > 1.00001 {
		t.Fatalf("total_credits = %v, want 1.000005", got)
	}
}

package postgres

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/apikey"
	"github.com/arouter/arouter/tenancy"
)

// Bodies are written with their records, in the same transaction, read back only by the
// record's organization, and a replayed batch adds nothing.
func TestGenerationBodiesRoundTrip(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(4)
	recs[0].Bodies = &accounting.Bodies{Request: []byte(`{"messages":"hi"}`), RequestSize: 17,
		Response: []byte("data: {}\n\n"), ResponseSize: 5 << 20} // truncated answer
	recs[2].Bodies = &accounting.Bodies{Request: []byte(`{}`), RequestSize: 2} // no answer kept
	must(t, s.WriteUsage(ctx, recs))
	must(t, s.WriteUsage(ctx, recs)) // a replay: skipped, not an error

	b, err := s.GenerationBodies(ctx, recs[0].GenerationID.String(), recs[0].OrgID)
	if err != nil {
		t.Fatal(err)
	}
	if string(b.Request) != `{"messages":"hi"}` || string(b.Response) != "data: {}\n\n" || b.RequestTruncated() ||
		!b.ResponseTruncated() || b.ResponseSize != 5<<20 {
		t.Errorf("bodies of record 0: %+v", b)
	}
	b, err = s.GenerationBodies(ctx, recs[2].GenerationID.String(), recs[2].OrgID)
	if err != nil || string(b.Request) != "{}" || len(b.Response) != 0 || b.ResponseTruncated() {
		t.Errorf("bodies of record 2: %+v, %v", b, err)
	}
	for _, c := range []struct {
		what string
		id   string
		org  int64
	}{
		{"another organization's", recs[0].GenerationID.String(), recs[0].OrgID + 1},
		{"a record that was not logged", recs[1].GenerationID.String(), recs[1].OrgID},
		{"an unknown id", accounting.NewGenerationID(time.Now()).String(), recs[0].OrgID},
	} {
		if _, err := s.GenerationBodies(ctx, c.id, c.org); !errors.Is(err, accounting.ErrRecordNotFound) {
			t.Errorf("%s: %v, want ErrRecordNotFound", c.what, err)
		}
	}
	if n, err := s.CountBodies(ctx); err != nil || n != 2 {
		t.Errorf("CountBodies: %d, %v; want 2", n, err)
	}
}

// Retention deletes bodies with their records, in the same statement (the foreign key's ON
// DELETE CASCADE), and nothing else deletes a record without them.
func TestRetentionDeletesBodies(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(40)
	body := []byte(strings.Repeat(`{"content":"canary"} `, 3000)) // stored out of line (TOAST)
	for i := range recs {
		recs[i].Bodies = &accounting.Bodies{Request: body, RequestSize: int64(len(body)), Response: body, ResponseSize: int64(len(body))}
	}
	must(t, s.WriteUsage(ctx, recs))
	cutoff := recs[30].Time
	if n, err := s.DeleteUsageBefore(ctx, cutoff, 1000); err != nil || n != 30 {
		t.Fatalf("DeleteUsageBefore: %d, %v", n, err)
	}
	if n, err := s.CountBodies(ctx); err != nil || n != 10 {
		t.Errorf("%d bodies left, %v; want the 10 of the records kept", n, err)
	}
	for _, r := range recs[30:] {
		if b, err := s.GenerationBodies(ctx, r.GenerationID.String(), r.OrgID); err != nil || !bytes.Equal(b.Request, body) {
			t.Errorf("bodies of a kept record: %v", err)
		}
	}
	// Any delete of a record takes its bodies, not only retention's.
	exec(t, s, "DELETE FROM usage_records WHERE generation_id = $1", recs[35].GenerationID.String())
	if n, err := s.CountBodies(ctx); err != nil || n != 9 {
		t.Errorf("%d bodies left, %v; want 9", n, err)
	}
	if n, err := s.DeleteUsageBefore(ctx, recs[39].Time.Add(time.Second), 1000); err != nil || n != 9 {
		t.Fatalf("DeleteUsageBefore: %d, %v", n, err)
	}
	if n, err := s.CountBodies(ctx); err != nil || n != 0 {
		t.Errorf("%d bodies left, %v; want none", n, err)
	}
}

// Bodies past what one statement carries (maxBodiesBytes) are split over several, all in the
// batch's transaction.
func TestWriteUsageLargeBodies(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	recs := testRecords(20)
	for i := range recs {
		b := bytes.Repeat([]byte{byte('a' + i%26)}, accounting.MaxBodyBytes)
		recs[i].Bodies = &accounting.Bodies{Request: b, RequestSize: int64(len(b)), Response: b[:10], ResponseSize: int64(len(b))}
	}
	if total := 20 * (accounting.MaxBodyBytes + 10); total <= 2*maxBodiesBytes {
		t.Fatalf("%d bytes of bodies fit one statement: the test proves nothing", total)
	}
	must(t, s.WriteUsage(ctx, recs))
	if n, err := s.CountBodies(ctx); err != nil || n != 20 {
		t.Fatalf("CountBodies: %d, %v; want 20", n, err)
	}
	for _, i := range []int{0, 11, 19} {
		b, err := s.GenerationBodies(ctx, recs[i].GenerationID.String(), recs[i].OrgID)
		if err != nil || !bytes.Equal(b.Request, recs[i].Bodies.Request) || !b.ResponseTruncated() {
			t.Errorf("bodies of record %d: %v", i, err)
		}
	}
}

// A key logs prompts when it opted in or its organization did; the organization's setting is
// read with every load, and UpdateOrg names the keys whose cached records it changed.
func TestPromptLoggingSettings(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	admin := newUser(t, s, "ann")
	o := newOrg(t, s, "Acme", admin.ID)
	plain := newOrgKey(t, s, 1, o.ID, admin.ID)
	own := testKey(2, false)
	own.OrgID, own.CreatorID, own.PromptLogging = o.ID, admin.ID, true
	must(t, s.InsertKey(ctx, own))
	if !own.PromptLogging || !own.LogPrompts {
		t.Errorf("inserted key with its own opt-in: %+v", own)
	}
	deleted := newOrgKey(t, s, 3, o.ID, admin.ID)
	must(t, s.DeleteKey(ctx, deleted.Hash, o.ID))
	other := newOrgKey(t, s, 4, admin.PersonalOrgID, admin.ID)

	logs := func(k *apikey.Key) bool {
		t.Helper()
		got, err := s.LoadKey(ctx, k.Hash)
		if err != nil {
			t.Fatal(err)
		}
		return got.LogPrompts
	}
	if logs(plain) || !logs(own) || logs(other) {
		t.Fatalf("defaults: plain %v, own %v, other %v", logs(plain), logs(own), logs(other))
	}

	got, keys, err := s.UpdateOrg(ctx, o.ID, func(o *tenancy.Org) error { o.PromptLogging = true; return nil })
	if err != nil || !got.PromptLogging || got.Name != "Acme" || got.ID != o.ID || !got.CreatedAt.Equal(o.CreatedAt) {
		t.Fatalf("UpdateOrg: %+v, %v", got, err)
	}
	if len(keys) != 2 || !(keys[0] == plain.Hash && keys[1] == own.Hash || keys[1] == plain.Hash && keys[0] == own.Hash) {
		t.Errorf("UpdateOrg named keys %v, want the two live keys of the organization", keys)
	}
	if !logs(plain) || !logs(own) || logs(other) {
		t.Errorf("organization opted in: plain %v, own %v, other %v", logs(plain), logs(own), logs(other))
	}
	if k, err := s.KeyInOrg(ctx, plain.Hash, o.ID); err != nil || k.PromptLogging || !k.LogPrompts {
		t.Errorf("KeyInOrg: %+v, %v", k, err)
	}
	late := newOrgKey(t, s, 5, o.ID, admin.ID)
	if late.PromptLogging || !late.LogPrompts {
		t.Errorf("key inserted into an opted-in organization: %+v", late)
	}
	ms, err := s.OrgsOfUser(ctx, admin.ID)
	if err != nil || len(ms) != 2 || ms[0].Org.PromptLogging || !ms[1].Org.PromptLogging {
		t.Errorf("OrgsOfUser: %+v, %v", ms, err)
	}

	// Opting out: the organization, then the key.
	if _, _, err := s.UpdateOrg(ctx, o.ID, func(o *tenancy.Org) error { o.PromptLogging = false; o.Name = "Acme Inc"; return nil }); err != nil {
		t.Fatal(err)
	}
	if logs(plain) || !logs(own) {
		t.Errorf("organization opted out: plain %v, own %v", logs(plain), logs(own))
	}
	k, err := s.UpdateKey(ctx, own.Hash, o.ID, func(k *apikey.Key) error { k.PromptLogging = false; return nil })
	if err != nil || k.PromptLogging || k.LogPrompts || logs(own) {
		t.Errorf("key opted out: %+v, %v", k, err)
	}

	stop := errors.New("stop")
	if _, _, err := s.UpdateOrg(ctx, o.ID, func(*tenancy.Org) error { return stop }); err != stop {
		t.Errorf("an error from change: %v", err)
	}
	if _, _, err := s.UpdateOrg(ctx, 999, func(*tenancy.Org) error { return nil }); !errors.Is(err, tenancy.ErrNotFound) {
		t.Errorf("unknown organization: %v", err)
	}
}

package accounting

import (
	"context"
	"testing"
	"time"
)

// The ring serves metadata only: it never keeps a record's prompt-logging bodies.
func TestRecentDropsBodies(t *testing.T) {
	t.Parallel()
	rc := NewRecent(4)
	r := Record{GenerationID: NewGenerationID(time.Now()), Model: "m",
		Bodies: &Bodies{Request: []byte("prompt"), RequestSize: 6}}
	rc.Add(&r)
	got, ok := rc.Lookup(r.GenerationID)
	if !ok || got.Bodies != nil || got.Model != "m" {
		t.Fatalf("Lookup: %+v, %v", got, ok)
	}
	if r.Bodies == nil {
		t.Fatal("Add changed the caller's record")
	}
}

// Bodies reach the sink with their records; past MaxQueuedBodyBytes a record is still queued,
// without its bodies; and the budget is given back once a batch is written.
func TestWriterBoundsQueuedBodies(t *testing.T) {
	t.Parallel()
	sink := &memSink{}
	w := NewWriter(sink, Options{BatchSize: 100, FlushInterval: time.Hour, MaxQueuedBodyBytes: 250})
	body := func() *Bodies { return &Bodies{Request: make([]byte, 100), RequestSize: 100} }
	var ids []GenerationID
	for range 3 {
		r := Record{GenerationID: NewGenerationID(time.Now()), Bodies: body()}
		ids = append(ids, r.GenerationID)
		if !w.Enqueue(&r) {
			t.Fatal("enqueue refused")
		}
	}
	if got := w.bodyBytes.Load(); got != 200 {
		t.Errorf("bodies held: %d bytes, want 200 (the third record's were dropped)", got)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := w.bodyBytes.Load(); got != 0 {
		t.Errorf("bodies held after the batch was written: %d bytes, want 0", got)
	}
	withBodies := map[GenerationID]bool{}
	for _, b := range sink.batches {
		for _, r := range b {
			withBodies[r.GenerationID] = r.Bodies != nil
		}
	}
	if len(withBodies) != 3 || !withBodies[ids[0]] || !withBodies[ids[1]] || withBodies[ids[2]] {
		t.Errorf("records written with bodies: %v", withBodies)
	}
}

func TestBodiesTruncation(t *testing.T) {
	t.Parallel()
	b := &Bodies{Request: []byte("abc"), RequestSize: 3, Response: []byte("de"), ResponseSize: 9}
	if b.RequestTruncated() || !b.ResponseTruncated() {
		t.Errorf("truncation: request %v, response %v", b.RequestTruncated(), b.ResponseTruncated())
	}
}

//go:build !race

package accounting

import (
	"context"
	"testing"
	"time"
)

func TestEnqueueAndIDAllocateNothing(t *testing.T) {
	w := NewWriter(&memSink{}, Options{BatchSize: 1 << 20, FlushInterval: time.Hour})
	defer w.Close(context.Background())
	r := Record{Model: "m", Provider: "p"}
	allocs := testing.AllocsPerRun(1000, func() {
		r.GenerationID = NewGenerationID(time.Now())
		w.Enqueue(&r)
	})
	if allocs != 0 {
		t.Fatalf("enqueue allocates %.1f per record, want 0", allocs)
	}
}

// The gateway's spool is a mapped file: spooling a record there allocates nothing either, with
// prompt-logging bodies or without.
func TestEnqueueToFileSpoolAllocatesNothing(t *testing.T) {
	w, err := OpenWriter(&memSink{}, Options{BatchSize: 1 << 20, FlushInterval: time.Hour, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	r := Record{Model: "openai/gpt-4o-mini", Provider: "openai", UpstreamModel: "gpt-4o-mini", ErrorCode: "upstream_status"}
	r.UpstreamID.SetString("chatcmpl-0123456789abcdefghijklmnopqrs")
	bodies := &Bodies{Request: []byte(`{"model":"m","messages":[]}`), Response: []byte(`{"choices":[]}`), RequestSize: 27, ResponseSize: 14}
	for _, b := range []*Bodies{nil, bodies} {
		r.Bodies = b
		allocs := testing.AllocsPerRun(1000, func() {
			r.GenerationID = NewGenerationID(time.Now())
			if !w.Enqueue(&r) {
				t.Fatal("enqueue refused")
			}
		})
		if allocs != 0 {
			t.Fatalf("enqueue (bodies %v) allocates %.1f per record, want 0", b != nil, allocs)
		}
	}
}

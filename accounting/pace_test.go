package accounting

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestPauseRestsOnlyInAPacedContext(t *testing.T) {
	t.Parallel()
	paced := Paced(context.Background())
	for _, c := range []struct {
		name string
		ctx  context.Context
		took time.Duration
		want time.Duration
	}{
		{"not paced", context.Background(), 300 * time.Microsecond, 0},
		{"paced: as long as the step", paced, 300 * time.Microsecond, 300 * time.Microsecond},
		{"paced: a long step rests at most maxPause", paced, time.Hour, maxPause},
	} {
		if got := pauseFor(c.ctx, c.took); got != c.want {
			t.Errorf("%s: pauseFor(%v) = %v, want %v", c.name, c.took, got, c.want)
		}
	}
}

// The writer lets the store pace a batch only while no other full batch is waiting: a
// backlog is written at full speed.
func TestTheStoreMayPaceOnlyWhileTheWriterKeepsUp(t *testing.T) {
	t.Parallel()
	sink := &memSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	commits := make(chan struct{}, 10)
	w := NewWriter(sink, Options{BatchSize: 10, FlushInterval: time.Hour,
		onCommit: func() { commits <- struct{}{} }})
	enqueue := func(n int) {
		for range n {
			r := Record{GenerationID: NewGenerationID(time.Now())}
			if !w.Enqueue(&r) {
				t.Fatal("enqueue refused")
			}
		}
	}
	enqueue(10) // a full batch wakes the writer, and the store holds it
	<-sink.entered
	enqueue(20) // meanwhile two more batches wait
	close(sink.gate)
	for range 3 {
		<-commits
	}
	// The batches in hand were written; Close now would write unpaced, so ask first.
	sink.mu.Lock()
	got := slices.Clone(sink.paced)
	sink.mu.Unlock()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true}; !slices.Equal(got, want) {
		t.Fatalf("paced per batch = %v, want %v (the second was read with a third waiting)", got, want)
	}
}

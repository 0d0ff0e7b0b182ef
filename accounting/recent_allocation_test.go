//go:build !race

package accounting

import (
	"testing"
	"time"
)

func TestAllocationsRecentAdd(t *testing.T) {
	rc := NewRecent(1024)
	r := Record{GenerationID: NewGenerationID(time.Now()), Model: "m"}
	if n := testing.AllocsPerRun(1000, func() { rc.Add(&r) }); n != 0 {
		t.Fatalf("Recent.Add allocates %v times", n)
	}
}

package accounting

import (
	"testing"
	"time"
)

func TestRecentKeepsTheLatestRecords(t *testing.T) {
	t.Parallel()
	rc := NewRecent(3)
	var ids []GenerationID
	base := time.Now()
	for i := range 5 {
		r := Record{GenerationID: NewGenerationID(base.Add(time.Duration(i) * time.Millisecond)), PromptTokens: int64(i)}
		rc.Add(&r)
		ids = append(ids, r.GenerationID)
	}
	for i, id := range ids {
		r, ok := rc.Lookup(id)
		if want := i >= 2; ok != want || (ok && r.PromptTokens != int64(i)) {
			t.Errorf("record %d: found %v (%+v), want found %v", i, ok, r.PromptTokens, want)
		}
	}
}

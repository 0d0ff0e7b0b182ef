package postgres

import (
	"testing"

	"github.com/arouter/arouter/store/storetest"
)

func TestBYOK(t *testing.T) {
	t.Parallel()
	storetest.TestBYOK(t, harness)
}

package postgres

import (
	"github.com/arouter/arouter/accounting"
	"github.com/arouter/arouter/activity"
	"github.com/arouter/arouter/admin"
	"github.com/arouter/arouter/retention"
)

// The consumers of usage data take the store through these interfaces, as they take
// store/sqlite's.
var (
	_ accounting.Sink       = (*Store)(nil)
	_ activity.Source       = (*Store)(nil)
	_ retention.Deleter     = (*Store)(nil)
	_ admin.ActivityStore   = (*Store)(nil)
	_ admin.GenerationStore = (*Store)(nil)
)

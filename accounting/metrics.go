package accounting

import "github.com/VictoriaMetrics/metrics"

// Metric handles, built once. The gauges live with the writer (see RegisterGauges) because
// they read one writer's state.
var (
	enqueued         = metrics.NewCounter(`arouter_accounting_records_enqueued_total`) // spooled
	writtenTotal     = metrics.NewCounter(`arouter_accounting_records_written_total`)
	droppedSpoolFull = metrics.NewCounter(`arouter_accounting_records_dropped_total{reason="spool_full"}`)
	droppedClosed    = metrics.NewCounter(`arouter_accounting_records_dropped_total{reason="shutting_down"}`)
	droppedInvalid   = metrics.NewCounter(`arouter_accounting_records_dropped_total{reason="no_generation_id"}`)
	writeErrors      = metrics.NewCounter(`arouter_accounting_batch_write_errors_total`)
	// replayedTotal counts records found in the spools of processes that are gone (a crash or
	// SIGKILL), which the writer stores before new ones.
	replayedTotal = metrics.NewCounter(`arouter_accounting_records_replayed_total`)
	// corruptRecords counts spooled records skipped because their checksum failed: the torn
	// last record of a killed process (whose request never completed), or disk damage.
	corruptRecords = metrics.NewCounter(`arouter_accounting_spool_corrupt_records_total`)
	// requestsRefused counts requests answered 503 because the spool was full (policy refuse).
	requestsRefused = metrics.NewCounter(`arouter_accounting_requests_refused_total`)
	spoolSyncErrors = metrics.NewCounter(`arouter_accounting_spool_sync_errors_total`)
	// bodiesDropped counts records spooled without their prompt-logging bodies because too
	// many bodies were already waiting for the store, or the spool had no room for them.
	bodiesDropped = metrics.NewCounter(`arouter_prompt_log_bodies_dropped_total`)
	batchSeconds  = metrics.NewPrometheusHistogram(`arouter_accounting_batch_write_seconds`)
)

// RegisterGauges exposes w's state in set: arouter_accounting_queue_depth (records spooled and
// not yet stored), arouter_accounting_spool_bytes (disk, or memory, its segments take),
// arouter_accounting_spool_max_bytes and arouter_accounting_spool_full (1 while records are
// dropped or requests refused for lack of room).
func RegisterGauges(set *metrics.Set, w *Writer) {
	set.NewGauge(`arouter_accounting_queue_depth`, func() float64 { return float64(w.Len()) })
	set.NewGauge(`arouter_accounting_spool_bytes`, func() float64 { return float64(w.spool.bytes()) })
	set.NewGauge(`arouter_accounting_spool_max_bytes`, func() float64 { return float64(w.opts.SpoolMaxBytes) })
	set.NewGauge(`arouter_accounting_spool_full`, func() float64 {
		if w.full.Load() {
			return 1
		}
		return 0
	})
}

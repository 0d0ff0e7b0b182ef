package accounting

import "github.com/VictoriaMetrics/metrics"

// Metric handles, built once. The queue depth gauge lives with the writer (see NewQueueGauge)
// because it reads one writer's queue.
var (
	enqueued          = metrics.NewCounter(`arouter_accounting_records_enqueued_total`)
	writtenTotal      = metrics.NewCounter(`arouter_accounting_records_written_total`)
	droppedQueueFull  = metrics.NewCounter(`arouter_accounting_records_dropped_total{reason="queue_full"}`)
	droppedStoreError = metrics.NewCounter(`arouter_accounting_records_dropped_total{reason="store_error"}`)
	droppedClosed     = metrics.NewCounter(`arouter_accounting_records_dropped_total{reason="shutting_down"}`)
	writeErrors       = metrics.NewCounter(`arouter_accounting_batch_write_errors_total`)
	// bodiesDropped counts records queued without their prompt-logging bodies because too
	// many bodies were already waiting for the store.
	bodiesDropped = metrics.NewCounter(`arouter_prompt_log_bodies_dropped_total`)
	batchSeconds  = metrics.NewPrometheusHistogram(`arouter_accounting_batch_write_seconds`)
)

// RegisterQueueGauge exposes w's queue depth as arouter_accounting_queue_depth in set.
func RegisterQueueGauge(set *metrics.Set, w *Writer) {
	set.NewGauge(`arouter_accounting_queue_depth`, func() float64 { return float64(w.Len()) })
}

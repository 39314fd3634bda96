package endofday_test

import (
	"sync"
	"time"
)

// metrics records what the ingest and end-of-day stages report to their
// Observer under the names of the service's Prometheus metrics
// (services/batcher/metrics.go), without the "booklets_batcher_" prefix:
// counters add up, gauges keep the last value.
type metrics struct {
	mu sync.Mutex
	v  map[string]float64
}

func newMetrics() *metrics { return &metrics{v: map[string]float64{}} }

func (m *metrics) add(name string, d float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.v[name] += d
}

func (m *metrics) set(name string, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.v[name] = v
}

// value reads a counter or gauge.
func (m *metrics) value(name string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v[name]
}

// ingest.Observer
func (m *metrics) OrderStored()    { m.add("orders_stored_total", 1) }
func (m *metrics) OrderDuplicate() { m.add("orders_duplicate_total", 1) }
func (m *metrics) DeadLettered()   { m.add("dead_letters_total", 1) }
func (m *metrics) StoreRetried()   { m.add("store_retries_total", 1) }
func (m *metrics) LateOrder()      { m.add("late_orders_total", 1) }

// endofday.Observer
func (m *metrics) BatchSent(orders, records, personalDeleted int) {
	m.add("batches_sent_total", 1)
	m.add("records_sent_total", float64(records))
	m.add("personal_data_deleted_total", float64(personalDeleted))
}
func (m *metrics) BatchFailed()           { m.add("batch_failures_total", 1) }
func (m *metrics) NotCaughtUp()           { m.add("consumer_not_caught_up_total", 1) }
func (m *metrics) SealedRejected()        { m.add("sealed_data_rejected_total", 1) }
func (m *metrics) UploadRetried()         { m.add("upload_retries_total", 1) }
func (m *metrics) Uploaded(time.Duration) {}
func (m *metrics) DayKeyDestroyed()       { m.add("day_keys_destroyed_total", 1) }
func (m *metrics) RetentionChecked(overdue int, oldestAge time.Duration) {
	m.set("personal_data_overdue", float64(overdue))
	m.set("personal_data_overdue_oldest_age_seconds", oldestAge.Seconds())
}

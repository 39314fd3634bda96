package ingest_test

import "sync"

// metrics records what the consumer reports to its Observer under the
// names of the service's Prometheus counters (services/batcher/metrics.go),
// without the "booklets_batcher_" prefix.
type metrics struct {
	mu sync.Mutex
	v  map[string]float64
}

func newMetrics() *metrics { return &metrics{v: map[string]float64{}} }

func (m *metrics) add(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.v[name]++
}

func (m *metrics) OrderStored()    { m.add("orders_stored_total") }
func (m *metrics) OrderDuplicate() { m.add("orders_duplicate_total") }
func (m *metrics) DeadLettered()   { m.add("dead_letters_total") }
func (m *metrics) StoreRetried()   { m.add("store_retries_total") }
func (m *metrics) LateOrder()      { m.add("late_orders_total") }

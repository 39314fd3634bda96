package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/stage/ingest"
)

// Metrics are the batcher's counters and histograms, all named
// booklets_batcher_*. Labels never carry personal data; there are none.
// They observe the ingest and end-of-day stages (ingest.Observer,
// endofday.Observer).
type Metrics struct {
	OrdersStored   prometheus.Counter
	Duplicates     prometheus.Counter
	DeadLetters    prometheus.Counter
	StoreRetries   prometheus.Counter
	BatchesSent    prometheus.Counter
	BatchFailures  prometheus.Counter
	UploadRetries  prometheus.Counter
	RecordsSent    prometheus.Counter
	PersonalErased prometheus.Counter
	BatchOrders    prometheus.Histogram // orders per sent batch
	UploadDuration prometheus.Histogram // seconds per successful upload of a batch (data file and manifest)
	// Privacy (docs/privacy.md).
	LateOrders          prometheus.Counter
	SealedRejectedTotal prometheus.Counter
	DayKeysShredded     prometheus.Counter
	NotCaughtUpTotal    prometheus.Counter
	Overdue             prometheus.Gauge
	OverdueAge          prometheus.Gauge

	// reg is where metrics found later are registered (the partner's keys,
	// once loaded: WatchPartnerKeys); nil registers nothing.
	reg prometheus.Registerer
}

// NewMetrics creates the metrics and registers them with reg (a registry
// of the service's own, not the global one). A nil reg registers nothing,
// for tests.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "booklets", Subsystem: "batcher", Name: name, Help: help})
	}
	m := &Metrics{
		OrdersStored:   c("orders_stored_total", "Orders stored from the stream."),
		Duplicates:     c("orders_duplicate_total", "Redelivered orders that were already stored."),
		DeadLetters:    c("dead_letters_total", "Stream messages that could not be taken as orders (alert)."),
		StoreRetries:   c("store_retries_total", "Messages handed back to the stream because the database failed."),
		BatchesSent:    c("batches_sent_total", "Batches uploaded, verified and recorded."),
		BatchFailures:  c("batch_failures_total", "SendBatch runs that failed after all retries (alert)."),
		UploadRetries:  c("upload_retries_total", "SFTP upload attempts that failed and were retried."),
		RecordsSent:    c("records_sent_total", "Data rows (order and format) sent to the partner."),
		PersonalErased: c("personal_data_deleted_total", "Orders whose personal data was deleted after a verified upload."),
		BatchOrders: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "booklets", Subsystem: "batcher", Name: "batch_orders",
			Help:    "Orders in each batch sent (an empty day is 0).",
			Buckets: []float64{0, 1, 10, 100, 1000, 10000, 100000},
		}),
		UploadDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "booklets", Subsystem: "batcher", Name: "upload_duration_seconds",
			Help:    "Time to upload and verify one batch (data file and manifest) at the partner, per successful attempt.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14), // 50ms to about 7 minutes
		}),

		LateOrders:          c("late_orders_total", "Orders that arrived after their business day's batch was assembled; dead-lettered, not sent (alert)."),
		SealedRejectedTotal: c("sealed_data_rejected_total", "Batches stopped because a sealed personal part failed to open (tampered, or its key missing; alert)."),
		DayKeysShredded:     c("day_keys_destroyed_total", "Day keys destroyed after their batch was recorded (crypto-shredding)."),
		NotCaughtUpTotal:    c("consumer_not_caught_up_total", "Batches not assembled because the stream consumer had not caught up in time."),
		Overdue: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "booklets", Subsystem: "batcher", Name: "personal_data_overdue",
			Help: "Orders and dead letters holding personal data past their business day's cut-off plus RETENTION_GRACE (alert if > 0)."}),
		OverdueAge: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "booklets", Subsystem: "batcher", Name: "personal_data_overdue_oldest_age_seconds",
			Help: "How long the oldest overdue personal data has been held since its received time (0 if none is overdue)."}),
	}
	if reg != nil {
		reg.MustRegister(m.OrdersStored, m.Duplicates, m.DeadLetters, m.StoreRetries, m.BatchesSent,
			m.BatchFailures, m.UploadRetries, m.RecordsSent, m.PersonalErased, m.BatchOrders, m.UploadDuration,
			m.LateOrders, m.SealedRejectedTotal, m.DayKeysShredded, m.NotCaughtUpTotal, m.Overdue, m.OverdueAge)
	}
	m.reg = reg
	return m
}

var (
	_ ingest.Observer   = (*Metrics)(nil)
	_ endofday.Observer = (*Metrics)(nil)
)

// OrderStored implements ingest.Observer.
func (m *Metrics) OrderStored() { m.OrdersStored.Inc() }

// OrderDuplicate implements ingest.Observer.
func (m *Metrics) OrderDuplicate() { m.Duplicates.Inc() }

// DeadLettered implements ingest.Observer.
func (m *Metrics) DeadLettered() { m.DeadLetters.Inc() }

// StoreRetried implements ingest.Observer.
func (m *Metrics) StoreRetried() { m.StoreRetries.Inc() }

// LateOrder implements ingest.Observer.
func (m *Metrics) LateOrder() { m.LateOrders.Inc() }

// BatchSent implements endofday.Observer.
func (m *Metrics) BatchSent(orders, records, personalDeleted int) {
	m.BatchesSent.Inc()
	m.BatchOrders.Observe(float64(orders))
	m.RecordsSent.Add(float64(records))
	m.PersonalErased.Add(float64(personalDeleted))
}

// BatchFailed implements endofday.Observer.
func (m *Metrics) BatchFailed() { m.BatchFailures.Inc() }

// NotCaughtUp implements endofday.Observer.
func (m *Metrics) NotCaughtUp() { m.NotCaughtUpTotal.Inc() }

// SealedRejected implements endofday.Observer.
func (m *Metrics) SealedRejected() { m.SealedRejectedTotal.Inc() }

// UploadRetried implements endofday.Observer.
func (m *Metrics) UploadRetried() { m.UploadRetries.Inc() }

// Uploaded implements endofday.Observer.
func (m *Metrics) Uploaded(d time.Duration) { m.UploadDuration.Observe(d.Seconds()) }

// DayKeyDestroyed implements endofday.Observer.
func (m *Metrics) DayKeyDestroyed() { m.DayKeysShredded.Inc() }

// RetentionChecked implements endofday.Observer.
func (m *Metrics) RetentionChecked(overdue int, oldestAge time.Duration) {
	m.Overdue.Set(float64(overdue))
	m.OverdueAge.Set(oldestAge.Seconds())
}

// heldCollector reports how much personal data is held, read from the
// database at each scrape so that it is right on every replica.
type heldCollector struct {
	held   func(context.Context) (postgres.Held, error)
	now    func() time.Time
	log    zerolog.Logger
	orders *prometheus.Desc
	age    *prometheus.Desc
}

// RegisterHeld registers booklets_batcher_orders_held_personal (orders
// whose personal data is not deleted yet) and
// booklets_batcher_oldest_held_personal_age_seconds (how long ago the
// oldest of them was received, by the batcher's clock; 0 when none). Alert
// when the age passes about 26 hours: the promise is deletion at the end of
// the day.
func RegisterHeld(reg prometheus.Registerer, held func(context.Context) (postgres.Held, error), now func() time.Time, log zerolog.Logger) error {
	return reg.Register(&heldCollector{
		held: held, now: now, log: log,
		orders: prometheus.NewDesc("booklets_batcher_orders_held_personal",
			"Orders whose personal data the batcher still holds (not yet sent and deleted).", nil, nil),
		age: prometheus.NewDesc("booklets_batcher_oldest_held_personal_age_seconds",
			"Age of the oldest order whose personal data is still held, by its received time; 0 when none.", nil, nil),
	})
}

func (c *heldCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.orders; ch <- c.age }

func (c *heldCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	h, err := c.held(ctx)
	if err != nil {
		// No sample rather than a wrong one: the scrape shows the gap and
		// /readyz says why.
		c.log.Warn().Err(err).Msg("metrics: could not count orders holding personal data")
		ch <- prometheus.NewInvalidMetric(c.orders, err)
		return
	}
	age := 0.0
	if !h.Oldest.IsZero() {
		age = max(c.now().Sub(h.Oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.orders, prometheus.GaugeValue, float64(h.Orders))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}

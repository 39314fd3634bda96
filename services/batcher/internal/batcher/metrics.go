package batcher

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the batcher's counters. Labels never carry personal data.
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
}

// NewMetrics creates the counters and registers them with reg (a registry
// of the service's own, not the global one). A nil reg registers nothing,
// for tests.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "batcher", Name: name, Help: help})
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
	}
	if reg != nil {
		reg.MustRegister(m.OrdersStored, m.Duplicates, m.DeadLetters, m.StoreRetries, m.BatchesSent,
			m.BatchFailures, m.UploadRetries, m.RecordsSent, m.PersonalErased)
	}
	return m
}

package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"booklets/pkg/reconcile"
)

// metrics are the reconciler's, all named booklets_reconciler_*. The only
// labels are fixed vocabularies: a confirmation's outcome and a batch
// status.
type metrics struct {
	reg           *prometheus.Registry
	overdue       prometheus.Gauge
	confirmations *prometheus.CounterVec
	runs          *prometheus.CounterVec
}

// Outcomes of a confirmation file, the label values of
// booklets_reconciler_confirmations_total.
var outcomes = []string{"accepted", "rejected", "duplicate"}

func newMetrics(states func(context.Context, reconcile.Filter) ([]reconcile.State, error), now func() time.Time, log zerolog.Logger) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		overdue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "booklets_reconciler_overdue_batches",
			Help: "Batches whose deletion due date has passed without an accepted confirmation from the partner (alert if > 0).",
		}),
		confirmations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booklets_reconciler_confirmations_total",
			Help: "Deletion confirmation files handled, by outcome: accepted, rejected (alert), duplicate (seen before).",
		}, []string{"status"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booklets_reconciler_runs_total",
			Help: "Reconciliation runs, by result: ok, or failed (the partner or the database could not be reached; alert when it persists).",
		}, []string{"result"}),
	}
	for _, o := range outcomes {
		m.confirmations.WithLabelValues(o)
	}
	m.runs.WithLabelValues("ok")
	m.runs.WithLabelValues("failed")
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.overdue, m.confirmations, m.runs,
		&batchCollector{states: states, now: now, log: log, desc: prometheus.NewDesc("booklets_reconciler_batches",
			"Sent batches by deletion status (awaiting, confirmed, confirmed_early, overdue, rejected), as on the auditors' page.",
			[]string{"status"}, nil)})
	return m
}

// observe counts what one run did.
func (m *metrics) observe(sum reconcile.Summary, err error) {
	m.confirmations.WithLabelValues("accepted").Add(float64(sum.Accepted))
	m.confirmations.WithLabelValues("rejected").Add(float64(sum.Rejected))
	m.confirmations.WithLabelValues("duplicate").Add(float64(sum.Duplicates))
	if err != nil {
		m.runs.WithLabelValues("failed").Inc()
	} else {
		m.runs.WithLabelValues("ok").Inc()
	}
}

// batchCollector reads the batches' statuses from the database at each
// scrape, so that every replica reports the same.
type batchCollector struct {
	states func(context.Context, reconcile.Filter) ([]reconcile.State, error)
	now    func() time.Time
	log    zerolog.Logger
	desc   *prometheus.Desc
}

func (c *batchCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *batchCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	states, err := c.states(ctx, reconcile.Filter{})
	if err != nil {
		c.log.Warn().Err(err).Msg("metrics: could not read the batches")
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	counts := map[reconcile.Status]int{}
	for _, v := range reconcile.Views(states, c.now()) {
		counts[v.Status]++
	}
	for _, s := range reconcile.Statuses {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}

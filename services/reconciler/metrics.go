package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/workdays"
	"booklets/pkg/stage/reconcile"
)

// metrics are the reconciler's, all named booklets_reconciler_*. The only
// labels are fixed vocabularies: a confirmation's outcome, a batch status,
// a run's result.
//
// Everything an alert is raised on is read from the database at each
// scrape (recordsCollector), not counted by this process: a `check-now`
// run by an operator, or another replica, records its work there too, and
// the daemon's alerts see it. Only sign-in failures, which happen in this
// process, are counted here.
type metrics struct {
	reg     *prometheus.Registry
	signIns *prometheus.CounterVec
}

// ledgerReader is what the metrics read (pkg/adapter/postgres).
type ledgerReader interface {
	States(ctx context.Context, f reconcile.Filter) ([]reconcile.State, error)
	Stats(ctx context.Context) (postgres.Stats, error)
}

// newMetrics registers the metrics. trail, when not nil, checks the
// batches against the verified audit log at each scrape: the status and
// overdue gauges are then the log's where the tables disagree with it, and
// booklets_reconciler_log_disagreements counts the batches that do.
func newMetrics(led ledgerReader, trail reconcile.AuditTrail, cal *workdays.Calendar, now func() time.Time, log zerolog.Logger) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booklets_reconciler_sign_in_failures_total",
			Help: "Failed sign-ins to the auditors' pages, by result: refused (wrong credentials) or limited (429: too many failures from the client).",
		}, []string{"result"}),
	}
	m.signIns.WithLabelValues("refused")
	m.signIns.WithLabelValues("limited")
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.signIns, newRecordsCollector(led, trail, cal, now, log))
	return m
}

// signInFailure counts a failed sign-in (auditweb.Server.OnSignInFailure).
func (m *metrics) signInFailure(limited bool) {
	if limited {
		m.signIns.WithLabelValues("limited").Inc()
		return
	}
	m.signIns.WithLabelValues("refused").Inc()
}

// recordsCollector reads the record at each scrape, so that every replica
// reports the same and no work done by another process is missed.
type recordsCollector struct {
	led   ledgerReader
	trail reconcile.AuditTrail // nil: batches are not checked against the log
	cal   *workdays.Calendar
	now   func() time.Time
	log   zerolog.Logger

	batches, overdue            *prometheus.Desc
	confirmations, lastRejected *prometheus.Desc
	runs, lastRun               *prometheus.Desc
	disagreements               *prometheus.Desc
}

func newRecordsCollector(led ledgerReader, trail reconcile.AuditTrail, cal *workdays.Calendar, now func() time.Time, log zerolog.Logger) *recordsCollector {
	return &recordsCollector{led: led, trail: trail, cal: cal, now: now, log: log,
		disagreements: prometheus.NewDesc("booklets_reconciler_log_disagreements",
			"Sent batches whose batches or confirmations table rows disagree with the verified audit log (a status, due date or confirmation the log does not prove), or every sent batch when the log does not verify (alert if > 0).",
			nil, nil),
		batches: prometheus.NewDesc("booklets_reconciler_batches",
			"Sent batches by deletion status (awaiting, confirmed, confirmed_early, confirmed_late, overdue, rejected), as on the auditors' page.",
			[]string{"status"}, nil),
		overdue: prometheus.NewDesc("booklets_reconciler_overdue_batches",
			"Batches whose deletion due date has passed without an accepted confirmation from the partner, whatever their status (alert if > 0).",
			nil, nil),
		confirmations: prometheus.NewDesc("booklets_reconciler_confirmations_total",
			"Files met in the partner's confirmations folder by any run (daemon or check-now), by outcome: accepted, rejected (a confirmation of one of our batches that failed a check), unmatched (naming no batch of ours, or over the size limit), duplicate (seen before).",
			[]string{"status"}, nil),
		lastRejected: prometheus.NewDesc("booklets_reconciler_last_rejected_confirmation_timestamp_seconds",
			"When a file in the confirmations folder was last rejected or unmatched (Unix time; 0 if never).",
			nil, nil),
		runs: prometheus.NewDesc("booklets_reconciler_runs_total",
			"Reconciliation runs by any process (daemon or check-now), by result: ok, or failed (the partner or the database could not be reached, or a file could not be handled).",
			[]string{"result"}, nil),
		lastRun: prometheus.NewDesc("booklets_reconciler_last_run_timestamp_seconds",
			"When the last reconciliation run of each result finished (Unix time; 0 if never): alert when the last ok run is more than a day old.",
			[]string{"result"}, nil),
	}
}

func (c *recordsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.batches, c.overdue, c.confirmations, c.lastRejected, c.runs, c.lastRun, c.disagreements} {
		ch <- d
	}
}

func (c *recordsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	views, disagreeing, err := c.views(ctx)
	if err != nil {
		c.log.Warn().Err(err).Msg("metrics: could not read the batches or the audit log")
		ch <- prometheus.NewInvalidMetric(c.batches, err)
		ch <- prometheus.NewInvalidMetric(c.overdue, err)
		if c.trail != nil {
			ch <- prometheus.NewInvalidMetric(c.disagreements, err)
		}
	} else {
		if c.trail != nil {
			ch <- prometheus.MustNewConstMetric(c.disagreements, prometheus.GaugeValue, float64(disagreeing))
		}
		counts, overdue := map[reconcile.Status]int{}, 0
		for _, v := range views {
			counts[v.Status]++
			if v.Overdue {
				overdue++
			}
		}
		for _, s := range reconcile.Statuses {
			ch <- prometheus.MustNewConstMetric(c.batches, prometheus.GaugeValue, float64(counts[s]), string(s))
		}
		ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(overdue))
	}
	st, err := c.led.Stats(ctx)
	if err != nil {
		c.log.Warn().Err(err).Msg("metrics: could not read the reconciliation figures")
		for _, d := range []*prometheus.Desc{c.confirmations, c.lastRejected, c.runs, c.lastRun} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	for status, n := range map[string]int64{"accepted": st.Accepted, "rejected": st.Rejected, "unmatched": st.Unmatched, "duplicate": st.Dupes} {
		ch <- prometheus.MustNewConstMetric(c.confirmations, prometheus.CounterValue, float64(n), status)
	}
	ch <- prometheus.MustNewConstMetric(c.lastRejected, prometheus.GaugeValue, unix(st.LastRejected))
	ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, float64(st.RunsOK), "ok")
	ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, float64(st.RunsFailed), "failed")
	ch <- prometheus.MustNewConstMetric(c.lastRun, prometheus.GaugeValue, unix(st.LastOK), "ok")
	ch <- prometheus.MustNewConstMetric(c.lastRun, prometheus.GaugeValue, unix(st.LastFailed), "failed")
}

// views are the sent batches as on the auditors' page: checked against the
// verified audit log when there is a trail, so that a due date moved or a
// confirmation inserted behind the log's back cannot stop the overdue alert.
func (c *recordsCollector) views(ctx context.Context) ([]reconcile.View, int, error) {
	states, err := c.led.States(ctx, reconcile.Filter{})
	if err != nil {
		return nil, 0, err
	}
	if c.trail == nil {
		return reconcile.Views(states, c.now()), 0, nil
	}
	t, err := c.trail.BatchTrail(ctx)
	if err != nil {
		return nil, 0, err
	}
	views := reconcile.CheckedViews(states, t, reconcile.Filter{}, c.cal, c.now())
	return views, reconcile.CountDisagreeing(views), nil
}

// unix is a time as Prometheus timestamps are given, 0 for none.
func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

package public

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"booklets/pkg/domain/order"
	"booklets/pkg/stage/placeorder"
)

// Metrics are the intake's Prometheus metrics, all named
// booklets_intake_*. Label values come from fixed vocabularies only (a
// channel, a reason, a field name of the order form), never from a
// request, so no personal data or reference can reach a time series.
type Metrics struct {
	received      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	invalidFields *prometheus.CounterVec
	publish       *prometheus.HistogramVec
	dayKey        prometheus.Gauge
	// The series every accepted order touches, looked up once: a
	// WithLabelValues per order hashes the labels and takes a lock.
	receivedBy map[string]prometheus.Counter  // by channel
	publishBy  map[string]prometheus.Observer // by result
}

// The label vocabularies.
var (
	// Channels an order comes through.
	Channels = []string{"api", "form"}
	// RejectReasons are why an order was not accepted: invalid (see
	// booklets_intake_invalid_fields_total for which fields), malformed (not
	// JSON, wrong shape, unreadable or expired form state), too_large,
	// unsupported_media_type, rate_limited, unavailable (NATS, the stream or
	// the day keys could not be reached, or the day key cannot be used:
	// nothing stored), idempotency_conflict (an Idempotency-Key used for
	// another order, or of an unconfirmed order of an earlier day) and
	// internal.
	RejectReasons = []string{"invalid", "malformed", "too_large", "unsupported_media_type", "rate_limited", "unavailable", "idempotency_conflict", "internal"}
	// InvalidFields are the order's fields a validation error can name.
	InvalidFields = []string{order.FieldArea, order.FieldFormats, order.FieldLanguages, order.FieldName, order.FieldAddressLine1,
		order.FieldAddressLine2, order.FieldTown, order.FieldPostcode, "other"}
	// PublishResults label the publish latency.
	PublishResults = []string{"ok", "duplicate", "error"}
)

// NewMetrics creates the metrics and registers them with reg (the
// service's own registry). A nil reg registers nothing (tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booklets_intake_orders_received_total",
			Help: "Orders accepted (acknowledged by JetStream and answered 201 or with the confirmation page), by channel; an idempotent retry counts again.",
		}, []string{"channel"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booklets_intake_orders_rejected_total",
			Help: "Order submissions not accepted, by channel and reason.",
		}, []string{"channel", "reason"}),
		invalidFields: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booklets_intake_invalid_fields_total",
			Help: "Fields named by validation errors of rejected API orders, by field name (one order can name several).",
		}, []string{"field"}),
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "booklets_intake_publish_duration_seconds",
			Help:    "Time from publishing an order to JetStream's acknowledgement (or failure), by result.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		dayKey: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "booklets_intake_day_key_unavailable",
			Help: "1 while the current business day's key exists but cannot be used (wrapped under a key-encryption key that is not configured, or not authentic): every order is refused until KEK or KEK_FILE is fixed. Alert on it.",
		}),
	}
	// Every series exists from the start at 0, so that rates and alerts
	// work before the first event.
	m.receivedBy = map[string]prometheus.Counter{}
	m.publishBy = map[string]prometheus.Observer{}
	for _, c := range Channels {
		m.receivedBy[c] = m.received.WithLabelValues(c)
		for _, r := range RejectReasons {
			m.rejected.WithLabelValues(c, r)
		}
	}
	for _, f := range InvalidFields {
		m.invalidFields.WithLabelValues(f)
	}
	for _, r := range PublishResults {
		m.publishBy[r] = m.publish.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.received, m.rejected, m.invalidFields, m.publish, m.dayKey)
	}
	return m
}

// orderChannel is the channel of a route that submits an order, or "".
func orderChannel(pattern string) string {
	switch pattern {
	case "POST /api/v1/orders":
		return "api"
	case "POST /order/check":
		return "form"
	}
	return ""
}

// order records the outcome of an order submission on a route.
func (m *Metrics) order(channel string, err error) {
	if m == nil || channel == "" {
		return
	}
	if err == nil {
		m.receivedBy[channel].Inc()
		return
	}
	reason := rejectReason(err)
	m.rejected.WithLabelValues(channel, reason).Inc()
	var verr order.ValidationError
	if reason == "invalid" && errors.As(err, &verr) {
		for _, fe := range verr {
			f := "other"
			for _, known := range InvalidFields {
				if fe.Field == known {
					f = known
				}
			}
			m.invalidFields.WithLabelValues(f).Inc()
		}
	}
}

// rateLimited records a refused order submission.
func (m *Metrics) rateLimited(r *http.Request) {
	if m == nil {
		return
	}
	if c := orderChannel(r.Method + " " + r.URL.Path); c != "" {
		m.rejected.WithLabelValues(c, "rate_limited").Inc()
	}
}

// Published records how long a publish took (placeorder.Observer).
func (m *Metrics) Published(d time.Duration, duplicate bool, err error) {
	if m == nil {
		return
	}
	result := "ok"
	switch {
	case err != nil:
		result = "error"
	case duplicate:
		result = "duplicate"
	}
	m.publishBy[result].Observe(d.Seconds())
}

// DayKeyUnavailable sets the day-key alert gauge (placeorder.Observer).
func (m *Metrics) DayKeyUnavailable(on bool) {
	if m == nil {
		return
	}
	if on {
		m.dayKey.Set(1)
	} else {
		m.dayKey.Set(0)
	}
}

// rejectReason maps a handler's error to a reason, as problemFor maps it
// to a status.
func rejectReason(err error) string {
	var (
		verr    order.ValidationError
		tooBig  *http.MaxBytesError
		bad     *badRequestError
		limited *rateLimitedError
	)
	switch {
	case errors.As(err, &verr):
		return "invalid"
	case errors.As(err, &tooBig):
		return "too_large"
	case errors.Is(err, errUnsupportedMediaType), errors.Is(err, errUnsupportedCharset):
		return "unsupported_media_type"
	case errors.As(err, &bad), errors.Is(err, errStateInvalid), errors.Is(err, errStateExpired):
		return "malformed"
	case errors.As(err, &limited):
		return "rate_limited"
	case errors.Is(err, placeorder.ErrKeyReused), errors.Is(err, placeorder.ErrKeyStale):
		return "idempotency_conflict"
	case problemFor(err).Status == http.StatusServiceUnavailable, errors.Is(err, placeorder.ErrUnavailable):
		return "unavailable"
	}
	return "internal"
}

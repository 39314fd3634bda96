package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/openpgp"
)

// The partner's OpenPGP keys (PARTNER_PGP_KEY_FILE) in the metrics and the
// log, so that an expiry is seen weeks ahead (alert
// BookletsPartnerKeyExpiresSoon, deploy/prometheus/alerts.yml) and not when
// the first batch fails. The labels are public-key fingerprints: no
// personal data, no secret.

// partnerKeyCollector reports each pinned key's state at every scrape
// (validity changes with time, not with anything the batcher does).
type partnerKeyCollector struct {
	keys   func() []openpgp.KeyStatus
	expiry *prometheus.Desc
	usable *prometheus.Desc
}

// RegisterPartnerKeys registers booklets_partner_key_expiry_timestamp_seconds
// (when each pinned key stops encrypting, Unix seconds; no series for a key
// that never expires) and booklets_partner_key_usable (1 if batch files
// are encrypted to the key now, 0 if it is expired or revoked), both per
// fingerprint.
func RegisterPartnerKeys(reg prometheus.Registerer, keys func() []openpgp.KeyStatus) error {
	return reg.Register(&partnerKeyCollector{
		keys: keys,
		expiry: prometheus.NewDesc("booklets_partner_key_expiry_timestamp_seconds",
			"When the partner's pinned OpenPGP key stops encrypting (Unix time); absent for a key that never expires.",
			[]string{"fingerprint"}, nil),
		usable: prometheus.NewDesc("booklets_partner_key_usable",
			"1 if batch files are encrypted to this pinned partner key now, 0 if it is expired or revoked.",
			[]string{"fingerprint"}, nil),
	})
}

func (c *partnerKeyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.expiry
	ch <- c.usable
}

func (c *partnerKeyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, k := range c.keys() {
		if !k.Expires.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, float64(k.Expires.Unix()), k.Fingerprint)
		}
		usable := 0.0
		if k.Usable {
			usable = 1
		}
		ch <- prometheus.MustNewConstMetric(c.usable, prometheus.GaugeValue, usable, k.Fingerprint)
	}
}

// keyWarning is how long before a key's expiry the start-up log warns, as
// the alert does.
const keyWarning = 30 * 24 * time.Hour

// logPartnerKeys says at start-up which keys batch files are encrypted to,
// and warns of a pinned key that is expired or revoked (left in the file
// after a rotation) or expires within 30 days.
func logPartnerKeys(log zerolog.Logger, keys []openpgp.KeyStatus, now time.Time) {
	for _, k := range keys {
		ev := log.Info()
		msg := "batch files are encrypted to this partner key"
		switch {
		case !k.Usable:
			ev, msg = log.Warn().Str("problem", k.Problem),
				"a pinned partner key is not used: "+k.Problem+"; remove it from "+openpgp.EnvKeyFile+" (docs/batcher.md, rotating the partner's key)"
		case !k.Expires.IsZero() && k.Expires.Sub(now) < keyWarning:
			ev, msg = log.Warn(), "the partner key expires within 30 days: ask the partner for a new key or a new expiry date (docs/batcher.md, rotating the partner's key)"
		}
		if !k.Expires.IsZero() {
			ev = ev.Time("expires", k.Expires.UTC())
		} else {
			ev = ev.Str("expires", "never")
		}
		ev.Str("fingerprint", k.Fingerprint).Bool("usable", k.Usable).Msg(msg)
	}
}

// WatchPartnerKeys exports the pinned keys' state on the metrics'
// registry (none for NewMetrics(nil), as send-now has).
func (m *Metrics) WatchPartnerKeys(keys func() []openpgp.KeyStatus) error {
	if m.reg == nil {
		return nil
	}
	return RegisterPartnerKeys(m.reg, keys)
}

package testenv

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape reads a service's /metrics (url is the whole address) in the
// Prometheus text format.
func Scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return fams
}

// CheckMetrics fails the test unless every metric named in want exists, and
// unless every label of every booklets_ metric has a value from the
// vocabulary given for its name in labels: a label value outside it could
// be input (personal data, a reference), which the metrics must never
// carry. A booklets_ metric with a label not in labels fails too.
func CheckMetrics(t testing.TB, fams map[string]*dto.MetricFamily, want []string, labels map[string][]string) {
	t.Helper()
	for _, name := range want {
		if _, ok := fams[name]; !ok {
			t.Errorf("metric %s is missing", name)
		}
	}
	for name, f := range fams {
		if !strings.HasPrefix(name, "booklets_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				allowed, ok := labels[l.GetName()]
				if !ok {
					t.Errorf("%s has label %s, which is not a known vocabulary", name, l.GetName())
					continue
				}
				if !slices.Contains(allowed, l.GetValue()) {
					t.Errorf("%s{%s=%q}: value not in the label's fixed vocabulary", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// Value returns the value of the sample of a counter or gauge family with
// the given label value (label "" for a family without labels), and
// whether there is one.
func Value(fams map[string]*dto.MetricFamily, name, label, value string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		match := label == ""
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				match = true
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

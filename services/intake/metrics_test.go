package main

import (
	"net/http"
	"strings"
	"testing"

	"booklets/pkg/adapter/web/public"
	"booklets/pkg/testkit/testenv"
)

// /metrics counts orders received and rejected by reason, and times the
// publishes; no label value comes from a request, however hostile.
func TestMetrics(t *testing.T) {
	t.Parallel()
	base, _ := startIntake(t, map[string]string{"DEMO_DAY": "5s"})
	post := func(body, contentType string) int {
		t.Helper()
		resp, err := http.Post(base+"/api/v1/orders", contentType, strings.NewReader(body))
		testenv.Must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	// Input that would show in a label if anything copied input into one.
	const pii = "Zed Quux"
	good := `{"area":"staffordshire","formats":["audio"],"name":"` + pii + `","address_line_1":"1 High St","town":"Stafford","postcode":"ST18 0YY"}`
	if code := post(good, "application/json"); code != http.StatusCreated {
		t.Fatalf("good order: %d", code)
	}
	if code := post(`{"area":"`+pii+`","formats":["`+pii+`"],"name":"","postcode":"`+pii+`"}`, "application/json"); code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid order: %d", code)
	}
	if code := post(`{"`+pii+`":1}`, "application/json"); code != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", code)
	}
	if code := post(`{"name":"`+strings.Repeat("x", public.MaxBodyBytes)+`"}`, "application/json"); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("too large: %d", code)
	}

	fams := testenv.Scrape(t, base+"/metrics")
	testenv.CheckMetrics(t, fams, []string{
		"booklets_intake_orders_received_total", "booklets_intake_orders_rejected_total",
		"booklets_intake_invalid_fields_total", "booklets_intake_publish_duration_seconds",
	}, map[string][]string{
		"channel": public.Channels, "reason": public.RejectReasons, "field": public.InvalidFields, "result": public.PublishResults,
	})
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"booklets_intake_orders_received_total", "channel", "api", 1},
		{"booklets_intake_invalid_fields_total", "field", "postcode", 1},
		{"booklets_intake_invalid_fields_total", "field", "name", 1},
		{"booklets_intake_publish_duration_seconds", "result", "ok", 1},
	} {
		if got, ok := testenv.Value(fams, c.name, c.label, c.value); !ok || got != c.want {
			t.Errorf("%s{%s=%q} = %v (present %v), want %v", c.name, c.label, c.value, got, ok, c.want)
		}
	}
	rejected := map[string]float64{}
	for _, m := range fams["booklets_intake_orders_rejected_total"].GetMetric() {
		var channel, reason string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "channel":
				channel = l.GetValue()
			case "reason":
				reason = l.GetValue()
			}
		}
		if channel == "api" {
			rejected[reason] = m.GetCounter().GetValue()
		}
	}
	for reason, want := range map[string]float64{"invalid": 1, "malformed": 1, "too_large": 1, "rate_limited": 0} {
		if rejected[reason] != want {
			t.Errorf("rejected{reason=%q} = %v, want %v", reason, rejected[reason], want)
		}
	}
}

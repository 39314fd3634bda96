package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// /metrics reports the orders holding personal data and the age of the
// oldest, and has the batch and upload metrics, with no labels at all on
// the batcher's own; the service then stops cleanly on cancel (SIGTERM).
func TestMetricsAndShutdown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dbURL := testenv.Database(t)
	orders := testenv.Orders(t)
	srv := sftptest.Start(t)
	env := serviceEnv(dbURL, orders, srv, map[string]string{"KEK": testKEK("k1")})
	getenv := func(k string) string { return env[k] }
	if err := run(ctx, []string{"migrate"}, getenv, nil, &testenv.Buffer{}); err != nil {
		t.Fatal(err)
	}
	keys := testKeys(t, dbURL, env["KEK"])
	out := &testenv.Buffer{}
	served := make(chan error, 1)
	go func() { served <- run(ctx, nil, getenv, nil, out) }()

	received := time.Now().Add(-time.Hour)
	o := order.Order{ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: received, Area: "dyfed-powys",
		Formats: []order.Format{order.Audio}, Personal: order.Personal{Name: "Zed Quux", AddressLine1: "1 High St", Town: "Tywyn", Postcode: "LL36 9AA"}}
	if _, err := orders.Publish(ctx, sealOrder(t, keys, o), o.ID); err != nil {
		t.Fatal(err)
	}
	var base string
	deadline := time.Now().Add(30 * time.Second)
	for base == "" {
		for _, line := range strings.Split(out.String(), "\n") {
			var ev map[string]any
			if json.Unmarshal([]byte(line), &ev) == nil && ev["message"] == "batcher listening" {
				base = "http://" + ev["addr"].(string)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("batcher did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		fams := testenv.Scrape(t, base+"/metrics")
		if n, _ := testenv.Value(fams, "booklets_batcher_orders_held_personal", "", ""); n == 1 {
			testenv.CheckMetrics(t, fams, []string{
				"booklets_batcher_orders_stored_total", "booklets_batcher_dead_letters_total",
				"booklets_batcher_oldest_held_personal_age_seconds", "booklets_batcher_batch_orders",
				"booklets_batcher_upload_duration_seconds", "booklets_batcher_batches_sent_total",
				"booklets_batcher_batch_failures_total",
			}, nil)
			if age, _ := testenv.Value(fams, "booklets_batcher_oldest_held_personal_age_seconds", "", ""); age < 3500 || age > 4000 {
				t.Errorf("oldest held age %v s, want about an hour", age)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order never counted as held:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(out.String(), "Zed Quux") {
		t.Error("personal data in the log")
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("run after cancel: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "batcher stopped") {
		t.Errorf("no clean stop logged:\n%s", out.String())
	}
}

package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/stage/ingest"
	"booklets/pkg/testkit/batcherday"
	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/testenv"
)

// A garbage message goes to dead_letters and does not block the good order
// behind it; a redelivered order is stored once.
func TestConsumerDeadLettersAndIdempotence(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	orders := testenv.Orders(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := orders.Config()
	js := testenv.JetStream(t)
	if _, err := js.Publish(ctx, cfg.Subject, []byte(`{"version":1,"personal":{"name":"Secret Person"}`)); err != nil {
		t.Fatal(err)
	}
	good := newOrder(at("2026-11-25 23:30:00"), person("Good Person"), order.Braille)
	sealed := e.Seal(good)
	if _, err := orders.Publish(ctx, sealed, "m1"); err != nil {
		t.Fatal(err)
	}
	if _, err := orders.Publish(ctx, sealed, "m2"); err != nil { // the same order again, past de-duplication
		t.Fatal(err)
	}
	m := newMetrics()
	c := ingest.NewConsumer(orders, ingest.ConsumerConfig{Stream: cfg.Stream, Subject: cfg.Subject},
		e.Store, businessday.DefaultCutoff, e.Now, zerolog.New(zerolog.NewTestWriter(t)), m)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	eventually.Within(t, 20*time.Second, "messages consumed", func(ctx context.Context) error {
		o, d, p := e.Count(`SELECT count(*) FROM orders`), e.Count(`SELECT count(*) FROM dead_letters`), batcherday.Pending(t, ctx, js, cfg.Stream)
		if o+d < 2 || p > 0 {
			return fmt.Errorf("%d orders, %d dead letters, %d pending", o, d, p)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := e.Count(`SELECT count(*) FROM orders WHERE order_id = $1 AND business_date = '2026-11-26'`, good.ID); n != 1 {
		t.Errorf("good order stored %d times with the next business day", n)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 1 {
		t.Errorf("%d personal parts", n)
	}
	if n := e.Count(`SELECT count(*) FROM dead_letters WHERE reason LIKE 'bad order message%' AND data IS NOT NULL AND stream_sequence = 1`); n != 1 {
		t.Errorf("%d dead letters", n)
	}
	// The end-of-day job deletes the dead letter's raw bytes with the day's personal data.
	e.SetNow(time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC))
	res, err := e.Sender().SendBatch(context.Background(), date("2026-11-26"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted.DeadLetters != 1 || e.Count(`SELECT count(*) FROM dead_letters WHERE data IS NULL AND reason <> ''`) != 1 {
		t.Errorf("dead letter data not deleted: %+v", res.Deleted)
	}
}

// Orders that arrive together are stored in batches; a message that is not
// an order, an order reusing another's reference and a late order in the
// middle of a batch are dead-lettered on their own, and every other order
// is stored exactly once and acknowledged.
func TestConsumerBatchesWithBadOrdersInside(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	orders := testenv.Orders(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := orders.Config()
	js := testenv.JetStream(t)
	// The 24th already has its batch: an order of that day is late.
	if _, _, err := e.Store.Assemble(ctx, postgres.Batch{ID: "B20261124-AAAAAA", Date: date("2026-11-24"), CreatedAt: e.Now(),
		DataFile: "d.csv", ManifestFile: "m.json"}); err != nil {
		t.Fatal(err)
	}
	const n = 700
	var good []order.Order
	for i := range n {
		o := newOrder(at("2026-11-25 10:00:00").Add(time.Duration(i)*time.Second), person("Batch Person"), order.LargePrint)
		good = append(good, o)
		if _, err := orders.Publish(ctx, e.Seal(o), o.ID); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 100:
			if _, err := js.Publish(ctx, cfg.Subject, []byte(`not an order`)); err != nil {
				t.Fatal(err)
			}
		case 200:
			reused := newOrder(at("2026-11-25 11:00:00"), person("Reused Reference"))
			reused.Reference = good[150].Reference
			if _, err := orders.Publish(ctx, e.Seal(reused), reused.ID); err != nil {
				t.Fatal(err)
			}
		case 300:
			late := newOrder(at("2026-11-24 12:00:00"), person("Late Person"))
			if _, err := orders.Publish(ctx, e.Seal(late), late.ID); err != nil {
				t.Fatal(err)
			}
		case 400:
			if _, err := orders.Publish(ctx, e.Seal(good[10]), "again"); err != nil { // redelivered
				t.Fatal(err)
			}
		}
	}
	m := newMetrics()
	c := ingest.NewConsumer(orders, ingest.ConsumerConfig{Stream: cfg.Stream, Subject: cfg.Subject},
		e.Store, businessday.DefaultCutoff, e.Now, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), m)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	eventually.Within(t, 60*time.Second, "messages consumed", func(ctx context.Context) error {
		if p := batcherday.Pending(t, ctx, js, cfg.Stream); p > 0 {
			return fmt.Errorf("%d orders, %d dead letters, %d pending", e.Count(`SELECT count(*) FROM orders`),
				e.Count(`SELECT count(*) FROM dead_letters`), p)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(good))
	for i, o := range good {
		ids[i] = o.ID
	}
	if got := e.Count(`SELECT count(*) FROM orders o JOIN order_personal p USING (order_id) WHERE o.order_id = ANY($1)`, ids); got != n {
		t.Errorf("%d of %d good orders stored", got, n)
	}
	if got := e.Count(`SELECT count(*) FROM orders`); got != n {
		t.Errorf("%d orders stored, want %d", got, n)
	}
	if got := e.Count(`SELECT count(*) FROM dead_letters`); got != 3 {
		t.Errorf("%d dead letters, want 3 (not an order, reused reference, late)", got)
	}
	if got := e.Count(`SELECT count(*) FROM dead_letters WHERE reason LIKE '%conflicts with a stored order'`); got != 1 {
		t.Errorf("%d dead letters for the reused reference", got)
	}
	if got := e.Count(`SELECT count(*) FROM dead_letters WHERE reason LIKE '%late_order%'`); got != 1 {
		t.Errorf("%d dead letters for the late order", got)
	}
}

package batcher_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/businessday"
	"booklets/pkg/order"
	"booklets/pkg/testenv"
	"booklets/services/batcher/internal/batcher"
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
	js := orders.JetStream()
	if _, err := js.Publish(ctx, cfg.Subject, []byte(`{"version":1,"personal":{"name":"Secret Person"}`)); err != nil {
		t.Fatal(err)
	}
	good := newOrder(at("2026-11-25 23:30:00"), person("Good Person"), order.Braille)
	sealed := e.seal(good)
	if _, err := orders.Publish(ctx, sealed, "m1"); err != nil {
		t.Fatal(err)
	}
	if _, err := orders.Publish(ctx, sealed, "m2"); err != nil { // the same order again, past de-duplication
		t.Fatal(err)
	}
	m := batcher.NewMetrics(nil)
	c := batcher.NewConsumer(js, batcher.ConsumerConfig{Stream: cfg.Stream, Subject: cfg.Subject},
		e.st, businessday.DefaultCutoff, e.now, zerolog.New(zerolog.NewTestWriter(t)), m)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for e.count(`SELECT count(*) FROM orders`)+e.count(`SELECT count(*) FROM dead_letters`) < 2 || pending(t, ctx, js, cfg.Stream) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("messages not consumed: %d orders, %d dead letters, %d pending", e.count(`SELECT count(*) FROM orders`), e.count(`SELECT count(*) FROM dead_letters`), pending(t, ctx, js, cfg.Stream))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM orders WHERE order_id = $1 AND business_date = '2026-11-26'`, good.ID); n != 1 {
		t.Errorf("good order stored %d times with the next business day", n)
	}
	if n := e.count(`SELECT count(*) FROM order_personal`); n != 1 {
		t.Errorf("%d personal parts", n)
	}
	if n := e.count(`SELECT count(*) FROM dead_letters WHERE reason LIKE 'bad order message%' AND data IS NOT NULL AND stream_sequence = 1`); n != 1 {
		t.Errorf("%d dead letters", n)
	}
	// The end-of-day job deletes the dead letter's raw bytes with the day's personal data.
	e.setNow(time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC))
	res, err := e.sender().SendBatch(context.Background(), date("2026-11-26"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted.DeadLetters != 1 || e.count(`SELECT count(*) FROM dead_letters WHERE data IS NULL AND reason <> ''`) != 1 {
		t.Errorf("dead letter data not deleted: %+v", res.Deleted)
	}
}

package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
	"booklets/pkg/testkit/testenv"
)

// SaveOrder stores an order once (a second time is no insert), refuses
// another order id under its reference; with no batch yet there is none for
// its day, and the sending lock is held by one taker at a time.
func TestSaveOrderIdempotentAndConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := migratedStore(t)
	d := businessday.DefaultCutoff.DateOf(time.Now())
	so := sealedOrder(t, d, order.Braille)
	for i, want := range []bool{true, false} {
		inserted, err := st.SaveOrder(ctx, so)
		if err != nil || inserted != want {
			t.Errorf("save %d: inserted %v, %v", i, inserted, err)
		}
	}
	other := so
	other.ID = uuid.NewString() // same reference, another order
	if _, err := st.SaveOrder(ctx, other); !errors.Is(err, postgres.ErrConflict) {
		t.Errorf("reused reference: %v", err)
	}
	if _, err := st.BatchFor(ctx, d); !errors.Is(err, postgres.ErrNotFound) {
		t.Errorf("BatchFor with no batch: %v", err)
	}
	lock, ok, err := st.TryLockSending(ctx)
	if err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	if _, ok2, _ := st.TryLockSending(ctx); ok2 {
		t.Error("the sending lock was taken twice")
	}
	lock.Release()
	lock, ok, err = st.TryLockSending(ctx)
	if err != nil || !ok {
		t.Fatalf("lock after release: %v %v", ok, err)
	}
	lock.Release()
}

// SaveOrders gives each order SaveOrder's outcome: new ones inserted (facts
// and personal part), stored ones and repeats within the call duplicates,
// orders of a day with a batch late; a reused reference fails the whole
// call and stores nothing.
func TestSaveOrdersOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := migratedStore(t)
	closed := businessday.Date{Year: 2026, Month: 11, Day: 24}
	open := closed.AddDays(1)
	mk := func(d businessday.Date) order.SealedOrder { return sealedOrder(t, d, order.Braille, order.Audio) }
	earlier := mk(closed) // stored before its day's batch
	if _, err := st.SaveOrder(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Assemble(ctx, postgres.Batch{ID: "B1", Date: closed, CreatedAt: time.Now(), DataFile: "d", ManifestFile: "m"}); err != nil {
		t.Fatal(err)
	}
	a, b, late := mk(open), mk(open), mk(closed)
	got, err := st.SaveOrders(ctx, []order.SealedOrder{a, earlier, b, a, late})
	if err != nil {
		t.Fatal(err)
	}
	want := []postgres.Saved{postgres.Inserted, postgres.Duplicate, postgres.Inserted, postgres.Duplicate, postgres.Late}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("order %d: %v, want %v", i, got[i], want[i])
		}
	}
	count := func(sql string, args ...any) int {
		var n int
		testenv.Must(t, st.Pool().QueryRow(ctx, sql, args...).Scan(&n))
		return n
	}
	if n := count(`SELECT count(*) FROM orders o JOIN order_personal p USING (order_id)
		WHERE o.order_id = ANY($1) AND o.formats = ARRAY['braille', 'audio'] AND o.business_date = '2026-11-25'`,
		[]string{a.ID, b.ID}); n != 2 {
		t.Errorf("%d of the new orders stored with their facts and personal part", n)
	}
	if n := count(`SELECT count(*) FROM orders WHERE order_id = $1`, late.ID); n != 0 {
		t.Error("the late order was stored")
	}

	c := mk(open)
	reused := mk(open)
	reused.Reference = a.Reference // another order id with a stored reference
	if _, err := st.SaveOrders(ctx, []order.SealedOrder{c, reused}); !errors.Is(err, postgres.ErrConflict) {
		t.Errorf("reused reference: %v", err)
	}
	if n := count(`SELECT count(*) FROM orders WHERE order_id = $1`, c.ID); n != 0 {
		t.Error("a failed call stored an order")
	}
}

// BenchmarkSaveOrders256 stores batches of 256 new orders, as the consumer
// does under load (orders/s = 256 / time per operation).
func BenchmarkSaveOrders256(b *testing.B) {
	ctx := context.Background()
	st, err := postgres.OpenOrders(ctx, testenv.Database(b), nil)
	testenv.Must(b, err)
	defer st.Close()
	testenv.Must(b, st.Migrate(ctx))
	d := businessday.Date{Year: 2026, Month: 11, Day: 25}
	key, err := seal.NewDayKey(d.String())
	testenv.Must(b, err)
	batch := make([]order.SealedOrder, 256)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for i := range batch {
			o := order.Order{ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: time.Now(), Area: "kent",
				Formats: []order.Format{order.LargePrint}, Personal: order.Personal{Name: "Bench Person", Postcode: "CT1 1AA"}}
			batch[i], err = order.Seal(o, d, key)
			testenv.Must(b, err)
		}
		b.StartTimer()
		if _, err := st.SaveOrders(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "orders/s")
}

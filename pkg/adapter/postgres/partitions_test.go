package postgres_test

import (
	"context"
	"testing"
	"time"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/testkit/testenv"
)

// The personal parts of a day live in that day's partition of
// order_personal (migration 070): storing the first order of a day makes
// it, recording a batch drops the partitions of its date range and counts
// their rows, and no partition is made again for a date a batch covers (a
// late order is refused and stores nothing).
func TestPersonalPartitionsPerDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := migratedStore(t)
	day := func(d int) businessday.Date { return businessday.Date{Year: 2026, Month: 11, Day: d} }
	sealed := func(d businessday.Date) order.SealedOrder { return sealedOrder(t, d, order.Braille, order.Audio) }
	partitions := func() []string {
		t.Helper()
		rows, err := st.Pool().Query(ctx, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'order_personal'::regclass ORDER BY 1`)
		testenv.Must(t, err)
		var names []string
		for rows.Next() {
			var n string
			testenv.Must(t, rows.Scan(&n))
			names = append(names, n)
		}
		testenv.Must(t, rows.Err())
		return names
	}

	// One order alone, then a batch of three over two days (the consumer's path).
	if _, err := st.SaveOrder(ctx, sealed(day(23))); err != nil {
		t.Fatal(err)
	}
	o24 := sealed(day(24))
	saved, err := st.SaveOrders(ctx, []order.SealedOrder{o24, sealed(day(24)), sealed(day(25))})
	testenv.Must(t, err)
	for i, s := range saved {
		if s != postgres.Inserted {
			t.Errorf("order %d: %v", i, s)
		}
	}
	if got := partitions(); len(got) != 3 || got[0] != "order_personal_20261123" || got[2] != "order_personal_20261125" {
		t.Fatalf("partitions %v", got)
	}
	// The facts copied next to the sealed part are the order's.
	var ref, area, formats string
	var date time.Time
	testenv.Must(t, st.Pool().QueryRow(ctx, `SELECT reference, area, formats, business_date FROM order_personal WHERE order_id = $1`,
		o24.ID).Scan(&ref, &area, &formats, &date))
	if ref != o24.Reference.String() || area != "kent" || formats != "braille,audio" || businessday.FromTime(date) != day(24) {
		t.Errorf("row of %s: %s %s %v %s", o24.Reference, ref, area, formats, date)
	}

	b, _, err := st.Assemble(ctx, postgres.Batch{ID: "B24", Date: day(24), CreatedAt: time.Now(), DataFile: "B24.csv", ManifestFile: "B24.json"})
	testenv.Must(t, err)
	if orders, _, err := st.CountBatch(ctx, b.ID); err != nil || orders != 3 {
		t.Fatalf("batch of the 24th holds %d orders, want 3 (%v)", orders, err)
	}
	del, err := st.RecordSent(ctx, postgres.Sent{BatchID: "B24", SHA256: "x", Records: 6, Orders: 3, SentAt: time.Now(),
		DeliveryDate: day(25), DueDate: day(30)})
	testenv.Must(t, err)
	if got := partitions(); del.Orders != 3 || len(got) != 1 || got[0] != "order_personal_20261125" {
		t.Errorf("recording deleted %d, partitions left %v", del.Orders, got)
	}

	// A late order of a sent day: refused, and its partition stays gone.
	if _, err := st.SaveOrder(ctx, sealed(day(24))); err == nil {
		t.Error("a late order was stored")
	}
	saved, err = st.SaveOrders(ctx, []order.SealedOrder{sealed(day(23)), sealed(day(25))})
	testenv.Must(t, err)
	if saved[0] != postgres.Late || saved[1] != postgres.Inserted {
		t.Errorf("late and on-time orders: %v", saved)
	}
	if got := partitions(); len(got) != 1 {
		t.Errorf("partitions after late orders: %v", got)
	}
}

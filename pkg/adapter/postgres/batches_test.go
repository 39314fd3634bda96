package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/testkit/testenv"
)

// A batch holds the orders of its date and of earlier dates in no batch
// yet (not erased), by date range: the next batch starts after it, a batch
// made for an earlier date afterwards holds nothing, and recording a batch
// deletes the personal parts of its orders only.
func TestAssembleByDateRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := migratedStore(t)
	day := func(d int) businessday.Date { return businessday.Date{Year: 2026, Month: 11, Day: d} }
	save := func(d businessday.Date) order.SealedOrder {
		t.Helper()
		so := sealedOrder(t, d, order.Braille)
		if _, err := st.SaveOrder(ctx, so); err != nil {
			t.Fatal(err)
		}
		return so
	}
	assemble := func(id string, d businessday.Date) postgres.Batch {
		t.Helper()
		b, _, err := st.Assemble(ctx, postgres.Batch{ID: id, Date: d, CreatedAt: time.Now(), DataFile: id + ".csv", ManifestFile: id + ".json"})
		testenv.Must(t, err)
		return b
	}
	members := func(id string) map[string]bool {
		t.Helper()
		got := map[string]bool{}
		testenv.Must(t, st.EachOrder(ctx, id, func(o postgres.BatchOrder) error {
			got[o.OrderID] = true
			return nil
		}))
		return got
	}
	o23, o24, erased, o25 := save(day(23)), save(day(24)), save(day(24)), save(day(25))
	h, err := st.FindOrder(ctx, erased.Reference.String())
	testenv.Must(t, err)
	testenv.Must(t, st.ErasePersonal(ctx, h.OrderID, h.Reference))

	b24 := assemble("B24", day(24))
	orders, records, err := st.CountBatch(ctx, b24.ID)
	testenv.Must(t, err)
	if got := members("B24"); len(got) != 2 || !got[o23.ID] || !got[o24.ID] || orders != 2 || records != 2 {
		t.Errorf("batch of the 24th: %v, counts %d/%d", got, orders, records)
	}
	if again := assemble("other", day(24)); again.ID != "B24" {
		t.Errorf("re-assembling made %s", again.ID)
	}
	b22 := assemble("B22", day(22))
	if orders, _, err := st.CountBatch(ctx, b22.ID); err != nil || orders != 0 || len(members("B22")) != 0 {
		t.Errorf("a batch of an earlier date made later holds %d orders (%v)", orders, err)
	}
	if got := members("B25"); len(got) != 0 {
		t.Errorf("no batch B25 yet, but %v", got)
	}
	for ref, want := range map[string]string{o23.Reference.String(): "B24", o25.Reference.String(): "", erased.Reference.String(): ""} {
		h, err := st.FindOrder(ctx, ref)
		testenv.Must(t, err)
		if h.BatchID != want {
			t.Errorf("order %s in batch %q, want %q", ref, h.BatchID, want)
		}
	}
	b25 := assemble("B25", day(25))
	orders, _, err = st.CountBatch(ctx, b25.ID)
	testenv.Must(t, err)
	if got := members("B25"); len(got) != 1 || !got[o25.ID] || orders != 1 {
		t.Errorf("batch of the 25th: %v, %d orders counted", got, orders)
	}
	del, err := st.RecordSent(ctx, postgres.Sent{BatchID: "B24", SHA256: "x", Records: 2, Orders: 2, SentAt: time.Now(),
		DeliveryDate: day(25), DueDate: day(30)})
	testenv.Must(t, err)
	var left, deleted int
	testenv.Must(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM order_personal`).Scan(&left))
	testenv.Must(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM orders_with_batch WHERE personal_deleted_at IS NOT NULL`).Scan(&deleted))
	if del.Orders != 2 || left != 1 || deleted != 3 { // the two sent and the erased one
		t.Errorf("recording B24 deleted %d personal parts; %d left, %d orders marked deleted", del.Orders, left, deleted)
	}
}

// A batch is streamed in file order straight from the index, for a batch
// of a few orders (where a sort would be the planner's cheaper choice) as
// for one of a million: a sort would read the whole batch before its first
// row could be written.
func TestEachOrderReadsInIndexOrderWithoutSorting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := migratedStore(t)
	day := businessday.Date{Year: 2026, Month: 11, Day: 24}
	for range 50 {
		if _, err := st.SaveOrder(ctx, sealedOrder(t, day, order.Braille)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := st.Pool().Exec(ctx, `ANALYZE order_personal`)
	testenv.Must(t, err)
	plan, err := postgres.EachOrderPlan(ctx, st, day.AddDays(-1).UTC(), day.UTC())
	testenv.Must(t, err)
	if strings.Contains(plan, "Sort") || !strings.Contains(plan, "Index Scan") {
		t.Errorf("batch rows are not read in index order:\n%s", plan)
	}
}

// How a batch's file is sent is recorded when it is assembled and comes
// back with it, a resumed batch keeps its own whatever the next run asks
// for, and the database refuses a value that contradicts the file's name
// (a plain file under a .gpg name, or the other way round).
func TestAssembleRecordsEncryption(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := migratedStore(t)
	day := func(d int) businessday.Date { return businessday.Date{Year: 2026, Month: 11, Day: d} }
	b, created, err := st.Assemble(ctx, postgres.Batch{ID: "B20", Date: day(20), CreatedAt: time.Now(),
		DataFile: "B20.csv.gpg", ManifestFile: "B20.json", Encryption: batchfile.EncryptionOpenPGP})
	testenv.Must(t, err)
	if !created || b.Encryption != batchfile.EncryptionOpenPGP {
		t.Fatalf("assembled %+v", b)
	}
	again, created, err := st.Assemble(ctx, postgres.Batch{ID: "other", Date: day(20), CreatedAt: time.Now(),
		DataFile: "other.csv", ManifestFile: "other.json", Encryption: batchfile.EncryptionNone})
	testenv.Must(t, err)
	if created || again.ID != "B20" || again.Encryption != batchfile.EncryptionOpenPGP || again.DataFile != "B20.csv.gpg" {
		t.Errorf("resumed %+v", again)
	}
	got, err := st.BatchFor(ctx, day(20))
	if err != nil || got.Encryption != batchfile.EncryptionOpenPGP {
		t.Errorf("BatchFor = %+v, %v", got, err)
	}
	for _, c := range []postgres.Batch{
		{ID: "B21", Date: day(21), DataFile: "B21.csv.gpg", Encryption: batchfile.EncryptionNone},
		{ID: "B22", Date: day(22), DataFile: "B22.csv", Encryption: batchfile.EncryptionOpenPGP},
		{ID: "B23", Date: day(23), DataFile: "B23.csv", Encryption: "rot13"},
	} {
		c.CreatedAt, c.ManifestFile = time.Now(), c.ID+".json"
		if _, _, err := st.Assemble(ctx, c); !errors.Is(err, postgres.ErrConflict) || !strings.Contains(err.Error(), "23514") {
			t.Errorf("%s as %s: %v, want the database's refusal", c.DataFile, c.Encryption, err)
		}
	}
	// Left empty, it is what the name says.
	b24, _, err := st.Assemble(ctx, postgres.Batch{ID: "B24", Date: day(24), CreatedAt: time.Now(), DataFile: "B24.csv", ManifestFile: "B24.json"})
	if err != nil || b24.Encryption != batchfile.EncryptionNone {
		t.Errorf("unsaid: %+v, %v", b24, err)
	}
}

// Unsent: nothing on a fresh database or for days without orders; an
// order of a closed day in no batch, or a batch not sent, is owed; once
// sent, nothing; an order of a later (open) day is not owed yet.
func TestUnsent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := migratedStore(t)
	day := func(d int) businessday.Date { return businessday.Date{Year: 2026, Month: 11, Day: d} }
	unsent := func(d businessday.Date) bool {
		t.Helper()
		u, err := st.Unsent(ctx, d)
		testenv.Must(t, err)
		return u
	}
	if unsent(day(24)) {
		t.Error("a fresh database owes a batch")
	}
	_, err := st.SaveOrder(ctx, sealedOrder(t, day(24), order.Braille))
	testenv.Must(t, err)
	if unsent(day(23)) || !unsent(day(24)) || !unsent(day(25)) {
		t.Error("an order in no batch: owed from its own day on")
	}
	b, _, err := st.Assemble(ctx, postgres.Batch{ID: "B25", Date: day(25), CreatedAt: time.Now(), DataFile: "B25.csv", ManifestFile: "B25.json"})
	testenv.Must(t, err)
	if !unsent(day(25)) || !unsent(day(26)) {
		t.Error("a batch assembled and not sent is owed")
	}
	_, err = st.RecordSent(ctx, postgres.Sent{BatchID: b.ID, SHA256: "ab", SentAt: time.Now(), DeliveryDate: day(26), DueDate: day(26).AddDays(40)})
	testenv.Must(t, err)
	if unsent(day(26)) {
		t.Error("owed after the batch was sent")
	}
	_, err = st.SaveOrder(ctx, sealedOrder(t, day(27), order.Braille))
	testenv.Must(t, err)
	if unsent(day(26)) || !unsent(day(27)) {
		t.Error("an order of a day after the last batch")
	}
}

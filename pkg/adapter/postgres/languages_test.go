package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/testkit/testenv"
)

// The booklet languages (issue 18, migration 090) are stored with the
// order's facts by SaveOrder and SaveOrders alike, read back by EachOrder in
// the order given, and counted by CountBatch as rows of the file: one per
// format and language. An order sealed without languages is English.
func TestLanguagesStoredAndRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := migratedStore(t)
	d := businessday.Date{Year: 2026, Month: 11, Day: 25}
	with := func(ls []order.Language, fs ...order.Format) order.SealedOrder {
		so := sealedOrder(t, d, fs...)
		so.Area, so.Languages = "gwent", ls
		return so
	}
	english := sealedOrder(t, d, order.Braille) // Languages made by Seal: English
	welsh := with([]order.Language{order.Welsh}, order.Audio)
	both := with([]order.Language{order.English, order.Welsh}, order.StandardPrint, order.LargePrint)
	none := with(nil, order.EasyRead) // as an order from before issue 18
	if _, err := st.SaveOrder(ctx, english); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveOrder(ctx, welsh); err != nil {
		t.Fatal(err)
	}
	saved, err := st.SaveOrders(ctx, []order.SealedOrder{both, none})
	if err != nil || saved[0] != postgres.Inserted || saved[1] != postgres.Inserted {
		t.Fatalf("SaveOrders = %v, %v", saved, err)
	}

	want := map[string][]order.Language{
		english.ID: {order.English}, welsh.ID: {order.Welsh}, both.ID: {order.English, order.Welsh}, none.ID: {order.English},
	}
	for id, ls := range want {
		var facts []string
		testenv.Must(t, st.Pool().QueryRow(ctx, `SELECT languages FROM orders WHERE order_id = $1`, id).Scan(&facts))
		if !slices.Equal(facts, languageStrings(ls)) {
			t.Errorf("order %s: orders.languages %v, want %v", id, facts, ls)
		}
	}

	b, _, err := st.Assemble(ctx, postgres.Batch{ID: "B25", Date: d, CreatedAt: time.Now(), DataFile: "d.csv", ManifestFile: "m.json"})
	testenv.Must(t, err)
	seen := 0
	testenv.Must(t, st.EachOrder(ctx, b.ID, func(o postgres.BatchOrder) error {
		seen++
		if !slices.Equal(o.Languages, want[o.OrderID]) {
			t.Errorf("EachOrder: order %s has languages %v, want %v", o.Reference, o.Languages, want[o.OrderID])
		}
		return nil
	}))
	orders, records, err := st.CountBatch(ctx, b.ID)
	testenv.Must(t, err)
	// braille en (1) + audio cy (1) + two formats in two languages (4) + easy-read en (1)
	if seen != 4 || orders != 4 || records != 7 {
		t.Errorf("read %d orders; counted %d orders, %d records; want 4, 4, 7", seen, orders, records)
	}
}

// The database keeps only the languages we know: a value the domain would
// never make is refused by the check of migration 090 even if written
// directly, and SaveOrders refuses one before it reaches the database.
func TestUnknownLanguageRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := migratedStore(t)
	d := businessday.Date{Year: 2026, Month: 11, Day: 25}
	so := sealedOrder(t, d, order.Braille)
	so.Languages = []order.Language{"fr"}
	if _, err := st.SaveOrders(ctx, []order.SealedOrder{so}); !errors.Is(err, postgres.ErrConflict) {
		t.Errorf("SaveOrders with language fr: %v, want ErrConflict", err)
	}
	if _, err := st.SaveOrder(ctx, so); !errors.Is(err, postgres.ErrConflict) {
		t.Errorf("SaveOrder with language fr: %v, want ErrConflict", err)
	}
	for _, bad := range []string{`'{fr}'`, `'{}'`} {
		_, err := st.Pool().Exec(ctx, `INSERT INTO orders (order_id, reference, received_at, business_date, area, formats, languages)
			VALUES (gen_random_uuid(), 'X'||gen_random_uuid(), now(), '2026-11-25', 'kent', '{braille}', `+bad+`)`)
		if err == nil {
			t.Errorf("the database took languages %s", bad)
		}
	}
}

// Orders stored before migration 090 are English: the column's default,
// which an insert that does not name it gets too.
func TestLanguagesDefaultEnglish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := migratedStore(t)
	var facts []string
	testenv.Must(t, st.Pool().QueryRow(ctx, `INSERT INTO orders (order_id, reference, received_at, business_date, area, formats)
		VALUES (gen_random_uuid(), 'OLD-ORDER', now(), '2026-11-25', 'kent', '{braille}') RETURNING languages`).Scan(&facts))
	if !slices.Equal(facts, []string{"en"}) {
		t.Errorf("default languages %v, want [en]", facts)
	}
}

func languageStrings(ls []order.Language) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = string(l)
	}
	return out
}

package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"booklets/pkg/batchfile"
	"booklets/pkg/businessday"
	"booklets/pkg/order"
	"booklets/pkg/reference"
	"booklets/pkg/store"
	"booklets/pkg/testenv"
)

// The operator commands: show, correct and erase an unsent order after
// confirming the postcode; each is audited without the personal data; a
// sent or erased order is refused with the reason.
func TestOrderCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testenv.Database(t)
	env := map[string]string{"DATABASE_URL": dbURL, "KEK": testKEK("k1")}
	getenv := func(k string) string { return env[k] }
	cmd := func(args ...string) (string, error) {
		var out syncBuf
		err := run(ctx, append([]string{"order"}, args...), getenv, &out)
		return out.String(), err
	}
	if err := run(ctx, []string{"migrate"}, getenv, &syncBuf{}); err != nil {
		t.Fatal(err)
	}
	keys := testKeys(t, dbURL, env["KEK"])
	st, err := store.Open(ctx, dbURL, nil)
	testenv.Must(t, err)
	defer st.Close()
	received := time.Now().UTC()
	newOrder := func(name string) order.Order {
		o := order.Order{ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: received, Area: "kent",
			Formats:  []order.Format{order.Braille},
			Personal: order.Personal{Name: name, AddressLine1: "3 Orchard Row", Town: "Faversham", Postcode: "ME13 8AA"}}
		if _, err := st.SaveOrder(ctx, sealOrder(t, keys, o)); err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := newOrder("Philippa Privacy")
	ref := o.Reference.String()
	audit := func(kind string) string {
		var details string
		_ = st.Pool().QueryRow(ctx, `SELECT coalesce(string_agg(details::text, ';'), '') FROM audit_log WHERE kind = $1`, kind).Scan(&details)
		return details
	}

	if _, err := cmd("show", ref, "--postcode", "ME13 9ZZ"); err == nil || !strings.Contains(err.Error(), "no order with that reference and postcode") {
		t.Errorf("wrong postcode: %v", err)
	}
	if _, err := cmd("show", ref); err == nil || !strings.Contains(err.Error(), "--postcode") {
		t.Errorf("no postcode: %v", err)
	}
	out, err := cmd("show", strings.ToLower(ref), "--postcode", "me138aa")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{ref, "Philippa Privacy", "3 Orchard Row", "Faversham", "ME13 8AA", "braille", "kent"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if d := audit("order_viewed"); !strings.Contains(d, ref) || strings.Contains(d, "Philippa") {
		t.Errorf("order_viewed audit: %q", d)
	}

	out, err = cmd("correct", ref, "--postcode", "ME13 8AA", "--field", "name=Philippa Privacy-Smith", "--field", "town=Whitstable")
	if err != nil || !strings.Contains(out, "corrected name, town") {
		t.Fatalf("correct: %v\n%s", err, out)
	}
	if d := audit("order_corrected"); !strings.Contains(d, `"fields": ["name", "town"]`) && !strings.Contains(d, `"fields":["name","town"]`) || strings.Contains(d, "Whitstable") {
		t.Errorf("order_corrected audit: %q", d)
	}
	if _, err := cmd("correct", ref, "--postcode", "ME13 8AA", "--field", "postcode=NOT A POSTCODE"); err == nil || strings.Contains(err.Error(), "NOT A POSTCODE") {
		t.Errorf("invalid correction: %v", err)
	}
	if out, err := cmd("show", ref, "--postcode", "ME13 8AA"); err != nil || !strings.Contains(out, "Philippa Privacy-Smith") || !strings.Contains(out, "Whitstable") {
		t.Errorf("after correction: %v\n%s", err, out)
	}
	var data []byte
	testenv.Must(t, st.Pool().QueryRow(ctx, `SELECT data FROM order_personal WHERE order_id = $1`, o.ID).Scan(&data))
	if strings.Contains(string(data), "Whitstable") {
		t.Error("the correction was stored in clear")
	}

	if out, err := cmd("erase", ref, "--postcode", "ME13 8AA"); err != nil || !strings.Contains(out, "erased") {
		t.Fatalf("erase: %v %s", err, out)
	}
	var personal, erased int
	testenv.Must(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM order_personal`).Scan(&personal))
	testenv.Must(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM orders WHERE erased_at IS NOT NULL`).Scan(&erased))
	if personal != 0 || erased != 1 || !strings.Contains(audit("order_erased"), ref) {
		t.Errorf("after erase: %d personal, %d erased, audit %q", personal, erased, audit("order_erased"))
	}
	if _, err := cmd("show", ref, "--postcode", "ME13 8AA"); !errors.Is(err, store.ErrErased) {
		t.Errorf("show after erase: %v", err)
	}

	// An order in a batch is with the partner (or about to be).
	o2 := newOrder("Sam Sent")
	day := businessday.DefaultCutoff.DateOf(received)
	id := batchfile.NewBatchID(day)
	b, _, err := st.Assemble(ctx, store.Batch{ID: id, Date: day, CreatedAt: received,
		DataFile: batchfile.DataFileName(day, id), ManifestFile: batchfile.ManifestFileName(day, id)})
	testenv.Must(t, err)
	if b.OrderCount != 1 {
		t.Fatalf("the erased order was assembled: %+v", b)
	}
	for _, verb := range []string{"show", "erase"} {
		if _, err := cmd(verb, o2.Reference.String(), "--postcode", "ME13 8AA"); !errors.Is(err, store.ErrAlreadySent) || !strings.Contains(err.Error(), "partner") {
			t.Errorf("%s of a sent order: %v", verb, err)
		}
	}
	if _, err := cmd("correct", o2.Reference.String(), "--postcode", "ME13 8AA", "--field", "name=X"); !errors.Is(err, store.ErrAlreadySent) {
		t.Errorf("correct of a sent order: %v", err)
	}
}

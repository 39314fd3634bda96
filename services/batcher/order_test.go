package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/testkit/testenv"
)

// The operator commands: show, correct and erase an unsent order after
// confirming the postcode read from stdin (as piped: one line each, the
// postcode then each new value); each is audited without the personal
// data; a sent or erased order is refused with the reason; personal data
// in the arguments is refused.
func TestOrderCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testenv.Database(t)
	env := map[string]string{"DATABASE_URL": dbURL, "KEK": testKEK("k1")}
	getenv := func(k string) string { return env[k] }
	cmd := func(stdin string, args ...string) (string, error) {
		var out testenv.Buffer
		err := run(ctx, append([]string{"order"}, args...), getenv, strings.NewReader(stdin), &out)
		return out.String(), err
	}
	if err := run(ctx, []string{"migrate"}, getenv, nil, &testenv.Buffer{}); err != nil {
		t.Fatal(err)
	}
	keys := testKeys(t, dbURL, env["KEK"])
	st, err := postgres.OpenOrders(ctx, dbURL, nil)
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

	if _, err := cmd("ME13 9ZZ\n", "show", ref); err == nil || !strings.Contains(err.Error(), "no order with that reference and postcode") {
		t.Errorf("wrong postcode: %v", err)
	}
	for _, in := range []string{"", "\n"} {
		if _, err := cmd(in, "show", ref); err == nil || !strings.Contains(err.Error(), "postcode") {
			t.Errorf("no postcode (stdin %q): %v", in, err)
		}
	}
	// The old forms put personal data where ps and shell history keep it:
	// refused, saying why, without repeating the value.
	for _, args := range [][]string{
		{"show", ref, "--postcode", "ME13 8AA"},
		{"erase", ref, "--postcode=ME13 8AA"},
		{"show", ref, "-postcode", "ME13 8AA"},
		{"correct", ref, "--postcode", "ME13 8AA", "--field", "town"},
	} {
		if _, err := cmd("ME13 8AA\n", args...); err == nil || !strings.Contains(err.Error(), "standard input") || !strings.Contains(err.Error(), "history") || strings.Contains(err.Error(), "ME13") {
			t.Errorf("%q: %v", args, err)
		}
	}
	for _, args := range [][]string{
		{"correct", ref, "--field", "town=Whitstable"},
		{"correct", ref, "--field=town=Whitstable"},
		{"correct", ref, "--field", "name", "--field", "town=Whitstable"},
	} {
		if _, err := cmd("ME13 8AA\n", args...); err == nil || !strings.Contains(err.Error(), "history") || strings.Contains(err.Error(), "Whitstable") {
			t.Errorf("%q: %v", args, err)
		}
	}
	if _, err := cmd("ME13 8AA\n", "show", ref, "ME13", "8AA"); err == nil || strings.Contains(err.Error(), "ME13") {
		t.Errorf("stray arguments: %v", err)
	}
	if _, err := cmd("ME13 8AA\nWhitstable\n", "correct", ref, "--field", "Whitstable"); err == nil || strings.Contains(err.Error(), "Whitstable") {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := cmd("ME13 8AA\n", "correct", ref); err == nil || !strings.Contains(err.Error(), "--field") {
		t.Errorf("correct without fields: %v", err)
	}
	if _, err := cmd("ME13 8AA\nPhilippa\n", "correct", ref, "--field", "name", "--field", "town"); err == nil || !strings.Contains(err.Error(), "ended before the new town") {
		t.Errorf("correct with too few lines: %v", err)
	}
	if _, err := cmd("ME13 8AA\n", "show", ref, "--field", "name"); err == nil {
		t.Error("show took --field")
	}
	out, err := cmd("me138aa", "show", strings.ToLower(ref)) // no newline after the last line
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

	out, err = cmd("ME13 8AA\r\nPhilippa Privacy-Smith\r\nWhitstable\r\n", "correct", ref, "--field", "name", "--field", "town")
	if err != nil || !strings.Contains(out, "corrected name, town") {
		t.Fatalf("correct: %v\n%s", err, out)
	}
	if d := audit("order_corrected"); !strings.Contains(d, `"fields": ["name", "town"]`) && !strings.Contains(d, `"fields":["name","town"]`) || strings.Contains(d, "Whitstable") {
		t.Errorf("order_corrected audit: %q", d)
	}
	if _, err := cmd("ME13 8AA\nNOT A POSTCODE\n", "correct", ref, "--field", "postcode"); err == nil || strings.Contains(err.Error(), "NOT A POSTCODE") {
		t.Errorf("invalid correction: %v", err)
	}
	if out, err := cmd("ME13 8AA\n", "show", ref); err != nil || !strings.Contains(out, "Philippa Privacy-Smith") || !strings.Contains(out, "Whitstable") ||
		!strings.Contains(out, "languages:      en\n") {
		t.Errorf("after correction: %v\n%s", err, out)
	}
	var data []byte
	testenv.Must(t, st.Pool().QueryRow(ctx, `SELECT data FROM order_personal WHERE order_id = $1`, o.ID).Scan(&data))
	if strings.Contains(string(data), "Whitstable") {
		t.Error("the correction was stored in clear")
	}

	if out, err := cmd("ME13 8AA\n", "erase", ref); err != nil || !strings.Contains(out, "erased") {
		t.Fatalf("erase: %v %s", err, out)
	}
	var personal, erased int
	testenv.Must(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM order_personal`).Scan(&personal))
	testenv.Must(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM orders WHERE erased_at IS NOT NULL`).Scan(&erased))
	if personal != 0 || erased != 1 || !strings.Contains(audit("order_erased"), ref) {
		t.Errorf("after erase: %d personal, %d erased, audit %q", personal, erased, audit("order_erased"))
	}
	if _, err := cmd("ME13 8AA\n", "show", ref); !errors.Is(err, postgres.ErrErased) {
		t.Errorf("show after erase: %v", err)
	}

	// An order in a batch is with the partner (or about to be).
	o2 := newOrder("Sam Sent")
	day := businessday.DefaultCutoff.DateOf(received)
	id := batchfile.NewBatchID(day)
	b, _, err := st.Assemble(ctx, postgres.Batch{ID: id, Date: day, CreatedAt: received,
		DataFile: batchfile.DataFileName(day, id), ManifestFile: batchfile.ManifestFileName(day, id)})
	testenv.Must(t, err)
	if orders, _, err := st.CountBatch(ctx, b.ID); err != nil || orders != 1 {
		t.Fatalf("the erased order was assembled: batch %s holds %d orders (%v)", b.ID, orders, err)
	}
	for _, verb := range []string{"show", "erase"} {
		if _, err := cmd("ME13 8AA\n", verb, o2.Reference.String()); !errors.Is(err, postgres.ErrAlreadySent) || !strings.Contains(err.Error(), "partner") {
			t.Errorf("%s of a sent order: %v", verb, err)
		}
	}
	if _, err := cmd("ME13 8AA\nX\n", "correct", o2.Reference.String(), "--field", "name"); !errors.Is(err, postgres.ErrAlreadySent) {
		t.Errorf("correct of a sent order: %v", err)
	}
}

// At a terminal each value is asked for; from a pipe or a file the lines
// are read without prompts (which would otherwise land in the output).
func TestOrderAnswers(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	testenv.Must(t, err)
	defer r.Close()
	defer w.Close()
	if isTerminal(r) || isTerminal(strings.NewReader("")) {
		t.Error("a pipe or a reader taken for a terminal")
	}
	var shown strings.Builder
	a := &answers{r: bufio.NewReader(strings.NewReader("ST18 0YY\n\nlast")), prompt: &shown}
	for _, want := range []string{"ST18 0YY", "", "last"} {
		got, err := a.line("postcode")
		if err != nil || got != want {
			t.Errorf("line = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := a.line("new town"); err == nil || !strings.Contains(err.Error(), "ended before the new town") {
		t.Errorf("after the last line: %v", err)
	}
	if want := "postcode: postcode: postcode: new town: "; shown.String() != want {
		t.Errorf("prompts %q, want %q", shown.String(), want)
	}
	var none strings.Builder
	if got, err := newAnswers(strings.NewReader("x\n"), &none).line("postcode"); got != "x" || err != nil || none.Len() != 0 {
		t.Errorf("piped: %q, %v, prompts %q", got, err, none.String())
	}
}

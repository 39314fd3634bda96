package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
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

// keysEnv is a database of the test's own with the batcher's commands run
// under a KEK setting the test changes, as an operator edits KEK_FILE.
type keysEnv struct {
	t     *testing.T
	dbURL string
	kek   string
	st    *postgres.Orders
}

func newKeysEnv(t *testing.T, kek string) *keysEnv {
	t.Helper()
	e := &keysEnv{t: t, dbURL: testenv.Database(t), kek: kek}
	testenv.Must(t, run(context.Background(), []string{"migrate"}, e.getenv, nil, &testenv.Buffer{}))
	st, err := postgres.OpenOrders(context.Background(), e.dbURL, nil)
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	e.st = st
	return e
}

func (e *keysEnv) getenv(k string) string {
	return map[string]string{"DATABASE_URL": e.dbURL, "KEK": e.kek, "LOG_LEVEL": "error"}[k]
}

func (e *keysEnv) cmd(args ...string) (string, error) {
	return e.cmdWithInput("", args...)
}

// cmdWithInput runs a command with stdin, as an operator pipes the
// personal data the order commands never take as arguments.
func (e *keysEnv) cmdWithInput(stdin string, args ...string) (string, error) {
	var out testenv.Buffer
	err := run(context.Background(), args, e.getenv, strings.NewReader(stdin), &out)
	return out.String(), err
}

// keys returns a keystore over the test database with a ring of its own,
// as the intake running with that KEK setting.
func (e *keysEnv) keys(kek string) *postgres.DayKeys {
	return testKeys(e.t, e.dbURL, kek)
}

// saveOrder stores a sealed order received at noon London time on day.
func (e *keysEnv) saveOrder(keys *postgres.DayKeys, day string, name string) order.Order {
	e.t.Helper()
	d, err := businessday.ParseDate(day)
	testenv.Must(e.t, err)
	o := order.Order{ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC),
		Area: "kent", Formats: []order.Format{order.Audio},
		Personal: order.Personal{Name: name, AddressLine1: "4 Lantern Yard", Town: "Margate", Postcode: "CT9 1AA"}}
	if _, err := e.st.SaveOrder(context.Background(), sealOrder(e.t, keys, o)); err != nil {
		e.t.Fatal(err)
	}
	return o
}

func (e *keysEnv) auditDetails(kind string) []string {
	e.t.Helper()
	rows, err := e.st.Pool().Query(context.Background(), `SELECT details::text FROM audit_log WHERE kind = $1 ORDER BY seq`, kind)
	testenv.Must(e.t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		testenv.Must(e.t, rows.Scan(&d))
		out = append(out, d)
	}
	testenv.Must(e.t, rows.Err())
	return out
}

// A whole KEK rotation with the operator commands: list, put a new KEK
// first, rewrap, remove the old KEK; the live day keys (and the orders
// sealed under them) still open, the destroyed one stays destroyed, and
// no command ever prints key material.
func TestKeysRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldKEK := testKEK("2026a")
	e := newKeysEnv(t, oldKEK)
	intake := e.keys(oldKEK)

	// Three days: the first already sent (its key destroyed), two live
	// with an order each.
	_, err := intake.GetOrCreate(ctx, mustDate(t, "2026-11-20"))
	testenv.Must(t, err)
	tx, err := e.st.Pool().Begin(ctx)
	testenv.Must(t, err)
	_, err = intake.Destroy(ctx, tx, mustDate(t, "2026-11-20"))
	testenv.Must(t, err)
	testenv.Must(t, tx.Commit(ctx))
	o1 := e.saveOrder(intake, "2026-11-21", "Rotated Rosamund")
	o2 := e.saveOrder(intake, "2026-11-22", "Rewrapped Reginald")

	var wrapped [][]byte
	rows, err := e.st.Pool().Query(ctx, `SELECT wrapped FROM day_keys WHERE wrapped IS NOT NULL`)
	testenv.Must(t, err)
	for rows.Next() {
		var w []byte
		testenv.Must(t, rows.Scan(&w))
		wrapped = append(wrapped, w)
	}
	testenv.Must(t, rows.Err())
	if len(wrapped) != 2 {
		t.Fatalf("%d live wrapped keys", len(wrapped))
	}
	noKeyMaterial := func(step, out string) {
		t.Helper()
		for _, secret := range append([]string{strings.SplitN(oldKEK, ":", 2)[1]}, strings.SplitN(e.kek, ":", 2)[1]) {
			if strings.Contains(out, secret) {
				t.Errorf("%s printed a KEK", step)
			}
		}
		for _, w := range wrapped {
			if strings.Contains(out, hex.EncodeToString(w)) || strings.Contains(out, base64.StdEncoding.EncodeToString(w)) {
				t.Errorf("%s printed a wrapped day key", step)
			}
		}
	}

	out, err := e.cmd("keys", "list")
	if err != nil {
		t.Fatal(err)
	}
	noKeyMaterial("list", out)
	for _, want := range []string{"2026-11-20", "destroyed", "2026-11-21", "2026-11-22", "2026a", "3 day keys, 2 live; current KEK 2026a", "live under 2026a: 2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if lines := strings.Split(out, "\n"); len(lines) < 4 || !strings.HasPrefix(lines[1], "2026-11-20") || !strings.Contains(lines[1], "destroyed") ||
		!strings.HasPrefix(lines[2], "2026-11-21") || !strings.Contains(lines[2], "live") {
		t.Errorf("list lines:\n%s", out)
	}

	// 1-2. A new KEK first, the old one kept: new keys go under the new
	// one, old ones still open.
	newKEK := testKEK("2026b")
	e.kek = newKEK + "," + oldKEK
	out, err = e.cmd("keys", "list")
	if err != nil || !strings.Contains(out, "live under 2026a: 2 (not the current KEK: run `batcher keys rewrap` before removing 2026a)") {
		t.Errorf("list after rotation: %v\n%s", err, out)
	}
	noKeyMaterial("list", out)

	// 3. Rewrap.
	out, err = e.cmd("keys", "rewrap")
	if err != nil || !strings.Contains(out, "rewrapped 2 day keys under the current KEK 2026b (from 2026a)") {
		t.Fatalf("rewrap: %v\n%s", err, out)
	}
	noKeyMaterial("rewrap", out)
	if d := e.auditDetails("day_keys_rewrapped"); len(d) != 1 || !strings.Contains(d[0], `"count": 2`) || !strings.Contains(d[0], `"kek_id": "2026b"`) {
		t.Errorf("audit: %q", d)
	}
	// 4. Nothing live under the old KEK; the destroyed key untouched.
	var underOld, destroyed int
	testenv.Must(t, e.st.Pool().QueryRow(ctx, `SELECT count(*) FROM day_keys WHERE wrapped IS NOT NULL AND kek_id = '2026a'`).Scan(&underOld))
	testenv.Must(t, e.st.Pool().QueryRow(ctx, `SELECT count(*) FROM day_keys WHERE wrapped IS NULL AND destroyed_at IS NOT NULL AND kek_id = '2026a'`).Scan(&destroyed))
	if underOld != 0 || destroyed != 1 {
		t.Errorf("after rewrap: %d live under the old KEK, %d destroyed", underOld, destroyed)
	}
	// Running it again has nothing to do.
	if out, err := e.cmd("keys", "rewrap"); err != nil || !strings.Contains(out, "rewrapped 0 day keys") {
		t.Errorf("second rewrap: %v\n%s", err, out)
	}

	// 5. The old KEK removed: the live day keys still open, through the
	// keystore and through the operator's order command.
	e.kek = newKEK
	out, err = e.cmd("keys", "list")
	if err != nil || !strings.Contains(out, "live under 2026b: 2\n") || strings.Contains(out, "NOT configured") {
		t.Errorf("list with the old KEK removed: %v\n%s", err, out)
	}
	after := e.keys(newKEK)
	for _, d := range []string{"2026-11-21", "2026-11-22"} {
		if _, err := after.Get(ctx, mustDate(t, d)); err != nil {
			t.Errorf("day key %s with only the new KEK: %v", d, err)
		}
	}
	if _, err := after.Get(ctx, mustDate(t, "2026-11-20")); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("destroyed key: %v", err)
	}
	for _, o := range []order.Order{o1, o2} {
		out, err := e.cmdWithInput(o.Personal.Postcode+"\n", "order", "show", o.Reference.String())
		if err != nil || !strings.Contains(out, o.Personal.Name) {
			t.Errorf("order %s after the rotation: %v\n%s", o.Reference, err, out)
		}
	}
}

// A KEK removed before its day keys were rewrapped: rewrap rewraps what it
// can, records that, and fails with an error naming the date and the
// missing KEK id (never a key); list says the KEK is missing.
func TestKeysRewrapRemovedKEK(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	removed, kept, current := testKEK("2026a"), testKEK("2026b"), testKEK("2026c")
	e := newKeysEnv(t, removed)
	e.saveOrder(e.keys(removed), "2026-11-21", "Lost Lavinia")
	e.saveOrder(e.keys(kept), "2026-11-22", "Kept Kenelm")

	e.kek = current + "," + kept
	out, err := e.cmd("keys", "list")
	if err != nil || !strings.Contains(out, "live under 2026a: 1 (KEK 2026a is NOT configured") {
		t.Errorf("list: %v\n%s", err, out)
	}
	out, err = e.cmd("keys", "rewrap")
	if err == nil {
		t.Fatalf("rewrap with a removed KEK succeeded:\n%s", out)
	}
	if !errors.Is(err, seal.ErrUnknownKEK) || !strings.Contains(err.Error(), "2026a") || !strings.Contains(err.Error(), "2026-11-21") ||
		!strings.Contains(err.Error(), "add that KEK back") {
		t.Errorf("error does not explain the removed KEK: %v", err)
	}
	if strings.Contains(err.Error(), strings.SplitN(removed, ":", 2)[1]) {
		t.Error("the error shows a key")
	}
	if !strings.Contains(out, "rewrapped 1 day keys under the current KEK 2026c (from 2026b)") {
		t.Errorf("rewrap output: %s", out)
	}
	if d := e.auditDetails("day_keys_rewrapped"); len(d) != 1 || !strings.Contains(d[0], `"count": 1`) {
		t.Errorf("audit: %q", d)
	}
	// Only the removed KEK's key is left behind.
	var left string
	testenv.Must(t, e.st.Pool().QueryRow(ctx, `SELECT string_agg(business_date::text || '/' || kek_id, ',' ORDER BY business_date) FROM day_keys`).Scan(&left))
	if left != "2026-11-21/2026a,2026-11-22/2026c" {
		t.Errorf("day keys: %s", left)
	}

	// With nothing rewrappable the error comes alone and nothing is audited.
	e.kek = current
	if _, err := e.cmd("keys", "rewrap"); !errors.Is(err, seal.ErrUnknownKEK) || !strings.Contains(err.Error(), "2026a") {
		t.Errorf("second rewrap: %v", err)
	}
	if d := e.auditDetails("day_keys_rewrapped"); len(d) != 1 {
		t.Errorf("audit after a failed rewrap: %q", d)
	}
	if _, err := e.cmd("keys", "burn"); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("unknown verb: %v", err)
	}
}

func mustDate(t *testing.T, s string) businessday.Date {
	t.Helper()
	d, err := businessday.ParseDate(s)
	testenv.Must(t, err)
	return d
}

package public

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/placeorder"
	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/testenv"
)

// otherJSON is another person's order.
const otherJSON = `{"area":"kent","formats":["braille"],"name":"Ann Lee",
	"address_line_1":"2 Low Road","town":"Dover","postcode":"CT16 1AA"}`

// apiAnswer is a 201's body or a problem (Status is "received" in one,
// the code in the other).
type apiAnswer struct {
	Reference, Type, Detail string
	Status                  any
}

func answerOf(t *testing.T, w interface{ Result() *http.Response }) (int, apiAnswer) {
	t.Helper()
	resp := w.Result()
	defer resp.Body.Close()
	var a apiAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Errorf("status %d: undecodable body: %v", resp.StatusCode, err) // not Fatal: called from goroutines
	}
	return resp.StatusCode, a
}

// TestIdempotencyKeyReusedForAnotherOrder: the same key with another
// order is refused with 422 and nothing is published; the same order,
// however spelt, gets the first reference and nothing new.
func TestIdempotencyKeyReusedForAnotherOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	code, first := answerOf(t, f.postJSON(goodJSON, "client-key-1"))
	if code != http.StatusCreated {
		t.Fatalf("first: %d %+v", code, first)
	}
	w := f.postJSON(otherJSON, "client-key-1")
	code, refused := answerOf(t, w)
	if code != http.StatusUnprocessableEntity || refused.Type != "urn:booklets:problem:idempotency-key-reused" ||
		!strings.Contains(refused.Detail, "other content") || refused.Reference != "" {
		t.Fatalf("another order under the key: %d %s", code, w.Body)
	}
	if strings.Contains(w.Body.String(), "Ann Lee") || strings.Contains(w.Body.String(), first.Reference) {
		t.Errorf("the refusal repeats the order or the first reference: %s", w.Body)
	}
	// The same order spelt otherwise (spaces, case, field order) is the
	// same order.
	respelt := `{"postcode":"ST18 0YY","town":" Stafford","address_line_2":"","address_line_1":"1  High Street",
		"name":"Siân O'Brien","formats":["standard-print","audio"],"area":"staffordshire"}`
	if code, again := answerOf(t, f.postJSON(respelt, "client-key-1")); code != http.StatusCreated || again.Reference != first.Reference {
		t.Fatalf("retry: %d %+v, want 201 %s", code, again, first.Reference)
	}
	if msgs := f.messages(t); len(msgs) != 1 || msgs[0].Reference.String() != first.Reference {
		t.Fatalf("stream holds %+v, want only the first order", msgs)
	}
	if strings.Contains(f.logs.String(), "client-key-1") {
		t.Error("the idempotency key was logged")
	}
}

// TestIdempotencyKeyAcrossReplicas: two intakes sharing the secret and
// the stream, each with its own NATS connection, race with the same keys:
// for each key exactly one order is stored; the same order from both gets
// one reference, two orders get one 201 and one 422.
func TestIdempotencyKeyAcrossReplicas(t *testing.T) {
	t.Parallel()
	a := newFixture(t, nil)
	nc, err := jetstream.Connect(testenv.NATSURL(), "replica-b")
	testenv.Must(t, err)
	t.Cleanup(nc.Close)
	orders, err := jetstream.New(nc, a.orders.Config())
	testenv.Must(t, err)
	b := newFixture(t, func(c *testConfig) { c.Stream, c.Keys, c.Clock = orders, a.keys, a.clock.now })

	const keys = 12
	type result struct {
		code int
		ref  string
	}
	results := make([][2]result, keys)
	var wg sync.WaitGroup
	for i := range keys {
		key := "race-" + uuid.NewString()
		bodyB := goodJSON
		if i%2 == 1 {
			bodyB = otherJSON // odd keys: another order on the other replica
		}
		for r, post := range []func() (int, apiAnswer){
			func() (int, apiAnswer) { return answerOf(t, a.postJSON(goodJSON, key)) },
			func() (int, apiAnswer) { return answerOf(t, b.postJSON(bodyB, key)) },
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, ans := post()
				results[i][r] = result{code, ans.Reference}
			}()
		}
	}
	wg.Wait()
	refs := map[string]bool{}
	for i, r := range results {
		if i%2 == 0 {
			if r[0].code != 201 || r[1].code != 201 || r[0].ref != r[1].ref {
				t.Errorf("key %d, same order on both replicas: %+v", i, r)
			}
			refs[r[0].ref] = true
			continue
		}
		created, refused := 0, 0
		for _, x := range r {
			switch x.code {
			case 201:
				created++
				refs[x.ref] = true
			case 422:
				refused++
			}
		}
		if created != 1 || refused != 1 {
			t.Errorf("key %d, two orders: %+v, want one 201 and one 422", i, r)
		}
	}
	msgs := a.messages(t)
	if len(msgs) != keys {
		t.Fatalf("stream holds %d orders for %d keys", len(msgs), keys)
	}
	for _, m := range msgs {
		if !refs[m.Reference.String()] {
			t.Errorf("stored order %s was never answered 201", m.Reference)
		}
	}
}

// TestIdempotencyKeyAfterItsRecordExpires: once a key's record has
// expired (NATS_DUPE_WINDOW after it was written), the key names a new
// order with a new id and reference, so that it can never collide with
// the stored first order (the batcher dead-letters an order whose
// reference another order id holds: a 201 followed by a silent drop).
func TestIdempotencyKeyAfterItsRecordExpires(t *testing.T) {
	t.Parallel()
	cfg := testenv.Stream(t)
	cfg.DupeWindow = time.Second
	nc, err := jetstream.Connect(testenv.NATSURL(), "expiry")
	testenv.Must(t, err)
	t.Cleanup(nc.Close)
	orders, err := jetstream.New(nc, cfg)
	testenv.Must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testenv.Must(t, orders.Ensure(ctx))
	testenv.Must(t, orders.EnsureIdempotency(ctx))
	js := testenv.JetStream(t)
	t.Cleanup(func() { _ = js.DeleteKeyValue(context.Background(), jetstream.IdempotencyBucket(cfg)) })
	f := newFixture(t, func(c *testConfig) { c.Stream = orders })
	f.orders = orders

	code, first := answerOf(t, f.postJSON(goodJSON, "late-key"))
	if code != 201 {
		t.Fatalf("first: %d", code)
	}
	kv, err := js.KeyValue(ctx, jetstream.IdempotencyBucket(cfg))
	testenv.Must(t, err)
	// Wait for the server to expire the record (and the stream's window).
	eventually.Until(ctx, t, "the idempotency record expires", func(ctx context.Context) error {
		_, err := kv.Get(ctx, f.place.KeyID("late-key"))
		if err == natsjs.ErrKeyNotFound {
			return nil
		}
		if err == nil {
			err = errors.New("the record is still there")
		}
		return err
	})
	code, second := answerOf(t, f.postJSON(goodJSON, "late-key"))
	if code != 201 {
		t.Fatalf("after expiry: %d", code)
	}
	msgs := f.messages(t)
	if len(msgs) != 2 || msgs[0].ID == msgs[1].ID || msgs[0].Reference == msgs[1].Reference ||
		second.Reference == first.Reference || msgs[1].Reference.String() != second.Reference {
		t.Fatalf("first %s, second %s, stream %+v: want two orders, each with its own id and reference", first.Reference, second.Reference, msgs)
	}
}

// TestIdempotencyKeyOfAnUnconfirmedOrder: a record whose order was never
// acknowledged (the first attempt answered 503) is retried as the very same
// order on the same day, and refused with 409 on a later day, when its
// batch may be assembled without it.
func TestIdempotencyKeyOfAnUnconfirmedOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	v, err := mustDraft(t, goodJSON).Validate(catalogue.Default())
	testenv.Must(t, err)
	claim := func(key string, at time.Time) placeorder.Claim {
		c := placeorder.Claim{Fingerprint: f.place.Fingerprint(v), OrderID: uuid.NewString(), Reference: reference.New(), ReceivedAt: at}
		if _, created, err := f.orders.Claim(ctx, f.place.KeyID(key), c); err != nil || !created {
			t.Fatalf("claim: %v %v", created, err)
		}
		return c
	}
	today := claim("unconfirmed-today", f.clock.now().Add(-time.Hour))
	for range 2 {
		if code, got := answerOf(t, f.postJSON(goodJSON, "unconfirmed-today")); code != 201 || got.Reference != today.Reference.String() {
			t.Fatalf("retry: %d %+v, want 201 %s", code, got, today.Reference)
		}
	}
	msgs := f.messages(t)
	if len(msgs) != 1 || msgs[0].ID != today.OrderID || !msgs[0].ReceivedAt.Equal(today.ReceivedAt) {
		t.Fatalf("stream holds %+v, want the claimed order %s once", msgs, today.OrderID)
	}

	claim("unconfirmed-yesterday", f.clock.now().Add(-24*time.Hour))
	w := f.postJSON(goodJSON, "unconfirmed-yesterday")
	if code, got := answerOf(t, w); code != http.StatusConflict || got.Type != "urn:booklets:problem:idempotency-key-stale" {
		t.Fatalf("retry of yesterday's: %d %s", code, w.Body)
	}
	if n := len(f.messages(t)); n != 1 {
		t.Fatalf("stream holds %d orders", n)
	}
}

func mustDraft(t *testing.T, body string) order.Draft {
	t.Helper()
	var d order.Draft
	jsonUnmarshal(t, []byte(body), &d)
	return d
}

// TestFormKeyIsBoundToTheAnswers: "Check your answers" cookies of two
// sets of answers (another person's address typed over the first) have
// different keys, so both orders are sent, each once; the same answers
// keep their key.
func TestFormKeyIsBoundToTheAnswers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	v, _ := journeyToCheck(t, f)
	check := v.cookie().Value
	st1 := v.state()
	w, path := v.submit("/order/address", formOf("name", "Ann Lee", "address_line_1", "2 Low Road",
		"address_line_2", "", "town", "Dover", "postcode", "CT16 1AA"))
	if path != "/order/check" {
		t.Fatalf("address page: %s %d %s", path, w.Code, w.Body)
	}
	other := v.cookie().Value
	if st2 := v.state(); st1.Key == "" || st1.Key == st2.Key {
		t.Fatalf("the other answers kept the key %q", st1.Key)
	}
	// The same answers posted again keep theirs (a double submission of
	// the address page is still one order).
	v.setCookie(check)
	v.submit("/order/address", formOf(goodAddress...))
	if st3 := v.state(); st3.Key != st1.Key {
		t.Errorf("the same answers got a new key")
	}

	var refs []string
	for _, c := range []string{check, other, check} {
		v.setCookie(c)
		w, _ := v.submit("/order/check", nil)
		m := referenceText.FindStringSubmatch(w.Body.String())
		if w.Code != 200 || m == nil {
			t.Fatalf("submit: %d %s", w.Code, w.Body)
		}
		refs = append(refs, m[1])
	}
	if refs[0] == refs[1] || refs[0] != refs[2] {
		t.Fatalf("references %v: want two orders, the first re-sent once", refs)
	}
	msgs := f.messages(t)
	if len(msgs) != 2 || msgs[1].Personal.Name != "Ann Lee" {
		t.Fatalf("stream holds %+v", msgs)
	}
}

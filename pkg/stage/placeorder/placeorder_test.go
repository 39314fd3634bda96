package placeorder_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/placeorder"
)

// The use case over ports in memory: what it decides, without NATS or
// PostgreSQL (pkg/adapter/web/public's tests run it over the real stream).

// stream is a Publisher and Claims in memory, de-duplicating by message
// id as JetStream does.
type stream struct {
	mu     sync.Mutex
	msgs   []order.SealedOrder
	ids    map[string]bool
	claims map[string]placeorder.Claim
	down   bool
}

func newStream() *stream {
	return &stream{ids: map[string]bool{}, claims: map[string]placeorder.Claim{}}
}

func (s *stream) Publish(_ context.Context, o order.SealedOrder, msgID string) (placeorder.Published, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return placeorder.Published{}, fmt.Errorf("publish order %s: %w", o.Reference, placeorder.ErrUnavailable)
	}
	if s.ids[msgID] {
		return placeorder.Published{Duplicate: true}, nil
	}
	s.ids[msgID] = true
	s.msgs = append(s.msgs, o)
	return placeorder.Published{Sequence: uint64(len(s.msgs))}, nil
}

func (s *stream) Ready(context.Context) error { return nil }

func (s *stream) Claim(_ context.Context, id string, c placeorder.Claim) (placeorder.Claim, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if got, ok := s.claims[id]; ok {
		return got, false, nil
	}
	c.Revision = 1
	s.claims[id] = c
	return c, true, nil
}

func (s *stream) MarkPublished(_ context.Context, id string, c placeorder.Claim) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if got := s.claims[id]; got.Revision == c.Revision {
		c.Published, c.Revision = true, c.Revision+1
		s.claims[id] = c
	}
	return nil
}

func (s *stream) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.msgs) }

// keys gives a real key per date, or err for every date when set.
type keys struct {
	mu   sync.Mutex
	keys map[businessday.Date]*seal.DayKey
	err  error
}

func (k *keys) GetOrCreate(_ context.Context, day businessday.Date) (*seal.DayKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return nil, k.err
	}
	if k.keys == nil {
		k.keys = map[businessday.Date]*seal.DayKey{}
	}
	if key, ok := k.keys[day]; ok {
		return key, nil
	}
	key, err := seal.NewDayKey(day.String())
	if err != nil {
		return nil, err
	}
	k.keys[day] = key
	return key, nil
}

// observer records what the metrics would count.
type observer struct {
	mu        sync.Mutex
	published []bool // duplicate, per successful publish
	failed    int
	dayKey    []bool
}

func (o *observer) Published(_ time.Duration, duplicate bool, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.failed++
		return
	}
	o.published = append(o.published, duplicate)
}

func (o *observer) DayKeyUnavailable(on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dayKey = append(o.dayKey, on)
}

type fixture struct {
	svc  *placeorder.Service
	st   *stream
	keys *keys
	obs  *observer
	now  time.Time
	logs bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{st: newStream(), keys: &keys{}, obs: &observer{}, now: time.Date(2026, 11, 25, 14, 30, 0, 0, time.UTC)}
	svc, err := placeorder.New(placeorder.Config{
		Publisher: f.st, Claims: f.st, Keys: f.keys, Cutoff: businessday.DefaultCutoff,
		Secret: []byte("0123456789abcdef0123456789abcdef"), Clock: func() time.Time { return f.now },
		Observer: f.obs, Logger: zerolog.New(&f.logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

func validated(t *testing.T, name string) order.Validated {
	t.Helper()
	v, err := order.Draft{Area: "staffordshire", Formats: []string{"audio"}, Name: name,
		AddressLine1: "1 High Street", Town: "Stafford", Postcode: "ST18 0YY"}.Validate(catalogue.Default())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNewRefusesAShortSecretAndMissingPorts(t *testing.T) {
	if _, err := placeorder.New(placeorder.Config{}); err == nil {
		t.Error("New without ports succeeded")
	}
	st := newStream()
	_, err := placeorder.New(placeorder.Config{Publisher: st, Claims: st, Keys: &keys{}, Clock: time.Now, Secret: []byte("short")})
	if err == nil {
		t.Error("New with a 5-byte secret succeeded")
	}
}

// TestPlaceSealsUnderTheBusinessDaysKey: the stream gets the order with
// its personal part sealed under the key of its business date, and
// nothing of it in clear.
func TestPlaceSealsUnderTheBusinessDaysKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p, err := f.svc.Place(ctx, validated(t, "Siân O'Brien"), "")
	if err != nil || p.Reference == "" || p.Duplicate {
		t.Fatalf("Place = %+v, %v", p, err)
	}
	if f.st.count() != 1 {
		t.Fatalf("stream holds %d orders", f.st.count())
	}
	so := f.st.msgs[0]
	if so.Reference != p.Reference || so.BusinessDate.String() != "2026-11-25" {
		t.Errorf("stored %s of %s", so.Reference, so.BusinessDate)
	}
	key, _ := f.keys.GetOrCreate(ctx, so.BusinessDate)
	if got, err := so.Open(key); err != nil || got.Name != "Siân O'Brien" {
		t.Errorf("open = %+v, %v", got, err)
	}
	data, err := order.MarshalSealed(so)
	if err != nil || bytes.Contains(data, []byte("Siân")) {
		t.Errorf("the stored order holds the name in clear (%v)", err)
	}
	if len(f.obs.published) != 1 || f.obs.published[0] {
		t.Errorf("observed publishes %v", f.obs.published)
	}
	// After the cut-off the order is the next day's, under its key.
	f.now = f.now.Add(9 * time.Hour)
	if _, err := f.svc.Place(ctx, validated(t, "Ann Lee"), ""); err != nil {
		t.Fatal(err)
	}
	if d := f.st.msgs[1].BusinessDate.String(); d != "2026-11-26" {
		t.Errorf("an order at 23:30 is of %s", d)
	}
}

// TestPlaceKeyed: a key names one order. The same order again gets its
// reference and nothing new; another order under the key is refused; a
// claim never acknowledged is published again as the very same order on
// its day, and refused as stale after it.
func TestPlaceKeyed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v := validated(t, "Siân O'Brien")
	first, err := f.svc.Place(ctx, v, "key-1")
	testMust(t, err)
	again, err := f.svc.Place(ctx, v, "key-1")
	if err != nil || again.Reference != first.Reference || !again.Duplicate {
		t.Fatalf("retry = %+v, %v; want %s, a duplicate", again, err, first.Reference)
	}
	if f.st.count() != 1 {
		t.Fatalf("stream holds %d orders, want 1", f.st.count())
	}
	if _, err := f.svc.Place(ctx, validated(t, "Ann Lee"), "key-1"); !errors.Is(err, placeorder.ErrKeyReused) {
		t.Fatalf("another order under the key: %v", err)
	}
	if f.st.count() != 1 {
		t.Fatalf("stream holds %d orders after a refusal", f.st.count())
	}

	// A first attempt that failed: the claim is there, unpublished.
	f.st.down = true
	if _, err := f.svc.Place(ctx, v, "key-2"); !errors.Is(err, placeorder.ErrUnavailable) {
		t.Fatalf("with the stream down: %v", err)
	}
	f.st.down = false
	claim := f.st.claims[f.svc.KeyID("key-2")]
	retried, err := f.svc.Place(ctx, v, "key-2")
	if err != nil || retried.Reference != claim.Reference {
		t.Fatalf("retry of an unconfirmed order = %+v, %v; want %s", retried, err, claim.Reference)
	}
	if last := f.st.msgs[f.st.count()-1]; last.ID != claim.OrderID || !last.ReceivedAt.Equal(claim.ReceivedAt) {
		t.Errorf("published %s at %s, want the claimed order %s at %s", last.ID, last.ReceivedAt, claim.OrderID, claim.ReceivedAt)
	}

	f.st.down = true
	_, _ = f.svc.Place(ctx, v, "key-3")
	f.st.down = false
	f.now = f.now.Add(24 * time.Hour)
	n := f.st.count()
	if _, err := f.svc.Place(ctx, v, "key-3"); !errors.Is(err, placeorder.ErrKeyStale) {
		t.Fatalf("retry on a later day: %v", err)
	}
	if f.st.count() != n {
		t.Error("a stale key published an order")
	}
	if strings.Contains(f.logs.String(), "key-") {
		t.Error("an idempotency key was logged")
	}
}

// TestFingerprintAndKeyIDAreStable: records in the idempotency bucket
// outlive a deploy, so the hashes must not change with the code: these
// are the values the web adapter computed before the use case moved here.
func TestFingerprintAndKeyIDAreStable(t *testing.T) {
	f := newFixture(t)
	if got, want := f.svc.KeyID("client-key-1"), keyIDGolden; got != want {
		t.Errorf("KeyID = %s, want %s", got, want)
	}
	if got, want := f.svc.Fingerprint(validated(t, "Siân O'Brien")), fingerprintGolden; got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
	if f.svc.Fingerprint(validated(t, "Siân O'Brien")) == f.svc.Fingerprint(validated(t, "Ann Lee")) {
		t.Error("two orders share a fingerprint")
	}
}

// TestDayKeyFault: a day key that cannot be unwrapped refuses every order
// with ErrDayKeyFault (not "try again"), raises the alert once with the
// missing KEK's id in the log and not in the error, and clears when the
// key can be used again.
func TestDayKeyFault(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	day := businessday.DefaultCutoff.DateOf(f.now)
	f.keys.err = fmt.Errorf("unwrap day key %s: %w %s", day, seal.ErrUnknownKEK, "old-kek")
	for range 2 {
		if _, err := f.svc.Place(ctx, validated(t, "Siân O'Brien"), ""); !errors.Is(err, placeorder.ErrDayKeyFault) {
			t.Fatalf("Place = %v, want ErrDayKeyFault", err)
		}
	}
	err := f.svc.CheckDayKey(ctx)
	if !errors.Is(err, placeorder.ErrDayKeyFault) || strings.Contains(err.Error(), "old-kek") {
		t.Fatalf("CheckDayKey = %v: want the fault, naming no KEK", err)
	}
	logs := f.logs.String()
	if strings.Count(logs, `"alert":"day_key_unavailable"`) != 1 || !strings.Contains(logs, `"missing_kek_id":"old-kek"`) {
		t.Errorf("want one alert naming the KEK: %s", logs)
	}
	f.keys.err = nil
	testMust(t, f.svc.CheckDayKey(ctx))
	if got := f.obs.dayKey; len(got) == 0 || !got[0] || got[len(got)-1] {
		t.Errorf("gauge set to %v: want on, then off", got)
	}
	if !strings.Contains(f.logs.String(), "can be used again") {
		t.Error("the recovery was not logged")
	}
	if f.st.count() != 0 {
		t.Error("an order was published without its day key")
	}
}

// TestDayKeysUnavailable: without the day keys' database nothing is
// sealed: ErrKeysUnavailable (try again), and a warning for operators.
func TestDayKeysUnavailable(t *testing.T) {
	f := newFixture(t)
	f.keys.err = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	_, err := f.svc.Place(context.Background(), validated(t, "Siân O'Brien"), "k")
	if !errors.Is(err, placeorder.ErrKeysUnavailable) || errors.Is(err, placeorder.ErrDayKeyFault) {
		t.Fatalf("Place = %v", err)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "no day key") || strings.Contains(logs, "Siân") {
		t.Errorf("logs: %s", logs)
	}
	if f.st.count() != 0 {
		t.Error("an order was published without its day key")
	}
}

// TestRequestLogger: what happens while placing an order is logged to the
// request's log (its id) when RequestLog knows it, and to the service's
// own when it does not.
func TestRequestLogger(t *testing.T) {
	f := newFixture(t)
	var req bytes.Buffer
	type reqID struct{}
	svc, err := placeorder.New(placeorder.Config{
		Publisher: f.st, Claims: f.st, Keys: f.keys, Cutoff: businessday.DefaultCutoff,
		Secret: []byte("0123456789abcdef0123456789abcdef"), Clock: func() time.Time { return f.now },
		Logger: zerolog.New(&f.logs),
		RequestLog: func(ctx context.Context) *zerolog.Logger {
			id, ok := ctx.Value(reqID{}).(string)
			if !ok {
				return nil
			}
			l := zerolog.New(&req).With().Str("request_id", id).Logger()
			return &l
		},
	})
	testMust(t, err)
	f.keys.err = errors.New("database down")
	_, _ = svc.Place(context.WithValue(context.Background(), reqID{}, "r1"), validated(t, "Siân O'Brien"), "")
	if !strings.Contains(req.String(), `"request_id":"r1"`) || f.logs.Len() != 0 {
		t.Errorf("request log %q, service log %q", req.String(), f.logs.String())
	}
	req.Reset()
	_, _ = svc.Place(context.Background(), validated(t, "Siân O'Brien"), "")
	if req.Len() != 0 || !strings.Contains(f.logs.String(), "no day key") {
		t.Errorf("without a request: request log %q, service log %q", req.String(), f.logs.String())
	}
}

func testMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The goldens were computed apart from this code (HMAC-SHA256 by hand,
// from the formulas of the web adapter's idempotency.go before the move).
const (
	keyIDGolden       = "ka86e5aabda2297744dd68918d7883a6584dc12338ccb358c612ab2cced8bf9e9"
	fingerprintGolden = "85c2b63d508b507b821e499d47f57f0bee1c56d1189d60e6fd5e5beaed955045"
)

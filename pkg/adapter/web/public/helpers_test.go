package public

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/placeorder"
	"booklets/pkg/stage/research"
	"booklets/pkg/testkit/testenv"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// memKeys is a DayKeys in memory: a real key per date, for tests of the
// web adapter that do not need PostgreSQL (pkg/adapter/postgres is tested on its
// own). destroyed dates are refused as a destroyed key would be.
type memKeys struct {
	mu        sync.Mutex
	keys      map[businessday.Date]*seal.DayKey
	destroyed map[businessday.Date]bool
}

func newMemKeys() *memKeys {
	return &memKeys{keys: map[businessday.Date]*seal.DayKey{}, destroyed: map[businessday.Date]bool{}}
}

func (m *memKeys) GetOrCreate(_ context.Context, day businessday.Date) (*seal.DayKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.destroyed[day] {
		return nil, fmt.Errorf("day key %s: %w", day, seal.ErrKeyDestroyed)
	}
	if k, ok := m.keys[day]; ok {
		return k, nil
	}
	k, err := seal.NewDayKey(day.String())
	if err != nil {
		return nil, err
	}
	m.keys[day] = k
	return k, nil
}

func (m *memKeys) destroy(day businessday.Date) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, day)
	m.destroyed[day] = true
}

type fixture struct {
	srv    *Server
	place  *placeorder.Service
	keys   *memKeys
	orders *jetstream.Orders
	clock  *clock
	logs   *testenv.Buffer
}

// testConfig is the web adapter's configuration and what a test may change
// of the use cases beneath it: their ports. Clock, Secret, Logger and
// Metrics are the place-order use case's too.
type testConfig struct {
	Config
	Stream     *jetstream.Orders // the use case's Publisher and Claims
	Keys       placeorder.DayKeys
	Volunteers research.Store // nil: no research pages
}

// newFixture gives a test a server over its own real JetStream stream.
func newFixture(t testing.TB, change func(*testConfig)) *fixture {
	t.Helper()
	f := &fixture{
		orders: idempotentOrders(t),
		keys:   newMemKeys(),
		clock:  &clock{t: time.Date(2026, 11, 25, 14, 30, 0, 0, time.UTC)},
		logs:   &testenv.Buffer{},
	}
	cfg := testConfig{
		Config: Config{
			Catalogue:     catalogue.Default(),
			Secret:        testSecret,
			Clock:         f.clock.now,
			Logger:        zerolog.New(f.logs).Level(zerolog.DebugLevel),
			RatePerMinute: 6000,
			Burst:         1000,
		},
		Stream: f.orders,
		Keys:   f.keys,
	}
	if change != nil {
		change(&cfg)
	}
	// As services/intake wires them, on the same clock, secret and log.
	place, err := placeorder.New(placeorder.Config{
		Publisher: cfg.Stream, Claims: cfg.Stream, Keys: cfg.Keys, Cutoff: businessday.DefaultCutoff,
		Secret: cfg.Secret, Clock: cfg.Clock, Observer: cfg.Metrics, Logger: cfg.Logger, RequestLog: RequestLog(cfg.Logger),
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Orders = place
	if cfg.Volunteers != nil {
		cfg.Research = research.NewService(cfg.Volunteers)
	}
	srv, err := New(cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.place = srv, place
	return f
}

// idempotentOrders is the test's own stream with its idempotency bucket,
// which is deleted when the test ends (testenv deletes the stream only).
func idempotentOrders(t testing.TB) *jetstream.Orders {
	t.Helper()
	o := testenv.Orders(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	testenv.Must(t, o.EnsureIdempotency(ctx))
	js := testenv.JetStream(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteKeyValue(ctx, jetstream.IdempotencyBucket(o.Config()))
	})
	return o
}

func (f *fixture) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	return w
}

func (f *fixture) postJSON(body, key string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/api/v1/orders", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	return f.do(r)
}

func (f *fixture) postForm(path string, form url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// What a browser sends for a same-origin form post.
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.Header.Set("Origin", "http://example.com")
	return f.do(r)
}

// messages reads back every order in the test's stream.
func (f *fixture) messages(t *testing.T) []order.Order {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := testenv.JetStream(t).Stream(ctx, f.orders.Config().Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []order.Order
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		so, err := order.UnmarshalSealed(m.Data)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		key, err := f.keys.GetOrCreate(ctx, so.BusinessDate)
		if err != nil {
			t.Fatal(err)
		}
		p, err := so.Open(key)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		out = append(out, order.Order{ID: so.ID, Reference: so.Reference, ReceivedAt: so.ReceivedAt,
			Area: so.Area, Formats: so.Formats, Languages: so.Languages, Personal: p})
	}
	return out
}

const goodJSON = `{"area":"staffordshire","formats":["audio","standard-print"],"name":"Siân O'Brien",
	"address_line_1":"1 High Street","address_line_2":"","town":"Stafford","postcode":"st180yy"}`

func jsonUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

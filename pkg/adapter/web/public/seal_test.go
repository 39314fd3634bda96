package public

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/seal"
	"booklets/pkg/testkit/testenv"
)

// TestStreamHoldsOnlyCiphertext: what the intake publishes carries the
// facts in clear and the personal part sealed under the business date's
// key; nothing of the name, address or postcode is readable in the stream.
func TestStreamHoldsOnlyCiphertext(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	if w := f.postJSON(goodJSON, ""); w.Code != http.StatusCreated {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := testenv.JetStream(t).Stream(ctx, f.orders.Config().Stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(m.Data)
	for _, pii := range []string{"Siân", "O'Brien", "High Street", "Stafford", "ST18", "st180yy"} {
		if strings.Contains(raw, pii) {
			t.Errorf("stream message holds %q in clear: %s", pii, raw)
		}
	}
	for _, want := range []string{`"version":2`, `"business_date":"2026-11-25"`, `"area":"staffordshire"`, `"alg":"AES-256-GCM"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("stream message lacks %s: %s", want, raw)
		}
	}
	// The cut-off decides the key: at 23:30 the order belongs to the next day.
	f.clock.add(9 * time.Hour)
	if w := f.postJSON(goodJSON, ""); w.Code != http.StatusCreated {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	if msgs := f.messages(t); len(msgs) != 2 || businessday.DefaultCutoff.DateOf(msgs[1].ReceivedAt).String() != "2026-11-26" {
		t.Fatalf("second order: %+v", msgs)
	}
}

// TestDestroyedDayKey: an order of a day whose key is destroyed (its batch
// was already sent) is refused with 503 and nothing is published.
func TestDestroyedDayKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.keys.destroy(businessday.DefaultCutoff.DateOf(f.clock.now()))
	w := f.postJSON(goodJSON, "key")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	if n := len(f.messages(t)); n != 0 {
		t.Fatalf("stream holds %d messages", n)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "no day key") || strings.Contains(logs, "Siân") {
		t.Errorf("logs: %s", logs)
	}
}

// downKeys is the day keys' database being unreachable.
type downKeys struct{}

func (downKeys) GetOrCreate(context.Context, businessday.Date) (*seal.DayKey, error) {
	return nil, errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
}

// TestKeysDatabaseDown: without the day keys nothing can be sealed, so the
// order is refused with 503 (Retry-After) and nothing is published.
func TestKeysDatabaseDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *testConfig) { c.Keys = downKeys{} })
	w := f.postJSON(goodJSON, "key")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	if n := len(f.messages(t)); n != 0 {
		t.Fatalf("stream holds %d messages", n)
	}
}

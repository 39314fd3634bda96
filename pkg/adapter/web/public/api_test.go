package public

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/testkit/testenv"
)

func TestAPIPublishesOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	w := f.postJSON(goodJSON, "")
	if w.Code != http.StatusCreated {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	var got struct{ Reference, Status string }
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if _, err := reference.Parse(got.Reference); err != nil || got.Status != "received" {
		t.Fatalf("response = %+v", got)
	}
	msgs := f.messages(t)
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	o := msgs[0]
	want := order.Personal{Name: "Siân O'Brien", AddressLine1: "1 High Street", Town: "Stafford", Postcode: "ST18 0YY"}
	if o.Reference.String() != got.Reference || o.Area != "staffordshire" || o.Personal != want ||
		len(o.Formats) != 2 || o.Formats[0] != order.StandardPrint || o.Formats[1] != order.Audio ||
		!o.ReceivedAt.Equal(f.clock.now()) || o.ID == "" {
		t.Fatalf("stored order = %+v", o)
	}
}

func TestAPIValidationListsEveryField(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	w := f.postJSON(`{"area":"SECRET-AREA","formats":["SECRET-FORMAT"],"name":"SECRET\u0000NAME",
		"address_line_1":"","town":"","postcode":"SECRET-POSTCODE"}`, "")
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var p struct {
		Type, Title, Detail string
		Status              int
		Errors              []order.FieldError
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, e := range p.Errors {
		fields[e.Field] = e.Message != ""
	}
	for _, want := range []string{"area", "formats", "name", "address_line_1", "town", "postcode"} {
		if !fields[want] {
			t.Errorf("no error for %s in %s", want, w.Body)
		}
	}
	if p.Status != 422 || p.Type == "" || p.Title == "" {
		t.Errorf("problem = %+v", p)
	}
	if strings.Contains(w.Body.String(), "SECRET") {
		t.Errorf("problem echoes the input: %s", w.Body)
	}
	if n := len(f.messages(t)); n != 0 {
		t.Errorf("stream holds %d messages after a rejected order", n)
	}
}

func TestAPIRejectsUnreadableRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tests := []struct {
		name, contentType, body, key string
		status                       int
	}{
		{"malformed JSON", "application/json", `{"area": "SECRET`, "", 400},
		{"unknown field", "application/json", `{"area":"staffordshire","SECRETFIELD":1}`, "", 400},
		{"wrong type", "application/json", `{"formats":"SECRET"}`, "", 400},
		{"two objects", "application/json", goodJSON + `{}`, "", 400},
		{"not an object", "application/json", `["SECRET"]`, "", 400},
		{"empty body", "application/json", ``, "", 400},
		{"too large", "application/json", `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, "", 413},
		{"text/plain", "text/plain", goodJSON, "", 415},
		{"form encoded", "application/x-www-form-urlencoded", "area=x", "", 415},
		{"no content type", "", goodJSON, "", 415},
		{"charset is fine", "application/json; charset=utf-8", goodJSON, "", 201},
		{"charset in capitals is fine", "application/json; charset=UTF-8", goodJSON, "", 201},
		{"charset latin-1", "application/json; charset=iso-8859-1", goodJSON, "", 415},
		{"charset utf-16", "application/json; charset=utf-16", goodJSON, "", 415},
		{"field twice", "application/json", `{"name":"SECRET",` + goodJSON[1:], "", 400},
		{"field twice in other cases", "application/json", `{"NAME":"SECRET",` + goodJSON[1:], "", 400},
		{"field in capitals", "application/json", strings.Replace(goodJSON, `"name"`, `"Name"`, 1), "", 400},
		{"field with a long s", "application/json", strings.Replace(goodJSON, `"address_line_1"`, `"addre\u017f\u017f_line_1"`, 1), "", 400},
		{"bad idempotency key", "application/json", goodJSON, "SECRET KEY with spaces", 400},
		{"long idempotency key", "application/json", goodJSON, strings.Repeat("k", 256), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest("POST", "/api/v1/orders", tt.body)
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			if tt.key != "" {
				r.Header.Set("Idempotency-Key", tt.key)
			}
			w := f.do(r)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if tt.status >= 400 {
				if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type = %q", ct)
				}
				if strings.Contains(w.Body.String(), "SECRET") {
					t.Errorf("problem echoes the input: %s", w.Body)
				}
			}
		})
	}
}

func TestAPIIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	refOf := func(key string) string {
		w := f.postJSON(goodJSON, key)
		if w.Code != http.StatusCreated {
			t.Fatalf("status = %d, body %s", w.Code, w.Body)
		}
		var got struct{ Reference string }
		json.Unmarshal(w.Body.Bytes(), &got)
		return got.Reference
	}
	first, again := refOf("client-key-1"), refOf("client-key-1")
	if first != again {
		t.Fatalf("same key gave references %s and %s", first, again)
	}
	if n := len(f.messages(t)); n != 1 {
		t.Fatalf("stream holds %d messages after a retry, want 1", n)
	}
	if other := refOf("client-key-2"); other == first {
		t.Fatal("another key gave the same reference")
	}
	if n := len(f.messages(t)); n != 2 {
		t.Fatalf("stream holds %d messages, want 2", n)
	}
	// The raw key is never the message id: it may be something a client
	// considers private.
	if strings.Contains(f.logs.String(), "client-key") {
		t.Error("the idempotency key was logged")
	}
}

// TestNATSDown: with JetStream unreachable the API answers 503 with
// Retry-After, the form offers to try again, /readyz fails, and nothing is
// stored.
func TestNATSDown(t *testing.T) {
	t.Parallel()
	live := testenv.Orders(t) // the stream exists, to show it stays empty
	nc, err := jetstream.Connect(testenv.NATSURL(), "down")
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	down, err := jetstream.New(nc, live.Config())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *testConfig) { c.Stream = down })
	f.orders = live

	w := f.postJSON(goodJSON, "key")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("status = %d, Retry-After %q, body %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q", ct)
	}

	v, _ := journeyToCheck(t, f)
	key := v.state().Key
	w = v.post("/order/check", nil)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "Try again") ||
		!strings.Contains(w.Body.String(), `action="/order/check"`) {
		t.Fatalf("form submit: status = %d, body %s", w.Code, w.Body)
	}
	if st := v.state(); st.Key != key || st.Draft.Name == "" {
		t.Error("the retry button would not re-send the same answers and key")
	}

	if w := f.do(newRequest("GET", "/readyz", "")); w.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while NATS is down", w.Code)
	}
	if n := len(f.messages(t)); n != 0 {
		t.Errorf("stream holds %d messages", n)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		if w := f.do(newRequest("GET", path, "")); w.Code != http.StatusOK {
			t.Errorf("%s = %d", path, w.Code)
		}
	}
	// A stream that does not exist (not yet ensured) is not ready.
	nc, err := jetstream.Connect(testenv.NATSURL(), "noready")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	missing, _ := jetstream.New(nc, testenv.Stream(t))
	g := newFixture(t, func(c *testConfig) { c.Stream = missing })
	if w := g.do(newRequest("GET", "/readyz", "")); w.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz without the stream = %d", w.Code)
	}
	if w := g.do(newRequest("GET", "/healthz", "")); w.Code != http.StatusOK {
		t.Errorf("/healthz without the stream = %d", w.Code)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *testConfig) { c.RatePerMinute, c.Burst = 1, 2 })
	get := func(path, ip string) int {
		r := newRequest("GET", path, "")
		r.RemoteAddr = ip + ":1234"
		w := f.do(r)
		if w.Code == http.StatusTooManyRequests {
			ra, err := time.ParseDuration(w.Header().Get("Retry-After") + "s")
			if err != nil || ra <= 0 {
				t.Errorf("Retry-After = %q", w.Header().Get("Retry-After"))
			}
		}
		return w.Code
	}
	for i := 0; i < 2; i++ {
		if c := get("/", "192.0.2.1"); c != 200 {
			t.Fatalf("request %d = %d", i, c)
		}
	}
	if c := get("/", "192.0.2.1"); c != http.StatusTooManyRequests {
		t.Fatalf("third request = %d, want 429", c)
	}
	if c := get("/", "192.0.2.2"); c != 200 {
		t.Errorf("another client = %d", c)
	}
	if c := get("/assets/govuk-frontend.min.css", "192.0.2.1"); c != 200 {
		t.Errorf("assets are rate limited: %d", c)
	}
	if c := get("/healthz", "192.0.2.1"); c != 200 {
		t.Errorf("health checks are rate limited: %d", c)
	}
	// The API answers in problem+json.
	r := newRequest("POST", "/api/v1/orders", goodJSON)
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = "192.0.2.1:1234"
	if w := f.do(r); w.Code != 429 || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("API over the limit = %d %s", w.Code, w.Header().Get("Content-Type"))
	}
}

func TestRateLimitTrustsConfiguredProxyHeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *testConfig) { c.RatePerMinute, c.Burst, c.ClientIPHeader = 1, 1, "X-Forwarded-For" })
	get := func(client string) int {
		r := newRequest("GET", "/", "")
		r.RemoteAddr = "10.0.0.1:1234" // the proxy
		r.Header.Set("X-Forwarded-For", "203.0.113.9, "+client)
		return f.do(r).Code
	}
	if get("192.0.2.1") != 200 || get("192.0.2.2") != 200 {
		t.Fatal("clients behind the proxy share one limit")
	}
	if get("192.0.2.1") != 429 {
		t.Fatal("client over its limit was not limited")
	}
}

// TestAPIRefusesInvisibleAndUnassigned: Hangul fillers, noncharacters and
// unassigned code points are refused with a 422 naming each field.
func TestAPIRefusesInvisibleAndUnassigned(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	w := f.postJSON(`{"area":"staffordshire","formats":["audio"],"name":"\u3164\u3164\u3164",
		"address_line_1":"1 High St\ufffe","address_line_2":"\u0378","town":"\u2800","postcode":"ST18 0YY"}`, "")
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	var p struct{ Errors []order.FieldError }
	jsonUnmarshal(t, w.Body.Bytes(), &p)
	got := map[string]bool{}
	for _, e := range p.Errors {
		got[e.Field] = true
	}
	for _, want := range []string{"name", "address_line_1", "address_line_2", "town"} {
		if !got[want] {
			t.Errorf("no error for %s: %s", want, w.Body)
		}
	}
	if n := len(f.messages(t)); n != 0 {
		t.Errorf("stream holds %d messages", n)
	}
}

func TestCheckFieldNames(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]bool{ // true: refused
		goodJSON:                              false,
		`{"name":"a","name":"b"}`:             true,
		`{"name":"a","NAME":"b"}`:             true,
		`{"Name":"a"}`:                        true,
		`{"na\u006de":"a","name":"b"}`:        true, // an escaped name is the same name
		`{"x":"\"name\",\"name\"","name":1}`:  false,
		`{"a":{"b":1,"b":2}}`:                 true,
		`{"a":{"b":1},"b":{"b":2}}`:           false,
		`{"a":[{"b":1},{"b":1}],"c":[1,"a"]}`: false,
		`{"name":"a\\","name":"b"}`:           true,
		`{"name":`:                            false, // not JSON: the decoder reports it
		`[]`:                                  false,
	} {
		if got := checkFieldNames([]byte(body)) != nil; got != want {
			t.Errorf("%s: refused %v, want %v", body, got, want)
		}
	}
}

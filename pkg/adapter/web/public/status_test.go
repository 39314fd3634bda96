package public

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/trackorder"
	"booklets/pkg/testkit/batcherday"
	"booklets/pkg/testkit/testenv"
)

// trackFixture is the web adapter with the tracking use case over a real
// stored day (pkg/testkit/batcherday: PostgreSQL, day keys, SFTP, a clock
// the test sets), and two orders received at 10:00 on 25 November 2026,
// before that day's cut-off (23:00).
type trackFixture struct {
	*fixture
	day        *batcherday.Env
	ref, other string
}

func newTrackFixture(t *testing.T, change func(*testConfig)) *trackFixture {
	t.Helper()
	day := batcherday.New(t)
	day.SetNow(batcherday.At("2026-11-25 12:00:00"))
	svc, err := trackorder.New(trackorder.Config{Store: day.Store, Keys: day.Keys, Cutoff: businessday.DefaultCutoff, Clock: day.Now})
	testenv.Must(t, err)
	f := &trackFixture{day: day}
	f.fixture = newFixture(t, func(c *testConfig) {
		c.Tracker = svc
		c.StatusRatePerMinute, c.StatusBurst = 6000, 1000
		if change != nil {
			change(c)
		}
	})
	save := func(name string) string {
		o := batcherday.NewOrder(batcherday.At("2026-11-25 10:00:00"), batcherday.Person(name), order.Braille)
		_, err := day.Store.SaveOrder(context.Background(), day.Seal(o))
		testenv.Must(t, err)
		return o.Reference.String()
	}
	f.ref, f.other = save("Track Person"), save("Other Person")
	return f
}

func (f *trackFixture) get(path string) (int, string, http.Header) {
	w := f.do(httpRequest("GET", path, ""))
	return w.Code, w.Body.String(), w.Header()
}

func (f *trackFixture) cancelAPI(ref, body string) (int, string) {
	r := httpRequest("POST", "/api/v1/orders/"+url.PathEscape(ref)+"/cancel", body)
	r.Header.Set("Content-Type", "application/json")
	w := f.do(r)
	return w.Code, w.Body.String()
}

func httpRequest(method, path, body string) *http.Request {
	r, err := http.NewRequest(method, "http://example.com"+path, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	r.RemoteAddr = "192.0.2.1:1234"
	return r
}

// mistype changes the reference's first character, which its check
// character catches.
func mistype(ref string) string {
	i := strings.IndexByte(reference.Alphabet, ref[0])
	return string(reference.Alphabet[(i+1)%len(reference.Alphabet)]) + ref[1:]
}

// The API: a status with only the dates that apply, the errors as
// problems, a cancel with the postcode (204, twice), the same 404 for an
// unknown reference and a wrong postcode, 409 after the cut-off, and the
// postcode in no log line.
func TestStatusAPI(t *testing.T) {
	t.Parallel()
	f := newTrackFixture(t, nil)

	code, body, h := f.get("/api/v1/orders/" + strings.ToLower(f.ref))
	var got map[string]any
	jsonUnmarshal(t, []byte(body), &got)
	want := map[string]any{"reference": f.ref, "status": "received", "received_on": "2026-11-25", "cancellable_until": "2026-11-25T23:00:00Z"}
	if code != 200 || h.Get("Content-Type") != "application/json" || len(got) != len(want) {
		t.Fatalf("status: %d %s %s", code, h.Get("Content-Type"), body)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for path, want := range map[string]string{
		"/api/v1/orders/" + mistype(f.ref):           "400 urn:booklets:problem:invalid-reference check character",
		"/api/v1/orders/ABC":                         "400 urn:booklets:problem:invalid-reference 11 characters",
		"/api/v1/orders/" + reference.New().String(): "404 urn:booklets:problem:order-not-found",
	} {
		code, body, h := f.get(path)
		var p problem
		jsonUnmarshal(t, []byte(body), &p)
		parts := strings.SplitN(want, " ", 3)
		if code != p.Status || parts[0] != strconv.Itoa(code) || p.Type != parts[1] ||
			h.Get("Content-Type") != "application/problem+json" || (len(parts) == 3 && !strings.Contains(p.Detail, parts[2])) {
			t.Errorf("%s: %d %s, want %s", path, code, body, want)
		}
	}

	// In Welsh when the client prefers it: the words only.
	r := httpRequest("GET", "/api/v1/orders/"+reference.New().String(), "")
	r.Header.Set("Accept-Language", "cy")
	if w := f.do(r); w.Code != 404 || w.Header().Get("Content-Language") != "cy" || !strings.Contains(w.Body.String(), "Dim archeb") ||
		!strings.Contains(w.Body.String(), "urn:booklets:problem:order-not-found") {
		t.Errorf("Welsh 404: %d %s", w.Code, w.Body)
	}

	// Cancel: an unknown reference and a wrong postcode get the same
	// answer, byte for byte.
	unknownCode, unknown := f.cancelAPI(reference.New().String(), `{"postcode":"CT1 1AA"}`)
	wrongCode, wrong := f.cancelAPI(f.ref, `{"postcode":"CT1 9ZZ"}`)
	if unknownCode != 404 || wrongCode != 404 || unknown != wrong || !strings.Contains(wrong, "order-not-found") {
		t.Errorf("unknown reference %d %s; wrong postcode %d %s", unknownCode, unknown, wrongCode, wrong)
	}
	for body, want := range map[string]int{`{}`: 422, `{"postcode":""}`: 422, `{"postcode":"nonsense"}`: 422,
		`{"postcode":"CT1 1AA","name":"x"}`: 400, `{"postcode":1}`: 400, `[`: 400, `{"postcode":"CT1 1AA"} {}`: 400} {
		if code, b := f.cancelAPI(f.ref, body); code != want {
			t.Errorf("cancel with %s: %d %s, want %d", body, code, b, want)
		}
	}
	r = httpRequest("POST", "/api/v1/orders/"+f.ref+"/cancel", `{"postcode":"CT1 1AA"}`)
	r.Header.Set("Content-Type", "text/plain")
	if w := f.do(r); w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("cancel as text/plain: %d", w.Code)
	}
	if code, b := f.cancelAPI(f.ref, `{"postcode":"ct11aa"}`); code != 204 || b != "" {
		t.Fatalf("cancel: %d %s", code, b)
	}
	if code, b := f.cancelAPI(f.ref, `{"postcode":"CT1 1AA"}`); code != 204 {
		t.Errorf("cancel again: %d %s", code, b)
	}
	_, body, _ = f.get("/api/v1/orders/" + f.ref)
	got = nil
	jsonUnmarshal(t, []byte(body), &got)
	if got["status"] != "cancelled" || got["cancelled_on"] != "2026-11-25" || got["personal_data_deleted_on"] != "2026-11-25" || got["cancellable_until"] != nil {
		t.Errorf("cancelled: %s", body)
	}

	// After the cut-off: 409.
	f.day.SetNow(batcherday.At("2026-11-25 23:01:00"))
	if code, b := f.cancelAPI(f.other, `{"postcode":"CT1 1AA"}`); code != 409 || !strings.Contains(b, "urn:booklets:problem:too-late") {
		t.Errorf("cancel after the cut-off: %d %s", code, b)
	}
	if logs := f.logs.String(); strings.Contains(logs, "CT1") || strings.Contains(strings.ToLower(logs), "ct11aa") || strings.Contains(logs, "Person") {
		t.Errorf("personal data in the log:\n%s", logs)
	}
	if !strings.Contains(f.logs.String(), `"route":"POST /api/v1/orders/{reference}/cancel"`) {
		t.Errorf("the request log has no route pattern:\n%s", f.logs.String())
	}
}

// The pages: the form and its errors in the error summary, the status, the
// cancel form, the same answer for an unknown reference and a wrong
// postcode, every cancel answered 303 to a GET page, and after the
// cut-off the page saying the order has gone to the printer.
func TestStatusPages(t *testing.T) {
	t.Parallel()
	f := newTrackFixture(t, nil)
	for path, want := range map[string]string{
		"/status":            "200 Check or cancel your order",
		"/status?reference=": "400 Enter your order reference",
		"/status?reference=" + url.QueryEscape(mistype(f.ref)): "400 Check the reference: one of the characters looks wrong",
		"/status?reference=K0QM":                               "400 like K7QM-X9PA-C4T",
		"/status?reference=" + reference.New().String():        "404 We cannot find an order with that reference",
		"/status?reference=" + url.QueryEscape(f.ref):          "200 We have your order. It goes to our printer after 11pm on Wednesday 25 November 2026",
		"/status/cancel?reference=" + f.ref:                    "200 Yes, cancel my order",
	} {
		code, body, _ := f.get(path)
		if parts := strings.SplitN(want, " ", 2); strconv.Itoa(code) != parts[0] || !strings.Contains(body, parts[1]) {
			t.Errorf("%s: %d, want %s\n%s", path, code, want, body)
		}
		if code >= 400 && !strings.Contains(body, "govuk-error-summary") {
			t.Errorf("%s: no error summary", path)
		}
	}
	_, body, _ := f.get("/status?reference=" + f.ref)
	for _, s := range []string{`href="/status/cancel?reference=` + f.ref + `"`, "25 November 2026", `govuk-summary-list`} {
		if !strings.Contains(body, s) {
			t.Errorf("status page lacks %s", s)
		}
	}
	for _, s := range []string{"Braille", "braille", "Track Person", "CT1", "kent", "Kent"} {
		if strings.Contains(body, s) {
			t.Errorf("status page shows %q", s)
		}
	}

	post := func(ref, pc string) (int, string, string) {
		w := f.postForm("/status/cancel", url.Values{"reference": {ref}, "postcode": {pc}})
		return w.Code, w.Body.String(), w.Header().Get("Location")
	}
	// Every post is answered 303 to a GET page; a failed one to the form
	// with the error's name, never the postcode. An unknown reference and
	// a wrong postcode read the same.
	unknownRef := reference.New().String()
	code1, _, loc1 := post(unknownRef, "CT1 1AA")
	code2, _, loc2 := post(f.ref, "CT1 9ZZ")
	if code1 != http.StatusSeeOther || code2 != http.StatusSeeOther || loc1 != "/status/cancel?reference="+unknownRef+"&error=no-match" ||
		loc2 != "/status/cancel?reference="+f.ref+"&error=no-match" {
		t.Errorf("unknown reference %d to %s, wrong postcode %d to %s", code1, loc1, code2, loc2)
	}
	_, page1, _ := f.get(loc1)
	_, page2, _ := f.get(loc2)
	const noMatch = "We could not find an order with that reference and postcode"
	if !strings.Contains(page1, noMatch) || strings.ReplaceAll(page1, unknownRef, f.ref) != page2 {
		t.Errorf("unknown reference and wrong postcode differ:\n%s\n%s", page1, page2)
	}
	for pc, want := range map[string]string{"": "Enter the postcode you gave when you ordered", "nonsense": "Enter a real postcode"} {
		_, _, loc := post(f.ref, pc)
		if code, page, _ := f.get(loc); code != 200 || !strings.Contains(page, want) || !strings.Contains(page, `href="#postcode"`) {
			t.Errorf("postcode %q: %s: %d", pc, loc, code)
		}
	}
	if _, _, loc := post(mistype(f.ref), "CT1 1AA"); loc != "/status?reference="+mistype(f.ref) {
		t.Errorf("a mistyped reference posted: to %s", loc)
	}
	code, _, loc := post(strings.ToLower(f.ref), "ct1 1aa")
	if code != http.StatusSeeOther || loc != "/status/cancelled?reference="+f.ref {
		t.Fatalf("cancel: %d to %q", code, loc)
	}
	if code, body, _ := f.get(loc); code != 200 || !strings.Contains(body, "Order cancelled") || !strings.Contains(body, `href="/"`) {
		t.Errorf("cancelled page: %d\n%s", code, body)
	}
	if code, body, _ := f.get("/status?reference=" + f.ref); code != 200 || !strings.Contains(body, "This order was cancelled") ||
		!strings.Contains(body, "Order a booklet again") || strings.Contains(body, "/status/cancel?") {
		t.Errorf("status of the cancelled order: %d\n%s", code, body)
	}
	// The cancel page of a cancelled order, and the failed post's form
	// come back to with Back: its status instead.
	for _, path := range []string{"/status/cancel?reference=" + f.ref, loc2} {
		if code, body, _ := f.get(path); code != 200 || !strings.Contains(body, "This order was cancelled") || strings.Contains(body, `name="postcode"`) {
			t.Errorf("%s once cancelled: %d\n%s", path, code, body)
		}
	}
	// The cancelled page of an order that is not cancelled is its status.
	if code, _, h := f.get("/status/cancelled?reference=" + f.other); code != http.StatusSeeOther || h.Get("Location") != "/status?reference="+f.other {
		t.Errorf("cancelled page of a live order: %d", code)
	}

	f.day.SetNow(batcherday.At("2026-11-25 23:01:00"))
	if code, body, _ := f.get("/status/cancel?reference=" + f.other); code != 200 || !strings.Contains(body, "Your order has gone to the printer") ||
		strings.Contains(body, `name="postcode"`) {
		t.Errorf("cancel page after the cut-off: %d\n%s", code, body)
	}
	if code, _, loc := post(f.other, "CT1 1AA"); code != http.StatusSeeOther || loc != "/status/cancel?reference="+f.other {
		t.Errorf("cancel after the cut-off: %d to %s", code, loc)
	}
	if code, body, _ := f.get("/status?reference=" + f.other); code != 200 || !strings.Contains(body, "Being sent to the printer") {
		t.Errorf("status after the cut-off: %d\n%s", code, body)
	}
	// In Welsh: the pages, their links and the cancel's redirects stay
	// under /cy, every text from the catalogues.
	w := f.postForm("/cy/status/cancel", url.Values{"reference": {f.ref}, "postcode": {""}})
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/cy/status/cancel?") {
		t.Errorf("Welsh cancel: %d to %s", w.Code, loc)
	}
	for _, p := range []string{"/cy/status", "/cy/status?reference=" + f.ref, "/cy/status?reference=" + f.other,
		"/cy/status/cancel?reference=" + f.other, "/cy/status/cancel?reference=" + f.ref, "/cy/status/cancelled?reference=" + f.ref,
		"/cy/status/cancel?reference=" + reference.New().String() + "&error=no-match", "/cy/status?reference=" + mistype(f.ref)} {
		_, body, _ := f.get(p)
		if !strings.Contains(body, `<html lang="cy"`) {
			t.Errorf("%s is not in Welsh", p)
		}
		for _, m := range regexp.MustCompile(`(?:href|action)="(/[^"]*)"`).FindAllStringSubmatch(body, -1) {
			toggle := html.EscapeString(strings.TrimPrefix(p, "/cy")) // the language toggle, query and all
			if u := m[1]; !strings.HasPrefix(u, "/cy") && !strings.HasPrefix(u, "/assets/") && u != toggle {
				t.Errorf("%s links to %s, out of Welsh", p, u)
			}
		}
	}
	if _, body, _ := f.get("/cy/status?reference=" + f.ref); !strings.Contains(body, "Wedi’i chanslo") || !strings.Contains(body, "Tachwedd 2026") {
		t.Errorf("the Welsh status page:\n%s", body)
	}
	var missing []string
	f.srv.catalogues.missing.Range(func(k, _ any) bool { missing = append(missing, k.(string)); return true })
	if len(missing) > 0 {
		t.Errorf("texts missing from the catalogues: %v", missing)
	}

	logs := f.logs.String()
	if strings.Contains(logs, "reference=") || strings.Contains(logs, "CT1") || strings.Contains(logs, "ct1") {
		t.Errorf("the query or the postcode in the log:\n%s", logs)
	}
	if !strings.Contains(logs, `"route":"GET /status"`) {
		t.Errorf("no route pattern in the log:\n%s", logs)
	}
}

// Lookups and cancels have a stricter limit of their own, per client, on
// the pages and the API; the form alone and the other pages are not held
// by it.
func TestStatusRateLimit(t *testing.T) {
	t.Parallel()
	f := newTrackFixture(t, func(c *testConfig) { c.StatusRatePerMinute, c.StatusBurst = 1, 2 })
	for i := 0; i < 2; i++ {
		if code, _, _ := f.get("/api/v1/orders/" + f.ref); code != 200 {
			t.Fatalf("lookup %d: %d", i, code)
		}
	}
	code, body, h := f.get("/api/v1/orders/" + f.ref)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(body, "urn:booklets:problem:rate-limited") {
		t.Errorf("third lookup: %d %s", code, body)
	}
	if code, body, _ := f.get("/status?reference=" + f.ref); code != http.StatusTooManyRequests || !strings.Contains(body, "Too many requests") {
		t.Errorf("page lookup over the limit: %d", code)
	}
	if code, _ := f.cancelAPI(f.ref, `{"postcode":"CT1 9ZZ"}`); code != http.StatusTooManyRequests {
		t.Errorf("cancel over the limit: %d", code)
	}
	for _, path := range []string{"/status", "/"} {
		if code, _, _ := f.get(path); code != 200 {
			t.Errorf("%s over the lookup limit: %d", path, code)
		}
	}
	// Another client has its own allowance.
	r := httpRequest("GET", "/api/v1/orders/"+f.ref, "")
	r.RemoteAddr = "192.0.2.2:1234"
	if w := f.do(r); w.Code != 200 {
		t.Errorf("another client: %d", w.Code)
	}
}

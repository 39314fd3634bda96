package public

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"booklets/pkg/domain/order"
)

func newRequest(method, path, body string) *http.Request {
	return httptest.NewRequest(method, path, strings.NewReader(body))
}

func formOf(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

var goodAddress = []string{
	"name", "Zoë-Jane Nguyễn", "address_line_1", "Flat 2, 10 Downing Street", "address_line_2", "",
	"town", "Llandrindod Wells", "postcode", "ld15 5lg",
}

// journeyToCheck answers the three questions as a new visitor and returns
// the visitor and "Check your answers".
func journeyToCheck(t *testing.T, f *fixture) (*visitor, *httptest.ResponseRecorder) {
	t.Helper()
	v := f.visitor(t)
	if _, path := v.submit("/order/postcode", formOf("postcode", "ld15 5lg")); path != "/order/booklet" {
		t.Fatalf("after the postcode: %s", path)
	}
	w, path := v.submit("/order/booklet", formOf("area", "dyfed-powys", "formats", "braille", "formats", "large-print"))
	if path != "/order/language" {
		t.Fatalf("after the booklet: %s %s", path, w.Body)
	}
	w, path = v.submit("/order/language", formOf("language", "cy"))
	if path != "/order/address" {
		t.Fatalf("after the language: %s %s", path, w.Body)
	}
	w, path = v.submit("/order/address", formOf(goodAddress...))
	if path != "/order/check" || !strings.Contains(w.Body.String(), "Check your answers") {
		t.Fatalf("after the address: %s %d %s", path, w.Code, w.Body)
	}
	return v, w
}

// backLink returns the href of a page's Back link, checking that it comes
// before the page's content.
func backLink(t *testing.T, name, body string) string {
	t.Helper()
	m := regexp.MustCompile(`<a href="([^"]*)" class="govuk-back-link">Back</a>`).FindStringSubmatchIndex(body)
	if m == nil {
		t.Fatalf("%s has no Back link:\n%s", name, body)
	}
	if main := strings.Index(body, `<main`); main < m[0] {
		t.Errorf("%s: Back is not at the top of the page", name)
	}
	return body[m[2]:m[3]]
}

var referenceText = regexp.MustCompile(`<strong id="reference">([^<]+)</strong>`)

func TestFormJourney(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	v := f.visitor(t)

	// The first question, from the start page's button.
	if !strings.Contains(f.do(newRequest("GET", "/", "")).Body.String(), `href="/order/postcode"`) {
		t.Error("the start page does not lead to the postcode question")
	}
	w, _ := v.get("/order/postcode")
	wantPage(t, "postcode page", w, 200, "What is your postcode?", `autocomplete="postal-code"`)
	if got := backLink(t, "postcode page", w.Body.String()); got != "/" {
		t.Errorf("postcode page's Back = %q", got)
	}

	// Nothing answered: the POST is redirected to the same page, which
	// shows the error in the summary and at the field.
	w, path := v.submit("/order/postcode", formOf("postcode", ""))
	if path != "/order/postcode" {
		t.Fatalf("an empty postcode went on to %s", path)
	}
	wantPage(t, "postcode page with errors", w, 200, "<title>Error: ", `href="#postcode"`, `id="postcode-error"`, "govuk-error-summary")

	w, path = v.submit("/order/postcode", formOf("postcode", "ld15 5lg"))
	if path != "/order/booklet" {
		t.Fatalf("after the postcode: %s", path)
	}
	// The areas that usually cover LD come first, as radios; none chosen.
	wantPage(t, "booklet page", w, 200, `type="radio" value="dyfed-powys"`, "Postcodes starting with LD",
		`value="other"`, `<select class="govuk-select" id="area-other" name="area-other">`)
	if strings.Contains(w.Body.String(), "checked") {
		t.Error("the booklet page chose something for the person")
	}
	if got := backLink(t, "booklet page", w.Body.String()); got != "/order/postcode" {
		t.Errorf("booklet page's Back = %q", got)
	}
	w, path = v.submit("/order/booklet", formOf())
	if path != "/order/booklet" {
		t.Fatalf("an empty booklet page went on to %s", path)
	}
	wantPage(t, "booklet page with errors", w, 200, "<title>Error: ", `href="#area"`, `href="#formats"`, `id="area-error"`, `id="formats-error"`)
	// A reload shows the same errors: they come from the answers kept.
	w, _ = v.get("/order/booklet")
	wantPage(t, "booklet page reloaded", w, 200, `id="area-error"`)

	w, path = v.submit("/order/booklet", formOf("area", "dyfed-powys", "formats", "braille", "formats", "large-print"))
	if path != "/order/language" {
		t.Fatalf("after the booklet: %s", path)
	}
	// Dyfed-Powys offers its booklet in Welsh: the person chooses the
	// language, English, Welsh or both; nothing is chosen for them.
	wantPage(t, "language page", w, 200, "Which language do you want the booklet in?", "Dyfed-Powys",
		`value="en"`, `value="cy"`, `value="both"`, `<span lang="cy">Cymraeg</span>`)
	if strings.Contains(w.Body.String(), "checked") {
		t.Error("the language page chose for the person")
	}
	if got := backLink(t, "language page", w.Body.String()); got != "/order/booklet" {
		t.Errorf("language page's Back = %q", got)
	}
	w, path = v.submit("/order/language", formOf())
	if path != "/order/language" {
		t.Fatalf("no language went on to %s", path)
	}
	wantPage(t, "language page with errors", w, 200, `href="#languages"`, "Select the language you want the booklet in")
	w, path = v.submit("/order/language", formOf("language", "both"))
	if path != "/order/address" {
		t.Fatalf("after the language: %s", path)
	}
	// The postcode given first is there to be corrected with the address.
	wantPage(t, "address page", w, 200, "Where should we send the booklet?", `value="ld15 5lg"`)
	if strings.Contains(w.Body.String(), "govuk-error-summary") {
		t.Error("the address page shows errors before it was answered")
	}
	if got := backLink(t, "address page", w.Body.String()); got != "/order/language" {
		t.Errorf("address page's Back = %q", got)
	}
	w, path = v.submit("/order/address", formOf(goodAddress...))
	if path != "/order/check" {
		t.Fatalf("after the address: %s", path)
	}
	wantPage(t, "check answers", w, 200, "Dyfed-Powys", "Braille", "English and Welsh", "Zoë-Jane Nguyễn", "Flat 2, 10 Downing Street", "Llandrindod Wells", "LD15 5LG",
		`href="/order/booklet"`, `href="/order/language"`, `href="/order/address"`)
	if strings.Contains(w.Body.String(), `id="area-prompt"`) {
		t.Error("check answers prompts about an area that covers the postcode")
	}
	if got := backLink(t, "check answers", w.Body.String()); got != "/order/address" {
		t.Errorf("check answers' Back = %q", got)
	}
	key := v.state().Key

	// Back (a GET of the page before) keeps every answer, and so does
	// Forward (a GET of the page after).
	w, _ = v.get("/order/address")
	wantPage(t, "address after Back", w, 200, `value="Zoë-Jane Nguyễn"`, `value="Flat 2, 10 Downing Street"`, `value="Llandrindod Wells"`, `value="ld15 5lg"`)
	w, _ = v.get("/order/booklet")
	wantPage(t, "booklet after Back", w, 200, `value="dyfed-powys" checked`, `value="braille" checked`, `value="large-print" checked`)
	w, _ = v.get("/order/check")
	wantPage(t, "check answers after Forward", w, 200, "Zoë-Jane Nguyễn")
	if v.state().Key != key {
		t.Error("the same answers got a new idempotency key")
	}

	// Sending: 303 to the confirmation, which shows the reference.
	w, path = v.submit("/order/check", nil)
	m := referenceText.FindStringSubmatch(w.Body.String())
	if path != "/order/confirmation" || m == nil {
		t.Fatalf("after sending: %s %d %s", path, w.Code, w.Body)
	}
	ref := m[1]
	wantPage(t, "confirmation", w, 200, `href="/status"`)
	// The answers left the cookie with the order: only the reference stays.
	if st := v.state(); st.Sent != ref || st.Draft.Name != "" || st.Draft.Postcode != "" {
		t.Errorf("after sending the cookie holds %+v", st)
	}
	// A reload of the confirmation shows it again; Back to "Check your
	// answers" comes back to it, sending nothing.
	w, _ = v.get("/order/confirmation")
	wantPage(t, "confirmation reloaded", w, 200, ref)
	w, path = v.get("/order/check")
	if path != "/order/confirmation" || !strings.Contains(w.Body.String(), ref) {
		t.Errorf("Back from the confirmation: %s %s", path, w.Body)
	}
	msgs := f.messages(t)
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	o := msgs[0]
	want := order.Personal{Name: "Zoë-Jane Nguyễn", AddressLine1: "Flat 2, 10 Downing Street", Town: "Llandrindod Wells", Postcode: "LD15 5LG"}
	if o.Reference.String() != ref || o.Area != "dyfed-powys" || o.Personal != want ||
		len(o.Formats) != 2 || o.Formats[0] != order.LargePrint || o.Formats[1] != order.Braille ||
		len(o.Languages) != 2 || o.Languages[0] != order.English || o.Languages[1] != order.Welsh {
		t.Fatalf("stored order = %+v", o)
	}

	// A question page after the confirmation starts a new order.
	w, _ = v.get("/order/postcode")
	if strings.Contains(w.Body.String(), "ld15") {
		t.Error("a new order starts with the last one's answers")
	}
}

// TestFormDoubleSubmit: two posts of "Accept and send" with the same
// cookie (a double click) give one order and one reference; changed
// answers are a new order.
func TestFormDoubleSubmit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	v, _ := journeyToCheck(t, f)
	c := v.cookie()
	first := v.post("/order/check", nil)
	v.setCookie(c.Value) // the second click went with the cookie of the first
	second := v.post("/order/check", nil)
	if first.Code != http.StatusSeeOther || second.Code != http.StatusSeeOther {
		t.Fatalf("posts = %d, %d", first.Code, second.Code)
	}
	ref := v.state().Sent
	if n := len(f.messages(t)); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
	// Changing an answer from "Check your answers" comes back to it, with a
	// new key: a new order. An area without Welsh booklets drops the
	// language question and its answer.
	v2, _ := journeyToCheck(t, f)
	w, path := v2.submit("/order/booklet", formOf("area", "staffordshire", "formats", "audio"))
	if path != "/order/check" || !strings.Contains(w.Body.String(), "Staffordshire") || strings.Contains(w.Body.String(), `href="/order/language"`) {
		t.Fatalf("after a change: %s %s", path, w.Body)
	}
	if got, _ := v2.get("/order/language"); !strings.Contains(got.Body.String(), "Check your answers") {
		t.Error("the language page is shown for an area without Welsh booklets")
	}
	if got := v2.state().Draft.Languages; len(got) != 0 {
		t.Errorf("the Welsh answer stayed with an English-only area: %v", got)
	}
	v2.submit("/order/check", nil)
	if got := v2.state().Sent; got == "" || got == ref {
		t.Fatalf("a changed order got reference %q (first %q)", got, ref)
	}
}

func TestFormAddressErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	v := f.visitor(t)
	v.submit("/order/postcode", formOf("postcode", "st18 0yy"))
	v.submit("/order/booklet", formOf("area", "staffordshire", "formats", "audio"))
	w, path := v.submit("/order/address", formOf("name", "Ann Lee", "postcode", "BFPO 801"))
	if path != "/order/address" {
		t.Fatalf("went on to %s", path)
	}
	body := w.Body.String()
	for _, want := range []string{"<title>Error: ", `href="#address_line_1"`, `href="#town"`, `href="#postcode"`, "BFPO",
		`value="Ann Lee"`, `class="govuk-input govuk-input--error" id="address_line_1"`, `aria-describedby="postcode-error"`} {
		if !strings.Contains(body, want) {
			t.Errorf("address page with errors lacks %q", want)
		}
	}
	if strings.Contains(body, `href="#name"`) || strings.Contains(body, `href="#area"`) {
		t.Error("errors shown for valid or other-page fields")
	}
	for _, want := range []string{`autocomplete="name"`, `autocomplete="address-line1"`, `autocomplete="address-line2"`,
		`autocomplete="address-level2"`, `autocomplete="postal-code"`, `spellcheck="false"`} {
		if !strings.Contains(body, want) {
			t.Errorf("address page lacks %s", want)
		}
	}
}

// TestFormAreaByPostcode: the postcode narrows the areas offered; one
// outside them gets a prompt on "Check your answers", never a refusal; a
// postcode outside England and Wales gets the whole list.
func TestFormAreaByPostcode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)

	v := f.visitor(t)
	w, _ := v.submit("/order/postcode", formOf("postcode", "CF10 1AA"))
	wantPage(t, "booklet page for CF", w, 200, `value="south-wales"`, "Postcodes starting with CF")
	if strings.Contains(w.Body.String(), `type="radio" value="cumbria"`) {
		t.Error("Cumbria offered as likely for a CF postcode")
	}
	// Another area, from the list under the last radio: accepted, with a
	// prompt to check it.
	v.submit("/order/booklet", formOf("area", "other", "area-other", "cumbria", "formats", "audio"))
	w, path := v.submit("/order/address", formOf("name", "Ann Lee", "address_line_1", "1 Queen Street", "town", "Cardiff", "postcode", "CF10 1AA"))
	if path != "/order/check" {
		t.Fatalf("another area: %s", path)
	}
	wantPage(t, "check answers with a surprising area", w, 200, `id="area-prompt"`, "postcodes starting with CF are not usually in Cumbria")
	w, _ = v.get("/order/booklet")
	wantPage(t, "booklet page with another area", w, 200, `value="other" checked`, `value="cumbria" selected`)
	// "Another area" with none chosen is an error at the area.
	w, _ = v.submit("/order/booklet", formOf("area", "other", "area-other", "", "formats", "audio"))
	wantPage(t, "another area not chosen", w, 200, `href="#area"`)

	// Scotland: no area of England and Wales covers it; the whole list.
	v = f.visitor(t)
	w, _ = v.submit("/order/postcode", formOf("postcode", "EH1 1YZ"))
	wantPage(t, "booklet page for EH", w, 200, `<select class="govuk-select" id="area" name="area"`, "We could not match postcodes starting with EH")
}

// TestAnswersCookie: the answers travel in one strictly necessary cookie,
// HttpOnly, SameSite=Strict, for the session only,
// Secure over HTTPS; sealed, so it shows nothing of them; and small enough
// for any browser whatever is typed.
func TestAnswersCookie(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	v, _ := journeyToCheck(t, f)
	w := v.post("/order/address", formOf(goodAddress...))
	var c *http.Cookie
	for _, k := range w.Result().Cookies() {
		if k.Name == answersCookie {
			c = k
		}
	}
	if c == nil {
		t.Fatal("no answers cookie set")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge != 0 || !c.Expires.IsZero() || c.Secure {
		t.Errorf("cookie = %+v, want HttpOnly, SameSite=Strict, Path=/, session, not Secure over plain HTTP", c)
	}
	// Words long enough not to turn up in random base64 by chance.
	for _, s := range []string{"Downing", "Llandrindod", "Nguy", "dyfed-powys", "braille"} {
		if strings.Contains(c.Value, s) {
			t.Errorf("the cookie shows %q", s)
		}
	}
	v.tls = true
	w = v.post("/order/address", formOf(goodAddress...))
	if cs := w.Result().Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Errorf("over HTTPS the cookie is %+v, want Secure", cs)
	}

	// The longest answers kept, in four-byte characters, fit in 4 KiB
	// (each value posted is longer than what is kept, within the 16 KiB a
	// post may have).
	long := func(n int) string { return strings.Repeat("𝔅", n) }
	v = f.visitor(t)
	v.submit("/order/postcode", formOf("postcode", long(200)))
	v.submit("/order/booklet", formOf("area", long(100), "formats", long(50), "formats", long(50), "formats", long(50),
		"formats", long(50), "formats", long(50), "formats", long(50), "formats", long(50)))
	w, _ = v.submit("/order/address", formOf("name", long(200), "address_line_1", long(200), "address_line_2", long(200),
		"town", long(200), "postcode", long(200)))
	wantPage(t, "address page with long answers", w, 200, "must be 100 characters or fewer")
	if n := len(answersCookie) + len(v.cookie().Value); n > 4000 {
		t.Errorf("cookie of the longest answers is %d bytes", n)
	}
}

// TestFormStateTamperRejected: an answers cookie changed, cut, sealed with
// another secret or missing is refused when sending.
func TestFormStateTamperRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	v, _ := journeyToCheck(t, f)
	check := v.cookie().Value

	flipped := []byte(check)
	i := len(flipped) / 2
	if flipped[i] == 'A' {
		flipped[i] = 'B'
	} else {
		flipped[i] = 'A'
	}
	other := newFixture(t, func(c *testConfig) { c.Secret = []byte("another-secret-another-secret-another-secret") })
	ov, _ := journeyToCheck(t, other)

	for name, state := range map[string]string{
		"flipped":      string(flipped),
		"truncated":    check[:len(check)-4],
		"other secret": ov.cookie().Value,
		"garbage":      "not-a-state",
	} {
		v.setCookie(state)
		w := v.post("/order/check", nil)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "could not read your answers") {
			t.Errorf("%s: status %d, body %s", name, w.Code, w.Body)
		}
	}
	// No cookie at all on a later question: a browser that keeps none.
	nv := f.visitor(t)
	w := nv.post("/order/address", formOf(goodAddress...))
	wantPage(t, "no cookie", w, http.StatusBadRequest, "could not keep your answers", "cookies")
	if n := len(f.messages(t)); n != 0 {
		t.Errorf("stream holds %d messages", n)
	}
}

// TestFormTimeout: the pages say until when the answers are kept; "Keep my
// answers" extends the time (from the dialog, JSON; from the page's own
// button, keeping what was typed); after the time, a GET goes to a page
// that says the answers were deleted, and a POST keeps that page's
// answers and says the others were deleted.
func TestFormTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	v, _ := journeyToCheck(t, f)
	w, _ := v.get("/order/address")
	// 14:30 UTC on 25 November is 2:30pm in London; the answers last 1h.
	wantPage(t, "address page", w, 200, `data-seconds="3600"`, `data-warn="300"`, "<strong data-timeout-until>3:30pm</strong>",
		`formaction="/order/keep" name="return" value="/order/address"`, `<dialog id="timeout-dialog"`)

	// From the dialog: 200 with the new time.
	f.clock.add(58 * time.Minute)
	r := httptest.NewRequest("POST", "/order/keep", strings.NewReader("return=%2Forder%2Faddress"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "application/json")
	w = v.do(r)
	var kept struct {
		Seconds int
		Until   string
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &kept) != nil || kept.Seconds != 3600 || kept.Until != "4:28pm" {
		t.Fatalf("keep from the dialog = %d %s", w.Code, w.Body)
	}
	f.clock.add(58 * time.Minute) // past the first hour, within the second
	// From the page's button: what was typed is kept.
	w, path := v.submit("/order/keep", formOf("with-answers", "1", "return", "/order/address", "name", "Ann Other",
		"address_line_1", "2 Low Road", "town", "Builth Wells", "postcode", "LD2 3AA"))
	if path != "/order/address" {
		t.Fatalf("keep from the page went to %s", path)
	}
	wantPage(t, "address after keep", w, 200, `value="Ann Other"`, `value="2 Low Road"`)
	if strings.Contains(w.Body.String(), "govuk-error-summary") {
		t.Error("keep checked the answers")
	}
	// A "return" elsewhere is not followed.
	if w := v.post("/order/keep", formOf("return", "https://evil.example/")); w.Header().Get("Location") != "/order/postcode" {
		t.Errorf("keep to elsewhere redirected to %q", w.Header().Get("Location"))
	}

	// The time runs out: a GET says so and deletes the cookie.
	f.clock.add(61 * time.Minute)
	w, path = v.get("/order/check")
	if path != "/order/timed-out" {
		t.Fatalf("after the time, GET check went to %s", path)
	}
	wantPage(t, "timed out", w, 200, "Your answers have been deleted", "60 minutes", `href="/order/postcode"`)
	if v.cookie() != nil {
		t.Error("the timed-out page left the cookie")
	}
	// The dialog asks after the end: 410, and where to go.
	if w := v.do(r); w.Code != http.StatusGone {
		t.Errorf("keep after the end = %d", w.Code)
	}

	// Without JavaScript: the page is sent after the end. Its answers are
	// kept, the earlier ones are gone, and the next page says so, once.
	v, _ = journeyToCheck(t, f)
	f.clock.add(61 * time.Minute)
	w, path = v.submit("/order/address", formOf(goodAddress...))
	if path != "/order/booklet" { // the address page carries the postcode
		t.Fatalf("after a late address the journey went to %s", path)
	}
	wantPage(t, "booklet page after a late post", w, 200, "We deleted your earlier answers")
	if st := v.state(); st.Draft.Name != "Zoë-Jane Nguyễn" || st.Draft.Area != "" {
		t.Errorf("after a late post the answers are %+v", st.Draft)
	}
	w, _ = v.get("/order/booklet")
	if strings.Contains(w.Body.String(), "We deleted your earlier answers") {
		t.Error("the notice is shown twice")
	}
	// Sending after the end sends nothing.
	v, _ = journeyToCheck(t, f)
	f.clock.add(61 * time.Minute)
	if w := v.post("/order/check", nil); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "timed out") {
		t.Errorf("late send: %d %s", w.Code, w.Body)
	}
	if n := len(f.messages(t)); n != 0 {
		t.Errorf("stream holds %d messages", n)
	}
}

// TestNoAnswersInURLs: no form is a GET and no link or action carries a
// query string on the order form's pages.
func TestNoAnswersInURLs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	v, _ := journeyToCheck(t, f)
	for _, p := range []string{"/", "/order/postcode", "/order/booklet", "/order/address", "/order/check", "/privacy", "/cookies", "/accessibility"} {
		w, _ := v.get(p)
		if regexp.MustCompile(`(?i)<form[^>]*method="get"|action="[^"]*\?`).MatchString(w.Body.String()) {
			t.Errorf("%s has a GET form or a query string in an action", p)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	paths := []string{"/", "/order/postcode", "/order/booklet", "/order/address", "/order/timed-out", "/privacy", "/cookies", "/accessibility", "/no-such-page", "/assets/govuk-frontend.min.css", "/healthz"}
	for _, p := range paths {
		w := f.do(newRequest("GET", p, ""))
		h := w.Header()
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP allows unsafe sources: %s", p, csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q", p, k, h.Get(k))
			}
		}
		if h.Get("Permissions-Policy") == "" {
			t.Errorf("%s: no Permissions-Policy", p)
		}
		cc := h.Get("Cache-Control")
		if strings.HasPrefix(p, "/assets/") {
			if w.Code != 200 || !strings.Contains(cc, "max-age=31536000") {
				t.Errorf("%s: %d Cache-Control %q", p, w.Code, cc)
			}
		} else if cc != "no-store" {
			t.Errorf("%s: Cache-Control %q", p, cc)
		}
		// No inline script or style for the policy to block.
		body := w.Body.String()
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") &&
			regexp.MustCompile(`<script(?:\s+type="module")?>|<style|\sstyle="|\son[a-z]+="`).MatchString(body) {
			t.Errorf("%s has inline script or style", p)
		}
	}
	if w := f.do(newRequest("GET", "/no-such-page", "")); w.Code != 404 {
		t.Errorf("unknown page = %d", w.Code)
	}
	if w := f.do(newRequest("GET", "/assets/fonts/", "")); w.Code != 404 {
		t.Errorf("asset directory listing = %d", w.Code)
	}
}

func TestCrossOriginPostRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	cross := []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "https://evil.example"}, // older browsers: no Sec-Fetch-Site
	}
	for _, hdrs := range cross {
		for _, path := range []string{"/order/booklet", "/order/check", "/api/v1/orders"} {
			r := newRequest("POST", path, "area=staffordshire&formats=audio")
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range hdrs {
				r.Header.Set(k, v)
			}
			if w := f.do(r); w.Code != http.StatusForbidden {
				t.Errorf("%s with %v = %d, want 403", path, hdrs, w.Code)
			}
		}
	}
	// A same-origin browser post and a non-browser API client both pass.
	if w := f.postForm("/order/postcode", formOf("postcode", "st18 0yy")); w.Code != http.StatusSeeOther {
		t.Errorf("same-origin post = %d", w.Code)
	}
	if w := f.postJSON(goodJSON, ""); w.Code != http.StatusCreated {
		t.Errorf("API client = %d", w.Code)
	}
}

// TestNoPersonalDataInLogs submits distinctive personal data through the
// API and the form, valid and invalid, and checks none reaches the log.
func TestNoPersonalDataInLogs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	pii := []string{"Xanthippe Quimby-Wolstenholme", "77 Zebedee Crescent", "Apartment Quokka", "Wigglesworth", "DE73 8XQ", "DE738XQ", "de73 8xq", "idem-key-Pelican"}
	body := `{"area":"derbyshire","formats":["audio"],"name":"Xanthippe Quimby-Wolstenholme","address_line_1":"77 Zebedee Crescent",
		"address_line_2":"Apartment Quokka","town":"Wigglesworth","postcode":"de73 8xq"}`
	w := f.postJSON(body, "idem-key-Pelican")
	if w.Code != http.StatusCreated {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	f.postJSON(strings.Replace(body, "de73 8xq", "DE73 8XQ XQ", 1), "")                   // invalid postcode
	f.postJSON(strings.Replace(body, `"derbyshire"`, `"Wigglesworth"`, 1)+"trailing", "") // malformed

	v := f.visitor(t)
	v.submit("/order/postcode", formOf("postcode", "DE73 8XQ XQ")) // invalid
	v.submit("/order/postcode", formOf("postcode", "de73 8xq"))
	v.submit("/order/booklet", formOf("area", "derbyshire", "formats", "audio"))
	form := formOf("name", "Xanthippe Quimby-Wolstenholme", "address_line_1", "77 Zebedee Crescent",
		"address_line_2", "Apartment Quokka", "town", "Wigglesworth", "postcode", "DE73 8XQ XQ")
	v.submit("/order/address", form) // invalid postcode
	form.Set("postcode", "de73 8xq")
	v.submit("/order/address", form)
	v.submit("/order/check", nil)
	if v.state().Sent == "" {
		t.Fatal("the form did not send the order")
	}

	logs := f.logs.String()
	for _, s := range pii {
		if strings.Contains(strings.ToLower(logs), strings.ToLower(s)) {
			t.Errorf("log contains %q:\n%s", s, logs)
		}
	}
	var ref struct{ Reference string }
	jsonUnmarshal(t, w.Body.Bytes(), &ref)
	if !strings.Contains(logs, ref.Reference) || !strings.Contains(logs, `"route":"POST /api/v1/orders"`) {
		t.Errorf("log lacks the reference or route:\n%s", logs)
	}
}

// TestFormRefusesInvisibleAnswers: a name of Hangul fillers (letters to
// Unicode, blank on paper) and a town with a noncharacter are shown as
// errors in the GOV.UK error summary, and the answers cannot go on.
func TestFormRefusesInvisibleAnswers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	v := f.visitor(t)
	v.submit("/order/postcode", formOf("postcode", "ST18 0YY"))
	v.submit("/order/booklet", formOf("area", "staffordshire", "formats", "braille"))
	w, path := v.submit("/order/address", formOf("name", "\u3164\u3164\u3164",
		"address_line_1", "1 High Street", "town", "Stafford\ufdd0", "postcode", "ST18 0YY"))
	body := w.Body.String()
	if w.Code != 200 || path != "/order/address" {
		t.Fatalf("address page: %s %d %s", path, w.Code, body)
	}
	for _, want := range []string{"govuk-error-summary", `href="#name"`, `href="#town"`, `id="name-error"`, `id="town-error"`,
		"Full name must only include letters, numbers and punctuation"} {
		if !strings.Contains(body, want) {
			t.Errorf("address page lacks %q", want)
		}
	}
}

// TestFormRefusesAnotherCharset: a form post declared in another charset
// than the pages' UTF-8 is refused, not misread.
func TestFormRefusesAnotherCharset(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	r := newRequest("POST", "/order/postcode", formOf("postcode", "ST18 0YY").Encode())
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=windows-1252")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if w := f.do(r); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "UTF-8") {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

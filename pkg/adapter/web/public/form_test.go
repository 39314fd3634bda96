package public

import (
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

// journeyToCheck answers both question pages and returns the state of
// "Check your answers".
func journeyToCheck(t *testing.T, f *fixture) string {
	t.Helper()
	return stateOf(t, journeyToCheckPage(t, f))
}

// backButton is the "Back" of a question page after the first.
var backButton = regexp.MustCompile(`<form method="post" action="/order/change" novalidate>\s*` +
	`<input type="hidden" name="state" value="([^"]+)">\s*<input type="hidden" name="page" value="([a-z]+)">\s*` +
	`<button type="submit" class="govuk-back-link app-back-link-button">Back</button>\s*</form>`)

// backForm returns what the page's Back button posts, checking that it
// goes to the page wanted and that it comes before the page's content.
func backForm(t *testing.T, name, body, wantPage string) url.Values {
	t.Helper()
	loc := backButton.FindStringSubmatchIndex(body)
	if loc == nil {
		t.Fatalf("%s has no Back button:\n%s", name, body)
	}
	if main := strings.Index(body, `<main`); main < loc[0] {
		t.Errorf("%s: Back is not at the top of the page", name)
	}
	state, page := body[loc[2]:loc[3]], body[loc[4]:loc[5]]
	if page != wantPage {
		t.Errorf("%s: Back goes to %q, want %q", name, page, wantPage)
	}
	return formOf("state", state, "page", page)
}

// journeyToCheckPage answers both question pages and returns "Check your
// answers".
func journeyToCheckPage(t *testing.T, f *fixture) string {
	t.Helper()
	w := f.postForm("/order/booklet", formOf("area", "dyfed-powys", "formats", "braille", "formats", "large-print"))
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Where should we send the booklet?") {
		t.Fatalf("booklet page: %d %s", w.Code, w.Body)
	}
	w = f.postForm("/order/address", formOf(append([]string{"state", stateOf(t, w.Body.String())}, goodAddress...)...))
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Check your answers") {
		t.Fatalf("address page: %d %s", w.Code, w.Body)
	}
	return w.Body.String()
}

func TestFormJourney(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)

	w := f.do(newRequest("GET", "/order/booklet", ""))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `<select class="govuk-select" id="area" name="area"`) {
		t.Fatalf("booklet page: %d %s", w.Code, w.Body)
	}
	// The first question's Back is a plain link to the start page.
	if !strings.Contains(w.Body.String(), `<a href="/" class="govuk-back-link">Back</a>`) {
		t.Errorf("booklet page has no back link to the start page")
	}

	// Nothing chosen: both errors, linked from the summary, at the fields.
	w = f.postForm("/order/booklet", formOf("state", stateOf(t, w.Body.String())))
	body := w.Body.String()
	for _, want := range []string{"<title>Error: ", `href="#area"`, `href="#formats"`, `id="area-error"`, `id="formats-error"`, "govuk-error-summary"} {
		if !strings.Contains(body, want) {
			t.Errorf("booklet page with errors lacks %q", want)
		}
	}

	page := journeyToCheckPage(t, f)

	// Back from "Check your answers" to the address question, and from
	// there to the booklet question: posts of the sealed answers (never a
	// URL), which are kept.
	w = f.postForm("/order/change", backForm(t, "check answers", page, "address"))
	body = w.Body.String()
	for _, want := range []string{"Where should we send the booklet?", `value="Zoë-Jane Nguyễn"`, `value="Flat 2, 10 Downing Street"`,
		`value="Llandrindod Wells"`, `value="ld15 5lg"`} { // as typed
		if !strings.Contains(body, want) {
			t.Errorf("back from check answers: the address page lacks %s", want)
		}
	}
	w = f.postForm("/order/change", backForm(t, "address", body, "booklet"))
	body = w.Body.String()
	for _, want := range []string{`value="dyfed-powys" selected`, `value="braille" checked`, `value="large-print" checked`,
		`<a href="/" class="govuk-back-link">Back</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("back from the address: the booklet page lacks %s", want)
		}
	}
	// Continuing unchanged goes straight to "Check your answers", every
	// answer kept.
	w = f.postForm("/order/booklet", formOf("state", stateOf(t, body), "area", "dyfed-powys", "formats", "braille", "formats", "large-print"))
	body = w.Body.String()
	for _, want := range []string{"Check your answers", "Dyfed-Powys", "Braille", "Zoë-Jane Nguyễn", "Flat 2, 10 Downing Street", "Llandrindod Wells", "LD15 5LG"} {
		if !strings.Contains(body, want) {
			t.Errorf("check answers after going back lacks %s", want)
		}
	}
	check := stateOf(t, body)
	w = f.postForm("/order/check", formOf("state", check))
	m := referenceText.FindStringSubmatch(w.Body.String())
	if w.Code != 200 || m == nil {
		t.Fatalf("confirmation: %d %s", w.Code, w.Body)
	}
	ref := m[1]

	// A refresh (or a double-click) re-posts the same state: same reference, one order.
	w = f.postForm("/order/check", formOf("state", check))
	if m := referenceText.FindStringSubmatch(w.Body.String()); m == nil || m[1] != ref {
		t.Fatalf("resubmission gave another reference: %s", w.Body)
	}
	msgs := f.messages(t)
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	o := msgs[0]
	want := order.Personal{Name: "Zoë-Jane Nguyễn", AddressLine1: "Flat 2, 10 Downing Street", Town: "Llandrindod Wells", Postcode: "LD15 5LG"}
	if o.Reference.String() != ref || o.Area != "dyfed-powys" || o.Personal != want ||
		len(o.Formats) != 2 || o.Formats[0] != order.LargePrint || o.Formats[1] != order.Braille {
		t.Fatalf("stored order = %+v", o)
	}

	// Changing an answer makes a new submission with its own key.
	w = f.postForm("/order/change", formOf("state", check, "page", "booklet"))
	if !strings.Contains(w.Body.String(), `value="dyfed-powys" selected`) || !strings.Contains(w.Body.String(), `value="braille" checked`) {
		t.Fatalf("change does not show the answers: %s", w.Body)
	}
	w = f.postForm("/order/booklet", formOf("state", stateOf(t, w.Body.String()), "area", "staffordshire", "formats", "audio"))
	if !strings.Contains(w.Body.String(), "Check your answers") {
		t.Fatalf("after a change the form does not go back to check answers: %s", w.Body)
	}
	w = f.postForm("/order/check", formOf("state", stateOf(t, w.Body.String())))
	if m := referenceText.FindStringSubmatch(w.Body.String()); m == nil || m[1] == ref {
		t.Fatalf("a changed order reused the reference: %s", w.Body)
	}
}

func TestFormAddressErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	w := f.postForm("/order/booklet", formOf("area", "staffordshire", "formats", "audio"))
	w = f.postForm("/order/address", formOf("state", stateOf(t, w.Body.String()), "name", "Ann Lee", "postcode", "BFPO 801"))
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

func TestFormStateTamperRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	check := journeyToCheck(t, f)

	flipped := []byte(check)
	i := len(flipped) / 2
	if flipped[i] == 'A' {
		flipped[i] = 'B'
	} else {
		flipped[i] = 'A'
	}
	other := newFixture(t, func(c *testConfig) { c.Secret = []byte("another-secret-another-secret-another-secret") })
	otherState := journeyToCheck(t, other)

	for name, state := range map[string]string{
		"flipped":      string(flipped),
		"truncated":    check[:len(check)-4],
		"other secret": otherState,
		"garbage":      "not-a-state",
		"missing":      "",
	} {
		w := f.postForm("/order/check", formOf("state", state))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "could not read your answers") {
			t.Errorf("%s: status %d, body %s", name, w.Code, w.Body)
		}
	}

	// A genuine state that has expired.
	f.clock.add(2 * time.Hour)
	w := f.postForm("/order/check", formOf("state", check))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "timed out") {
		t.Errorf("expired: status %d, body %s", w.Code, w.Body)
	}
	if n := len(f.messages(t)); n != 0 {
		t.Errorf("stream holds %d messages", n)
	}
}

func TestStateNeverInURLOrCookie(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	check := journeyToCheck(t, f)
	w := f.postForm("/order/check", formOf("state", check))
	if len(w.Result().Cookies()) != 0 {
		t.Error("a cookie was set")
	}
	// Later pages fetched by GET go back to the start: nothing to show.
	for _, p := range []string{"/order/address", "/order/check"} {
		w := f.do(newRequest("GET", p, ""))
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/order/booklet" {
			t.Errorf("GET %s = %d %s", p, w.Code, w.Header().Get("Location"))
		}
	}
	// Every form posts, and no link or action carries a query string.
	for _, p := range []string{"/", "/order/booklet", "/privacy", "/cookies", "/accessibility"} {
		body := f.do(newRequest("GET", p, "")).Body.String()
		if regexp.MustCompile(`(?i)<form[^>]*method="get"|action="[^"]*\?`).MatchString(body) {
			t.Errorf("%s has a GET form or a query string in an action", p)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	paths := []string{"/", "/order/booklet", "/privacy", "/cookies", "/accessibility", "/no-such-page", "/assets/govuk-frontend.min.css", "/healthz"}
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
	if w := f.postForm("/order/booklet", formOf("area", "staffordshire", "formats", "audio")); w.Code != 200 {
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

	st := f.postForm("/order/booklet", formOf("area", "derbyshire", "formats", "audio")).Body.String()
	form := formOf("state", stateOf(t, st), "name", "Xanthippe Quimby-Wolstenholme", "address_line_1", "77 Zebedee Crescent",
		"address_line_2", "Apartment Quokka", "town", "Wigglesworth", "postcode", "DE73 8XQ XQ")
	f.postForm("/order/address", form) // invalid postcode
	form.Set("postcode", "de73 8xq")
	page := f.postForm("/order/address", form).Body.String()
	f.postForm("/order/check", formOf("state", stateOf(t, page)))

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
	w := f.postForm("/order/booklet", formOf("area", "dyfed-powys", "formats", "braille"))
	w = f.postForm("/order/address", formOf("state", stateOf(t, w.Body.String()), "name", "\u3164\u3164\u3164",
		"address_line_1", "1 High Street", "town", "Stafford\ufdd0", "postcode", "ST18 0YY"))
	body := w.Body.String()
	if w.Code != 200 || strings.Contains(body, "Check your answers") {
		t.Fatalf("address page: %d %s", w.Code, body)
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
	r := newRequest("POST", "/order/booklet", formOf("area", "dyfed-powys", "formats", "braille").Encode())
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=windows-1252")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if w := f.do(r); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "UTF-8") {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

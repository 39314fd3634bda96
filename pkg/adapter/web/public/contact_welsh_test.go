package public

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/testkit/testenv"
)

// welshIdentity is testIdentity with some of its texts in Welsh and others
// not, so that a page shows both the Welsh values and the English ones
// marked lang="en".
func welshIdentity() Identity {
	id := testIdentity()
	id.DataControllerCY = "Swyddfa’r Swyddog Canlyniadau ar gyfer Sir Brawf"
	id.Contact.OpeningHoursCY = "Dydd Llun i ddydd Iau, 10am i 4pm"
	id.AlternativeOrder.Post = true
	// No Welsh for the alternative order's opening hours nor the address.
	return id
}

// pageCheck is a page fetched in both languages: what each must show and
// what the Welsh one must not (English left in it).
type pageCheck struct {
	path           string
	status         int
	english, welsh []string
	notInWelsh     []string
}

// checkPages fetches each page in English and under /cy and checks it, and
// that no text the pages asked for is missing from a catalogue.
func checkPages(t *testing.T, f *fixture, pages []pageCheck) {
	t.Helper()
	for _, p := range pages {
		for _, l := range []string{"en", "cy"} {
			path, wants := p.path, p.english
			if l == "cy" {
				path, wants = hrefIn(langCY, p.path), p.welsh
			}
			w := f.do(httptest.NewRequest("GET", path, nil))
			wantPage(t, path, w, p.status, wants...)
			body := w.Body.String()
			if !strings.Contains(body, `<html lang="`+l+`"`) {
				t.Errorf("%s is not lang=%s", path, l)
			}
			if l == "cy" {
				for _, no := range p.notInWelsh {
					if strings.Contains(body, no) {
						t.Errorf("%s still has %q", path, no)
					}
				}
			}
		}
	}
	var missing []string
	f.srv.catalogues.missing.Range(func(k, _ any) bool { missing = append(missing, k.(string)); return true })
	if len(missing) > 0 {
		t.Errorf("texts missing from the catalogues: %v", missing)
	}
}

// TestContactPageInWelsh: the contact page in Welsh, with the identity's
// Welsh texts where the file gives them and its English ones, marked
// lang="en", where it does not; the English page as it was.
func TestContactPageInWelsh(t *testing.T) {
	f := newFixture(t, func(c *testConfig) { c.Identity = welshIdentity() })
	checkPages(t, f, []pageCheck{{
		path: "/contact", status: http.StatusOK,
		english: []string{
			"<title>Contact us – Order an election information booklet – GOV.UK</title>",
			`<h1 class="govuk-heading-l">Contact us</h1>`,
			"Contact Office of the Returning Officer for Testshire if you have a question",
			`You can also <a class="govuk-link" href="/status">check or cancel an order</a> yourself.`,
			"Telephone: 020 7946 0123<br>Monday to Thursday, 10am to 4pm",
			"Booklets Team<br>Town Hall<br>Testtown<br>ZZ9 9ZZ",
			"By phone: 0808 157 0456<br>Every day, 8am to 8pm",
			`id="order-by-post">By post: write to the address above`,
			`href="https://www.gov.uk/call-charges"`,
			`Read our <a class="govuk-link" href="/privacy">privacy notice</a> for your rights.`,
		},
		welsh: []string{
			"<title>Cysylltu â ni – Archebu llyfryn gwybodaeth etholiad – GOV.UK</title>",
			`<h1 class="govuk-heading-l">Cysylltu â ni</h1>`,
			"Cysylltwch â ni (Swyddfa’r Swyddog Canlyniadau ar gyfer Sir Brawf) os oes gennych gwestiwn",
			`<a class="govuk-link" href="/cy/status">wirio neu ganslo archeb</a>`,
			"Ffôn: 020 7946 0123<br>Dydd Llun i ddydd Iau, 10am i 4pm",
			`<span lang="en">Booklets Team</span><br><span lang="en">Town Hall</span><br><span lang="en">Testtown</span><br><span lang="en">ZZ9 9ZZ</span>`,
			`Dros y ffôn: 0808 157 0456<br><span lang="en">Every day, 8am to 8pm</span>`,
			`id="order-by-post">Drwy’r post: ysgrifennwch`,
			`href="https://www.gov.uk/costau-galwadau"`,
			`href="mailto:dpo@testshire.example.org"`,
			`<a class="govuk-link" href="/cy/privacy">hysbysiad preifatrwydd</a>`,
		},
		notInWelsh: []string{"Contact us", "Telephone", "Office of the Returning Officer", "Monday to Thursday", "How to complain"},
	}})
}

// TestContactPageWelshExample: the built-in example has every text in
// Welsh: its Welsh contact page names nothing in English.
func TestContactPageWelshExample(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(httptest.NewRequest("GET", "/cy/contact", nil))
	wantPage(t, "/cy/contact", w, http.StatusOK,
		`id="example-identity"`, "Enghraifft yw’r manylion cyswllt",
		"Cysylltwch â ni (Swyddfa Enghreifftiol Gwybodaeth am Etholiadau)",
		"Dydd Llun i ddydd Gwener, 9am i 5pm (ac eithrio gwyliau banc)",
		"1 Stryd Enghreifftiol<br>Trefenghraifft<br>ZZ1 1ZZ")
	if main := w.Body.String()[strings.Index(w.Body.String(), "<main"):]; strings.Contains(main, `lang="en"`) {
		t.Error("the example's Welsh contact page has English in it")
	}
}

// TestProblemPageInWelsh: the error page's own words and links in Welsh
// (the problem's title and detail are the lead's problem.* messages), and
// its "Try again" button posting to the Welsh Check your answers.
func TestProblemPageInWelsh(t *testing.T) {
	t.Parallel()
	live := testenv.Orders(t)
	nc, err := jetstream.Connect(testenv.NATSURL(), "down")
	if err != nil {
		t.Fatal(err)
	}
	nc.Close() // NATS unreachable: sending the order is a retryable error
	down, err := jetstream.New(nc, live.Config())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *testConfig) { c.Stream = down })

	w := f.do(httptest.NewRequest("GET", "/no-such-page", nil))
	wantPage(t, "/no-such-page", w, http.StatusNotFound, "<h1 class=\"govuk-heading-l\">Page not found</h1>",
		`<a class="govuk-link" href="/">Go to the start of the service</a>`,
		`If you need help, <a class="govuk-link" href="/contact">contact us</a>.`)
	w = f.do(httptest.NewRequest("GET", "/cy/no-such-page", nil))
	wantPage(t, "/cy/no-such-page", w, http.StatusNotFound, `<html lang="cy"`, "Heb ddod o hyd i’r dudalen",
		`<a class="govuk-link" href="/cy">Mynd i ddechrau’r gwasanaeth</a>`,
		`Os oes angen help arnoch, <a class="govuk-link" href="/cy/contact">cysylltwch â ni</a>.`)

	v := f.visitor(t)
	v.submit("/cy/order/postcode", formOf("postcode", "LD1 5LG"))
	v.submit("/cy/order/booklet", formOf("area", "dyfed-powys", "formats", "audio"))
	v.submit("/cy/order/language", formOf("language", "cy"))
	if _, path := v.submit("/cy/order/address", formOf("name", "Siân", "address_line_1", "1 Heol y Bont", "town", "Llandrindod", "postcode", "LD1 5LG")); path != "/cy/order/check" {
		t.Fatalf("the Welsh journey went to %s", path)
	}
	w = v.post("/cy/order/check", nil)
	wantPage(t, "Welsh order with NATS down", w, http.StatusServiceUnavailable, `<html lang="cy"`,
		`<form method="post" action="/cy/order/check" novalidate>`, "Rhoi cynnig arall arni",
		`href="/cy/contact">cysylltwch â ni</a>`)
	if strings.Contains(w.Body.String(), "Try again") {
		t.Error("the Welsh error page still says Try again")
	}

	var missing []string
	f.srv.catalogues.missing.Range(func(k, _ any) bool {
		// The error page's <title>: errors.go gives the layout the title's
		// words where it expects a message id (left to the lead's
		// errors.go); every other text must be found.
		if id := k.(string); !strings.HasSuffix(id, ": Page not found") && !strings.HasSuffix(id, ": Heb ddod o hyd i’r dudalen") &&
			!strings.HasSuffix(id, ": Mae’n ddrwg gennym, nid yw’r gwasanaeth ar gael") {
			missing = append(missing, id)
		}
		return true
	})
	if len(missing) > 0 {
		t.Errorf("texts missing from the catalogues: %v", missing)
	}
}

// TestStartPageInWelsh: the start page in Welsh, its links kept in Welsh,
// and the other way to order worded for what the identity offers.
func TestStartPageInWelsh(t *testing.T) {
	f := newFixture(t, func(c *testConfig) { c.Identity = testIdentity() }) // by phone only
	checkPages(t, f, []pageCheck{{
		path: "/", status: http.StatusOK,
		english: []string{
			"<title>Order an election information booklet – GOV.UK</title>",
			`<h1 class="govuk-heading-xl">Order an election information booklet</h1>`,
			"<li>easy read</li>",
			`<a href="/order/postcode" role="button"`,
			"Start now",
			"You can also order by phone. You may prefer this",
			`<a class="govuk-link" href="/contact#order-another-way">Find out how to order by phone</a>.`,
			`<a class="govuk-link" href="/status">Check or cancel an order</a> with the order reference we gave you.`,
			`Read the <a class="govuk-link" href="/privacy">privacy notice</a>`,
		},
		welsh: []string{
			"<title>Archebu llyfryn gwybodaeth etholiad – GOV.UK</title>",
			`<h1 class="govuk-heading-xl">Archebu llyfryn gwybodaeth etholiad</h1>`,
			"<li>hawdd ei ddeall</li>",
			`<a href="/cy/order/postcode" role="button"`,
			"Dechrau nawr",
			"Gallwch hefyd archebu dros y ffôn. Efallai",
			`<a class="govuk-link" href="/cy/contact#order-another-way">Dysgwch sut i archebu dros y ffôn</a>.`,
			`<a class="govuk-link" href="/cy/status">Gwirio neu ganslo archeb</a>`,
			`<a class="govuk-link" href="/cy/privacy">hysbysiad preifatrwydd</a>`,
		},
		notInWelsh: []string{"Start now", "Other ways to order", "by phone", "privacy notice", "Ordering takes"},
	}})

	postOnly := testIdentity()
	postOnly.AlternativeOrder = AlternativeOrder{Post: true}
	f = newFixture(t, func(c *testConfig) { c.Identity = postOnly })
	checkPages(t, f, []pageCheck{{
		path: "/", status: http.StatusOK,
		english: []string{"You can also order by post.", `href="/contact#order-another-way">Find out how to order by post</a>.`},
		welsh:   []string{"Gallwch hefyd archebu drwy’r post.", `href="/cy/contact#order-another-way">Dysgwch sut i archebu drwy’r post</a>.`},
	}})
	f = newFixture(t, nil) // the example: by phone and by post
	checkPages(t, f, []pageCheck{{
		path: "/", status: http.StatusOK,
		english: []string{"You can also order by phone or by post.", `>Find out how to order by phone or post</a>.`},
		welsh:   []string{"Gallwch hefyd archebu dros y ffôn neu drwy’r post.", `>Dysgwch sut i archebu dros y ffôn neu drwy’r post</a>.`},
	}})
}

// TestAccessibilityStatementInWelsh: the accessibility statement in Welsh,
// the phase named in Welsh, the identity's texts in the page's language.
func TestAccessibilityStatementInWelsh(t *testing.T) {
	f := newFixture(t, func(c *testConfig) { c.Identity = welshIdentity() })
	checkPages(t, f, []pageCheck{{
		path: "/accessibility", status: http.StatusOK,
		english: []string{
			"<title>Accessibility statement – Order an election information booklet – GOV.UK</title>",
			`<h1 class="govuk-heading-l">Accessibility statement for Order an election information booklet</h1>`,
			`service at <a class="govuk-link" href="https://booklets.testshire.example.org/" id="service-url">https://booklets.testshire.example.org/</a>.`,
			"This service is run by Office of the Returning Officer for Testshire.",
			"<li>by phone on 0808 157 0456 (Every day, 8am to 8pm)</li>",
			"<li>by post, writing to Booklets Team, Town Hall, Testtown, ZZ9 9ZZ</li>",
			`<a class="govuk-link" href="/contact#order-another-way">Find out more about ordering another way</a>.`,
			"<li>call 020 7946 0123 (Monday to Thursday, 10am to 4pm)</li>",
			`id="report-email">booklets@testshire.example.org</a> or <a class="govuk-link" href="/contact">contact us another way</a>.`,
			"(the ‘accessibility regulations’)",
			"before the service leaves Alpha, and to update",
			"This statement was prepared on 4 December 2026. It was last reviewed on 4 December 2026.",
		},
		welsh: []string{
			"<title>Datganiad hygyrchedd – Archebu llyfryn gwybodaeth etholiad – GOV.UK</title>",
			`<h1 class="govuk-heading-l">Datganiad hygyrchedd ar gyfer Archebu llyfryn gwybodaeth etholiad</h1>`,
			`href="https://booklets.testshire.example.org/" id="service-url">`,
			"Swyddfa’r Swyddog Canlyniadau ar gyfer Sir Brawf sy’n rhedeg y gwasanaeth hwn.",
			`<li>dros y ffôn ar 0808 157 0456 (<span lang="en">Every day, 8am to 8pm</span>)</li>`,
			`<li>drwy’r post, gan ysgrifennu at <span lang="en">Booklets Team</span>, <span lang="en">Town Hall</span>, <span lang="en">Testtown</span>, <span lang="en">ZZ9 9ZZ</span></li>`,
			`<a class="govuk-link" href="/cy/contact#order-another-way">Rhagor o wybodaeth am archebu mewn ffordd arall</a>.`,
			"<li>ffoniwch 020 7946 0123 (Dydd Llun i ddydd Iau, 10am i 4pm)</li>",
			`id="report-email">booklets@testshire.example.org</a> neu <a class="govuk-link" href="/cy/contact">cysylltwch â ni mewn ffordd arall</a>.`,
			"Mae Swyddfa’r Swyddog Canlyniadau ar gyfer Sir Brawf wedi ymrwymo",
			"cyn i’r gwasanaeth adael y cyfnod Alffa,",
			"Paratowyd y datganiad hwn ar 4 Rhagfyr 2026.",
		},
		notInWelsh: []string{"Accessibility statement", "by phone", "Alpha", "December", "Office of the Returning Officer", "Monday"},
	}})

	live := welshIdentity()
	live.Phase = ""
	f = newFixture(t, func(c *testConfig) { c.Identity = live })
	checkPages(t, f, []pageCheck{{
		path: "/accessibility", status: http.StatusOK,
		english: []string{"before the service leaves its current phase, and"},
		welsh:   []string{"cyn i’r gwasanaeth adael ei gyfnod presennol, a"},
	}})
}

package public

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// privacyWelshIdentity is testIdentity with the Welsh twins of its names and
// address, as a bilingual organisation's file gives them.
func privacyWelshIdentity() Identity {
	id := testIdentity()
	id.DataControllerCY = "Swyddfa Swyddog Canlyniadau Swydd Brawf"
	id.DPO.NameCY = "Jo Bloggs, Swyddog Diogelu Data"
	id.Contact.PostalAddressCY = []string{"Tîm y Llyfrynnau", "Neuadd y Dref", "Trebrawf", "ZZ9 9ZZ"}
	return id
}

// privacyGet fetches a page and fails the test unless it is a 200.
func privacyGet(t *testing.T, f *fixture, path string) string {
	t.Helper()
	w := f.do(httptest.NewRequest("GET", path, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, w.Code, w.Body)
	}
	return w.Body.String()
}

// privacyWant fails for each want the page lacks and each unwanted text it has.
func privacyWant(t *testing.T, name, page string, wants, unwanted []string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(page, w) {
			t.Errorf("%s lacks %q", name, w)
		}
	}
	for _, u := range unwanted {
		if strings.Contains(page, u) {
			t.Errorf("%s has %q", name, u)
		}
	}
}

// TestPrivacyNoticeInWelsh: /cy/privacy is the whole notice in Welsh, its
// links stay on the Welsh pages, and it names the organisation, the data
// protection officer and the address in Welsh where the identity gives
// them; /privacy is unchanged in English (issue 18).
func TestPrivacyNoticeInWelsh(t *testing.T) {
	f := newFixture(t, func(c *testConfig) { c.Identity = privacyWelshIdentity() })
	cy := privacyGet(t, f, "/cy/privacy")
	privacyWant(t, "/cy/privacy", cy, []string{
		`<title>Hysbysiad preifatrwydd – `,
		`<h1 class="govuk-heading-l">Hysbysiad preifatrwydd</h1>`,
		`<h2 class="govuk-heading-m">Pwy ydym ni</h2>`,
		`id="data-controller">Mae Swyddfa Swyddog Canlyniadau Swydd Brawf yn rhedeg y gwasanaeth hwn a dyma’r rheolydd data`,
		`<h2 class="govuk-heading-m">Eich hawliau</h2>`,
		`gwyno i Swyddfa’r Comisiynydd Gwybodaeth (ICO)`,
		`Erthygl 6(1)(a) GDPR y DU`,
		"bob 2 flynedd",
		"30 diwrnod gwaith",
		`Cysylltwch â’n swyddog diogelu data, Jo Bloggs, Swyddog Diogelu Data, ynglŷn â’ch data`,
		`E-bost: <a class="govuk-link" href="mailto:dpo@testshire.example.org">dpo@testshire.example.org</a><br>`,
		"Post: Jo Bloggs, Swyddog Diogelu Data, Tîm y Llyfrynnau, Neuadd y Dref, Trebrawf, ZZ9 9ZZ</p>",
		// Every link of the notice in Welsh; the in-page link is named
		// as the heading it goes to.
		`href="/cy/cookies">dudalen cwcis</a>`,
		`href="/cy/research/withdraw">dudalen tynnu’n ôl</a>`,
		`href="/cy/contact">cysylltu â ni</a>`,
		`href="#research">Os byddwch yn cofrestru ar gyfer ymchwil defnyddwyr</a>`,
		`id="research">Os byddwch yn cofrestru ar gyfer ymchwil defnyddwyr</h2>`,
		`href="https://ico.org.uk/make-a-complaint/"`,
		`<a href="/cy" class="govuk-back-link">Yn ôl</a>`,
	}, []string{
		// No English left on the Welsh page: the headings, and the
		// identity's English names, which have their Welsh here.
		"Privacy notice", "Who we are", "What we collect", "Your rights", "Complain to the ICO",
		"Office of the Returning Officer for Testshire", "Data Protection Officer", "Town Hall", `lang="en">`,
	})

	en := privacyGet(t, f, "/privacy")
	privacyWant(t, "/privacy", en, []string{
		`<title>Privacy notice – Order an election information booklet – GOV.UK</title>`,
		`<h1 class="govuk-heading-l">Privacy notice</h1>`,
		`id="data-controller">Office of the Returning Officer for Testshire runs this service and is the data controller for your personal data: it decides how and why your data is used and is responsible for protecting it.</p>`,
		`read about it on the <a class="govuk-link" href="/cookies">cookies page</a>.`,
		`on the <a class="govuk-link" href="/research/withdraw">withdrawal page</a>, with the code`,
		`For anything else, see <a class="govuk-link" href="/contact">contact us</a>.`,
		`Contact our data protection officer, Jo Bloggs, Data Protection Officer, about your data, your rights or this notice:`,
		"Post: Jo Bloggs, Data Protection Officer, Booklets Team, Town Hall, Testtown, ZZ9 9ZZ</p>",
		"complain to the Information Commissioner's Office (ICO)</li>",
		"We delete your name and address at the end of the day you order, once we have sent the day's orders to the print partner.",
	}, []string{"Swyddfa", "Swyddog", "Tîm y Llyfrynnau", `lang="en">`})

	// An identity without Welsh names: the Welsh page shows the English
	// ones marked as English, for screen readers.
	plain := newFixture(t, func(c *testConfig) { c.Identity = testIdentity() })
	privacyWant(t, "/cy/privacy without Welsh names", privacyGet(t, plain, "/cy/privacy"), []string{
		`id="data-controller">Mae <span lang="en">Office of the Returning Officer for Testshire</span> yn rhedeg`,
		`Post: <span lang="en">Jo Bloggs, Data Protection Officer</span>, <span lang="en">Booklets Team</span>, `,
	}, nil)
	privacyNoneMissing(t, f, plain)
}

// TestCookiesPageInWelsh: /cy/cookies is in Welsh, names the cookie as it
// is set (answersCookie) and counts the answers' minutes with Welsh's
// plural forms; /cookies is unchanged in English (issue 18).
func TestCookiesPageInWelsh(t *testing.T) {
	for _, c := range []struct {
		ttl        time.Duration
		cy, en     string
		cyAfter    string
		enUnwanted string
	}{
		{25 * time.Minute, "i ben 25 munud ar ôl y dudalen olaf", "expire 25 minutes after the last page you opened or sent",
			"Os na fyddwch yn parhau am 25 munud,", "25 minute "},
		// Welsh softens munud to funud after two (dau funud).
		{2 * time.Minute, "i ben 2 funud ar ôl y dudalen olaf", "expire 2 minutes after the last page",
			"Os na fyddwch yn parhau am 2 funud,", "2 minute "},
		{time.Minute, "i ben 1 munud ar ôl y dudalen olaf", "expire 1 minute after the last page",
			"Os na fyddwch yn parhau am 1 munud,", "1 minutes"},
	} {
		f := newFixture(t, func(cfg *testConfig) { cfg.Identity = testIdentity(); cfg.StateTTL = c.ttl })
		cy := privacyGet(t, f, "/cy/cookies")
		privacyWant(t, "/cy/cookies "+c.ttl.String(), cy, []string{
			`<title>Cwcis – `,
			`<h1 class="govuk-heading-l">Cwcis</h1>`,
			"Ffeiliau bach yw cwcis",
			`<h2 class="govuk-heading-m">Cwcis sy’n gwbl angenrheidiol</h2>`,
			`<dt class="govuk-summary-list__key">Enw</dt>`,
			"<code>" + answersCookie + "</code>",
			"(mae’n HttpOnly)", "(mae’n Secure)", "(mae’n SameSite=Strict)", "(mae’n gwci sesiwn)",
			c.cy, c.cyAfter,
			`<a href="/cy" class="govuk-back-link">Yn ôl</a>`,
		}, []string{"Strictly necessary", "The cookie we use", "Purpose", "minutes", "session cookie"})

		en := privacyGet(t, f, "/cookies")
		privacyWant(t, "/cookies "+c.ttl.String(), en, []string{
			`<title>Cookies – Order an election information booklet – GOV.UK</title>`,
			`<h1 class="govuk-heading-l">Cookies</h1>`,
			"<code>" + answersCookie + "</code>",
			"is deleted when you close your browser (it is a session cookie)",
			`<dt class="govuk-summary-list__key">Expires</dt>`,
			c.en,
		}, []string{c.enUnwanted, "Cwcis", "munud"})
		privacyNoneMissing(t, f)
	}
}

// TestPrivacyAndCookiesWelshLinks: every address on the two Welsh pages
// that is a page of the service keeps the /cy prefix (the assets and the
// toggle back to English aside).
func TestPrivacyAndCookiesWelshLinks(t *testing.T) {
	f := newFixture(t, func(c *testConfig) { c.Identity = privacyWelshIdentity() })
	links := regexp.MustCompile(`(?:href|action)="(/[^"]*)"`)
	for _, p := range []string{"/cy/privacy", "/cy/cookies"} {
		page := privacyGet(t, f, p)
		for _, m := range links.FindAllStringSubmatch(page, -1) {
			if u := m[1]; !strings.HasPrefix(u, "/cy") && !strings.HasPrefix(u, "/assets/") && u != strings.TrimPrefix(p, "/cy") {
				t.Errorf("%s links to %s, out of Welsh", p, u)
			}
		}
	}
	privacyNoneMissing(t, f)
}

// privacyNoneMissing fails for any message the fixtures' pages asked for and the
// catalogues do not have, in either language.
func privacyNoneMissing(t *testing.T, fs ...*fixture) {
	t.Helper()
	for _, f := range fs {
		f.srv.catalogues.missing.Range(func(k, _ any) bool {
			t.Errorf("missing from the catalogues: %v", k)
			return true
		})
	}
}

package public

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testIdentity is a complete identity unlike the default in every field.
func testIdentity() Identity {
	return Identity{
		DataController: "Office of the Returning Officer for Testshire",
		DPO:            DPO{Name: "Jo Bloggs, Data Protection Officer", Email: "dpo@testshire.example.org"},
		Contact: Contact{
			Email:         "booklets@testshire.example.org",
			Phone:         "020 7946 0123",
			OpeningHours:  "Monday to Thursday, 10am to 4pm",
			PostalAddress: []string{"Booklets Team", "Town Hall", "Testtown", "ZZ9 9ZZ"},
		},
		AlternativeOrder: AlternativeOrder{Phone: "0808 157 0456", OpeningHours: "Every day, 8am to 8pm"},
		FeedbackURL:      "https://feedback.testshire.example.org/booklets?from=banner",
		Phase:            "alpha",
		ServiceURL:       "https://booklets.testshire.example.org/",
	}
}

func TestIdentityDefault(t *testing.T) {
	id := DefaultIdentity()
	if err := id.Validate(); err != nil {
		t.Fatalf("the default identity is invalid: %v", err)
	}
	if !id.Example {
		t.Error("the default identity is not marked as an example")
	}
	got, err := LoadIdentity("")
	if err != nil || !got.Example || got.DataController != id.DataController {
		t.Errorf(`LoadIdentity("") = %+v, %v; want the default`, got, err)
	}
	// The placeholders of before issue 17 must not come back.
	all := strings.Join(append([]string{id.DataController, id.DPO.Email, id.Contact.Email}, id.Contact.PostalAddress...), "\n")
	for _, old := range []string{"booklets.example\n", "PO Box 123", "SW1A 2AA"} {
		if strings.Contains(all+"\n", old) {
			t.Errorf("the default identity still holds the old placeholder %q", old)
		}
	}
}

// The example shipped for operators (deploy/service-identity.json, which
// docker-compose.yml mounts) loads, and is not marked as the built-in one.
func TestIdentityExampleFile(t *testing.T) {
	path := filepath.Join("..", "..", "..", "..", "deploy", "service-identity.json")
	id, err := LoadIdentity(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	if id.Example {
		t.Error("an identity from a file is marked as the built-in example")
	}
	if id.DataController == "" || id.DPO.Email == "" || len(id.Contact.PostalAddress) < 2 ||
		id.AlternativeOrder.Phone == "" || !id.AlternativeOrder.Post || id.Phase != "beta" {
		t.Errorf("example file read as %+v", id)
	}
}

func TestIdentityInvalid(t *testing.T) {
	cases := []struct {
		field  string
		change func(*Identity)
	}{
		{"data_controller", func(id *Identity) { id.DataController = "" }},
		{"data_protection_officer.name", func(id *Identity) { id.DPO.Name = "" }},
		{"data_protection_officer.email", func(id *Identity) { id.DPO.Email = "" }},
		{"data_protection_officer.email", func(id *Identity) { id.DPO.Email = "dpo at example.org" }},
		{"data_protection_officer.email", func(id *Identity) { id.DPO.Email = "DPO <dpo@example.org>" }},
		{"contact.email", func(id *Identity) { id.Contact.Email = "help@localhost" }},
		{"contact.email", func(id *Identity) { id.Contact.Email = "help@example.org?subject=x" }},
		{"contact.email", func(id *Identity) { id.Contact.Email = "help?cc=x@example.org" }},
		{"contact.email", func(id *Identity) { id.Contact.Email = "help@example..org" }},
		{"contact.phone", func(id *Identity) { id.Contact.Phone = "" }},
		{"contact.phone", func(id *Identity) { id.Contact.Phone = "0800 CALL US" }},
		{"contact.phone", func(id *Identity) { id.Contact.Phone = "999" }},
		{"contact.opening_hours", func(id *Identity) { id.Contact.OpeningHours = "" }},
		{"contact.postal_address", func(id *Identity) { id.Contact.PostalAddress = []string{"Town Hall"} }},
		{"contact.postal_address_cy", func(id *Identity) { id.Contact.PostalAddressCY = []string{"Neuadd y Dref"} }},
		{"contact.postal_address_cy", func(id *Identity) { id.Contact.PostalAddressCY = []string{"Neuadd y Dref", "Trefprawf", "ZZ9 9ZY"} }},
		{"alternative_order.opening_hours_cy", func(id *Identity) {
			id.AlternativeOrder = AlternativeOrder{Post: true, OpeningHoursCY: "Bob dydd, 8am i 8pm"}
		}},
		{"alternative_order", func(id *Identity) { id.AlternativeOrder = AlternativeOrder{} }},
		{"alternative_order.phone", func(id *Identity) { id.AlternativeOrder.Phone = "+44 (0)20 7946 0123 ext 4" }},
		{"alternative_order.opening_hours", func(id *Identity) { id.AlternativeOrder.OpeningHours = "" }},
		{"feedback_url", func(id *Identity) { id.FeedbackURL = "" }},
		{"feedback_url", func(id *Identity) { id.FeedbackURL = "/feedback" }},
		{"feedback_url", func(id *Identity) { id.FeedbackURL = "javascript:alert(1)" }},
		{"feedback_url", func(id *Identity) { id.FeedbackURL = "ftp://example.org/feedback" }},
		{"service_url", func(id *Identity) { id.ServiceURL = "https://user:pw@example.org/" }},
		{"phase", func(id *Identity) { id.Phase = "live" }},
		{"phase", func(id *Identity) { id.Phase = "Beta" }},
	}
	for _, c := range cases {
		id := testIdentity()
		c.change(&id)
		err := id.Validate()
		var ie *IdentityError
		if !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%s: Validate() = %v, want an error naming %s", c.field, err, c.field)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.field+": ") {
			t.Errorf("%s: error %q does not start with the field", c.field, err)
		}
	}
	// What is allowed: live (no phase), post only, an international number.
	id := testIdentity()
	id.Phase = ""
	id.AlternativeOrder = AlternativeOrder{Post: true}
	id.Contact.Phone = "+44 20 7946 0123"
	if err := id.Validate(); err != nil {
		t.Errorf("a live identity ordering by post only: %v", err)
	}
	// The Welsh address's postcode may differ in case and spacing only.
	id = testIdentity()
	id.Contact.PostalAddressCY = []string{"Tîm Llyfrynnau", "Neuadd y Dref", "zz9  9zz"}
	if err := id.Validate(); err != nil {
		t.Errorf("a Welsh address with the postcode in lower case: %v", err)
	}
}

// TestIdentityIn: the words of the identity in a page's language. English
// pages show the English as it is (escaped); Welsh pages the Welsh where
// it is given, and otherwise the English marked lang="en".
func TestIdentityIn(t *testing.T) {
	id := testIdentity()
	id.DataController = "Testshire <Council> & Co"
	id.DataControllerCY = "Cyngor Sir Brawf"
	id.Contact.OpeningHoursCY = "Dydd Llun i ddydd Iau, 10am i 4pm"
	id.Contact.PostalAddressCY = []string{"Tîm Llyfrynnau", "Neuadd y Dref", "Trefbrawf", "ZZ9 9ZZ"}

	en := id.In(langEN)
	if en.DataController != "Testshire &lt;Council&gt; &amp; Co" || en.OpeningHours != "Monday to Thursday, 10am to 4pm" ||
		en.DPOName != "Jo Bloggs, Data Protection Officer" || en.OrderOpeningHours != "Every day, 8am to 8pm" {
		t.Errorf("In(en) = %+v", en)
	}
	if got := fmt.Sprint(en.PostalAddress); got != "[Booklets Team Town Hall Testtown ZZ9 9ZZ]" {
		t.Errorf("In(en).PostalAddress = %s", got)
	}
	if en.AddressLines() != "Booklets Team<br>Town Hall<br>Testtown<br>ZZ9 9ZZ" || en.AddressInline() != "Booklets Team, Town Hall, Testtown, ZZ9 9ZZ" {
		t.Errorf("In(en) address = %q, %q", en.AddressLines(), en.AddressInline())
	}

	cy := id.In(langCY)
	if cy.DataController != "Cyngor Sir Brawf" || cy.OpeningHours != "Dydd Llun i ddydd Iau, 10am i 4pm" {
		t.Errorf("In(cy) does not give the Welsh values: %+v", cy)
	}
	if got := fmt.Sprint(cy.PostalAddress); got != "[Tîm Llyfrynnau Neuadd y Dref Trefbrawf ZZ9 9ZZ]" {
		t.Errorf("In(cy).PostalAddress = %s", got)
	}
	// No Welsh given: the English, marked as English for screen readers.
	if cy.DPOName != `<span lang="en">Jo Bloggs, Data Protection Officer</span>` || cy.OrderOpeningHours != `<span lang="en">Every day, 8am to 8pm</span>` {
		t.Errorf("In(cy) without Welsh values = %q, %q", cy.DPOName, cy.OrderOpeningHours)
	}
	id.DataControllerCY, id.Contact.PostalAddressCY = "", nil
	cy = id.In(langCY)
	if cy.DataController != `<span lang="en">Testshire &lt;Council&gt; &amp; Co</span>` || cy.PostalAddress[1] != `<span lang="en">Town Hall</span>` {
		t.Errorf("In(cy) without Welsh values = %q, %q", cy.DataController, cy.PostalAddress)
	}
	// Nothing to show stays nothing, not an empty span.
	id.AlternativeOrder = AlternativeOrder{Post: true}
	if got := id.In(langCY).OrderOpeningHours; got != "" {
		t.Errorf("In(cy).OrderOpeningHours without any = %q", got)
	}

	// The built-in example and the example file have every Welsh value.
	for name, id := range map[string]Identity{"default": DefaultIdentity(), "example file": exampleFile(t)} {
		c := id.In(langCY)
		for _, v := range append([]template.HTML{c.DataController, c.DPOName, c.OpeningHours, c.OrderOpeningHours}, c.PostalAddress...) {
			if v == "" || strings.Contains(string(v), `lang="en"`) {
				t.Errorf("%s: a Welsh value is missing: %q", name, v)
			}
		}
	}
}

// exampleFile is deploy/service-identity.json, loaded.
func exampleFile(t *testing.T) Identity {
	t.Helper()
	path := filepath.Join("..", "..", "..", "..", "deploy", "service-identity.json")
	id, err := LoadIdentity(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return id
}

func TestIdentityFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"data_controller": " Testshire Council ", "data_controller_cy": " Cyngor Sir Brawf ",
	  "data_protection_officer": {"name": "DPO", "name_cy": "Swyddog Diogelu Data", "email": "dpo@testshire.example.org"},
	  "contact": {"email": "help@testshire.example.org", "phone": "020 7946 0123", "opening_hours": "9 to 5",
	    "opening_hours_cy": "9 tan 5", "postal_address": ["Town Hall", "", "ZZ9 9ZZ"], "postal_address_cy": ["Neuadd y Dref ", "ZZ9 9ZZ"]},
	  "alternative_order": {"post": true},
	  "feedback_url": "https://testshire.example.org/feedback", "phase": "", "service_url": "https://booklets.testshire.example.org/"}`
	id, err := LoadIdentity(write("good.json", good))
	if err != nil {
		t.Fatalf("load a good file: %v", err)
	}
	if id.DataController != "Testshire Council" || strings.Join(id.Contact.PostalAddress, "|") != "Town Hall|ZZ9 9ZZ" || id.Example {
		t.Errorf("good file read as %+v", id)
	}
	if id.DataControllerCY != "Cyngor Sir Brawf" || id.DPO.NameCY != "Swyddog Diogelu Data" || id.Contact.OpeningHoursCY != "9 tan 5" ||
		strings.Join(id.Contact.PostalAddressCY, "|") != "Neuadd y Dref|ZZ9 9ZZ" {
		t.Errorf("good file's Welsh read as %+v", id)
	}

	for name, c := range map[string]struct{ content, want string }{
		"misspelt field": {strings.Replace(good, `"feedback_url"`, `"feedback_link"`, 1), `unknown field "feedback_link"`},
		"two values":     {good + `{}`, "more than one value"},
		"not JSON":       {"phase: beta", "not valid JSON"},
		"bad phase":      {strings.Replace(good, `"phase": ""`, `"phase": "gamma"`, 1), `phase: "gamma" is not a phase`},
		"example flag":   {strings.Replace(good, `"phase": ""`, `"phase": "", "Example": true`, 1), `unknown field "Example"`},
		"Welsh postcode": {strings.Replace(good, `"Neuadd y Dref ", "ZZ9 9ZZ"`, `"Neuadd y Dref", "ZZ9 9ZY"`, 1), `contact.postal_address_cy: ends with "ZZ9 9ZY"`},
	} {
		p := write(strings.ReplaceAll(name, " ", "-")+".json", c.content)
		_, err := LoadIdentity(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: LoadIdentity = %v, want an error naming the file and saying %q", name, err, c.want)
		}
	}
	if _, err := LoadIdentity(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("a missing file was accepted")
	}
}

// New refuses an invalid identity rather than show it.
func TestIdentityConfigChecked(t *testing.T) {
	id := testIdentity()
	id.Contact.Email = "not an address"
	f := newFixture(t, nil)
	cfg := Config{Orders: f.place, Catalogue: f.srv.catalogue, Secret: testSecret, Identity: id}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "contact.email") {
		t.Errorf("New with an invalid identity = %v, want an error naming contact.email", err)
	}
}

// TestIdentityPages checks that every page shows the configured identity:
// the phase banner and feedback link, mailto links for every address, the
// data controller and DPO in the privacy notice, the contact page.
func TestIdentityPages(t *testing.T) {
	id := testIdentity()
	f := newFixture(t, func(c *testConfig) { c.Identity = id; c.StateTTL = 25 * time.Minute })
	get := func(path string) string {
		t.Helper()
		w := f.do(httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(w.Result().Body)
		if path != "/no-such-page" && w.Code != 200 {
			t.Fatalf("GET %s: %d", path, w.Code)
		}
		return string(b)
	}
	mailto := regexp.MustCompile(`href="mailto:([^"]+)"`)
	for _, path := range []string{"/", "/privacy", "/cookies", "/accessibility", "/contact", "/no-such-page"} {
		page := get(path)
		for _, want := range []string{
			`<strong class="govuk-tag govuk-phase-banner__content__tag">Alpha</strong>`,
			`href="https://feedback.testshire.example.org/booklets?from=banner" id="phase-feedback"`,
			`<a class="govuk-footer__link" href="/contact">Contact us</a>`,
			`class="govuk-header__homepage-link"`,
			`class="govuk-service-navigation__link">Order an election information booklet</a>`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %s", path, want)
			}
		}
		if strings.Contains(page, "example-identity") {
			t.Errorf("%s warns of the example identity although one was configured", path)
		}
		// Every e-mail address shown is a mailto: link to itself.
		for _, m := range regexp.MustCompile(`[\w.+-]+@[\w.-]+\.\w+`).FindAllString(page, -1) {
			if !hasMailto(mailto.FindAllStringSubmatch(page, -1), m) {
				t.Errorf("%s shows %s without a mailto: link", path, m)
			}
		}
	}
	wants := map[string][]string{
		"/": {`href="/status">Check or cancel an order</a>`, "You can also order by phone.", `href="/contact#order-another-way"`},
		"/contact": {
			`href="mailto:booklets@testshire.example.org" id="contact-email">booklets@testshire.example.org</a>`,
			`Telephone: 020 7946 0123<br>Monday to Thursday, 10am to 4pm`,
			`Booklets Team<br>Town Hall<br>Testtown<br>ZZ9 9ZZ`,
			`By phone: 0808 157 0456<br>Every day, 8am to 8pm`,
			`href="https://feedback.testshire.example.org/booklets?from=banner" id="contact-feedback"`,
			`href="https://ico.org.uk/make-a-complaint/"`,
			`href="mailto:dpo@testshire.example.org"`,
			`<a href="/" class="govuk-back-link">Back</a>`,
		},
		"/privacy": {
			`Office of the Returning Officer for Testshire runs this service and is the data controller`,
			`Jo Bloggs, Data Protection Officer`,
			`href="mailto:dpo@testshire.example.org"`,
			`href="https://ico.org.uk/make-a-complaint/"`,
			`<a href="/" class="govuk-back-link">Back</a>`,
		},
		"/cookies": {"<code>booklets_answers</code>", "expire 25 minutes after the last page", "HttpOnly", "SameSite=Strict", "Secure", "session cookie",
			`<a href="/" class="govuk-back-link">Back</a>`},
		"/accessibility": {
			`href="https://booklets.testshire.example.org/" id="service-url"`,
			"Web Content Accessibility Guidelines version 2.2</a> AA standard",
			"by phone on 0808 157 0456 (Every day, 8am to 8pm)",
			`href="https://www.equalityadvisoryservice.com/"`,
			`href="mailto:booklets@testshire.example.org" id="report-email"`,
			"before the service leaves Alpha",
			`<a href="/" class="govuk-back-link">Back</a>`,
		},
	}
	for path, ws := range wants {
		page := get(path)
		for _, want := range ws {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %s", path, want)
			}
		}
	}
	if page := get("/"); strings.Contains(page, "by post") {
		t.Error("the start page offers ordering by post, which this identity does not")
	}
	if page := get("/contact"); strings.Contains(page, `id="order-by-post"`) {
		t.Error("the contact page offers ordering by post, which this identity does not")
	}

	// Live: no phase banner. The default identity is marked as an example.
	live := newFixture(t, func(c *testConfig) { c.Identity = id; c.Identity.Phase = "" })
	w := live.do(httptest.NewRequest("GET", "/", nil))
	if body, _ := io.ReadAll(w.Result().Body); strings.Contains(string(body), "govuk-phase-banner") {
		t.Error("a live service shows a phase banner")
	}
	def := newFixture(t, nil)
	for path, email := range map[string]string{"/contact": DefaultIdentity().Contact.Email, "/privacy": DefaultIdentity().DPO.Email} {
		w := def.do(httptest.NewRequest("GET", path, nil))
		body, _ := io.ReadAll(w.Result().Body)
		if !strings.Contains(string(body), `id="example-identity"`) || !strings.Contains(string(body), `href="mailto:`+email+`"`) {
			t.Errorf("%s with the default identity does not say that its details are an example", path)
		}
	}
}

// hasMailto tells whether one of the mailto: matches is addr.
func hasMailto(matches [][]string, addr string) bool {
	for _, m := range matches {
		if m[1] == addr {
			return true
		}
	}
	return false
}

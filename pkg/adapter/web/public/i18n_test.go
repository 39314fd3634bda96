package public

import (
	"io/fs"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
)

// TestCataloguesMatch: every message is in both catalogues, English and
// Welsh (a text added in one language only fails here, before a Welsh
// page falls back to English).
func TestCataloguesMatch(t *testing.T) {
	en, err := messageIDs(langEN)
	if err != nil {
		t.Fatal(err)
	}
	cy, err := messageIDs(langCY)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range en {
		if !slices.Contains(cy, id) {
			t.Errorf("%s is in the English catalogue and not in the Welsh", id)
		}
	}
	for _, id := range cy {
		if !slices.Contains(en, id) {
			t.Errorf("%s is in the Welsh catalogue and not in the English", id)
		}
	}
	if len(en) < 100 {
		t.Fatalf("en.toml has %d messages: not the catalogue of the whole service", len(en))
	}
}

// wordsAllowed are the only words a template may hold outside the
// catalogues: the brand, and the language toggle's two names, each always
// written in its own language.
var wordsAllowed = []string{"GOV.UK", "English", "Cymraeg"}

var (
	templateActions = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	htmlComments    = regexp.MustCompile(`(?s)<!--.*?-->`)
	htmlTags        = regexp.MustCompile(`(?s)<[^>]*>`)
	// Attributes a person reads or hears.
	readAttributes = regexp.MustCompile(`(?i)\s(aria-label|alt|title|placeholder|value|content)="([^"]*)"`)
	letters        = regexp.MustCompile(`\pL{2,}`)
)

// TestTemplatesHaveNoWordsOfTheirOwn: every word a person reads on a
// public page comes from the catalogues. A template with English (or any
// words) of its own fails, naming them.
func TestTemplatesHaveNoWordsOfTheirOwn(t *testing.T) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		b, err := templateFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		src := htmlComments.ReplaceAllString(templateActions.ReplaceAllString(string(b), " "), " ")
		var found []string
		for _, m := range readAttributes.FindAllStringSubmatch(src, -1) {
			if strings.EqualFold(m[1], "content") || strings.EqualFold(m[1], "value") {
				continue // meta content and form values are not words to read
			}
			found = append(found, letters.FindAllString(m[2], -1)...)
		}
		found = append(found, letters.FindAllString(htmlTags.ReplaceAllString(src, " "), -1)...)
		var own []string
		for _, w := range found {
			allowed := false
			for _, a := range wordsAllowed {
				if strings.Contains(a, w) {
					allowed = true
				}
			}
			if !allowed {
				own = append(own, w)
			}
		}
		if len(own) > 0 {
			t.Errorf("%s has words outside the catalogues: %s", name, strings.Join(own, " "))
		}
	}
}

// TestEveryValidationMessageInWelsh: each message the order's validation
// can give has its Welsh, found by its English words.
func TestEveryValidationMessageInWelsh(t *testing.T) {
	f := newFixture(t, nil)
	long := strings.Repeat("a", 200)
	drafts := []order.Draft{
		{},
		{Area: "nowhere", Formats: []string{"paper"}, Languages: []string{"fr"}, Name: "1234", AddressLine1: "\u3164", AddressLine2: "\u3164", Town: "\u3164", Postcode: "BFPO 801"},
		{Area: "staffordshire", Formats: []string{"audio"}, Languages: []string{"cy"}, Name: long, AddressLine1: long, AddressLine2: long, Town: long, Postcode: "XX"},
		{Name: "\u3164"},
	}
	seen := map[string]bool{}
	for _, d := range drafts {
		_, err := d.Validate(catalogue.Default())
		for _, fe := range errorsFor(err, []string{order.FieldArea, order.FieldFormats, order.FieldLanguages, order.FieldName,
			order.FieldAddressLine1, order.FieldAddressLine2, order.FieldTown, order.FieldPostcode}) {
			seen[fe.Message] = true
		}
	}
	if len(seen) < 15 {
		t.Fatalf("the drafts gave only %d messages", len(seen))
	}
	for msg := range seen {
		id, ok := f.srv.catalogues.validation[msg]
		if !ok {
			t.Errorf("no catalogue message for %q", msg)
			continue
		}
		if cy := f.srv.catalogues.text(langCY, id); cy == msg || cy == id {
			t.Errorf("%s has no Welsh", id)
		}
	}
}

// TestWelshPages: every public page under /cy is in Welsh (lang="cy", no
// message missing in Welsh), its links stay in Welsh, and the toggle
// links to the same page in English, each language named in its own.
func TestWelshPages(t *testing.T) {
	f := newFixture(t, nil)
	v := f.visitor(t)
	v.submit("/cy/order/postcode", formOf("postcode", "LD1 5LG"))
	v.submit("/cy/order/booklet", formOf("area", "dyfed-powys", "formats", "audio"))
	v.submit("/cy/order/language", formOf("language", "cy"))
	w, path := v.submit("/cy/order/address", formOf("name", "Siân", "address_line_1", "1 Heol y Bont", "town", "Llandrindod", "postcode", "LD1 5LG"))
	if path != "/cy/order/check" {
		t.Fatalf("the Welsh journey went to %s: %s", path, w.Body)
	}
	pages := []string{"/cy", "/cy/order/postcode", "/cy/order/booklet", "/cy/order/language", "/cy/order/address", "/cy/order/check",
		"/cy/order/timed-out", "/cy/privacy", "/cy/cookies", "/cy/accessibility", "/cy/contact", "/cy/no-such-page"}
	for _, p := range pages {
		w, _ := v.get(p)
		body := w.Body.String()
		if !strings.Contains(body, `<html lang="cy"`) {
			t.Errorf("%s is not lang=cy", p)
		}
		english := strings.TrimPrefix(p, "/cy")
		if english == "" {
			english = "/"
		}
		if !strings.Contains(body, `href="`+english+`" hreflang="en" lang="en"`) {
			t.Errorf("%s has no toggle to %s", p, english)
		}
		for _, m := range regexp.MustCompile(`(?:href|action|formaction)="(/[^"]*)"`).FindAllStringSubmatch(body, -1) {
			if u := m[1]; !strings.HasPrefix(u, "/cy") && !strings.HasPrefix(u, "/assets/") && u != english {
				t.Errorf("%s links to %s, out of Welsh", p, u)
			}
		}
	}
	// The Welsh error summary and the plural of the minutes.
	w, _ = v.submit("/cy/order/postcode", formOf("postcode", ""))
	wantPage(t, "Welsh postcode with errors", w, http.StatusOK, "Mae problem wedi codi", "Rhowch god post", "Gwall:")
	var missing []string
	f.srv.catalogues.missing.Range(func(k, _ any) bool { missing = append(missing, k.(string)); return true })
	if len(missing) > 0 {
		t.Errorf("texts missing from the catalogues: %v", missing)
	}
}

// TestProblemsInWelsh: the API answers in Welsh when the client prefers
// Welsh (Accept-Language), its words only: type, status and fields stay.
func TestProblemsInWelsh(t *testing.T) {
	f := newFixture(t, nil)
	post := func(acceptLanguage string) (problem, http.Header) {
		r := newRequest("POST", "/api/v1/orders", `{"area":"","formats":[],"name":"","address_line_1":"","town":"","postcode":""}`)
		r.Header.Set("Content-Type", "application/json")
		if acceptLanguage != "" {
			r.Header.Set("Accept-Language", acceptLanguage)
		}
		w := f.do(r)
		var p problem
		jsonUnmarshal(t, w.Body.Bytes(), &p)
		return p, w.Header()
	}
	en, h := post("")
	if en.Title != "The order has invalid fields" || h.Get("Content-Language") != "en" {
		t.Errorf("English problem = %+v, Content-Language %q", en, h.Get("Content-Language"))
	}
	for _, al := range []string{"cy", "cy-GB", "cy,en;q=0.5"} {
		cy, h := post(al)
		if cy.Title != "Mae meysydd annilys yn yr archeb" || cy.Type != en.Type || cy.Status != en.Status || h.Get("Content-Language") != "cy" {
			t.Errorf("%s: Welsh problem = %+v, Content-Language %q", al, cy, h.Get("Content-Language"))
		}
		if len(cy.Errors) != len(en.Errors) || cy.Errors[0].Field != en.Errors[0].Field || cy.Errors[0].Message == en.Errors[0].Message {
			t.Errorf("%s: Welsh errors = %+v", al, cy.Errors)
		}
	}
	if p, _ := post("en,cy;q=0.5"); p.Title != en.Title {
		t.Errorf("preferring English gave %q", p.Title)
	}
}

package public

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"booklets/pkg/stage/research"
	"booklets/pkg/testkit/testenv"
)

// welshLinks checks that every link and form of a Welsh page stays in
// Welsh (the toggle to English apart) and that the toggle leads to the
// same page in English.
func welshLinks(t *testing.T, name, body, english string) {
	t.Helper()
	if !strings.Contains(body, `<html lang="cy"`) {
		t.Errorf("%s is not lang=cy", name)
	}
	if !strings.Contains(body, `href="`+english+`" hreflang="en" lang="en"`) {
		t.Errorf("%s has no toggle to %s", name, english)
	}
	for _, m := range regexp.MustCompile(`(?:href|action|formaction)="(/[^"]*)"`).FindAllStringSubmatch(body, -1) {
		if u := m[1]; !strings.HasPrefix(u, "/cy") && !strings.HasPrefix(u, "/assets/") && u != english {
			t.Errorf("%s links to %s, out of Welsh", name, u)
		}
	}
}

// TestResearchInWelsh: the research pages under /cy are in Welsh, the
// consent statement too, and the entry records the Welsh version, so it is
// known which words the person agreed to; errors are in Welsh; every link,
// form and redirect stays in Welsh; the English pages are unchanged.
func TestResearchInWelsh(t *testing.T) {
	t.Parallel()
	f, db := researchFixture(t)
	versions := func() map[string]int {
		t.Helper()
		rows, err := db.Query(context.Background(), `SELECT consent_version, count(*) FROM research.volunteers GROUP BY 1`)
		testenv.Must(t, err)
		got := map[string]int{}
		for rows.Next() {
			var v string
			var n int
			testenv.Must(t, rows.Scan(&v, &n))
			got[v] = n
		}
		testenv.Must(t, rows.Err())
		return got
	}

	// The sign-up page: Welsh words, the Welsh statement and its version.
	w := f.do(newRequest("GET", "/cy/research", ""))
	body := w.Body.String()
	wantPage(t, "/cy/research", w, http.StatusOK,
		"<title>Cymryd rhan mewn ymchwil defnyddwyr –",
		`<h1 class="govuk-heading-l">Cymryd rhan mewn ymchwil defnyddwyr</h1>`,
		research.ConsentTextWelsh,
		`name="consent_version" value="`+research.ConsentVersionWelsh+`"`,
		`action="/cy/research/sign-up"`, `href="/cy/research/withdraw"`, `href="/cy/privacy#research"`,
		"Cofrestru ar gyfer ymchwil defnyddwyr", "Eich caniatâd")
	welshLinks(t, "/cy/research", body, "/research")
	if strings.Contains(body, research.ConsentText) || strings.Contains(body, "Take part in user research") {
		t.Error("/cy/research shows English")
	}

	// The English page keeps its words, its statement and its version.
	w = f.do(newRequest("GET", "/research", ""))
	wantPage(t, "/research", w, http.StatusOK, "<title>Take part in user research –", research.ConsentText,
		`name="consent_version" value="`+research.ConsentVersion+`"`, `action="/research/sign-up"`,
		`href="/research/withdraw"`, `href="/privacy#research"`, "Sign up for user research", `<html lang="en"`)
	if strings.Contains(w.Body.String(), research.ConsentTextWelsh) {
		t.Error("/research shows the Welsh statement")
	}

	// A GET of the Welsh sign-up's action goes back to the Welsh page.
	if w := f.do(newRequest("GET", "/cy/research/sign-up", "")); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/cy/research" {
		t.Errorf("GET /cy/research/sign-up: %d %q", w.Code, w.Header().Get("Location"))
	}

	// Errors in Welsh, in the summary and at the fields.
	w = f.postForm("/cy/research/sign-up", formOf("research_email", "sian@example", "consent_version", research.ConsentVersionWelsh))
	body = w.Body.String()
	wantPage(t, "Welsh sign-up with errors", w, http.StatusOK,
		"<title>Gwall: Cymryd rhan mewn ymchwil defnyddwyr", "Mae problem wedi codi",
		"Rhowch gyfeiriad e-bost yn y fformat cywir, fel enw@example.com",
		"Dewiswch eich bod yn cytuno i ni gysylltu â chi am ymchwil defnyddwyr",
		`<span class="govuk-visually-hidden">Gwall:</span>`, `value="sian@example"`, research.ConsentTextWelsh)
	welshLinks(t, "Welsh sign-up with errors", body, "/research/sign-up")
	if strings.Contains(body, research.MsgEmailFormat) || strings.Contains(body, research.MsgConsent) {
		t.Error("the Welsh page shows English errors")
	}

	// A statement answered in English, posted to the Welsh page (the
	// language changed in between), must be read again in Welsh: the box
	// comes back unticked, with the Welsh version.
	w = f.postForm("/cy/research/sign-up", formOf("research_email", "sian@example", "research_consent", "yes",
		"consent_version", research.ConsentVersion))
	if body := w.Body.String(); strings.Contains(body, `value="yes" checked`) ||
		!strings.Contains(body, `value="`+research.ConsentVersionWelsh+`"`) {
		t.Errorf("the box stays ticked for another language's wording:\n%s", body)
	}

	// Signing up in Welsh records the Welsh version; in English, the English.
	w = f.postForm("/cy/research/sign-up", formOf("research_name", "Siân Prys", "research_email", "sian@example.org",
		"research_consent", "yes", "consent_version", research.ConsentVersionWelsh))
	body = w.Body.String()
	wantPage(t, "Welsh signed up", w, http.StatusOK,
		"<title>Rydych wedi cofrestru ar gyfer ymchwil defnyddwyr –", "Eich cod tynnu’n ôl",
		`href="/cy/research/withdraw"`, "Rydym yn adolygu’r rhestr bob 2 flynedd")
	welshLinks(t, "Welsh signed up", body, "/research/sign-up")
	m := withdrawalCode.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no withdrawal code on the Welsh page:\n%s", body)
	}
	// A post without a version (not our form's) answered the page's words.
	f.postForm("/cy/research/sign-up", formOf("research_name", "Heb Fersiwn", "research_consent", "yes"))
	f.postForm("/research/sign-up", formOf("research_name", "Ann", "research_consent", "yes", "consent_version", research.ConsentVersion))
	if got := versions(); got[research.ConsentVersionWelsh] != 2 || got[research.ConsentVersion] != 1 || len(got) != 2 {
		t.Fatalf("consent versions stored: %v", got)
	}

	// Withdrawal in Welsh: the form, its error and the neutral answer.
	w = f.do(newRequest("GET", "/cy/research/withdraw", ""))
	wantPage(t, "/cy/research/withdraw", w, http.StatusOK,
		"<title>Rhoi’r gorau i gymryd rhan mewn ymchwil defnyddwyr –", `action="/cy/research/withdraw"`,
		"Dileu fy manylion", `href="/cy/privacy"`)
	welshLinks(t, "/cy/research/withdraw", w.Body.String(), "/research/withdraw")
	for typed, msg := range map[string]string{
		"":          "Rhowch eich cod tynnu’n ôl neu’r cyfeiriad e-bost y gwnaethoch gofrestru ag ef",
		"ABCD-EFGH": "Rhowch y cod tynnu’n ôl fel y cafodd ei ddangos, fel ABCD-EFGH-JKMN-PQRS",
	} {
		w = f.postForm("/cy/research/withdraw", formOf("withdraw", typed))
		wantPage(t, "Welsh withdrawal of "+typed, w, http.StatusOK, "<title>Gwall: Rhoi’r gorau", msg, `id="withdraw-error"`)
		welshLinks(t, "Welsh withdrawal with errors", w.Body.String(), "/research/withdraw")
	}
	w = f.postForm("/cy/research/withdraw", formOf("withdraw", m[1]))
	wantPage(t, "Welsh withdrawn", w, http.StatusOK, "<title>Mae eich cais wedi dod i law –",
		"Er mwyn diogelu eich preifatrwydd", `href="/cy"`)
	welshLinks(t, "Welsh withdrawn", w.Body.String(), "/research/withdraw")
	if got := versions(); got[research.ConsentVersionWelsh] != 1 {
		t.Errorf("after the Welsh withdrawal: %v", got)
	}

	// The Welsh confirmation page offers the sign-up in Welsh.
	v := f.visitor(t)
	v.submit("/cy/order/postcode", formOf("postcode", "LD1 5LG"))
	v.submit("/cy/order/booklet", formOf("area", "dyfed-powys", "formats", "audio"))
	v.submit("/cy/order/language", formOf("language", "cy"))
	if _, path := v.submit("/cy/order/address", formOf("name", "Siân", "address_line_1", "1 Heol y Bont", "town", "Llandrindod", "postcode", "LD1 5LG")); path != "/cy/order/check" {
		t.Fatalf("the Welsh journey went to %s", path)
	}
	w, path := v.submit("/cy/order/check", nil)
	body = w.Body.String()
	wantPage(t, "Welsh confirmation", w, http.StatusOK, "Helpwch ni i wella’r gwasanaeth hwn (dewisol)",
		`href="/cy/privacy#research"`, `action="/cy/research/sign-up"`, research.ConsentTextWelsh,
		`value="`+research.ConsentVersionWelsh+`"`)
	welshLinks(t, "Welsh confirmation", body, strings.TrimPrefix(path, "/cy"))

	var missing []string
	f.srv.catalogues.missing.Range(func(k, _ any) bool { missing = append(missing, k.(string)); return true })
	if len(missing) > 0 {
		t.Errorf("texts missing from the catalogues: %v", missing)
	}
}

// TestEveryResearchMessageInWelsh: each message the research validation
// can give (pkg/stage/research) has its Welsh, found by its exact English.
func TestEveryResearchMessageInWelsh(t *testing.T) {
	t.Parallel()
	cats, err := loadCatalogues()
	testenv.Must(t, err)
	var seen []string
	for _, d := range []research.Draft{
		{},
		{Name: strings.Repeat("a", 101), Email: strings.Repeat("a", 250) + "@example.org"},
		{Name: "Ann\nBob", Email: "ann@example", Consent: true, ConsentVersion: "research-consent-v0"},
	} {
		_, err := d.Validate()
		verr, ok := err.(research.ValidationError)
		if !ok {
			t.Fatalf("%v", err)
		}
		for _, fe := range verr {
			seen = append(seen, fe.Message)
		}
	}
	svc := research.NewService(nil) // malformed input never reaches the store
	for _, typed := range []string{"", "ABCD-EFGH", "a@b"} {
		verr, ok := svc.Withdraw(context.Background(), typed).(research.ValidationError)
		if !ok {
			t.Fatalf("Withdraw(%q) gave no validation error", typed)
		}
		seen = append(seen, verr[0].Message)
	}
	want := []string{research.MsgNameOrEmail, research.MsgNameTooLong, research.MsgNameInvalid, research.MsgEmailFormat,
		research.MsgEmailTooLong, research.MsgConsent, research.MsgConsentChange, research.MsgWithdrawEmpty, research.MsgCodeFormat}
	for _, msg := range want {
		found := false
		for _, s := range seen {
			found = found || s == msg
		}
		if !found {
			t.Errorf("the drafts never gave %q", msg)
		}
	}
	for _, msg := range seen {
		id, ok := cats.validation[msg]
		if !ok || !strings.HasPrefix(id, "validation.research.") {
			t.Errorf("no [validation.research] message for %q (%q)", msg, id)
			continue
		}
		if cy := cats.text(langCY, id); cy == msg || cy == id {
			t.Errorf("%s has no Welsh", id)
		}
	}
}

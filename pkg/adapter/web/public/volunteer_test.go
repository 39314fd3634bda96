package public

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/research"
	"booklets/pkg/testkit/testenv"
)

// researchFixture is a server with the research pages on, over the test's
// own database.
func researchFixture(t *testing.T) (*fixture, *pgxpool.Pool) {
	t.Helper()
	db, _ := testenv.MigratedPool(t)
	k := make([]byte, seal.KeySize)
	rand.Read(k)
	ring, err := seal.ParseRing("test-kek:" + base64.StdEncoding.EncodeToString(k))
	testenv.Must(t, err)
	f := newFixture(t, func(c *testConfig) { c.Volunteers = postgres.NewVolunteers(db, c.Clock, postgres.WithRing(ring)) })
	return f, db
}

// TestResearchSignUpSealed signs up through the form and finds the name
// and email in no row of the table (they are sealed under the entry's own
// key; pkg/adapter/postgres's TestContactSealedAtRest searches every copy).
func TestResearchSignUpSealed(t *testing.T) {
	t.Parallel()
	f, db := researchFixture(t)
	w := f.postForm("/research/sign-up", formOf("research_name", "Hermione Faircloth-Dunmore", "research_email", "Hermione.Faircloth@Example.org",
		"research_consent", "yes", "consent_version", research.ConsentVersion))
	if w.Code != 200 || withdrawalCode.FindStringSubmatch(w.Body.String()) == nil {
		t.Fatalf("sign up: %d\n%s", w.Code, w.Body)
	}
	var rows string
	testenv.Must(t, db.QueryRow(context.Background(), `SELECT string_agg(row_to_json(v)::text, E'\n') FROM research.volunteers v`).Scan(&rows))
	if !strings.Contains(rows, `"has_name":true,"has_email":true`) {
		t.Fatalf("no entry stored: %s", rows)
	}
	for _, p := range []string{"faircloth", "hermione", hex.EncodeToString([]byte("Faircloth"))} {
		if strings.Contains(strings.ToLower(rows), p) {
			t.Errorf("the table holds %q in clear", p)
		}
	}
}

func countVolunteers(t *testing.T, db *pgxpool.Pool) int {
	t.Helper()
	var n int
	testenv.Must(t, db.QueryRow(context.Background(), "SELECT count(*) FROM research.volunteers").Scan(&n))
	return n
}

var withdrawalCode = regexp.MustCompile(`<strong id="withdrawal-code">([^<]+)</strong>`)

func TestResearchSignUp(t *testing.T) {
	t.Parallel()
	f, db := researchFixture(t)
	ok := []struct {
		name, email string
	}{
		{"Zoë-Jane Nguyễn", ""},
		{"", "zoe.research@example.org"},
		{"Ann Other", "Ann.Other@Example.com"},
	}
	var codes []string
	for i, c := range ok {
		w := f.postForm("/research/sign-up", formOf("research_name", c.name, "research_email", c.email,
			"research_consent", "yes", "consent_version", research.ConsentVersion))
		body := w.Body.String()
		m := withdrawalCode.FindStringSubmatch(body)
		if w.Code != 200 || m == nil || strings.Contains(body, "govuk-error-summary") {
			t.Fatalf("sign-up %+v: %d\n%s", c, w.Code, body)
		}
		codes = append(codes, m[1])
		if n := countVolunteers(t, db); n != i+1 {
			t.Fatalf("after sign-up %d the table holds %d", i+1, n)
		}
		if !strings.Contains(w.Header().Get("Cache-Control"), "no-store") {
			t.Errorf("the code's page may be cached: %q", w.Header().Get("Cache-Control"))
		}
	}

	bad := []struct {
		what   string
		form   []string
		anchor []string
	}{
		{"neither", []string{"research_name", " ", "research_email", "", "research_consent", "yes"}, []string{"#research_name"}},
		{"bad email", []string{"research_name", "Ann", "research_email", "ann@example", "research_consent", "yes"}, []string{"#research_email"}},
		{"no consent", []string{"research_name", "Ann"}, []string{"#research_consent"}},
		{"neither and no consent", nil, []string{"#research_name", "#research_consent"}},
		{"old wording", []string{"research_name", "Ann", "research_consent", "yes", "consent_version", "research-consent-v0"}, []string{"#research_consent"}},
	}
	for _, c := range bad {
		w := f.postForm("/research/sign-up", formOf(c.form...))
		body := w.Body.String()
		if w.Code != 200 || !strings.Contains(body, "<title>Error: Take part in user research") || !strings.Contains(body, "govuk-error-summary") {
			t.Fatalf("%s: %d\n%s", c.what, w.Code, body)
		}
		for _, a := range c.anchor {
			if !strings.Contains(body, `href="`+a+`"`) || !strings.Contains(body, `id="`+a[1:]+`-error"`) {
				t.Errorf("%s: no error linked to %s", c.what, a)
			}
		}
		if withdrawalCode.MatchString(body) {
			t.Errorf("%s: a code was shown", c.what)
		}
	}
	// The answers are kept on the page with its errors.
	w := f.postForm("/research/sign-up", formOf("research_name", "Ann", "research_email", "ann@example"))
	if body := w.Body.String(); !strings.Contains(body, `value="Ann"`) || !strings.Contains(body, `value="ann@example"`) {
		t.Errorf("answers not kept:\n%s", body)
	}
	if n := countVolunteers(t, db); n != 3 {
		t.Fatalf("invalid sign-ups were stored: %d", n)
	}

	// Nothing of a sign-up reaches the log: not the name, the email or the code.
	logs := f.logs.String()
	for _, p := range append(codes, "Zoë", "Nguyễn", "zoe.research", "Ann", "ann.other", "example") {
		if strings.Contains(strings.ToLower(logs), strings.ToLower(p)) {
			t.Errorf("the log holds %q:\n%s", p, logs)
		}
	}
	if !strings.Contains(logs, `"route":"POST /research/sign-up"`) {
		t.Errorf("requests were not logged at all:\n%s", logs)
	}
}

func TestResearchWithdrawal(t *testing.T) {
	t.Parallel()
	f, db := researchFixture(t)
	signUp := func(name, email string) string {
		w := f.postForm("/research/sign-up", formOf("research_name", name, "research_email", email, "research_consent", "yes"))
		m := withdrawalCode.FindStringSubmatch(w.Body.String())
		if m == nil {
			t.Fatalf("no code:\n%s", w.Body)
		}
		return m[1]
	}
	codeA := signUp("Name Only", "")
	signUp("", "both@example.com")
	signUp("Both", "both@example.com")
	signUp("Stays", "stays@example.com")

	neutral := func(what, typed string) {
		t.Helper()
		w := f.postForm("/research/withdraw", formOf("withdraw", typed))
		body := w.Body.String()
		if w.Code != 200 || !strings.Contains(body, "Your request has been received") || strings.Contains(body, "govuk-error-summary") {
			t.Fatalf("%s: %d\n%s", what, w.Code, body)
		}
	}
	page := func(typed string) string {
		w := f.postForm("/research/withdraw", formOf("withdraw", typed))
		// The request id differs; the rest of the page must not.
		return regexp.MustCompile(`(?s)<main.*</main>`).FindString(w.Body.String())
	}

	neutral("by code", strings.ToLower(codeA))
	if n := countVolunteers(t, db); n != 3 {
		t.Fatalf("after withdrawal by code: %d left", n)
	}
	neutral("by email", " Both@Example.com ")
	if n := countVolunteers(t, db); n != 1 {
		t.Fatalf("after withdrawal by email: %d left", n)
	}
	// Found or not, the answer is the same page.
	if found, missing := page("stays@example.com"), page("nobody@example.com"); found != missing || found == "" {
		t.Errorf("the page tells a match from no match:\n%s\n---\n%s", found, missing)
	}
	if n := countVolunteers(t, db); n != 0 {
		t.Fatalf("after the last withdrawal: %d left", n)
	}
	neutral("unknown code", research.NewCode())

	for _, c := range []struct{ typed, msg string }{
		{"", research.MsgWithdrawEmpty},
		{"both@example", research.MsgEmailFormat},
		{"ABCD-EFGH", research.MsgCodeFormat},
	} {
		w := f.postForm("/research/withdraw", formOf("withdraw", c.typed))
		body := w.Body.String()
		if !strings.Contains(body, `href="#withdraw"`) || !strings.Contains(body, `id="withdraw-error"`) || !strings.Contains(body, c.msg) {
			t.Errorf("withdraw %q: no error for the field:\n%s", c.typed, body)
		}
	}
	logs := f.logs.String()
	for _, p := range []string{codeA, strings.ToLower(codeA), "both@", "stays@", "nobody@", "Name Only"} {
		if strings.Contains(logs, p) {
			t.Errorf("the log holds %q", p)
		}
	}
}

func TestResearchPagesAndLinks(t *testing.T) {
	t.Parallel()
	f, _ := researchFixture(t)
	for _, p := range []string{"/research", "/research/withdraw", "/privacy", "/"} {
		w := f.do(newRequest("GET", p, ""))
		if w.Code != 200 || !strings.Contains(w.Body.String(), `href="/research"`) {
			t.Errorf("GET %s: %d, or no footer link to /research", p, w.Code)
		}
	}
	if w := f.do(newRequest("GET", "/research/sign-up", "")); w.Code != 303 || w.Header().Get("Location") != "/research" {
		t.Errorf("GET /research/sign-up: %d %q", w.Code, w.Header().Get("Location"))
	}
	w := f.do(newRequest("GET", "/research", ""))
	if !strings.Contains(w.Body.String(), research.ConsentText) {
		t.Error("the sign-up page does not show the consent wording")
	}
	privacy := f.do(newRequest("GET", "/privacy", "")).Body.String()
	for _, want := range []string{`id="research"`, "Article 6(1)(a)", "every 2 years", "never share them with our print partner", "never link them to an order"} {
		if !strings.Contains(privacy, want) {
			t.Errorf("privacy notice lacks %q", want)
		}
	}

	// The confirmation page offers the sign-up, posting nothing of the order.
	v, _ := journeyToCheck(t, f)
	w, _ = v.submit("/order/check", nil)
	body := w.Body.String()
	ref := referenceText.FindStringSubmatch(body)
	if w.Code != 200 || ref == nil || !strings.Contains(body, `action="/research/sign-up"`) {
		t.Fatalf("confirmation page: %d\n%s", w.Code, body)
	}
	form := regexp.MustCompile(`(?s)<form method="post" action="/research/sign-up".*?</form>`).FindString(body)
	if strings.Contains(form, ref[1]) {
		t.Errorf("the sign-up form carries the order:\n%s", form)
	}

	// Without a volunteer store there are no research pages and no links.
	off := newFixture(t, nil)
	for _, p := range []string{"/research", "/research/withdraw"} {
		if w := off.do(newRequest("GET", p, "")); w.Code != 404 {
			t.Errorf("GET %s with research off: %d", p, w.Code)
		}
	}
	if strings.Contains(off.do(newRequest("GET", "/", "")).Body.String(), `href="/research"`) {
		t.Error("the footer links to research pages that are off")
	}
}

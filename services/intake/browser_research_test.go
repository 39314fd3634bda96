package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"booklets/pkg/testkit/eventually"
)

// researchJourney signs up for user research from the order confirmation
// page the browser is on, then withdraws, all without JavaScript, checking
// every page (and every page with errors) with axe. It is called from
// TestBrowserJourneyWithoutJavaScript.
func researchJourney(t *testing.T, ctx context.Context, base, axeSource string) {
	t.Helper()
	waitForSchema(t, base)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("research: %s: %v", what, err)
		}
	}
	click := func(sel string) {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
		must("click "+sel, err)
		if resp.Status >= 500 {
			t.Fatalf("research: click %s: status %d", sel, resp.Status)
		}
	}
	title := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Title())
		must("read title", err)
		return s
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		must("read "+sel, err)
		return s
	}
	typeInto := func(id, value string) {
		t.Helper()
		must("type into "+id, chromedp.Do(ctx, chromedp.Clear(chromedp.ID(id)), chromedp.SendKeys(chromedp.ID(id), value)))
	}
	errorLinks := func() string {
		t.Helper()
		links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll('.govuk-error-summary__list a')].map(a => a.getAttribute('href'))`))
		must("read error summary", err)
		return strings.Join(links, " ")
	}
	a11y := func(page string) {
		t.Helper()
		class, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("body"), "class"))
		must("read body class", err)
		if strings.Contains(class.Value, "js-enabled") {
			t.Fatalf("%s: JavaScript ran", page)
		}
		checkAccessibility(t, ctx, axeSource, page)
	}
	const signUp = `form[action="/research/sign-up"] button`

	// On the confirmation page: send the sign-up empty.
	click(signUp)
	if got := title(); !strings.HasPrefix(got, "Error: Take part in user research") {
		t.Fatalf("research: title with errors = %q", got)
	}
	if got := errorLinks(); got != "#research_name #research_consent" {
		t.Errorf("research: error summary links = %q", got)
	}
	a11y("research sign-up with errors")

	typeInto("research_name", "Siân O'Brien")
	typeInto("research_email", "sian@example")
	must("tick consent", chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`label[for="research_consent"]`))))
	click(signUp)
	if got := errorLinks(); got != "#research_email" {
		t.Errorf("research: error summary links = %q", got)
	}
	if msg := text("#research_email-error"); !strings.Contains(msg, "like name@example.com") {
		t.Errorf("research: email error = %q", msg)
	}
	typeInto("research_email", "sian@example.org")
	click(signUp)
	if got := title(); !strings.HasPrefix(got, "You have signed up for user research") {
		t.Fatalf("research: after signing up the title is %q", got)
	}
	code := strings.TrimSpace(text("#withdrawal-code"))
	if !regexp.MustCompile(`^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$`).MatchString(code) {
		t.Fatalf("research: withdrawal code %q", code)
	}
	a11y("research signed up")

	must("open /research", chromedp.Do(ctx, chromedp.Navigate(base+"/research")))
	a11y("/research")
	click(`footer a[href="/research"]`)

	must("open /research/withdraw", chromedp.Do(ctx, chromedp.Navigate(base+"/research/withdraw")))
	a11y("/research/withdraw")
	click(`form[action="/research/withdraw"] button`)
	if got := errorLinks(); got != "#withdraw" {
		t.Errorf("research: withdrawal error summary links = %q", got)
	}
	a11y("/research/withdraw with errors")
	typeInto("withdraw", strings.ToLower(code))
	click(`form[action="/research/withdraw"] button`)
	if got := title(); !strings.HasPrefix(got, "Your request has been received") {
		t.Fatalf("research: after withdrawing the title is %q", got)
	}
	a11y("research withdrawn")
}

// waitForSchema waits until the intake's background migration has made
// the volunteers table: until then a withdrawal (here of nobody) fails.
func waitForSchema(t *testing.T, base string) {
	t.Helper()
	eventually.Within(t, 20*time.Second, "the research pages at "+base+" become usable", func(context.Context) error {
		resp, err := http.PostForm(base+"/research/withdraw", url.Values{"withdraw": {"nobody@example.com"}})
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("withdrawal answered %d", resp.StatusCode)
		}
		return nil
	})
}

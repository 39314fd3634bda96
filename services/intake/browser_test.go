package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"booklets/pkg/domain/order"
)

const chromiumPath = "/usr/bin/chromium"

// repoRoot finds the module root, where node_modules lives.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// axeTags are the rule sets every page must pass: axe's default rules
// (which carry the best-practice tag or a WCAG tag) and WCAG 2.0 A/AA and
// 2.1 A/AA explicitly.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// checkAccessibility injects axe-core through the DevTools protocol (which
// the page's Content-Security-Policy does not govern) and fails the test on
// any violation.
func checkAccessibility(t *testing.T, ctx context.Context, axeSource, page string) {
	t.Helper()
	tags, _ := json.Marshal(axeTags)
	script := axeSource + fmt.Sprintf(`;
(async () => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: %s}, resultTypes: ['violations']});
  return r.violations.map(v => ({id: v.id, impact: v.impact || '', help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}));
})()`, tags)
	// axe needs timers and promises, which do not run while scripts are
	// disabled. Enabling them does not run the page's own scripts, which
	// were skipped when it loaded: the page stays as a no-JavaScript user
	// sees it.
	violations, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]axeViolation, error) {
		if err := setScripts(ctx, tg, true); err != nil {
			return nil, err
		}
		v, err := chromedp.Evaluate[[]axeViolation](script, chromedp.EvalAwaitPromise)(ctx, tg)
		if err != nil {
			return nil, err
		}
		return v, setScripts(ctx, tg, false)
	})
	if err != nil {
		t.Fatalf("%s: run axe: %v", page, err)
	}
	for _, v := range violations {
		t.Errorf("%s: accessibility violation %s (%s): %s at %v", page, v.ID, v.Impact, v.Help, v.Nodes)
	}
}

// setScripts turns the page's JavaScript on or off.
func setScripts(ctx context.Context, tg *chromedp.Target, on bool) error {
	_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
	return err
}

func TestBrowserJourneyWithoutJavaScript(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	axeSource, err := os.ReadFile(filepath.Join(root, "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is missing (%v): run `npm ci` at the repository root", err)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("chromium is missing at %s (%v): install it with `apt-get install chromium`", chromiumPath, err)
	}
	base, cfg := startIntake(t, nil)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first Run starts the browser; it must not have a timeout of its own.
	noJS := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
	if err := chromedp.Do(browserCtx, noJS); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(browserCtx, 90*time.Second)
	defer cancel()

	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// click clicks a button or link and waits for the page it leads to.
	click := func(sel string) {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
		must("click "+sel, err)
		if resp.Status >= 500 {
			t.Fatalf("click %s: status %d", sel, resp.Status)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		must("read "+sel, err)
		return s
	}
	title := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Title())
		must("read title", err)
		return s
	}
	typeInto := func(id, value string) {
		t.Helper()
		must("type into "+id, chromedp.Do(ctx, chromedp.Clear(chromedp.ID(id)), chromedp.SendKeys(chromedp.ID(id), value)))
	}
	noJavaScript := func(page string) {
		t.Helper()
		class, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("body"), "class"))
		must("read body class", err)
		if strings.Contains(class.Value, "js-enabled") {
			t.Fatalf("%s: JavaScript ran (body class %q)", page, class.Value)
		}
	}
	a11y := func(page string) {
		t.Helper()
		noJavaScript(page)
		checkAccessibility(t, ctx, string(axeSource), page)
	}
	errorLinks := func() []string {
		t.Helper()
		links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll('.govuk-error-summary__list a')].map(a => a.getAttribute('href'))`))
		must("read error summary", err)
		return links
	}

	must("open start page", chromedp.Do(ctx, chromedp.Navigate(base+"/")))
	a11y("start")
	click("a.govuk-button--start")

	// The booklet question, first with nothing chosen. Its Back is a link
	// to the start page.
	a11y("booklet")
	if href, _ := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("a.govuk-back-link"), "href")); href.Value != "/" {
		t.Errorf("booklet page's back link = %q, want /", href.Value)
	}
	click(`form[action="/order/booklet"] button[type=submit]`)
	if got := title(); !strings.HasPrefix(got, "Error: ") {
		t.Errorf("title with errors = %q", got)
	}
	if got := strings.Join(errorLinks(), " "); got != "#area #formats" {
		t.Errorf("error summary links = %q", got)
	}
	if msg := text("#formats-error"); !strings.Contains(msg, "Select at least one format") {
		t.Errorf("error at the formats field = %q", msg)
	}
	a11y("booklet with errors")

	// Choose with the keyboard, as without JavaScript a person would.
	must("choose area", chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("area"), "Dyfed")))
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("area"))); v != "dyfed-powys" {
		t.Fatalf("area = %q after typing", v)
	}
	must("choose formats", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`label[for="formats-3"]`)),
		chromedp.Click(chromedp.CSS(`label[for="formats-5"]`))))
	click(`form[action="/order/booklet"] button[type=submit]`)

	// The address question: a BFPO postcode is refused with a clear message.
	if got := title(); !strings.HasPrefix(got, "Where should we send the booklet?") {
		t.Fatalf("after the booklet question the title is %q", got)
	}
	a11y("address")
	typeInto("name", "Siân O'Brien")
	typeInto("address_line_1", "1 Heol y Bont")
	typeInto("town", "Llandrindod Wells")
	typeInto("postcode", "BFPO 801")
	click(`form[action="/order/address"] button[type=submit]`)
	if got := title(); !strings.HasPrefix(got, "Error: ") {
		t.Errorf("title with errors = %q", got)
	}
	if got := strings.Join(errorLinks(), " "); got != "#postcode" {
		t.Errorf("error summary links = %q", got)
	}
	if msg := text("#postcode-error"); !strings.Contains(msg, "BFPO") {
		t.Errorf("error at the postcode field = %q", msg)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("name"))); v != "Siân O'Brien" {
		t.Errorf("the name was not kept: %q", v)
	}
	a11y("address with errors")
	typeInto("postcode", "ld1 5lg")
	click(`form[action="/order/address"] button[type=submit]`)

	// Check your answers, then send.
	if got := title(); !strings.HasPrefix(got, "Check your answers") {
		t.Fatalf("after the address question the title is %q", got)
	}
	summary := text(".govuk-main-wrapper")
	for _, want := range []string{"Dyfed-Powys", "Braille", "Audio", "Siân O'Brien", "1 Heol y Bont", "Llandrindod Wells", "LD1 5LG"} {
		if !strings.Contains(summary, want) {
			t.Errorf("check your answers lacks %q", want)
		}
	}
	a11y("check answers")

	// Back, once from each later page: a button posting the sealed answers
	// (no URL carries them), keeping every answer.
	click("button.govuk-back-link")
	if got := title(); !strings.HasPrefix(got, "Where should we send the booklet?") {
		t.Fatalf("Back from check answers led to %q", got)
	}
	for id, want := range map[string]string{"name": "Siân O'Brien", "address_line_1": "1 Heol y Bont", "town": "Llandrindod Wells", "postcode": "ld1 5lg"} {
		if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID(id))); v != want {
			t.Errorf("after Back, %s = %q, want %q", id, v, want)
		}
	}
	a11y("address after Back")
	click("button.govuk-back-link")
	if got := title(); !strings.HasPrefix(got, "Which booklet do you need?") {
		t.Fatalf("Back from the address led to %q", got)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("area"))); v != "dyfed-powys" {
		t.Errorf("after Back, area = %q", v)
	}
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('input[name=formats]:checked')].map(i => i.value)`))
	must("read formats", err)
	if got := strings.Join(checked, " "); got != "braille audio" {
		t.Errorf("after Back, formats checked = %q", got)
	}
	a11y("booklet after Back")
	click(`form[action="/order/booklet"] button[type=submit]`)
	if got := title(); !strings.HasPrefix(got, "Check your answers") {
		t.Fatalf("continuing after Back led to %q", got)
	}
	click(`form[action="/order/check"] button`)
	if got := title(); !strings.HasPrefix(got, "Order received") {
		t.Fatalf("after sending the title is %q", got)
	}
	ref := strings.TrimSpace(text("#reference"))
	a11y("confirmation")
	researchJourney(t, ctx, base, string(axeSource))

	for _, p := range []string{"/privacy", "/cookies", "/accessibility", "/no-such-page"} {
		must("open "+p, chromedp.Do(ctx, chromedp.Navigate(base+p)))
		a11y(p)
	}

	orders := storedOrders(t, cfg)
	if len(orders) != 1 {
		t.Fatalf("stream holds %d orders, want 1", len(orders))
	}
	o := orders[0]
	want := order.Personal{Name: "Siân O'Brien", AddressLine1: "1 Heol y Bont", Town: "Llandrindod Wells", Postcode: "LD1 5LG"}
	if o.Reference.String() != ref || o.Area != "dyfed-powys" || o.Personal != want ||
		len(o.Formats) != 2 || o.Formats[0] != order.Braille || o.Formats[1] != order.Audio {
		t.Fatalf("stored order = %+v, want reference %s", o, ref)
	}
}

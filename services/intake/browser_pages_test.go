package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// pagesIdentity is the identity the content pages are checked with: every
// value differs from the built-in example, so a page that ignored the file
// would fail.
const pagesIdentity = `{
  "data_controller": "Testshire Returning Officer",
  "data_protection_officer": {"name": "Testshire Data Protection Officer", "email": "dpo@testshire.example.org"},
  "contact": {
    "email": "booklets@testshire.example.org",
    "phone": "020 7946 0777",
    "opening_hours": "Monday to Friday, 10am to 4pm",
    "postal_address": ["Booklets Team", "Town Hall", "Testtown", "ZZ9 9ZZ"]
  },
  "alternative_order": {"phone": "0808 157 0777", "opening_hours": "Every day, 8am to 8pm", "post": true},
  "feedback_url": "https://feedback.testshire.example.org/booklets",
  "phase": "alpha",
  "service_url": "https://booklets.testshire.example.org/"
}`

// contentPage is a page opened by its address, with the status it answers.
type contentPage struct {
	name, url string
	status    int
}

// TestBrowserContentPages opens every content page (start, privacy,
// cookies, accessibility, contact, the user-research sign-up and
// withdrawal forms) and the error pages a GET can reach
// (404, and 429 from an intake whose rate limit is spent) in Chromium with
// JavaScript off and on. Each is checked by axe at 375 and 1280 pixels,
// reflows without sideways scrolling at 320 pixels (1280 at 400 % zoom) and
// 375, can be gone through with the Tab key alone with the focus always
// visible, and shows the configured service identity: the phase banner
// with the feedback link, the contact link, mailto: links for every
// address.
func TestBrowserContentPages(t *testing.T) {
	t.Parallel()
	idFile := filepath.Join(t.TempDir(), "service-identity.json")
	if err := os.WriteFile(idFile, []byte(pagesIdentity), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := startIntake(t, map[string]string{"SERVICE_IDENTITY_FILE": idFile})
	// The rate limit's error page, from an intake allowing one request a
	// minute: the first request spends it.
	limited, _ := startIntake(t, map[string]string{"SERVICE_IDENTITY_FILE": idFile, "RATE_LIMIT_PER_MINUTE": "1", "RATE_LIMIT_BURST": "1"})
	if resp, err := http.Get(limited + "/"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	pages := []contentPage{
		{"start", base + "/", 200},
		{"privacy", base + "/privacy", 200},
		{"cookies", base + "/cookies", 200},
		{"accessibility", base + "/accessibility", 200},
		{"contact", base + "/contact", 200},
		{"research sign-up", base + "/research", 200},
		{"research withdrawal", base + "/research/withdraw", 200},
		{"not found", base + "/no-such-page", 404},
		{"too many requests", limited + "/privacy", 429},
	}
	for _, js := range []bool{false, true} {
		t.Run(fmt.Sprintf("javascript=%v", js), func(t *testing.T) {
			t.Parallel()
			ctx, axeSource := pagesBrowser(t, js)
			for _, p := range pages {
				checkContentPage(t, ctx, axeSource, p, js)
			}
		})
	}
}

// pagesBrowser starts a Chromium of its own (own profile) with JavaScript
// on or off (openTab), for browser_test.go's helpers.
func pagesBrowser(t *testing.T, js bool) (context.Context, string) {
	t.Helper()
	b := openTab(t, js)
	return b.ctx, b.axeSource
}

// scripts turns the tab's JavaScript on or off.
func scripts(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	})
}

func checkContentPage(t *testing.T, ctx context.Context, axeSource string, p contentPage, js bool) {
	t.Helper()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %s: %v", p.name, what, err)
		}
	}
	eval := func(expr string) []string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](expr))
		must("evaluate "+expr, err)
		return v
	}
	must("viewport", chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(p.url))
	must("open "+p.url, err)
	if p.status == 429 && resp.Status == 200 {
		// The limit's minute came round again: the next request spends it.
		resp, err = chromedp.Run(ctx, chromedp.NavigateResponse(p.url))
		must("open "+p.url+" again", err)
	}
	if int(resp.Status) != p.status {
		t.Fatalf("%s: %s answered %d, want %d", p.name, p.url, resp.Status, p.status)
	}
	class, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("body"), "class"))
	must("read body class", err)
	if ran := strings.Contains(class.Value, "js-enabled"); ran != js {
		t.Fatalf("%s: JavaScript ran = %v, want %v", p.name, ran, js)
	}

	// The identity on every page: the phase banner with its feedback link,
	// the footer's contact link; no mention of the built-in example.
	if got := eval(`[...document.querySelectorAll('header .govuk-phase-banner__content__tag')].map(e => e.textContent.trim())`); !slices.Equal(got, []string{"Alpha"}) {
		t.Errorf("%s: phase banner tag = %q, want Alpha", p.name, got)
	}
	if got := eval(`[...document.querySelectorAll('.govuk-phase-banner a')].map(a => a.href)`); !slices.Equal(got, []string{"https://feedback.testshire.example.org/booklets"}) {
		t.Errorf("%s: phase banner links = %q, want the feedback link", p.name, got)
	}
	if got := eval(`[...document.querySelectorAll('footer a[href="/contact"]')].map(a => a.textContent.trim())`); !slices.Equal(got, []string{"Contact us"}) {
		t.Errorf("%s: footer contact links = %q", p.name, got)
	}
	if got := eval(`[...document.querySelectorAll('#example-identity')].map(e => e.id)`); len(got) > 0 {
		t.Errorf("%s: says the identity is an example although a file was given", p.name)
	}
	// Every e-mail address on the page is the text of a mailto: link to it.
	if bare := eval(`(() => {
	  const linked = new Set([...document.querySelectorAll('a[href^="mailto:"]')].map(a => a.href.slice(7)));
	  return (document.body.innerText.match(/[\w.+-]+@[\w-]+(\.[\w-]+)+/g) || []).filter(m => !linked.has(m));
	})()`); len(bare) > 0 {
		t.Errorf("%s: e-mail addresses without a mailto: link: %q", p.name, bare)
	}
	switch p.name {
	case "contact":
		if got := eval(`[...document.querySelectorAll('main a[href^="mailto:"]')].map(a => a.href)`); !slices.Equal(got,
			[]string{"mailto:booklets@testshire.example.org", "mailto:dpo@testshire.example.org"}) {
			t.Errorf("contact: mailto links = %q", got)
		}
		for _, want := range []string{"020 7946 0777", "Monday to Friday, 10am to 4pm", "Booklets Team\nTown Hall\nTesttown\nZZ9 9ZZ",
			"By phone: 0808 157 0777", "By post:", "Information Commissioner"} {
			if text := eval(`[document.querySelector('main').innerText]`)[0]; !strings.Contains(text, want) {
				t.Errorf("contact: page lacks %q", want)
			}
		}
		if got := eval(`[...document.querySelectorAll('main a[href^="https://ico.org.uk/"], #contact-feedback')].map(a => a.href)`); len(got) != 2 {
			t.Errorf("contact: ICO and feedback links = %q", got)
		}
	case "privacy":
		if got := eval(`[document.querySelector('#data-controller').innerText]`)[0]; !strings.HasPrefix(got, "Testshire Returning Officer runs this service and is the data controller") {
			t.Errorf("privacy: data controller paragraph = %q", got)
		}
		if got := eval(`[...document.querySelectorAll('#dpo a')].map(a => a.href)`); !slices.Equal(got, []string{"mailto:dpo@testshire.example.org"}) {
			t.Errorf("privacy: DPO links = %q", got)
		}
	case "start":
		if got := eval(`[...document.querySelectorAll('main a[href="/status"]')].map(a => a.textContent.trim())`); !slices.Equal(got, []string{"Check or cancel an order"}) {
			t.Errorf("start: status links = %q", got)
		}
		if text := eval(`[document.querySelector('main').innerText]`)[0]; !strings.Contains(text, "You can also order by phone or by post") {
			t.Error("start: the other way to order is not mentioned")
		}
	case "accessibility":
		text := eval(`[document.querySelector('main').innerText]`)[0]
		for _, want := range []string{"https://booklets.testshire.example.org/", "Testshire Returning Officer", "WCAG 2.2 AA",
			"Equality Advisory and Support Service", "0808 157 0777", "prepared on", "last reviewed on", "375 and 1280 pixels"} {
			if !strings.Contains(text, want) {
				t.Errorf("accessibility: statement lacks %q", want)
			}
		}
	}
	// Content pages have a Back link to the start page.
	if slices.Contains([]string{"privacy", "cookies", "accessibility", "contact"}, p.name) {
		if got := eval(`[...document.querySelectorAll('a.govuk-back-link')].map(a => a.getAttribute('href'))`); !slices.Equal(got, []string{"/"}) {
			t.Errorf("%s: back links = %q, want one to /", p.name, got)
		}
	}

	// axe at 375 and 1280 pixels. checkAccessibility leaves scripts off.
	for _, w := range []int64{375, 1280} {
		must("viewport", chromedp.Do(ctx, chromedp.EmulateViewport(w, 900)))
		checkAccessibility(t, ctx, axeSource, fmt.Sprintf("%s at %dpx (JavaScript %v)", p.name, w, js))
		if js {
			must("scripts on", chromedp.Do(ctx, scripts(true)))
		}
	}
	// Reflow (WCAG 1.4.10): no sideways scrolling at 320 pixels, which is
	// 1280 at 400 % zoom, nor at 375.
	for _, w := range []int64{320, 375} {
		must("viewport", chromedp.Do(ctx, chromedp.EmulateViewport(w, 900)))
		if got := eval(`[String(document.documentElement.scrollWidth)]`)[0]; got != fmt.Sprint(w) {
			t.Errorf("%s: at %dpx the page is %s pixels wide: it scrolls sideways", p.name, w, got)
		}
	}
	must("viewport", chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))
	checkKeyboard(t, ctx, p.name)
}

// checkKeyboard presses Tab from the top of the page until the focus
// leaves it, and checks that it met every link, button and field in the
// page's order, each with GOV.UK's visible focus style (the yellow
// background, a shadow, or an outline; for a checkbox or radio, on the box
// its label draws).
func checkKeyboard(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	const describe = `(e => e ? e.tagName.toLowerCase() + ' ' + (e.getAttribute('href') || e.getAttribute('name') || e.id || '') + ' ' + (e.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40) : 'none')`
	want, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])')]
	  .filter(e => !e.disabled && e.getClientRects().length > 0 || e.classList.contains('govuk-skip-link')).map(`+describe+`)`))
	if err != nil {
		t.Fatalf("%s: list focusable elements: %v", page, err)
	}
	if len(want) < 5 {
		// The skip link, GOV.UK's, the service's and the footer's links at
		// least: fewer means the list above went wrong.
		t.Fatalf("%s: only %d focusable elements found: %q", page, len(want), want)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.activeElement && document.activeElement.blur && (document.activeElement.blur(), window.scrollTo(0, 0), true)`)); err != nil {
		t.Fatalf("%s: reset focus: %v", page, err)
	}
	var got []string
	for i := 0; i < len(want)+1; i++ {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatalf("%s: press Tab: %v", page, err)
		}
		res, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
		  const e = document.activeElement;
		  if (!e || e === document.body) return ['none', ''];
		  // GOV.UK hides a checkbox or radio itself and draws its focus
		  // on the box before its label.
		  const boxed = e.type === 'checkbox' || e.type === 'radio';
		  const s = boxed ? getComputedStyle(document.querySelector('label[for="' + e.id + '"]'), '::before') : getComputedStyle(e);
		  const visible = s.backgroundColor === 'rgb(255, 221, 0)' || s.boxShadow !== 'none' ||
		    (s.outlineStyle !== 'none' && s.outlineColor !== 'rgba(0, 0, 0, 0)' && s.outlineColor !== 'transparent');
		  return [`+describe+`(e), visible ? 'visible' : 'invisible'];
		})()`))
		if err != nil {
			t.Fatalf("%s: read focus: %v", page, err)
		}
		if res[0] == "none" {
			break // past the last element
		}
		if res[1] != "visible" {
			t.Errorf("%s: the focus on %s is not visible", page, res[0])
		}
		got = append(got, res[0])
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: Tab went through\n%q\nwant every focusable element in order:\n%q", page, got, want)
	}
}

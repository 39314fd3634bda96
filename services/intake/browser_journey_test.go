package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"booklets/pkg/domain/order"
	"booklets/pkg/testkit/eventually"
)

// tab is one Chromium tab driven by a test, with JavaScript on or off
// for the whole of it.
type tab struct {
	t         *testing.T
	ctx       context.Context
	js        bool
	axeSource string
}

// widths are the viewport widths every page is checked at: a small phone
// and a desktop.
var widths = []int64{375, 1280}

// openTab starts a Chromium of its own (its own profile, so its own
// cookies) with JavaScript on or off.
func openTab(t *testing.T, js bool) *tab {
	t.Helper()
	axeSource, err := os.ReadFile(filepath.Join(repoRoot(t), "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is missing (%v): run `npm ci` at the repository root", err)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("chromium is missing at %s (%v): install it with `apt-get install chromium`", chromiumPath, err)
	}
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
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	// The first Run starts the browser; it must not have a timeout of its own.
	start := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !js})
		return err
	})
	if err := chromedp.Do(browserCtx, start); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(browserCtx, 4*time.Minute)
	t.Cleanup(cancel)
	return &tab{t: t, ctx: ctx, js: js, axeSource: string(axeSource)}
}

func (b *tab) must(what string, err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *tab) open(url string) {
	b.t.Helper()
	b.must("open "+url, chromedp.Do(b.ctx, chromedp.Navigate(url)))
}

// click clicks a button or link and waits for the page it leads to.
func (b *tab) click(sel string) {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	b.must("click "+sel, err)
	if resp.Status >= 500 {
		b.t.Fatalf("click %s: status %d", sel, resp.Status)
	}
}

// tick clicks a radio or checkbox by its label (no page load).
func (b *tab) tick(id string) {
	b.t.Helper()
	b.must("tick "+id, chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`label[for="`+id+`"]`))))
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	b.must("read "+sel, err)
	return s
}

func (b *tab) value(id string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID(id)))
	b.must("read "+id, err)
	return s
}

func (b *tab) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	b.must("evaluate "+js, err)
	return s
}

func (b *tab) typeInto(id, value string) {
	b.t.Helper()
	b.must("type into "+id, chromedp.Do(b.ctx, chromedp.Clear(chromedp.ID(id)), chromedp.SendKeys(chromedp.ID(id), value)))
}

// page checks the title of the page on screen: a browser's own error page
// (such as "Confirm Form Resubmission") has another.
func (b *tab) page(wantTitle string) {
	b.t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Title())
	b.must("read title", err)
	if !strings.HasPrefix(got, wantTitle) {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("on %s the title is %q, want %q", loc, got, wantTitle)
	}
}

func (b *tab) back()    { b.t.Helper(); b.history(-1) }
func (b *tab) forward() { b.t.Helper(); b.history(+1) }

// history moves through the tab's history as the browser's Back and
// Forward buttons do, and waits until the page it leads to (or the page
// that one redirects to) has loaded: a new document, told by its time
// origin. chromedp's NavigateBack waits for load events this Chromium does
// not send after a history move (it times out with the page loaded).
func (b *tab) history(delta int64) {
	b.t.Helper()
	before := b.eval(`String(performance.timeOrigin)`)
	b.must("history", chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, page.GetNavigationHistory, cdp.Empty{})
		if err != nil {
			return err
		}
		i := res.CurrentIndex + delta
		if i < 0 || i >= int64(len(res.Entries)) {
			return fmt.Errorf("no history entry %d from %d of %d", delta, res.CurrentIndex, len(res.Entries))
		}
		_, err = cdp.Call(ctx, tg, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: res.Entries[i].ID})
		return err
	})))
	eventually.Within(b.t, 20*time.Second, "the history move loads a page", func(context.Context) error {
		now, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.readyState === 'complete' ? String(performance.timeOrigin) : ''`))
		if err != nil {
			return err
		}
		if now == "" || now == before {
			return fmt.Errorf("still loading or on the page before")
		}
		return nil
	})
}

// a11y checks the page with axe at every width, and that JavaScript ran or
// did not as the tab wants.
func (b *tab) a11y(page string) {
	b.t.Helper()
	class, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS("body"), "class"))
	b.must("read body class", err)
	if ran := strings.Contains(class.Value, "js-enabled"); ran != b.js {
		b.t.Fatalf("%s: JavaScript ran = %v, want %v", page, ran, b.js)
	}
	for _, w := range widths {
		b.must("viewport", chromedp.Do(b.ctx, chromedp.EmulateViewport(w, 900)))
		checkAccessibility(b.t, b.ctx, b.axeSource, page+" at "+strconv.FormatInt(w, 10)+"px")
		if b.js { // checkAccessibility leaves scripts off
			b.must("scripts on", chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				return setScripts(ctx, tg, true)
			})))
		}
	}
}

func (b *tab) errorLinks() string {
	b.t.Helper()
	links, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('.govuk-error-summary__list a')].map(a => a.getAttribute('href'))`))
	b.must("read error summary", err)
	return strings.Join(links, " ")
}

// TestBrowserOrderJourney goes through the whole order form in Chromium,
// with JavaScript off and on: errors, the area narrowed by the postcode,
// Back and Forward at every step and after the confirmation (never a
// resubmission prompt, every answer kept), a change from Check your
// answers with the "check your area" prompt, sending; every page, error
// page and state is checked by axe at 375 and 1280 pixels.
func TestBrowserOrderJourney(t *testing.T) {
	t.Parallel()
	base, cfg := startIntake(t, nil)
	for _, js := range []bool{false, true} {
		name := "without JavaScript"
		if js {
			name = "with JavaScript"
		}
		t.Run(name, func(t *testing.T) {
			b := openTab(t, js)
			ref := orderJourney(t, b, base)
			if !js {
				researchJourney(t, b.ctx, base, b.axeSource)
			}
			var found *order.Order
			for _, o := range storedOrders(t, cfg) {
				if o.Reference.String() == ref {
					found = &o
				}
			}
			want := order.Personal{Name: "Siân O'Brien", AddressLine1: "1 Heol y Bont", Town: "Llandrindod Wells", Postcode: "LD1 5LG"}
			if found == nil || found.Area != "dyfed-powys" || found.Personal != want ||
				len(found.Formats) != 2 || found.Formats[0] != order.Braille || found.Formats[1] != order.Audio ||
				len(found.Languages) != 1 || found.Languages[0] != order.Welsh {
				t.Fatalf("stored order for %s = %+v", ref, found)
			}
		})
	}
	// Each journey sent exactly one order.
	if n := len(storedOrders(t, cfg)); n != 2 {
		t.Fatalf("stream holds %d orders, want 2", n)
	}
}

// orderJourney orders braille and audio booklets in Welsh for
// Dyfed-Powys and returns the reference the confirmation shows.
func orderJourney(t *testing.T, b *tab, base string) string {
	b.open(base + "/")
	b.page("Order an election information booklet")
	b.a11y("start")
	b.click("a.govuk-button--start")

	// The postcode, first empty.
	b.page("What is your postcode?")
	b.a11y("postcode")
	b.click(`form[action="/order/postcode"] button[type=submit]:not([formaction])`)
	b.page("Error: What is your postcode?")
	if got := b.errorLinks(); got != "#postcode" {
		t.Errorf("postcode error summary links = %q", got)
	}
	b.a11y("postcode with errors")
	b.typeInto("postcode", "ld1 5lg")
	b.click(`form[action="/order/postcode"] button[type=submit]:not([formaction])`)

	// The booklet: the areas that usually cover LD first, as radios.
	b.page("Which booklet do you need?")
	if got := b.eval(`[...document.querySelectorAll('input[name=area][type=radio]')].map(i => i.value).join(' ')`); !strings.Contains(got, "dyfed-powys") || !strings.HasSuffix(got, "other") {
		t.Errorf("area radios = %q", got)
	}
	b.a11y("booklet")
	b.click(`form[action="/order/booklet"] button[type=submit]:not([formaction])`)
	b.page("Error: Which booklet do you need?")
	if got := b.errorLinks(); got != "#area #formats" {
		t.Errorf("booklet error summary links = %q", got)
	}
	b.a11y("booklet with errors")
	b.tick("area")
	if got := b.eval(`document.querySelector('input[name=area]:checked').value`); got != "dyfed-powys" {
		t.Fatalf("the first area radio is %q", got)
	}
	b.tick("formats-3")
	b.tick("formats-5")
	b.click(`form[action="/order/booklet"] button[type=submit]:not([formaction])`)

	// Dyfed-Powys's booklet comes in Welsh too: the language, first none.
	b.page("Which language do you want the booklet in?")
	b.a11y("language")
	b.click(`form[action="/order/language"] button[type=submit]:not([formaction])`)
	b.page("Error: Which language do you want the booklet in?")
	if got := b.errorLinks(); got != "#languages" {
		t.Errorf("language error summary links = %q", got)
	}
	b.a11y("language with errors")
	b.tick("languages-2")
	b.click(`form[action="/order/language"] button[type=submit]:not([formaction])`)

	// The address, with the postcode given first; a BFPO one is refused.
	b.page("Where should we send the booklet?")
	if got := b.value("postcode"); got != "ld1 5lg" {
		t.Errorf("the address page's postcode = %q", got)
	}
	b.a11y("address")
	b.typeInto("name", "Siân O'Brien")
	b.typeInto("address_line_1", "1 Heol y Bont")
	b.typeInto("town", "Llandrindod Wells")
	b.typeInto("postcode", "BFPO 801")
	b.click(`form[action="/order/address"] button[type=submit]:not([formaction])`)
	b.page("Error: Where should we send the booklet?")
	if got := b.errorLinks(); got != "#postcode" {
		t.Errorf("address error summary links = %q", got)
	}
	if b.value("name") != "Siân O'Brien" {
		t.Error("the name was not kept with the error")
	}
	b.a11y("address with errors")
	b.typeInto("postcode", "ld1 5lg")
	b.click(`form[action="/order/address"] button[type=submit]:not([formaction])`)

	b.page("Check your answers")
	summary := b.text(".govuk-main-wrapper")
	for _, want := range []string{"Dyfed-Powys", "Braille", "Audio", "Welsh", "Siân O'Brien", "1 Heol y Bont", "Llandrindod Wells", "LD1 5LG"} {
		if !strings.Contains(summary, want) {
			t.Errorf("check your answers lacks %q", want)
		}
	}
	b.a11y("check answers")

	// The browser's Back through every step to the first question, then
	// Forward to Check your answers: every entry of the history is a GET
	// page (a page with errors is one more entry), never a resubmission
	// prompt. The browser shows each page as the person left it (Chromium
	// restores what was typed in a form when going back to it), so the
	// answers are checked where they are the latest: the address page
	// just before Check your answers, and Check your answers itself.
	titles := map[string]string{
		"/order/postcode": "What is your postcode?", "/order/booklet": "Which booklet do you need?",
		"/order/language": "Which language do you want the booklet in?",
		"/order/address":  "Where should we send the booklet?", "/order/check": "Check your answers",
	}
	path := func() string { return b.eval(`location.pathname`) }
	b.back()
	b.page("Where should we send the booklet?")
	for id, want := range map[string]string{"name": "Siân O'Brien", "address_line_1": "1 Heol y Bont", "town": "Llandrindod Wells", "postcode": "ld1 5lg"} {
		if got := b.value(id); got != want {
			t.Errorf("after Back, %s = %q, want %q", id, got, want)
		}
	}
	visited := []string{path()}
	for n := 0; path() != "/order/postcode"; n++ {
		if n == 8 {
			t.Fatalf("Back never reached the postcode question: %v", visited)
		}
		b.back()
		visited = append(visited, path())
		b.page(titles[path()])
	}
	for n := 0; path() != "/order/check"; n++ {
		if n == 8 {
			t.Fatalf("Forward never reached Check your answers: %v", visited)
		}
		b.forward()
		visited = append(visited, path())
		b.page(titles[path()])
	}
	if got := b.text(".govuk-main-wrapper"); !strings.Contains(got, "Siân O'Brien") || !strings.Contains(got, "Dyfed-Powys") {
		t.Errorf("Check your answers after Back and Forward lacks the answers: %q", got)
	}
	if !strings.Contains(strings.Join(visited, " "), "/order/booklet") {
		t.Errorf("Back and Forward visited %v", visited)
	}
	// The page's own Back link works the same.
	b.click("a.govuk-back-link")
	b.page("Where should we send the booklet?")
	b.a11y("address after Back")
	b.click(`form[action="/order/address"] button[type=submit]:not([formaction])`)
	b.page("Check your answers")

	// Change the area to one that does not usually cover LD: a prompt to
	// check it, not a refusal. Then back to Dyfed-Powys.
	b.click(`a[href="/order/booklet"]`)
	b.page("Which booklet do you need?")
	b.tick("area-another")
	b.must("choose another area", chromedp.Do(b.ctx, chromedp.SetValue(chromedp.ID("area-other"), "cumbria")))
	b.a11y("booklet with another area")
	b.click(`form[action="/order/booklet"] button[type=submit]:not([formaction])`)
	b.page("Check your answers")
	if got := b.text("#area-prompt"); !strings.Contains(got, "postcodes starting with LD are not usually in Cumbria") {
		t.Errorf("area prompt = %q", got)
	}
	b.a11y("check answers with the area prompt")
	b.click(`a[href="/order/booklet"]`)
	b.tick("area")
	b.click(`form[action="/order/booklet"] button[type=submit]:not([formaction])`)
	// Cumbria has no Welsh booklet, so the language was dropped: asked again.
	b.page("Which language do you want the booklet in?")
	b.tick("languages-2")
	b.click(`form[action="/order/language"] button[type=submit]:not([formaction])`)
	b.page("Check your answers")

	// Without JavaScript, "Keep my answers for longer" keeps the time
	// going and what was typed (with it, the dialog does: TestBrowserTimeoutWarning).
	if !b.js {
		b.click(`a[href="/order/address"]`)
		b.typeInto("address_line_2", "Ty Gwyn")
		b.click(`button[formaction="/order/keep"]`)
		b.page("Where should we send the booklet?")
		if got := b.value("address_line_2"); got != "Ty Gwyn" {
			t.Errorf("keep did not keep what was typed: %q", got)
		}
		b.typeInto("address_line_2", "")
		b.click(`form[action="/order/address"] button[type=submit]:not([formaction])`)
		b.page("Check your answers")
	}

	b.click(`form[action="/order/check"] button[type=submit]:not([formaction])`)
	b.page("Order received")
	ref := strings.TrimSpace(b.text("#reference"))
	b.a11y("confirmation")
	// Reload and Back after sending: the confirmation again, nothing re-sent.
	b.must("reload", chromedp.Do(b.ctx, chromedp.Reload()))
	b.page("Order received")
	b.back()
	b.page("Order received")
	if got := strings.TrimSpace(b.text("#reference")); got != ref {
		t.Errorf("after Back the reference is %q, want %q", got, ref)
	}
	return ref
}

// TestBrowserTimeoutWarning: with JavaScript, the GOV.UK timeout warning
// opens before the answers' time runs out, "Keep my answers" gives more
// time without leaving the page, and when the time does run out the page
// goes to "Your answers have been deleted".
func TestBrowserTimeoutWarning(t *testing.T) {
	t.Parallel()
	// The warning opens 5 seconds after the page and the time runs out 20
	// seconds later.
	base, _ := startIntake(t, map[string]string{"ANSWERS_TIMEOUT": "25s", "ANSWERS_TIMEOUT_WARNING": "20s"})
	b := openTab(t, true)
	b.open(base + "/order/postcode")
	b.typeInto("postcode", "ld1 5lg")
	b.click(`form[action="/order/postcode"] button[type=submit]:not([formaction])`)
	b.page("Which booklet do you need?")

	waitOpen := func(open bool) {
		t.Helper()
		want := "false"
		if open {
			want = "true"
		}
		deadline := time.Now().Add(15 * time.Second)
		for b.eval(`String(document.getElementById('timeout-dialog').open)`) != want {
			if time.Now().After(deadline) {
				t.Fatalf("the timeout dialog open = %s after 15s", want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	b.tick("area") // before the dialog: a modal dialog makes the page inert
	waitOpen(true)
	if got := b.text("#timeout-visible"); !strings.Contains(got, "we will delete your answers in") {
		t.Errorf("countdown = %q", got)
	}
	if got := b.eval(`document.activeElement.id`); got != "timeout-keep" {
		t.Errorf("focus in the dialog is on %q", got)
	}
	b.a11y("timeout warning")
	b.must("keep", chromedp.Do(b.ctx, chromedp.Click(chromedp.ID("timeout-keep"))))
	waitOpen(false)
	if got := b.eval(`location.pathname`); got != "/order/booklet" {
		t.Fatalf("keep left the page for %s", got)
	}
	if b.eval(`document.querySelector('input[name=area]:checked').value`) != "dyfed-powys" {
		t.Error("the choice on the page was lost") // the dialog keeps the page as it is
	}

	// Now let it run out: the page goes to say the answers are deleted.
	deadline := time.Now().Add(40 * time.Second)
	for b.eval(`location.pathname`) != "/order/timed-out" {
		if time.Now().After(deadline) {
			t.Fatal("the page did not go to /order/timed-out when the time ran out")
		}
		time.Sleep(500 * time.Millisecond)
	}
	b.page("Your answers have been deleted")
	b.a11y("timed out")
	b.open(base + "/order/booklet")
	if got := b.eval(`String(document.querySelectorAll('input:checked').length)`); got != "0" {
		t.Errorf("after the time ran out, %s answers are still there", got)
	}
}

// TestBrowserWelshJourney goes through the order form in Welsh, with
// JavaScript off and on: every page is lang="cy" and axe-clean at both
// widths, errors are in Welsh, Back keeps to Welsh pages, the booklet
// language offers Welsh first, and the order sent carries it.
func TestBrowserWelshJourney(t *testing.T) {
	t.Parallel()
	base, cfg := startIntake(t, nil)
	for _, js := range []bool{false, true} {
		name := "heb JavaScript"
		if js {
			name = "gyda JavaScript"
		}
		t.Run(name, func(t *testing.T) {
			b := openTab(t, js)
			welsh := func(page string) {
				t.Helper()
				if got := b.eval(`document.documentElement.lang`); got != "cy" {
					t.Fatalf("%s: html lang = %q", page, got)
				}
				if got := b.eval(`location.pathname`); !strings.HasPrefix(got, "/cy") {
					t.Fatalf("%s: left the Welsh pages for %s", page, got)
				}
				b.a11y(page)
			}
			// From the English start page, by the language toggle.
			b.open(base + "/")
			b.click(`a[hreflang="cy"]`)
			b.page("Archebu llyfryn gwybodaeth etholiad")
			welsh("start")
			b.click("a.govuk-button--start")
			b.page("Beth yw eich cod post?")
			welsh("postcode")
			b.click(`form button[type=submit]:not([formaction])`)
			b.page("Gwall: Beth yw eich cod post?")
			if got := b.text(".govuk-error-summary"); !strings.Contains(got, "Mae problem wedi codi") || !strings.Contains(got, "Rhowch god post") {
				t.Errorf("Welsh error summary = %q", got)
			}
			welsh("postcode with errors")
			b.typeInto("postcode", "CF10 1AA")
			b.click(`form button[type=submit]:not([formaction])`)
			b.page("Pa lyfryn sydd ei angen arnoch chi?")
			if got := b.text("form"); !strings.Contains(got, "De Cymru") {
				t.Errorf("the booklet page does not name South Wales in Welsh: %q", got)
			}
			welsh("booklet")
			b.tick("area-2") // De Cymru after Gwent
			b.tick("formats")
			b.click(`form button[type=submit]:not([formaction])`)
			b.page("Ym mha iaith hoffech chi gael y llyfryn?")
			// The Welsh journey offers a Welsh booklet first.
			if got := b.eval(`document.querySelector('input[name=language]:checked').value`); got != "cy" {
				t.Errorf("language chosen first = %q, want cy", got)
			}
			welsh("language")
			b.click(`form button[type=submit]:not([formaction])`)
			b.page("I ble dylem ni anfon y llyfryn?")
			welsh("address")
			b.typeInto("name", "Siân Prys")
			b.typeInto("address_line_1", "1 Heol y Frenhines")
			b.typeInto("town", "Caerdydd")
			b.click(`form button[type=submit]:not([formaction])`)
			b.page("Gwiriwch eich atebion cyn anfon eich archeb")
			summary := b.text(".govuk-main-wrapper")
			for _, want := range []string{"De Cymru", "Print safonol", "Cymraeg", "Siân Prys", "Caerdydd", "CF10 1AA", "Newid"} {
				if !strings.Contains(summary, want) {
					t.Errorf("Welsh check answers lacks %q", want)
				}
			}
			welsh("check answers")
			b.back()
			b.page("I ble dylem ni anfon y llyfryn?")
			b.forward()
			b.page("Gwiriwch eich atebion cyn anfon eich archeb")
			// "Newid" (Change) the language: a Welsh page, back to Check
			// your answers.
			b.click(`a[href="/cy/order/language"]`)
			b.page("Ym mha iaith hoffech chi gael y llyfryn?")
			b.tick("languages-3")
			b.click(`form button[type=submit]:not([formaction])`)
			b.page("Gwiriwch eich atebion cyn anfon eich archeb")
			if got := b.text(".govuk-main-wrapper"); !strings.Contains(got, "Saesneg a Chymraeg") {
				t.Errorf("the changed language is not shown: %q", got)
			}
			b.click(`a[href="/cy/order/language"]`)
			b.tick("languages-2")
			b.click(`form button[type=submit]:not([formaction])`)
			b.page("Gwiriwch eich atebion cyn anfon eich archeb")
			b.click(`form button[type=submit]:not([formaction])`)
			b.page("Archeb wedi dod i law")
			welsh("confirmation")
			ref := strings.TrimSpace(b.text("#reference"))
			// Its status, in Welsh, from the confirmation's link. This test
			// runs no batcher, so the order is not stored yet: the page says
			// so in Welsh (browser_status_test.go has stored orders).
			b.click(`a[href="/cy/status"]`)
			b.typeInto("reference", ref)
			b.click(`form button[type=submit]`)
			b.page("Gwall: Gwirio eich archeb")
			welsh("status")
			b.back()
			b.back()
			b.page("Archeb wedi dod i law")
			// The toggle gives the same page in English.
			// (Read by script and followed by its address: after a history
			// move, chromedp's DOM queries and clicks wait for events this
			// Chromium does not send.)
			toggle := b.eval(`document.querySelector('a[hreflang="en"]').getAttribute('href')`)
			if toggle != "/order/confirmation" {
				t.Errorf("the toggle leads to %q", toggle)
			}
			b.open(base + toggle)
			b.page("Order received")
			if got := strings.TrimSpace(b.text("#reference")); got != ref {
				t.Errorf("the English confirmation shows %q, want %q", got, ref)
			}
			var found *order.Order
			for _, o := range storedOrders(t, cfg) {
				if o.Reference.String() == ref {
					found = &o
				}
			}
			if found == nil || found.Area != "south-wales" || len(found.Languages) != 1 || found.Languages[0] != order.Welsh {
				t.Fatalf("stored order for %s = %+v", ref, found)
			}
		})
	}
}

// TestBrowserWelshPages: the Welsh content, status and error pages are
// lang="cy" and axe-clean at both widths, with JavaScript off and on.
func TestBrowserWelshPages(t *testing.T) {
	t.Parallel()
	base, _ := startIntake(t, nil)
	for _, js := range []bool{false, true} {
		b := openTab(t, js)
		for _, p := range []string{"/cy", "/cy/privacy", "/cy/cookies", "/cy/accessibility", "/cy/contact", "/cy/status",
			"/cy/status?reference=ABCD-EFGH-JKM", "/cy/research", "/cy/research/withdraw", "/cy/order/timed-out", "/cy/no-such-page"} {
			b.open(base + p)
			if got := b.eval(`document.documentElement.lang`); got != "cy" {
				t.Errorf("%s: html lang = %q", p, got)
			}
			b.a11y(p)
		}
	}
}

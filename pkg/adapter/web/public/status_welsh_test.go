package public

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/reference"
	"booklets/pkg/testkit/batcherday"
	"booklets/pkg/testkit/testenv"
)

// welshMonths are the months as a Welsh reader expects them, written out
// here rather than taken from the catalogue, so that a wrong month name in
// cy.toml fails the test instead of agreeing with it.
var welshMonths = [12]string{"Ionawr", "Chwefror", "Mawrth", "Ebrill", "Mai", "Mehefin",
	"Gorffennaf", "Awst", "Medi", "Hydref", "Tachwedd", "Rhagfyr"}

func welshDay(d businessday.Date) string {
	return fmt.Sprintf("%d %s %d", d.Day, welshMonths[d.Month-1], d.Year)
}

// statusGet fetches a page and checks that it is the Welsh one: lang="cy",
// the toggle to the same page in English, and every link and form of the
// page under /cy (the language is kept through checking and cancelling).
func (f *trackFixture) statusGet(t *testing.T, path string, status int, wants ...string) string {
	t.Helper()
	w := f.do(httpRequest("GET", path, ""))
	wantPage(t, path, w, status, wants...)
	body := w.Body.String()
	// The toggle leads to the same page in English, query and all (the
	// reference), written as HTML writes an attribute.
	english := html.EscapeString(strings.TrimPrefix(path, "/cy"))
	if !strings.Contains(body, `<html lang="cy"`) || !strings.Contains(body, `href="`+english+`" hreflang="en" lang="en"`) {
		t.Errorf("%s is not the Welsh page with its toggle to %s", path, english)
	}
	for _, m := range regexp.MustCompile(`(?:href|action|formaction)="(/[^"]*)"`).FindAllStringSubmatch(body, -1) {
		if u := m[1]; !strings.HasPrefix(u, "/cy") && !strings.HasPrefix(u, "/assets/") && u != english {
			t.Errorf("%s links to %s, out of Welsh", path, u)
		}
	}
	return body
}

// statusPost posts the Welsh cancel form and returns where it is sent.
func (f *trackFixture) statusPost(t *testing.T, ref, postcode string) string {
	t.Helper()
	w := f.postForm("/cy/status/cancel", url.Values{"reference": {ref}, "postcode": {postcode}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("Welsh cancel of %s: %d, want 303\n%s", ref, w.Code, w.Body)
	}
	return w.Header().Get("Location")
}

// TestStatusInWelsh: under /cy, the status of a received, a cancelled, a
// being-sent and a sent order, and the whole cancel flow (its errors, its
// redirects, the cancelled page), in Welsh words with Welsh dates and day
// names, never leaving /cy; the English pages say what they said before.
func TestStatusInWelsh(t *testing.T) {
	t.Parallel()
	f := newTrackFixture(t, nil)

	// The form and its errors, in the Welsh error summary.
	f.statusGet(t, "/cy/status", http.StatusOK, "<title>Gwirio eich archeb", "Gwirio neu ganslo eich archeb", `action="/cy/status"`,
		"Rhowch gyfeirnod yr archeb a roesom i chi", "Parhau")
	f.statusGet(t, "/cy/status?reference=", http.StatusBadRequest, "Mae problem wedi codi", "Gwall:", "Rhowch gyfeirnod eich archeb")
	f.statusGet(t, "/cy/status?reference="+mistype(f.ref), http.StatusBadRequest,
		"Gwiriwch y cyfeirnod: mae’n ymddangos bod un o’r nodau’n anghywir", `value="`+mistype(f.ref)+`"`)
	f.statusGet(t, "/cy/status?reference=K0QM", http.StatusBadRequest, "Rhowch y cyfeirnod fel y mae’n ymddangos ar eich cadarnhad")
	f.statusGet(t, "/cy/status?reference="+reference.New().String(), http.StatusNotFound, "Ni allwn ddod o hyd i archeb gyda’r cyfeirnod hwnnw")

	// Received, before the cut-off (23:00 on Wednesday 25 November 2026):
	// the time and the day in Welsh, the tag blue (no modifier: GOV.UK
	// Frontend 6 has no govuk-tag--blue).
	const cutoffCY = "11yh ar ddydd Mercher 25 Tachwedd 2026"
	f.statusGet(t, "/cy/status?reference="+f.ref, http.StatusOK,
		"<title>Eich archeb", "Archeb "+f.ref, `<strong class="govuk-tag" id="status">Wedi dod i law</strong>`,
		"Mae eich archeb gennym. Bydd yn mynd at ein hargraffydd ar ôl "+cutoffCY+". Gallwch ei chanslo tan hynny.",
		">Cyfeirnod</dt>", ">Wedi dod i law</dt>", ">25 Tachwedd 2026</dd>", ">Yn mynd at yr argraffydd</dt>", ">Ar ôl "+cutoffCY+"</dd>",
		`href="/cy/status/cancel?reference=`+f.ref+`"`, "Canslo’r archeb hon", `href="/cy/status"`, "Gwirio archeb arall")
	// The English page is unchanged.
	w := f.do(httpRequest("GET", "/status?reference="+f.ref, ""))
	wantPage(t, "English status", w, http.StatusOK, `<html lang="en"`, `<strong class="govuk-tag" id="status">Received</strong>`,
		"We have your order. It goes to our printer after 11pm on Wednesday 25 November 2026. You can cancel it until then.",
		">After 11pm on Wednesday 25 November 2026</dd>", `href="/status/cancel?reference=`+f.ref+`"`, `href="/cy/status?reference=`+f.ref+`" hreflang="cy" lang="cy"`)

	// The cancel form, its errors, each answered 303 to a Welsh page.
	f.statusGet(t, "/cy/status/cancel?reference="+f.ref, http.StatusOK, "<title>Canslo eich archeb", `action="/cy/status/cancel"`,
		"Gallwch ganslo tan "+cutoffCY+".", `<label class="govuk-label govuk-label--s" for="postcode">Cod post</label>`,
		"Ydw, canslo fy archeb", `href="/cy/status?reference=`+f.ref+`">Na, cadw fy archeb`)
	for pc, want := range map[string]string{
		"":         "Rhowch y cod post a roesoch pan wnaethoch archebu",
		"nonsense": "Rhowch god post go iawn, fel SW1A 1AA",
		"CT1 9ZZ":  "Ni allem ddod o hyd i archeb gyda’r cyfeirnod a’r cod post hwnnw",
	} {
		loc := f.statusPost(t, f.ref, pc)
		if !strings.HasPrefix(loc, "/cy/status/cancel?reference="+f.ref+"&error=") {
			t.Errorf("postcode %q: to %s", pc, loc)
		}
		f.statusGet(t, loc, http.StatusOK, "Mae problem wedi codi", want, `href="#postcode"`)
	}
	if loc := f.statusPost(t, mistype(f.ref), "CT1 1AA"); loc != "/cy/status?reference="+mistype(f.ref) {
		t.Errorf("a mistyped reference posted: to %s", loc)
	}
	loc := f.statusPost(t, strings.ToLower(f.ref), "ct1 1aa")
	if loc != "/cy/status/cancelled?reference="+f.ref {
		t.Fatalf("the Welsh cancel: to %s", loc)
	}
	f.statusGet(t, loc, http.StatusOK, "<title>Archeb wedi’i chanslo", "Eich cyfeirnod<br><strong id=\"reference\">"+f.ref,
		"Rydym wedi dileu eich enw a’ch cyfeiriad.", `href="/cy" id="order-again">Archebu llyfryn eto`,
		`href="/cy/status?reference=`+f.ref+`">Gweld statws yr archeb hon`)

	// Cancelled: the status, also where Back leads (the cancel form).
	for _, p := range []string{"/cy/status?reference=" + f.ref, "/cy/status/cancel?reference=" + f.ref} {
		body := f.statusGet(t, p, http.StatusOK, `<strong class="govuk-tag govuk-tag--grey" id="status">Wedi’i chanslo</strong>`,
			"Cafodd yr archeb hon ei chanslo.", ">Wedi’i chanslo</dt>", ">Gwnaethom ddileu eich enw a’ch cyfeiriad</dt>", ">25 Tachwedd 2026</dd>")
		// (The language toggle of the cancel form's own address is not an
		// offer to cancel.)
		offers := strings.ReplaceAll(body, `href="`+html.EscapeString(strings.TrimPrefix(p, "/cy"))+`" hreflang="en"`, "")
		if strings.Contains(offers, `name="postcode"`) || strings.Contains(offers, "/status/cancel?") {
			t.Errorf("%s offers to cancel a cancelled order", p)
		}
	}
	// The cancelled page of a live order redirects to its Welsh status.
	if w := f.do(httpRequest("GET", "/cy/status/cancelled?reference="+f.other, "")); w.Code != http.StatusSeeOther ||
		w.Header().Get("Location") != "/cy/status?reference="+f.other {
		t.Errorf("the cancelled page of a live order: %d to %s", w.Code, w.Header().Get("Location"))
	}

	// Past the cut-off: being sent, too late to cancel.
	f.day.SetNow(batcherday.At("2026-11-25 23:30:00"))
	f.statusGet(t, "/cy/status?reference="+f.other, http.StatusOK, `<strong class="govuk-tag" id="status">Yn cael ei hanfon at yr argraffydd</strong>`,
		"Mae eich archeb yn y swp rydym yn ei anfon at ein hargraffydd.")
	f.statusGet(t, "/cy/status/cancel?reference="+f.other, http.StatusOK, "<title>Mae eich archeb wedi mynd at yr argraffydd",
		"Mae’n rhy hwyr i ganslo’r archeb hon", `href="/cy/status?reference=`+f.other+`">Gweld ble mae eich archeb`)
	if loc := f.statusPost(t, f.other, "CT1 1AA"); loc != "/cy/status/cancel?reference="+f.other {
		t.Errorf("a Welsh cancel after the cut-off: to %s", loc)
	}

	// Sent by the real end of day: the date it went and the printer's
	// deletion date, in Welsh.
	res, err := f.day.Sender().SendBatch(context.Background(), batcherday.Date("2026-11-25"))
	testenv.Must(t, err)
	f.statusGet(t, "/cy/status?reference="+f.other, http.StatusOK,
		`<strong class="govuk-tag govuk-tag--teal" id="status">Wedi’i hanfon at yr argraffydd</strong>`,
		"Rydym wedi anfon eich archeb at ein hargraffydd.", ">Wedi’i hanfon at yr argraffydd</dt>", ">25 Tachwedd 2026</dd>",
		">Rhaid i’r argraffydd ddileu eich enw a’ch cyfeiriad</dt>", ">Erbyn "+welshDay(res.Batch.DueDate)+"</dd>")
	w = f.do(httpRequest("GET", "/status?reference="+f.other, ""))
	wantPage(t, "English sent status", w, http.StatusOK, `<strong class="govuk-tag govuk-tag--teal" id="status">Sent to the printer</strong>`,
		">By "+res.Batch.DueDate.UTC().Format("2 January 2006")+"</dd>")

	var missing []string
	f.srv.catalogues.missing.Range(func(k, _ any) bool { missing = append(missing, k.(string)); return true })
	if len(missing) > 0 {
		t.Errorf("texts missing from the catalogues: %v", missing)
	}
}

// TestStatusAPIProblemsInWelsh: each problem of the status API in Welsh
// when the client prefers Welsh (Accept-Language: cy), its type, status
// and fields the same; in English the words it had before the catalogues.
func TestStatusAPIProblemsInWelsh(t *testing.T) {
	t.Parallel()
	f := newTrackFixture(t, nil)
	call := func(method, path, body, acceptLanguage string) (problem, http.Header) {
		t.Helper()
		r := httpRequest(method, path, body)
		if method == "POST" {
			r.Header.Set("Content-Type", "application/json")
		}
		if acceptLanguage != "" {
			r.Header.Set("Accept-Language", acceptLanguage)
		}
		w := f.do(r)
		var p problem
		jsonUnmarshal(t, w.Body.Bytes(), &p)
		if p.Status != w.Code || w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		return p, w.Header()
	}
	type words struct{ title, detail, field string }
	cases := []struct {
		name, method, path, body string
		status                   int
		en, cy                   words
	}{
		{"unknown reference", "GET", "/api/v1/orders/" + reference.New().String(), "", 404,
			words{"No order with that reference", "Check the reference. An order placed in the last few minutes may not be found yet: try again shortly.", ""},
			words{"Dim archeb gyda’r cyfeirnod hwnnw", "Gwiriwch y cyfeirnod. Efallai na fydd archeb a wnaed yn ystod yr ychydig funudau diwethaf i’w chael eto: rhowch gynnig arall arni cyn bo hir.", ""}},
		{"mistyped reference", "GET", "/api/v1/orders/" + mistype(f.ref), "", 400,
			words{"Not an order reference", "The reference's check character does not match: one of the characters is mistyped.", ""},
			words{"Nid yw’n gyfeirnod archeb", "Nid yw nod gwirio’r cyfeirnod yn cyfateb: mae un o’r nodau wedi’i deipio’n anghywir.", ""}},
		{"not a reference", "GET", "/api/v1/orders/ABC", "", 400,
			words{"Not an order reference", "A reference is 11 characters of 23456789ABCDEFGHJKLMNPQRSTUVWXYZ, grouped like K7QM-X9PA-C4T.", ""},
			words{"Nid yw’n gyfeirnod archeb", "Mae cyfeirnod yn 11 nod o 23456789ABCDEFGHJKLMNPQRSTUVWXYZ, wedi’u grwpio fel K7QM-X9PA-C4T.", ""}},
		{"wrong postcode", "POST", "/api/v1/orders/" + f.ref + "/cancel", `{"postcode":"CT1 9ZZ"}`, 404,
			words{"No order with that reference and postcode", "Check the reference and the postcode the order was placed with.", ""},
			words{"Dim archeb gyda’r cyfeirnod a’r cod post hwnnw", "Gwiriwch y cyfeirnod a’r cod post a roddwyd gyda’r archeb.", ""}},
		{"no postcode", "POST", "/api/v1/orders/" + f.ref + "/cancel", `{}`, 422,
			words{"The postcode is missing or not a UK postcode", "Send the postcode the order was placed with.", "Enter the postcode the order was placed with."},
			words{"Mae’r cod post ar goll neu nid yw’n god post yn y DU", "Anfonwch y cod post a roddwyd gyda’r archeb.", "Rhowch y cod post a roddwyd gyda’r archeb."}},
		{"not a postcode", "POST", "/api/v1/orders/" + f.ref + "/cancel", `{"postcode":"nonsense"}`, 422,
			words{"The postcode is missing or not a UK postcode", "Send the postcode the order was placed with.", "Enter a UK postcode, like SW1A 1AA."},
			words{"Mae’r cod post ar goll neu nid yw’n god post yn y DU", "Anfonwch y cod post a roddwyd gyda’r archeb.", "Rhowch god post yn y DU, fel SW1A 1AA."}},
	}
	check := func(c string, al string, p problem, h http.Header, status int, want words, lang string) {
		t.Helper()
		if p.Status != status || p.Title != want.title || p.Detail != want.detail || h.Get("Content-Language") != lang {
			t.Errorf("%s (%q): %+v, Content-Language %q; want %d %+v", c, al, p, h.Get("Content-Language"), status, want)
		}
		if want.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != "postcode" || p.Errors[0].Message != want.field) {
			t.Errorf("%s (%q): errors %+v, want postcode: %s", c, al, p.Errors, want.field)
		}
	}
	for _, c := range cases {
		en, h := call(c.method, c.path, c.body, "")
		check(c.name, "", en, h, c.status, c.en, "en")
		for _, al := range []string{"cy", "cy-GB", "cy,en;q=0.5"} {
			cy, h := call(c.method, c.path, c.body, al)
			check(c.name, al, cy, h, c.status, c.cy, "cy")
			if cy.Type != en.Type {
				t.Errorf("%s (%q): type %s, in English %s", c.name, al, cy.Type, en.Type)
			}
		}
		if en, h := call(c.method, c.path, c.body, "en-GB,cy;q=0.5"); en.Title != c.en.title || h.Get("Content-Language") != "en" {
			t.Errorf("%s: English preferred: %+v", c.name, en)
		}
	}

	// Too late: past the cut-off, 409.
	f.day.SetNow(batcherday.At("2026-11-25 23:01:00"))
	late := "/api/v1/orders/" + f.other + "/cancel"
	en, h := call("POST", late, `{"postcode":"CT1 1AA"}`, "")
	check("too late", "", en, h, http.StatusConflict, words{"The order has gone to the printer",
		"An order can be cancelled only until the cut-off of the day it was received; this one is being sent or has been sent to the printer.", ""}, "en")
	cy, h := call("POST", late, `{"postcode":"CT1 1AA"}`, "cy")
	check("too late", "cy", cy, h, http.StatusConflict, words{"Mae’r archeb wedi mynd at yr argraffydd",
		"Dim ond tan amser cau’r diwrnod y daeth i law y gellir canslo archeb; mae hon yn cael ei hanfon, neu wedi’i hanfon, at yr argraffydd.", ""}, "cy")
	if cy.Type != "urn:booklets:problem:too-late" || cy.Type != en.Type {
		t.Errorf("too late: types %s and %s", en.Type, cy.Type)
	}
}

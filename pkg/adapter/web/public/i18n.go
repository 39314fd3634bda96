package public

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
)

// Every public page is in English and in Welsh (issue 18, the Welsh
// Language Standards). Every text a person reads comes from a message
// catalogue, one per language (locales/en.toml, locales/cy.toml,
// embedded), through go-i18n, which knows Welsh's six plural forms. A test
// fails when a message is in one catalogue and not the other, and when a
// template holds words of its own (i18n_test.go). docs/form.md says how a
// translator reviews the Welsh; a Welsh message still awaiting that review
// says so in its description ("review").
//
// The language is in the address, not in a cookie: a Welsh page is the
// English one's path under /cy (/cy/order/postcode), every link, form and
// redirect of a Welsh page keeps the prefix (Href), and the language
// toggle on every page links to the same page in the other language. The
// API takes Accept-Language for its problem responses.

// lang is a language of the service.
type lang string

const (
	langEN lang = "en"
	langCY lang = "cy"
)

// welshPrefix is the path prefix of the Welsh pages.
const welshPrefix = "/cy"

//go:embed locales/*.toml
var localeFS embed.FS

// catalogues are the loaded message catalogues.
type catalogues struct {
	bundle *i18n.Bundle
	loc    map[lang]*i18n.Localizer
	// validation maps the domain's English validation messages to their
	// catalogue ids (the [validation] table), so that a Welsh page shows
	// them in Welsh: pkg/domain stays free of presentation.
	validation map[string]string
	// ids are every message id of the English catalogue.
	ids map[string]bool
	// missing records ids asked for and not found, for the tests.
	missing sync.Map
}

// has tells whether the catalogues have a message.
func (c *catalogues) has(id string) bool { return c.ids[id] }

func loadCatalogues() (*catalogues, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	names, err := fs.Glob(localeFS, "locales/*.toml")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, err := b.LoadMessageFileFS(localeFS, n); err != nil {
			return nil, fmt.Errorf("web: message catalogue %s: %w", n, err)
		}
	}
	c := &catalogues{bundle: b, loc: map[lang]*i18n.Localizer{
		langEN: i18n.NewLocalizer(b, "en"),
		langCY: i18n.NewLocalizer(b, "cy"),
	}, validation: map[string]string{}, ids: map[string]bool{}}
	ids, err := messageIDs(langEN)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		c.ids[id] = true
		if strings.HasPrefix(id, "validation.") {
			c.validation[c.text(langEN, id)] = id
		}
	}
	return c, nil
}

// fieldErrors are a form's errors in the language: the domain words them in
// English; each has its Welsh in the catalogue.
func (c *catalogues) fieldErrors(l lang, errs order.ValidationError) order.ValidationError {
	if l == langEN || len(errs) == 0 {
		return errs
	}
	out := make(order.ValidationError, len(errs))
	for i, fe := range errs {
		out[i] = fe
		if id, ok := c.validation[fe.Message]; ok {
			out[i].Message = c.text(l, id)
		} else {
			c.missing.Store("validation: "+fe.Message, true)
		}
	}
	return out
}

// text is the message id in the language, with args (name, value pairs)
// put in its {{.Name}} places. A missing message is a programming error
// that the catalogue tests catch; at run time it shows the id rather than
// failing the page.
func (c *catalogues) text(l lang, id string, args ...any) string {
	var data map[string]any
	var count any
	if len(args) > 0 {
		data = make(map[string]any, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			k := fmt.Sprint(args[i])
			data[k] = args[i+1]
			if k == "Count" {
				count = args[i+1]
			}
		}
	}
	s, tag, err := c.loc[l].LocalizeWithTag(&i18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
	if err != nil || tag.String() != string(l) {
		c.missing.Store(string(l)+": "+id, true)
	}
	if err != nil {
		return id
	}
	return s
}

// translator is one page's language: the methods templates call, as
// {{.T "id"}}, {{.Href "/path"}}, {{.Date .When}}.
type translator struct {
	cat  *catalogues
	Lang lang
	// path is the page's address without the language prefix, for the
	// language toggle.
	path string
}

// T is a message as HTML: the catalogues are ours and may hold markup
// (a link inside a sentence); every argument is escaped first.
func (t translator) T(id string, args ...any) template.HTML {
	for i := 1; i < len(args); i += 2 {
		switch v := args[i].(type) {
		case template.HTML:
		case string:
			args[i] = template.HTMLEscapeString(v)
		}
	}
	return template.HTML(t.cat.text(t.Lang, id, args...))
}

// Text is a message as plain text, for attributes and the title: its
// arguments are left as they are and html/template escapes the whole.
func (t translator) Text(id string, args ...any) string {
	return t.cat.text(t.Lang, id, args...)
}

// Has tells whether the catalogues have a message (a format without a
// hint has none).
func (t translator) Has(id string) bool { return t.cat.has(id) }

// Href is the address of a page of the service in the page's language.
func (t translator) Href(p string) string { return hrefIn(t.Lang, p) }

func hrefIn(l lang, p string) string {
	if l != langCY || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "/assets/") || strings.HasPrefix(p, "/api/") {
		return p
	}
	if p == "/" {
		return welshPrefix
	}
	return welshPrefix + p
}

// Area is an area's name in the page's language: its Welsh name on a
// Welsh page where the catalogue of areas gives one.
func (t translator) Area(a catalogue.Area) string {
	if t.Lang == langCY && a.WelshName != "" {
		return a.WelshName
	}
	return a.Name
}

// Welsh tells whether the page is in Welsh.
func (t translator) Welsh() bool { return t.Lang == langCY }

// Toggle is the same page in the other language, for the toggle.
func (t translator) Toggle() string {
	if t.Lang == langCY {
		return hrefIn(langEN, t.path)
	}
	return hrefIn(langCY, t.path)
}

// monthIDs are the catalogue's month names, January first.
var monthIDs = [12]string{"month.1", "month.2", "month.3", "month.4", "month.5", "month.6",
	"month.7", "month.8", "month.9", "month.10", "month.11", "month.12"}

// Date is a London date as GOV.UK writes it: "3 December 2026", "3 Rhagfyr
// 2026". A zero time is "".
func (t translator) Date(when time.Time) string {
	if when.IsZero() {
		return ""
	}
	d := when.In(businessday.London())
	return fmt.Sprintf("%d %s %d", d.Day(), t.Text(monthIDs[d.Month()-1]), d.Year())
}

// Day is a business date as Date writes it.
func (t translator) Day(d businessday.Date) string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d %s %d", d.Day, t.Text(monthIDs[d.Month-1]), d.Year)
}

// withLanguage takes the Welsh prefix off a page's path, so that the
// routes are the same in both languages, and notes the language for the
// handlers (requestInfo.lang). The API's language is Accept-Language's.
func withLanguage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		p := r.URL.Path
		switch {
		case p == welshPrefix || strings.HasPrefix(p, welshPrefix+"/"):
			info.lang = langCY
			r2 := new(http.Request)
			*r2 = *r
			u := *r.URL
			u.Path = strings.TrimPrefix(p, welshPrefix)
			if u.Path == "" {
				u.Path = "/"
			}
			u.RawPath = ""
			r2.URL = &u
			r = r2
		case strings.HasPrefix(p, "/api/"):
			info.lang = acceptLanguage(r.Header.Get("Accept-Language"))
		default:
			info.lang = langEN
		}
		next.ServeHTTP(w, r)
	})
}

var langMatcher = language.NewMatcher([]language.Tag{language.English, language.MustParse("cy")})

// acceptLanguage is Welsh when the client prefers it to English.
func acceptLanguage(header string) lang {
	if !strings.Contains(strings.ToLower(header), "cy") {
		return langEN // most clients: nothing to parse (the API's hot path)
	}
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(tags) == 0 {
		return langEN
	}
	if _, i, conf := langMatcher.Match(tags...); i == 1 && conf != language.No {
		return langCY
	}
	return langEN
}

// translatorFor is the translator of a request's page. The toggle keeps
// a GET page's query (the status page's ?reference=): no page of the
// service puts personal data in one (forms that carry it are POSTs).
func (s *Server) translatorFor(r *http.Request) translator {
	p := r.URL.Path
	if r.Method == http.MethodGet && r.URL.RawQuery != "" {
		p += "?" + r.URL.RawQuery
	}
	return translator{cat: s.catalogues, Lang: infoFrom(r.Context()).lang, path: p}
}

// redirect answers 303 See Other to a page of the service, in the
// request's language.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, p string) {
	http.Redirect(w, r, hrefIn(infoFrom(r.Context()).lang, p), http.StatusSeeOther)
}

// messageIDs lists the message ids of a language's catalogue, sorted.
func messageIDs(l lang) ([]string, error) {
	name := "locales/" + string(l) + ".toml"
	b, err := localeFS.ReadFile(name)
	if err != nil {
		return nil, err
	}
	msgs, err := i18n.ParseMessageFileBytes(b, path.Base(name), map[string]i18n.UnmarshalFunc{"toml": toml.Unmarshal})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ids := make([]string, len(msgs.Messages))
	for i, m := range msgs.Messages {
		ids[i] = m.ID
	}
	sort.Strings(ids)
	return ids, nil
}

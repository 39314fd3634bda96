package public

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/stage/research"
)

// pageFiles are the pages, each parsed with the shared layout. A missing
// or broken template fails New, so a bad deploy never starts.
var pageFiles = []string{
	"start.html", "postcode.html", "booklet.html", "language.html", "address.html", "check.html", "confirmation.html", "timed_out.html",
	"privacy.html", "cookies.html", "accessibility.html", "contact.html", "problem.html",
	"volunteer_signup.html", "volunteer_done.html", "volunteer_withdraw.html", "volunteer_withdrawn.html",
	"status.html", "cancel.html", "cancelled.html",
}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		// errorClass adds GOV.UK's error modifier to a component's classes.
		"errorClass": func(msg, base string) string {
			if msg == "" {
				return base
			}
			return strings.TrimSpace(base) + " " + strings.Fields(base)[0] + "--error"
		},
		"inc":  func(i int) int { return i + 1 },
		"list": func(v ...string) []string { return v },
		"input": func(t texter, id, label, value, errMsg, autocomplete, width string, noSpellcheck bool) inputField {
			return inputField{ID: id, Label: label, Value: value, Error: errMsg, Autocomplete: autocomplete, Width: width,
				NoSpellcheck: noSpellcheck, ErrorPrefix: t.Text("layout.error_prefix")}
		},
	}
	pages := make(map[string]*template.Template, len(pageFiles))
	for _, name := range pageFiles {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/volunteer_form.html",
			"templates/journey_parts.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("web: parse page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// pageData is everything a page may show.
type pageData struct {
	// translator gives the templates the page's language: .T, .Text,
	// .Href, .Date, .Toggle (i18n.go).
	translator
	Title  string
	Errors order.ValidationError
	Draft  order.Draft
	// Areas are every area of the catalogue (the booklet page's list).
	Areas []catalogue.Area
	// Booklet is the booklet page's choices (journey.go).
	Booklet  bookletView
	AreaName string
	// Language is the language page's choice ("en", "cy", "both"), and
	// on Check your answers the words for it ("" when not asked).
	Language string
	// AreaPrompt, on "Check your answers", is the postcode area ("CF")
	// when the chosen area does not usually cover it: a prompt to check.
	AreaPrompt string
	// Formats are the formats chosen, by code, on Check your answers.
	Formats []string
	// Back is the address of the page's Back link, if it has one.
	Back string
	// Timeout is the answers' time limit, on the pages that keep answers.
	Timeout *timeoutView
	// Lost says that earlier answers were deleted after the time limit.
	Lost bool
	// Retry offers "Try again" on an error page: the answers and their
	// idempotency key are still in the cookie.
	Retry        bool
	Reference    string
	Problem      *problem
	AssetVersion string
	Research     researchData
	// Track is the status and cancel pages' order (status.go).
	Track *statusView
	// Service is who runs the service (identity.go): every page's phase
	// banner and footer, the contact, privacy and accessibility pages.
	Service Identity
	// AnswersMinutes is how long the answers cookie keeps answers after
	// the last page (StateTTL), for the cookies page.
	AnswersMinutes int
}

// inputField is one text input of the address page.
type inputField struct {
	ID, Label, Value, Error, Autocomplete, Width string
	NoSpellcheck                                 bool
	// ErrorPrefix is "Error:" in the page's language.
	ErrorPrefix string
}

// texter is what gives a template func the page's words (pageData).
type texter interface {
	Text(id string, args ...any) string
}

// formatOption is one format's checkbox; its words are the catalogue's
// format.<code>.label and .hint.
type formatOption struct {
	ID, Code string
	Checked  bool
}

// assetVersion busts browser caches of the long-lived stylesheet and
// script when GOV.UK Frontend or our own files change.
const assetVersion = "6.6.0-3"

// render writes a page. The template is executed into a buffer first, so
// that a template error becomes a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data pageData) {
	data.AssetVersion = assetVersion
	data.translator = s.translatorFor(r)
	data.Errors = s.catalogues.fieldErrors(data.Lang, data.Errors)
	data.Service = s.identity
	data.AnswersMinutes = int((s.sealer.ttl + time.Minute - 1) / time.Minute)
	data.Research.Enabled = s.research != nil
	data.Research.ConsentText, data.Research.ConsentVersion = research.ConsentIn(string(data.Lang))
	var buf bytes.Buffer
	if err := s.pages[name].Execute(&buf, data); err != nil {
		infoFrom(r.Context()).logger(s.log).Error().Err(err).Str("page", name).Msg("render page")
		s.internalError(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func (s *Server) static(name, title string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		s.render(w, r, http.StatusOK, name, pageData{Title: title})
		return nil
	}
}

func (s *Server) start(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "start.html", pageData{})
	return nil
}

package public

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"strings"

	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/stage/placeorder"
	"booklets/pkg/stage/research"
)

// pageFiles are the pages, each parsed with the shared layout. A missing
// or broken template fails New, so a bad deploy never starts.
var pageFiles = []string{
	"start.html", "booklet.html", "address.html", "check.html", "confirmation.html",
	"privacy.html", "cookies.html", "accessibility.html", "problem.html",
	"volunteer_signup.html", "volunteer_done.html", "volunteer_withdraw.html", "volunteer_withdrawn.html",
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
		"input": func(id, label, value, errMsg, autocomplete, width string, noSpellcheck bool) inputField {
			return inputField{ID: id, Label: label, Value: value, Error: errMsg, Autocomplete: autocomplete, Width: width, NoSpellcheck: noSpellcheck}
		},
		"change": func(state, page, what string) changeButton {
			return changeButton{State: state, Page: page, What: what}
		},
	}
	pages := make(map[string]*template.Template, len(pageFiles))
	for _, name := range pageFiles {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/volunteer_form.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("web: parse page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// pageData is everything a page may show.
type pageData struct {
	Title        string
	Errors       order.ValidationError
	State        string // sealed form state for the hidden field
	Draft        order.Draft
	Areas        []catalogue.Area
	Formats      []formatOption
	AreaName     string
	FormatLabels []string
	Reference    string
	Problem      *problem
	AssetVersion string
	Research     researchData
}

// inputField is one text input of the address page.
type inputField struct {
	ID, Label, Value, Error, Autocomplete, Width string
	NoSpellcheck                                 bool
}

// changeButton is a "Change" button on "Check your answers", or (What
// unused) the "Back" button of a later question page: a POST, as the
// answers must never be in a URL.
type changeButton struct{ State, Page, What string }

type formatOption struct {
	ID, Code, Label, Hint string
	Checked               bool
}

// assetVersion busts browser caches of the long-lived stylesheet and
// script when GOV.UK Frontend or our own files change.
const assetVersion = "5.9.0-2"

// render writes a page. The template is executed into a buffer first, so
// that a template error becomes a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data pageData) {
	data.AssetVersion = assetVersion
	data.Research.Enabled = s.research != nil
	data.Research.ConsentText, data.Research.ConsentVersion = research.ConsentText, research.ConsentVersion
	var buf bytes.Buffer
	if err := s.pages[name].Execute(&buf, data); err != nil {
		infoFrom(r.Context()).logger(s.log).Error().Err(err).Str("page", name).Msg("render page")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, internalErrorText)
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

// restart sends a GET of a later page (a bookmark, a typed address) to
// the first question: the answers are not in the URL, so there is nothing
// to show.
func (s *Server) restart(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/order/booklet", http.StatusSeeOther)
	return nil
}

// The fields asked on each question page.
var (
	bookletFields = []string{order.FieldArea, order.FieldFormats}
	addressFields = []string{order.FieldName, order.FieldAddressLine1, order.FieldAddressLine2, order.FieldTown, order.FieldPostcode}
)

// errorsFor keeps the errors of the given fields, in the page's order.
func errorsFor(err error, fields []string) order.ValidationError {
	verr, _ := err.(order.ValidationError)
	var out order.ValidationError
	for _, f := range fields {
		for _, fe := range verr {
			if fe.Field == f {
				out = append(out, fe)
			}
		}
	}
	return out
}

func (s *Server) bookletPage(w http.ResponseWriter, r *http.Request) error {
	return s.showBooklet(w, r, formState{}, nil)
}

func (s *Server) showBooklet(w http.ResponseWriter, r *http.Request, st formState, errs order.ValidationError) error {
	sealed, err := s.sealer.seal(st)
	if err != nil {
		return err
	}
	chosen := map[string]bool{}
	for _, f := range st.Draft.Formats {
		chosen[f] = true
	}
	opts := make([]formatOption, len(order.Formats))
	for i, f := range order.Formats {
		id := order.FieldFormats
		if i > 0 {
			id = fmt.Sprintf("%s-%d", order.FieldFormats, i+1)
		}
		opts[i] = formatOption{ID: id, Code: string(f), Label: f.Label(), Hint: f.Hint(), Checked: chosen[string(f)]}
	}
	s.render(w, r, http.StatusOK, "booklet.html", pageData{
		Title: "Which booklet do you need?", Errors: errs, State: sealed, Draft: st.Draft,
		Areas: s.catalogue.Areas, Formats: opts,
	})
	return nil
}

func (s *Server) showAddress(w http.ResponseWriter, r *http.Request, st formState, errs order.ValidationError) error {
	sealed, err := s.sealer.seal(st)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "address.html", pageData{
		Title: "Where should we send the booklet?", Errors: errs, State: sealed, Draft: st.Draft,
	})
	return nil
}

// showCheck shows "Check your answers". The submission's idempotency key
// is made here and kept in the sealed state for as long as the answers
// stay the same; other answers get a new key.
func (s *Server) showCheck(w http.ResponseWriter, r *http.Request, st formState, v order.Validated) error {
	if fp := s.orders.Fingerprint(v); st.Key == "" || st.KeyFor != fp {
		st.Key, st.KeyFor = newKey(), fp
	}
	sealed, err := s.sealer.seal(st)
	if err != nil {
		return err
	}
	area, _ := s.catalogue.Lookup(v.Area)
	labels := make([]string, len(v.Formats))
	for i, f := range v.Formats {
		labels[i] = f.Label()
	}
	d := order.Draft{Name: v.Personal.Name, AddressLine1: v.Personal.AddressLine1, AddressLine2: v.Personal.AddressLine2,
		Town: v.Personal.Town, Postcode: v.Personal.Postcode}
	s.render(w, r, http.StatusOK, "check.html", pageData{
		Title: "Check your answers before sending your order", State: sealed, Draft: d,
		AreaName: area.Name, FormatLabels: labels,
	})
	return nil
}

// next shows the first page with a missing or invalid answer, or "Check
// your answers" when there is none. Errors are shown only for the page the
// person has just answered.
func (s *Server) next(w http.ResponseWriter, r *http.Request, st formState, answered []string) error {
	v, err := st.Draft.Validate(s.catalogue)
	if err == nil {
		return s.showCheck(w, r, st, v)
	}
	if _, ok := err.(order.ValidationError); !ok {
		return err
	}
	show := func(fields []string) order.ValidationError {
		if strings.Join(fields, ",") == strings.Join(answered, ",") {
			return errorsFor(err, fields)
		}
		return nil
	}
	if len(errorsFor(err, bookletFields)) > 0 {
		return s.showBooklet(w, r, st, show(bookletFields))
	}
	return s.showAddress(w, r, st, show(addressFields))
}

// openForm parses a posted form and opens its state. An empty state is a
// fresh start only where allowEmpty says so.
func (s *Server) openForm(r *http.Request, allowEmpty bool) (formState, error) {
	// The pages are UTF-8 and browsers send forms in the page's encoding;
	// a post declared in another one would be misread, so it is refused.
	if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil {
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return formState{}, &badRequestError{detail: "The form must be sent in UTF-8."}
		}
	}
	if err := r.ParseForm(); err != nil {
		return formState{}, &badRequestError{detail: "The form could not be read."}
	}
	sealed := r.PostForm.Get("state")
	if sealed == "" && allowEmpty {
		return formState{}, nil
	}
	return s.sealer.open(sealed)
}

func (s *Server) bookletSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := s.openForm(r, true)
	if err != nil {
		return err
	}
	st.Draft.Area = r.PostForm.Get(order.FieldArea)
	st.Draft.Formats = r.PostForm[order.FieldFormats]
	return s.next(w, r, st, bookletFields)
}

func (s *Server) addressSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := s.openForm(r, false)
	if err != nil {
		return err
	}
	f := r.PostForm
	st.Draft.Name = f.Get(order.FieldName)
	st.Draft.AddressLine1 = f.Get(order.FieldAddressLine1)
	st.Draft.AddressLine2 = f.Get(order.FieldAddressLine2)
	st.Draft.Town = f.Get(order.FieldTown)
	st.Draft.Postcode = f.Get(order.FieldPostcode)
	return s.next(w, r, st, addressFields)
}

// change answers a "Change" button on "Check your answers" and the "Back"
// button of the address page (page=booklet) and of "Check your answers"
// (page=address). Changed answers are a new order, so the idempotency key
// is dropped.
func (s *Server) change(w http.ResponseWriter, r *http.Request) error {
	st, err := s.openForm(r, false)
	if err != nil {
		return err
	}
	st.Key, st.KeyFor = "", ""
	if r.PostForm.Get("page") == "address" {
		return s.showAddress(w, r, st, nil)
	}
	return s.showBooklet(w, r, st, nil)
}

// checkSubmit sends the order and answers with the confirmation page
// itself (there is nowhere to redirect to without putting the reference in
// a URL). Refreshing re-posts the same state and key: same reference, one
// order.
func (s *Server) checkSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := s.openForm(r, false)
	if err != nil {
		return err
	}
	if st.Key == "" {
		return errStateInvalid
	}
	v, err := st.Draft.Validate(s.catalogue)
	if err != nil {
		// Only possible if the catalogue changed under a person's feet.
		st.Key, st.KeyFor = "", ""
		return s.next(w, r, st, nil)
	}
	if st.KeyFor != "" && st.KeyFor != s.orders.Fingerprint(v) {
		// showCheck binds the key to the answers; a state where they differ
		// was not made by this form. (A state sealed before KeyFor existed
		// has none; the idempotency record still refuses its key for other
		// answers.)
		return errStateInvalid
	}
	ref, err := s.place(r.Context(), v, st.Key)
	switch {
	case errors.Is(err, placeorder.ErrKeyStale):
		// The first attempt (answered with an error) is of a day that has
		// ended: "Try again" sends the same answers as a new order.
		st.Key = newKey()
		sealed, serr := s.sealer.seal(st)
		if serr != nil {
			return serr
		}
		return &retryableError{err: err, state: sealed}
	case errors.Is(err, placeorder.ErrDayKeyFault), errors.Is(err, placeorder.ErrKeyReused):
		return err // trying again will not help
	case err != nil:
		return &retryableError{err: err, state: r.PostForm.Get("state")}
	}
	s.render(w, r, http.StatusOK, "confirmation.html", pageData{Title: "Order received", Reference: ref.String()})
	return nil
}

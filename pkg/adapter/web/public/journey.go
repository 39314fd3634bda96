package public

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/postcode"
	"booklets/pkg/stage/placeorder"
)

// The order journey is three questions, "Check your answers" and the
// confirmation, each a page of its own address. Every POST is answered
// 303 See Other to a GET page (post/redirect/get), valid or not: the
// answers as given, and which page has errors to show, go in the sealed
// answers cookie (state.go), so Back, Forward and reload move between
// pages as on any GOV.UK service, with no "Confirm Form Resubmission",
// with JavaScript off too.
const (
	pathPostcode     = "/order/postcode"
	pathBooklet      = "/order/booklet"
	pathLanguage     = "/order/language"
	pathAddress      = "/order/address"
	pathCheck        = "/order/check"
	pathConfirmation = "/order/confirmation"
)

// answersCookie holds the sealed answers. It is strictly necessary (the
// cookies page says so), HttpOnly, SameSite=Strict, Secure whenever the
// request came over TLS, for the whole site (the Welsh pages are under
// /cy/order) and a session cookie: the seal's
// own expiry (StateTTL) is what limits its life.
const answersCookie = "booklets_answers"

// question is one question page: its address, the fields it asks, and how
// a POST of it changes the draft.
type question struct {
	path   string
	fields []string
	assign func(d *order.Draft, f formValues)
	// asked, when set, tells whether the question is asked of these
	// answers at all; unanswered, whether it still needs an answer that
	// validation alone would not ask for (an empty answer that has a
	// default). Each returns the error to show, or "".
	asked      func(c *catalogue.Catalogue, d order.Draft) bool
	unanswered func(d order.Draft) string
}

// errors are the question's errors for the answers: validation's for its
// fields, or that it is still unanswered.
func (q question) errors(c *catalogue.Catalogue, d order.Draft) order.ValidationError {
	_, err := d.Validate(c)
	errs := errorsFor(err, q.fields)
	if len(errs) == 0 && q.unanswered != nil {
		if msg := q.unanswered(d); msg != "" {
			errs = order.ValidationError{{Field: q.fields[0], Message: msg}}
		}
	}
	return errs
}

// isAsked tells whether the question is asked of these answers.
func (q question) isAsked(c *catalogue.Catalogue, d order.Draft) bool {
	return q.asked == nil || q.asked(c, d)
}

// formValues reads a posted form, capping every value (maxAnswerRunes).
type formValues struct {
	r         *http.Request
	catalogue *catalogue.Catalogue
}

func (f formValues) get(field string) string {
	return capRunes(f.r.PostForm.Get(field), maxAnswerRunes(field))
}

// questions, in the order they are asked. The postcode comes first so that
// the booklet page can offer the areas that usually cover it; the address
// page shows it again with the rest of the address, where it can be
// corrected.
var questions = []question{
	{path: pathPostcode, fields: []string{order.FieldPostcode}, assign: func(d *order.Draft, f formValues) {
		d.Postcode = f.get(order.FieldPostcode)
	}},
	{path: pathBooklet, fields: []string{order.FieldArea, order.FieldFormats}, assign: func(d *order.Draft, f formValues) {
		// "Another area" is the radio or, with no radio ticked, an area
		// chosen in the list under it (booklet.html).
		d.Area = f.get(order.FieldArea)
		if other := f.get(fieldAreaOther); d.Area == areaOther || d.Area == "" && other != "" {
			d.Area = other
		}
		if !f.catalogue.OffersWelsh(d.Area) {
			d.Languages = nil // the language question is not asked here
		}
		d.Formats = nil
		for _, v := range f.r.PostForm[order.FieldFormats] {
			if len(d.Formats) == len(order.Formats) {
				break // more boxes than the page has: a crafted post
			}
			d.Formats = append(d.Formats, capRunes(v, 40))
		}
	}},
	{path: pathLanguage, fields: []string{order.FieldLanguages},
		// Asked only where the area's booklet comes in Welsh too; elsewhere
		// it is in English, the default.
		asked: func(c *catalogue.Catalogue, d order.Draft) bool { return c.OffersWelsh(d.Area) },
		assign: func(d *order.Draft, f formValues) {
			switch f.get(order.FormLanguage) {
			case languageBoth:
				d.Languages = []string{string(order.English), string(order.Welsh)}
			case "":
				d.Languages = nil
			default:
				d.Languages = []string{f.get(order.FormLanguage)}
			}
		},
		// No answer would mean the default language; on this page the
		// person chooses.
		unanswered: func(d order.Draft) string {
			if len(d.Languages) == 0 {
				return "Select the language you want the booklet in"
			}
			return ""
		}},
	{path: pathAddress, fields: []string{order.FieldName, order.FieldAddressLine1, order.FieldAddressLine2, order.FieldTown, order.FieldPostcode},
		assign: func(d *order.Draft, f formValues) {
			d.Name = f.get(order.FieldName)
			d.AddressLine1 = f.get(order.FieldAddressLine1)
			d.AddressLine2 = f.get(order.FieldAddressLine2)
			d.Town = f.get(order.FieldTown)
			d.Postcode = f.get(order.FieldPostcode)
		}},
}

// languageBoth is the language page's third choice: the booklet in
// English and in Welsh.
const languageBoth = "both"

// The booklet page offers the likely areas as radios and every other area
// in a list revealed by the last radio, "Another police force area".
const (
	areaOther      = "other"
	fieldAreaOther = "area-other"
)

func questionAt(path string) (question, bool) {
	for _, q := range questions {
		if q.path == path {
			return q, true
		}
	}
	return question{}, false
}

// maxAnswerRunes is how much of a posted value is kept in the cookie: a
// little more than the longest valid answer, so that a value too long
// still gets its error and is shown to be corrected, while the cookie
// stays within a browser's 4 KiB whatever is posted.
func maxAnswerRunes(field string) int {
	switch field {
	case order.FieldName:
		return order.MaxNameLen + 10
	case order.FieldAddressLine1, order.FieldAddressLine2:
		return order.MaxAddressLen + 10
	case order.FieldTown:
		return order.MaxTownLen + 10
	case order.FieldPostcode:
		return 20
	default:
		return 60
	}
}

func capRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Why a request has no usable answers.
var (
	// errNoAnswers: the answers cookie is missing. On a later question's
	// POST this is a browser that keeps no cookies (or a post from
	// elsewhere): the answers cannot be carried between pages.
	errNoAnswers = errors.New("no answers cookie")
)

// loadState opens the answers cookie: errNoAnswers without one,
// errStateInvalid or errStateExpired as sealer.open says.
func (s *Server) loadState(r *http.Request) (formState, error) {
	c, err := r.Cookie(answersCookie)
	if err != nil || c.Value == "" {
		return formState{}, errNoAnswers
	}
	return s.sealer.open(c.Value)
}

// saveState seals the answers (with a fresh expiry) into the cookie.
func (s *Server) saveState(w http.ResponseWriter, r *http.Request, st formState) error {
	sealed, err := s.sealer.seal(st)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: answersCookie, Value: sealed, Path: "/",
		HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// clearState deletes the answers cookie.
func clearState(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: answersCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteStrictMode,
	})
}

// overTLS tells whether the browser reached us over HTTPS: directly, or
// through a proxy that says so. A forged header can only make the cookie
// more guarded (Secure), never less.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// pageState is the state a GET page of the journey works on: the answers
// so far, a fresh start when there are none or they were sent, and nil
// with a redirect written when the answers ran out of time.
func (s *Server) pageState(w http.ResponseWriter, r *http.Request) (*formState, error) {
	st, err := s.loadState(r)
	switch {
	case errors.Is(err, errStateExpired):
		s.redirect(w, r, pathTimedOut)
		return nil, nil
	case errors.Is(err, errNoAnswers), errors.Is(err, errStateInvalid):
		// A first visit, a bookmark, or a cookie sealed with an earlier
		// secret: there is nothing to show, so the page starts empty.
		st = formState{}
	case err != nil:
		return nil, err
	}
	if st.Sent != "" {
		st = formState{} // the order was sent: a question page starts a new one
	}
	return &st, nil
}

// postState is the state a POST of a question works on. An expired state
// is not an error here: the answers of the page just sent are kept in a
// fresh state, and the next page says what happened (Lost), because a
// person without JavaScript never saw the warning. Without a cookie, only
// the first question may start the journey.
func (s *Server) postState(r *http.Request, first bool) (formState, error) {
	if err := readForm(r); err != nil {
		return formState{}, err
	}
	st, err := s.loadState(r)
	switch {
	case errors.Is(err, errStateExpired):
		return formState{Lost: true}, nil
	case (errors.Is(err, errNoAnswers) || errors.Is(err, errStateInvalid)) && first:
		// The first question may start afresh, also over a cookie sealed
		// with an earlier secret.
		return formState{}, nil
	case err != nil:
		return formState{}, err
	}
	if st.Sent != "" {
		st = formState{}
	}
	return st, nil
}

// readForm parses a posted form. The pages are UTF-8 and browsers send
// forms in the page's encoding; a post declared in another one would be
// misread, so it is refused.
func readForm(r *http.Request) error {
	if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil {
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return &badRequestError{id: "form_charset"}
		}
	}
	if err := r.ParseForm(); err != nil {
		return &badRequestError{id: "form_unreadable"}
	}
	return nil
}

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

// nextPath is where the journey goes from a state: the first question
// with a missing or invalid answer, or "Check your answers". A change made
// from "Check your answers" therefore comes back to it.
func (s *Server) nextPath(st formState) string {
	for _, q := range questions {
		if q.isAsked(s.catalogue, st.Draft) && len(q.errors(s.catalogue, st.Draft)) > 0 {
			return q.path
		}
	}
	return pathCheck
}

// backPath is the page before question q for these answers: the last
// question before it that is asked, or the start page.
func (s *Server) backPath(q question, d order.Draft) string {
	back := "/"
	for _, p := range questions {
		if p.path == q.path {
			break
		}
		if p.isAsked(s.catalogue, d) {
			back = p.path
		}
	}
	return back
}

// submitQuestion answers the POST of a question page: the answers as
// given go into the cookie, then 303 to the same page when they have
// errors (it shows them) or to the next page.
func (s *Server) submitQuestion(q question) func(http.ResponseWriter, *http.Request) error {
	first := q.path == questions[0].path
	return func(w http.ResponseWriter, r *http.Request) error {
		st, err := s.postState(r, first)
		if err != nil {
			return err
		}
		// The idempotency key stays: checkPage gives changed answers a new
		// one (KeyFor), and the same answers sent twice keep theirs.
		q.assign(&st.Draft, formValues{r, s.catalogue})
		st.Show = ""
		next := s.nextPath(st)
		if len(q.errors(s.catalogue, st.Draft)) > 0 {
			st.Show, next = q.path, q.path
		}
		if err := s.saveState(w, r, st); err != nil {
			return err
		}
		s.redirect(w, r, next)
		return nil
	}
}

// showQuestion renders the GET of a question page.
func (s *Server) showQuestion(q question) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		st, err := s.pageState(w, r)
		if st == nil || err != nil {
			return err
		}
		if !q.isAsked(s.catalogue, st.Draft) {
			// The language page of an area without Welsh booklets (a
			// bookmark, or Back after changing the area).
			s.redirect(w, r, s.nextPath(*st))
			return nil
		}
		data := pageData{Draft: st.Draft, Lost: st.Lost}
		if st.Show == q.path {
			data.Errors = q.errors(s.catalogue, st.Draft)
		}
		st.Lost = false // said once
		if err := s.saveState(w, r, *st); err != nil {
			return err
		}
		data.Timeout = s.timeoutFor(q.path)
		data.Back = s.backPath(q, st.Draft)
		switch q.path {
		case pathPostcode:
			data.Title = "postcode.title"
			s.render(w, r, http.StatusOK, "postcode.html", data)
		case pathBooklet:
			data.Title = "booklet.title"
			data.Booklet, data.Areas = s.bookletChoices(st.Draft), s.catalogue.Areas
			s.render(w, r, http.StatusOK, "booklet.html", data)
		case pathLanguage:
			data.Title = "language.title"
			data.AreaName = s.areaName(r, st.Draft.Area)
			data.Language = languageChoice(st.Draft.Languages)
			if data.Language == "" && infoFrom(r.Context()).lang == langCY {
				// The booklet's language defaults to the journey's: the
				// Welsh journey offers Welsh first, for the person to
				// confirm.
				data.Language = string(order.Welsh)
			}
			s.render(w, r, http.StatusOK, "language.html", data)
		case pathAddress:
			data.Title = "address.title"
			s.render(w, r, http.StatusOK, "address.html", data)
		}
		return nil
	}
}

// bookletView is what the booklet page offers: the areas that usually
// cover the postcode first (Likely), then every area; the formats.
type bookletView struct {
	Likely []catalogue.Area
	// PostcodeArea is the postcode's area ("CF"), for the hint.
	PostcodeArea string
	// Chosen is the radio checked: an area code of Likely, areaOther, or "".
	Chosen  string
	Formats []formatOption
}

func (s *Server) bookletChoices(d order.Draft) bookletView {
	v := bookletView{Likely: s.catalogue.ForPostcode(d.Postcode), PostcodeArea: postcode.Area(d.Postcode)}
	if d.Area != "" {
		v.Chosen = areaOther
		for _, a := range v.Likely {
			if a.Code == d.Area {
				v.Chosen = a.Code
			}
		}
	}
	chosen := map[string]bool{}
	for _, f := range d.Formats {
		chosen[f] = true
	}
	v.Formats = make([]formatOption, len(order.Formats))
	for i, f := range order.Formats {
		id := order.FieldFormats
		if i > 0 {
			id = fmt.Sprintf("%s-%d", order.FieldFormats, i+1)
		}
		v.Formats[i] = formatOption{ID: id, Code: string(f), Checked: chosen[string(f)]}
	}
	return v
}

// checkPage shows "Check your answers": with every answer valid, else it
// sends the person to the first question that needs one. The submission's
// idempotency key is made here and kept in the cookie for as long as the
// answers stay the same; other answers get a new key.
func (s *Server) checkPage(w http.ResponseWriter, r *http.Request) error {
	st, err := s.loadState(r)
	switch {
	case errors.Is(err, errStateExpired):
		s.redirect(w, r, pathTimedOut)
		return nil
	case err == nil && st.Sent != "":
		// Back from the confirmation: the order is sent; its answers are
		// gone, and sending them again would only give the same reference.
		s.redirect(w, r, pathConfirmation)
		return nil
	case err != nil:
		st = formState{}
	}
	v, verr := st.Draft.Validate(s.catalogue)
	if next := s.nextPath(st); verr != nil || next != pathCheck {
		s.redirect(w, r, next)
		return nil
	}
	if fp := s.orders.Fingerprint(v); st.Key == "" || st.KeyFor != fp {
		st.Key, st.KeyFor = newKey(), fp
	}
	lost := st.Lost
	st.Lost, st.Show = false, ""
	if err := s.saveState(w, r, st); err != nil {
		return err
	}
	area, _ := s.catalogue.Lookup(v.Area)
	formats := make([]string, len(v.Formats))
	for i, f := range v.Formats {
		formats[i] = string(f)
	}
	data := pageData{
		Title: "check.title", Lost: lost, Back: pathAddress,
		Draft: order.Draft{Name: v.Personal.Name, AddressLine1: v.Personal.AddressLine1, AddressLine2: v.Personal.AddressLine2,
			Town: v.Personal.Town, Postcode: v.Personal.Postcode},
		AreaName: s.translatorFor(r).Area(area), Formats: formats, Timeout: s.timeoutFor(pathCheck),
	}
	if !area.Usual(v.Personal.Postcode) {
		data.AreaPrompt = postcode.Area(v.Personal.Postcode)
	}
	if area.Welsh { // the language was asked
		data.Language = languageChoice(st.Draft.Languages)
	}
	s.render(w, r, http.StatusOK, "check.html", data)
	return nil
}

// checkSubmit sends the order, keeps only its reference in the cookie and
// answers 303 to the confirmation page. A second POST of the same answers
// (a double click) sends the same key: same reference, one order.
func (s *Server) checkSubmit(w http.ResponseWriter, r *http.Request) error {
	st, err := s.postState(r, false)
	if err != nil {
		return err
	}
	if st.Lost {
		return errStateExpired // nothing of this page to keep: the answers are gone
	}
	if st.Sent == "" && st.Key == "" {
		// No "Check your answers" was shown for these answers.
		s.redirect(w, r, pathCheck)
		return nil
	}
	v, err := st.Draft.Validate(s.catalogue)
	if err != nil {
		// Only possible if the catalogue changed under a person's feet.
		s.redirect(w, r, s.nextPath(st))
		return nil
	}
	if st.KeyFor != s.orders.Fingerprint(v) {
		// checkPage binds the key to the answers; a state where they
		// differ was not made by this form.
		return errStateInvalid
	}
	ref, err := s.place(r.Context(), v, st.Key)
	switch {
	case errors.Is(err, placeorder.ErrKeyStale):
		// The first attempt (answered with an error) is of a day that has
		// ended: "Try again" sends the same answers as a new order.
		st.Key = newKey()
		if serr := s.saveState(w, r, st); serr != nil {
			return serr
		}
		return &retryableError{err: err}
	case errors.Is(err, placeorder.ErrDayKeyFault), errors.Is(err, placeorder.ErrKeyReused):
		return err // trying again will not help
	case err != nil:
		return &retryableError{err: err} // the cookie still holds the answers and key
	}
	if err := s.saveState(w, r, formState{Sent: ref.String()}); err != nil {
		return err
	}
	s.redirect(w, r, pathConfirmation)
	return nil
}

// confirmation shows the reference of the order just sent, for as long as
// the cookie lasts; otherwise there is nothing to confirm.
func (s *Server) confirmation(w http.ResponseWriter, r *http.Request) error {
	st, err := s.loadState(r)
	if err != nil || st.Sent == "" {
		s.redirect(w, r, "/")
		return nil
	}
	s.render(w, r, http.StatusOK, "confirmation.html", pageData{Title: "confirmation.title", Reference: st.Sent})
	return nil
}

// areaName is the name of an area in the page's language, or its code if
// the catalogue has none.
func (s *Server) areaName(r *http.Request, code string) string {
	if a, ok := s.catalogue.Lookup(code); ok {
		return s.translatorFor(r).Area(a)
	}
	return code
}

// languageChoice is the language page's radio for the languages asked
// for: "en", "cy", languageBoth, or "" for none yet.
func languageChoice(langs []string) string {
	switch {
	case len(langs) == 2:
		return languageBoth
	case len(langs) == 1:
		return langs[0]
	}
	return ""
}

// journeyPaths are the pages a "Keep my answers" may return to.
var journeyPaths = []string{pathPostcode, pathBooklet, pathLanguage, pathAddress, pathCheck}

func isJourneyPath(p string) bool { return slices.Contains(journeyPaths, p) }

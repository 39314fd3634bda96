package public

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/stage/trackorder"
)

// The status and cancel pages (issue 17; docs/form.md, "Check an order").
// A reference is not personal data (random, docs/architecture.md), so it
// may be in the address: GET /status?reference=… can be bookmarked, and
// the request log records the route pattern only (logRequests), never the
// query. The postcode is only ever in a POST body, and never logged or
// put in a URL.
const (
	pathStatus    = "/status"
	pathCancel    = "/status/cancel"
	pathCancelled = "/status/cancelled"
)

// statusRoutes adds the status and cancel pages and their API when the
// intake has a Tracker.
func (s *Server) statusRoutes(handle func(string, func(http.ResponseWriter, *http.Request) error)) {
	if s.tracker == nil {
		return
	}
	handle("GET "+pathStatus, s.statusPage)
	handle("GET "+pathCancel, s.limitLookups(s.cancelPage))
	handle("POST "+pathCancel, s.limitLookups(s.cancelSubmit))
	handle("GET "+pathCancelled, s.limitLookups(s.cancelledPage))
	handle("GET /api/v1/orders/{reference}", s.limitLookups(s.orderStatusAPI))
	handle("POST /api/v1/orders/{reference}/cancel", s.limitLookups(s.cancelOrderAPI))
}

// limitLookups applies the stricter per-client limit on looking orders up
// (STATUS_RATE_LIMIT_PER_MINUTE): each lookup tries a reference, and
// each cancel a postcode, so they are limited well below the pages.
// Over it: 429 with the GOV.UK page or a problem, as the general limit.
func (s *Server) limitLookups(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if wait := s.lookupLimiter.reserve(s.clientIP(r)); wait > 0 {
			s.metrics.rateLimited(r)
			return &rateLimitedError{retryAfter: wait}
		}
		return h(w, r)
	}
}

// statusView is what the status, cancel and cancelled pages show: no
// personal data and no formats, only the reference and dates, in the
// page's language.
type statusView struct {
	// Typed is the reference as typed, for the form.
	Typed string
	// Reference is the canonical reference, when known.
	Reference string
	// StatusLink and CancelLink are the order's status and cancel pages
	// (English paths: the template puts them in the page's language).
	StatusLink, CancelLink string
	Status                 string // trackorder's constant, "" on the form alone
	Tag                    string // the status in words
	TagClass               string
	Rows                   []statusRow
	// Cancellable: the order may be cancelled until CancelUntil.
	Cancellable bool
	CancelUntil string
	// Sending: past the cut-off, being sent to the printer.
	Sending bool
	// TooLate, on the cancel page: the order has gone to the printer.
	TooLate bool
}

// statusRow is one row of the status page's summary list.
type statusRow struct{ Key, Value string }

// statusTagClass is the GOV.UK tag colour of each status. A tag with no
// modifier is blue: GOV.UK Frontend 6 removed govuk-tag--blue and
// govuk-tag--light-blue, whose classes would style nothing.
var statusTagClass = map[string]string{
	trackorder.Received:          "",
	trackorder.Cancelled:         "govuk-tag--grey",
	trackorder.Sent:              "govuk-tag--teal",
	trackorder.Dispatched:        "govuk-tag--green",
	trackorder.Returned:          "govuk-tag--red",
	trackorder.DeletionConfirmed: "govuk-tag--green",
}

// referenceView is the view of a reference alone (the form, a failed
// cancel), with its links.
func referenceView(typed string) *statusView {
	q := url.QueryEscape(typed)
	return &statusView{Typed: typed, Reference: typed, StatusLink: pathStatus + "?reference=" + q, CancelLink: pathCancel + "?reference=" + q}
}

// cutoffTime is a cut-off as GOV.UK writes times, in London time and the
// page's language: "11pm on Wednesday 25 November 2026", "5:30pm …",
// "midnight …", "midday …"; in Welsh "11yh ar ddydd Mercher 25 Tachwedd
// 2026". The day's name is part of it: a person deciding whether they
// still have time thinks in days of the week.
func cutoffTime(t translator, when time.Time) string {
	lt := when.In(businessday.London())
	var clock string
	switch {
	case lt.Hour() == 0 && lt.Minute() == 0:
		clock = t.Text("status.midnight")
	case lt.Hour() == 12 && lt.Minute() == 0:
		clock = t.Text("status.midday")
	default:
		hm := lt.Format("3:04")
		if lt.Minute() == 0 {
			hm = lt.Format("3")
		}
		id := "status.pm"
		if lt.Hour() < 12 {
			id = "status.am"
		}
		clock = t.Text(id, "Clock", hm)
	}
	return t.Text("status.at", "Time", clock, "Weekday", t.Text(weekdayIDs[lt.Weekday()]), "Date", t.Date(lt))
}

// weekdayIDs are the catalogue's day names as status.at puts them after
// "on" (Welsh mutates them there: "ar ddydd Mercher"), Sunday first as
// time.Weekday counts.
var weekdayIDs = [7]string{"status.weekday.sunday", "status.weekday.monday", "status.weekday.tuesday",
	"status.weekday.wednesday", "status.weekday.thursday", "status.weekday.friday", "status.weekday.saturday"}

// newStatusView turns a status into the page's words and rows.
func newStatusView(t translator, st trackorder.Status) *statusView {
	v := referenceView(st.Reference)
	v.Status, v.Sending, v.TagClass = st.Status, st.Sending, statusTagClass[st.Status]
	v.Tag = t.Text("status.tag." + st.Status)
	if st.Sending {
		v.Tag = t.Text("status.tag.sending")
	}
	add := func(key, value string) { v.Rows = append(v.Rows, statusRow{t.Text("status.row." + key), value}) }
	add("reference", st.Reference)
	add("received", t.Day(st.ReceivedOn))
	if !st.CancellableUntil.IsZero() {
		v.Cancellable, v.CancelUntil = true, cutoffTime(t, st.CancellableUntil)
		add("goes_to_printer", t.Text("status.row.goes_to_printer_value", "When", v.CancelUntil))
	}
	for _, d := range []struct {
		key  string
		date businessday.Date
	}{{"cancelled", st.CancelledOn}, {"sent", st.SentOn}, {"deleted", st.PersonalDataDeletedOn},
		{"dispatched", st.DispatchedOn}, {"returned", st.ReturnedOn}} {
		if !d.date.IsZero() {
			add(d.key, t.Day(d.date))
		}
	}
	switch {
	case !st.DeletionConfirmedOn.IsZero():
		add("printer_deleted", t.Day(st.DeletionConfirmedOn))
	case st.DeletionOverdue:
		add("printer_must_delete", t.Text("status.row.overdue", "Date", t.Day(st.DeletionDueBy)))
	case !st.DeletionDueBy.IsZero():
		add("printer_must_delete", t.Text("status.row.due_by", "Date", t.Day(st.DeletionDueBy)))
	}
	return v
}

// referenceMessageID names the error for a reference as typed, in the
// catalogue (validation.status.*); "" for an error that is not about the
// reference.
func referenceMessageID(err error) string {
	switch {
	case errors.Is(err, trackorder.ErrNoReference):
		return "validation.status.reference_empty"
	case errors.Is(err, trackorder.ErrReferenceCheck):
		return "validation.status.reference_check"
	case errors.Is(err, trackorder.ErrReferenceFormat):
		return "validation.status.reference_format"
	case errors.Is(err, trackorder.ErrUnknown):
		return "validation.status.reference_unknown"
	}
	return ""
}

// fieldError is a form's error in the catalogue's English: render puts
// it in the page's language (catalogues.fieldErrors finds it by its
// English words, as the domain's messages).
func (s *Server) fieldError(field, id string) order.ValidationError {
	return order.ValidationError{{Field: field, Message: s.catalogues.text(langEN, id)}}
}

// referenceStatus is the HTTP status of a reference error.
func referenceStatus(err error) int {
	if errors.Is(err, trackorder.ErrUnknown) {
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// referenceError renders the status form with the error for the
// reference as typed.
func (s *Server) referenceError(w http.ResponseWriter, r *http.Request, typed string, err error) {
	s.render(w, r, referenceStatus(err), "status.html", pageData{Title: "status.title",
		Errors: s.fieldError("reference", referenceMessageID(err)), Track: &statusView{Typed: typed}})
}

// statusPage is GET /status: the form, or with ?reference= the order's
// status. A lookup is limited as the API's (limitLookups); the form alone
// is not.
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if !q.Has("reference") {
		s.render(w, r, http.StatusOK, "status.html", pageData{Title: "status.title", Track: &statusView{}})
		return nil
	}
	return s.limitLookups(func(w http.ResponseWriter, r *http.Request) error {
		typed := strings.TrimSpace(q.Get("reference"))
		st, err := s.tracker.Status(r.Context(), typed)
		if referenceMessageID(err) != "" {
			s.referenceError(w, r, typed, err)
			return nil
		}
		if err != nil {
			return err
		}
		s.render(w, r, http.StatusOK, "status.html", pageData{Title: "status.order_title", Track: newStatusView(s.translatorFor(r), st)})
		return nil
	})(w, r)
}

// cancelPage is GET /status/cancel?reference=…: the cancel form while the
// order can be cancelled, or why it cannot be.
func (s *Server) cancelPage(w http.ResponseWriter, r *http.Request) error {
	typed := strings.TrimSpace(r.URL.Query().Get("reference"))
	st, err := s.tracker.Status(r.Context(), typed)
	if id, ok := cancelErrors[r.URL.Query().Get("error")]; ok && (referenceMessageID(err) != "" || err == nil && !st.CancellableUntil.IsZero()) {
		// A cancel that failed: the form again with its error, the same
		// for an unknown reference and an order that can still be
		// cancelled, so that a wrong postcode cannot be told from an
		// unknown reference. (Come back to with Back after the order is
		// cancelled or gone, it says so instead.)
		v := referenceView(typed)
		s.render(w, r, http.StatusOK, "cancel.html", pageData{Title: "status.cancel.title",
			Errors: s.fieldError("postcode", id), Back: v.StatusLink, Track: v})
		return nil
	}
	if referenceMessageID(err) != "" {
		s.referenceError(w, r, typed, err)
		return nil
	}
	if err != nil {
		return err
	}
	v := newStatusView(s.translatorFor(r), st)
	if st.Status == trackorder.Cancelled {
		// Its status, here, rather than a redirect to it: this is where
		// Back leads after a cancel, and a history entry that redirects
		// is a navigation of its own in some browsers.
		s.render(w, r, http.StatusOK, "status.html", pageData{Title: "status.order_title", Track: v})
		return nil
	}
	v.TooLate = !v.Cancellable
	title := "status.cancel.title"
	if v.TooLate {
		title = "status.cancel.too_late_title"
	}
	s.render(w, r, http.StatusOK, "cancel.html", pageData{Title: title, Back: v.StatusLink, Track: v})
	return nil
}

// cancelSubmit is POST /status/cancel (reference, postcode). Every
// answer is a 303 to a GET page (post/redirect/get: Back, Forward and
// reload never send the form again): cancelled, to the cancelled page;
// too late, to the cancel page, which then says the order has gone to
// the printer; a postcode error, back to the cancel form with the error's
// name in the address (never the postcode, which the form therefore does
// not show back: it is in no URL, cookie or log). An unknown reference
// and a postcode that does not match get the same answer.
func (s *Server) cancelSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mbe
		}
		return &badRequestError{id: "form_unreadable"}
	}
	typed := strings.TrimSpace(r.PostForm.Get("reference"))
	c, err := s.tracker.Cancel(r.Context(), typed, r.PostForm.Get("postcode"))
	to := referenceView(typed).CancelLink
	switch {
	case err == nil:
		infoFrom(r.Context()).reference = c.Reference
		to = pathCancelled + "?reference=" + url.QueryEscape(c.Reference)
	case errors.Is(err, trackorder.ErrTooLate):
	case errors.Is(err, trackorder.ErrUnknown):
		to += "&error=" + cancelNoMatch
	case errors.Is(err, trackorder.ErrNoPostcode):
		to += "&error=" + cancelNoPostcode
	case errors.Is(err, trackorder.ErrPostcodeFormat):
		to += "&error=" + cancelBadPostcode
	case referenceMessageID(err) != "":
		to = referenceView(typed).StatusLink
	default:
		return err
	}
	s.redirect(w, r, to)
	return nil
}

// The errors the cancel form is sent back with (?error=), and their
// messages' ids. cancelNoMatch is the same for an unknown reference and a
// postcode that does not match.
const (
	cancelNoMatch     = "no-match"
	cancelNoPostcode  = "no-postcode"
	cancelBadPostcode = "bad-postcode"
)

var cancelErrors = map[string]string{
	cancelNoMatch:     "validation.status.no_match",
	cancelNoPostcode:  "validation.status.postcode_empty",
	cancelBadPostcode: "validation.status.postcode_format",
}

// cancelledPage is GET /status/cancelled?reference=…, where a cancel is
// answered: the confirmation, for an order that is cancelled; any other
// order's status page otherwise.
func (s *Server) cancelledPage(w http.ResponseWriter, r *http.Request) error {
	typed := strings.TrimSpace(r.URL.Query().Get("reference"))
	st, err := s.tracker.Status(r.Context(), typed)
	if err != nil || st.Status != trackorder.Cancelled {
		if referenceMessageID(err) == "" && err != nil {
			return err
		}
		s.redirect(w, r, referenceView(typed).StatusLink)
		return nil
	}
	s.render(w, r, http.StatusOK, "cancelled.html", pageData{Title: "status.cancelled.title", Track: newStatusView(s.translatorFor(r), st)})
	return nil
}

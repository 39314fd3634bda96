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
// personal data and no formats, only the reference and dates.
type statusView struct {
	// Typed is the reference as typed, for the form.
	Typed string
	// Reference is the canonical reference, when known.
	Reference string
	// Query is Reference escaped for a link's query string.
	Query    string
	Status   string // trackorder's constant, "" on the form alone
	Tag      string // the status in words
	TagClass string
	Rows     []statusRow
	// Cancellable: the order may be cancelled until CancelUntil.
	Cancellable bool
	CancelUntil string
	// Sending: past the cut-off, being sent to the printer.
	Sending bool
	// Returned: a booklet came back; the person must order again.
	Returned bool
	// Overdue: the printer's deletion is past its due date.
	Overdue bool
	// TooLate, on the cancel page: the order has gone to the printer.
	TooLate bool
}

// statusRow is one row of the status page's summary list.
type statusRow struct{ Key, Value string }

// statusTags are the GOV.UK tag of each status.
var statusTags = map[string][2]string{
	trackorder.Received:          {"Received", "govuk-tag--blue"},
	trackorder.Cancelled:         {"Cancelled", "govuk-tag--grey"},
	trackorder.Sent:              {"Sent to the printer", "govuk-tag--light-blue"},
	trackorder.Dispatched:        {"Posted", "govuk-tag--green"},
	trackorder.Returned:          {"Returned", "govuk-tag--red"},
	trackorder.DeletionConfirmed: {"Posted and deleted", "govuk-tag--green"},
}

// longDate is GOV.UK's date style, "25 November 2026".
func longDate(d businessday.Date) string { return d.UTC().Format("2 January 2006") }

// cutoffTime is a cut-off as GOV.UK writes times: "11pm on Wednesday 25
// November 2026", "5:30pm …", "midnight …", "midday …", in London time.
func cutoffTime(t time.Time) string {
	lt := t.In(businessday.London())
	var clock string
	switch {
	case lt.Hour() == 0 && lt.Minute() == 0:
		clock = "midnight"
	case lt.Hour() == 12 && lt.Minute() == 0:
		clock = "midday"
	case lt.Minute() == 0:
		clock = strings.ToLower(lt.Format("3pm"))
	default:
		clock = strings.ToLower(lt.Format("3:04pm"))
	}
	return clock + " on " + lt.Format("Monday 2 January 2006")
}

// newStatusView turns a status into the page's words and rows.
func newStatusView(st trackorder.Status) *statusView {
	v := &statusView{Typed: st.Reference, Reference: st.Reference, Query: url.QueryEscape(st.Reference), Status: st.Status,
		Sending: st.Sending, Returned: st.Status == trackorder.Returned, Overdue: st.DeletionOverdue}
	tag := statusTags[st.Status]
	v.Tag, v.TagClass = tag[0], tag[1]
	if st.Sending {
		v.Tag = "Being sent to the printer"
	}
	add := func(key, value string) { v.Rows = append(v.Rows, statusRow{key, value}) }
	add("Reference", st.Reference)
	add("Received", longDate(st.ReceivedOn))
	if !st.CancellableUntil.IsZero() {
		v.Cancellable, v.CancelUntil = true, cutoffTime(st.CancellableUntil)
		add("Goes to the printer", "After "+v.CancelUntil)
	}
	if !st.CancelledOn.IsZero() {
		add("Cancelled", longDate(st.CancelledOn))
	}
	if !st.SentOn.IsZero() {
		add("Sent to the printer", longDate(st.SentOn))
	}
	if !st.PersonalDataDeletedOn.IsZero() {
		add("We deleted your name and address", longDate(st.PersonalDataDeletedOn))
	}
	if !st.DispatchedOn.IsZero() {
		add("Posted by the printer", longDate(st.DispatchedOn))
	}
	if !st.ReturnedOn.IsZero() {
		add("Returned to the printer", longDate(st.ReturnedOn))
	}
	switch {
	case !st.DeletionConfirmedOn.IsZero():
		add("The printer deleted your name and address", longDate(st.DeletionConfirmedOn))
	case st.DeletionOverdue:
		add("The printer must delete your name and address", "By "+longDate(st.DeletionDueBy)+" (not confirmed yet: we are following this up)")
	case !st.DeletionDueBy.IsZero():
		add("The printer must delete your name and address", "By "+longDate(st.DeletionDueBy))
	}
	return v
}

// referenceMessage is the error for a reference as typed, in the GOV.UK
// error summary; "" for an error that is not about the reference.
func referenceMessage(err error) string {
	switch {
	case errors.Is(err, trackorder.ErrNoReference):
		return "Enter your order reference"
	case errors.Is(err, trackorder.ErrReferenceCheck):
		return "Check the reference: one of the characters looks wrong"
	case errors.Is(err, trackorder.ErrReferenceFormat):
		return "Enter the reference as it is shown on your confirmation, like K7QM-X9PA-C4T (11 letters and numbers)"
	case errors.Is(err, trackorder.ErrUnknown):
		return "We cannot find an order with that reference. Check it, or if you ordered in the last few minutes, try again shortly"
	}
	return ""
}

// referenceStatus is the HTTP status of a reference error.
func referenceStatus(err error) int {
	if errors.Is(err, trackorder.ErrUnknown) {
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// statusPage is GET /status: the form, or with ?reference= the order's
// status. A lookup is limited as the API's (limitLookups); the form alone
// is not.
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if !q.Has("reference") {
		s.render(w, r, http.StatusOK, "status.html", pageData{Title: "Check your order", Track: &statusView{}})
		return nil
	}
	return s.limitLookups(func(w http.ResponseWriter, r *http.Request) error {
		typed := strings.TrimSpace(q.Get("reference"))
		st, err := s.tracker.Status(r.Context(), typed)
		if msg := referenceMessage(err); msg != "" {
			s.render(w, r, referenceStatus(err), "status.html", pageData{Title: "Check your order",
				Errors: order.ValidationError{{Field: "reference", Message: msg}}, Track: &statusView{Typed: typed}})
			return nil
		}
		if err != nil {
			return err
		}
		s.render(w, r, http.StatusOK, "status.html", pageData{Title: "Your order", Track: newStatusView(st)})
		return nil
	})(w, r)
}

// cancelPage is GET /status/cancel?reference=…: the cancel form while the
// order can be cancelled, or why it cannot be.
func (s *Server) cancelPage(w http.ResponseWriter, r *http.Request) error {
	typed := strings.TrimSpace(r.URL.Query().Get("reference"))
	st, err := s.tracker.Status(r.Context(), typed)
	if msg, ok := cancelErrors[r.URL.Query().Get("error")]; ok && (referenceMessage(err) != "" || err == nil && !st.CancellableUntil.IsZero()) {
		// A cancel that failed: the form again with its error, the same
		// for an unknown reference and an order that can still be
		// cancelled, so that a wrong postcode cannot be told from an
		// unknown reference. (Come back to with Back after the order is
		// cancelled or gone, it says so instead.)
		v := &statusView{Typed: typed, Reference: typed, Query: url.QueryEscape(typed)}
		s.render(w, r, http.StatusOK, "cancel.html", pageData{Title: "Cancel your order",
			Errors: order.ValidationError{{Field: "postcode", Message: msg}}, Back: pathStatus + "?reference=" + v.Query, Track: v})
		return nil
	}
	if msg := referenceMessage(err); msg != "" {
		s.render(w, r, referenceStatus(err), "status.html", pageData{Title: "Check your order",
			Errors: order.ValidationError{{Field: "reference", Message: msg}}, Track: &statusView{Typed: typed}})
		return nil
	}
	if err != nil {
		return err
	}
	if st.Status == trackorder.Cancelled {
		// Its status, here, rather than a redirect to it: this is where
		// Back leads after a cancel, and a history entry that redirects
		// is a navigation of its own in some browsers.
		s.render(w, r, http.StatusOK, "status.html", pageData{Title: "Your order", Track: newStatusView(st)})
		return nil
	}
	v := newStatusView(st)
	v.TooLate = !v.Cancellable
	title := "Cancel your order"
	if v.TooLate {
		title = "Your order has gone to the printer"
	}
	s.render(w, r, http.StatusOK, "cancel.html", pageData{Title: title, Back: pathStatus + "?reference=" + v.Query, Track: v})
	return nil
}

// cancelSubmit is POST /status/cancel (reference, postcode). Every
// answer is a 303 to a GET page (post/redirect/get: Back, Forward and
// reload never send the form again): cancelled, to the cancelled page;
// too late, to the cancel page, which then says the order has gone to
// the printer; a postcode error, back to the cancel form with the error's
// name in the address (never the postcode, which the form therefore
// does not show back: it is in no URL, cookie or log). An unknown reference and a
// postcode that does not match get the same answer.
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
	to := pathCancel + "?reference=" + url.QueryEscape(typed)
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
	case referenceMessage(err) != "":
		to = pathStatus + "?reference=" + url.QueryEscape(typed)
	default:
		return err
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// The errors the cancel form is sent back with (?error=), and their
// messages. cancelNoMatch is the same for an unknown reference and a
// postcode that does not match.
const (
	cancelNoMatch     = "no-match"
	cancelNoPostcode  = "no-postcode"
	cancelBadPostcode = "bad-postcode"
)

var cancelErrors = map[string]string{
	cancelNoMatch:     "We could not find an order with that reference and postcode. Check the postcode is the one you gave when you ordered",
	cancelNoPostcode:  "Enter the postcode you gave when you ordered",
	cancelBadPostcode: "Enter a real postcode, like SW1A 1AA",
}

// cancelledPage is GET /status/cancelled?reference=…, where a cancel is
// answered: the confirmation, for an order that is cancelled; any other
// order's status page otherwise.
func (s *Server) cancelledPage(w http.ResponseWriter, r *http.Request) error {
	typed := strings.TrimSpace(r.URL.Query().Get("reference"))
	st, err := s.tracker.Status(r.Context(), typed)
	if err != nil || st.Status != trackorder.Cancelled {
		if referenceMessage(err) == "" && err != nil {
			return err
		}
		http.Redirect(w, r, pathStatus+"?reference="+url.QueryEscape(typed), http.StatusSeeOther)
		return nil
	}
	s.render(w, r, http.StatusOK, "cancelled.html", pageData{Title: "Order cancelled", Track: newStatusView(st)})
	return nil
}

package public

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"booklets/pkg/domain/order"
	"booklets/pkg/stage/placeorder"
)

// The kinds of failure a handler can return besides the domain's own
// (order.ValidationError), the use case's (placeorder.ErrUnavailable and
// the rest) and net/http's (*http.MaxBytesError).
var (
	errUnsupportedMediaType = errors.New("unsupported media type")
	errUnsupportedCharset   = errors.New("unsupported charset")
	errCrossOrigin          = errors.New("cross-origin request rejected")
	errNotFound             = errors.New("not found")
)

// badRequestError is a request that cannot be read: id names its detail in
// the catalogue (problem.bad_request.<id>), written for the client, never
// quoting what the client sent; args are the values it names (a field
// name).
type badRequestError struct {
	id   string
	args []any
}

func (e *badRequestError) Error() string { return "bad request: " + e.id }

// rateLimitedError is a client over its rate limit.
type rateLimitedError struct{ retryAfter time.Duration }

func (e *rateLimitedError) Error() string { return "rate limited" }

// retryableError is a submission that failed for a reason that may pass
// (NATS down): the error page offers a "Try again" button, which sends the
// answers and idempotency key the cookie still holds.
type retryableError struct {
	err error
}

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// problem is how an error is shown to a client: an RFC 9457 problem
// detail for the API, a page for the form.
type problem struct {
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Status     int                `json:"status"`
	Detail     string             `json:"detail,omitempty"`
	Errors     []order.FieldError `json:"errors,omitempty"`
	retryAfter time.Duration
	// id names the problem's words in the catalogue; detailID, when set,
	// its detail instead of problem.<id>.detail; args the values the words
	// name (words).
	id, detailID string
	args         []any
}

// problemFor is the one place where errors are mapped to HTTP. Anything it
// does not recognise is a 500, whose cause is logged and never shown. The
// words are the catalogue's (problem.<id>.title, .detail and, where the
// form's page says it otherwise, .page_title and .page_detail), put in the
// client's language by writeError.
func problemFor(err error) problem {
	var (
		verr    order.ValidationError
		tooBig  *http.MaxBytesError
		bad     *badRequestError
		limited *rateLimitedError
	)
	switch {
	case errors.As(err, &verr):
		return problem{Type: "urn:booklets:problem:invalid-order", id: "invalid_order", Status: http.StatusUnprocessableEntity, Errors: verr}
	case errors.As(err, &tooBig):
		return problem{Type: "urn:booklets:problem:too-large", id: "too_large", Status: http.StatusRequestEntityTooLarge,
			args: []any{"Limit", tooBig.Limit}}
	case errors.Is(err, errUnsupportedCharset):
		return problem{Type: "urn:booklets:problem:unsupported-media-type", id: "unsupported_charset", Status: http.StatusUnsupportedMediaType}
	case errors.Is(err, errUnsupportedMediaType):
		return problem{Type: "urn:booklets:problem:unsupported-media-type", id: "unsupported_media_type", Status: http.StatusUnsupportedMediaType}
	case errors.As(err, &bad):
		return problem{Type: "urn:booklets:problem:bad-request", id: "bad_request", detailID: "bad_request." + bad.id, args: bad.args,
			Status: http.StatusBadRequest}
	case errors.Is(err, errStateInvalid):
		return problem{Type: "urn:booklets:problem:bad-request", id: "state_invalid", Status: http.StatusBadRequest}
	case errors.Is(err, errNoAnswers):
		return problem{Type: "urn:booklets:problem:bad-request", id: "no_answers", Status: http.StatusBadRequest}
	case errors.Is(err, errStateExpired):
		return problem{Type: "urn:booklets:problem:expired", id: "expired", Status: http.StatusBadRequest}
	case errors.Is(err, errCrossOrigin):
		return problem{Type: "urn:booklets:problem:cross-origin", id: "cross_origin", Status: http.StatusForbidden}
	case errors.Is(err, errNotFound):
		return problem{Type: "urn:booklets:problem:not-found", id: "not_found", Status: http.StatusNotFound}
	case errors.As(err, &limited):
		return problem{Type: "urn:booklets:problem:rate-limited", id: "rate_limited", Status: http.StatusTooManyRequests,
			retryAfter: limited.retryAfter}
	case errors.Is(err, placeorder.ErrKeyReused):
		return problem{Type: "urn:booklets:problem:idempotency-key-reused", id: "key_reused", Status: http.StatusUnprocessableEntity}
	case errors.Is(err, placeorder.ErrKeyStale):
		return problem{Type: "urn:booklets:problem:idempotency-key-stale", id: "key_stale", Status: http.StatusConflict}
	case errors.Is(err, placeorder.ErrDayKeyFault):
		// Not "try again in a few minutes": this needs an operator. No
		// Retry-After and no "Try again" button on the form.
		return problem{Type: "urn:booklets:problem:out-of-service", id: "out_of_service", Status: http.StatusServiceUnavailable}
	case errors.Is(err, placeorder.ErrUnavailable), errors.Is(err, placeorder.ErrKeysUnavailable):
		return problem{Type: "urn:booklets:problem:unavailable", id: "unavailable", Status: http.StatusServiceUnavailable,
			retryAfter: 10 * time.Second}
	}
	return problem{Status: http.StatusInternalServerError}
}

// words puts the problem's title and detail in a language, for a page
// (page true: its page_title and page_detail where it has them) or for the
// API.
func (p *problem) words(c *catalogues, l lang, page bool) {
	if p.id == "" {
		return // words given by the caller
	}
	base := "problem." + p.id
	p.Title = c.text(l, base+".title")
	detail := base + ".detail"
	if p.detailID != "" {
		detail = "problem." + p.detailID
	}
	p.Detail = c.text(l, detail, p.args...)
	if page && c.has(base+".page_title") {
		p.Title, p.Detail = c.text(l, base+".page_title"), c.text(l, base+".page_detail")
	}
	p.Errors = c.fieldErrors(l, p.Errors)
}

// internalError is all a user sees of a 500: plain text, in the page's
// language, as the page itself could not be made.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintln(w, s.catalogues.text(infoFrom(r.Context()).lang, "problem.internal"))
}

// writeError renders err for the client: problem+json under /api/, a page
// for everything else. 500s are logged with their cause; the cause never
// reaches the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(p.retryAfter.Seconds()))))
	}
	info := infoFrom(r.Context())
	if p.Status == http.StatusInternalServerError {
		info.logger(s.log).Error().Err(err).Msg("internal error")
		s.internalError(w, r)
		return
	}
	info.logger(s.log).Debug().Err(err).Int("status", p.Status).Msg("request failed")
	api := strings.HasPrefix(r.URL.Path, "/api/")
	p.words(s.catalogues, info.lang, !api)
	if api {
		w.Header().Set("Content-Language", string(info.lang))
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(p.Status)
		_ = json.NewEncoder(w).Encode(p)
		return
	}
	var retry *retryableError
	// The layout looks the page's title up by its id.
	titleID := "problem." + p.id + ".title"
	if s.catalogues.has("problem." + p.id + ".page_title") {
		titleID = "problem." + p.id + ".page_title"
	}
	page := pageData{Title: titleID, Problem: &p}
	page.Retry = errors.As(err, &retry)
	s.render(w, r, p.Status, "problem.html", page)
}

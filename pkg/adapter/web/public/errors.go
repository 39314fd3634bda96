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

// badRequestError is a request that cannot be read. Detail is written for
// the client and never quotes what the client sent.
type badRequestError struct{ detail string }

func (e *badRequestError) Error() string { return "bad request: " + e.detail }

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
	// pageTitle and pageDetail, when set, replace Title and Detail on the
	// form's pages, where an API's words would mean nothing to a person.
	pageTitle, pageDetail string
}

// problemFor is the one place where errors are mapped to HTTP. Anything it
// does not recognise is a 500, whose cause is logged and never shown.
func problemFor(err error) problem {
	var (
		verr    order.ValidationError
		tooBig  *http.MaxBytesError
		bad     *badRequestError
		limited *rateLimitedError
	)
	switch {
	case errors.As(err, &verr):
		return problem{Type: "urn:booklets:problem:invalid-order", Title: "The order has invalid fields", Status: http.StatusUnprocessableEntity,
			Detail: "Correct every field listed in errors and send the order again.", Errors: verr}
	case errors.As(err, &tooBig):
		return problem{Type: "urn:booklets:problem:too-large", Title: "Request too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("The request body must be %d bytes or fewer.", tooBig.Limit)}
	case errors.Is(err, errUnsupportedCharset):
		return problem{Type: "urn:booklets:problem:unsupported-media-type", Title: "Unsupported charset", Status: http.StatusUnsupportedMediaType,
			Detail: "Send the order as application/json in UTF-8: charset=utf-8, or no charset."}
	case errors.Is(err, errUnsupportedMediaType):
		return problem{Type: "urn:booklets:problem:unsupported-media-type", Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
			Detail: "Send the order as application/json."}
	case errors.As(err, &bad):
		return problem{Type: "urn:booklets:problem:bad-request", Title: "Bad request", Status: http.StatusBadRequest, Detail: bad.detail}
	case errors.Is(err, errStateInvalid):
		return problem{Type: "urn:booklets:problem:bad-request", Title: "Sorry, we could not read your answers", Status: http.StatusBadRequest,
			Detail: "Your answers could not be read. This can happen if the page was changed or saved. Start again."}
	case errors.Is(err, errNoAnswers):
		return problem{Type: "urn:booklets:problem:bad-request", Title: "Sorry, we could not keep your answers", Status: http.StatusBadRequest,
			Detail: "Your answers could not be kept between pages. This service keeps them in a cookie while you answer the questions: turn cookies on in your browser and start again, or order another way (see Contact us)."}
	case errors.Is(err, errStateExpired):
		return problem{Type: "urn:booklets:problem:expired", Title: "Your answers have timed out", Status: http.StatusBadRequest,
			Detail: "We did not keep your answers because the page was open for too long. If you saw a confirmation with a reference, your order was received. Otherwise, start again."}
	case errors.Is(err, errCrossOrigin):
		return problem{Type: "urn:booklets:problem:cross-origin", Title: "Forbidden", Status: http.StatusForbidden,
			Detail: "Requests from other websites are not accepted."}
	case errors.Is(err, errNotFound):
		return problem{Type: "urn:booklets:problem:not-found", Title: "Page not found", Status: http.StatusNotFound,
			Detail: "If you typed the web address, check it is correct."}
	case errors.As(err, &limited):
		return problem{Type: "urn:booklets:problem:rate-limited", Title: "Too many requests", Status: http.StatusTooManyRequests,
			Detail: "Wait a moment and try again.", retryAfter: limited.retryAfter}
	case errors.Is(err, placeorder.ErrKeyReused):
		return problem{Type: "urn:booklets:problem:idempotency-key-reused", Title: "Idempotency-Key already used for another order", Status: http.StatusUnprocessableEntity,
			Detail:    "This Idempotency-Key was used for an order with other content. Nothing was sent. Use a new key for a new order, or send the first order's content unchanged to get its reference.",
			pageTitle: "Sorry, we could not send your answers", pageDetail: "Your order has not been sent. Start again."}
	case errors.Is(err, placeorder.ErrKeyStale):
		return problem{Type: "urn:booklets:problem:idempotency-key-stale", Title: "Idempotency-Key of an unconfirmed order of an earlier day", Status: http.StatusConflict,
			Detail:    "The order first sent with this Idempotency-Key was never confirmed, and its day has ended. Nothing was sent. Send the order again with a new key.",
			pageTitle: "Your order has not been sent", pageDetail: "We could not confirm your earlier attempt to send it before the end of the day. Select \"Try again\" to send it now."}
	case errors.Is(err, placeorder.ErrDayKeyFault):
		// Not "try again in a few minutes": this needs an operator. No
		// Retry-After and no "Try again" button on the form.
		return problem{Type: "urn:booklets:problem:out-of-service", Title: "Sorry, the service is unavailable", Status: http.StatusServiceUnavailable,
			Detail: "Your order has not been sent. There is a fault that we have to fix before we can take orders, so trying again straight away will not work. Please come back later."}
	case errors.Is(err, placeorder.ErrUnavailable), errors.Is(err, placeorder.ErrKeysUnavailable):
		return problem{Type: "urn:booklets:problem:unavailable", Title: "Sorry, the service is unavailable", Status: http.StatusServiceUnavailable,
			Detail: "Your order has not been sent. Try again in a few minutes.", retryAfter: 10 * time.Second}
	}
	return problem{Status: http.StatusInternalServerError}
}

// internalErrorText is all a user sees of a 500.
const internalErrorText = "Sorry, there is a problem with the service. Try again later.\n"

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
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(p.Status)
		fmt.Fprint(w, internalErrorText)
		return
	}
	info.logger(s.log).Debug().Err(err).Int("status", p.Status).Msg("request failed")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(p.Status)
		_ = json.NewEncoder(w).Encode(p)
		return
	}
	if p.pageTitle != "" {
		p.Title, p.Detail = p.pageTitle, p.pageDetail
	}
	var retry *retryableError
	page := pageData{Title: p.Title, Problem: &p}
	page.Retry = errors.As(err, &retry)
	s.render(w, r, p.Status, "problem.html", page)
}

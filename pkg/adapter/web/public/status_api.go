package public

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/stage/trackorder"
)

// orderStatusBody is GET /api/v1/orders/{reference}'s answer
// (docs/api.md, "Order status and cancellation"): dates are ISO 8601
// (YYYY-MM-DD, London dates), cancellable_until an RFC 3339 time in UTC;
// each is omitted when it does not apply.
type orderStatusBody struct {
	Reference             string `json:"reference"`
	Status                string `json:"status"`
	ReceivedOn            string `json:"received_on,omitempty"`
	CancellableUntil      string `json:"cancellable_until,omitempty"`
	CancelledOn           string `json:"cancelled_on,omitempty"`
	SentOn                string `json:"sent_on,omitempty"`
	PersonalDataDeletedOn string `json:"personal_data_deleted_on,omitempty"`
	DispatchedOn          string `json:"dispatched_on,omitempty"`
	ReturnedOn            string `json:"returned_on,omitempty"`
	DeletionDueBy         string `json:"deletion_due_by,omitempty"`
	DeletionOverdue       bool   `json:"deletion_overdue,omitempty"`
	DeletionConfirmedOn   string `json:"deletion_confirmed_on,omitempty"`
}

func isoDate(d businessday.Date) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}

func newOrderStatusBody(st trackorder.Status) orderStatusBody {
	b := orderStatusBody{Reference: st.Reference, Status: st.Status, ReceivedOn: isoDate(st.ReceivedOn),
		CancelledOn: isoDate(st.CancelledOn), SentOn: isoDate(st.SentOn), PersonalDataDeletedOn: isoDate(st.PersonalDataDeletedOn),
		DispatchedOn: isoDate(st.DispatchedOn), ReturnedOn: isoDate(st.ReturnedOn), DeletionDueBy: isoDate(st.DeletionDueBy),
		DeletionOverdue: st.DeletionOverdue, DeletionConfirmedOn: isoDate(st.DeletionConfirmedOn)}
	if !st.CancellableUntil.IsZero() {
		b.CancellableUntil = st.CancellableUntil.UTC().Format(time.RFC3339)
	}
	return b
}

// The problems of the status API, their words in the catalogue
// (problem.<id>, locales/{en,cy}.toml) in the client's language
// (Accept-Language). The one for a cancel that finds no order is the same
// whether the reference is unknown or the postcode does not match
// (noMatchProblem), so that neither can be tested alone.
var (
	unknownOrderProblem = problem{Type: "urn:booklets:problem:order-not-found", id: "order_not_found", Status: http.StatusNotFound}
	noMatchProblem      = problem{Type: "urn:booklets:problem:order-not-found", id: "order_no_match", Status: http.StatusNotFound}
	tooLateProblem      = problem{Type: "urn:booklets:problem:too-late", id: "too_late", Status: http.StatusConflict}
)

// referenceProblem is the 400 for a reference that is not well formed,
// saying what is wrong with it (never repeating it).
func referenceProblem(err error) (problem, bool) {
	p := problem{Type: "urn:booklets:problem:invalid-reference", id: "invalid_reference", Status: http.StatusBadRequest}
	switch {
	case errors.Is(err, trackorder.ErrReferenceCheck):
		p.detailID = "invalid_reference.check"
	case errors.Is(err, trackorder.ErrReferenceFormat), errors.Is(err, trackorder.ErrNoReference):
	default:
		return problem{}, false
	}
	return p, true
}

// writeProblem writes p as application/problem+json in the client's
// language, as writeError does for the other API errors.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p problem) error {
	l := infoFrom(r.Context()).lang
	p.words(s.catalogues, l, false)
	w.Header().Set("Content-Language", string(l))
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	return json.NewEncoder(w).Encode(p)
}

// orderStatusAPI is GET /api/v1/orders/{reference}.
func (s *Server) orderStatusAPI(w http.ResponseWriter, r *http.Request) error {
	st, err := s.tracker.Status(r.Context(), r.PathValue("reference"))
	if p, ok := referenceProblem(err); ok {
		return s.writeProblem(w, r, p)
	}
	if errors.Is(err, trackorder.ErrUnknown) {
		return s.writeProblem(w, r, unknownOrderProblem)
	}
	if err != nil {
		return err
	}
	w.Header()["Content-Type"] = jsonContentType
	return json.NewEncoder(w).Encode(newOrderStatusBody(st))
}

// cancelRequest is POST /api/v1/orders/{reference}/cancel's body.
type cancelRequest struct {
	Postcode *string `json:"postcode"`
}

// cancelOrderAPI is POST /api/v1/orders/{reference}/cancel with
// {"postcode": "…"}: 204 when cancelled (or already cancelled: the order
// is cancelled, as asked), 409 past the cut-off, 404 for an unknown
// reference or a postcode that does not match (the same body), 422 for a
// missing or malformed postcode. The postcode is never logged or echoed.
func (s *Server) cancelOrderAPI(w http.ResponseWriter, r *http.Request) error {
	if err := checkJSONBody(r); err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	var req cancelRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) || strings.HasPrefix(err.Error(), "json: unknown field") {
			return &badRequestError{id: "postcode_body"}
		}
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return &badRequestError{id: "one_object"}
	}
	pc := ""
	if req.Postcode != nil {
		pc = *req.Postcode
	}
	c, err := s.tracker.Cancel(r.Context(), r.PathValue("reference"), pc)
	if p, ok := referenceProblem(err); ok {
		return s.writeProblem(w, r, p)
	}
	switch {
	case err == nil:
		infoFrom(r.Context()).reference = c.Reference
		w.WriteHeader(http.StatusNoContent)
		return nil
	case errors.Is(err, trackorder.ErrUnknown):
		return s.writeProblem(w, r, noMatchProblem)
	case errors.Is(err, trackorder.ErrTooLate):
		return s.writeProblem(w, r, tooLateProblem)
	case errors.Is(err, trackorder.ErrNoPostcode):
		return s.writeProblem(w, r, s.postcodeProblem("validation.status.api_postcode_empty"))
	case errors.Is(err, trackorder.ErrPostcodeFormat):
		return s.writeProblem(w, r, s.postcodeProblem("validation.status.api_postcode_format"))
	}
	return err
}

// postcodeProblem is the 422 for a missing or malformed postcode, in the
// shape of an invalid order's (errors: field and message, never the
// value). id is the message's, validation.status.api_*: the API's own
// wording, which names the order's postcode rather than the person's.
func (s *Server) postcodeProblem(id string) problem {
	return problem{Type: "urn:booklets:problem:invalid-postcode", id: "invalid_postcode", Status: http.StatusUnprocessableEntity,
		Errors: s.fieldError("postcode", id)}
}

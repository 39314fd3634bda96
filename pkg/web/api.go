package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"booklets/pkg/order"
)

// maxIdempotencyKeyLen bounds the Idempotency-Key header.
const maxIdempotencyKeyLen = 255

// createOrder is POST /api/v1/orders. It answers 201 only after JetStream
// has acknowledged the order.
func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) error {
	// The usual header exactly is accepted without parsing (which builds a
	// map of parameters); anything else is parsed.
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errUnsupportedMediaType
		}
	}
	key := r.Header.Get("Idempotency-Key")
	if !validIdempotencyKey(key) {
		return &badRequestError{detail: "Idempotency-Key must be 1 to 255 visible ASCII characters."}
	}
	var d order.Draft
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mbe
		}
		return &badRequestError{detail: "The body must be one JSON object."}
	}
	v, err := d.Validate(s.catalogue)
	if err != nil {
		return err
	}
	ref, err := s.place(r.Context(), v, key)
	if err != nil {
		return err
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusCreated)
	_, err = w.Write(createdBody(ref.String()))
	return err
}

// jsonContentType is shared by every 201 (see securityHeaders for why a
// shared header value is safe).
var jsonContentType = []string{"application/json"}

// createdBody is the 201's body, {"reference":"…","status":"received"}
// and a newline, byte for byte what json.Encoder wrote for the map it
// replaces: built by hand, as encoding a map by reflection showed in the
// profile (docs/performance.md).
func createdBody(ref string) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"reference":`...)
	b = strconv.AppendQuote(b, ref) // a reference is [0-9A-Z-]: quoting it is JSON
	return append(b, `,"status":"received"}`+"\n"...)
}

// decodeError turns a JSON decoding failure into a client error. The
// decoder's own messages can quote the input (an unknown field's name, a
// value), so only the kind of problem is kept.
func decodeError(err error) error {
	var (
		mbe    *http.MaxBytesError
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return mbe
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &badRequestError{detail: "The body is not valid JSON."}
	case errors.As(err, &typ):
		if typ.Field != "" {
			return &badRequestError{detail: "The field " + typ.Field + " has the wrong type."}
		}
		return &badRequestError{detail: "The body must be a JSON object."}
	}
	// json reports unknown fields only as text; the field names are ours
	// or the client's, so do not repeat them.
	return &badRequestError{detail: "The body has fields that are not part of an order, or is not a JSON order."}
}

func validIdempotencyKey(k string) bool {
	if len(k) > maxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true // "" means no key
}

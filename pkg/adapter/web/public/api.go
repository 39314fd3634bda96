package public

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/text/cases"

	"booklets/pkg/domain/order"
)

// maxIdempotencyKeyLen bounds the Idempotency-Key header.
const maxIdempotencyKeyLen = 255

// checkJSONBody refuses a body that is not declared as JSON in UTF-8.
// The usual header exactly is accepted without parsing (which builds a map
// of parameters); anything else is parsed. JSON is UTF-8 (RFC 8259): a
// body declared in another charset would be misread, so it is refused
// rather than guessed at.
func checkJSONBody(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errUnsupportedMediaType
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return errUnsupportedCharset
		}
	}
	return nil
}

// createOrder is POST /api/v1/orders. It answers 201 only after JetStream
// has acknowledged the order.
func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) error {
	if err := checkJSONBody(r); err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if !validIdempotencyKey(key) {
		return &badRequestError{id: "idempotency_key"}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	if err := checkFieldNames(body); err != nil {
		return err
	}
	var d order.Draft
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mbe
		}
		return &badRequestError{id: "one_object"}
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
	_, err = w.Write(createdBody(ref.String(), v.Languages))
	return err
}

// jsonContentType is shared by every 201 (see securityHeaders for why a
// shared header value is safe).
var jsonContentType = []string{"application/json"}

// createdBody is the 201's body,
// {"reference":"…","status":"received","languages":["en"]} and a newline,
// what json.Encoder writes for those fields: built by hand, as encoding a
// map by reflection showed in the profile (docs/performance.md). The
// languages are those of the order as placed (validated: the default
// filled in), so a client that sent none learns which it got.
func createdBody(ref string, langs []order.Language) []byte {
	b := make([]byte, 0, 80)
	b = append(b, `{"reference":`...)
	b = strconv.AppendQuote(b, ref) // a reference is [0-9A-Z-]: quoting it is JSON
	b = append(b, `,"status":"received","languages":[`...)
	for i, l := range langs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, string(l)) // a valid language is [a-z]: quoting it is JSON
	}
	return append(b, "]}\n"...)
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
		return &badRequestError{id: "not_json"}
	case errors.As(err, &typ):
		if typ.Field != "" {
			return &badRequestError{id: "wrong_type", args: []any{"Field", typ.Field}}
		}
		return &badRequestError{id: "not_object"}
	}
	// json reports unknown fields only as text; the field names are ours
	// or the client's, so do not repeat them.
	return &badRequestError{id: "unknown_fields"}
}

// draftFields are the field names of an order, exactly as documented.
var draftFields = map[string]bool{
	order.FieldArea: true, order.FieldFormats: true, order.FieldLanguages: true, order.FieldName: true,
	order.FieldAddressLine1: true, order.FieldAddressLine2: true, order.FieldTown: true, order.FieldPostcode: true,
}

// checkFieldNames refuses what encoding/json would quietly accept: a field
// given twice (it keeps the last, so what was checked and what is stored
// could differ from what another reader of the same body sees), and a
// field name in another case ("Name", "NAME", "nAme", or "addreſſ_line_1"
// with long s, all fill a field). Names are compared with Unicode case
// folding, as encoding/json matches them. A body that is not valid JSON is
// left to the decoder to report.
//
// It walks the bytes itself rather than json.Decoder.Token, which cost as
// much as a tenth of an order's whole handling (an allocation per token):
// in valid JSON a string right after '{' or after ',' inside an object is
// a key, and within a string a backslash escapes the next byte.
func checkFieldNames(body []byte) error {
	if !json.Valid(body) {
		return nil
	}
	type frame struct {
		object  bool
		wantKey bool
		seen    []string // folded; an order has eight fields
	}
	var stack []frame
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{':
			stack = append(stack, frame{object: true, wantKey: true})
		case '[':
			stack = append(stack, frame{})
		case '}', ']':
			stack = stack[:len(stack)-1]
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].wantKey = true
			}
		case '"':
			j := i + 1
			for body[j] != '"' {
				if body[j] == '\\' {
					j++
				}
				j++
			}
			n := len(stack)
			if n > 0 && stack[n-1].wantKey {
				top := &stack[n-1]
				top.wantKey = false
				k := string(body[i+1 : j])
				if strings.IndexByte(k, '\\') >= 0 {
					if err := json.Unmarshal(body[i:j+1], &k); err != nil {
						return nil // cannot be: the body is valid
					}
				}
				folded := foldName(k)
				if slices.Contains(top.seen, folded) {
					return &badRequestError{id: "duplicate_field"}
				}
				top.seen = append(top.seen, folded)
				// The names are lower-case ASCII, their own folded form.
				if n == 1 && !draftFields[k] && draftFields[folded] {
					return &badRequestError{id: "field_case"}
				}
			}
			i = j
		}
	}
	return nil
}

// foldName is a field name's case-folded form. Lower-case ASCII, what
// every well-behaved client sends, is its own and costs nothing.
func foldName(k string) string {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c >= 0x80 || 'A' <= c && c <= 'Z' {
			return cases.Fold().String(k)
		}
	}
	return k
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

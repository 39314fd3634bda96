// Package validation is the one shape of "what is wrong with what a person
// typed", shared by orders and research sign-ups so that the front ends
// render both the same way (the GOV.UK error summary, the API's problem
// list). It imports nothing but the standard library.
package validation

import "strings"

// FieldError is what is wrong with one field, in words for the public. It
// never repeats the value that was given: the message is a rule, so it can
// be shown, logged or counted without disclosing personal data.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Errors lists every invalid field of a submission at once, in the order
// the fields were checked (the order a form shows them, so the error
// summary reads top to bottom).
type Errors []FieldError

// Error names the invalid fields, never their values or messages: it is
// what reaches a log.
func (v Errors) Error() string {
	fields := make([]string, len(v))
	for i, f := range v {
		fields[i] = f.Field
	}
	return "invalid fields: " + strings.Join(fields, ", ")
}

// For returns the message for a field, or "" if the field is valid.
func (v Errors) For(field string) string {
	for _, f := range v {
		if f.Field == field {
			return f.Message
		}
	}
	return ""
}

// Add appends a message for a field, keeping the order of the calls.
func (v *Errors) Add(field, message string) {
	*v = append(*v, FieldError{Field: field, Message: message})
}

// Err returns v as an error, or nil if there is nothing in it, so that a
// validator can end with "return result, errs.Err()" without handing back a
// non-nil error holding an empty list.
func (v Errors) Err() error {
	if len(v) == 0 {
		return nil
	}
	return v
}

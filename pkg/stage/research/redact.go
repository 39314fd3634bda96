package research

import (
	"fmt"
	"io"

	"github.com/rs/zerolog"
)

// A sign-up's name and email address, and a withdrawal code (which lets
// whoever holds it delete the entry), never reach a log or an error by
// accident: these types print as "redacted" through fmt (Format covers
// every verb, String and GoString the explicit calls) and log through
// zerolog as an object that says which fields are filled in, never what is
// in them. Summary holds no personal data and needs none of this.

const redacted = "redacted"

func (d Draft) String() string             { return "research.Draft{" + redacted + "}" }
func (d Draft) GoString() string           { return d.String() }
func (d Draft) Format(f fmt.State, _ rune) { io.WriteString(f, d.String()) }
func (d Draft) MarshalZerologObject(e *zerolog.Event) {
	e.Bool("has_name", d.Name != "").
		Bool("has_email", d.Email != "").
		Bool("consent", d.Consent).
		Bool("has_consent_version", d.ConsentVersion != "")
}

func (s SignUp) String() string             { return "research.SignUp{" + redacted + "}" }
func (s SignUp) GoString() string           { return s.String() }
func (s SignUp) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }
func (s SignUp) MarshalZerologObject(e *zerolog.Event) {
	e.Bool("has_name", s.Name != "").
		Bool("has_email", s.Email != "").
		Str("consent_version", s.ConsentVersion) // one of ours, not typed by the person
}

// An Entry prints its id, which is not personal and is what an operator
// needs to find it; the rest of it is the person's.
func (e Entry) String() string             { return "research.Entry{ID:" + e.ID + " " + redacted + "}" }
func (e Entry) GoString() string           { return e.String() }
func (e Entry) Format(f fmt.State, _ rune) { io.WriteString(f, e.String()) }
func (e Entry) MarshalZerologObject(ev *zerolog.Event) {
	ev.Str("id", e.ID).
		Str("purpose", e.Purpose).
		Str("consent_version", e.ConsentVersion).
		Str("signed_up_on", e.SignedUpOn.String()).
		Str("review_due_on", e.ReviewDueOn.String()).
		Bool("has_name", e.Name != "").
		Bool("has_email", e.Email != "")
}

func (r Receipt) String() string             { return "research.Receipt{ID:" + r.ID + " " + redacted + "}" }
func (r Receipt) GoString() string           { return r.String() }
func (r Receipt) Format(f fmt.State, _ rune) { io.WriteString(f, r.String()) }
func (r Receipt) MarshalZerologObject(e *zerolog.Event) {
	e.Str("id", r.ID).Bool("has_code", r.Code != "")
}

package public

import (
	"fmt"
	"io"

	"github.com/rs/zerolog"
)

// The form's state and pages carry what a person typed: an order's draft,
// a sign-up's, an email address typed to withdraw, a withdrawal code. None
// of it may reach a log by accident. The drafts redact themselves
// (order.Draft, research.Draft); these types redact the rest, through fmt
// and through zerolog, which would otherwise log them as JSON.

func (st formState) String() string {
	return "public.formState{redacted}"
}
func (st formState) GoString() string           { return st.String() }
func (st formState) Format(f fmt.State, _ rune) { io.WriteString(f, st.String()) }
func (st formState) MarshalZerologObject(e *zerolog.Event) {
	e.Object("draft", st.Draft).Bool("has_key", st.Key != "").Int64("expires", st.Expires)
}

func (d researchData) String() string {
	return "public.researchData{redacted}"
}
func (d researchData) GoString() string           { return d.String() }
func (d researchData) Format(f fmt.State, _ rune) { io.WriteString(f, d.String()) }
func (d researchData) MarshalZerologObject(e *zerolog.Event) {
	e.Bool("enabled", d.Enabled).
		Object("draft", d.Draft).
		Bool("has_code", d.Code != "").
		Bool("has_withdraw", d.Withdraw != "")
}

// pageData prints through fmt field by field, each personal one redacting
// itself (Draft, Research); zerolog gets only what names the page.
func (p pageData) MarshalZerologObject(e *zerolog.Event) {
	e.Str("title", p.Title).Int("errors", len(p.Errors)).Object("draft", p.Draft).Object("research", p.Research)
}

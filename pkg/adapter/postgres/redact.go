package postgres

import (
	"fmt"
	"io"

	"github.com/rs/zerolog"
)

// contact is a volunteer's name and email as they are sealed: it prints as
// "redacted" through fmt and logs through zerolog as which fields are
// filled in, never their values, like the domain's personal types
// (pkg/domain/order/redact.go). zerolog would otherwise log it as JSON.
func (c contact) String() string             { return "postgres.contact{redacted}" }
func (c contact) GoString() string           { return c.String() }
func (c contact) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }
func (c contact) MarshalZerologObject(e *zerolog.Event) {
	e.Bool("has_name", c.Name != "").Bool("has_email", c.Email != "")
}

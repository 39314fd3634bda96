package seal

import (
	"fmt"
	"io"

	"github.com/rs/zerolog"
)

// A key prints as what names it, never as its bytes: fmt would otherwise
// print the raw key of a *DayKey or *RecordKey (%v of a struct shows its
// []byte fields), and one log line of a key would open every order of its
// day or the record it seals.
//
// The fmt methods are on the value, so that a copy is covered too (fmt
// prints a nil *DayKey as <nil>); the zerolog one is on the pointer, which
// is how keys travel, and checks for nil.

func (k DayKey) String() string             { return "seal.DayKey{" + k.date + "}" }
func (k DayKey) GoString() string           { return k.String() }
func (k DayKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }
func (k *DayKey) MarshalZerologObject(e *zerolog.Event) {
	if k != nil {
		e.Str("date", k.date)
	}
}

func (k RecordKey) String() string             { return "seal.RecordKey{" + k.kind + " " + k.id + "}" }
func (k RecordKey) GoString() string           { return k.String() }
func (k RecordKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }
func (k *RecordKey) MarshalZerologObject(e *zerolog.Event) {
	if k != nil {
		e.Str("kind", k.kind).Str("id", k.id)
	}
}

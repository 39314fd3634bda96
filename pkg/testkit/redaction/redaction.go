// Package redaction checks, in tests, that a value holding personal data
// cannot leak it through the two ways a value reaches a log: fmt (every
// verb a log line or an error message might use, alone and inside a
// struct) and zerolog (as a field, an object, or in a map of fields).
//
// It is for tests only: production code never imports pkg/testkit.
package redaction

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// NoLeak fails t if any rendering of v contains marker. v should carry
// marker in every field that holds personal data, so that a field the
// type forgets to redact is found.
func NoLeak(t testing.TB, v any, marker string) {
	t.Helper()
	if marker == "" {
		t.Fatal("redaction.NoLeak needs a marker to look for")
	}
	// The control proves the marker is in v: without it, a value that
	// never held the marker would pass.
	if !strings.Contains(fmt.Sprintf("%#v", unredacted{v}), marker) {
		t.Fatalf("%T does not carry the marker %q; the check would prove nothing", v, marker)
	}
	// A pointer to a copy: methods on the value must cover it too.
	ptr := reflect.New(reflect.TypeOf(v))
	ptr.Elem().Set(reflect.ValueOf(v))
	wrapped := struct{ Value any }{v}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%t", "%T %[1]v"} {
		for _, x := range []any{v, ptr.Interface(), wrapped, []any{v}, map[string]any{"k": v}} {
			if s := fmt.Sprintf(verb, x); strings.Contains(s, marker) || strings.Contains(s, fmt.Sprintf("%x", marker)) {
				t.Errorf("fmt %s of %T prints personal data: %s", verb, x, s)
			}
		}
	}
	if s := fmt.Sprint(v); strings.Contains(s, marker) {
		t.Errorf("fmt.Sprint of %T prints personal data: %s", v, s)
	}
	if st, ok := v.(fmt.Stringer); ok && strings.Contains(st.String(), marker) {
		t.Errorf("%T.String prints personal data: %s", v, st.String())
	}
	if gs, ok := v.(fmt.GoStringer); ok && strings.Contains(gs.GoString(), marker) {
		t.Errorf("%T.GoString prints personal data: %s", v, gs.GoString())
	}

	var buf bytes.Buffer
	log := zerolog.New(&buf)
	log.Info().Interface("value", v).Msg("interface")
	log.Info().Any("value", v).Msg("any")
	log.Info().Fields(map[string]any{"value": v}).Msg("fields")
	log.Info().Fields([]any{"value", v}).Msg("field list")
	if m, ok := v.(zerolog.LogObjectMarshaler); ok {
		log.Info().Object("value", m).Msg("object")
		log.Info().EmbedObject(m).Msg("embedded")
	} else {
		t.Errorf("%T has no MarshalZerologObject: zerolog would log it as JSON, fields and all", v)
	}
	if st, ok := v.(fmt.Stringer); ok {
		log.Info().Stringer("value", st).Msg("stringer")
	}
	withValue := log.With().Interface("value", v).Logger()
	withValue.Info().Msg("context")
	if strings.Contains(buf.String(), marker) {
		t.Errorf("zerolog prints personal data of %T:\n%s", v, buf.String())
	}
}

// unredacted hides v's methods from fmt, so that %#v of it shows its
// fields as they are: the control that the marker is really there.
type unredacted struct{ v any }

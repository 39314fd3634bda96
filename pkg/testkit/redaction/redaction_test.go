package redaction

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// recorder collects failures instead of failing this test. Fatal ends the
// checked function's goroutine, as testing.T's does.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) {
	r.failures = append(r.failures, fmt.Sprint(args...))
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func check(v any, marker string) []string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		NoLeak(r, v, marker)
	}()
	<-done
	return r.failures
}

type leaky struct{ Name string }

type stringerOnly struct{ Name string }

func (s stringerOnly) String() string { return "redacted" }

type safe struct{ Name string }

func (s safe) Format(f fmt.State, _ rune)            { fmt.Fprint(f, "redacted") }
func (s safe) MarshalZerologObject(e *zerolog.Event) { e.Bool("has_name", s.Name != "") }

func TestNoLeak(t *testing.T) {
	const m = "MARKER"
	if got := check(safe{"Ann " + m}, m); len(got) != 0 {
		t.Errorf("a redacting type fails: %q", got)
	}
	if got := check(leaky{"Ann " + m}, m); len(got) == 0 {
		t.Error("a plain struct passes")
	}
	got := check(stringerOnly{"Ann " + m}, m)
	if !strings.Contains(strings.Join(got, "\n"), "%#v") || !strings.Contains(strings.Join(got, "\n"), "MarshalZerologObject") {
		t.Errorf("a type with only String: failures %q, want %%#v and the missing zerolog marshaler", got)
	}
	if got := check(safe{"Ann"}, m); len(got) != 1 || !strings.Contains(got[0], "does not carry the marker") {
		t.Errorf("a value without the marker: %q, want the check to refuse it", got)
	}
}

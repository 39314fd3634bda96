package envconfig

import (
	"strings"
	"testing"
	"time"
)

func TestReader(t *testing.T) {
	t.Parallel()
	env := map[string]string{"S": "x", "N": "7", "BADN": "seven", "D": "90s", "BADD": "soon", "B": "true"}
	r := New(func(k string) string { return env[k] })
	if r.String("S", "d") != "x" || r.String("UNSET", "d") != "d" {
		t.Error("String")
	}
	if r.Int("N", 1) != 7 || r.Int("UNSET", 1) != 1 {
		t.Error("Int")
	}
	if r.Duration("D", time.Second) != 90*time.Second {
		t.Error("Duration")
	}
	if !r.Bool("B", false) {
		t.Error("Bool")
	}
	if r.Err() != nil {
		t.Fatalf("Err = %v before any bad value", r.Err())
	}
	r.Int("BADN", 1)
	r.Duration("BADD", time.Second)
	r.Required("MISSING")
	err := r.Err()
	for _, name := range []string{"BADN", "BADD", "MISSING"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Err() = %v, want it to name %s", err, name)
		}
	}
}

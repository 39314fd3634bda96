package validation_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"booklets/pkg/domain/validation"
)

func TestErrors(t *testing.T) {
	var v validation.Errors
	if v.Err() != nil {
		t.Fatal("an empty list is not an error")
	}
	v.Add("name", "Enter your full name")
	v.Add("postcode", "Enter a postcode")
	err := v.Err()
	if err == nil {
		t.Fatal("a list with entries must be an error")
	}
	if got, want := err.Error(), "invalid fields: name, postcode"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var back validation.Errors
	if !errors.As(fmt.Errorf("wrapped: %w", err), &back) || len(back) != 2 {
		t.Fatalf("errors.As through a wrap = %v", back)
	}
	if got := back.For("postcode"); got != "Enter a postcode" {
		t.Errorf("For(postcode) = %q", got)
	}
	if got := back.For("town"); got != "" {
		t.Errorf("For(town) = %q, want empty", got)
	}
	// The API's problem documents list these: the keys are part of it.
	b, _ := json.Marshal(back)
	if want := `[{"field":"name","message":"Enter your full name"},{"field":"postcode","message":"Enter a postcode"}]`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}

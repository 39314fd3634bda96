package main

import (
	"testing"

	"github.com/rs/zerolog"

	"booklets/pkg/stage/reconcile"
)

// PARTNER_CONTACT reaches the reconciler that writes the reason files;
// unset, the default; not one line of text, refused at start.
func TestPartnerContactSetting(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := readConfig(env(nil))
	if err != nil || cfg.Contact != reconcile.DefaultContact {
		t.Fatalf("unset: %q %v", cfg.Contact, err)
	}
	const c = "Print operations, 0161 496 0000, print-ops@booklets.example"
	cfg, err = readConfig(env(map[string]string{"PARTNER_CONTACT": c}))
	if err != nil {
		t.Fatal(err)
	}
	if rec := reconciler(cfg, nil, zerolog.Nop()); rec.Contact != c {
		t.Errorf("reconciler contact %q, want %q", rec.Contact, c)
	}
	for _, bad := range []string{" ", "two\nlines"} {
		if _, err := readConfig(env(map[string]string{"PARTNER_CONTACT": bad})); err == nil {
			t.Errorf("PARTNER_CONTACT %q accepted", bad)
		}
	}
}

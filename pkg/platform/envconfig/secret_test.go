package envconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"INLINE":    "s3cret-inline",
		"FROM_FILE": file,
		"BOTH":      "x", "BOTH_FILE": file,
		"GONE_FILE": filepath.Join(t.TempDir(), "missing"),
	}
	r := New(func(k string) string { return env[k] })
	if got := r.Secret("INLINE"); got != "s3cret-inline" {
		t.Errorf("inline: %q", got)
	}
	if got := r.Secret("FROM"); got != "s3cret-from-file" {
		t.Errorf("file: %q", got)
	}
	if got := r.Secret("UNSET"); got != "" {
		t.Errorf("unset: %q", got)
	}
	if r.Err() != nil {
		t.Fatalf("Err = %v", r.Err())
	}
	r.Secret("BOTH")
	r.Secret("GONE")
	err := r.Err()
	if err == nil || !strings.Contains(err.Error(), "BOTH and BOTH_FILE") || !strings.Contains(err.Error(), "GONE_FILE") {
		t.Fatalf("Err = %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error repeats a secret: %v", err)
	}
}

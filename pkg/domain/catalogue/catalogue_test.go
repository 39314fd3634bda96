package catalogue

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDefault(t *testing.T) {
	t.Parallel()
	c := Default()
	if len(c.Areas) != 43 {
		t.Fatalf("default catalogue has %d areas, want the 43 police force areas", len(c.Areas))
	}
	if a, ok := c.Lookup("staffordshire"); !ok || a.Name != "Staffordshire" {
		t.Fatalf("Lookup(staffordshire) = %+v, %v", a, ok)
	}
	if c.Has("atlantis") {
		t.Fatal("Has(atlantis) = true")
	}
}

func TestLoadReplacement(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "areas.json")
	os.WriteFile(path, []byte(`{"areas":[{"code":"test-area","name":"Test Area"}]}`), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Has("test-area") || c.Has("staffordshire") {
		t.Fatalf("replacement catalogue not used: %+v", c.Areas)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{`,
		`{"areas":[]}`,
		`{"areas":[{"code":"Bad Code","name":"x"}]}`,
		`{"areas":[{"code":"a","name":""}]}`,
		`{"areas":[{"code":"a","name":"A"},{"code":"a","name":"B"}]}`,
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%s) accepted", in)
		}
	}
}

package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestKeysNeverPrintTheirBytes prints day and record keys made from known
// bytes every way a log line or an error might, and looks for those bytes
// in every encoding fmt or zerolog would use.
func TestKeysNeverPrintTheirBytes(t *testing.T) {
	raw := []byte("MARKER-key-0123456789abcdefghijk") // KeySize bytes
	if len(raw) != KeySize {
		t.Fatalf("test key is %d bytes, want %d", len(raw), KeySize)
	}
	day, err := dayKeyFrom("2026-03-02", bytes.Clone(raw))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := recordKeyFrom("volunteer", "v-1", bytes.Clone(raw))
	if err != nil {
		t.Fatal(err)
	}
	forms := []string{
		string(raw[:12]),
		strings.Trim(fmt.Sprint(raw[:8]), "[]"), // 77 65 82 ...
		hex.EncodeToString(raw[:8]),             // %x
		strings.TrimSuffix(fmt.Sprintf("%#v", raw[:4])[len("[]byte{"):], "}"), // 0x4d, 0x41, ...
		base64.StdEncoding.EncodeToString(raw[:9]),                            // encoding/json of a []byte
	}
	// The control: an unredacted rendering holds them, so their absence
	// below means something.
	type plain struct{ Raw []byte }
	for _, verb := range []string{"%s", "%v", "%x", "%#v"} {
		s := fmt.Sprintf(verb, plain{raw})
		found := false
		for _, f := range forms {
			found = found || strings.Contains(s, f)
		}
		if !found {
			t.Fatalf("control: %s of the raw bytes is %q, in none of the forms looked for", verb, s)
		}
	}

	for name, k := range map[string]any{"DayKey": day, "RecordKey": rec} {
		var out bytes.Buffer
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			fmt.Fprintf(&out, verb+"\n", k)
			fmt.Fprintf(&out, verb+"\n", struct{ K any }{k})
		}
		switch k := k.(type) {
		case *DayKey:
			fmt.Fprintf(&out, "%v %#v %+v %d\n", *k, *k, *k, *k)
		case *RecordKey:
			fmt.Fprintf(&out, "%v %#v %+v %d\n", *k, *k, *k, *k)
		}
		log := zerolog.New(&out)
		log.Info().Interface("key", k).Any("again", k).Msg("")
		if m, ok := k.(zerolog.LogObjectMarshaler); ok {
			log.Info().Object("key", m).Msg("")
		} else {
			t.Errorf("%s has no MarshalZerologObject", name)
		}
		for _, f := range forms {
			if strings.Contains(out.String(), f) {
				t.Errorf("%s prints its raw bytes (%q):\n%s", name, f, out.String())
			}
		}
		if !strings.Contains(out.String(), "2026-03-02") && !strings.Contains(out.String(), "v-1") {
			t.Errorf("%s does not print what names it:\n%s", name, out.String())
		}
	}
}

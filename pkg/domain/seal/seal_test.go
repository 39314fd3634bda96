package seal_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"booklets/pkg/domain/seal"
)

// personal is a typical personal part of an order, distinctive enough to
// search for.
var personal = []byte(`{"name":"Zebedee Quiggleworth","address_lines":["Flat 3, 17 Marigold Terrace"],"town":"Little Snoring","postcode":"NR21 0AB","email":"zebedee.quiggleworth@example.org"}`)

func newKey() string {
	b := make([]byte, seal.KeySize)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func mustRing(t testing.TB, spec string) *seal.Ring {
	t.Helper()
	r, err := seal.ParseRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustDayKey(t testing.TB, date string) *seal.DayKey {
	t.Helper()
	k, err := seal.NewDayKey(date)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	k := mustDayKey(t, "2026-05-07")
	aad := seal.OrderAAD("0b4c7a2e-6a43-4d8e-9d43-3f1c6b2a9e01", "BK-7Q4M-2XPD")
	s, err := k.Seal(personal, aad)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID != "2026-05-07" || s.Alg != seal.AlgAES256GCM {
		t.Errorf("sealed header = %s %s", s.Alg, s.KeyID)
	}
	if bytes.Contains(s.Ciphertext, []byte("Quiggleworth")) {
		t.Fatal("ciphertext contains the plaintext")
	}

	// Through both encodings.
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(j, []byte("Quiggleworth")) {
		t.Fatal("JSON contains the plaintext")
	}
	var fromJSON seal.Sealed
	if err := json.Unmarshal(j, &fromJSON); err != nil {
		t.Fatal(err)
	}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(b), len(personal)+2+10+12+16; got != want {
		t.Errorf("binary encoding is %d bytes, want %d", got, want)
	}
	var fromBin seal.Sealed
	if err := fromBin.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]seal.Sealed{"json": fromJSON, "binary": fromBin} {
		pt, err := k.Open(v, aad)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(pt, personal) {
			t.Errorf("%s: opened %q", name, pt)
		}
	}

	// Two seals of the same plaintext differ (random nonce).
	s2, _ := k.Seal(personal, aad)
	if bytes.Equal(s.Nonce, s2.Nonce) || bytes.Equal(s.Ciphertext, s2.Ciphertext) {
		t.Error("two seals are identical")
	}
}

func TestJSONShape(t *testing.T) {
	t.Parallel()
	k := mustDayKey(t, "2026-05-07")
	s, _ := k.Seal([]byte("x"), nil)
	j, _ := json.Marshal(s)
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"alg", "key_id", "nonce", "ciphertext"} {
		if _, ok := m[f]; !ok {
			t.Errorf("JSON lacks %s: %s", f, j)
		}
	}
	if len(m) != 4 {
		t.Errorf("JSON has %d fields: %s", len(m), j)
	}
}

func TestTampered(t *testing.T) {
	t.Parallel()
	k := mustDayKey(t, "2026-05-07")
	aad := seal.OrderAAD("order-1", "BK-AAAA-AAAA")
	s, _ := k.Seal(personal, aad)

	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 1
		return c
	}
	cases := map[string]struct {
		s   seal.Sealed
		aad []byte
	}{
		"ciphertext bit":      {seal.Sealed{Alg: s.Alg, KeyID: s.KeyID, Nonce: s.Nonce, Ciphertext: flip(s.Ciphertext, 3)}, aad},
		"tag bit":             {seal.Sealed{Alg: s.Alg, KeyID: s.KeyID, Nonce: s.Nonce, Ciphertext: flip(s.Ciphertext, len(s.Ciphertext)-1)}, aad},
		"nonce bit":           {seal.Sealed{Alg: s.Alg, KeyID: s.KeyID, Nonce: flip(s.Nonce, 0), Ciphertext: s.Ciphertext}, aad},
		"truncated":           {seal.Sealed{Alg: s.Alg, KeyID: s.KeyID, Nonce: s.Nonce, Ciphertext: s.Ciphertext[:len(s.Ciphertext)-1]}, aad},
		"other order id":      {s, seal.OrderAAD("order-2", "BK-AAAA-AAAA")},
		"other reference":     {s, seal.OrderAAD("order-1", "BK-BBBB-BBBB")},
		"no associated data":  {s, nil},
		"fields run together": {s, seal.OrderAAD("order-1BK", "-AAAA-AAAA")},
	}
	for name, c := range cases {
		pt, err := k.Open(c.s, c.aad)
		if !errors.Is(err, seal.ErrTampered) {
			t.Errorf("%s: err = %v, want ErrTampered", name, err)
		}
		if pt != nil {
			t.Errorf("%s: returned plaintext", name)
		}
		if err != nil && strings.Contains(err.Error(), "Quiggleworth") {
			t.Errorf("%s: error carries plaintext", name)
		}
	}
}

func TestMovedToAnotherDay(t *testing.T) {
	t.Parallel()
	monday, tuesday := mustDayKey(t, "2026-05-04"), mustDayKey(t, "2026-05-05")
	aad := seal.OrderAAD("order-1", "BK-AAAA-AAAA")
	s, _ := monday.Seal(personal, aad)

	if _, err := tuesday.Open(s, aad); !errors.Is(err, seal.ErrWrongDayKey) {
		t.Errorf("open with another day's key: %v, want ErrWrongDayKey", err)
	}
	// Relabelled to look like Tuesday's: the key id is authenticated.
	s.KeyID = "2026-05-05"
	if _, err := tuesday.Open(s, aad); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("relabelled value: %v, want ErrTampered", err)
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	k := mustDayKey(t, "2026-05-07")
	s, _ := k.Seal(personal, nil)
	good, _ := s.MarshalBinary()

	for name, b := range map[string][]byte{
		"empty":         {},
		"wrong version": append([]byte{9}, good[1:]...),
		"truncated":     good[:20],
		"bad key id":    append([]byte{1, 10}, []byte("2026-13-45xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")...),
	} {
		var v seal.Sealed
		if err := v.UnmarshalBinary(b); !errors.Is(err, seal.ErrMalformed) {
			t.Errorf("binary %s: %v, want ErrMalformed", name, err)
		}
	}
	for name, j := range map[string]string{
		"wrong type":    `{"alg":1,"key_id":"2026-05-07"}`,
		"unknown alg":   `{"alg":"ROT13","key_id":"2026-05-07","nonce":"AAAAAAAAAAAAAAAA","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}`,
		"bad base64":    `{"alg":"AES-256-GCM","key_id":"2026-05-07","nonce":"Zebedee Quiggleworth","ciphertext":"AAAA"}`,
		"short nonce":   `{"alg":"AES-256-GCM","key_id":"2026-05-07","nonce":"AAAA","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}`,
		"key id a name": `{"alg":"AES-256-GCM","key_id":"Zebedee Quiggleworth","nonce":"AAAAAAAAAAAAAAAA","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}`,
	} {
		var v seal.Sealed
		err := json.Unmarshal([]byte(j), &v)
		if !errors.Is(err, seal.ErrMalformed) {
			t.Errorf("JSON %s: %v, want ErrMalformed", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "Quiggleworth") {
			t.Errorf("JSON %s: error quotes the input: %v", name, err)
		}
	}
}

func TestWrapUnwrap(t *testing.T) {
	t.Parallel()
	ring := mustRing(t, "k1:"+newKey())
	k := mustDayKey(t, "2026-05-07")
	w, err := ring.Wrap(k)
	if err != nil {
		t.Fatal(err)
	}
	if w.KEKID != "k1" {
		t.Errorf("wrapped under %s", w.KEKID)
	}
	k2, err := ring.Unwrap("2026-05-07", w)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := k.Seal(personal, nil)
	if pt, err := k2.Open(s, nil); err != nil || !bytes.Equal(pt, personal) {
		t.Fatalf("unwrapped key does not open: %v", err)
	}

	// A wrapped key moved to another date's row does not unwrap.
	if _, err := ring.Unwrap("2026-05-08", w); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("moved to another date: %v, want ErrTampered", err)
	}
	// Nor does a changed one.
	bad := Wrapped(w)
	bad.Data[len(bad.Data)-1] ^= 1
	if _, err := ring.Unwrap("2026-05-07", bad); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("changed: %v, want ErrTampered", err)
	}
}

// Wrapped copies a wrapped key so that the test can change it.
func Wrapped(w seal.Wrapped) seal.Wrapped {
	return seal.Wrapped{KEKID: w.KEKID, Data: append([]byte(nil), w.Data...)}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKeyB64 := newKey(), newKey()
	before := mustRing(t, "2026a:"+oldKey)
	k := mustDayKey(t, "2026-05-07")
	w, _ := before.Wrap(k)
	s, _ := k.Seal(personal, nil)

	// Rotation: a new current key, the old one kept for unwrapping.
	after := mustRing(t, "2026b:"+newKeyB64+",2026a:"+oldKey)
	if after.Current() != "2026b" {
		t.Fatalf("current = %s", after.Current())
	}
	k2, err := after.Unwrap("2026-05-07", w)
	if err != nil {
		t.Fatalf("old KEK no longer unwraps after rotation: %v", err)
	}
	if pt, err := k2.Open(s, nil); err != nil || !bytes.Equal(pt, personal) {
		t.Fatalf("open after rotation: %v", err)
	}
	// New day keys are wrapped by the new key.
	if w2, _ := after.Wrap(mustDayKey(t, "2026-05-08")); w2.KEKID != "2026b" {
		t.Errorf("new day key wrapped under %s", w2.KEKID)
	}

	// Rewrap, then the old key can be removed.
	rw, err := after.Rewrap("2026-05-07", w)
	if err != nil {
		t.Fatal(err)
	}
	if rw.KEKID != "2026b" {
		t.Errorf("rewrapped under %s", rw.KEKID)
	}
	retired := mustRing(t, "2026b:"+newKeyB64)
	k3, err := retired.Unwrap("2026-05-07", rw)
	if err != nil {
		t.Fatalf("rewrapped key: %v", err)
	}
	if pt, err := k3.Open(s, nil); err != nil || !bytes.Equal(pt, personal) {
		t.Fatalf("open after rewrap: %v", err)
	}
	// A key still wrapped by the removed KEK is ErrUnknownKEK.
	if _, err := retired.Unwrap("2026-05-07", w); !errors.Is(err, seal.ErrUnknownKEK) {
		t.Errorf("removed KEK: %v, want ErrUnknownKEK", err)
	}
	// A different key under the same id is ErrTampered, not silently wrong.
	impostor := mustRing(t, "2026a:"+newKey())
	if _, err := impostor.Unwrap("2026-05-07", w); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("wrong key under the right id: %v, want ErrTampered", err)
	}
}

func TestParseRing(t *testing.T) {
	t.Parallel()
	raw := make([]byte, 32)
	rand.Read(raw)
	for name, spec := range map[string]string{
		"std":       "a:" + base64.StdEncoding.EncodeToString(raw),
		"raw std":   "a:" + base64.RawStdEncoding.EncodeToString(raw),
		"url":       "a:" + base64.URLEncoding.EncodeToString(raw),
		"spaces":    "  a : " + base64.StdEncoding.EncodeToString(raw) + " ,  ",
		"two":       "b:" + newKey() + ",a:" + newKey(),
		"file form": "# current first\nb:" + newKey() + "\n\n# retiring\na:" + newKey() + "\n",
	} {
		if _, err := seal.ParseRing(spec); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	secret := base64.StdEncoding.EncodeToString(raw[:16])
	for name, c := range map[string]struct{ spec, want string }{
		"empty":        {"", "no key-encryption key"},
		"only comment": {"# nothing", "no key-encryption key"},
		"no id":        {secret, "want id:base64key"},
		"short key":    {"a:" + secret, "16 bytes after base64 decoding, want 32"},
		"long key":     {"a:" + base64.StdEncoding.EncodeToString(append(raw, raw...)), "64 bytes"},
		"not base64":   {"a:" + secret + "!!", "not base64"},
		"bad id":       {"a b:" + newKey(), "id must be"},
		"duplicate id": {"a:" + newKey() + ",a:" + newKey(), "appears twice"},
	} {
		_, err := seal.ParseRing(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows the key: %v", name, err)
		}
	}
}

func TestRingFromEnv(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(file, []byte("fromfile:"+newKey()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	r, err := seal.RingFromEnv(env(map[string]string{"KEK_FILE": file}))
	if err != nil || r.Current() != "fromfile" {
		t.Errorf("KEK_FILE: %v", err)
	}
	r, err = seal.RingFromEnv(env(map[string]string{"KEK": "inline:" + newKey() + ",older:" + newKey()}))
	if err != nil || r.Current() != "inline" || !r.Has("older") || len(r.IDs()) != 2 {
		t.Errorf("KEK: %v", err)
	}
	if _, err := seal.RingFromEnv(env(nil)); !errors.Is(err, seal.ErrNoKEK) {
		t.Errorf("neither: %v, want ErrNoKEK", err)
	}
	if _, err := seal.RingFromEnv(env(map[string]string{"KEK_FILE": file, "KEK": "x:" + newKey()})); err == nil {
		t.Error("both set: no error")
	}
	if _, err := seal.RingFromEnv(env(map[string]string{"KEK_FILE": file + ".missing"})); err == nil {
		t.Error("missing file: no error")
	}
}

func TestNewDayKeyDate(t *testing.T) {
	t.Parallel()
	for _, d := range []string{"", "2026-5-7", "07/05/2026", "2026-02-30", "2026-05-07T00:00:00Z"} {
		if _, err := seal.NewDayKey(d); err == nil {
			t.Errorf("NewDayKey(%q): no error", d)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	k := mustDayKey(b, "2026-05-07")
	aad := seal.OrderAAD("0b4c7a2e-6a43-4d8e-9d43-3f1c6b2a9e01", "BK-7Q4M-2XPD")
	b.SetBytes(int64(len(personal)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := k.Seal(personal, aad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k := mustDayKey(b, "2026-05-07")
	aad := seal.OrderAAD("0b4c7a2e-6a43-4d8e-9d43-3f1c6b2a9e01", "BK-7Q4M-2XPD")
	s, _ := k.Seal(personal, aad)
	enc, _ := s.MarshalBinary()
	b.SetBytes(int64(len(personal)))
	b.ReportAllocs()
	for b.Loop() {
		var v seal.Sealed
		if err := v.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
		if _, err := k.Open(v, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrap(b *testing.B) {
	ring := mustRing(b, "k:"+newKey())
	w, _ := ring.Wrap(mustDayKey(b, "2026-05-07"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ring.Unwrap("2026-05-07", w); err != nil {
			b.Fatal(err)
		}
	}
}

// binaryCases are encodings, good and malformed, that ParseBinary and
// UnmarshalBinary must judge alike.
func binaryCases(t testing.TB) map[string][]byte {
	k := mustDayKey(t, "2026-05-07")
	s, _ := k.Seal(personal, seal.OrderAAD("order-1", "BK-AAAA-AAAA"))
	good, _ := s.MarshalBinary()
	header := append([]byte{1, 10}, "2026-05-07"...)
	with := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return map[string][]byte{
		"good":                  good,
		"empty":                 {},
		"version only":          {1},
		"wrong version":         append([]byte{9}, good[1:]...),
		"truncated":             good[:20],
		"no ciphertext":         with(header, make([]byte, 12)),
		"ciphertext under tag":  with(header, make([]byte, 12+15)),
		"only a tag":            with(header, make([]byte, 12+16)),
		"bad key id":            append([]byte{1, 10}, []byte("2026-13-45xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")...),
		"key id not a date":     with([]byte{1, 10}, []byte("Quiggle-wo"), make([]byte, 40)),
		"key id 31 February":    with([]byte{1, 10}, []byte("2026-02-31"), make([]byte, 40)),
		"empty key id":          with([]byte{1, 0}, make([]byte, 40)),
		"long key id":           with([]byte{1, 11}, []byte("2026-05-07x"), make([]byte, 40)),
		"key id length too big": with([]byte{1, 255}, []byte("2026-05-07"), make([]byte, 40)),
	}
}

func TestParseBinaryAsUnmarshalBinary(t *testing.T) {
	t.Parallel()
	for name, b := range binaryCases(t) {
		var s seal.Sealed
		want := s.UnmarshalBinary(b)
		_, got := seal.ParseBinary(b)
		if (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
			t.Errorf("%s: ParseBinary: %v, UnmarshalBinary: %v", name, got, want)
		}
		if got != nil && !errors.Is(got, seal.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, got)
		}
	}
}

func FuzzParseBinaryAsUnmarshalBinary(f *testing.F) {
	for _, b := range binaryCases(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s seal.Sealed
		want := s.UnmarshalBinary(b)
		v, got := seal.ParseBinary(b)
		if (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
			t.Fatalf("ParseBinary: %v, UnmarshalBinary: %v", got, want)
		}
		if got == nil && !v.HasKeyID(s.KeyID) {
			t.Fatalf("key id differs")
		}
	})
}

func TestOpenBytesAsOpen(t *testing.T) { // not parallel: AllocsPerRun
	k := mustDayKey(t, "2026-05-07")
	aad := seal.OrderAAD("order-1", "BK-AAAA-AAAA")
	s, _ := k.Seal(personal, aad)
	good, _ := s.MarshalBinary()
	v, err := seal.ParseBinary(good)
	if err != nil {
		t.Fatal(err)
	}
	if !v.HasKeyID("2026-05-07") || v.HasKeyID("2026-05-08") {
		t.Error("HasKeyID")
	}
	var buf seal.OpenBuffer
	for range 3 { // the buffer is reused
		pt, err := k.OpenBytes(&buf, v, seal.AppendOrderAAD([]byte("junk"), "order-1", "BK-AAAA-AAAA")[4:])
		if err != nil || !bytes.Equal(pt, personal) {
			t.Fatalf("OpenBytes = %q, %v", pt, err)
		}
		clear(pt)
	}
	if bytes.Contains(good, []byte("Quiggleworth")) {
		t.Fatal("OpenBytes decrypted in place")
	}
	if n := testing.AllocsPerRun(100, func() {
		v, _ := seal.ParseBinary(good)
		if _, err := k.OpenBytes(&buf, v, aad); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ParseBinary and OpenBytes allocate %v times, want 0", n)
	}

	// Every way Open fails, OpenBytes fails alike.
	flip := func(i int) []byte {
		c := append([]byte(nil), good...)
		c[i] ^= 1
		return c
	}
	monday := mustDayKey(t, "2026-05-04")
	mondays, _ := monday.Seal(personal, aad)
	mondayBytes, _ := mondays.MarshalBinary()
	relabelled := append([]byte(nil), mondayBytes...)
	copy(relabelled[2:], "2026-05-07")
	for name, c := range map[string]struct {
		b    []byte
		aad  []byte
		want error
	}{
		"ciphertext bit":  {flip(2 + 10 + 12 + 3), aad, seal.ErrTampered},
		"tag bit":         {flip(len(good) - 1), aad, seal.ErrTampered},
		"nonce bit":       {flip(2 + 10), aad, seal.ErrTampered},
		"truncated":       {good[:len(good)-1], aad, seal.ErrTampered},
		"other order id":  {good, seal.OrderAAD("order-2", "BK-AAAA-AAAA"), seal.ErrTampered},
		"other reference": {good, seal.OrderAAD("order-1", "BK-BBBB-BBBB"), seal.ErrTampered},
		"no aad":          {good, nil, seal.ErrTampered},
		"another day":     {mondayBytes, aad, seal.ErrWrongDayKey},
		"relabelled day":  {relabelled, aad, seal.ErrTampered},
	} {
		var s seal.Sealed
		if err := s.UnmarshalBinary(c.b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, want := k.Open(s, c.aad)
		v, err := seal.ParseBinary(c.b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pt, err := k.OpenBytes(&buf, v, c.aad)
		if !errors.Is(err, c.want) || !errors.Is(want, c.want) || err.Error() != want.Error() {
			t.Errorf("%s: OpenBytes: %v, Open: %v, want %v", name, err, want, c.want)
		}
		if pt != nil {
			t.Errorf("%s: returned plaintext", name)
		}
	}
	if _, err := k.OpenBytes(&buf, seal.SealedBytes{}, aad); !errors.Is(err, seal.ErrMalformed) {
		t.Errorf("zero SealedBytes: %v, want ErrMalformed", err)
	}
}

func BenchmarkOpenBytes(b *testing.B) {
	k := mustDayKey(b, "2026-05-07")
	aad := seal.OrderAAD("0b4c7a2e-6a43-4d8e-9d43-3f1c6b2a9e01", "BK-7Q4M-2XPD")
	s, _ := k.Seal(personal, aad)
	enc, _ := s.MarshalBinary()
	var buf seal.OpenBuffer
	b.SetBytes(int64(len(personal)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := seal.ParseBinary(enc)
		if err != nil {
			b.Fatal(err)
		}
		pt, err := k.OpenBytes(&buf, v, aad)
		if err != nil {
			b.Fatal(err)
		}
		clear(pt)
	}
}

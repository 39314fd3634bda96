package openpgp_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"booklets/pkg/adapter/openpgp"
)

var now = time.Date(2026, 5, 7, 23, 5, 0, 0, time.UTC)

func clock() time.Time { return now }

const csv = "reference,name,address,postcode,formats\nBK-7Q4M-2XPD,Zebedee Quiggleworth,17 Marigold Terrace,NR21 0AB,print\n"

// partnerKey makes a key pair like the partner's (Ed25519 signing key with
// a Curve25519 encryption subkey), returning the private entity and the
// armored public key.
func partnerKey(t testing.TB, cfg *packet.Config) (*pgp.Entity, []byte) {
	t.Helper()
	if cfg == nil {
		cfg = &packet.Config{Time: clock}
	}
	cfg.Algorithm = packet.PubKeyAlgoEdDSA
	e, err := pgp.NewEntity("Print Partner", "", "pgp@partner.example", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, armoredPublic(t, e)
}

func armoredPublic(t testing.TB, e *pgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, pgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

func encrypt(t testing.TB, r *openpgp.Recipient, plain string) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := r.Encrypt(&out, "batch-20260507.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// decrypt reads a message with go-crypto, checking its integrity.
func decrypt(priv *pgp.Entity, msg io.Reader, into io.Writer) (*pgp.MessageDetails, error) {
	md, err := pgp.ReadMessage(msg, pgp.EntityList{priv}, nil, &packet.Config{Time: clock})
	if err != nil {
		return nil, err
	}
	// The integrity check (MDC) is verified when the body has been read to
	// the end: an error here means the file was changed.
	if _, err := io.Copy(into, md.UnverifiedBody); err != nil {
		return nil, err
	}
	return md, nil
}

func TestRoundTripGoCrypto(t *testing.T) {
	t.Parallel()
	priv, pub := partnerKey(t, nil)
	path := filepath.Join(t.TempDir(), "partner.asc")
	if err := os.WriteFile(path, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := openpgp.LoadRecipient(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ToUpper(fmt.Sprintf("%x", priv.PrimaryKey.Fingerprint)); r.Fingerprint() != want || len(want) != 40 {
		t.Errorf("fingerprint %s, want %s", r.Fingerprint(), want)
	}
	msg := encrypt(t, r, csv)
	if bytes.Contains(msg, []byte("Quiggleworth")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	if bytes.HasPrefix(msg, []byte("-----BEGIN")) {
		t.Error("output is armored, want binary")
	}

	var got bytes.Buffer
	md, err := decrypt(priv, bytes.NewReader(msg), &got)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != csv {
		t.Errorf("decrypted %q", got.String())
	}
	if !md.IsEncrypted || md.LiteralData.FileName != "batch-20260507.csv" {
		t.Errorf("message details: encrypted %v, file name %q", md.IsEncrypted, md.LiteralData.FileName)
	}
}

func TestTamperedFileIsRefused(t *testing.T) {
	t.Parallel()
	priv, pub := partnerKey(t, nil)
	r, err := openpgp.ReadRecipient(bytes.NewReader(pub), clock)
	if err != nil {
		t.Fatal(err)
	}
	msg := encrypt(t, r, strings.Repeat(csv, 100))
	msg[len(msg)-40] ^= 1
	if _, err := decrypt(priv, bytes.NewReader(msg), io.Discard); err == nil {
		t.Fatal("a changed file decrypted without error")
	}
}

func TestRefusedKeys(t *testing.T) {
	t.Parallel()
	priv, pub := partnerKey(t, nil)

	var secret bytes.Buffer
	w, _ := armor.Encode(&secret, pgp.PrivateKeyType, nil)
	if err := priv.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()

	_, other := partnerKey(t, nil)
	_, other2 := partnerKey(t, nil)
	_, expired := partnerKey(t, &packet.Config{Time: func() time.Time { return now.AddDate(-2, 0, 0) }, KeyLifetimeSecs: 86400})

	for name, c := range map[string]struct {
		key  []byte
		want string
	}{
		"private key":  {secret.Bytes(), "private key"},
		"three keys":   {bytes.Join([][]byte{pub, other, other2}, []byte("\n")), "found 3"},
		"not a key":    {[]byte("hello"), "read armored public key"},
		"expired":      {expired, "cannot encrypt"},
		"empty":        {nil, "read armored public key"},
		"binary, bare": {[]byte{0x99, 0x00}, "read armored public key"},
	} {
		_, err := openpgp.ReadRecipient(bytes.NewReader(c.key), clock)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}

	// A key that expires after loading stops the next batch.
	_, soon := partnerKey(t, &packet.Config{Time: clock, KeyLifetimeSecs: 3600})
	later := now
	r, err := openpgp.ReadRecipient(bytes.NewReader(soon), func() time.Time { return later })
	if err != nil {
		t.Fatal(err)
	}
	later = now.Add(2 * time.Hour)
	if _, err := r.Encrypt(io.Discard, "x.csv"); !errors.Is(err, openpgp.ErrNoEncryptionKey) || !errors.Is(err, openpgp.ErrKeyExpired) {
		t.Errorf("encrypt to an expired key: %v, want ErrNoEncryptionKey and ErrKeyExpired", err)
	}
}

// TestGnuPGDecrypts proves the partner's own tool reads our files: the
// partner makes its key with gpg, sends the armored public key, and
// decrypts with gpg.
func TestGnuPGDecrypts(t *testing.T) {
	t.Parallel()
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		t.Skip("gpg is not installed (apt-get install gnupg)")
	}
	home := t.TempDir()
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	run := func(stdin io.Reader, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--batch", "--no-tty", "--quiet"}, args...)...)
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		cmd.Stdin = stdin
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = cmd.Run() // the agent exits on its own when the folder goes
	})

	// The partner's side: a key without passphrase for the test.
	run(nil, "--passphrase", "", "--quick-generate-key", "Print Partner <pgp@partner.example>", "future-default", "default", "never")
	pub := run(nil, "--armor", "--export", "pgp@partner.example")

	// Ours: encrypt to the exported key.
	r, err := openpgp.ReadRecipient(bytes.NewReader(pub), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	fpr := run(nil, "--with-colons", "--fingerprint", "pgp@partner.example")
	if !bytes.Contains(fpr, []byte("fpr:::::::::"+r.Fingerprint()+":")) {
		t.Errorf("fingerprint %s not in gpg's listing:\n%s", r.Fingerprint(), fpr)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "batch-20260507.csv.gpg")
	plain := strings.Repeat(csv, 1000)
	if err := os.WriteFile(file, encrypt(t, r, plain), 0o600); err != nil {
		t.Fatal(err)
	}

	// The partner's side again: decrypt to a file, as docs/partner-interface.md says.
	out := filepath.Join(dir, "batch-20260507.csv")
	run(nil, "--pinentry-mode", "loopback", "--passphrase", "", "--output", out, "--decrypt", file)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != plain {
		t.Fatalf("gpg decrypted %d bytes, want %d", len(got), len(plain))
	}

	// gpg refuses a changed file.
	b, _ := os.ReadFile(file)
	b[len(b)-30] ^= 1
	cmd := exec.Command(gpg, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "", "--decrypt")
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	cmd.Stdin = bytes.NewReader(b)
	if err := cmd.Run(); err == nil {
		t.Error("gpg decrypted a changed file without error")
	}
}

// TestMemoryStaysFlat streams a 1,000,000-row batch through encryption and,
// concurrently, decryption, and checks that the heap never grows by more
// than a small fraction of the file's size: nothing buffers the file.
func TestMemoryStaysFlat(t *testing.T) {
	priv, pub := partnerKey(t, nil)
	r, err := openpgp.ReadRecipient(bytes.NewReader(pub), clock)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	done := make(chan result)
	go func() {
		h := sha256.New()
		cw := &counter{w: h}
		_, err := decrypt(priv, pr, cw)
		pr.CloseWithError(err)
		var res result
		copy(res.sum[:], h.Sum(nil))
		res.n, res.err = cw.n, err
		done <- res
	}()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse

	w, err := r.Encrypt(pw, "batch.csv")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	both := io.MultiWriter(w, h)
	var written int64
	for i := range 1_000_000 {
		n, err := fmt.Fprintf(both, "BK-%04X-%04X,Zebedee Quiggleworth %d,Flat %d 17 Marigold Terrace,Little Snoring,NR21 0AB,print;audio\n", i>>16, i&0xffff, i, i%97)
		if err != nil {
			t.Fatal(err)
		}
		written += int64(n)
		if i%100_000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.n != written || !bytes.Equal(res.sum[:], h.Sum(nil)) {
		t.Fatalf("decrypted %d bytes, wrote %d (hash match %v)", res.n, written, bytes.Equal(res.sum[:], h.Sum(nil)))
	}
	growth := int64(peak) - int64(base)
	t.Logf("%d MB through, heap grew by at most %d KB", written>>20, growth>>10)
	if written < 90<<20 {
		t.Fatalf("only %d bytes written", written)
	}
	if growth > 32<<20 {
		t.Errorf("heap grew by %d MB for a %d MB file: the file is being buffered", growth>>20, written>>20)
	}
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func BenchmarkEncrypt(b *testing.B) {
	_, pub := partnerKey(b, nil)
	r, err := openpgp.ReadRecipient(bytes.NewReader(pub), clock)
	if err != nil {
		b.Fatal(err)
	}
	row := []byte("BK-7Q4M-2XPD,Zebedee Quiggleworth,Flat 3 17 Marigold Terrace,Little Snoring,NR21 0AB,print;audio\n")
	const rows = 100_000
	b.SetBytes(int64(len(row) * rows))
	b.ReportAllocs()
	for b.Loop() {
		w, err := r.Encrypt(io.Discard, "batch.csv")
		if err != nil {
			b.Fatal(err)
		}
		for range rows {
			w.Write(row)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

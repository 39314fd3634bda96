package openpgp_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/testkit/gnupg"
)

// The partner's keys as GnuPG makes them: an expired key, a revoked key, a
// key with an expiry date, and two keys pinned during a rotation.

// gpgExpiry is when gpg says the key stops encrypting: the earlier of
// the expiry it lists for the primary key and for the encryption subkey
// (--with-colons, field 7 of the "pub" and "sub" lines).
func gpgExpiry(t *testing.T, h *gnupg.Home) time.Time {
	t.Helper()
	var exp time.Time
	for _, line := range strings.Split(string(h.Run(nil, "--with-colons", "--list-keys", h.Email)), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 12 || f[6] == "" || !(f[0] == "pub" || f[0] == "sub" && strings.Contains(f[11], "e")) {
			continue
		}
		secs, err := strconv.ParseInt(f[6], 10, 64)
		if err != nil {
			t.Fatalf("gpg's expiry in %q: %v", line, err)
		}
		if e := time.Unix(secs, 0); exp.IsZero() || e.Before(exp) {
			exp = e
		}
	}
	if exp.IsZero() {
		t.Fatal("gpg lists no expiry")
	}
	return exp
}

func TestExpiredGnuPGKeyIsNamed(t *testing.T) {
	t.Parallel()
	// Made two years ago, valid for one: expired a year ago.
	h := gnupg.NewEncryptionKey(t, "expired@partner.example", "1y", time.Now().AddDate(-2, 0, 0))
	_, err := openpgp.ReadRecipient(bytes.NewReader(h.PublicKey()), time.Now)
	if !errors.Is(err, openpgp.ErrKeyExpired) || !errors.Is(err, openpgp.ErrNoEncryptionKey) {
		t.Fatalf("load an expired key: %v, want ErrKeyExpired", err)
	}
	t.Log(err)
	exp := gpgExpiry(t, h).UTC().Format("2006-01-02 15:04 UTC")
	for _, want := range []string{"expired on " + exp, h.Fingerprint()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "revoked") {
		t.Errorf("error %q says revoked", err)
	}
}

func TestRevokedGnuPGKeyIsNamed(t *testing.T) {
	t.Parallel()
	h := gnupg.NewEncryptionKey(t, "revoked@partner.example", "never", time.Time{})
	h.Revoke()
	_, err := openpgp.ReadRecipient(bytes.NewReader(h.PublicKey()), time.Now)
	if !errors.Is(err, openpgp.ErrKeyRevoked) || !errors.Is(err, openpgp.ErrNoEncryptionKey) {
		t.Fatalf("load a revoked key: %v, want ErrKeyRevoked", err)
	}
	t.Log(err)
	today := time.Now().UTC().Format("2006-01-02")
	for _, want := range []string{"revoked on " + today, h.Fingerprint()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestKeyExpiryAndSendTime: the expiry shown is gpg's, and a key that
// expires after the batcher started stops the send with "expired".
func TestKeyExpiryAndSendTime(t *testing.T) {
	t.Parallel()
	h := gnupg.NewEncryptionKey(t, "expiring@partner.example", "1y", time.Time{})
	clockNow := time.Now()
	r, err := openpgp.ReadRecipient(bytes.NewReader(h.PublicKey()), func() time.Time { return clockNow })
	if err != nil {
		t.Fatal(err)
	}
	keys := r.Keys()
	want := gpgExpiry(t, h)
	if len(keys) != 1 || !keys[0].Usable || !keys[0].Expires.Equal(want) || keys[0].Fingerprint != h.Fingerprint() {
		t.Fatalf("Keys() = %+v, want one usable key %s expiring %s", keys, h.Fingerprint(), want)
	}
	if got := string(h.Decrypt(encrypt(t, r, csv))); got != csv {
		t.Fatalf("gpg decrypted %q", got)
	}

	clockNow = want.Add(time.Minute)
	_, err = r.Encrypt(&bytes.Buffer{}, "x.csv")
	if !errors.Is(err, openpgp.ErrKeyExpired) || !strings.Contains(err.Error(), h.Fingerprint()) {
		t.Fatalf("encrypt after expiry: %v, want ErrKeyExpired naming the key", err)
	}
	if k := r.Keys()[0]; k.Usable || !strings.HasPrefix(k.Problem, "expired on ") {
		t.Errorf("Keys() after expiry = %+v", k)
	}
}

// TestRotationTwoKeys: during a rotation the file holds the current key and
// the next; files are encrypted to both while both are valid (either
// private key reads them), and to the one left when the other expires.
func TestRotationTwoKeys(t *testing.T) {
	t.Parallel()
	old := gnupg.NewEncryptionKey(t, "old@partner.example", "2y", time.Time{})
	next := gnupg.NewEncryptionKey(t, "next@partner.example", "never", time.Time{})
	oldExp := gpgExpiry(t, old)

	for name, file := range map[string][]byte{
		"two blocks": append(append(old.PublicKey(), '\n'), next.PublicKey()...),
		"one block":  exportBoth(t, old, next),
	} {
		clockNow := time.Now()
		r, err := openpgp.ReadRecipient(bytes.NewReader(file), func() time.Time { return clockNow })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := r.Fingerprints(); len(got) != 2 || got[0] != old.Fingerprint() || got[1] != next.Fingerprint() {
			t.Errorf("%s: Fingerprints() = %v, want old then next", name, got)
		}
		msg := encrypt(t, r, csv)
		for _, h := range []*gnupg.Home{old, next} {
			if got := string(h.Decrypt(msg)); got != csv {
				t.Errorf("%s: %s decrypted %q", name, h.Email, got)
			}
		}

		// The old key expires: the next one alone is used.
		clockNow = oldExp.Add(time.Hour)
		if got := r.Fingerprints(); len(got) != 1 || got[0] != next.Fingerprint() || r.Fingerprint() != next.Fingerprint() {
			t.Errorf("%s: after the old key expired, Fingerprints() = %v", name, got)
		}
		msg = encrypt(t, r, csv)
		if got := string(next.Decrypt(msg)); got != csv {
			t.Errorf("%s: the next key decrypted %q", name, got)
		}
		if ks := r.Keys(); len(ks) != 2 || ks[0].Usable || !strings.HasPrefix(ks[0].Problem, "expired on") || !ks[1].Usable {
			t.Errorf("%s: Keys() = %+v", name, ks)
		}
	}
}

// exportBoth is the file `gpg --armor --export OLD NEW` writes: one block
// with both keys (the partner's keys are imported into old's home first).
func exportBoth(t *testing.T, old, next *gnupg.Home) []byte {
	t.Helper()
	old.Run(next.PublicKey(), "--batch", "--import")
	return old.Run(nil, "--armor", "--export", old.Fingerprint(), next.Fingerprint())
}

func TestThreeKeysRefused(t *testing.T) {
	t.Parallel()
	_, a := partnerKey(t, nil)
	_, b := partnerKey(t, nil)
	_, c := partnerKey(t, nil)
	file := bytes.Join([][]byte{a, b, c}, []byte("\n"))
	if _, err := openpgp.ReadRecipient(bytes.NewReader(file), clock); err == nil || !strings.Contains(err.Error(), "found 3") {
		t.Errorf("three keys: %v, want refused", err)
	}
	if _, err := openpgp.ReadRecipient(bytes.NewReader(bytes.Join([][]byte{a, a}, []byte("\n"))), clock); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("one key twice: %v, want refused", err)
	}
}

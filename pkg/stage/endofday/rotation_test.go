package endofday_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/gnupg"
	"booklets/pkg/testkit/testenv"
)

// During a rotation of the partner's key (two keys pinned, made by gpg)
// the batch is encrypted to both: each of the partner's private keys
// decrypts it, and the manifest names both, the current one first.
func TestBatchEncryptedToBothKeysDuringRotation(t *testing.T) {
	t.Parallel()
	current := gnupg.NewEncryptionKey(t, "current@partner.example", "1y", time.Time{})
	next := gnupg.NewEncryptionKey(t, "next@partner.example", "2y", time.Time{})
	rec, err := openpgp.ReadRecipient(bytes.NewReader(append(append(current.PublicKey(), '\n'), next.PublicKey()...)), time.Now)
	testenv.Must(t, err)
	e := newEnv(t)
	e.save(newOrder(at("2026-11-25 10:00:00"), person("Rhodri Rotation")))
	res, err := e.pgpSender(rec).SendBatch(context.Background(), date("2026-11-25"))
	testenv.Must(t, err)
	enc, err := os.ReadFile(e.Server.Path("outbox", res.Batch.DataFile))
	testenv.Must(t, err)
	for _, h := range []*gnupg.Home{current, next} {
		if plain := h.Decrypt(enc); !bytes.Contains(plain, []byte("Rhodri Rotation")) {
			t.Errorf("%s's key decrypted %q", h.Email, plain)
		}
	}
	_, m := manifestAtPartner(t, e, res.Batch.ManifestFile)
	if m.RecipientFingerprint != current.Fingerprint() || !slices.Equal(m.RecipientFingerprints, []string{current.Fingerprint(), next.Fingerprint()}) {
		t.Errorf("manifest names %s and %q; want %s, then both", m.RecipientFingerprint, m.RecipientFingerprints, current.Fingerprint())
	}
}

// manifestAtPartner reads a manifest at the partner.
func manifestAtPartner(t *testing.T, e *env, name string) ([]byte, batchfile.Manifest) {
	t.Helper()
	raw, err := os.ReadFile(e.Server.Path("outbox", name))
	testenv.Must(t, err)
	m, err := batchfile.ParseManifest(raw)
	testenv.Must(t, err)
	return raw, m
}

// A key that expired while the batcher ran stops the send at once, before
// anything is connected to: the error says the key expired, which key and
// when, and names the setting; it is not retried, nothing reaches the
// partner and the personal data is kept.
func TestExpiredKeyStopsTheSendAtOnce(t *testing.T) {
	t.Parallel()
	h := gnupg.NewEncryptionKey(t, "expiring@partner.example", "1y", time.Time{})
	clockNow := time.Now()
	rec, err := openpgp.ReadRecipient(bytes.NewReader(h.PublicKey()), func() time.Time { return clockNow })
	testenv.Must(t, err)
	clockNow = clockNow.AddDate(1, 0, 2) // past the expiry
	e := newEnv(t)
	e.save(newOrder(at("2026-11-25 10:00:00"), person("Ada")))
	sleeps := 0
	_, err = e.pgpSender(rec, endofday.WithRetries(3, time.Millisecond),
		endofday.WithSleep(func(context.Context, time.Duration) error { sleeps++; return nil })).SendBatch(context.Background(), date("2026-11-25"))
	if !errors.Is(err, endofday.ErrPartnerKey) || !errors.Is(err, openpgp.ErrKeyExpired) {
		t.Fatalf("send to an expired key: %v, want ErrPartnerKey and ErrKeyExpired", err)
	}
	for _, want := range []string{"expired on ", h.Fingerprint(), "PARTNER_PGP_KEY_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if sleeps != 0 {
		t.Errorf("retried %d times", sleeps)
	}
	if files := e.files(); len(files) != 0 {
		t.Errorf("files at the partner: %q", files)
	}
	if n := e.Count(`SELECT count(*) FROM order_personal`); n != 1 {
		t.Errorf("%d personal parts held, want 1", n)
	}
}

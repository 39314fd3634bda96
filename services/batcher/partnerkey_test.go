package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/testkit/gnupg"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// The partner's keys as gpg makes them, on the batcher's metrics: the
// current key expiring in a year and, left in the file after a rotation,
// an expired one.
func TestPartnerKeyMetrics(t *testing.T) {
	t.Parallel()
	current := gnupg.NewEncryptionKey(t, "current@partner.example", "1y", time.Time{})
	old := gnupg.NewEncryptionKey(t, "old@partner.example", "1y", time.Now().AddDate(-2, 0, 0))
	rec, err := openpgp.ReadRecipient(bytes.NewReader(append(append(old.PublicKey(), '\n'), current.PublicKey()...)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	if err := m.WatchPartnerKeys(rec.Keys); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{} // metric/fingerprint -> value
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "booklets_partner_key_") {
			continue
		}
		for _, s := range f.GetMetric() {
			got[f.GetName()+"/"+s.GetLabel()[0].GetValue()] = s.GetGauge().GetValue()
		}
	}
	now := float64(time.Now().Unix())
	curExp := got["booklets_partner_key_expiry_timestamp_seconds/"+current.Fingerprint()]
	oldExp := got["booklets_partner_key_expiry_timestamp_seconds/"+old.Fingerprint()]
	if curExp < now+364*86400 || curExp > now+367*86400 {
		t.Errorf("current key's expiry %v, want in a year", curExp)
	}
	if oldExp == 0 || oldExp > now-300*86400 {
		t.Errorf("old key's expiry %v, want about a year ago", oldExp)
	}
	if got["booklets_partner_key_usable/"+current.Fingerprint()] != 1 {
		t.Errorf("current key not usable: %v", got)
	}
	if v, ok := got["booklets_partner_key_usable/"+old.Fingerprint()]; !ok || v != 0 {
		t.Errorf("expired key usable=%v (present %v), want 0", v, ok)
	}
	if len(got) != 4 {
		t.Errorf("series %v, want 4", got)
	}

	// No registry (send-now): nothing registered, no error.
	if err := NewMetrics(nil).WatchPartnerKeys(rec.Keys); err != nil {
		t.Error(err)
	}
}

// An expired or revoked key stops the batcher at start with an error that
// says so, names the key and the date.
func TestServeRefusesExpiredOrRevokedKey(t *testing.T) {
	t.Parallel()
	expired := gnupg.NewEncryptionKey(t, "expired@partner.example", "1y", time.Now().AddDate(-2, 0, 0))
	revoked := gnupg.NewEncryptionKey(t, "revoked@partner.example", "never", time.Time{})
	revoked.Revoke()
	dbURL := testenv.Database(t)
	orders := testenv.Orders(t)
	srv := sftptest.Start(t)
	for name, c := range map[string]struct {
		home *gnupg.Home
		want string
	}{
		"expired": {expired, "expired on "},
		"revoked": {revoked, "revoked on " + time.Now().UTC().Format("2006-01-02")},
	} {
		file := filepath.Join(t.TempDir(), "partner.asc")
		if err := os.WriteFile(file, c.home.PublicKey(), 0o600); err != nil {
			t.Fatal(err)
		}
		env := serviceEnv(dbURL, orders, srv, map[string]string{"KEK": testKEK("k1"), openpgp.EnvKeyFile: file})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := run(ctx, nil, func(k string) string { return env[k] }, nil, &testenv.Buffer{})
		cancel()
		if err == nil {
			t.Fatalf("%s: the batcher started with an unusable key", name)
		}
		for _, want := range []string{openpgp.EnvKeyFile, c.want, c.home.Fingerprint()} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", name, err, want)
			}
		}
	}
}

package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/testkit/gnupg"
	"booklets/pkg/testkit/testenv"
)

// The reconciler reads the batcher's PARTNER_PGP_KEY_FILE and shows the
// keys on the auditors' page: here, during a rotation, a key made by gpg
// that is in use and one the partner revoked. An unreadable file stops it
// at start.
func TestAuditorsPageShowsPartnerKeys(t *testing.T) {
	t.Parallel()
	current := gnupg.NewEncryptionKey(t, "current@partner.example", "1y", time.Time{})
	revoked := gnupg.NewEncryptionKey(t, "revoked@partner.example", "never", time.Time{})
	revoked.Revoke()
	file := filepath.Join(t.TempDir(), "partner.asc")
	testenv.Must(t, os.WriteFile(file, append(append(current.PublicKey(), '\n'), revoked.PublicKey()...), 0o600))

	e := newEnv(t)
	const tok = "partner-keys-page-token-0123456789abcdef"
	e.vars["AUDIT_TOKEN"] = tok
	e.vars["LOG_LEVEL"] = "info" // the daemon helper reads its address from the log
	e.vars[openpgp.EnvKeyFile] = file
	cfg, err := readConfig(e.getenv)
	testenv.Must(t, err)
	addr, _ := e.daemon(cfg)
	req, err := http.NewRequest("GET", "http://"+addr+"/audit", nil)
	testenv.Must(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	testenv.Must(t, err)
	body := string(b)
	// gpg's "1y" is 365 days: a year from today, or a day less across 29 February.
	expires := time.Now().Add(365 * 24 * time.Hour).UTC().Format("2006-01-02")
	for _, want := range []string{
		`data-fingerprint="` + current.Fingerprint() + `"`,
		`data-expires="` + expires + `"`,
		`data-key-status="in-use"`,
		`data-fingerprint="` + revoked.Fingerprint() + `"`,
		`data-key-status="unusable"><strong class="govuk-tag govuk-tag--red">Not used</strong> revoked on ` + time.Now().UTC().Format("2006-01-02"),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}

	e.vars[openpgp.EnvKeyFile] = filepath.Join(t.TempDir(), "missing.asc")
	if _, err := readConfig(e.getenv); err == nil || !strings.Contains(err.Error(), openpgp.EnvKeyFile) {
		t.Errorf("a missing key file: %v, want an error naming %s", err, openpgp.EnvKeyFile)
	}
}

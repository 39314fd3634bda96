package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/domain/workdays"
	"booklets/pkg/stage/audit"
	"booklets/pkg/testkit/gnupg"
	"booklets/pkg/testkit/testenv"
)

// receiptEnv is newEnv with the partner's signing key pinned and no
// transition setting: the reconciler as it runs in production.
func receiptEnv(t *testing.T, partner *gnupg.Home) *env {
	e := newEnv(t)
	delete(e.vars, "ACCEPT_UNSIGNED_CONFIRMATIONS")
	e.vars["PARTNER_SIGNING_KEY_FILE"] = partner.WritePublicKey(t.TempDir())
	e.vars["CONFIRMATION_SIGNATURE_GRACE"] = "0s"
	return e
}

// confFile writes a confirmation as the partner would and returns its path.
func (e *env) confFile(id string, count int, sha string, deleted time.Time) string {
	e.t.Helper()
	name := "deletion_" + id + ".json"
	e.confirm(name, conf(id, count, sha, deleted))
	return e.srv.Path("confirmations", name)
}

func (e *env) checkNow() map[string]any {
	e.t.Helper()
	var s map[string]any
	testenv.Must(e.t, json.Unmarshal([]byte(e.run("check-now")), &s))
	return s
}

// outcome is what was recorded about a batch's confirmation: accepted, the
// reason, and the audit entry's details.
func (e *env) outcome(id string) (accepted bool, reason string, details map[string]any) {
	e.t.Helper()
	ctx := context.Background()
	testenv.Must(e.t, e.db.QueryRow(ctx, `SELECT accepted, reason FROM confirmations WHERE batch_id = $1
		ORDER BY confirmation_id DESC LIMIT 1`, id).Scan(&accepted, &reason))
	testenv.Must(e.t, e.db.QueryRow(ctx, `SELECT details FROM audit_log WHERE batch_id = $1
		AND kind IN ('confirmation_accepted', 'confirmation_rejected') ORDER BY seq DESC LIMIT 1`, id).Scan(&details))
	return accepted, reason, details
}

func sha256File(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	testenv.Must(t, err)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// End to end over the real SFTP server, the signatures made by the real
// gpg as the partner makes them: a signed confirmation is accepted and its
// signature kept, so that an auditor re-checks it with gpg from what
// `reconciler audit receipt` gives; a missing, a bad and another key's
// signature are each rejected with their reason.
func TestSignedReceipts(t *testing.T) {
	t.Parallel()
	partner := gnupg.New(t, "dpo@partner.example")
	intruder := gnupg.New(t, "intruder@example.test")
	e := receiptEnv(t, partner)
	today, err := workdays.London(time.Now())
	testenv.Must(t, err)
	long := today.AddDate(0, 0, -120)
	deleted := time.Now().Add(-time.Hour)
	for i, id := range []string{"B-SIGNED", "B-NOSIG", "B-BADSIG", "B-OTHER"} {
		e.batch(id, long.AddDate(0, 0, i), 4, sum(byte('a'+i)))
	}
	p := e.confFile("B-SIGNED", 4, sum('a'), deleted)
	partner.SignFile(p)
	e.confFile("B-NOSIG", 4, sum('b'), deleted)
	p = e.confFile("B-BADSIG", 4, sum('c'), deleted)
	partner.SignFile(p)
	// Changed after signing (a byte added): the signature no longer matches.
	b, err := os.ReadFile(p)
	testenv.Must(t, err)
	testenv.Must(t, os.WriteFile(p, []byte(strings.Replace(string(b), `"record_count":4`, `"record_count":4 `, 1)), 0o644))
	p = e.confFile("B-OTHER", 4, sum('d'), deleted)
	intruder.SignFile(p)

	s := e.checkNow()
	if s["accepted"] != 1.0 || s["rejected"] != 3.0 || s["failed"] != 0.0 || s["unmatched"] != 0.0 {
		t.Fatalf("summary %v, want 1 accepted and 3 rejected", s)
	}
	acc, reason, d := e.outcome("B-SIGNED")
	fp := strings.ToUpper(strings.Fields(strings.Split(string(partner.Run(nil, "--with-colons", "--fingerprint", partner.Email)), "fpr:::::::::")[1])[0])
	fp = strings.TrimSuffix(fp, ":")
	if !acc || d["signer"] != fp || d["unsigned"] != nil {
		t.Errorf("signed confirmation: accepted %v (%s), details %v, want signer %s", acc, reason, d, fp)
	}
	if !exists(e.srv.Path("confirmations/processed/deletion_B-SIGNED.json.asc")) || !exists(e.srv.Path("confirmations/processed/deletion_B-SIGNED.json")) {
		t.Error("the accepted confirmation and its signature are not both in processed/")
	}
	for id, want := range map[string]string{
		"B-NOSIG":  "no signature: deletion_B-NOSIG.json.asc is missing",
		"B-BADSIG": "does not match the file",
		"B-OTHER":  "signed by another key",
	} {
		acc, reason, d := e.outcome(id)
		if acc || !strings.Contains(reason, want) || d["reason"] != reason {
			t.Errorf("%s: accepted %v, reason %q, audit details %v; want rejected for %q", id, acc, reason, d, want)
		}
	}
	rejected, _ := filepath.Glob(e.srv.Path("confirmations/rejected/deletion_B-OTHER.*.json.asc"))
	if len(rejected) != 1 {
		t.Errorf("the other key's signature did not go to rejected/ with its confirmation: %v", rejected)
	}
	if left, _ := os.ReadDir(e.srv.Path("confirmations")); len(left) != 2 { // processed/ and rejected/
		t.Errorf("files left in the folder: %v", left)
	}

	// The auditor's check: the evidence out of the database, its hashes
	// those of the audit entry, and gpg --verify with the partner's public
	// key in the auditor's own keyring.
	dir := t.TempDir()
	var out receiptOut
	testenv.Must(t, json.Unmarshal([]byte(e.run("audit", "receipt", "--batch", "B-SIGNED", "--dir", dir)), &out))
	_, _, d = e.outcome("B-SIGNED")
	if out.Signer != fp || out.Unsigned || sha256File(t, out.File) != d["file_sha256"] ||
		sha256File(t, out.SignatureFile) != d["signature_sha256"] || out.AuditSeq == 0 {
		t.Fatalf("receipt %+v does not match the audit entry %v", out, d)
	}
	auditor := gnupg.New(t, "auditor@example.test")
	auditor.Run(partner.PublicKey(), "--import")
	if ok, msg := auditor.VerifyFile(out.SignatureFile, out.File); !ok || !strings.Contains(msg, "Good signature") {
		t.Fatalf("gpg --verify of the kept receipt failed:\n%s", msg)
	}
	// The same evidence in the export an auditor downloads: the bytes
	// match the entry's hashes, and GnuPG verifies them.
	pub := e.withAuditKey()
	x, err := audit.ReadExport(strings.NewReader(e.run("audit", "export")))
	testenv.Must(t, err)
	r := audit.CheckExport(x, audit.LogCheck{PublicKey: pub})
	if r.Err() != nil || len(r.Receipts) != 1 || r.Receipts[0].BatchID != "B-SIGNED" || r.Receipts[0].Signature == nil {
		t.Fatalf("export: %v; receipts %d, want B-SIGNED's, signed", r.Err(), len(r.Receipts))
	}
	exported := filepath.Join(t.TempDir(), r.Receipts[0].File)
	testenv.Must(t, os.WriteFile(exported, r.Receipts[0].Confirmation, 0o644))
	testenv.Must(t, os.WriteFile(exported+".asc", r.Receipts[0].Signature, 0o644))
	if ok, msg := auditor.VerifyFile(exported+".asc", exported); !ok {
		t.Fatalf("gpg --verify of the exported receipt failed:\n%s", msg)
	}
	// A receipt changed in the export no longer matches the log.
	x.Receipts[0].Confirmation = append([]byte(" "), x.Receipts[0].Confirmation...)
	if r := audit.CheckExport(x, audit.LogCheck{PublicKey: pub}); len(r.Problems) != 1 || r.Problems[0].Kind != audit.ReceiptMismatch {
		t.Fatalf("a changed receipt: %v", r.Err())
	}
	if _, err := e.runErr("audit", "receipt", "--batch", "B-NOSIG", "--dir", dir); err == nil {
		t.Error("a receipt was written for a batch with no accepted confirmation")
	}
	if _, _, err := parseArgs([]string{"audit", "receipt", "--batch", "B-SIGNED"}); err == nil {
		t.Error("audit receipt without --dir was accepted")
	}
	// The evidence is append-only, for the owner too.
	if _, err := e.db.Exec(context.Background(), "UPDATE confirmation_signatures SET signer = NULL"); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("confirmation_signatures could be changed: %v", err)
	}

	// Rejected for its signature only, the same file is sent again: still
	// unsigned, it gets the same answer; signed by the partner, it is a
	// new submission and accepted (migrations/088).
	e.confFile("B-NOSIG", 4, sum('b'), deleted)
	if s := e.checkNow(); s["accepted"] != 0.0 || s["duplicates"] != 1.0 {
		t.Fatalf("the same unsigned file again: %v, want it answered as before", s)
	}
	partner.SignFile(e.confFile("B-NOSIG", 4, sum('b'), deleted))
	partner.SignFile(e.confFile("B-OTHER", 4, sum('d'), deleted))
	if s := e.checkNow(); s["accepted"] != 2.0 || s["rejected"] != 0.0 {
		t.Fatalf("the same files signed by the partner: %v, want both accepted", s)
	}
	for _, id := range []string{"B-NOSIG", "B-OTHER"} {
		if acc, reason, d := e.outcome(id); !acc || d["signer"] != fp {
			t.Errorf("%s signed again: accepted %v (%s), details %v", id, acc, reason, d)
		}
	}
}

// A confirmation waits for its signature during the grace, and the
// transition setting accepts an unsigned one, shown as such to auditors.
func TestUnsignedReceipts(t *testing.T) {
	t.Parallel()
	partner := gnupg.New(t, "dpo@partner.example")
	e := receiptEnv(t, partner)
	today, err := workdays.London(time.Now())
	testenv.Must(t, err)
	e.batch("B-UNSIGNED", today.AddDate(0, 0, -120), 4, sum('a'))
	e.batch("B-SIGNED", today.AddDate(0, 0, -119), 4, sum('b'))
	e.confFile("B-UNSIGNED", 4, sum('a'), time.Now().Add(-time.Hour))
	partner.SignFile(e.confFile("B-SIGNED", 4, sum('b'), time.Now().Add(-time.Hour)))

	e.vars["CONFIRMATION_SIGNATURE_GRACE"] = "1h"
	if s := e.checkNow(); s["waiting_for_signature"] != 1.0 || s["accepted"] != 1.0 || s["rejected"] != 0.0 {
		t.Fatalf("within the grace: summary %v, want the unsigned file waiting and the signed one accepted", s)
	}
	if !exists(e.srv.Path("confirmations/deletion_B-UNSIGNED.json")) {
		t.Fatal("the file waiting for its signature left the folder")
	}

	e.vars["CONFIRMATION_SIGNATURE_GRACE"] = "0s"
	e.vars["ACCEPT_UNSIGNED_CONFIRMATIONS"] = "true"
	if s := e.checkNow(); s["accepted"] != 1.0 {
		t.Fatalf("transition setting: summary %v, want the unsigned file accepted", s)
	}
	if acc, _, d := e.outcome("B-UNSIGNED"); !acc || d["unsigned"] != true || d["signer"] != nil {
		t.Errorf("unsigned confirmation: accepted %v, details %v", acc, d)
	}

	w, err := auditors.New(postgres.NewLedger(e.db), auditors.Auth{Token: strings.Repeat("t", 32)}, time.Now, zerolog.Nop(), nil)
	testenv.Must(t, err)
	mux := http.NewServeMux()
	w.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	get := func(path string) string {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+strings.Repeat("t", 32))
		resp, err := srv.Client().Do(req)
		testenv.Must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	page := get("/audit")
	row := func(id string) string {
		i := strings.Index(page, `data-batch="`+id+`"`)
		if i < 0 {
			t.Fatalf("no row for %s", id)
		}
		return page[i : i+strings.Index(page[i:], "</tr>")]
	}
	if !strings.Contains(row("B-UNSIGNED"), `data-unsigned="true">Unsigned<`) {
		t.Errorf("the unsigned batch is not tagged Unsigned:\n%s", row("B-UNSIGNED"))
	}
	if strings.Contains(row("B-SIGNED"), "Unsigned") || !strings.Contains(row("B-SIGNED"), "Signed by the partner") {
		t.Errorf("the signed batch's row:\n%s", row("B-SIGNED"))
	}
	var api struct{ Batches []map[string]any }
	testenv.Must(t, json.Unmarshal([]byte(get("/api/v1/batches")), &api))
	for _, b := range api.Batches {
		if (b["batch_id"] == "B-UNSIGNED") != (b["unsigned"] == true) {
			t.Errorf("API: %v", b)
		}
	}
}

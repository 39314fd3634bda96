package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/jackc/pgx/v5/pgxpool"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/public"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/seal"
	"booklets/pkg/platform/natsembed"
	"booklets/pkg/stage/placeorder"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// The distinctive personal data of the proof: nothing like it is anywhere
// else, so finding any of it anywhere means it leaked.
var proofPII = []string{
	"Zebediah", "Quixotically", "Vexworth", "Zebediah Quixotically-Vexworth",
	"77 Xylophone Parade", "Xylophone", "Flat 9 Quagmire House", "Quagmire", "Zythumbridge",
	"ZE2 9QX", "ZE29QX", "ze2 9qx",
}

// TestProofNoPlaintextAnywhere is the proof of issue 7: the whole pipeline
// (the intake's web adapter wired as services/intake wires it, the stream,
// this batcher's run(), SFTP to a real sshd) takes an order with
// distinctive personal data and sends the day's batch. Once the order is
// stored, before anything is sent, the plaintext is already in no table
// and no pg_dump (personal data rests as ciphertext, not only deleted
// later); after the send it is found in no table, no pg_dump, no stream
// message or stream store file, no file the services wrote or any
// temporary file made meanwhile (the partner's folder included: the file
// there is OpenPGP ciphertext), and no log line. The partner, and only the
// partner, can decrypt it.
// yesterday is the intake's clock in the proof: the order's business day
// must have closed for send-now to send it, as at a real end of day.
func yesterday() time.Time { return time.Now().Add(-24 * time.Hour) }

func TestProofNoPlaintextAnywhere(t *testing.T) {
	// Not parallel: TMPDIR is set for the whole process so that every
	// temporary file made while the pipeline runs (by this process, or the
	// sshd and pg_dump it starts) lands in a folder of this test, which is
	// scanned at the end.
	tmpDir := t.TempDir()
	t.Setenv("TMPDIR", tmpDir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Everything the services may write, in folders of this test.
	natsDir, secretsDir := t.TempDir(), t.TempDir()
	ns, err := natsembed.Start(natsembed.Config{Dir: natsDir, Port: -1})
	testenv.Must(t, err)
	t.Cleanup(ns.Shutdown)
	dbURL := testenv.Database(t)
	srv := sftptest.Start(t)

	kekFile := filepath.Join(secretsDir, "kek")
	testenv.Must(t, os.WriteFile(kekFile, []byte("# test ring\n"+testKEK("proof-2026a")+"\n"), 0o600))
	partnerPriv, partnerPub := proofPartnerKey(t)
	pubFile := filepath.Join(secretsDir, "partner.asc")
	testenv.Must(t, os.WriteFile(pubFile, partnerPub, 0o600))

	sc := jetstream.Config{Stream: testenv.Name("PROOF"), Subject: testenv.Name("proof.orders"), Replicas: 1, DupeWindow: time.Hour}
	env := map[string]string{
		"DATABASE_URL": dbURL, "NATS_URL": ns.URL(), "NATS_STREAM": sc.Stream, "NATS_SUBJECT": sc.Subject,
		"SFTP_ADDR": srv.Addr, "SFTP_USER": srv.User, "SFTP_KEY_FILE": srv.KeyFile, "SFTP_KNOWN_HOSTS": srv.KnownHosts,
		"SFTP_DIR": "outbox", "SFTP_RETRIES": "0", "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "debug",
		"KEK_FILE": kekFile, "PARTNER_PGP_KEY_FILE": pubFile,
		"SEND_RETRY_INTERVAL": "0", // send-now sends yesterday's batch below, not the retry job
		// The encrypted copy kept for a resend, in a folder scanned below.
		EnvRetainedDir: filepath.Join(tmpDir, "retained"),
	}
	getenv := func(k string) string { return env[k] }
	testenv.Must(t, run(ctx, []string{"migrate"}, getenv, nil, io.Discard))

	// The intake, as services/intake wires it: the keystore over its pool,
	// the ring from KEK_FILE, the business day from BATCH_CUTOFF.
	var intakeLogs testenv.Buffer
	ring, err := seal.RingFromEnv(getenv)
	testenv.Must(t, err)
	pool, err := pgxpool.New(ctx, dbURL)
	testenv.Must(t, err)
	t.Cleanup(pool.Close)
	nc, err := jetstream.Connect(ns.URL(), "proof-intake")
	testenv.Must(t, err)
	t.Cleanup(nc.Close)
	orders, err := jetstream.New(nc, sc)
	testenv.Must(t, err)
	testenv.Must(t, orders.Ensure(ctx))
	intakeLog := zerolog.New(&intakeLogs).Level(zerolog.DebugLevel)
	place, err := placeorder.New(placeorder.Config{
		Publisher: orders, Claims: orders, Keys: postgres.NewDayKeys(pool, ring), Cutoff: businessday.DefaultCutoff,
		Secret: bytes.Repeat([]byte("s"), 32), Clock: yesterday, Logger: intakeLog,
	})
	testenv.Must(t, err)
	intake, err := public.New(public.Config{
		Orders: place, Catalogue: catalogue.Default(),
		Secret: bytes.Repeat([]byte("s"), 32), Clock: yesterday, Logger: intakeLog,
		RatePerMinute: 1000, Burst: 100,
	})
	testenv.Must(t, err)
	api := httptest.NewServer(intake)
	t.Cleanup(api.Close)

	// In clear, lower case, hex (bytea in row_to_json and pg_dump) or
	// base64 (JSON of bytes).
	leaks := func(data []byte) []string {
		var found []string
		lower := bytes.ToLower(data)
		for _, s := range proofPII {
			for _, form := range []string{s, hex.EncodeToString([]byte(s)), base64.StdEncoding.EncodeToString([]byte(s))} {
				if bytes.Contains(lower, bytes.ToLower([]byte(form))) {
					found = append(found, s+" as "+form)
				}
			}
		}
		return found
	}
	find := func(where string, data []byte) {
		t.Helper()
		for _, l := range leaks(data) {
			t.Errorf("%s holds %s", where, l)
		}
	}
	if len(leaks([]byte(hex.EncodeToString([]byte("x Vexworth x"))))) == 0 {
		t.Fatal("the search cannot find hex-encoded personal data")
	}
	// Every table of the database (as JSON rows: bytea in hex) and a
	// pg_dump of it.
	scanDatabase := func(when string) {
		t.Helper()
		tables := testenv.Tables(t, pool)
		if len(tables) < 8 {
			t.Fatalf("%s: only %d tables: %v", when, len(tables), tables)
		}
		for _, tbl := range tables {
			var dump string
			testenv.Must(t, pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(row_to_json(t)::text, E'\n'), '') FROM `+tbl+` t`).Scan(&dump))
			find(when+": table "+tbl, []byte(dump))
		}
		out, err := exec.Command("pg_dump", "--dbname", dbURL).Output()
		testenv.Must(t, err)
		if !bytes.Contains(out, []byte("day_keys")) {
			t.Fatalf("%s: pg_dump output lacks the schema", when)
		}
		find(when+": pg_dump", out)
	}

	body := `{"area":"northumbria","formats":["braille","audio"],"name":"Zebediah Quixotically-Vexworth",
		"address_line_1":"77 Xylophone Parade","address_line_2":"Flat 9 Quagmire House","town":"Zythumbridge","postcode":"ze2 9qx"}`
	req, _ := http.NewRequest("POST", api.URL+"/api/v1/orders", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "proof-1")
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	var created struct{ Reference string }
	derr := json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || derr != nil || created.Reference == "" {
		t.Fatalf("order: %d, %+v, %v; intake log:\n%s", resp.StatusCode, created, derr, intakeLogs.String())
	}
	// The message at rest in the stream, before the batcher consumes it
	// (once acknowledged, the work queue drops it and its store block):
	// the store files hold it (its reference in clear, its personal part
	// sealed), so the scan of them is not vacuous, and hold no plaintext.
	storeDir := filepath.Join(natsDir, "jetstream", "$G", "streams", sc.Stream)
	if holding := filesHolding(t, storeDir, []byte(created.Reference), []byte(seal.AlgAES256GCM)); holding == 0 {
		t.Fatalf("no file in the stream store %s holds the order's message (reference %s, sealed part)", storeDir, created.Reference)
	}
	scanFiles(t, "in the stream, before consuming", find, storeDir)

	// The batcher service.
	var batcherLogs testenv.Buffer
	served := make(chan error, 1)
	go func() { served <- run(ctx, nil, getenv, nil, &batcherLogs) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM order_personal`).Scan(&n)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order not stored; batcher log:\n%s", batcherLogs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Stored, not yet sent: the personal data must already rest as
	// ciphertext (sealed by the intake), not only be deleted after sending.
	scanDatabase("stored, before sending")
	today := businessday.DefaultCutoff.DateOf(yesterday())
	var sendOut testenv.Buffer
	if err := run(ctx, []string{"send-now", "--date", today.String()}, getenv, nil, &sendOut); err != nil {
		t.Fatalf("send-now: %v\n%s", err, sendOut.String())
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}

	// The partner has it, and only with its private key can read it.
	files, _ := filepath.Glob(srv.Path("outbox", "booklets_"+today.String()+"_*.csv.gpg"))
	if len(files) != 1 {
		t.Fatalf("partner's files: %v\n%s", files, sendOut.String())
	}
	enc, err := os.ReadFile(files[0])
	testenv.Must(t, err)
	md, err := pgp.ReadMessage(bytes.NewReader(enc), pgp.EntityList{partnerPriv}, nil, nil)
	testenv.Must(t, err)
	plain, err := io.ReadAll(md.UnverifiedBody)
	testenv.Must(t, err)
	if !bytes.Contains(plain, []byte("Zebediah Quixotically-Vexworth")) || !bytes.Contains(plain, []byte("ZE2 9QX")) {
		t.Fatalf("the partner's file does not hold the order:\n%s", plain)
	}
	var destroyed int
	testenv.Must(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM day_keys WHERE business_date = $1 AND wrapped IS NULL`, today.UTC()).Scan(&destroyed))
	if destroyed != 1 {
		t.Error("the day key was not destroyed")
	}

	// Now search everywhere.
	// The search does find the data where it is meant to be.
	if len(leaks(plain)) == 0 {
		t.Fatal("the search cannot find the personal data")
	}
	scanDatabase("after sending")
	// The stream: every message left, and the store files (where removed
	// messages' bytes may linger).
	// Read with nats.go itself: the adapter hands out no raw client.
	js, err := natsjs.New(nc)
	testenv.Must(t, err)
	str, err := js.Stream(context.Background(), sc.Stream)
	testenv.Must(t, err)
	info, err := str.Info(context.Background())
	testenv.Must(t, err)
	if info.State.LastSeq == 0 {
		t.Fatal("nothing was published")
	}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		if m, err := str.GetMsg(context.Background(), seq); err == nil {
			find("stream message", m.Data)
		}
	}
	if _, err := os.Stat(storeDir); err != nil {
		t.Fatalf("stream store folder: %v", err)
	}
	// The files the services wrote: NATS's store, the secrets, the
	// partner's SFTP home (the batch file there is ciphertext), and TMPDIR
	// (any temporary file made meanwhile, by this process or its children).
	if scanned := scanFiles(t, "after sending", find, natsDir, secretsDir, srv.Path(), tmpDir); scanned < 5 {
		t.Fatalf("only %d files scanned", scanned)
	}
	// Every log line of every service.
	find("intake log", []byte(intakeLogs.String()))
	find("batcher log", []byte(batcherLogs.String()))
	find("send-now output", []byte(sendOut.String()))
	if !strings.Contains(batcherLogs.String(), "order stored") && !strings.Contains(batcherLogs.String(), "consuming orders") {
		t.Errorf("the batcher's log was not captured:\n%s", batcherLogs.String())
	}
}

// filesHolding counts the files under dir that contain all of the needles.
func filesHolding(t *testing.T, dir string, needles ...[]byte) int {
	t.Helper()
	n := 0
	testenv.Must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // a file gone meanwhile
		}
		for _, needle := range needles {
			if !bytes.Contains(b, needle) {
				return nil
			}
		}
		n++
		return nil
	}))
	return n
}

// scanFiles passes every file under dirs to find and returns how many it
// read.
func scanFiles(t *testing.T, when string, find func(where string, data []byte), dirs ...string) int {
	t.Helper()
	scanned := 0
	for _, dir := range dirs {
		testenv.Must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil // a socket or a file gone meanwhile
			}
			scanned++
			find(when+": file "+p, b)
			return nil
		}))
	}
	return scanned
}

// proofPartnerKey makes the partner's OpenPGP key pair with go-crypto.
func proofPartnerKey(t *testing.T) (*pgp.Entity, []byte) {
	t.Helper()
	k, err := openpgp.NewKeyPair("Print Partner", "", "pgp@partner.example")
	testenv.Must(t, err)
	return k.Entity, k.Public
}

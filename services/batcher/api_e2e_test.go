package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/web/public"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/stage/ingest"
	"booklets/pkg/stage/placeorder"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// apiOrder is one order as an integration posts it to the intake API, and
// the personal part the partner must receive for it: what was submitted,
// cleaned as the intake promises (white space collapsed, Unicode NFC,
// postcode canonical).
type apiOrder struct {
	key       string // Idempotency-Key
	area      string
	formats   []string
	languages []string // nil: the field left out (English)
	name      string
	line1     string
	line2     string
	town      string
	pc        string
	want      order.Personal
}

func (o apiOrder) body() string {
	m := map[string]any{"area": o.area, "formats": o.formats, "name": o.name,
		"address_line_1": o.line1, "address_line_2": o.line2, "town": o.town, "postcode": o.pc}
	if o.languages != nil {
		m["languages"] = o.languages
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// TestAPIToPartnerEndToEnd is issue 4's end-to-end test: orders in through
// the intake's HTTP API (pkg/adapter/web/public wired as services/intake wires it:
// sealing under the business day's key, publishing to JetStream), stored
// by the batcher's consumer, sent by the batcher's sender (wired by
// newSender, as `batcher send-now` is) to OpenSSH's sshd with the file
// encrypted to the partner's OpenPGP key. The partner's file is decrypted
// and compared row by row with what was submitted; the manifest with the
// file as sent; and the database holds no personal data afterwards, only
// the non-personal facts, the batch with its due date (the day is 23
// December 2025, so the 30 working days run across Christmas and New
// Year), and a destroyed day key.
func TestAPIToPartnerEndToEnd(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	dbURL := testenv.Database(t)
	orders := testenv.Orders(t)
	srv := sftptest.Start(t)
	secrets := t.TempDir()
	partnerPriv, partnerPub := proofPartnerKey(t)
	pubFile := filepath.Join(secrets, "partner.asc")
	testenv.Must(t, os.WriteFile(pubFile, partnerPub, 0o600))
	env := serviceEnv(dbURL, orders, srv, map[string]string{"KEK": testKEK("e2e-2025d"), "PARTNER_PGP_KEY_FILE": pubFile})
	getenv := func(k string) string { return env[k] }
	testenv.Must(t, run(ctx, []string{"migrate"}, getenv, nil, io.Discard))
	cfg, err := loadConfig(getenv)
	testenv.Must(t, err)

	// The day: Tuesday 23 December 2025, London. The intake's clock moves
	// a second per reading, so the orders are received in the order posted.
	london, err := time.LoadLocation("Europe/London")
	testenv.Must(t, err)
	var tick atomic.Int64
	intakeClock := func() time.Time {
		return time.Date(2025, 12, 23, 10, 0, 0, 0, london).Add(time.Duration(tick.Add(1)) * time.Second)
	}
	day := businessday.Date{Year: 2025, Month: time.December, Day: 23}

	// The intake, as services/intake wires it: the ring from KEK, the day
	// keys over its own pool, the business day from BATCH_CUTOFF.
	var intakeLogs testenv.Buffer
	ring, err := seal.RingFromEnv(getenv)
	testenv.Must(t, err)
	pool, err := pgxpool.New(ctx, dbURL)
	testenv.Must(t, err)
	t.Cleanup(pool.Close)
	place, err := placeorder.New(placeorder.Config{
		Publisher: orders, Claims: orders, Keys: postgres.NewDayKeys(pool, ring), Cutoff: cfg.Cutoff,
		Secret: bytes.Repeat([]byte("e"), 32), Clock: intakeClock, Logger: zerolog.New(&intakeLogs),
	})
	testenv.Must(t, err)
	intake, err := public.New(public.Config{
		Orders: place, Catalogue: catalogue.Default(),
		Secret: bytes.Repeat([]byte("e"), 32), Clock: time.Now,
		Logger: zerolog.New(&intakeLogs), RatePerMinute: 1000, Burst: 100,
	})
	testenv.Must(t, err)
	api := httptest.NewServer(intake)
	t.Cleanup(api.Close)

	submitted := []apiOrder{
		{key: "e2e-1", area: "staffordshire", formats: []string{"audio", "standard-print"},
			// Typed with a combining circumflex and stray spaces.
			name: "  Sia\u0302n   O'Brien ", line1: "1 High Street", town: "Stafford", pc: "st180yy",
			want: order.Personal{Name: "Siân O'Brien", AddressLine1: "1 High Street", Town: "Stafford", Postcode: "ST18 0YY"}},
		{key: "e2e-2", area: "greater-manchester", formats: []string{"large-print"},
			name: "Nguyễn Thị Minh Khai", line1: "Flat 3, 22 Kingsway", line2: `The "Old" Bakery`, town: "Manchester", pc: "M1 1AE",
			want: order.Personal{Name: "Nguyễn Thị Minh Khai", AddressLine1: "Flat 3, 22 Kingsway", AddressLine2: `The "Old" Bakery`, Town: "Manchester", Postcode: "M1 1AE"}},
		// Welsh areas: one order for its booklets in Welsh and English, one
		// in Welsh only (issue 18): a row for each format and language.
		{key: "e2e-3", area: "south-wales", formats: []string{"braille", "easy-read", "large-print"}, languages: []string{"cy", "en"},
			// A pasted two-line address is folded onto one line.
			name: "Zoë-Jane Smith-Jones", line1: "12 Station Road\r\nRoath", line2: "=1+1", town: "Cardiff", pc: "cf101aa",
			want: order.Personal{Name: "Zoë-Jane Smith-Jones", AddressLine1: "12 Station Road Roath", AddressLine2: "=1+1", Town: "Cardiff", Postcode: "CF10 1AA"}},
		{key: "e2e-4", area: "north-wales", formats: []string{"easy-read"}, languages: []string{"cy"},
			name: "Łukasz Żółć", line1: "@ The Old Forge", line2: "Apartment 5, \"Harbour View\", Quay St", town: "-Llanfairpwll", pc: "LL61 5UJ",
			want: order.Personal{Name: "Łukasz Żółć", AddressLine1: "@ The Old Forge", AddressLine2: "Apartment 5, \"Harbour View\", Quay St", Town: "-Llanfairpwll", Postcode: "LL61 5UJ"}},
		{key: "e2e-5", area: "metropolitan-police", formats: []string{"standard-print", "large-print", "braille", "easy-read", "audio"},
			name: "Ṣadé Ọlábísí-Adébáyọ̀", line1: "+44 Flat, 9 Rye Lane", town: "Peckham", pc: "se15 4ST",
			want: order.Personal{Name: "Ṣadé Ọlábísí-Adébáyọ̀", AddressLine1: "+44 Flat, 9 Rye Lane", Town: "Peckham", Postcode: "SE15 4ST"}},
	}
	post := func(o apiOrder) string {
		t.Helper()
		req, _ := http.NewRequest("POST", api.URL+"/api/v1/orders", strings.NewReader(o.body()))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("Idempotency-Key", o.key)
		resp, err := http.DefaultClient.Do(req)
		testenv.Must(t, err)
		defer resp.Body.Close()
		var got struct{ Reference, Status string }
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusCreated || got.Reference == "" {
			t.Fatalf("order %s: %d %+v %v; intake log:\n%s", o.key, resp.StatusCode, got, err, intakeLogs.String())
		}
		return got.Reference
	}
	refs := make([]string, len(submitted))
	for i, o := range submitted {
		refs[i] = post(o)
	}
	// A client retrying after a timeout: the same reference, stored once.
	if again := post(submitted[0]); again != refs[0] {
		t.Errorf("retry got reference %s, want %s", again, refs[0])
	}

	// The batcher: its consumer stores the orders; its sender, wired as
	// send-now wires it, on a clock just past the day's cut-off.
	var batcherLogs testenv.Buffer
	log := zerolog.New(&batcherLogs)
	st, err := openStore(ctx, cfg)
	testenv.Must(t, err)
	t.Cleanup(st.Close)
	batcherClock := func() time.Time { return time.Date(2025, 12, 23, 23, 5, 0, 0, london) }
	consumer := ingest.NewConsumer(orders, ingest.ConsumerConfig{
		Stream: cfg.Stream, Subject: cfg.Subject, Durable: cfg.Consumer, CatchUpTimeout: 30 * time.Second,
	}, st, cfg.Cutoff, batcherClock, log, nil)
	consumed := make(chan error, 1)
	consumerCtx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	go func() { consumed <- consumer.Run(consumerCtx) }()
	sender, err := newSender(cfg, st, log, NewMetrics(nil),
		endofday.WithCatchUp(consumer.WaitCaughtUp), endofday.WithClock(batcherClock))
	testenv.Must(t, err)
	if cfg.Cutoff.LastClosed(batcherClock()) != day {
		t.Fatalf("the day that closed is %s", cfg.Cutoff.LastClosed(batcherClock()))
	}
	// The sender waits for the consumer to have stored every order of the
	// day still in the stream before it assembles the batch.
	res, err := sender.SendBatch(ctx, day)
	if err != nil {
		t.Fatalf("send: %v\nbatcher log:\n%s", err, batcherLogs.String())
	}
	stopConsumer()
	testenv.Must(t, <-consumed)

	// What the partner has: the manifest names the batch and the file.
	manifests, _ := filepath.Glob(srv.Path("outbox", "booklets_2025-12-23_*.manifest.json"))
	if len(manifests) != 1 {
		t.Fatalf("manifests at the partner: %v", manifests)
	}
	mb, err := os.ReadFile(manifests[0])
	testenv.Must(t, err)
	m, err := batchfile.ParseManifest(mb)
	testenv.Must(t, err)
	enc, err := os.ReadFile(srv.Path("outbox", m.DataFile))
	if err != nil {
		t.Fatalf("data file named by the manifest: %v", err)
	}
	if left, _ := filepath.Glob(srv.Path("outbox", ".*")); len(left) != 0 {
		t.Errorf("temporary files left at the partner: %v", left)
	}
	rec, err := openpgp.ReadRecipient(bytes.NewReader(partnerPub), time.Now)
	testenv.Must(t, err)
	sum := sha256.Sum256(enc)
	wantRecords := 0
	for _, o := range submitted {
		wantRecords += len(o.formats) * max(1, len(o.languages)) // a row per format and language
	}
	if m.BatchID != res.Batch.ID || m.BusinessDate != "2025-12-23" || !strings.HasSuffix(m.DataFile, ".csv.gpg") ||
		m.RecordCount != wantRecords || m.OrderCount != len(submitted) ||
		m.SHA256 != hex.EncodeToString(sum[:]) || m.Bytes != int64(len(enc)) ||
		m.Encryption != "openpgp" || m.RecipientFingerprint != rec.Fingerprint() || m.FormatVersion != batchfile.FormatVersion {
		t.Errorf("manifest %+v\nfor a file of %d bytes, sha256 %x, %d records of %d orders, batch %s", m, len(enc), sum, wantRecords, len(submitted), res.Batch.ID)
	}

	// Only the partner's private key opens it; then it is the CSV.
	md, err := pgp.ReadMessage(bytes.NewReader(enc), pgp.EntityList{partnerPriv}, nil, nil)
	testenv.Must(t, err)
	plain, err := io.ReadAll(md.UnverifiedBody)
	testenv.Must(t, err)
	if !md.IsEncrypted || bytes.Contains(enc, []byte("Stafford")) {
		t.Error("the file at the partner is not encrypted")
	}
	if !bytes.HasPrefix(plain, []byte(strings.Join(batchfile.Header, ",")+"\r\n")) || bytes.HasPrefix(plain, []byte("\xef\xbb\xbf")) {
		t.Errorf("data file does not start with the header row (UTF-8, no BOM, CRLF):\n%q", plain[:min(len(plain), 120)])
	}
	r := csv.NewReader(bytes.NewReader(plain))
	r.FieldsPerRecord = len(batchfile.Header)
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("the data file is not RFC 4180 CSV: %v", err)
	}

	// Row by row: each order in the order received, one row per format in
	// the order the formats are offered and, within a format, per language
	// asked for (English when none), English first; every cell as submitted
	// (cleaned, and neutralised where a spreadsheet would run it).
	var want [][]string
	for i, o := range submitted {
		a, ok := catalogue.Default().Lookup(o.area)
		if !ok {
			t.Fatalf("area %s not in the catalogue", o.area)
		}
		for _, f := range order.Formats {
			if !slices.Contains(o.formats, string(f)) {
				continue
			}
			p := o.want
			for _, l := range order.Languages {
				if !slices.Contains(o.languages, string(l)) && (o.languages != nil || l != order.English) {
					continue
				}
				want = append(want, []string{refs[i], o.area, a.Name, string(f),
					batchfile.Neutralise(p.Name), batchfile.Neutralise(p.AddressLine1), batchfile.Neutralise(p.AddressLine2),
					batchfile.Neutralise(p.Town), p.Postcode, string(l)})
			}
		}
	}
	if len(rows) != len(want)+1 {
		t.Fatalf("%d rows after the header, want %d:\n%s", len(rows)-1, len(want), plain)
	}
	for i, w := range want {
		if got := rows[i+1]; !slices.Equal(got, w) {
			t.Errorf("row %d:\n got %q\nwant %q", i+1, got, w)
		}
	}
	// The spreadsheet cases, spelled out.
	// Rows: 1-2 Siân, 3 Nguyễn, 4-9 Zoë-Jane (=1+1; each format in English
	// then Welsh), 10 Łukasz (@, -; Welsh), 11-15 Ṣadé (+).
	for _, c := range []struct{ row, col int }{{4, 6}, {5, 6}, {6, 6}, {9, 6}, {10, 5}, {10, 7}, {11, 5}, {15, 5}} {
		if cell := rows[c.row][c.col]; !strings.HasPrefix(cell, "'") {
			t.Errorf("row %d column %s = %q is not neutralised", c.row, batchfile.Header[c.col], cell)
		}
	}
	if rows[2][4] != "Siân O'Brien" || rows[3][6] != `The "Old" Bakery` || rows[3][5] != "Flat 3, 22 Kingsway" || rows[4][6] != "'=1+1" {
		t.Errorf("Unicode, comma, quote or formula changed: %q %q %q", rows[2], rows[3], rows[4])
	}
	if last := len(batchfile.Header) - 1; rows[4][last] != "en" || rows[5][last] != "cy" || rows[10][last] != "cy" || rows[11][last] != "en" {
		t.Errorf("languages: Zoë-Jane %q %q, Łukasz %q, Ṣadé %q", rows[4][last], rows[5][last], rows[10][last], rows[11][last])
	}

	// Our side: no personal data left, the facts kept, the batch recorded
	// with its due date, the day key destroyed.
	var personal int
	testenv.Must(t, pool.QueryRow(ctx, `SELECT count(*) FROM order_personal`).Scan(&personal))
	if personal != 0 {
		t.Errorf("%d personal parts left after the batch", personal)
	}
	for i, o := range submitted {
		var (
			area, batchID string
			formats       []string
			deleted       bool
			received      time.Time
		)
		err := pool.QueryRow(ctx, `SELECT area, formats, coalesce(batch_id, ''), personal_deleted_at IS NOT NULL, received_at
			FROM orders_with_batch WHERE reference = $1`, refs[i]).Scan(&area, &formats, &batchID, &deleted, &received)
		if err != nil {
			t.Errorf("order %s: %v", refs[i], err)
			continue
		}
		var wantFormats []string
		for _, f := range order.Formats {
			if slices.Contains(o.formats, string(f)) {
				wantFormats = append(wantFormats, string(f))
			}
		}
		slices.Sort(formats)
		slices.Sort(wantFormats)
		if area != o.area || !slices.Equal(formats, wantFormats) || batchID != res.Batch.ID || !deleted ||
			businessday.DefaultCutoff.DateOf(received) != day {
			t.Errorf("order %s kept as %s %v %q deleted=%v received %s", refs[i], area, formats, batchID, deleted, received)
		}
	}
	var n int
	testenv.Must(t, pool.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&n))
	if n != len(submitted) {
		t.Errorf("%d orders stored for %d submitted (the retry stored twice?)", n, len(submitted))
	}
	var (
		state, sha      string
		records, nOrder int
		delivery, due   time.Time
	)
	testenv.Must(t, pool.QueryRow(ctx, `SELECT state, coalesce(sha256, ''), record_count, order_count, delivery_date, due_date
		FROM batches WHERE batch_id = $1`, res.Batch.ID).Scan(&state, &sha, &records, &nOrder, &delivery, &due))
	// Delivered Tuesday 23 December 2025: Christmas Day, Boxing Day and
	// New Year's Day do not count, so the 30th working day is Friday 6
	// February 2026.
	if state != postgres.StateSent || sha != m.SHA256 || records != wantRecords || nOrder != len(submitted) ||
		delivery.Format(time.DateOnly) != "2025-12-23" || due.Format(time.DateOnly) != "2026-02-06" {
		t.Errorf("batch recorded as %s sha %s %d records %d orders, delivered %s due %s", state, sha, records, nOrder,
			delivery.Format(time.DateOnly), due.Format(time.DateOnly))
	}
	var keyGone bool
	testenv.Must(t, pool.QueryRow(ctx, `SELECT wrapped IS NULL AND destroyed_at IS NOT NULL FROM day_keys WHERE business_date = '2025-12-23'`).Scan(&keyGone))
	if !keyGone {
		t.Error("the day key was not destroyed")
	}
	var kinds string
	testenv.Must(t, pool.QueryRow(ctx, `SELECT string_agg(kind, ',' ORDER BY seq) FROM audit_log WHERE batch_id = $1`, res.Batch.ID).Scan(&kinds))
	// batch_retained: the encrypted file is kept for a resend (resend.go).
	if kinds != "batch_sent,personal_data_deleted,batch_retained,day_key_destroyed" {
		t.Errorf("audit entries for the batch: %s", kinds)
	}

	// Neither service logged any of it.
	logs := intakeLogs.String() + batcherLogs.String()
	if !strings.Contains(logs, refs[0]) {
		t.Errorf("the logs were not captured:\n%s", logs)
	}
	for _, o := range submitted {
		for _, v := range []string{o.want.Name, o.want.AddressLine1, o.want.Town, o.want.Postcode} {
			if strings.Contains(logs, v) {
				t.Errorf("a log holds %q", v)
			}
		}
	}
	if t.Failed() {
		t.Logf("data file:\n%s", plain)
	}
}

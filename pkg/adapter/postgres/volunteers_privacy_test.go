package postgres

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/research"
	"booklets/pkg/testkit/testenv"
)

// forms are the ways a value can appear in what is searched: in clear,
// lower case, hex (bytea in row_to_json, pg_dump and raw pages seen as
// text) or base64.
func forms(s string) [][]byte {
	return [][]byte{[]byte(strings.ToLower(s)), []byte(hex.EncodeToString([]byte(s))), []byte(strings.ToLower(base64.StdEncoding.EncodeToString([]byte(s))))}
}

// holds reports whether lower (data already in lower case) holds s in
// any of its forms.
func holds(lower []byte, s string) bool {
	for _, f := range forms(s) {
		if bytes.Contains(lower, f) {
			return true
		}
	}
	return false
}

// copies is every copy of the database's data a reader of its storage or
// backups could get: every table as JSON rows, a pg_dump, the raw pages of
// every relation of the research schema (live and dead tuples, indexes)
// and the WAL written since walFrom. Each is kept as read and in lower
// case (lowered once: the WAL is tens of megabytes).
type copies map[string]copyOf

type copyOf struct{ raw, lower []byte }

func (c copies) add(where string, data []byte) { c[where] = copyOf{data, bytes.ToLower(data)} }

func everyCopy(t *testing.T, db *pgxpool.Pool, walFrom string) copies {
	t.Helper()
	ctx := context.Background()
	out := copies{}
	tables := testenv.Tables(t, db)
	for _, tbl := range tables {
		var dump string
		testenv.Must(t, db.QueryRow(ctx, `SELECT coalesce(string_agg(row_to_json(t)::text, E'\n'), '') FROM `+tbl+` t`).Scan(&dump))
		out.add("table "+tbl, []byte(dump))
	}
	dump, err := exec.Command("pg_dump", "--dbname", db.Config().ConnString()).Output()
	testenv.Must(t, err)
	if !bytes.Contains(dump, []byte("research.volunteers")) {
		t.Fatal("pg_dump output lacks the volunteers table")
	}
	out.add("pg_dump", dump)

	// Raw pages: what the data files (and a file-level backup) hold,
	// dead tuples included.
	rows, err := db.Query(ctx, `SELECT c.oid::regclass::text, pg_relation_size(c.oid) / current_setting('block_size')::int
		FROM pg_class c WHERE c.relnamespace = 'research'::regnamespace AND c.relkind IN ('r', 'i', 't')
		   OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relnamespace = 'research'::regnamespace)`)
	testenv.Must(t, err)
	type rel struct {
		name   string
		blocks int
	}
	var rels []rel
	for rows.Next() {
		var r rel
		testenv.Must(t, rows.Scan(&r.name, &r.blocks))
		rels = append(rels, r)
	}
	testenv.Must(t, rows.Err())
	for _, r := range rels {
		var pages []byte
		for b := 0; b < r.blocks; b++ {
			var p []byte
			testenv.Must(t, db.QueryRow(ctx, `SELECT get_raw_page($1, 'main', $2)`, r.name, b).Scan(&p))
			pages = append(pages, p...)
		}
		out.add("pages of "+r.name, pages)
	}

	// The WAL: every segment from walFrom's to the current one, read by
	// the server (pg_read_binary_file, as a superuser).
	var first, last string
	testenv.Must(t, db.QueryRow(ctx, `SELECT pg_walfile_name($1::pg_lsn), pg_walfile_name(pg_current_wal_lsn())`, walFrom).Scan(&first, &last))
	rows, err = db.Query(ctx, `SELECT name FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$' AND name BETWEEN $1 AND $2 ORDER BY name`, first, last)
	testenv.Must(t, err)
	var segs []string
	for rows.Next() {
		var n string
		testenv.Must(t, rows.Scan(&n))
		segs = append(segs, n)
	}
	testenv.Must(t, rows.Err())
	if len(segs) == 0 {
		t.Fatalf("no WAL segment between %s and %s", first, last)
	}
	var pageSize int
	testenv.Must(t, db.QueryRow(ctx, `SELECT current_setting('wal_block_size')::int`).Scan(&pageSize))
	var wal []byte
	for _, seg := range segs {
		var b []byte
		testenv.Must(t, db.QueryRow(ctx, `SELECT pg_read_binary_file('pg_wal/' || $1)`, seg).Scan(&b))
		wal = append(wal, walRecords(b, pageSize)...)
	}
	out.add("WAL", wal)
	return out
}

// find reports where any of the strings is.
func (c copies) find(t *testing.T, when string, personal ...string) {
	t.Helper()
	for where, data := range c {
		for _, p := range personal {
			if holds(data.lower, p) {
				t.Errorf("%s: %s holds %q", when, where, p)
			}
		}
	}
}

// holding says which copies hold the bytes b (as they are, or in hex).
func (c copies) holding(b []byte) []string {
	var out []string
	h := []byte(hex.EncodeToString(b))
	for where, data := range c {
		if bytes.Contains(data.raw, b) || bytes.Contains(data.lower, h) {
			out = append(out, where)
		}
	}
	return out
}

type stored struct {
	contact []byte
	w       seal.Wrapped
}

func storedRow(t *testing.T, db *pgxpool.Pool, id string) stored {
	t.Helper()
	var s stored
	testenv.Must(t, db.QueryRow(context.Background(),
		`SELECT contact, kek_id, wrapped_key FROM research.volunteers WHERE volunteer_id = $1`, id).Scan(&s.contact, &s.w.KEKID, &s.w.Data))
	return s
}

// TestContactSealedAtRest is the privacy scan for volunteers, as
// services/batcher/proof_test.go is for orders: after sign-up, no name or
// email is in clear (or hex, or base64) in any table, a pg_dump, the raw
// pages of the research schema or the WAL; after a withdrawal by code, one
// by email and a deletion at review, the entry's key is gone from the
// database, its ciphertext (still in the WAL) opens with nothing the
// database holds, and `Show` still works for the volunteer who stayed.
func TestContactSealedAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, db := newStore(t, start)
	// Dead tuples stay in the pages for the scan after the deletions.
	_, err := db.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pageinspect; ALTER TABLE research.volunteers SET (autovacuum_enabled = false)`)
	testenv.Must(t, err)
	// A temporary replication slot keeps the WAL from here on from being
	// recycled by a checkpoint before it is read; it goes with the
	// connection that made it.
	slotConn, err := pgx.Connect(ctx, db.Config().ConnString())
	testenv.Must(t, err)
	t.Cleanup(func() { slotConn.Close(context.Background()) })
	_, err = slotConn.Exec(ctx, `SELECT pg_create_physical_replication_slot($1, true, true)`, strings.ReplaceAll(testenv.Name("vol_wal"), "-", "_"))
	testenv.Must(t, err)
	var walFrom string
	testenv.Must(t, db.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&walFrom))

	people := []struct{ name, email string }{
		{"Philippa Quenneville-Ashgrove", "philippa.quenneville@example.org"}, // withdraws by code
		{"Bartholomew Zanzibar-Fenwick", "bart.zanzibar@example.net"},         // withdraws by email
		{"Ottoline Wyckham-Strood", "ottoline.wyckham@example.com"},           // deleted at review
		{"Cressida Mountjoy-Vane", "cressida.mountjoy@example.co.uk"},         // stays
	}
	var ids []string
	var receipts []research.Receipt
	var pii []string
	for _, p := range people {
		r := signUp(t, s, p.name, p.email)
		ids, receipts = append(ids, r.ID), append(receipts, r)
		pii = append(pii, p.name, strings.Fields(p.name)[1], p.email, strings.Split(p.email, "@")[0])
	}
	if !holds(bytes.ToLower([]byte("xx "+hex.EncodeToString([]byte("Ottoline Wyckham")))), "Ottoline Wyckham") {
		t.Fatal("the search cannot find hex-encoded data")
	}
	rows := make([]stored, len(ids))
	for i, id := range ids {
		rows[i] = storedRow(t, db, id)
	}

	before := everyCopy(t, db, walFrom)
	before.find(t, "after sign-up", pii...)
	// The scan sees the rows: each sealed value is in the table, the
	// dump, the raw pages and the WAL.
	for i, r := range rows {
		if got := before.holding(r.contact); len(got) < 4 {
			t.Fatalf("entry %d's sealed contact found only in %v", i, got)
		}
	}

	// Withdrawal by code, by email, deletion at review.
	if n, err := s.WithdrawByCode(ctx, receipts[0].Code); err != nil || n != 1 {
		t.Fatalf("withdraw by code: %d, %v", n, err)
	}
	if n, err := s.WithdrawByEmail(ctx, strings.ToUpper(people[1].email)); err != nil || n != 1 {
		t.Fatalf("withdraw by email: %d, %v", n, err)
	}
	if _, err := s.Review(ctx, ids[2], research.Delete); err != nil {
		t.Fatalf("delete at review: %v", err)
	}

	after := everyCopy(t, db, walFrom)
	after.find(t, "after deletion", pii...)
	ring := s.ring
	for i, r := range rows[:3] {
		// The key is gone from every live row and from the dump (copies of
		// it remain only in the WAL and dead tuples, wrapped by the KEK).
		for _, where := range after.holding(r.w.Data) {
			if strings.HasPrefix(where, "table ") || where == "pg_dump" {
				t.Errorf("entry %d's wrapped key is still in %s", i, where)
			}
		}
		if _, err := s.Show(ctx, ids[i], "test"); !errors.Is(err, research.ErrNotFound) {
			t.Errorf("entry %d shown after deletion: %v", i, err)
		}
		// Nothing the database still holds opens the ciphertext: no live
		// key unwraps as this entry's.
		for _, live := range []stored{storedRow(t, db, ids[3])} {
			if _, err := ring.UnwrapRecordKey(keyKind, ids[i], live.w); !errors.Is(err, seal.ErrTampered) {
				t.Errorf("entry %d: a live key unwraps as its key: %v", i, err)
			}
		}
		if got := after.holding(r.contact); !slices.Contains(got, "WAL") {
			t.Errorf("entry %d's sealed contact is not in the WAL read (only in %v): the scan saw nothing", i, got)
		}
	}
	var left int
	testenv.Must(t, db.QueryRow(ctx, `SELECT count(*) FROM research.volunteers`).Scan(&left))
	if left != 1 {
		t.Fatalf("%d entries left, want 1", left)
	}
	e, err := s.Show(ctx, ids[3], "test")
	if err != nil || e.Name != people[3].name || e.Email != people[3].email {
		t.Fatalf("show the volunteer who stayed: %+v, %v", e, err)
	}
	n := 0
	for _, en := range entries(t, db) {
		if en.Kind == audit.VolunteerDeleted {
			n++
			if en.Details["key_destroyed"] != true {
				t.Errorf("deletion without its key: %v", en.Details)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d volunteer_deleted entries, want 3", n)
	}
}

// TestNoKEKNoSignUp: without a KEK ring nothing is stored (no plain-text
// fallback), while what needs no personal data still works.
func TestNoKEKNoSignUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sealed, _, db := newStore(t, start)
	kept := signUp(t, sealed, "Ned Nokek", "ned@example.org")
	s := NewVolunteers(db, func() time.Time { return start })
	v, err := research.Draft{Name: "Nina Nokek", Consent: true}.Validate()
	testenv.Must(t, err)
	if _, err := s.SignUp(ctx, v); !errors.Is(err, seal.ErrNoKEK) {
		t.Fatalf("sign up without a KEK: %v", err)
	}
	if _, err := s.Show(ctx, kept.ID, "test"); !errors.Is(err, seal.ErrNoKEK) {
		t.Fatalf("show without a KEK: %v", err)
	}
	if _, err := s.WithdrawByEmail(ctx, "ned@example.org"); !errors.Is(err, seal.ErrNoKEK) {
		t.Fatalf("withdraw by email without a KEK: %v", err)
	}
	if _, err := s.SealPlaintext(ctx); !errors.Is(err, seal.ErrNoKEK) {
		t.Fatalf("seal without a KEK: %v", err)
	}
	if n, _ := s.Count(ctx); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
	if _, err := s.FlagDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.WithdrawByCode(ctx, kept.Code); err != nil || n != 1 {
		t.Fatalf("withdraw by code without a KEK: %d, %v", n, err)
	}
}

// TestLegacyEntriesSealed: entries stored in clear before migration 082
// are found, shown and withdrawn as before, and SealPlaintext seals them.
func TestLegacyEntriesSealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, db := newStore(t, start)
	legacy := func(name, email *string, hash string) string {
		var id string
		testenv.Must(t, db.QueryRow(ctx, `INSERT INTO research.volunteers (name, email, has_name, has_email, purpose,
			consent_version, withdrawal_code_sha256, signed_up_on, review_due_on)
			VALUES ($1::text, $2::text, $1::text IS NOT NULL, $2::text IS NOT NULL, 'user_research', 'research-consent-v1', $3, '2025-06-01', '2027-06-01')
			RETURNING volunteer_id::text`, name, email, hash).Scan(&id))
		return id
	}
	p := func(s string) *string { return &s }
	a := legacy(p("Leopold Legacy-Plain"), p("leopold.legacy@example.org"), strings.Repeat("a", 64))
	b := legacy(nil, p("lettice.legacy@example.org"), strings.Repeat("b", 64))
	c := legacy(p("Lavinia Legacy-Gone"), nil, strings.Repeat("c", 64))
	sealedOne := signUp(t, s, "Sybil Sealed", "sybil@example.org")

	// Before sealing: shown, withdrawn by email, due, like sealed ones.
	if e, err := s.Show(ctx, a, "test"); err != nil || e.Name != "Leopold Legacy-Plain" {
		t.Fatalf("show a legacy entry: %+v, %v", e, err)
	}
	if n, err := s.WithdrawByEmail(ctx, "Lettice.Legacy@example.org"); err != nil || n != 1 {
		t.Fatalf("withdraw a legacy entry by email: %d, %v", n, err)
	}
	if _, err := s.Review(ctx, c, research.Delete); err != nil {
		t.Fatal(err)
	}

	n, err := s.SealPlaintext(ctx)
	if err != nil || n != 1 {
		t.Fatalf("seal: %d, %v", n, err)
	}
	var plain int
	testenv.Must(t, db.QueryRow(ctx, `SELECT count(*) FROM research.volunteers WHERE name IS NOT NULL OR email IS NOT NULL OR contact IS NULL`).Scan(&plain))
	if plain != 0 {
		t.Fatalf("%d entries still in clear", plain)
	}
	if strings.Contains(strings.ToLower(dump(t, db)), "leopold") {
		t.Fatal("the table holds the legacy name after sealing")
	}
	if e, err := s.Show(ctx, a, "test"); err != nil || e.Name != "Leopold Legacy-Plain" || e.Email != "leopold.legacy@example.org" {
		t.Fatalf("show the sealed legacy entry: %+v, %v", e, err)
	}
	if e, err := s.Show(ctx, sealedOne.ID, "test"); err != nil || e.Name != "Sybil Sealed" {
		t.Fatalf("show: %+v, %v", e, err)
	}
	if n, err := s.SealPlaintext(ctx); err != nil || n != 0 {
		t.Fatalf("seal again: %d, %v", n, err)
	}
	if n, err := s.WithdrawByEmail(ctx, "leopold.legacy@example.org"); err != nil || n != 1 {
		t.Fatalf("withdraw the sealed legacy entry: %d, %v", n, err)
	}
	var got []string
	for _, e := range entries(t, db) {
		switch e.Kind {
		case KindContactSealed:
			got = append(got, fmt.Sprintf("sealed %v under %v", e.Details["count"], e.Details["kek_id"]))
		case audit.VolunteerDeleted:
			got = append(got, fmt.Sprintf("deleted %s with key %v", e.Details["volunteer_id"], e.Details["key_destroyed"]))
		}
	}
	want := []string{"deleted " + b + " with key false", "deleted " + c + " with key false", "sealed 1 under test-kek", "deleted " + a + " with key true"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("audit entries\n got %v\nwant %v", got, want)
	}
}

// BenchmarkWithdrawByEmail measures a withdrawal by email that matches
// nothing among 2,000 entries: every entry is opened and compared
// (docs/research.md gives the figure).
func BenchmarkWithdrawByEmail(b *testing.B) {
	ctx := context.Background()
	db, _ := testenv.MigratedPool(b)
	s := NewVolunteers(db, nil, WithRing(testRing(b, "bench-kek")))
	for i := range 2000 {
		v, err := research.Draft{Name: fmt.Sprintf("Bench Person %d", i), Email: fmt.Sprintf("bench.%d@example.org", i), Consent: true}.Validate()
		testenv.Must(b, err)
		_, err = s.SignUp(ctx, v)
		testenv.Must(b, err)
	}
	b.ResetTimer()
	for b.Loop() {
		if n, err := s.WithdrawByEmail(ctx, "nobody@example.org"); err != nil || n != 0 {
			b.Fatal(n, err)
		}
	}
}

// walRecords returns a WAL segment's bytes without its page headers. A
// record that crosses a WAL page continues after the next page's header,
// so a value it holds (often inside a full-page image, which is written
// after every checkpoint) can be cut in two by 24 bytes of header: the
// scan would then miss it, about one run in six under load. The first
// page of a segment has the long header (40 bytes), every other page the
// short one (24 bytes, 20 rounded up to 8).
func walRecords(seg []byte, pageSize int) []byte {
	const longHeader, shortHeader = 40, 24
	out := make([]byte, 0, len(seg))
	for off := 0; off < len(seg); off += pageSize {
		header := shortHeader
		if off == 0 {
			header = longHeader
		}
		end := min(off+pageSize, len(seg))
		if off+header < end {
			out = append(out, seg[off+header:end]...)
		}
	}
	return out
}

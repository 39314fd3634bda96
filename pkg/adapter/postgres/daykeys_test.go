package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/audit"
	"booklets/pkg/testkit/testenv"
)

var (
	day      = businessday.Date{Year: 2026, Month: time.May, Day: 7}
	nextDay  = day.AddDays(1)
	personal = []byte(`{"name":"Zebedee Quiggleworth","postcode":"NR21 0AB"}`)
	aad      = seal.OrderAAD("0b4c7a2e-6a43-4d8e-9d43-3f1c6b2a9e01", "BK-7Q4M-2XPD")
)

func destroy(t *testing.T, db *pgxpool.Pool, s *postgres.DayKeys, d businessday.Date) postgres.DayKeyDestruction {
	t.Helper()
	ctx := context.Background()
	var out postgres.DayKeyDestruction
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var err error
		out, err = s.Destroy(ctx, tx, d)
		if err != nil {
			return err
		}
		return postgres.AppendAudit(ctx, tx, audit.Event{Kind: audit.DayKeyDestroyed, BatchID: "B-" + d.String(), Details: postgres.DayKeyDestroyedDetails(out)})
	})
	testenv.Must(t, err)
	return out
}

func TestGetOrCreateIsStable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	r := testenv.Ring(t, testenv.KEKEntry("k1"))
	intake, batcher := postgres.NewDayKeys(db, r), postgres.NewDayKeys(db, r, postgres.WithTTL(0))

	if _, err := batcher.Get(ctx, day); !errors.Is(err, postgres.ErrNoKey) {
		t.Fatalf("Get before any order: %v, want ErrNoKey", err)
	}
	k, err := intake.GetOrCreate(ctx, day)
	testenv.Must(t, err)
	if k.Date() != "2026-05-07" {
		t.Errorf("key for %s", k.Date())
	}
	again, err := intake.GetOrCreate(ctx, day)
	testenv.Must(t, err)
	if again != k {
		t.Error("second GetOrCreate did not come from the cache")
	}
	s, _ := k.Seal(personal, aad)

	// Another process (no shared cache) reads the same key from the table.
	k2, err := batcher.Get(ctx, day)
	testenv.Must(t, err)
	if pt, err := k2.Open(s, aad); err != nil || !bytes.Equal(pt, personal) {
		t.Fatalf("key read back does not open: %v", err)
	}

	// The table holds only the wrapped key.
	var wrapped []byte
	var kek string
	testenv.Must(t, db.QueryRow(ctx, `SELECT kek_id, wrapped FROM day_keys WHERE business_date = '2026-05-07'`).Scan(&kek, &wrapped))
	if kek != "k1" || len(wrapped) != 1+12+32+16 {
		t.Errorf("stored kek_id %s, %d wrapped bytes", kek, len(wrapped))
	}
}

func TestConcurrentGetOrCreateGivesOneKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	r := testenv.Ring(t, testenv.KEKEntry("k1"))

	// Several stores stand for several intake processes, each with its own
	// cache, racing for the first order of the day.
	const stores, perStore = 4, 8
	keys := make(chan *seal.DayKey, stores*perStore)
	var wg sync.WaitGroup
	for range stores {
		s := postgres.NewDayKeys(db, r)
		for range perStore {
			wg.Go(func() {
				k, err := s.GetOrCreate(ctx, day)
				if err != nil {
					t.Error(err)
					return
				}
				keys <- k
			})
		}
	}
	wg.Wait()
	close(keys)

	first := <-keys
	s, _ := first.Seal(personal, aad)
	for k := range keys {
		if _, err := k.Open(s, aad); err != nil {
			t.Fatalf("two different keys for one day: %v", err)
		}
	}
	var n int
	testenv.Must(t, db.QueryRow(ctx, `SELECT count(*) FROM day_keys`).Scan(&n))
	if n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
}

func TestDestroy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	r := testenv.Ring(t, testenv.KEKEntry("k1"))
	s := postgres.NewDayKeys(db, r)

	k, err := s.GetOrCreate(ctx, day)
	testenv.Must(t, err)
	sealed, _ := k.Seal(personal, aad)
	stored, _ := sealed.MarshalBinary() // what the batcher kept in order_personal
	_, err = s.GetOrCreate(ctx, nextDay)
	testenv.Must(t, err)

	d := destroy(t, db, s, day)
	if d.KEKID != "k1" || d.Already {
		t.Errorf("destruction = %+v", d)
	}

	// Refused at once in this process, although the key was cached.
	if _, err := s.Get(ctx, day); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("Get after Destroy: %v, want ErrKeyDestroyed", err)
	}
	if _, err := s.GetOrCreate(ctx, day); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("GetOrCreate after Destroy: %v, want ErrKeyDestroyed", err)
	}
	// And in a fresh process with the same KEK.
	fresh := postgres.NewDayKeys(db, r)
	if _, err := fresh.GetOrCreate(ctx, day); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("GetOrCreate in another process: %v, want ErrKeyDestroyed", err)
	}
	// The other day is untouched.
	if _, err := fresh.Get(ctx, nextDay); err != nil {
		t.Errorf("the next day's key: %v", err)
	}

	// Nothing is left to unwrap: the table holds no key material for the
	// day, only the record of its destruction.
	var (
		wrapped   []byte
		destroyed *time.Time
	)
	testenv.Must(t, db.QueryRow(ctx, `SELECT wrapped, destroyed_at FROM day_keys WHERE business_date = '2026-05-07'`).Scan(&wrapped, &destroyed))
	if wrapped != nil || destroyed == nil {
		t.Errorf("after destroy: %d wrapped bytes, destroyed_at %v", len(wrapped), destroyed)
	}
	if bytes.Contains(stored, personal) {
		t.Fatal("stored value holds the plaintext")
	}

	// Destroying again (a retried record transaction) is harmless.
	if again := destroy(t, db, s, day); !again.Already || again.KEKID != "k1" {
		t.Errorf("second destruction = %+v", again)
	}

	// The destruction is in the audit log, and the chain holds.
	res, err := postgres.VerifyAudit(ctx, db)
	testenv.Must(t, err)
	if !res.OK {
		t.Errorf("audit chain: %+v", res)
	}
	entries, err := postgres.AuditForBatch(ctx, db, "B-2026-05-07")
	testenv.Must(t, err)
	if len(entries) != 2 || entries[0].Kind != audit.DayKeyDestroyed {
		t.Errorf("audit entries: %+v", entries)
	}

	list, err := s.List(ctx)
	testenv.Must(t, err)
	if len(list) != 2 || list[0].Live() || !list[1].Live() {
		t.Errorf("List = %+v", list)
	}
}

func TestDestroyRolledBackKeepsKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	s := postgres.NewDayKeys(db, testenv.Ring(t, testenv.KEKEntry("k1")))
	k, err := s.GetOrCreate(ctx, day)
	testenv.Must(t, err)
	sealed, _ := k.Seal(personal, aad)

	// The batch failed to record: the transaction rolls back, the key stays.
	tx, err := db.Begin(ctx)
	testenv.Must(t, err)
	_, err = s.Destroy(ctx, tx, day)
	testenv.Must(t, err)
	testenv.Must(t, tx.Rollback(ctx))

	k2, err := s.Get(ctx, day)
	if err != nil {
		t.Fatalf("key after rolled-back destroy: %v", err)
	}
	if _, err := k2.Open(sealed, aad); err != nil {
		t.Fatal(err)
	}
}

func TestDestroyDayWithoutKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	s := postgres.NewDayKeys(db, testenv.Ring(t, testenv.KEKEntry("k1")))

	d := destroy(t, db, s, day)
	if d.KEKID != "" || d.Already || postgres.DayKeyDestroyedDetails(d)["key_existed"] != false {
		t.Errorf("destruction = %+v", d)
	}
	// A late order for a day already sent cannot be sealed under a new key.
	if _, err := postgres.NewDayKeys(db, testenv.Ring(t, testenv.KEKEntry("k1"))).GetOrCreate(ctx, day); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("GetOrCreate after destroying a day without key: %v, want ErrKeyDestroyed", err)
	}
}

func TestCacheBoundAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	r := testenv.Ring(t, testenv.KEKEntry("k1"))
	clock := testenv.NewClock(time.Date(2026, 5, 7, 12, 0, 0, 0, time.UTC))
	intake := postgres.NewDayKeys(db, r, postgres.WithClock(clock.Now), postgres.WithTTL(30*time.Second))
	batcher := postgres.NewDayKeys(db, r, postgres.WithClock(clock.Now))

	_, err := intake.GetOrCreate(ctx, day)
	testenv.Must(t, err)
	destroy(t, db, batcher, day)

	// Another process may serve its cached key until the TTL runs out
	// (documented bound) ...
	clock.Advance(29 * time.Second)
	if _, err := intake.GetOrCreate(ctx, day); err != nil {
		t.Errorf("within the TTL: %v", err)
	}
	// ... and not a moment longer.
	clock.Advance(time.Second)
	if _, err := intake.GetOrCreate(ctx, day); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("after the TTL: %v, want ErrKeyDestroyed", err)
	}
}

func TestRotationAndRewrap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	oldKEK, newKEK := testenv.KEKEntry("2026a"), testenv.KEKEntry("2026b")

	before := postgres.NewDayKeys(db, testenv.Ring(t, oldKEK))
	k, err := before.GetOrCreate(ctx, day)
	testenv.Must(t, err)
	sealed, _ := k.Seal(personal, aad)
	_, err = before.GetOrCreate(ctx, nextDay)
	testenv.Must(t, err)
	destroy(t, db, before, nextDay)

	// Rotation: new current KEK, old one kept for unwrapping.
	rotated := postgres.NewDayKeys(db, testenv.Ring(t, newKEK+","+oldKEK), postgres.WithTTL(0))
	k2, err := rotated.Get(ctx, day)
	if err != nil {
		t.Fatalf("old KEK after rotation: %v", err)
	}
	if _, err := k2.Open(sealed, aad); err != nil {
		t.Fatal(err)
	}
	later := nextDay.AddDays(1)
	_, err = rotated.GetOrCreate(ctx, later)
	testenv.Must(t, err)

	// Before rewrapping, removing the old KEK loses the live key.
	removed := postgres.NewDayKeys(db, testenv.Ring(t, newKEK), postgres.WithTTL(0))
	if _, err := removed.Get(ctx, day); !errors.Is(err, seal.ErrUnknownKEK) {
		t.Errorf("removed KEK: %v, want ErrUnknownKEK", err)
	}

	// Rewrap moves the one live key off the old KEK (the destroyed one has
	// nothing to rewrap, the newest is already under the new KEK).
	n, err := rotated.Rewrap(ctx)
	testenv.Must(t, err)
	if n != 1 {
		t.Errorf("rewrapped %d keys, want 1", n)
	}
	list, err := rotated.List(ctx)
	testenv.Must(t, err)
	for _, i := range list {
		if i.Live() && i.KEKID != "2026b" {
			t.Errorf("live key %s still under %s", i.Date, i.KEKID)
		}
	}
	k3, err := removed.Get(ctx, day)
	if err != nil {
		t.Fatalf("after rewrap, without the old KEK: %v", err)
	}
	if pt, err := k3.Open(sealed, aad); err != nil || !bytes.Equal(pt, personal) {
		t.Fatalf("open after rewrap: %v", err)
	}
}

func TestWrongKEK(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	r := testenv.Ring(t, testenv.KEKEntry("k1"))
	_, err := postgres.NewDayKeys(db, r).GetOrCreate(ctx, day)
	testenv.Must(t, err)

	// Same id, different key material: refused as tampered, not misread.
	if _, err := postgres.NewDayKeys(db, testenv.Ring(t, testenv.KEKEntry("k1"))).Get(ctx, day); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("wrong KEK under the right id: %v, want ErrTampered", err)
	}
	// A wrapped key copied onto another date does not unwrap either.
	_, err = db.Exec(ctx, `INSERT INTO day_keys (business_date, kek_id, wrapped, created_at)
		SELECT '2026-05-08', kek_id, wrapped, created_at FROM day_keys WHERE business_date = '2026-05-07'`)
	testenv.Must(t, err)
	if _, err := postgres.NewDayKeys(db, r).Get(ctx, nextDay); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("moved wrapped key: %v, want ErrTampered", err)
	}
}

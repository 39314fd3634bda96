// Package keystore keeps the day keys of pkg/domain/seal in PostgreSQL (table
// day_keys, migrations/020_day_keys.sql), wrapped by the configured
// key-encryption key ring, and destroys them when a day's batch has been
// recorded (crypto-shredding; see docs/privacy.md).
//
// A short in-memory cache spares the intake a database round trip per
// order. Within one process the cache never outlives a Destroy. Across
// processes it does, for at most the TTL: a process that cached a key keeps
// using it for up to TTL after another process destroyed it. The batcher
// therefore destroys a day's key well after that day's cut-off (when it
// records the batch), by which time the intake has long moved on to the
// next day's key; and a key is never created again once destroyed.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/endofday"
)

// ErrNoKey means no key was ever made for that business date, so nothing
// can have been sealed under it. It is the end-of-day stage's, which tells
// it apart when opening orders.
var ErrNoKey = endofday.ErrNoKey

// DefaultDayKeyTTL is how long a key is served from the cache before the
// database is asked again. It bounds, across processes, how long a key
// destroyed by one process can still be used by another.
const DefaultDayKeyTTL = 30 * time.Second

// DB is what the store needs from PostgreSQL; *pgxpool.Pool, *pgx.Conn and
// pgx.Tx all provide it.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DayKeys gets, creates and destroys day keys. It is safe for concurrent use.
type DayKeys struct {
	db   DB
	ring *seal.Ring
	now  func() time.Time
	ttl  time.Duration

	mu    sync.Mutex
	cache map[businessday.Date]cached
	// gone holds the dates this process has destroyed (or tried to, in a
	// transaction that may yet roll back). Their keys are never cached
	// again, so every later lookup asks the database, which knows whether
	// the destruction committed.
	gone map[businessday.Date]bool
}

type cached struct {
	key     *seal.DayKey
	expires time.Time
}

// DayKeyOption changes a Store's defaults.
type DayKeyOption func(*DayKeys)

// WithTTL sets how long keys stay in the cache; 0 turns the cache off.
func WithTTL(d time.Duration) DayKeyOption { return func(s *DayKeys) { s.ttl = d } }

// WithClock sets the clock used for the cache and for the created_at and
// destroyed_at columns.
func WithClock(now func() time.Time) DayKeyOption { return func(s *DayKeys) { s.now = now } }

// NewDayKeys returns a store over db using ring to wrap and unwrap keys.
func NewDayKeys(db DB, ring *seal.Ring, opts ...DayKeyOption) *DayKeys {
	s := &DayKeys{
		db:    db,
		ring:  ring,
		now:   time.Now,
		ttl:   DefaultDayKeyTTL,
		cache: map[businessday.Date]cached{},
		gone:  map[businessday.Date]bool{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// GetOrCreate returns the key of a business date, creating it if this is
// the first order of the day. Concurrent callers, in any number of
// processes, all get the same key. A destroyed key is refused with
// seal.ErrKeyDestroyed: nothing may be sealed under a key that no longer
// exists.
func (s *DayKeys) GetOrCreate(ctx context.Context, day businessday.Date) (*seal.DayKey, error) {
	if k := s.fromCache(day); k != nil {
		return k, nil
	}
	k, err := seal.NewDayKey(day.String())
	if err != nil {
		return nil, fmt.Errorf("create day key %s: %w", day, err)
	}
	w, err := s.ring.Wrap(k)
	if err != nil {
		return nil, fmt.Errorf("create day key %s: %w", day, err)
	}
	// ON CONFLICT DO NOTHING waits for a concurrent insert of the same date
	// to commit, so the SELECT in load then sees the winner's key.
	tag, err := s.db.Exec(ctx, `
		INSERT INTO day_keys (business_date, kek_id, wrapped, created_at)
		VALUES ($1::date, $2, $3, $4)
		ON CONFLICT (business_date) DO NOTHING`,
		day.String(), w.KEKID, w.Data, s.now())
	if err != nil {
		return nil, fmt.Errorf("create day key %s: %w", day, err)
	}
	if tag.RowsAffected() == 1 {
		s.toCache(day, k)
		return k, nil
	}
	k, err = s.load(ctx, day)
	if err != nil {
		return nil, fmt.Errorf("get or create: %w", err)
	}
	return k, nil
}

// Get returns the existing key of a business date: ErrNoKey if there never
// was one, seal.ErrKeyDestroyed if it was destroyed, seal.ErrUnknownKEK if
// it was wrapped by a KEK no longer configured.
func (s *DayKeys) Get(ctx context.Context, day businessday.Date) (*seal.DayKey, error) {
	if k := s.fromCache(day); k != nil {
		return k, nil
	}
	k, err := s.load(ctx, day)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	return k, nil
}

func (s *DayKeys) load(ctx context.Context, day businessday.Date) (*seal.DayKey, error) {
	var (
		kekID     *string
		wrapped   []byte
		destroyed *time.Time
	)
	err := s.db.QueryRow(ctx, `
		SELECT kek_id, wrapped, destroyed_at FROM day_keys WHERE business_date = $1::date`,
		day.String()).Scan(&kekID, &wrapped, &destroyed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("day key %s: %w", day, ErrNoKey)
	}
	if err != nil {
		return nil, fmt.Errorf("read day key %s: %w", day, err)
	}
	if destroyed != nil || wrapped == nil || kekID == nil {
		return nil, fmt.Errorf("day key %s: %w", day, seal.ErrKeyDestroyed)
	}
	k, err := s.ring.Unwrap(day.String(), seal.Wrapped{KEKID: *kekID, Data: wrapped})
	if err != nil {
		return nil, err // Unwrap names the date and the KEK
	}
	s.toCache(day, k)
	return k, nil
}

// DayKeyDestruction describes what Destroy did, for the audit log entry
// and the end-of-day stage's report of a sent batch (KEKID is empty if no
// key was ever made for the date; Already is set for a key destroyed
// before, by a retried record transaction, when nothing changed).
type DayKeyDestruction = endofday.KeyDestroyed

// dayKeyDestroyedDetails are the details of the "day_key_destroyed" audit
// entry.
func dayKeyDestroyedDetails(d DayKeyDestruction) map[string]any {
	m := map[string]any{"business_date": d.Date.String(), "kek_id": d.KEKID}
	if d.KEKID == "" {
		m["key_existed"] = false
	}
	return m
}

// Destroy destroys the key of a business date inside the caller's
// transaction (the batcher's record transaction), so the key goes if and
// only if the batch is recorded as sent. The wrapped key is overwritten
// with NULL; the row stays, with destroyed_at, as the record and so that no
// key is made for that date again. A date that never had a key gets such a
// row too. Destroying twice is harmless (Already is set).
//
// PostgreSQL may keep the old wrapped value in its WAL and backups for a
// while; it is useless without the KEK that wrapped it (docs/privacy.md,
// "Residual copies").
func (s *DayKeys) Destroy(ctx context.Context, tx pgx.Tx, day businessday.Date) (DayKeyDestruction, error) {
	// Forget the key before touching the database: from now on this
	// process asks PostgreSQL every time.
	s.mu.Lock()
	delete(s.cache, day)
	s.gone[day] = true
	s.mu.Unlock()

	d := DayKeyDestruction{Date: day}
	var (
		kekID     *string
		destroyed *time.Time
	)
	err := tx.QueryRow(ctx, `
		SELECT kek_id, destroyed_at FROM day_keys WHERE business_date = $1::date FOR UPDATE`,
		day.String()).Scan(&kekID, &destroyed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// No key yet: leave a destroyed row so that none is ever made. If a
		// concurrent GetOrCreate inserts first, destroy its key instead.
		err = tx.QueryRow(ctx, `
			INSERT INTO day_keys (business_date, kek_id, wrapped, created_at, destroyed_at)
			VALUES ($1::date, NULL, NULL, $2, $2)
			ON CONFLICT (business_date) DO UPDATE
			SET wrapped = NULL, destroyed_at = coalesce(day_keys.destroyed_at, EXCLUDED.destroyed_at)
			RETURNING kek_id`, day.String(), s.now()).Scan(&kekID)
		if err != nil {
			return DayKeyDestruction{}, fmt.Errorf("destroy day key %s: %w", day, err)
		}
	case err != nil:
		return DayKeyDestruction{}, fmt.Errorf("destroy day key %s: %w", day, err)
	case destroyed != nil:
		d.Already = true
	default:
		if _, err := tx.Exec(ctx, `
			UPDATE day_keys SET wrapped = NULL, destroyed_at = $2 WHERE business_date = $1::date`,
			day.String(), s.now()); err != nil {
			return DayKeyDestruction{}, fmt.Errorf("destroy day key %s: %w", day, err)
		}
	}
	if kekID != nil {
		d.KEKID = *kekID
	}
	return d, nil
}

func (s *DayKeys) fromCache(day businessday.Date) *seal.DayKey {
	if s.ttl <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[day]
	if !ok {
		return nil
	}
	if !s.now().Before(c.expires) {
		delete(s.cache, day)
		return nil
	}
	return c.key
}

func (s *DayKeys) toCache(day businessday.Date, k *seal.DayKey) {
	if s.ttl <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone[day] {
		return
	}
	s.cache[day] = cached{key: k, expires: s.now().Add(s.ttl)}
}

// DayKeyInfo is what is recorded about one day key, without the key.
type DayKeyInfo struct {
	Date        businessday.Date
	KEKID       string // empty for a date destroyed before any key was made
	CreatedAt   time.Time
	DestroyedAt time.Time // zero while the key exists
}

// Live reports whether the key still exists.
func (i DayKeyInfo) Live() bool { return i.DestroyedAt.IsZero() }

// List returns every day key record, oldest date first: what a data
// protection officer shows to prove destruction, what the retention
// watchdog checks, and which KEKs still wrap live keys.
func (s *DayKeys) List(ctx context.Context) ([]DayKeyInfo, error) {
	rows, err := s.db.Query(ctx, `
		SELECT business_date::text, coalesce(kek_id, ''), created_at, destroyed_at
		FROM day_keys ORDER BY business_date`)
	if err != nil {
		return nil, fmt.Errorf("list day keys: %w", err)
	}
	var out []DayKeyInfo
	for rows.Next() {
		var (
			i         DayKeyInfo
			date      string
			destroyed *time.Time
		)
		if err := rows.Scan(&date, &i.KEKID, &i.CreatedAt, &destroyed); err != nil {
			return nil, fmt.Errorf("list day keys: %w", err)
		}
		if i.Date, err = businessday.ParseDate(date); err != nil {
			return nil, fmt.Errorf("list day keys: %w", err)
		}
		if destroyed != nil {
			i.DestroyedAt = *destroyed
		}
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list day keys: %w", err)
	}
	return out, nil
}

// Rewrap wraps every live day key that is not under the ring's current KEK
// again under it, and returns how many it rewrapped. After a KEK rotation,
// once Rewrap has run (and List shows no live key under the old KEK), the
// old KEK can be removed from the configuration and destroyed. Keys it
// cannot unwrap are reported together at the end; the others are still
// rewrapped.
func (s *DayKeys) Rewrap(ctx context.Context) (int, error) {
	type row struct {
		date string
		w    seal.Wrapped
	}
	rows, err := s.db.Query(ctx, `
		SELECT business_date::text, kek_id, wrapped FROM day_keys
		WHERE wrapped IS NOT NULL AND kek_id <> $1 ORDER BY business_date`, s.ring.Current())
	if err != nil {
		return 0, fmt.Errorf("rewrap day keys: %w", err)
	}
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.date, &x.w.KEKID, &x.w.Data)
		return x, err
	})
	if err != nil {
		return 0, fmt.Errorf("rewrap day keys: %w", err)
	}
	n := 0
	var errs []error
	for _, x := range todo {
		nw, err := s.ring.Rewrap(x.date, x.w)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Only if nobody destroyed or rewrapped it meanwhile.
		tag, err := s.db.Exec(ctx, `
			UPDATE day_keys SET kek_id = $2, wrapped = $3
			WHERE business_date = $1::date AND kek_id = $4 AND wrapped IS NOT NULL`,
			x.date, nw.KEKID, nw.Data, x.w.KEKID)
		if err != nil {
			errs = append(errs, fmt.Errorf("rewrap day key %s: %w", x.date, err))
			continue
		}
		n += int(tag.RowsAffected())
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("rewrap day keys: %w", err)
	}
	return n, nil
}

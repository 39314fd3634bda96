// Package store is the PostgreSQL adapter of the batcher: it keeps orders
// (their non-personal facts in orders, the personal part in
// order_personal exactly as it came from the stream: sealed under the day
// key of its business date, never opened here), dead letters and the state
// of each day's batch.
//
// Deleting personal data is deleting order_personal rows (and the raw
// bytes of dead letters); everything else is kept for statistics and
// enquiries. Errors name the order reference or batch id, never personal
// data.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/migrations"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/stage/ingest"
)

// ErrLate is told apart with errors.Is, like the errors in errors.go.
var (
	// ErrLate means an order arrived for a business date whose batch (or a
	// later one) is already assembled: it can no longer be sent, and its
	// day key is destroyed or about to be. It is the ingest stage's, which
	// gives up on such an order.
	ErrLate = ingest.ErrLate
)

// assembleLockKey serialises storing an order (shared) with assembling a
// batch (exclusive), so that an order is either in the batch of its day or
// refused as late, never left behind unbatched under a destroyed key.
const assembleLockKey int64 = 0x617373656d626c65 // "assemble"

// Orders is the batcher's database.
type Orders struct {
	pool *pgxpool.Pool
	now  func() time.Time
	// partitions remembers the business dates whose order_personal
	// partition is known to exist (ensurePartitions), so that storing an
	// order costs no extra round trip after the first of its day.
	partitions sync.Map // businessday.Date -> struct{}
}

// OpenOrders connects to PostgreSQL. now is the clock for stored times (time.Now
// if nil).
func OpenOrders(ctx context.Context, url string, now func() time.Time) (*Orders, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The URL may hold a password: do not repeat it.
		return nil, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return NewOrders(pool, now), nil
}

// NewOrders wraps a pool.
func NewOrders(pool *pgxpool.Pool, now func() time.Time) *Orders {
	if now == nil {
		now = time.Now
	}
	return &Orders{pool: pool, now: now}
}

// Pool returns the connection pool.
func (s *Orders) Pool() *pgxpool.Pool { return s.pool }

// Close closes every connection.
func (s *Orders) Close() { s.pool.Close() }

// Migrate applies the schema migrations.
func (s *Orders) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w: %v", ErrUnavailable, err)
	}
	defer conn.Release()
	return migrations.Apply(ctx, conn.Conn())
}

// Ready reports whether the database answers.
func (s *Orders) Ready(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// SaveOrder stores a sealed order once: the facts in orders (its business
// date is the one it was sealed for) and the sealed personal part, as it
// is, in order_personal, in one transaction. Saving an order id that is
// already stored changes nothing and reports false, so redelivered
// messages are harmless. An order whose business date already has its
// batch (or a later one) is refused with ErrLate.
func (s *Orders) SaveOrder(ctx context.Context, o order.SealedOrder) (bool, error) {
	formats := make([]string, len(o.Formats))
	for i, f := range o.Formats {
		formats[i] = string(f)
	}
	personal, err := o.Personal.MarshalBinary()
	if err != nil {
		return false, fmt.Errorf("save order %s: %w: %v", o.Reference, ErrConflict, err)
	}
	langs, err := joinLanguages(o.Languages)
	if err != nil {
		return false, fmt.Errorf("save order %s: %w", o.Reference, err)
	}
	date := o.BusinessDate
	if err := s.ensurePartitions(ctx, []businessday.Date{date}); err != nil {
		return false, fmt.Errorf("save order %s: %w", o.Reference, err)
	}
	var inserted bool
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, assembleLockKey); err != nil {
			return err
		}
		var stored bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = $1)`, o.ID).Scan(&stored); err != nil {
			return err
		}
		if stored {
			return nil // redelivered: harmless, even after its batch
		}
		var late bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM batches WHERE business_date >= $1)
			OR EXISTS (SELECT 1 FROM day_keys WHERE business_date = $1 AND destroyed_at IS NOT NULL)`,
			date.UTC()).Scan(&late); err != nil {
			return err
		}
		if late {
			return ErrLate
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO orders (order_id, reference, received_at, business_date, area, formats, languages, stored_at)
			VALUES ($1, $2, $3, $4, $5, $6, string_to_array($8, ','), $7)
			ON CONFLICT (order_id) DO NOTHING`,
			o.ID, o.Reference.String(), o.ReceivedAt, date.UTC(), o.Area, formats, s.now(), langs)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		inserted = true
		_, err = tx.Exec(ctx, `
			INSERT INTO order_personal (order_id, business_date, received_at, reference, area, formats, languages, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			o.ID, date.UTC(), o.ReceivedAt, o.Reference.String(), o.Area, strings.Join(formats, ","), langs, personal)
		return err
	})
	if errors.Is(err, ErrLate) {
		return false, fmt.Errorf("save order %s of %s: %w", o.Reference, date, ErrLate)
	}
	if err != nil {
		return false, fmt.Errorf("save order %s: %w", o.Reference, dbErr(err))
	}
	return inserted, nil
}

// ensurePartitions makes sure order_personal has a partition for each of
// the dates (migration 070) before orders of those dates are stored. It runs
// outside the storing transaction, so that the brief lock that creating a
// partition takes on order_personal is not held while orders are inserted.
// No partition is made for a date a batch already covers: its orders are
// refused as late anyway, and the insert never reaches the table.
func (s *Orders) ensurePartitions(ctx context.Context, dates []businessday.Date) error {
	for _, d := range dates {
		if _, ok := s.partitions.Load(d); ok {
			continue
		}
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT order_personal_partition($1)`, d.UTC()).Scan(&exists); err != nil {
			return fmt.Errorf("partition of order_personal for %s: %w", d, dbErr(err))
		}
		if exists {
			s.partitions.Store(d, struct{}{})
		}
	}
	return nil
}

// DeadLetter is a stream message that could not be taken as an order.
type DeadLetter = ingest.DeadLetter

// SaveDeadLetter stores a dead letter once per stream sequence and reports
// whether it was new.
func (s *Orders) SaveDeadLetter(ctx context.Context, d DeadLetter) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO dead_letters (stream, stream_sequence, subject, reason, data, received_at, business_date)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (stream, stream_sequence) DO NOTHING`,
		d.Stream, int64(d.Sequence), d.Subject, d.Reason, d.Data, d.ReceivedAt, d.BusinessDate.UTC())
	if err != nil {
		return false, fmt.Errorf("save dead letter (stream sequence %d): %w", d.Sequence, dbErr(err))
	}
	return tag.RowsAffected() == 1, nil
}

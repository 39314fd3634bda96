package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/endofday"
)

// The states of a batch are the end-of-day stage's (column batches.state).
const (
	StateAssembling = endofday.StateAssembling
	StateUploaded   = endofday.StateUploaded
	StateSent       = endofday.StateSent
)

// Batch is a day's batch, as the end-of-day stage knows it. Its Encryption
// is column batches.encryption (migration 080).
type Batch = endofday.Batch

const batchColumns = `batch_id, business_date, state, record_count, order_count, coalesce(sha256, ''),
	data_file, manifest_file, created_at, uploaded_at, sent_at, delivery_date, due_date, attempts, encryption`

func scanBatch(row pgx.Row) (Batch, error) {
	var b Batch
	var date time.Time
	var uploaded, sent, delivery, due *time.Time
	err := row.Scan(&b.ID, &date, &b.State, &b.RecordCount, &b.OrderCount, &b.SHA256,
		&b.DataFile, &b.ManifestFile, &b.CreatedAt, &uploaded, &sent, &delivery, &due, &b.Attempts, &b.Encryption)
	if err != nil {
		return Batch{}, err
	}
	b.Date = businessday.FromTime(date)
	if uploaded != nil {
		b.UploadedAt = *uploaded
	}
	if sent != nil {
		b.SentAt = *sent
	}
	if delivery != nil {
		b.DeliveryDate = businessday.FromTime(*delivery)
	}
	if due != nil {
		b.DueDate = businessday.FromTime(*due)
	}
	return b, nil
}

// BatchFor returns the batch of a business date, or ErrNotFound.
func (s *Orders) BatchFor(ctx context.Context, date businessday.Date) (Batch, error) {
	b, err := scanBatch(s.pool.QueryRow(ctx, `SELECT `+batchColumns+` FROM batches WHERE business_date = $1`, date.UTC()))
	if errors.Is(err, pgx.ErrNoRows) {
		return Batch{}, fmt.Errorf("batch for %s: %w", date, ErrNotFound)
	}
	if err != nil {
		return Batch{}, fmt.Errorf("batch for %s: %w", date, dbErr(err))
	}
	return b, nil
}

// Unfinished returns the batches not yet sent of dates before the given
// one, oldest first: a run that crashed and was never resumed.
func (s *Orders) Unfinished(ctx context.Context, before businessday.Date) ([]Batch, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+batchColumns+` FROM batches
		WHERE state <> 'sent' AND business_date < $1 ORDER BY business_date`, before.UTC())
	if err != nil {
		return nil, fmt.Errorf("unfinished batches: %w", dbErr(err))
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Batch, error) { return scanBatch(r) })
	if err != nil {
		return nil, fmt.Errorf("unfinished batches: %w", dbErr(err))
	}
	return bs, nil
}

// Unsent reports whether anything of the business days up to closed is
// still to be sent: a batch not sent yet (a failed or interrupted run), or
// personal data of an order of such a day in no batch yet (the end of
// day's run failed before assembling, or nothing ran at the cut-off).
// Batches cover consecutive date ranges up to the latest batch's date
// (Assemble), so an order in no batch is one of a later date. A closed day
// with no orders owes nothing.
func (s *Orders) Unsent(ctx context.Context, closed businessday.Date) (bool, error) {
	var unsent bool
	err := s.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT FROM batches WHERE state <> 'sent' AND business_date <= $1)
			OR EXISTS (SELECT FROM order_personal WHERE business_date <= $1
				AND business_date > coalesce((SELECT max(business_date) FROM batches), '-infinity'::date))`,
		closed.UTC()).Scan(&unsent)
	if err != nil {
		return false, fmt.Errorf("unsent days up to %s: %w", closed, dbErr(err))
	}
	return unsent, nil
}

// SendLockKey is the advisory lock key held while a batch is sent ("batch"
// in ASCII), so that one replica sends and the others stand aside.
const SendLockKey int64 = 0x6261746368

// SendLock is the held sending lock, on a connection of its own.
type SendLock struct {
	conn *pgxpool.Conn
}

// TryLockSending takes the sending lock if no other process holds it. It
// is a session lock on a dedicated connection: it lasts across the several
// transactions of a send, and PostgreSQL frees it if the process dies.
// It returns the end-of-day stage's Lock (a *SendLock), so that *Orders is
// its Store.
func (s *Orders) TryLockSending(ctx context.Context) (endofday.Lock, bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("take the sending lock: %w", dbErr(err))
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, SendLockKey).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("take the sending lock: %w", dbErr(err))
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return &SendLock{conn: conn}, true, nil
}

// Release frees the lock. If unlocking fails the connection is closed,
// which frees it too.
func (l *SendLock) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, SendLockKey); err != nil {
		_ = l.conn.Conn().Close(ctx)
	}
	l.conn.Release()
}

// Assemble returns the batch of candidate.Date, creating it from candidate
// if there is none: it then holds every order of that date or earlier that
// is in no batch yet (and not erased). An existing batch is returned as it
// is, with its own id, orders and encryption, so that a run after a crash
// resumes the same batch the same way. candidate.Encryption records how its
// file is to be sent; left empty it is what the data file's name says.
//
// A batch being assembled has no counts yet (zero): they are those of the
// file, set when it is uploaded (MarkUploaded). Counting here would scan
// every order of the batch once more, inside the lock that holds up
// storing orders, for figures the file gives anyway; CountBatch counts when
// they are needed before that.
//
// Orders are not marked: a batch holds the orders of a range of business
// dates, from the day after the latest existing batch's date (first_date)
// to its own. That is exactly "in no batch yet" because an order of a date
// some batch already covers is refused as late (SaveOrder, under the lock
// taken here), and it spares rewriting every order of the day
// (docs/performance.md).
func (s *Orders) Assemble(ctx context.Context, candidate Batch) (Batch, bool, error) {
	if candidate.Encryption == "" {
		// What the file name says, as migration 080 did for existing
		// batches; the database refuses a value that contradicts it.
		candidate.Encryption = batchfile.EncryptionNone
		if strings.HasSuffix(candidate.DataFile, ".gpg") {
			candidate.Encryption = batchfile.EncryptionOpenPGP
		}
	}
	var b Batch
	var created bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Orders being stored wait for this transaction, and then see the
		// batch and are refused as late (SaveOrder).
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, assembleLockKey); err != nil {
			return err
		}
		// Two assemblers of the same day (only possible without the sending
		// lock) meet here: the loser's insert waits and then does nothing.
		tag, err := tx.Exec(ctx, `
			INSERT INTO batches (batch_id, business_date, state, data_file, manifest_file, created_at, first_date, encryption)
			VALUES ($1, $2, 'assembling', $3, $4, $5, coalesce(
				(SELECT max(business_date) + 1 FROM batches),
				(SELECT least(min(business_date), $2) FROM orders),
				$2), $6)
			ON CONFLICT (business_date) DO NOTHING`,
			candidate.ID, candidate.Date.UTC(), candidate.DataFile, candidate.ManifestFile, candidate.CreatedAt, candidate.Encryption)
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		b, err = scanBatch(tx.QueryRow(ctx, `SELECT `+batchColumns+` FROM batches WHERE business_date = $1`, candidate.Date.UTC()))
		return err
	})
	if err != nil {
		return Batch{}, false, fmt.Errorf("assemble batch for %s: %w", candidate.Date, dbErr(err))
	}
	return b, created, nil
}

// CountBatch counts the orders a batch holds and the records (one per
// format and language) its file has: the counts its file must show. A sender needs them
// only to check a file the partner already has, before the batch's own
// counts are set from the file it uploaded.
func (s *Orders) CountBatch(ctx context.Context, batchID string) (orders, records int, err error) {
	err = s.pool.QueryRow(ctx, `
		SELECT count(*), coalesce(sum(cardinality(o.formats) * cardinality(o.languages)), 0)
		FROM batches b JOIN orders o
			ON o.business_date BETWEEN `+batchFirstDate+` AND b.business_date AND o.erased_at IS NULL
		WHERE b.batch_id = $1`, batchID).Scan(&orders, &records)
	if err != nil {
		return 0, 0, fmt.Errorf("count batch %s: %w", batchID, dbErr(err))
	}
	return orders, records, nil
}

// batchFirstDate is the first business date a batch b holds orders of
// (migration 050): its first_date, or its own date for a batch made
// without one.
const batchFirstDate = `coalesce(b.first_date, b.business_date)`

// BatchOrder is an order as read for the batch file.
type BatchOrder = endofday.BatchOrder

// EachOrder streams the orders of a batch that still have their personal
// part, in a fixed order (business date, received time, reference), to fn.
// Rows are read from PostgreSQL as fn consumes them, so memory does not
// grow with the size of the batch. fn's error stops the stream and is
// returned as it is.
//
// The rows come from order_personal alone, which holds with each sealed
// personal part the facts the file needs (migration 070): one index scan
// of the batch's day partitions in file order, where joining orders cost
// PostgreSQL 2-3 s of CPU at a million orders. Erased orders have no row
// there. The rows are streamed by one query: PostgreSQL produces them while
// the batch file is written and uploaded, held back only by the socket's
// buffers when the batcher falls behind. (A cursor fetched 10,000 rows at a
// time left PostgreSQL idle while each lot was handled and the batcher idle
// while the next was produced: 0.4 s more at a million orders, as did
// FETCH ALL.)
func (s *Orders) EachOrder(ctx context.Context, batchID string, fn func(BatchOrder) error) error {
	var fnErr error
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// The range first, so that the cursor's plan knows it.
		var first, last time.Time
		err := tx.QueryRow(ctx, `SELECT `+batchFirstDate+`, b.business_date FROM batches b WHERE b.batch_id = $1`,
			batchID).Scan(&first, &last)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // no such batch: no orders
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, eachOrderSettings); err != nil {
			return err
		}
		// Stopping early (fn's error, a row that cannot be decoded) cancels
		// the query: closing the rows would otherwise read, and PostgreSQL
		// produce, the rest of the batch first.
		queryCtx, cancelQuery := context.WithCancel(ctx)
		defer cancelQuery()
		rows, err := tx.Query(queryCtx, eachOrderQuery, first, last)
		if err != nil {
			return err
		}
		defer rows.Close()
		var dec rowDecoder
		for rows.Next() {
			o, err := dec.decode(rows.FieldDescriptions(), rows.RawValues())
			if err != nil {
				cancelQuery()
				return err
			}
			if fnErr = fn(o); fnErr != nil {
				cancelQuery()
				return fnErr
			}
		}
		return rows.Err()
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("read orders of batch %s: %w", batchID, dbErr(err))
	}
	return nil
}

// eachOrderSettings apply to EachOrder's transaction. Compiling the query's
// expressions (JIT) would cost more than the few it evaluates per row. The
// index gives the rows in file order as they are read; a sort, which the
// planner may prefer for a batch whose partition has no statistics yet,
// would read (and spill to disk) the whole batch before the first row
// could be written.
const eachOrderSettings = `SET LOCAL jit = off; SET LOCAL enable_sort = off`

// eachOrderQuery reads a batch's rows, in file order, from the day
// partitions of its dates ($1 to $2).
const eachOrderQuery = `
	SELECT order_id, reference, area, formats, business_date, data, languages
	FROM order_personal
	WHERE business_date BETWEEN $1 AND $2
	ORDER BY business_date, received_at, reference`

// NoteAttempt counts a failed attempt to send a batch and keeps a short
// reason (never personal data) for operators.
func (s *Orders) NoteAttempt(ctx context.Context, batchID, reason string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE batches SET attempts = attempts + 1, last_error = $2 WHERE batch_id = $1`,
		batchID, reason); err != nil {
		return fmt.Errorf("note attempt for batch %s: %w", batchID, dbErr(err))
	}
	return nil
}

// MarkUploaded records that both files are verified at the partner.
func (s *Orders) MarkUploaded(ctx context.Context, batchID, sha256 string, records, orders int) error {
	if _, err := s.pool.Exec(ctx, `
		UPDATE batches SET state = 'uploaded', sha256 = $2, record_count = $3, order_count = $4, uploaded_at = $5
		WHERE batch_id = $1 AND state = 'assembling'`,
		batchID, sha256, records, orders, s.now()); err != nil {
		return fmt.Errorf("mark batch %s uploaded: %w", batchID, dbErr(err))
	}
	return nil
}

// Sent is what recording a sent batch needs.
type Sent = endofday.Sent

// Deleted says how much personal data recording a batch deleted: Orders
// counts order_personal rows.
type Deleted = endofday.Deleted

// RecordSent records a verified upload and deletes the personal data of
// its orders, in one transaction: the batch becomes 'sent' with its sent
// time (when its orders' personal data was deleted: view
// orders_with_batch), delivery and due dates; its orders lose their
// order_personal rows; dead letters of its period lose their
// raw bytes; and the audit log gets "batch_sent" and
// "personal_data_deleted". Recording a batch that is already sent changes
// nothing. It destroys no day key: EndOfDayStore.RecordSent does.
func (s *Orders) RecordSent(ctx context.Context, r Sent) (Deleted, error) {
	return s.recordSent(ctx, r, nil)
}

// recordSent is RecordSent. keys, when set, destroys in the record
// transaction the day key of the batch's date and of every earlier date
// whose key is still live (their orders are in this batch or earlier
// ones): crypto-shredding every copy of their sealed personal data, stream
// and backups included. Each destruction is recorded as
// "day_key_destroyed".
func (s *Orders) recordSent(ctx context.Context, r Sent, keys *DayKeys) (Deleted, error) {
	var del Deleted
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var state string
		var date time.Time
		var dataFile, encryption string
		err := tx.QueryRow(ctx, `SELECT state, business_date, data_file, encryption FROM batches WHERE batch_id = $1 FOR UPDATE`,
			r.BatchID).Scan(&state, &date, &dataFile, &encryption)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if state == StateSent {
			return nil
		}
		now := s.now()
		// Deleting is dropping the day partitions of the batch's range
		// (migration 070): their files are unlinked at commit, where a
		// DELETE of a million rows took over a second and left them as dead
		// tuples until VACUUM.
		var first time.Time
		if err := tx.QueryRow(ctx, `SELECT `+batchFirstDate+` FROM batches b WHERE b.batch_id = $1`,
			r.BatchID).Scan(&first); err != nil {
			return err
		}
		var dropped int64
		if err := tx.QueryRow(ctx, `SELECT order_personal_drop($1, $2)`, first, date).Scan(&dropped); err != nil {
			return err
		}
		del.Orders = int(dropped)
		tag, err := tx.Exec(ctx, `UPDATE dead_letters SET data = NULL, data_deleted_at = $2
			WHERE business_date <= $1 AND data IS NOT NULL`, date, now)
		if err != nil {
			return err
		}
		del.DeadLetters = int(tag.RowsAffected())
		if _, err := tx.Exec(ctx, `UPDATE batches SET state = 'sent', sha256 = $2, record_count = $3, order_count = $4,
				uploaded_at = coalesce(uploaded_at, $5), sent_at = $5, delivery_date = $6, due_date = $7, last_error = NULL
			WHERE batch_id = $1`,
			r.BatchID, r.SHA256, r.Records, r.Orders, r.SentAt, r.DeliveryDate.UTC(), r.DueDate.UTC()); err != nil {
			return err
		}
		log := AuditAppender{Now: s.now}
		if _, err := log.Append(ctx, tx, audit.Event{Kind: audit.BatchSent, BatchID: r.BatchID, Details: map[string]any{
			"business_date": businessday.FromTime(date).String(),
			"data_file":     dataFile,
			"encryption":    encryption,
			"record_count":  r.Records,
			"order_count":   r.Orders,
			"sha256":        r.SHA256,
			"delivery_date": r.DeliveryDate.String(),
			"due_date":      r.DueDate.String(),
		}}); err != nil {
			return err
		}
		if _, err := log.Append(ctx, tx, audit.Event{Kind: audit.PersonalDataDeleted, BatchID: r.BatchID, Details: map[string]any{
			"count":        del.Orders,
			"dead_letters": del.DeadLetters,
		}}); err != nil {
			return err
		}
		// The copy kept for a resend is recorded with the send, so that
		// no batch is sent with kept files the record does not know of.
		if r.Retained != nil {
			if err := recordRetained(ctx, tx, log, r.BatchID, r.Retained); err != nil {
				return err
			}
		}
		if keys == nil {
			return nil
		}
		day := businessday.FromTime(date)
		rows, err := tx.Query(ctx, `SELECT business_date FROM day_keys
			WHERE business_date < $1 AND destroyed_at IS NULL ORDER BY business_date`, date)
		if err != nil {
			return err
		}
		days, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (businessday.Date, error) {
			var t time.Time
			err := r.Scan(&t)
			return businessday.FromTime(t), err
		})
		if err != nil {
			return err
		}
		for _, d := range append(days, day) {
			x, err := keys.Destroy(ctx, tx, d)
			if err != nil {
				return err
			}
			del.DayKeys = append(del.DayKeys, x)
			if x.Already {
				continue
			}
			if _, err := log.Append(ctx, tx, audit.Event{Kind: audit.DayKeyDestroyed, BatchID: r.BatchID, Details: dayKeyDestroyedDetails(x)}); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Deleted{}, fmt.Errorf("record batch %s: %w", r.BatchID, ErrNotFound)
	}
	if err != nil {
		return Deleted{}, fmt.Errorf("record batch %s: %w", r.BatchID, dbErr(err))
	}
	return del, nil
}

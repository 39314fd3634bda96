package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/stage/ingest"
)

// Saved is what SaveOrders did with one order: the ingest stage's
// outcomes.
type Saved = ingest.Saved

// The outcomes of SaveOrders for one order.
const (
	// Inserted: the order is new and now stored.
	Inserted = ingest.Inserted
	// Duplicate: the order id was stored already (a redelivery, or the same
	// order twice in one call): nothing changed, as with SaveOrder.
	Duplicate = ingest.Duplicate
	// Late: refused like SaveOrder's ErrLate: its business date's batch (or
	// a later one) is assembled, or its day key destroyed. Nothing stored.
	Late = ingest.Late
)

// saveOrders stores many orders with one statement. The checks are those of
// SaveOrder, made per order inside the statement: an order id already
// stored is a duplicate (even after its batch); otherwise an order whose
// business date has a batch (or a later one) or a destroyed day key is
// late; the rest is inserted, facts and sealed personal part together.
// ON CONFLICT covers an order another replica stores at the same moment.
//
// Every sub-statement of a WITH query sees the same snapshot, so "stored"
// is what was there before this statement; the foreign key of
// order_personal is checked at the end of the statement, after the orders
// rows exist.
const saveOrders = `
	WITH input AS (
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::date[], $5::text[], $6::text[], $7::bytea[], $9::text[])
			WITH ORDINALITY AS u(order_id, reference, received_at, business_date, area, formats, data, languages, n)
	), status AS (
		SELECT i.*,
			EXISTS (SELECT 1 FROM orders o WHERE o.order_id = i.order_id) AS stored,
			EXISTS (SELECT 1 FROM batches b WHERE b.business_date >= i.business_date)
				OR EXISTS (SELECT 1 FROM day_keys k WHERE k.business_date = i.business_date AND k.destroyed_at IS NOT NULL) AS late
		FROM input i
	), ins AS (
		INSERT INTO orders (order_id, reference, received_at, business_date, area, formats, languages, stored_at)
		SELECT order_id, reference, received_at, business_date, area, string_to_array(formats, ','), string_to_array(languages, ','), $8
		FROM status WHERE NOT stored AND NOT late
		ON CONFLICT (order_id) DO NOTHING
		RETURNING order_id
	), personal AS (
		INSERT INTO order_personal (order_id, business_date, received_at, reference, area, formats, languages, data)
		SELECT s.order_id, s.business_date, s.received_at, s.reference, s.area, s.formats, s.languages, s.data
		FROM status s JOIN ins ON ins.order_id = s.order_id
	)
	SELECT s.n, s.stored, s.late, ins.order_id IS NOT NULL
	FROM status s LEFT JOIN ins ON ins.order_id = s.order_id`

// SaveOrders stores a batch of sealed orders in one transaction of three
// round trips, with the checks and outcomes of SaveOrder for each (see
// Saved); the results are in the order of os. It is how the consumer
// keeps up with the stream: one order per transaction is bound by round
// trips, not by PostgreSQL's work.
//
// Any error fails the whole call and stores nothing: an order the batch
// cannot hold (a reference already used by another order id: ErrConflict)
// fails the others with it, so the caller then stores the orders one by
// one with SaveOrder to find it.
func (s *Orders) SaveOrders(ctx context.Context, os []order.SealedOrder) ([]Saved, error) {
	if len(os) == 0 {
		return nil, nil
	}
	n := len(os)
	var (
		ids      = make([]string, 0, n)
		refs     = make([]string, 0, n)
		received = make([]time.Time, 0, n)
		dates    = make([]time.Time, 0, n)
		areas    = make([]string, 0, n)
		formats  = make([]string, 0, n)
		langs    = make([]string, 0, n) // joined by commas, as formats
		personal = make([][]byte, 0, n)
		first    = make(map[string]int, n) // order id -> index in the arrays
		index    = make([]int, n)          // os[i] -> index in the arrays
	)
	var b strings.Builder
	for i, o := range os {
		if j, ok := first[o.ID]; ok {
			index[i] = -1 - j // the same order twice in one call: the second is a duplicate
			continue
		}
		data, err := o.Personal.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("save order %s: %w: %v", o.Reference, ErrConflict, err)
		}
		b.Reset()
		for k, f := range o.Formats {
			if strings.Contains(string(f), ",") {
				return nil, fmt.Errorf("save order %s: %w: a format name holds a comma", o.Reference, ErrConflict)
			}
			if k > 0 {
				b.WriteByte(',')
			}
			b.WriteString(string(f))
		}
		joined, err := joinLanguages(o.Languages)
		if err != nil {
			return nil, fmt.Errorf("save order %s: %w", o.Reference, err)
		}
		first[o.ID] = len(ids)
		index[i] = len(ids)
		ids = append(ids, o.ID)
		refs = append(refs, o.Reference.String())
		received = append(received, o.ReceivedAt)
		dates = append(dates, o.BusinessDate.UTC())
		areas = append(areas, o.Area)
		formats = append(formats, b.String())
		langs = append(langs, joined)
		personal = append(personal, data)
	}
	var days []businessday.Date
	for _, o := range os {
		if !slices.Contains(days, o.BusinessDate) {
			days = append(days, o.BusinessDate)
		}
	}
	if err := s.ensurePartitions(ctx, days); err != nil {
		return nil, fmt.Errorf("save %d orders: %w", n, err)
	}
	got := make([]Saved, len(ids))
	seen := make([]bool, len(ids))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The lock and the insert are separate statements on purpose: the
		// insert's snapshot is taken after the lock is granted, so it sees
		// a batch assembled while this call waited (and refuses its day's
		// orders as late).
		batch := &pgx.Batch{}
		batch.Queue(`SELECT pg_advisory_xact_lock_shared($1)`, assembleLockKey)
		batch.Queue(saveOrders, ids, refs, received, dates, areas, formats, personal, s.now(), langs)
		br := tx.SendBatch(ctx, batch)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var k int64 // 1-based position in the arrays
			var stored, late, inserted bool
			if err := rows.Scan(&k, &stored, &late, &inserted); err != nil {
				rows.Close()
				return err
			}
			if k < 1 || int(k) > len(ids) {
				rows.Close()
				return fmt.Errorf("outcome for position %d of %d", k, len(ids))
			}
			seen[k-1] = true
			switch {
			case inserted:
				got[k-1] = Inserted
			case stored || !late:
				got[k-1] = Duplicate // stored before, or by another replica meanwhile
			default:
				got[k-1] = Late
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return br.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("save %d orders: %w", n, dbErr(err))
	}
	out := make([]Saved, n)
	for i, j := range index {
		if j < 0 {
			out[i] = Duplicate
			continue
		}
		if !seen[j] {
			return nil, fmt.Errorf("save %d orders: %w: no outcome for order %s", n, ErrUnavailable, os[i].Reference)
		}
		out[i] = got[j]
	}
	return out, nil
}

// joinLanguages is an order's booklet languages as order_personal holds
// them, joined by commas (migration 090): "en" for none, as an order made
// before issue 18 is English. The few combinations are constants, so the
// usual orders cost no allocation; a language that is not one of ours (no
// message passing order.UnmarshalSealed has one) is refused, as the
// database would refuse it.
func joinLanguages(ls []order.Language) (string, error) {
	switch {
	case len(ls) == 0, len(ls) == 1 && ls[0] == order.English:
		return "en", nil
	case len(ls) == 1 && ls[0] == order.Welsh:
		return "cy", nil
	case len(ls) == 2 && ls[0] == order.English && ls[1] == order.Welsh:
		return "en,cy", nil
	}
	var b strings.Builder
	for i, l := range ls {
		if !l.Valid() {
			return "", fmt.Errorf("%w: unknown booklet language", ErrConflict)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(l))
	}
	return b.String(), nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// OrderCounts returns how many orders each of the given batches holds, by
// batch id, as the batcher recorded when it sent the batch (a record is a
// booklet to print; an order may ask for several). Batches not found are
// left out. It makes the ledger an auditors.OrderCountSource.
func (l *Ledger) OrderCounts(ctx context.Context, batchIDs []string) (map[string]int, error) {
	rows, err := l.db.Query(ctx, `SELECT batch_id, order_count FROM batches WHERE batch_id = ANY($1)`, batchIDs)
	if err != nil {
		return nil, fmt.Errorf("ledger: read order counts: %w", err)
	}
	out := make(map[string]int, len(batchIDs))
	var id string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		out[id] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("ledger: read order counts: %w", err)
	}
	return out, nil
}

// BatchOfReference returns the batch an order went out in: its batch id,
// "" when the order is in no batch (not assembled yet, or erased before),
// and found false when no order has that (canonical) reference. Batch
// membership follows from the dates (migration 050, orders_with_batch).
// Nothing else about the order is read. It makes the ledger an
// auditors.ReferenceSource.
func (l *Ledger) BatchOfReference(ctx context.Context, ref string) (batchID string, found bool, err error) {
	var id *string
	err = l.db.QueryRow(ctx, `SELECT batch_id FROM orders_with_batch WHERE reference = $1`, ref).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("ledger: find the batch of an order: %w", err)
	}
	if id != nil {
		batchID = *id
	}
	return batchID, true, nil
}

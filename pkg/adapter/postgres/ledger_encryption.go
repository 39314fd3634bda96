package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// BatchEncryption returns how the data file of each of the given batches
// was sent, by batch id, as the batcher decided when it assembled the batch
// (migration 080): "openpgp" (encrypted to the partner's key) or "none"
// (plain CSV). Batches not found are left out. It makes the ledger an
// auditweb.EncryptionSource.
func (l *Ledger) BatchEncryption(ctx context.Context, batchIDs []string) (map[string]string, error) {
	rows, err := l.db.Query(ctx, `SELECT batch_id, encryption FROM batches WHERE batch_id = ANY($1)`, batchIDs)
	if err != nil {
		return nil, fmt.Errorf("ledger: read batch encryption: %w", err)
	}
	out := make(map[string]string, len(batchIDs))
	var id, enc string
	if _, err := pgx.ForEachRow(rows, []any{&id, &enc}, func() error {
		out[id] = enc
		return nil
	}); err != nil {
		return nil, fmt.Errorf("ledger: read batch encryption: %w", err)
	}
	return out, nil
}

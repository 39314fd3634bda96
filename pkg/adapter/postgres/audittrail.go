package postgres

import (
	"context"
	"fmt"

	"booklets/pkg/stage/audit"
	"booklets/pkg/stage/reconcile"
)

// AuditTrail is pkg/stage/reconcile's AuditTrail over audit_log: what the
// auditors' page and the reconciler's metrics check the batches and
// confirmations tables against.
type AuditTrail struct {
	DB Querier
}

var _ reconcile.AuditTrail = AuditTrail{}

// BatchTrail implements reconcile.AuditTrail: one streamed pass over the
// whole chain in seq order, verifying every entry and keeping the batch
// entries the check reads. Entries after a break are not kept: they are
// not proven.
func (a AuditTrail) BatchTrail(ctx context.Context) (reconcile.Trail, error) {
	rows, err := a.DB.Query(ctx, selectEntries+" ORDER BY seq")
	if err != nil {
		return reconcile.Trail{}, fmt.Errorf("audit log: read the batch trail: %w", err)
	}
	defer rows.Close()
	v := audit.NewVerifier()
	t := reconcile.Trail{Entries: map[string][]audit.Entry{}}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return reconcile.Trail{}, fmt.Errorf("audit log: read the batch trail: %w", err)
		}
		if !v.Add(e) {
			break
		}
		switch e.Kind {
		case audit.BatchSent, audit.ConfirmationAccepted, audit.ConfirmationRejected:
			if e.BatchID != "" {
				t.Entries[e.BatchID] = append(t.Entries[e.BatchID], e)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return reconcile.Trail{}, fmt.Errorf("audit log: read the batch trail: %w", err)
	}
	t.Chain = v.Result()
	return t, nil
}

package postgres_test

import (
	"context"
	"testing"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/stage/audit"
	"booklets/pkg/testkit/testenv"
)

// BatchTrail verifies the chain and keeps, by batch, the entries the
// reconciler checks the tables against; entries from a broken entry on
// are not kept: they are not proven.
func TestBatchTrail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := database(t)
	appendAll(t, db, fixedClock(),
		audit.Event{Kind: audit.BatchSent, BatchID: "B1", Details: map[string]any{"due_date": "2025-04-14", "record_count": 3}},
		audit.Event{Kind: audit.PersonalDataDeleted, BatchID: "B1", Details: map[string]any{"count": 3}},
		audit.Event{Kind: audit.ConfirmationRejected, BatchID: "B1", Details: map[string]any{"reason": "sha256 does not match"}},
		audit.Event{Kind: audit.ConfirmationAccepted, BatchID: "B1", Details: map[string]any{"file_sha256": "ab"}},
		audit.Event{Kind: audit.BatchSent, BatchID: "B2", Details: map[string]any{"due_date": "2025-04-15"}},
		audit.Event{Kind: audit.ConfirmationsUnmatched, Details: map[string]any{"files": 1}},
	)
	tr, err := postgres.AuditTrail{DB: db}.BatchTrail(ctx)
	testenv.Must(t, err)
	kinds := func(id string) (out []audit.Kind) {
		for _, e := range tr.Entries[id] {
			out = append(out, e.Kind)
		}
		return out
	}
	if !tr.Chain.OK || tr.Chain.Entries != 6 || len(tr.Entries) != 2 {
		t.Fatalf("chain %+v, %d batches", tr.Chain, len(tr.Entries))
	}
	if k := kinds("B1"); len(k) != 3 || k[0] != audit.BatchSent || k[1] != audit.ConfirmationRejected || k[2] != audit.ConfirmationAccepted {
		t.Errorf("B1's entries: %v", k)
	}
	if e := tr.Entries["B1"][0]; e.Details["due_date"] != "2025-04-14" || e.Details["record_count"] != 3.0 || e.Seq != 1 {
		t.Errorf("B1's batch_sent as read: %+v", e)
	}

	tamper(t, db, `UPDATE audit_log SET details = '{"file_sha256": "cd"}' WHERE seq = 4`)
	tr, err = postgres.AuditTrail{DB: db}.BatchTrail(ctx)
	testenv.Must(t, err)
	if tr.Chain.OK || tr.Chain.BrokenSeq != 4 {
		t.Errorf("chain after tampering: %+v", tr.Chain)
	}
	if k := kinds("B1"); len(k) != 2 || len(tr.Entries["B2"]) != 0 {
		t.Errorf("entries kept past the break: B1 %v, B2 %d", k, len(tr.Entries["B2"]))
	}
}

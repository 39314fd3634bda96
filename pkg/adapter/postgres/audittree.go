package postgres

// The audit record's Merkle tree (issue 15) in the tables audit_tree and
// audit_checkpoints (migrations/083_audit_tree.sql). The tree is kept as
// golang.org/x/mod/sumdb/tlog stores it; every leaf is added in the
// transaction that appends its entry, under AuditLockKey, so the tree
// always has exactly the committed entries. Leaves missing for entries
// written before the migration are added first (syncAuditTree).

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"booklets/pkg/stage/audit"
)

// auditTreeSize is how many leaves the stored tree has.
func auditTreeSize(ctx context.Context, db Querier) (int64, error) {
	rows, err := db.Query(ctx, "SELECT coalesce(max(seq), 0) FROM audit_tree")
	if err != nil {
		return 0, fmt.Errorf("audit tree: size: %w", err)
	}
	n, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("audit tree: size: %w", err)
	}
	return n, nil
}

// hashReader reads stored hashes for tlog, with pending ones (computed in
// this transaction but not inserted yet) first.
type hashReader struct {
	ctx     context.Context
	db      Querier
	pending map[int64]tlog.Hash
}

func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var want []int64
	at := map[int64][]int{}
	for i, x := range indexes {
		if h, ok := r.pending[x]; ok {
			out[i] = h
			continue
		}
		if _, seen := at[x]; !seen {
			want = append(want, x)
		}
		at[x] = append(at[x], i)
	}
	if len(want) == 0 {
		return out, nil
	}
	rows, err := r.db.Query(r.ctx, "SELECT idx, hash FROM audit_tree WHERE idx = ANY($1)", want)
	if err != nil {
		return nil, fmt.Errorf("audit tree: read hashes: %w", err)
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		var idx int64
		var h []byte
		if err := rows.Scan(&idx, &h); err != nil {
			return nil, fmt.Errorf("audit tree: read hashes: %w", err)
		}
		if len(h) != tlog.HashSize {
			return nil, fmt.Errorf("audit tree: stored hash %d is %d bytes", idx, len(h))
		}
		for _, i := range at[idx] {
			copy(out[i][:], h)
		}
		found++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit tree: read hashes: %w", err)
	}
	if found != len(want) {
		return nil, fmt.Errorf("audit tree: %d of %d stored hashes missing", len(want)-found, len(want))
	}
	return out, nil
}

// AuditTreeHashes reads the stored tree through db, for proofs.
func AuditTreeHashes(ctx context.Context, db Querier) tlog.HashReader {
	return hashReader{ctx: ctx, db: db}
}

// appendAuditLeaf adds the leaf of e, just appended to audit_log in tx
// under AuditLockKey, after catching up any leaf missing before it.
func appendAuditLeaf(ctx context.Context, tx pgx.Tx, e audit.Entry) error {
	if err := syncAuditTree(ctx, tx, e.Seq-1); err != nil {
		return err
	}
	return insertLeaves(ctx, tx, []audit.Entry{e})
}

// syncLeavesPerStatement bounds how many entries a catch-up reads and
// inserts at a time.
const syncLeavesPerStatement = 500

// syncAuditTree adds the leaves of entries up to seq upTo that the tree
// lacks (entries written before migration 083). The caller holds
// AuditLockKey in tx.
func syncAuditTree(ctx context.Context, tx pgx.Tx, upTo int64) error {
	size, err := auditTreeSize(ctx, tx)
	if err != nil {
		return err
	}
	for size < upTo {
		rows, err := tx.Query(ctx, selectEntries+" WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3", size, upTo, syncLeavesPerStatement)
		if err != nil {
			return fmt.Errorf("audit tree: read entries after %d: %w", size, err)
		}
		var entries []audit.Entry
		for rows.Next() {
			e, err := scanEntry(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("audit tree: read entries after %d: %w", size, err)
			}
			entries = append(entries, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("audit tree: read entries after %d: %w", size, err)
		}
		if len(entries) == 0 || entries[0].Seq != size+1 {
			// A gap in audit_log: the chain is broken (verify-audit says
			// where) and no tree can be built over it honestly.
			return fmt.Errorf("audit tree: entry %d is missing from audit_log: the tree cannot be extended (run verify-audit)", size+1)
		}
		if err := insertLeaves(ctx, tx, entries); err != nil {
			return err
		}
		size = entries[len(entries)-1].Seq
	}
	return nil
}

// insertLeaves adds the leaves of consecutive entries, the first of which
// follows the stored tree.
func insertLeaves(ctx context.Context, tx pgx.Tx, entries []audit.Entry) error {
	pending := map[int64]tlog.Hash{}
	r := hashReader{ctx: ctx, db: tx, pending: pending}
	var idxs, seqs []int64
	var hashes [][]byte
	for i, e := range entries {
		if i > 0 && e.Seq != entries[i-1].Seq+1 {
			return fmt.Errorf("audit tree: entry %d follows %d", e.Seq, entries[i-1].Seq)
		}
		hs, err := audit.StoredHashes(e, r)
		if err != nil {
			return err
		}
		start := tlog.StoredHashIndex(0, audit.LeafIndex(e.Seq))
		for j, h := range hs {
			pending[start+int64(j)] = h
			idxs = append(idxs, start+int64(j))
			seqs = append(seqs, e.Seq)
			hashes = append(hashes, h[:])
		}
	}
	// A stored hash already there means entries were cut from audit_log
	// behind the services' back (the tree, append-only, still has their
	// leaves) and seq numbers are being reused. The entry is recorded all
	// the same: refusing would stop the services recording, deletions
	// included. The tree keeps the old leaves, so it no longer matches
	// the entries, and the reconciler refuses to sign until someone looks
	// (audit.ErrRefused, logged as an error).
	_, err := tx.Exec(ctx, `INSERT INTO audit_tree (idx, seq, hash)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])
		ON CONFLICT (idx) DO NOTHING`, idxs, seqs, hashes)
	if err != nil {
		return fmt.Errorf("audit tree: insert leaves %d to %d: %w", entries[0].Seq, entries[len(entries)-1].Seq, err)
	}
	return nil
}

// AuditTree is the stored tree and its checkpoints, the port
// audit.Checkpointer signs through.
type AuditTree struct {
	DB *pgxpool.Pool
}

// Sync builds the leaves the tree lacks for every committed entry (after
// migration 083 on an existing database) and returns the tree's size.
func (t AuditTree) Sync(ctx context.Context) (size int64, err error) {
	err = pgx.BeginFunc(ctx, t.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", AuditLockKey); err != nil {
			return fmt.Errorf("audit tree: lock: %w", err)
		}
		var last int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM audit_log").Scan(&last); err != nil {
			return fmt.Errorf("audit tree: last entry: %w", err)
		}
		if err := syncAuditTree(ctx, tx, last); err != nil {
			return err
		}
		size = last
		return nil
	})
	return size, err
}

// Hashes reads the stored tree.
func (t AuditTree) Hashes(ctx context.Context) tlog.HashReader { return AuditTreeHashes(ctx, t.DB) }

// Entries streams the entries with seq 1 to upTo, in order.
func (t AuditTree) Entries(ctx context.Context, upTo int64, fn func(audit.Entry) error) error {
	return streamEntries(ctx, t.DB, upTo, fn)
}

func streamEntries(ctx context.Context, db Querier, upTo int64, fn func(audit.Entry) error) error {
	rows, err := db.Query(ctx, selectEntries+" WHERE seq <= $1 ORDER BY seq", upTo)
	if err != nil {
		return fmt.Errorf("audit log: read entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return fmt.Errorf("audit log: read entries: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit log: read entries: %w", err)
	}
	return nil
}

// Entry reads the entry with the given seq.
func (t AuditTree) Entry(ctx context.Context, seq int64) (audit.Entry, error) {
	rows, err := t.DB.Query(ctx, selectEntries+" WHERE seq = $1", seq)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("audit log: entry %d: %w", seq, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return audit.Entry{}, fmt.Errorf("audit log: entry %d: %w", seq, err)
		}
		return audit.Entry{}, fmt.Errorf("audit log: no entry %d", seq)
	}
	return scanEntry(rows)
}

// ForBatch reads the entries about one batch.
func (t AuditTree) ForBatch(ctx context.Context, batchID string) ([]audit.Entry, error) {
	return AuditForBatch(ctx, t.DB, batchID)
}

// Latest returns the newest stored checkpoint's signed note (the largest
// tree, the last signed of those), or nil when none was ever signed.
func (t AuditTree) Latest(ctx context.Context) ([]byte, error) {
	return latestCheckpoint(ctx, t.DB)
}

func latestCheckpoint(ctx context.Context, db Querier) ([]byte, error) {
	rows, err := db.Query(ctx, "SELECT note FROM audit_checkpoints ORDER BY tree_size DESC, checkpoint_id DESC LIMIT 1")
	if err != nil {
		return nil, fmt.Errorf("audit checkpoints: latest: %w", err)
	}
	note, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit checkpoints: latest: %w", err)
	}
	return []byte(note), nil
}

// Store keeps a signed checkpoint.
func (t AuditTree) Store(ctx context.Context, c audit.Checkpoint, signed []byte) error {
	_, err := t.DB.Exec(ctx, `INSERT INTO audit_checkpoints (tree_size, root_hash, signed_at, note) VALUES ($1, $2, $3, $4)`,
		c.Size, c.Root[:], c.Time, string(signed))
	if err != nil {
		return fmt.Errorf("audit checkpoints: store: %w", err)
	}
	return nil
}

// Export writes the whole log and the latest checkpoint (audit.Export's
// format) from one snapshot of the database, so the entries and the
// checkpoint belong together.
func (t AuditTree) Export(ctx context.Context, w io.Writer, origin, publicKey string) (entries int64, err error) {
	tx, err := t.DB.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, fmt.Errorf("audit export: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var last int64
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM audit_log").Scan(&last); err != nil {
		return 0, fmt.Errorf("audit export: %w", err)
	}
	cp, err := latestCheckpoint(ctx, tx)
	if err != nil {
		return 0, err
	}
	x, err := audit.NewExportWriter(w, origin, publicKey, last)
	if err != nil {
		return 0, err
	}
	err = streamEntries(ctx, tx, last, func(e audit.Entry) error {
		entries++
		return x.Entry(e)
	})
	if err != nil {
		return entries, err
	}
	if err := exportReceipts(ctx, tx, x); err != nil {
		return entries, err
	}
	if cp != nil {
		if err := x.Checkpoint(cp); err != nil {
			return entries, err
		}
	}
	return entries, nil
}

// exportReceipts writes every accepted confirmation whose bytes are kept
// (migrations/084_confirmation_signatures.sql), with its signature, so an
// auditor re-checks the partner's signatures from the export alone.
func exportReceipts(ctx context.Context, tx pgx.Tx, x *audit.ExportWriter) error {
	rows, err := tx.Query(ctx, `SELECT c.batch_id, c.file_name, s.confirmation, s.signature
		FROM confirmations c JOIN confirmation_signatures s USING (confirmation_id)
		WHERE c.accepted AND c.batch_id IS NOT NULL ORDER BY c.confirmation_id`)
	if err != nil {
		return fmt.Errorf("audit export: receipts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r audit.Receipt
		if err := rows.Scan(&r.BatchID, &r.File, &r.Confirmation, &r.Signature); err != nil {
			return fmt.Errorf("audit export: receipts: %w", err)
		}
		if err := x.Receipt(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit export: receipts: %w", err)
	}
	return nil
}

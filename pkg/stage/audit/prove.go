package audit

// Proofs on request (issue 15): `reconciler audit prove` and the auditors'
// GET endpoints both answer through Prove, so that they print the same
// JSON and refuse the same requests for the same reasons.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// ProofStore is what proofs are read from (pkg/adapter/postgres AuditTree).
type ProofStore interface {
	// Sync adds any leaf the tree lacks and returns the number of entries.
	Sync(ctx context.Context) (int64, error)
	// Latest is the newest stored checkpoint's signed note, nil if none.
	Latest(ctx context.Context) ([]byte, error)
	// Entry reads the entry with the given seq.
	Entry(ctx context.Context, seq int64) (Entry, error)
	// ForBatch reads the entries about one batch.
	ForBatch(ctx context.Context, batchID string) ([]Entry, error)
	// Hashes reads the stored tree.
	Hashes(ctx context.Context) tlog.HashReader
}

// ProofRequest asks for one kind of proof: of the entry Seq, of every
// entry about Batch, or of consistency from the tree of From entries to
// the tree of To (or Size). Size, or To, picks the tree proved against;
// zero means the latest checkpoint's (the whole log if none was signed).
type ProofRequest struct {
	Seq   int64
	Batch string
	From  int64
	To    int64
	Size  int64
}

// Proofs is what `reconciler audit prove` prints and the auditors' proof
// endpoints answer: the proofs, and the checkpoint whose root they lead to
// when they are against the latest checkpoint.
type Proofs struct {
	Checkpoint  string            `json:"checkpoint,omitempty"`
	Inclusion   []InclusionProof  `json:"inclusion,omitempty"`
	Consistency *ConsistencyProof `json:"consistency,omitempty"`
}

// ErrBadRequest marks a request that does not ask for exactly one proof.
var ErrBadRequest = errors.New("invalid proof request")

// ErrNotFound marks an entry or batch not in the tree asked about.
var ErrNotFound = errors.New("not in the log")

// Check says whether the request asks for exactly one proof.
func (q ProofRequest) Check() error {
	n := 0
	for _, set := range []bool{q.Seq != 0, q.Batch != "", q.From != 0} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return fmt.Errorf("%w: give one of seq, batch or from", ErrBadRequest)
	case q.To != 0 && q.From == 0:
		return fmt.Errorf("%w: to goes with from", ErrBadRequest)
	case q.Seq < 0 || q.From < 0 || q.To < 0 || q.Size < 0:
		return fmt.Errorf("%w: sizes and seq are positive", ErrBadRequest)
	}
	return nil
}

// Prove makes the proofs asked for. Its errors wrap ErrBadRequest,
// ErrSize (a tree size the log does not have) or ErrNotFound when the
// request is at fault; anything else is the store's.
func Prove(ctx context.Context, s ProofStore, q ProofRequest) (Proofs, error) {
	if err := q.Check(); err != nil {
		return Proofs{}, err
	}
	size, err := s.Sync(ctx)
	if err != nil {
		return Proofs{}, err
	}
	var out Proofs
	target := q.Size
	if q.To != 0 {
		target = q.To
	}
	if target == 0 {
		// Against the latest checkpoint, so the root is one that was
		// signed; without one, against the whole log.
		target = size
		latest, err := s.Latest(ctx)
		if err != nil {
			return Proofs{}, err
		}
		if latest != nil {
			cp, err := ParseCheckpoint(NoteText(latest))
			if err == nil && cp.Size <= size && cp.Size > 0 {
				target, out.Checkpoint = cp.Size, string(latest)
			}
		}
	}
	if target > size {
		return Proofs{}, fmt.Errorf("%w: the log holds %d entries, not %d", ErrSize, size, target)
	}
	hashes := s.Hashes(ctx)
	if q.From != 0 {
		p, err := ProveConsistency(hashes, q.From, target)
		if err != nil {
			return Proofs{}, err
		}
		out.Consistency = &p
		return out, nil
	}
	var entries []Entry
	if q.Seq != 0 {
		if q.Seq > size {
			return Proofs{}, fmt.Errorf("%w: the log holds %d entries, no entry %d", ErrNotFound, size, q.Seq)
		}
		e, err := s.Entry(ctx, q.Seq)
		if err != nil {
			return Proofs{}, err
		}
		entries = []Entry{e}
	} else {
		entries, err = s.ForBatch(ctx, q.Batch)
		if err != nil {
			return Proofs{}, err
		}
		if len(entries) == 0 {
			return Proofs{}, fmt.Errorf("%w: no entry about batch %q", ErrNotFound, q.Batch)
		}
	}
	for _, e := range entries {
		if e.Seq > target {
			return Proofs{}, fmt.Errorf("%w: entry %d is not in the tree of %d entries yet (sign a checkpoint first)", ErrNotFound, e.Seq, target)
		}
		p, err := ProveInclusion(hashes, target, e)
		if err != nil {
			return Proofs{}, err
		}
		out.Inclusion = append(out.Inclusion, p)
	}
	return out, nil
}

// NoteText is a signed note's text, without its signatures.
func NoteText(signed []byte) string {
	s := string(signed)
	if i := strings.LastIndex(s, "\n\n"); i >= 0 {
		return s[:i+1]
	}
	return s
}

package audit

// Signing checkpoints (the reconciler's job, issue 15). Before it signs,
// the checkpointer re-creates the tree from the entries themselves and
// checks it three ways, so that its key never vouches for a log someone
// changed behind its back: the hash chain holds, the stored tree has the
// same root as the entries, and the log extends every checkpoint signed
// before (the latest in the database and the ones published outside it).
// A refusal is ErrRefused: the log has been tampered with, and signing
// would hide it.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// TreeStore is where the entries, their tree and the checkpoints are kept
// (pkg/adapter/postgres AuditTree).
type TreeStore interface {
	// Sync adds any leaf the tree lacks and returns the number of entries.
	Sync(ctx context.Context) (int64, error)
	// Hashes reads the stored tree.
	Hashes(ctx context.Context) tlog.HashReader
	// Entries streams the entries with seq 1 to upTo in order.
	Entries(ctx context.Context, upTo int64, fn func(Entry) error) error
	// Latest is the newest stored checkpoint's signed note, nil if none.
	Latest(ctx context.Context) ([]byte, error)
	// Store keeps a signed checkpoint.
	Store(ctx context.Context, c Checkpoint, signed []byte) error
}

// Publisher puts a signed checkpoint where the operators cannot quietly
// take it back: a folder on an object store mount, the partner's server.
type Publisher interface {
	Publish(ctx context.Context, c Checkpoint, signed []byte) error
	// Latest is the newest checkpoint published there, nil if none or if
	// the place cannot be read back.
	Latest(ctx context.Context) ([]byte, error)
	String() string
}

// Checkpointer signs checkpoints of the audit log.
type Checkpointer struct {
	Store      TreeStore
	Signer     *Signer
	Publishers []Publisher
	Now        func() time.Time

	mu   sync.Mutex
	last *Check
}

// Check is what the checkpointer found the last time it checked the log
// before signing: shown at the top of the auditors' page ("the last
// consistency check") and on /metrics.
type Check struct {
	At time.Time
	// Size is how many entries the log held.
	Size int64
	// Against are the checkpoints signed before that the log was checked
	// to extend, each named by where it was read.
	Against []CheckedAgainst
	// Err is nil when the log checked, or why it did not: ErrRefused
	// (tampering) or a failure to read it.
	Err error
}

// CheckedAgainst is one earlier checkpoint a check compared the log with.
type CheckedAgainst struct {
	Where string // "the database" or a publisher (its String)
	Size  int64
	Time  time.Time
}

// OK is true when the log was read and extends every earlier checkpoint.
func (c Check) OK() bool { return c.Err == nil }

// LastCheck is the latest check, false when none has run since start.
func (c *Checkpointer) LastCheck() (Check, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		return Check{}, false
	}
	return *c.last, true
}

func (c *Checkpointer) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Signed is a checkpoint and its signed note.
type Signed struct {
	Checkpoint
	Note []byte
	// New is false when nothing was signed because the latest checkpoint
	// already covered the whole log.
	New bool
}

// ErrRefused marks a log the checkpointer will not sign: it does not
// match its own chain or tree, or does not extend a checkpoint signed
// before.
var ErrRefused = errors.New("audit checkpoint refused")

// ErrPublish marks a checkpoint signed and stored but not published
// everywhere.
var ErrPublish = errors.New("audit checkpoint not published")

// Sign signs a checkpoint of the whole log, stores it and publishes it.
// With onlyIfGrown nothing is signed when the latest checkpoint already
// covers every entry; otherwise a new one is signed anyway (its time says
// the log was seen unchanged then). Either way the log is checked first
// (LastCheck), so that tampering is found within one AUDIT_CHECKPOINT_EVERY
// even on a day nothing is appended.
func (c *Checkpointer) Sign(ctx context.Context, onlyIfGrown bool) (Signed, error) {
	chk := Check{At: c.now()}
	latest, root, err := c.check(ctx, &chk, onlyIfGrown)
	chk.Err = err
	c.mu.Lock()
	c.last = &chk
	c.mu.Unlock()
	if err != nil {
		return Signed{}, err
	}
	if onlyIfGrown && latest != nil && latest.Size == chk.Size {
		return *latest, nil
	}

	cp, note, err := c.Signer.Sign(chk.Size, root, c.now())
	if err != nil {
		return Signed{}, err
	}
	if err := c.Store.Store(ctx, cp, note); err != nil {
		return Signed{}, err
	}
	s := Signed{Checkpoint: cp, Note: note, New: true}
	var errs []error
	for _, p := range c.Publishers {
		if err := p.Publish(ctx, cp, note); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("%w: %w", ErrPublish, errors.Join(errs...))
	}
	return s, nil
}

// check re-creates the tree from the entries and checks it against the
// stored tree and every checkpoint signed before with this key. It
// returns the latest checkpoint in the database (nil if none, or one
// signed with an earlier key) and the log's root hash; chk gets the size
// and what was checked. With onlyIfGrown and a log that has not grown,
// the places checkpoints are published to are not read: nothing will be
// signed, and the partner's server is not visited every minute for it.
func (c *Checkpointer) check(ctx context.Context, chk *Check, onlyIfGrown bool) (*Signed, tlog.Hash, error) {
	size, err := c.Store.Sync(ctx)
	if err != nil {
		return nil, tlog.Hash{}, err
	}
	chk.Size = size
	latestNote, err := c.Store.Latest(ctx)
	if err != nil {
		return nil, tlog.Hash{}, err
	}
	var latest *Signed
	var previous []Signed
	var where []string
	if latestNote != nil {
		cp, err := OpenCheckpoint(latestNote, c.Signer.PublicKey)
		switch {
		case errors.Is(err, ErrWrongKey):
			// Signed with an earlier key (the key was replaced): auditors
			// check it with that key; this one cannot.
		case err != nil:
			return nil, tlog.Hash{}, fmt.Errorf("%w: the latest checkpoint in the database: %v", ErrRefused, err)
		default:
			latest = &Signed{Checkpoint: cp, Note: latestNote}
			previous, where = append(previous, *latest), append(where, "the database")
		}
	}
	publishers := c.Publishers
	if onlyIfGrown && latest != nil && latest.Size == size {
		publishers = nil
	}
	for _, p := range publishers {
		note, err := p.Latest(ctx)
		if err != nil || note == nil {
			continue // unreadable places are checked by the auditors
		}
		cp, err := OpenCheckpoint(note, c.Signer.PublicKey)
		if errors.Is(err, ErrWrongKey) {
			continue
		}
		if err != nil {
			return nil, tlog.Hash{}, fmt.Errorf("%w: the latest checkpoint published to %s: %v", ErrRefused, p, err)
		}
		previous, where = append(previous, Signed{Checkpoint: cp, Note: note}), append(where, p.String())
	}

	tree, err := c.rebuild(ctx, size)
	if err != nil {
		return nil, tlog.Hash{}, err
	}
	root, err := tree.Root(size)
	if err != nil {
		return nil, tlog.Hash{}, err
	}
	stored, err := RootHash(size, c.Store.Hashes(ctx))
	if err != nil {
		return nil, tlog.Hash{}, err
	}
	if stored != root {
		return nil, tlog.Hash{}, fmt.Errorf("%w: the stored tree's root for %d entries is not the root of the entries: audit_tree or audit_log was changed", ErrRefused, size)
	}
	for i, p := range previous {
		if p.Size > size {
			return nil, tlog.Hash{}, fmt.Errorf("%w: the log holds %d entries but a checkpoint signed %s covers %d: entries were removed", ErrRefused, size, when(p.Checkpoint), p.Size)
		}
		if p.Size > 0 {
			proof, err := ProveConsistency(tree, p.Size, size)
			if err == nil {
				proof.OldRoot = p.Root
				err = proof.Check()
			}
			if err != nil {
				return nil, tlog.Hash{}, fmt.Errorf("%w: the log does not extend the checkpoint signed %s (%d entries): an entry among them was changed, inserted or removed", ErrRefused, when(p.Checkpoint), p.Size)
			}
		}
		chk.Against = append(chk.Against, CheckedAgainst{Where: where[i], Size: p.Size, Time: p.Time})
	}
	return latest, root, nil
}

// rebuild re-creates the tree of the first size entries from the entries,
// checking their chain on the way.
func (c *Checkpointer) rebuild(ctx context.Context, size int64) (*MemoryTree, error) {
	tree := &MemoryTree{}
	v := NewVerifier()
	err := c.Store.Entries(ctx, size, func(e Entry) error {
		if !v.Add(e) {
			return fmt.Errorf("%w: %s", ErrRefused, v.Result())
		}
		return tree.Append(e)
	})
	if err != nil {
		return nil, err
	}
	if tree.Size() != size {
		return nil, fmt.Errorf("%w: %d entries read, %d expected", ErrRefused, tree.Size(), size)
	}
	return tree, nil
}

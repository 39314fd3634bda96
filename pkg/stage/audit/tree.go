package audit

// The transparency log over the chain (issue 15): every entry is also a leaf
// of an append-only Merkle tree with RFC 6962 hashing, so that a checkpoint
// signed today (tree size and root hash) commits to every entry before it,
// and a later log can be proved to extend it. The hashing and the proofs are
// golang.org/x/mod/sumdb/tlog's, the library behind the Go checksum
// database; nothing here computes a Merkle node itself.
//
// Leaf i (0-based) is the entry with seq i+1, and its leaf hash is
//
//	SHA-256(0x00 || Canonical(entry))
//
// Canonical is the same encoding the chain hashes (it includes seq and
// prev_hash), so an auditor who can re-create the chain can re-create the
// tree.

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// LeafHash is entry e's leaf hash in the tree: RFC 6962's record hash of its
// canonical bytes.
func LeafHash(e Entry) (tlog.Hash, error) {
	c, err := Canonical(e)
	if err != nil {
		return tlog.Hash{}, err
	}
	return tlog.RecordHash(c), nil
}

// LeafIndex is the tree index of the entry with the given seq.
func LeafIndex(seq int64) int64 { return seq - 1 }

// StoredHashes are the hashes a store adds to the tree when the entry with
// the given seq is appended: tlog's stored hashes, at indexes
// tlog.StoredHashIndex(0, seq-1) onwards, computed from the leaf hash and
// the hashes r already holds. The store must hold the tree of the seq-1
// entries before it.
func StoredHashes(e Entry, r tlog.HashReader) ([]tlog.Hash, error) {
	h, err := LeafHash(e)
	if err != nil {
		return nil, err
	}
	hashes, err := tlog.StoredHashesForRecordHash(LeafIndex(e.Seq), h, r)
	if err != nil {
		return nil, fmt.Errorf("audit tree: hashes for seq %d: %w", e.Seq, err)
	}
	return hashes, nil
}

// MemoryTree is the tree built in memory from entries: the offline verifier
// builds one from an export, and the signer one from the database's entries
// to check the stored tree before signing it. It holds about two hashes
// (64 bytes) per entry.
type MemoryTree struct {
	hashes []tlog.Hash // stored hashes, by stored hash index
	size   int64
}

// Size is how many leaves the tree has.
func (t *MemoryTree) Size() int64 { return t.size }

// Append adds e, which must be the next entry (seq Size()+1).
func (t *MemoryTree) Append(e Entry) error {
	if e.Seq != t.size+1 {
		return fmt.Errorf("audit tree: entry seq %d appended to a tree of %d leaves", e.Seq, t.size)
	}
	h, err := LeafHash(e)
	if err != nil {
		return err
	}
	return t.AppendLeaf(h)
}

// AppendLeaf adds a leaf by its hash, whatever entry it is: the verifier
// builds the tree of an export as it is, even where its numbering is
// broken, so that the checkpoints judge what the export holds.
func (t *MemoryTree) AppendLeaf(h tlog.Hash) error {
	hashes, err := tlog.StoredHashesForRecordHash(t.size, h, t)
	if err != nil {
		return err
	}
	t.hashes = append(t.hashes, hashes...)
	t.size++
	return nil
}

// ReadHashes is tlog.HashReader.
func (t *MemoryTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("audit tree: no stored hash %d in a tree of %d leaves", x, t.size)
		}
		out[i] = t.hashes[x]
	}
	return out, nil
}

// Root is the root hash of the tree's first n leaves.
func (t *MemoryTree) Root(n int64) (tlog.Hash, error) { return RootHash(n, t) }

// RootHash is the root hash of the tree of the first n leaves, read through r.
func RootHash(n int64, r tlog.HashReader) (tlog.Hash, error) {
	h, err := tlog.TreeHash(n, r)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("audit tree: root of %d leaves: %w", n, err)
	}
	return h, nil
}

// InclusionProof shows that the entry with Seq is leaf LeafIndex of the tree
// of TreeSize leaves whose root is RootHash. Hashes are base64 in JSON, as
// in the checkpoints.
type InclusionProof struct {
	Seq       int64       `json:"seq"`
	LeafIndex int64       `json:"leaf_index"`
	TreeSize  int64       `json:"tree_size"`
	LeafHash  tlog.Hash   `json:"leaf_hash"`
	RootHash  tlog.Hash   `json:"root_hash"`
	Proof     []tlog.Hash `json:"proof"`
}

// Check verifies the proof with tlog.CheckRecord.
func (p InclusionProof) Check() error {
	if p.LeafIndex != LeafIndex(p.Seq) {
		return fmt.Errorf("inclusion proof: seq %d is not leaf %d", p.Seq, p.LeafIndex)
	}
	if err := tlog.CheckRecord(p.Proof, p.TreeSize, p.RootHash, p.LeafIndex, p.LeafHash); err != nil {
		return fmt.Errorf("inclusion proof of seq %d in the tree of %d: %w", p.Seq, p.TreeSize, err)
	}
	return nil
}

// ProveInclusion proves that e is in the tree of size leaves read through r.
func ProveInclusion(r tlog.HashReader, size int64, e Entry) (InclusionProof, error) {
	if e.Seq < 1 || e.Seq > size {
		return InclusionProof{}, fmt.Errorf("inclusion proof: seq %d is not in a tree of %d leaves", e.Seq, size)
	}
	leaf, err := LeafHash(e)
	if err != nil {
		return InclusionProof{}, err
	}
	root, err := RootHash(size, r)
	if err != nil {
		return InclusionProof{}, err
	}
	proof, err := tlog.ProveRecord(size, LeafIndex(e.Seq), r)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("inclusion proof of seq %d in the tree of %d: %w", e.Seq, size, err)
	}
	return InclusionProof{Seq: e.Seq, LeafIndex: LeafIndex(e.Seq), TreeSize: size, LeafHash: leaf, RootHash: root, Proof: proof}, nil
}

// ConsistencyProof shows that the tree of OldSize leaves with root OldRoot
// is a prefix of the tree of NewSize leaves with root NewRoot: nothing in
// the first OldSize entries was changed, removed or inserted.
type ConsistencyProof struct {
	OldSize int64       `json:"old_size"`
	OldRoot tlog.Hash   `json:"old_root"`
	NewSize int64       `json:"new_size"`
	NewRoot tlog.Hash   `json:"new_root"`
	Proof   []tlog.Hash `json:"proof"`
}

// Check verifies the proof with tlog.CheckTree.
func (p ConsistencyProof) Check() error {
	if err := tlog.CheckTree(p.Proof, p.NewSize, p.NewRoot, p.OldSize, p.OldRoot); err != nil {
		return fmt.Errorf("consistency proof from %d to %d: %w", p.OldSize, p.NewSize, err)
	}
	return nil
}

// ErrSize marks a tree size a proof cannot be made for.
var ErrSize = errors.New("tree size out of range")

// ProveConsistency proves that the tree of oldSize leaves is a prefix of the
// tree of newSize leaves, both read through r.
func ProveConsistency(r tlog.HashReader, oldSize, newSize int64) (ConsistencyProof, error) {
	if oldSize < 1 || oldSize > newSize {
		return ConsistencyProof{}, fmt.Errorf("consistency proof from %d to %d: %w (need 1 <= old <= new)", oldSize, newSize, ErrSize)
	}
	oldRoot, err := RootHash(oldSize, r)
	if err != nil {
		return ConsistencyProof{}, err
	}
	newRoot, err := RootHash(newSize, r)
	if err != nil {
		return ConsistencyProof{}, err
	}
	proof, err := tlog.ProveTree(newSize, oldSize, r)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("consistency proof from %d to %d: %w", oldSize, newSize, err)
	}
	return ConsistencyProof{OldSize: oldSize, OldRoot: oldRoot, NewSize: newSize, NewRoot: newRoot, Proof: proof}, nil
}

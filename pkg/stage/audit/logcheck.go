package audit

// The offline check of an export against checkpoints an auditor kept
// (services/tools/auditverify): the log must extend every checkpoint it is
// shown, every checkpoint must be signed by the key the auditor holds, and
// a batch's events must be in the signed tree.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// ProblemKind names what an offline check found.
type ProblemKind string

// What the offline check can find.
const (
	// Truncated: the log is shorter than a checkpoint already signed:
	// entries were removed from the end.
	Truncated ProblemKind = "truncated"
	// Rewritten: the log's first entries no longer hash to a signed root:
	// an entry was changed, inserted or removed, whatever the chain says.
	Rewritten ProblemKind = "rewritten"
	// Fork: two checkpoints, both signed by the key, of histories that do
	// not extend one another: the key signed two different logs.
	Fork ProblemKind = "fork"
	// BrokenChain: the entries' own hash chain does not hold.
	BrokenChain ProblemKind = "broken chain"
	// WrongKey, BadSignature: a checkpoint not signed by the key given, or
	// whose signature does not verify.
	WrongKey     ProblemKind = "wrong key"
	BadSignature ProblemKind = "bad signature"
	// Unsigned: the export holds no checkpoint to check against.
	Unsigned ProblemKind = "unsigned"
	// NotIncluded: a batch's events are not in the signed tree.
	NotIncluded ProblemKind = "not included"
	// Malformed: a checkpoint that is not one.
	Malformed ProblemKind = "malformed"
	// ReceiptMismatch: a kept confirmation or signature whose bytes are
	// not the ones the log's confirmation_accepted entry vouches for.
	ReceiptMismatch ProblemKind = "receipt mismatch"
)

// Problem is one thing the offline check found.
type Problem struct {
	Kind   ProblemKind
	Detail string
}

func (p Problem) Error() string { return string(p.Kind) + ": " + p.Detail }

// LogCheck is what an auditor checks an export against.
type LogCheck struct {
	// PublicKey is the log's verifier key, as the auditor was given it.
	PublicKey string
	// Kept are the signed checkpoints the auditor kept from earlier visits
	// (file contents), each with a name for messages (its file name).
	Kept []KeptCheckpoint
	// Batch, if not empty, is a batch whose events must be included.
	Batch string
}

// KeptCheckpoint is a checkpoint file an auditor kept.
type KeptCheckpoint struct {
	Name   string
	Signed []byte
}

// LogReport is what the offline check established.
type LogReport struct {
	Entries int64
	// Latest is the export's newest checkpoint that verified; LatestSigned
	// its note, to keep for the next visit.
	Latest       *Checkpoint
	LatestSigned []byte
	// Kept are the auditor's checkpoints that verified, in the order given.
	Kept []Checkpoint
	// Consistency are the proofs that the latest checkpoint extends each
	// kept one (checked with tlog.CheckTree).
	Consistency []ConsistencyProof
	// Uncovered is how many entries come after the latest checkpoint: they
	// are in the export but no signature vouches for them yet.
	Uncovered int64
	// Batch are the inclusion proofs of the batch's entries in the latest
	// checkpoint (checked with tlog.CheckRecord).
	Batch []InclusionProof
	// Receipts are the export's kept confirmations whose bytes match the
	// hashes in the log (their signatures are for GnuPG to check).
	Receipts []Receipt
	// Problems is everything found wrong; empty means the log checks.
	Problems []Problem
}

// Err is nil when nothing was found wrong, or every problem joined.
func (r LogReport) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	errs := make([]error, len(r.Problems))
	for i, p := range r.Problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

func (r *LogReport) problem(k ProblemKind, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Kind: k, Detail: fmt.Sprintf(format, args...)})
}

// signatureProblem sorts an OpenCheckpoint error into its kind.
func signatureProblem(err error) ProblemKind {
	switch {
	case errors.Is(err, ErrWrongKey):
		return WrongKey
	case errors.Is(err, ErrBadSignature):
		return BadSignature
	}
	return Malformed
}

// withoutKind is err's message without the kind it starts with, which
// the problem already names.
func withoutKind(err error, k ProblemKind) string {
	msg := err.Error()
	for _, prefix := range []string{string(k) + ": ", ErrMalformedCheckpoint.Error() + ": "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	return msg
}

// CheckExport checks an export as an auditor would, offline.
func CheckExport(x Export, c LogCheck) LogReport {
	r := LogReport{Entries: int64(len(x.Entries))}

	// The checkpoints the auditor kept come first: one that does not
	// verify proves nothing about the log.
	var kept []Checkpoint
	var keptNames []string
	for _, k := range c.Kept {
		cp, err := OpenCheckpoint(k.Signed, c.PublicKey)
		if err != nil {
			kind := signatureProblem(err)
			r.problem(kind, "your checkpoint %s: %s", k.Name, withoutKind(err, kind))
			continue
		}
		kept = append(kept, cp)
		keptNames = append(keptNames, k.Name)
	}
	r.Kept = kept

	if res := Verify(x.Entries); !res.OK {
		r.problem(BrokenChain, "%s", strings.TrimPrefix(res.String(), "audit log "))
	}

	// The tree of the entries as exported, leaf i the i-th line.
	tree := &MemoryTree{}
	for _, e := range x.Entries {
		h, err := LeafHash(e)
		if err != nil {
			r.problem(Malformed, "entry %d cannot be encoded: %v", e.Seq, err)
			return r
		}
		if err := tree.AppendLeaf(h); err != nil {
			r.problem(Malformed, "entry %d: %v", e.Seq, err)
			return r
		}
	}
	n := tree.Size()

	// The export's own checkpoints: the newest that verifies and matches
	// the entries is the one the log is judged by.
	var own []Checkpoint
	var ownSigned [][]byte
	for i, signed := range x.Checkpoints {
		cp, err := OpenCheckpoint(signed, c.PublicKey)
		if err != nil {
			kind := signatureProblem(err)
			r.problem(kind, "the export's checkpoint %d: %s", i+1, withoutKind(err, kind))
			continue
		}
		own = append(own, cp)
		ownSigned = append(ownSigned, signed)
	}
	if len(own) == 0 && len(x.Checkpoints) == 0 {
		r.problem(Unsigned, "the export holds no checkpoint: nothing signed vouches for its %d entries", n)
	}
	// matches tells whether the entries' tree at cp.Size has cp's root.
	matches := func(cp Checkpoint) bool {
		if cp.Size > n {
			return false
		}
		root, err := tree.Root(cp.Size)
		return err == nil && root == cp.Root
	}
	for i, cp := range own {
		switch {
		case cp.Size > n:
			r.problem(Truncated, "the export holds %d entries, but its own checkpoint signed %s covers %d: entries %d to %d were removed", n, when(cp), cp.Size, n+1, cp.Size)
		case !matches(cp):
			r.problem(Rewritten, "the export's first %d entries do not hash to the root of its own checkpoint signed %s: an entry among seq 1 to %d was changed, inserted or removed", cp.Size, when(cp), cp.Size)
		default:
			if r.Latest == nil || cp.Size >= r.Latest.Size {
				r.Latest, r.LatestSigned = &own[i], ownSigned[i]
			}
		}
	}
	if r.Latest != nil {
		r.Uncovered = n - r.Latest.Size
	}

	// Each kept checkpoint must be extended by the log.
	for i, k := range kept {
		name := keptNames[i]
		if k.Size > n {
			r.problem(Truncated, "the log holds %d entries, but your checkpoint %s (signed %s) covers %d: entries %d to %d were removed", n, name, when(k), k.Size, n+1, k.Size)
			continue
		}
		// The proof that the newest signed tree extends the kept one,
		// made from the entries and checked with tlog.CheckTree against
		// the two signed roots. Without a verified checkpoint of its own
		// the export's entries stand in for it.
		newSize, newRoot := n, tlog.Hash{}
		if r.Latest != nil && r.Latest.Size >= k.Size {
			newSize, newRoot = r.Latest.Size, r.Latest.Root
		} else if root, err := tree.Root(n); err == nil {
			newRoot = root
		}
		var p ConsistencyProof
		var err error
		if k.Size > 0 {
			p, err = ProveConsistency(tree, k.Size, newSize)
			if err == nil {
				p.OldRoot, p.NewRoot = k.Root, newRoot
				err = p.Check()
			}
		} else if k.Root != emptyRoot() {
			err = errors.New("the empty tree has another root")
		}
		if err == nil {
			if k.Size > 0 {
				r.Consistency = append(r.Consistency, p)
			}
			continue
		}
		if r.Latest != nil && r.Latest.Size >= k.Size {
			r.problem(Fork, "your checkpoint %s (signed %s, %d entries) and the log's checkpoint signed %s (%d entries) are both signed by the key but the newer does not extend the older: two different histories were signed; the log's first %d entries were changed, inserted or removed since your checkpoint", name, when(k), k.Size, when(*r.Latest), r.Latest.Size, k.Size)
		} else {
			r.problem(Rewritten, "the log's first %d entries no longer hash to the root your checkpoint %s signed %s: an entry among seq 1 to %d was changed, inserted or removed", k.Size, name, when(k), k.Size)
		}
	}

	if c.Batch != "" {
		checkBatch(&r, x.Entries, tree, c.Batch)
	}
	checkReceipts(&r, x)
	sort.SliceStable(r.Problems, func(i, j int) bool { return rank(r.Problems[i].Kind) < rank(r.Problems[j].Kind) })
	return r
}

// rank orders problems by what an auditor should read first.
func rank(k ProblemKind) int {
	for i, x := range []ProblemKind{WrongKey, BadSignature, Malformed, Truncated, Fork, Rewritten, BrokenChain, Unsigned, NotIncluded, ReceiptMismatch} {
		if k == x {
			return i
		}
	}
	return 99
}

func checkBatch(r *LogReport, entries []Entry, tree *MemoryTree, batch string) {
	found := false
	for i, e := range entries {
		if e.BatchID != batch {
			continue
		}
		found = true
		if r.Latest == nil || int64(i) >= r.Latest.Size {
			r.problem(NotIncluded, "batch %s: entry seq %d (%s) is not covered by a verified checkpoint; ask for a fresh export", batch, e.Seq, e.Kind)
			continue
		}
		p, err := ProveInclusion(tree, r.Latest.Size, e)
		if err == nil {
			p.RootHash = r.Latest.Root // the signed root, not one recomputed
			err = p.Check()
		}
		if err != nil {
			r.problem(NotIncluded, "batch %s: entry seq %d (%s): %v", batch, e.Seq, e.Kind, err)
			continue
		}
		r.Batch = append(r.Batch, p)
	}
	if !found {
		r.problem(NotIncluded, "batch %s: the log holds no entry about it", batch)
	}
}

// checkReceipts matches each kept confirmation and signature with the
// hashes the batch's confirmation_accepted entry recorded: the bytes are
// the ones accepted, so GnuPG's verdict on them is about what we acted on.
func checkReceipts(r *LogReport, x Export) {
	for _, rc := range x.Receipts {
		var vouched *Entry
		for i := len(x.Entries) - 1; i >= 0; i-- {
			if e := x.Entries[i]; e.Kind == ConfirmationAccepted && e.BatchID == rc.BatchID {
				vouched = &x.Entries[i]
				break
			}
		}
		if vouched == nil {
			r.problem(ReceiptMismatch, "the receipt of batch %s: the log holds no accepted confirmation for it", rc.BatchID)
			continue
		}
		fileSum := fmt.Sprint(vouched.Details["file_sha256"])
		if got := sha256hex(rc.Confirmation); got != fileSum {
			r.problem(ReceiptMismatch, "the receipt of batch %s: the confirmation's SHA-256 is %s, the log's entry seq %d says %s", rc.BatchID, got, vouched.Seq, fileSum)
			continue
		}
		sigSum, signed := vouched.Details["signature_sha256"]
		switch {
		case rc.Signature == nil && signed:
			r.problem(ReceiptMismatch, "the receipt of batch %s: no signature kept, but the log's entry seq %d records one", rc.BatchID, vouched.Seq)
			continue
		case rc.Signature != nil && sha256hex(rc.Signature) != fmt.Sprint(sigSum):
			r.problem(ReceiptMismatch, "the receipt of batch %s: the signature's SHA-256 is %s, the log's entry seq %d says %v", rc.BatchID, sha256hex(rc.Signature), vouched.Seq, sigSum)
			continue
		}
		r.Receipts = append(r.Receipts, rc)
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func when(c Checkpoint) string {
	if c.Time.IsZero() {
		return "at an unknown time"
	}
	return c.Time.UTC().Format(checkpointTimeFormat)
}

// emptyRoot is the root of the empty tree (RFC 6962: SHA-256 of nothing).
func emptyRoot() tlog.Hash {
	h, _ := tlog.TreeHash(0, tlog.HashReaderFunc(func([]int64) ([]tlog.Hash, error) { return nil, nil }))
	return h
}

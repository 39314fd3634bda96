package audit

// The export an auditor takes away (`reconciler audit export`), JSON lines:
//
//	{"type":"header","format":"booklets-audit-export/1","origin":"booklets-audit","public_key":"booklets-audit+1a2b3c4d+AV...","entries":42,"leaf_hash":"...","chain_hash":"..."}
//	{"type":"entry","entry":{"seq":1,"at":"...","kind":"batch_sent","batch_id":"...","details":{...},"prev_hash":"...","hash":"..."}}
//	... one line per entry, in seq order ...
//	{"type":"receipt","receipt":{"batch_id":"...","file":"deletion_<id>.json","confirmation":"<base64>","signature":"<base64>"}}
//	... one line per accepted confirmation whose bytes are kept ...
//	{"type":"checkpoint","note":"booklets-audit\n42\n...\n\n— booklets-audit ...\n"}
//
// The header's public key is for information only: the verifier uses the
// key the auditor was given separately, never one the export names.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// ExportFormat names the export's version: /2 added the receipt lines;
// /1 exports (without them) are still read.
const (
	ExportFormat   = "booklets-audit-export/2"
	exportFormatV1 = "booklets-audit-export/1"
)

// Receipt is a partner's deletion confirmation as it was received, with
// its detached OpenPGP signature: evidence an auditor re-checks with GnuPG
// (`auditverify --receipts DIR` writes the files), and whose hashes the
// batch's confirmation_accepted entry vouches for.
type Receipt struct {
	BatchID      string `json:"batch_id"`
	File         string `json:"file"`
	Confirmation []byte `json:"confirmation"`
	Signature    []byte `json:"signature,omitempty"` // nil: accepted unsigned
}

// ExportHeader is the export's first line: what a verifier needs to know
// to re-create the tree.
type ExportHeader struct {
	Type      string `json:"type"`
	Format    string `json:"format"`
	Origin    string `json:"origin,omitempty"`
	PublicKey string `json:"public_key,omitempty"`
	Entries   int64  `json:"entries"`
	LeafHash  string `json:"leaf_hash"`
	ChainHash string `json:"chain_hash"`
	Note      string `json:"checkpoint_format"`
}

type exportLine struct {
	Type       string   `json:"type"`
	Entry      *Entry   `json:"entry,omitempty"`
	Receipt    *Receipt `json:"receipt,omitempty"`
	Checkpoint string   `json:"note,omitempty"`
}

// ExportWriter writes an export, line by line, so that a long log is
// streamed from the database rather than held in memory.
type ExportWriter struct {
	enc *json.Encoder
}

// NewExportWriter writes the header. entries is how many entries follow.
func NewExportWriter(w io.Writer, origin, publicKey string, entries int64) (*ExportWriter, error) {
	x := &ExportWriter{enc: json.NewEncoder(w)}
	x.enc.SetEscapeHTML(false)
	err := x.enc.Encode(ExportHeader{
		Type: "header", Format: ExportFormat, Origin: origin, PublicKey: publicKey, Entries: entries,
		LeafHash:  "leaf i is the entry with seq i+1; leaf hash = SHA-256(0x00 || canonical entry) (RFC 6962); canonical entry = the chain's canonical JSON without hash (docs/reconciler.md)",
		ChainHash: "hash = hex(SHA-256(prev_hash || canonical entry)); prev_hash of seq 1 = 64 zeros",
		Note:      "C2SP tlog-checkpoint (origin, tree size, base64 root hash, time extension line) signed as a golang.org/x/mod/sumdb/note with Ed25519",
	})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return x, nil
}

// Entry writes one entry.
func (x *ExportWriter) Entry(e Entry) error {
	if err := x.enc.Encode(exportLine{Type: "entry", Entry: &e}); err != nil {
		return fmt.Errorf("export: entry %d: %w", e.Seq, err)
	}
	return nil
}

// Receipt writes one kept confirmation and its signature.
func (x *ExportWriter) Receipt(r Receipt) error {
	if err := x.enc.Encode(exportLine{Type: "receipt", Receipt: &r}); err != nil {
		return fmt.Errorf("export: receipt of batch %s: %w", r.BatchID, err)
	}
	return nil
}

// Checkpoint writes a signed checkpoint note.
func (x *ExportWriter) Checkpoint(signed []byte) error {
	if err := x.enc.Encode(exportLine{Type: "checkpoint", Checkpoint: string(signed)}); err != nil {
		return fmt.Errorf("export: checkpoint: %w", err)
	}
	return nil
}

// Export is a read export.
type Export struct {
	Header      ExportHeader
	Entries     []Entry
	Receipts    []Receipt
	Checkpoints [][]byte // signed notes, in the order written
}

// ReadExport reads an export. Its errors name the line.
func ReadExport(r io.Reader) (Export, error) {
	var x Export
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		if line == 1 {
			if err := json.Unmarshal(sc.Bytes(), &x.Header); err != nil || x.Header.Type != "header" {
				return Export{}, fmt.Errorf("line 1: not an audit export header")
			}
			if x.Header.Format != ExportFormat && x.Header.Format != exportFormatV1 {
				return Export{}, fmt.Errorf("line 1: export format %q, this verifier reads %q", x.Header.Format, ExportFormat)
			}
			continue
		}
		var l exportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return Export{}, fmt.Errorf("line %d: %v", line, err)
		}
		switch {
		case l.Type == "entry" && l.Entry != nil:
			x.Entries = append(x.Entries, *l.Entry)
		case l.Type == "receipt" && l.Receipt != nil:
			x.Receipts = append(x.Receipts, *l.Receipt)
		case l.Type == "checkpoint" && l.Checkpoint != "":
			x.Checkpoints = append(x.Checkpoints, []byte(l.Checkpoint))
		default:
			return Export{}, fmt.Errorf("line %d: unknown line type %q", line, l.Type)
		}
	}
	if err := sc.Err(); err != nil {
		return Export{}, fmt.Errorf("line %d: %w", line+1, err)
	}
	if line == 0 {
		return Export{}, fmt.Errorf("the export is empty")
	}
	return x, nil
}

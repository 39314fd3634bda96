// Command auditverify checks an export of the audit log on an auditor's own
// machine, with nothing but files: the log's public key, checkpoints the
// auditor kept from earlier visits, and the export `reconciler audit
// export` wrote. No database, no network, no settings.
//
//	auditverify --key audit.pub --checkpoint old.checkpoint log.jsonl
//
// It exits 0 when every checkpoint is signed by the key and the log extends
// them all, 1 naming each problem found (truncated, rewritten, fork, bad
// signature, wrong key, broken chain, not included), 2 for a mistake on
// the command line. See docs/reconciler.md, "Checking the audit log
// offline".
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"booklets/pkg/stage/audit"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `Usage: auditverify --key FILE [--checkpoint FILE]... [--batch ID] [--save FILE] [--receipts DIR] EXPORT

Checks an export of the booklets audit log (reconciler audit export) offline:

  * every checkpoint, yours and the export's own, is signed by the key in
    --key (a checkpoint signed by another key, or altered, is refused);
  * the log extends every checkpoint you kept: nothing was removed from its
    end (truncated), nothing before it changed, inserted or removed
    (rewritten), and the log's own signed checkpoint does not contradict
    yours (fork);
  * the entries' hash chain holds;
  * with --batch, every event about that batch is in the signed tree;
  * each partner's deletion confirmation kept in the export, and its
    signature, are the bytes the log's entry recorded (by SHA-256).

  --key FILE         the log's public key (reconciler audit public-key)
  --checkpoint FILE  a checkpoint you kept from an earlier visit; repeat
                     for several. Without one, only the export is checked.
  --batch ID         check that batch ID's events are included
  --save FILE        when all is well, write the export's latest checkpoint
                     to FILE, to keep for your next visit
  --receipts DIR     when all is well, write each kept confirmation and
                     its signature (.asc) into DIR, byte for byte, for
                     gpg --verify with the partner's public key
  EXPORT             the export file, or - for standard input

Exit status: 0 all checks passed, 1 a problem was found (each printed,
named), 2 a mistake on the command line or an unreadable file.
`

// multi is a repeatable flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("auditverify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keyFile := fs.String("key", "", "")
	batch := fs.String("batch", "", "")
	save := fs.String("save", "", "")
	receipts := fs.String("receipts", "", "")
	var kept multi
	fs.Var(&kept, "checkpoint", "")
	// Flags may follow the export's name.
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, usage)
				return 0
			}
			fmt.Fprintf(stderr, "auditverify: %v\n\n%s", err, usage)
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	usageErr := func(msg string) int {
		fmt.Fprintf(stderr, "auditverify: %s\n\n%s", msg, usage)
		return 2
	}
	switch {
	case *keyFile == "":
		return usageErr("--key is required: the log's public key file")
	case len(positional) != 1:
		return usageErr("name one export file (or - for standard input)")
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "auditverify:", err)
		return 2
	}

	key, err := os.ReadFile(*keyFile)
	if err != nil {
		return fail(err)
	}
	check := audit.LogCheck{PublicKey: strings.TrimSpace(string(key)), Batch: *batch}
	for _, f := range kept {
		b, err := os.ReadFile(f)
		if err != nil {
			return fail(err)
		}
		check.Kept = append(check.Kept, audit.KeptCheckpoint{Name: filepath.Base(f), Signed: b})
	}
	in := stdin
	if positional[0] != "-" {
		f, err := os.Open(positional[0])
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		in = f
	}
	x, err := audit.ReadExport(in)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", positional[0], err))
	}

	r := audit.CheckExport(x, check)
	if len(r.Problems) > 0 {
		fmt.Fprintf(stderr, "auditverify: FAILED: %d problem(s) found in %s (%d entries):\n", len(r.Problems), positional[0], r.Entries)
		for _, p := range r.Problems {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
		return 1
	}
	report(stdout, r, check, x.Entries)
	if *save != "" && r.LatestSigned != nil {
		if err := os.WriteFile(*save, r.LatestSigned, 0o644); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "saved the latest checkpoint to %s: keep it for your next visit\n", *save)
	}
	if *receipts != "" {
		if err := writeReceipts(stdout, *receipts, r.Receipts); err != nil {
			return fail(err)
		}
	}
	return 0
}

// safeName keeps a file name from the export to a bare name of the
// confirmation files' alphabet: the export is the checked party's file.
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$`)

// writeReceipts writes the receipts whose bytes matched the log into dir,
// and says how to check each signature.
func writeReceipts(w io.Writer, dir string, rs []audit.Receipt) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, rc := range rs {
		name := filepath.Base(rc.File)
		if !safeName.MatchString(name) {
			return fmt.Errorf("the receipt of batch %s has an unusable file name %q", rc.BatchID, rc.File)
		}
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, rc.Confirmation, 0o644); err != nil {
			return err
		}
		if rc.Signature == nil {
			fmt.Fprintf(w, "receipt of batch %s: %s (accepted UNSIGNED: nothing shows the partner made it)\n", rc.BatchID, file)
			continue
		}
		if err := os.WriteFile(file+".asc", rc.Signature, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "receipt of batch %s: %s and %s.asc; check it: gpg --verify %s.asc %s\n", rc.BatchID, file, file, file, file)
	}
	return nil
}

func report(w io.Writer, r audit.LogReport, c audit.LogCheck, entries []audit.Entry) {
	fmt.Fprintf(w, "OK: %d entries; the hash chain holds\n", r.Entries)
	if r.Latest != nil {
		fmt.Fprintf(w, "signed %s\n", r.Latest)
		if r.Uncovered > 0 {
			fmt.Fprintf(w, "note: the last %d entries are after that checkpoint: no signature vouches for them yet\n", r.Uncovered)
		}
	}
	if len(r.Receipts) > 0 {
		fmt.Fprintf(w, "%d partner confirmation(s) kept in the export match the hashes the log recorded\n", len(r.Receipts))
	}
	for i, k := range r.Kept {
		fmt.Fprintf(w, "extends your checkpoint %s (%d entries, signed %s)\n", c.Kept[i].Name, k.Size, k.Time.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if c.Batch != "" {
		fmt.Fprintf(w, "batch %s: %d entries included in the signed tree of %d:\n", c.Batch, len(r.Batch), r.Latest.Size)
		for _, p := range r.Batch {
			// Proved entries are in the tree at their seq: the chain holds.
			e := entries[p.LeafIndex]
			fmt.Fprintf(w, "  seq %d %s %s (leaf %s)\n", p.Seq, e.At.UTC().Format("2006-01-02T15:04:05Z"), e.Kind, p.LeafHash)
		}
	}
}

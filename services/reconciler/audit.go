package main

// The audit record's transparency log (issue 15; docs/reconciler.md,
// "Checking the audit log offline").
//
//	reconciler audit keygen FILE [--name NAME]   write a new signing key to FILE, print its public key
//	reconciler audit public-key                  print AUDIT_SIGNING_KEY_FILE's public key (auditverify --key)
//	reconciler audit checkpoint                  sign a checkpoint of the log now and publish it
//	reconciler audit export                      the log and its latest checkpoint as JSON lines (stdout)
//	reconciler audit prove --seq N | --batch ID | --from OLD [--to NEW]   inclusion or consistency proofs (JSON)
//
// The reconciler alone holds the signing key. It signs a checkpoint after
// every reconciliation run (the daemon's and `check-now`), and, in the
// daemon, whenever it sees the tree has grown (it looks every
// AUDIT_CHECKPOINT_EVERY): the end-of-day records are written by the
// batcher, another process that holds no key, so the reconciler cannot be
// told when one is made; looking for growth signs them within a minute,
// and signs whatever else was recorded too (an erasure, a rewrap), with no
// coupling between the services. Each checkpoint is stored in
// audit_checkpoints and published to AUDIT_CHECKPOINT_DIR and to the
// partner's SFTP folder SFTP_CHECKPOINTS_DIR.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/platform/envconfig"
	"booklets/pkg/stage/audit"
)

const auditUsage = `Usage: reconciler audit COMMAND

The audit log's signed checkpoints, export and proofs (docs/reconciler.md,
"Checking the audit log offline").

  keygen FILE [--name NAME]  write a new Ed25519 signing key to FILE (never
                             overwritten; mode 0600) and print its public key.
                             NAME is the log's name (default booklets-audit).
                             Connects to nothing.
  public-key                 print the public key of AUDIT_SIGNING_KEY_FILE,
                             the form auditverify --key reads. Connects to nothing.
  checkpoint                 sign a checkpoint of the log now, store it and
                             publish it; print it
  export                     write the whole log and its latest checkpoint as
                             JSON lines to stdout, for auditverify (with a key
                             configured, a fresh checkpoint is signed first)
  prove --seq N              inclusion proof of entry N
  prove --batch ID           inclusion proofs of every entry about batch ID
  prove --from OLD [--to NEW]
                             consistency proof from tree size OLD to NEW
                             Proofs are against the latest checkpoint (its size
                             unless --to or --size is given), printed as JSON.
  prove ... --size N         prove against the tree of N entries instead
  receipt --batch ID --dir DIR
                             write batch ID's accepted deletion confirmation as
                             the partner sent it (DIR/deletion_ID.json) and its
                             signature (DIR/deletion_ID.json.asc), for
                             gpg --verify; print their SHA-256, the signer and
                             the audit entry that vouches for them, as JSON
`

// auditConfig is the transparency log's settings.
type auditConfig struct {
	// KeyFile holds the signing key (AUDIT_SIGNING_KEY_FILE); empty: no
	// checkpoint is signed.
	KeyFile string
	// Dir is the folder checkpoints are published to (AUDIT_CHECKPOINT_DIR;
	// an object store mount in production); empty: none.
	Dir string
	// SFTPDir is the folder on the partner's server checkpoints are
	// published to (SFTP_CHECKPOINTS_DIR); empty: none.
	SFTPDir string
	// Every is how often the daemon looks for growth to sign
	// (AUDIT_CHECKPOINT_EVERY).
	Every time.Duration
}

func readAuditConfig(r *envconfig.Reader) auditConfig {
	c := auditConfig{
		KeyFile: r.String("AUDIT_SIGNING_KEY_FILE", ""),
		Dir:     r.String("AUDIT_CHECKPOINT_DIR", ""),
		SFTPDir: r.String("SFTP_CHECKPOINTS_DIR", "checkpoints"),
		Every:   r.Duration("AUDIT_CHECKPOINT_EVERY", time.Minute),
	}
	if c.Every < time.Second {
		r.Fail("AUDIT_CHECKPOINT_EVERY", "must be at least 1s")
	}
	return c
}

// auditArgs is a parsed `reconciler audit` command line.
type auditArgs struct {
	sub      string
	file     string // keygen
	name     string // keygen
	seq      int64
	batch    string
	from, to int64
	size     int64
}

// offline tells whether the command needs no database.
func (a auditArgs) offline() bool { return a.sub == "keygen" || a.sub == "public-key" }

func parseAudit(args []string) (auditArgs, error) {
	if len(args) == 0 {
		return auditArgs{}, errors.New("audit: which command? keygen, public-key, checkpoint, export, prove or receipt")
	}
	if isHelp(args[0]) {
		return auditArgs{}, flag.ErrHelp
	}
	a := auditArgs{sub: args[0]}
	fs := flag.NewFlagSet("audit "+a.sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	rest := args[1:]
	switch a.sub {
	case "keygen":
		fs.StringVar(&a.name, "name", "booklets-audit", "the log's name")
		// The file may come before or after the flag.
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			a.file, rest = rest[0], rest[1:]
		}
	case "public-key", "checkpoint", "export":
	case "receipt":
		fs.StringVar(&a.batch, "batch", "", "batch id")
		fs.StringVar(&a.file, "dir", "", "folder to write the files to")
	case "prove":
		fs.Int64Var(&a.seq, "seq", 0, "entry")
		fs.StringVar(&a.batch, "batch", "", "batch id")
		fs.Int64Var(&a.from, "from", 0, "old tree size")
		fs.Int64Var(&a.to, "to", 0, "new tree size")
		fs.Int64Var(&a.size, "size", 0, "tree size")
	default:
		return a, fmt.Errorf("audit: unknown command %q", a.sub)
	}
	if err := fs.Parse(rest); err != nil {
		return a, fmt.Errorf("audit %s: %w", a.sub, err)
	}
	switch {
	case a.sub == "keygen" && a.file == "" && fs.NArg() == 1:
		a.file = fs.Arg(0)
	case fs.NArg() > 0:
		return a, fmt.Errorf("audit %s: unexpected argument %q", a.sub, fs.Arg(0))
	}
	if a.sub == "receipt" && (a.batch == "" || a.file == "") {
		return a, errors.New("audit receipt: give --batch ID and --dir DIR")
	}
	if a.sub == "keygen" && a.file == "" {
		return a, errors.New("audit keygen: name the FILE to write the key to")
	}
	if a.sub == "prove" {
		n := 0
		for _, set := range []bool{a.seq != 0, a.batch != "", a.from != 0} {
			if set {
				n++
			}
		}
		if n != 1 {
			return a, errors.New("audit prove: give one of --seq N, --batch ID or --from OLD")
		}
		if a.to != 0 && a.from == 0 {
			return a, errors.New("audit prove: --to goes with --from")
		}
		if a.seq < 0 || a.from < 0 || a.to < 0 || a.size < 0 {
			return a, errors.New("audit prove: sizes and seq are positive")
		}
	}
	return a, nil
}

// auditOffline runs the commands that connect to nothing.
func auditOffline(cfg config, a auditArgs, stdout io.Writer) error {
	switch a.sub {
	case "keygen":
		private, public, err := audit.GenerateKey(rand.Reader, a.name)
		if err != nil {
			return usageError{fmt.Errorf("audit keygen: %w", err), auditUsage}
		}
		// O_EXCL: a key that signed checkpoints is never replaced by
		// accident (auditors hold its public key).
		f, err := os.OpenFile(a.file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("audit keygen: %w", err)
		}
		if _, err := io.WriteString(f, private+"\n"); err != nil {
			f.Close()
			return fmt.Errorf("audit keygen: write %s: %w", a.file, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("audit keygen: write %s: %w", a.file, err)
		}
		_, err = fmt.Fprintln(stdout, public)
		return err
	case "public-key":
		s, err := loadSigner(cfg.Audit)
		if err != nil {
			return err
		}
		if s == nil {
			return errors.New("audit public-key: AUDIT_SIGNING_KEY_FILE is not set")
		}
		_, err = fmt.Fprintln(stdout, s.PublicKey)
		return err
	}
	return fmt.Errorf("audit %s needs the database", a.sub)
}

// loadSigner reads the signing key, nil if none is configured. Errors
// name the file, never its content.
func loadSigner(c auditConfig) (*audit.Signer, error) {
	if c.KeyFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("AUDIT_SIGNING_KEY_FILE: %w", err)
	}
	s, err := audit.NewSigner(string(b))
	if err != nil {
		return nil, fmt.Errorf("AUDIT_SIGNING_KEY_FILE %s: %w", c.KeyFile, err)
	}
	return s, nil
}

// newCheckpointer is the configured signer and publishers, nil when no
// key is configured.
func newCheckpointer(cfg config, db *pgxpool.Pool) (*audit.Checkpointer, error) {
	s, err := loadSigner(cfg.Audit)
	if err != nil || s == nil {
		return nil, err
	}
	// The wall clock, not the demo clock: the audit entries are stamped
	// with it (postgres.AppendAudit), and a checkpoint's time says when
	// they were seen.
	c := &audit.Checkpointer{Store: postgres.AuditTree{DB: db}, Signer: s, Now: time.Now}
	if cfg.Audit.Dir != "" {
		c.Publishers = append(c.Publishers, dirPublisher{dir: cfg.Audit.Dir})
	}
	if cfg.Audit.SFTPDir != "" && cfg.SFTP.KeyFile != "" {
		sc := cfg.SFTP
		sc.Dir = cfg.Audit.SFTPDir
		c.Publishers = append(c.Publishers, sftpPublisher{cfg: sc})
	}
	return c, nil
}

// signCheckpoint signs after a run and logs what it did; a refusal is an
// error an operator must look at (the log was changed behind our back).
func signCheckpoint(ctx context.Context, c *audit.Checkpointer, onlyIfGrown bool, log zerolog.Logger) {
	if c == nil {
		log.Warn().Msg("no AUDIT_SIGNING_KEY_FILE: no audit checkpoint signed")
		return
	}
	s, err := c.Sign(ctx, onlyIfGrown)
	switch {
	case errors.Is(err, audit.ErrRefused):
		log.Error().Err(err).Msg("audit checkpoint REFUSED: the audit log no longer matches what was signed; run verify-audit and alert the auditors")
		return
	case err != nil && !s.New:
		log.Error().Err(err).Msg("audit checkpoint not signed")
		return
	case err != nil:
		log.Error().Err(err).Int64("tree_size", s.Size).Msg("audit checkpoint signed and stored but not published everywhere")
		return
	}
	if s.New {
		log.Info().Int64("tree_size", s.Size).Str("root", s.Root.String()).Msg("audit checkpoint signed")
	}
}

// watchCheckpoints signs a checkpoint whenever the log has grown, until
// ctx ends.
func watchCheckpoints(ctx context.Context, c *audit.Checkpointer, every time.Duration, log zerolog.Logger) {
	if c == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			signCheckpoint(ctx, c, true, log)
		}
	}
}

// auditCommand runs `reconciler audit` commands that read the database.
func auditCommand(ctx context.Context, cfg config, a auditArgs, db *pgxpool.Pool, stdout io.Writer) error {
	if a.offline() {
		return auditOffline(cfg, a, stdout)
	}
	if a.sub == "receipt" {
		return writeReceipt(ctx, db, a.batch, a.file, stdout) // receipts.go
	}
	tree := postgres.AuditTree{DB: db}
	c, err := newCheckpointer(cfg, db)
	if err != nil {
		return err
	}
	switch a.sub {
	case "checkpoint":
		if c == nil {
			return errors.New("audit checkpoint: AUDIT_SIGNING_KEY_FILE is not set")
		}
		s, err := c.Sign(ctx, false)
		if s.New {
			if _, werr := stdout.Write(s.Note); werr != nil {
				return werr
			}
		}
		return err
	case "export":
		origin, public := "", ""
		var refused error
		if c != nil {
			// The auditor's export should end with a checkpoint covering
			// it all; one is signed first if the log has grown.
			_, err := c.Sign(ctx, true)
			switch {
			case errors.Is(err, audit.ErrRefused):
				// The log was changed behind our back: the auditor gets
				// the export all the same, to see it for themselves.
				refused = fmt.Errorf("the export was written, but %w", err)
			case err != nil && !errors.Is(err, audit.ErrPublish):
				return err
			}
			origin, public = c.Signer.Origin(), c.Signer.PublicKey
		}
		if _, err := tree.Export(ctx, stdout, origin, public); err != nil {
			return err
		}
		return refused
	case "prove":
		return prove(ctx, a, tree, stdout)
	}
	return fmt.Errorf("audit: unknown command %q", a.sub)
}

// proof is what `audit prove` prints: the proofs and the checkpoint whose
// root they lead to (when they are against the latest checkpoint). The
// auditors' proof endpoints answer the same (audit.Prove).
type proof = audit.Proofs

func prove(ctx context.Context, a auditArgs, tree postgres.AuditTree, stdout io.Writer) error {
	out, err := audit.Prove(ctx, tree, audit.ProofRequest{Seq: a.seq, Batch: a.batch, From: a.from, To: a.to, Size: a.size})
	if err != nil {
		return fmt.Errorf("audit prove: %w", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// checkpointName is a published checkpoint's file name: by size, then
// time, so that names sort in the order they were signed.
func checkpointName(c audit.Checkpoint) string {
	return fmt.Sprintf("%012d-%s.checkpoint", c.Size, c.Time.UTC().Format("20060102T150405Z"))
}

// latestName is the file that holds the latest checkpoint in a folder.
const latestName = "latest.checkpoint"

// dirPublisher writes checkpoints to a folder: each under a name of its
// own, never overwritten, and the latest as latest.checkpoint.
type dirPublisher struct{ dir string }

func (p dirPublisher) String() string { return "the checkpoint folder (AUDIT_CHECKPOINT_DIR) " + p.dir }

func (p dirPublisher) Publish(_ context.Context, c audit.Checkpoint, signed []byte) error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	name := filepath.Join(p.dir, checkpointName(c))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil // signed twice in the same second at the same size: the same statement
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(signed); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	tmp := filepath.Join(p.dir, "."+latestName+".part")
	if err := os.WriteFile(tmp, signed, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(p.dir, latestName))
}

// Latest reads the latest checkpoint published to the folder: the newest
// of latest.checkpoint and the named files (on a write-once store the
// rename may have been refused).
func (p dirPublisher) Latest(context.Context) ([]byte, error) {
	names, err := filepath.Glob(filepath.Join(p.dir, "*.checkpoint"))
	if err != nil || len(names) == 0 {
		return nil, err
	}
	sort.Strings(names)
	last := names[len(names)-1]
	if filepath.Base(last) == latestName && len(names) > 1 {
		last = names[len(names)-2]
	}
	return os.ReadFile(last)
}

// sftpPublisher uploads checkpoints to the partner's server, so the
// partner keeps a copy we cannot take back.
type sftpPublisher struct{ cfg sftp.Config }

func (p sftpPublisher) String() string { return "the partner's SFTP folder " + p.cfg.Dir }

func (p sftpPublisher) Publish(ctx context.Context, c audit.Checkpoint, signed []byte) error {
	cl, err := sftp.Dial(ctx, p.cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.EnsureDir(); err != nil {
		return err
	}
	_, err = cl.Upload(ctx, checkpointName(c), func(w io.Writer) error {
		_, err := w.Write(signed)
		return err
	})
	return err
}

// Latest is not read back from the partner's server: a connection per
// check for a copy the auditors read there themselves.
func (p sftpPublisher) Latest(context.Context) ([]byte, error) { return nil, nil }

// Package partnersim is the print partner for `make run`, demos and the
// end-to-end test, on machines without OpenSSH's sshd: an SFTP server in
// the calling process (golang.org/x/crypto/ssh and pkg/sftp's server side)
// with key-only authentication and a host key of its own, both kept in a
// state folder so that restarts keep the same keys (and known_hosts stays
// valid), and a clerk that plays the partner's data protection officer:
// 30 working days after a batch arrived, by the clock it is given (so within
// minutes in demo mode), it deletes the data file and writes the deletion
// confirmation the reconciler expects. When it can read a batch (plain CSV,
// or encrypted to its key), it also reports each booklet dispatched on the
// day it finds the batch, in a dispatch file in its updates folder.
//
// It is a simulator, not a hardened server: sessions start in the login
// folder but are not jailed to it, so listen on loopback only. The
// integration tests of the SFTP adapter run against OpenSSH (pkg/testkit/sftptest).
package partnersim

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/pkg/sftp"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/workdays"
	"booklets/pkg/platform/clock"
	"booklets/pkg/stage/reconcile"
)

// The partner's folders, relative to the SFTP login folder. They are the
// defaults of the batcher (SFTP_DIR) and the reconciler
// (SFTP_CONFIRMATIONS_DIR, SFTP_PROCESSED_DIR, SFTP_REJECTED_DIR), and what
// docs/partner-interface.md describes.
const (
	DirBatches       = "outbox"
	DirConfirmations = "confirmations"
	DirProcessed     = "confirmations/processed"
	DirRejected      = "confirmations/rejected"
	// The dispatch and returns files (the reconciler's SFTP_UPDATES_DIR,
	// SFTP_UPDATES_PROCESSED_DIR, SFTP_UPDATES_REJECTED_DIR).
	DirUpdates          = "updates"
	DirUpdatesProcessed = "updates/processed"
	DirUpdatesRejected  = "updates/rejected"
)

// Config sets up the simulator.
type Config struct {
	Addr string // listen address, e.g. "127.0.0.1:2222" ("127.0.0.1:0" for any free port)
	User string // the only user name accepted; default "booklets" (the batcher's SFTP_USER default)
	Dir  string // state folder: keys, known_hosts and the login folder "home"
	// Clock is the clerk's clock; the services' clock in demo mode, so that
	// all agree on the date. Nil means the real clock.
	Clock clock.Clock
	// Day is the real length of a day on Clock (DEMO_DAY in demo mode);
	// zero means 24 hours. With it the clerk turns a file's arrival time on
	// disk into Clock's time, so that the delivery date is the upload's, as
	// for the batcher, however late the clerk looks.
	Day time.Duration
	// Calendar counts the 30 working days; nil means England and Wales
	// without extra holidays.
	Calendar *workdays.Calendar
	// NoClerk turns the clerk off: batches are received and never
	// confirmed (to show an overdue deletion, say).
	NoClerk bool
	// CheckEvery is how often the clerk looks at the batches folder, in
	// real time; default 200ms.
	CheckEvery time.Duration
	// SigningKeyFile is the partner's armored OpenPGP private key (not
	// passphrase-protected): each confirmation is signed with it, as
	// deletion_<batch_id>.json.asc beside it, as a real partner does with
	// gpg --armor --detach-sign (docs/partner-interface.md). Empty: the
	// confirmations are unsigned.
	SigningKeyFile string
	Log            zerolog.Logger
}

// Server is a running simulator. Its fields are the settings the batcher
// and the reconciler need (see Env).
type Server struct {
	Addr       string // SFTP_ADDR
	User       string // SFTP_USER
	KeyFile    string // SFTP_KEY_FILE: our (booklets') private key
	KnownHosts string // SFTP_KNOWN_HOSTS: pins the simulator's host key
	Root       string // the login folder on disk

	l      net.Listener
	sc     *ssh.ServerConfig
	cfg    Config
	signer *pgp.Entity // nil: confirmations are unsigned
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
	close  sync.Once
}

// Start listens, starts the clerk and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.User == "" {
		cfg.User = "booklets"
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	if cfg.Calendar == nil {
		cfg.Calendar = workdays.New()
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = 200 * time.Millisecond
	}
	var signer *pgp.Entity
	if cfg.SigningKeyFile != "" {
		b, err := os.ReadFile(cfg.SigningKeyFile)
		if err != nil {
			return nil, fmt.Errorf("partnersim: signing key: %w", err)
		}
		if signer, err = openpgp.ReadPrivateKey(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("partnersim: signing key %s: %w", cfg.SigningKeyFile, err)
		}
	}
	root := filepath.Join(cfg.Dir, "home")
	for _, d := range []string{DirBatches, DirConfirmations, DirProcessed, DirRejected, DirUpdates, DirUpdatesProcessed, DirUpdatesRejected} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("partnersim: folder: %w", err)
		}
	}
	hostKey, err := loadOrCreateKey(filepath.Join(cfg.Dir, "host_ed25519"))
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(cfg.Dir, "booklets_ed25519")
	userKey, err := loadOrCreateKey(keyFile)
	if err != nil {
		return nil, err
	}
	userPub := userKey.PublicKey().Marshal()
	sc := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == cfg.User && string(k.Marshal()) == string(userPub) {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("unknown user or key")
		},
	}
	sc.AddHostKey(hostKey)
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("partnersim: listen on %s: %w", cfg.Addr, err)
	}
	s := &Server{
		Addr: l.Addr().String(), User: cfg.User, KeyFile: keyFile, Root: root,
		KnownHosts: filepath.Join(cfg.Dir, "known_hosts"),
		l:          l, sc: sc, cfg: cfg, done: make(chan struct{}), signer: signer,
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, hostKey.PublicKey())
	if err := os.WriteFile(s.KnownHosts, []byte(line+"\n"), 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("partnersim: known_hosts: %w", err)
	}
	var ctx context.Context
	ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.accept()
	if !cfg.NoClerk {
		s.wg.Add(1)
		go s.clerk(ctx)
	}
	return s, nil
}

// Env is the SFTP settings of the batcher and the reconciler for this
// simulator.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"SFTP_ADDR":                  s.Addr,
		"SFTP_USER":                  s.User,
		"SFTP_KEY_FILE":              s.KeyFile,
		"SFTP_KNOWN_HOSTS":           s.KnownHosts,
		"SFTP_DIR":                   DirBatches,
		"SFTP_CONFIRMATIONS_DIR":     DirConfirmations,
		"SFTP_PROCESSED_DIR":         DirProcessed,
		"SFTP_REJECTED_DIR":          DirRejected,
		"SFTP_UPDATES_DIR":           DirUpdates,
		"SFTP_UPDATES_PROCESSED_DIR": DirUpdatesProcessed,
		"SFTP_UPDATES_REJECTED_DIR":  DirUpdatesRejected,
	}
}

// Path is the file on disk for a path relative to the login folder.
func (s *Server) Path(elem ...string) string {
	return filepath.Join(append([]string{s.Root}, elem...)...)
}

// Close stops listening and the clerk, ends the sessions and waits for
// them.
func (s *Server) Close() error {
	var err error
	s.close.Do(func() {
		s.cancel()
		close(s.done)
		err = s.l.Close()
		s.wg.Wait()
	})
	return err
}

// Wait blocks until ctx ends, then closes the server.
func (s *Server) Wait(ctx context.Context) error {
	<-ctx.Done()
	return s.Close()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return // closed
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
		}()
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer c.Close()
	conn, chans, reqs, err := ssh.NewServerConn(c, s.sc)
	if err != nil {
		s.cfg.Log.Warn().Err(err).Msg("partner simulator refused a connection")
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	go func() {
		<-s.done
		conn.Close()
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.session(ch, requests)
	}
}

func (s *Server) session(ch ssh.Channel, requests <-chan *ssh.Request) {
	defer ch.Close()
	for req := range requests {
		// The payload of a subsystem request is the length-prefixed name.
		ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
		req.Reply(ok, nil)
		if !ok {
			continue
		}
		srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(s.Root))
		if err != nil {
			return
		}
		_ = srv.Serve() // ends when the client closes
		srv.Close()
		return
	}
}

// clerk plays the partner's data protection officer: for each complete
// batch (its manifest has arrived), once 30 working days have passed since
// it arrived, it deletes the data file and writes the deletion
// confirmation.
func (s *Server) clerk(ctx context.Context) {
	defer s.wg.Done()
	arrived := map[string]time.Time{} // manifest name -> when it arrived, on the clerk's clock
	mismatched := map[string]bool{}   // manifests whose files do not match them: never processed
	tick := time.NewTicker(s.cfg.CheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		manifests, _ := filepath.Glob(s.Path(DirBatches, "*.manifest.json"))
		for _, path := range manifests {
			name := filepath.Base(path)
			now := s.cfg.Clock()
			if _, seen := arrived[name]; !seen {
				at := now
				if fi, err := os.Stat(path); err == nil {
					// How long ago it arrived in real time, scaled to the clock.
					ago := time.Duration(float64(time.Since(fi.ModTime())) * clock.DayFactor(s.cfg.Day))
					at = now.Add(-max(ago, 0))
				}
				arrived[name] = at
				s.cfg.Log.Info().Str("file", name).Msg("partner simulator received a batch")
				if err := s.checkBatch(path); err != nil {
					mismatched[name] = true
					s.cfg.Log.Warn().Err(err).Str("file", name).Msg("partner simulator: the batch does not match its manifest; not processed")
				}
			}
			if mismatched[name] {
				continue
			}
			// Posted the day the clerk finds the batch, so never before
			// the delivery date the batcher recorded, on any clock.
			if err := s.dispatch(path, now); err != nil {
				s.cfg.Log.Warn().Err(err).Str("file", name).Msg("partner simulator could not report a batch dispatched")
			}
			if err := s.confirm(path, arrived[name], now); err != nil {
				s.cfg.Log.Warn().Err(err).Str("file", name).Msg("partner simulator could not confirm a batch")
			}
		}
	}
}

func (s *Server) confirm(manifestPath string, arrived, now time.Time) error {
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		return err
	}
	m, err := batchfile.ParseManifest(b)
	if err != nil {
		return err
	}
	name := "deletion_" + m.BatchID + ".json"
	for _, d := range []string{DirConfirmations, DirProcessed, DirRejected} {
		if _, err := os.Stat(s.Path(d, name)); err == nil {
			return nil // already confirmed
		}
	}
	// Rejected copies are renamed <name>.<hash>.json: one is enough to
	// know the clerk has written it.
	if rejected, _ := filepath.Glob(s.Path(DirRejected, "deletion_"+m.BatchID+".*")); len(rejected) > 0 {
		return nil
	}
	delivered := businessday.LondonDate(arrived).UTC()
	due := s.cfg.Calendar.DueDate(delivered)
	if businessday.LondonDate(now).UTC().Before(due) {
		return nil
	}
	// The partner deletes the data file (and its XLSX copy), then says so.
	if err := os.Remove(s.Path(DirBatches, m.DataFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := s.removeBatchFiles(m); err != nil {
		return err
	}
	count := m.RecordCount
	c := reconcile.Confirmation{
		FormatVersion: reconcile.FormatVersion, BatchID: m.BatchID, RecordCount: &count,
		SHA256: m.SHA256, DeletedAt: now.Truncate(time.Second), DeletedBy: "Partner simulator",
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if s.signer != nil {
		// The signature first, as the interface asks, so that the
		// reconciler finds it when it finds the confirmation.
		sig, err := openpgp.DetachSign(s.signer, data)
		if err != nil {
			return err
		}
		if err := s.place(name+reconcile.SigExt, sig); err != nil {
			return err
		}
	}
	if err := s.place(name, data); err != nil {
		return err
	}
	s.cfg.Log.Info().Str("batch_id", m.BatchID).Str("delivered", delivered.Format(time.DateOnly)).
		Str("due_date", due.Format(time.DateOnly)).Str("file", name).
		Msg("partner simulator deleted the batch and wrote its deletion confirmation")
	return nil
}

// place writes a file into the confirmations folder under a hidden name
// and renames it, as the interface asks, so that the reconciler never
// reads half a file.
func (s *Server) place(name string, data []byte) error {
	return placeIn(s.Path(DirConfirmations), name, data)
}

func placeIn(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, "."+name+".part")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// UpdatesCSV is an updates file (dispatch and returns) with these rows, as
// docs/partner-interface.md describes it: the header, then one row per
// booklet and status; CRLF line endings, as a spreadsheet saves them.
func UpdatesCSV(rows []reconcile.UpdateRow) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	_ = w.Write(reconcile.UpdatesHeader)
	for _, r := range rows {
		_ = w.Write([]string{r.Reference, r.Format, r.Status, r.Date.Format(time.DateOnly), r.Reason})
	}
	w.Flush()
	return b.Bytes()
}

// WriteUpdates puts an updates file for the batch in the updates folder,
// named updates_<batch id>_<label>.csv, signed (its .asc first) when the
// simulator has a signing key, each under a hidden name then renamed, as a
// partner does. It returns the file's name.
func (s *Server) WriteUpdates(batchID, label string, rows []reconcile.UpdateRow) (string, error) {
	name := fmt.Sprintf("updates_%s_%s.csv", batchID, label)
	data := UpdatesCSV(rows)
	if s.signer != nil {
		sig, err := openpgp.DetachSign(s.signer, data)
		if err != nil {
			return "", err
		}
		if err := placeIn(s.Path(DirUpdates), name+reconcile.SigExt, sig); err != nil {
			return "", err
		}
	}
	return name, placeIn(s.Path(DirUpdates), name, data)
}

// dispatch reports every booklet of a batch dispatched on the London date
// of posted, once, when the clerk can read the batch: plain CSV, or
// encrypted to the simulator's key (make run). Only references and
// formats are read, in memory; nothing of the batch is written. The
// columns are found by name, so a file of format version 1 (no language)
// reads as one of version 2. An updates file gives one status per order
// and format (docs/partner-interface.md): a format ordered in English and
// Welsh is two rows of the batch, posted together, and one dispatch row.
func (s *Server) dispatch(manifestPath string, posted time.Time) error {
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		return err
	}
	m, err := batchfile.ParseManifest(b)
	if err != nil {
		return err
	}
	const label = "dispatch"
	name := fmt.Sprintf("updates_%s_%s.csv", m.BatchID, label)
	for _, d := range []string{DirUpdates, DirUpdatesProcessed} {
		if _, err := os.Stat(s.Path(d, name)); err == nil {
			return nil // reported already
		}
	}
	if done, _ := filepath.Glob(s.Path(DirUpdatesRejected, "updates_"+m.BatchID+"_"+label+".*")); len(done) > 0 {
		return nil
	}
	if m.RecordCount == 0 {
		return nil // nothing to post
	}
	f, err := os.Open(s.Path(DirBatches, m.DataFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted already
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if m.Encryption == batchfile.EncryptionOpenPGP {
		if s.signer == nil {
			return nil // the batch is not for our key: the clerk cannot read it
		}
		md, err := pgp.ReadMessage(f, pgp.EntityList{s.signer}, nil, nil)
		if err != nil {
			return fmt.Errorf("decrypt %s: %w", m.DataFile, err)
		}
		r = md.UnverifiedBody
	}
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("read %s: %w", m.DataFile, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	ri, ok1 := col["reference"]
	fi, ok2 := col["format"]
	if !ok1 || !ok2 {
		return fmt.Errorf("read %s: no reference or format column", m.DataFile)
	}
	on := businessday.LondonDate(posted).UTC()
	var rows []reconcile.UpdateRow
	seen := map[[2]string]bool{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", m.DataFile, err)
		}
		if k := [2]string{rec[ri], rec[fi]}; !seen[k] { // the same format in another language
			seen[k] = true
			rows = append(rows, reconcile.UpdateRow{Reference: rec[ri], Format: rec[fi], Status: reconcile.Dispatched, Date: on})
		}
	}
	if _, err := s.WriteUpdates(m.BatchID, label, rows); err != nil {
		return err
	}
	s.cfg.Log.Info().Str("batch_id", m.BatchID).Int("dispatched", len(rows)).Str("file", name).
		Msg("partner simulator posted the batch and wrote its dispatch file")
	return nil
}

// loadOrCreateKey reads an ed25519 private key in OpenSSH format, creating
// it the first time so that the host key (pinned in known_hosts) and our
// key stay the same across runs.
func loadOrCreateKey(path string) (ssh.Signer, error) {
	if b, err := os.ReadFile(path); err == nil {
		signer, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("partnersim: key %s: %w", path, err)
		}
		return signer, nil
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("partnersim: key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "booklets partner simulator")
	if err != nil {
		return nil, fmt.Errorf("partnersim: key: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("partnersim: key: %w", err)
	}
	return ssh.NewSignerFromKey(priv)
}

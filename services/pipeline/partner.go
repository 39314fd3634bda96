package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"booklets/pkg/batchfile"
	"booklets/pkg/clock"
	"booklets/pkg/reconcile"
	"booklets/pkg/workdays"
)

// auditPath is where the reconciler serves the auditors' page.
const auditPath = "/audit"

// The partner's folders, relative to its SFTP login folder.
const (
	partnerBatches   = "batches"
	partnerConfirms  = "confirmations"
	partnerProcessed = "confirmations/processed"
	partnerRejected  = "confirmations/rejected"
)

// partner is the print partner for a local run: an SFTP server in this
// process (golang.org/x/crypto/ssh and pkg/sftp's server side, so `make run`
// needs no sshd), with a generated host key and user key kept in
// runDir/partner, and a clerk that writes the deletion confirmation for each
// batch 30 working days after it arrived, by the pipeline's clock (so within
// minutes in demo mode).
//
// It is a simulator for demonstrations: the SFTP session is rooted at the
// partner's folder by working directory only, not chrooted, and listens on
// loopback. The tests of the SFTP adapter run against OpenSSH.
type partner struct {
	addr       string
	root       string // the SFTP login folder
	keyFile    string
	knownHosts string

	ln     net.Listener
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startPartner(ctx context.Context, cfg config, out *console) (*partner, error) {
	dir := filepath.Join(cfg.runDir, "partner")
	p := &partner{
		root:       filepath.Join(dir, "home"),
		keyFile:    filepath.Join(dir, "booklets_ed25519"),
		knownHosts: filepath.Join(dir, "known_hosts"),
	}
	for _, d := range []string{partnerBatches, partnerConfirms, partnerProcessed, partnerRejected} {
		if err := os.MkdirAll(filepath.Join(p.root, d), 0o700); err != nil {
			return nil, fmt.Errorf("partner simulator folder: %w", err)
		}
	}
	hostKey, err := loadOrMakeKey(filepath.Join(dir, "host_ed25519"))
	if err != nil {
		return nil, err
	}
	userKey, err := loadOrMakeKey(p.keyFile)
	if err != nil {
		return nil, err
	}
	userPub := userKey.PublicKey().Marshal()
	sc := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if string(k.Marshal()) == string(userPub) {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	sc.AddHostKey(hostKey)

	p.ln, err = net.Listen("tcp", cfg.partnerAddr)
	if err != nil {
		return nil, fmt.Errorf("partner simulator cannot listen on %s (set PARTNER_ADDR): %w", cfg.partnerAddr, err)
	}
	p.addr = p.ln.Addr().String()
	line := knownhosts.Line([]string{knownhosts.Normalize(p.addr)}, hostKey.PublicKey())
	if err := os.WriteFile(p.knownHosts, []byte(line+"\n"), 0o600); err != nil {
		p.ln.Close()
		return nil, fmt.Errorf("partner simulator known_hosts: %w", err)
	}

	ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.serve(sc, out) }()
	now := clock.Clock(clock.Real)
	if cfg.demo {
		now = clock.Demo(cfg.demoEpoch, cfg.demoDay)
	}
	go func() { defer p.wg.Done(); p.clerk(ctx, now, out) }()
	out.printf("partner simulator: SFTP on %s, files in %s", p.addr, p.root)
	return p, nil
}

// env is the SFTP settings of the batcher and the reconciler.
func (p *partner) env() map[string]string {
	return map[string]string{
		"SFTP_ADDR":              p.addr,
		"SFTP_USER":              "partner",
		"SFTP_KEY_FILE":          p.keyFile,
		"SFTP_KNOWN_HOSTS":       p.knownHosts,
		"SFTP_DIR":               partnerBatches,
		"SFTP_CONFIRMATIONS_DIR": partnerConfirms,
		"SFTP_PROCESSED_DIR":     partnerProcessed,
		"SFTP_REJECTED_DIR":      partnerRejected,
	}
}

func (p *partner) close() {
	p.cancel()
	p.ln.Close()
	p.wg.Wait()
}

func (p *partner) serve(sc *ssh.ServerConfig, out *console) {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			p.session(c, sc, out)
		}()
	}
}

func (p *partner) session(c net.Conn, sc *ssh.ServerConfig, out *console) {
	defer c.Close()
	sconn, chans, reqs, err := ssh.NewServerConn(c, sc)
	if err != nil {
		out.printf("partner simulator: refused a connection: %v", err)
		return
	}
	defer sconn.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for req := range requests {
				ok := req.Type == "subsystem" && len(req.Payload) >= 4 && string(req.Payload[4:]) == "sftp"
				req.Reply(ok, nil)
				if !ok {
					continue
				}
				srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(p.root))
				if err != nil {
					return
				}
				_ = srv.Serve() // ends when the client closes
				srv.Close()
				return
			}
		}()
	}
}

// clerk plays the partner's data protection officer: for each complete
// batch (its manifest has arrived), once 30 working days have passed since
// it arrived by the pipeline's clock, it deletes the data file and writes
// the deletion confirmation the reconciler expects.
func (p *partner) clerk(ctx context.Context, now clock.Clock, out *console) {
	cal := workdays.New()
	arrived := map[string]time.Time{} // manifest name -> arrival date
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		manifests, _ := filepath.Glob(filepath.Join(p.root, partnerBatches, "*.manifest.json"))
		for _, path := range manifests {
			name := filepath.Base(path)
			t := now()
			if _, seen := arrived[name]; !seen {
				arrived[name] = t
				out.printf("partner simulator: received %s", name)
			}
			if err := p.confirm(path, arrived[name], t, cal, out); err != nil {
				out.printf("partner simulator: %s: %v", name, err)
			}
		}
	}
}

func (p *partner) confirm(manifestPath string, arrived, now time.Time, cal *workdays.Calendar, out *console) error {
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		return err
	}
	m, err := batchfile.ParseManifest(b)
	if err != nil {
		return err
	}
	name := "deletion_" + m.BatchID + ".json"
	for _, d := range []string{partnerConfirms, partnerProcessed, partnerRejected} {
		if _, err := os.Stat(filepath.Join(p.root, d, name)); err == nil {
			return nil // already confirmed
		}
	}
	london := londonDate(arrived)
	due := cal.DueDate(london)
	if londonDate(now).Before(due) {
		return nil
	}
	// The partner deletes the data file, then says so.
	if err := os.Remove(filepath.Join(p.root, partnerBatches, m.DataFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	count := m.RecordCount
	c := reconcile.Confirmation{
		FormatVersion: reconcile.FormatVersion, BatchID: m.BatchID, RecordCount: &count,
		SHA256: m.SHA256, DeletedAt: now.Truncate(time.Second), DeletedBy: "Partner simulator (make run)",
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	// Written under a temporary name and renamed, so the reconciler never
	// reads half a confirmation.
	final := filepath.Join(p.root, partnerConfirms, name)
	if err := os.WriteFile(final+".tmp", append(data, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Rename(final+".tmp", final); err != nil {
		return err
	}
	out.printf("partner simulator: deleted batch %s (arrived %s, 30 working days on %s) and wrote %s",
		m.BatchID, london.Format(time.DateOnly), due.Format(time.DateOnly), name)
	return nil
}

// londonDate is the London calendar date of t as midnight UTC, the form
// pkg/workdays uses.
func londonDate(t time.Time) time.Time {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// loadOrMakeKey reads an ed25519 private key in OpenSSH format, creating
// it the first time so the partner's host key (pinned in known_hosts) stays
// the same across runs.
func loadOrMakeKey(path string) (ssh.Signer, error) {
	if b, err := os.ReadFile(path); err == nil {
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("partner simulator key %s: %w", path, err)
		}
		return s, nil
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("partner simulator key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "booklets make run")
	if err != nil {
		return nil, fmt.Errorf("partner simulator key: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("partner simulator key: %w", err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("partner simulator key: %w", err)
	}
	return s, nil
}

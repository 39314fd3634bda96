// Package partnersim is the print partner's SFTP server for `make run` and
// demos on machines without OpenSSH's sshd: an in-process server built on
// pkg/sftp's server side over golang.org/x/crypto/ssh, with key-only
// authentication and a host key of its own, both kept in a state folder so
// that restarts keep the same keys (and known_hosts stays valid).
//
// It is a simulator, not a hardened server: sessions start in the root
// folder but are not jailed to it. The integration tests use the real
// OpenSSH server (pkg/sftptest).
package partnersim

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Config sets up the simulator.
type Config struct {
	Addr string // listen address, e.g. "127.0.0.1:2222" ("127.0.0.1:0" for any free port)
	User string // the only user name accepted, e.g. "booklets"
	Dir  string // state folder: keys, known_hosts and the files folder "root"
}

// Server is a running simulator. Its fields are the settings the batcher
// needs (SFTP_ADDR, SFTP_USER, SFTP_KEY_FILE, SFTP_KNOWN_HOSTS).
type Server struct {
	Addr       string
	User       string
	KeyFile    string
	KnownHosts string
	Root       string

	l    net.Listener
	cfg  *ssh.ServerConfig
	wg   sync.WaitGroup
	done chan struct{}
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.User == "" {
		cfg.User = "booklets"
	}
	root := filepath.Join(cfg.Dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("partnersim: %w", err)
	}
	hostSigner, err := loadOrCreateKey(filepath.Join(cfg.Dir, "host_ed25519"))
	if err != nil {
		return nil, err
	}
	userKeyFile := filepath.Join(cfg.Dir, "user_ed25519")
	userSigner, err := loadOrCreateKey(userKeyFile)
	if err != nil {
		return nil, err
	}
	userKey := userSigner.PublicKey().Marshal()
	sc := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == cfg.User && string(key.Marshal()) == string(userKey) {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("unknown user or key")
		},
	}
	sc.AddHostKey(hostSigner)
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("partnersim: listen on %s: %w", cfg.Addr, err)
	}
	s := &Server{Addr: l.Addr().String(), User: cfg.User, KeyFile: userKeyFile, Root: root, l: l, cfg: sc, done: make(chan struct{})}
	s.KnownHosts = filepath.Join(cfg.Dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, hostSigner.PublicKey())
	if err := os.WriteFile(s.KnownHosts, []byte(line+"\n"), 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("partnersim: %w", err)
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Close stops listening and waits for sessions to end.
func (s *Server) Close() error {
	close(s.done)
	err := s.l.Close()
	s.wg.Wait()
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
			return
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
	conn, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
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
		if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
			srv.Close()
			return
		}
		srv.Close()
		return
	}
}

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
		return nil, fmt.Errorf("partnersim: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, fmt.Errorf("partnersim: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("partnersim: %w", err)
	}
	return ssh.NewSignerFromKey(priv)
}

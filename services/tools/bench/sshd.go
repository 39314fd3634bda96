package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"booklets/pkg/testkit/sftptest"
)

// sshd is OpenSSH's server with internal-sftp on a free loopback port: the
// same kind of server as pkg/testkit/sftptest gives the tests (which needs a
// testing.TB, so the bench starts its own).
type sshd struct {
	addr       string
	port       string
	user       string
	keyFile    string
	knownHosts string
	root       string // the SFTP session's starting folder
	cmd        *exec.Cmd
	done       chan struct{}
}

func startSSHD(dir string) (*sshd, error) {
	const bin = "/usr/sbin/sshd"
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("OpenSSH server not installed at %s", bin)
	}
	if os.Geteuid() == 0 {
		// sshd running as root wants its privilege separation folder.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, err
		}
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	s := &sshd{user: u.Username, root: filepath.Join(dir, "home"), keyFile: filepath.Join(dir, "user_ed25519")}
	if err := os.MkdirAll(filepath.Join(s.root, "outbox"), 0o755); err != nil {
		return nil, err
	}
	hostPub, err := writeKey(filepath.Join(dir, "host_ed25519"))
	if err != nil {
		return nil, err
	}
	userPub, err := writeKey(s.keyFile)
	if err != nil {
		return nil, err
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, ssh.MarshalAuthorizedKey(userPub), 0o600); err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		s.addr, err = freeAddr()
		if err != nil {
			return nil, err
		}
		_, s.port, _ = net.SplitHostPort(s.addr)
		conf := filepath.Join(dir, "sshd_config")
		port, err := strconv.Atoi(s.port)
		if err != nil {
			return nil, fmt.Errorf("sshd port %q: %w", s.port, err)
		}
		config := sftptest.Config(port, filepath.Join(dir, "host_ed25519"), authorized, s.user, s.root)
		if err := os.WriteFile(conf, []byte(config), 0o600); err != nil {
			return nil, err
		}
		s.cmd = exec.Command(bin, "-D", "-e", "-f", conf)
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start sshd: %w", err)
		}
		s.done = make(chan struct{})
		go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
		if s.listening() {
			s.knownHosts = filepath.Join(dir, "known_hosts")
			line := knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, hostPub)
			return s, os.WriteFile(s.knownHosts, []byte(line+"\n"), 0o600)
		}
		s.stop()
	}
	return nil, fmt.Errorf("sshd did not start")
}

func (s *sshd) listening() bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return false // the port was taken meanwhile
		default:
		}
		if c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func (s *sshd) stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

func writeKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}

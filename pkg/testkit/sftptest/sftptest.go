// Package sftptest starts a real OpenSSH sshd serving internal-sftp for a
// test: on a free loopback port, with a generated ed25519 host key and user
// key, a known_hosts file pinning the host key, and a home folder in the
// test's temporary directory. The server stops when the test ends.
package sftptest

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
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"booklets/pkg/testkit/testenv"
)

// SSHD is the OpenSSH server binary (it must be started by absolute path).
const SSHD = "/usr/sbin/sshd"

// Server is a running sshd.
type Server struct {
	Addr       string // host:port
	User       string
	KeyFile    string // the user's private key (OpenSSH format, no passphrase)
	KnownHosts string // known_hosts with the server's host key
	Root       string // local folder that the SFTP session starts in
	HostKey    ssh.PublicKey

	dir string
}

// Start runs sshd for the test, or fails it.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(SSHD); err != nil {
		t.Fatalf("sftptest: OpenSSH server not installed at %s (Debian: apt-get install openssh-server; make test checks this first)", SSHD)
	}
	// sshd running as root wants its privilege separation folder.
	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sftptest: %v", err)
		}
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sftptest: current user: %v", err)
	}
	dir := t.TempDir()
	s := &Server{User: u.Username, dir: dir, Root: filepath.Join(dir, "home")}
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	hostPub := writeKey(t, filepath.Join(dir, "host_ed25519"))
	s.HostKey = hostPub
	userPub := writeKey(t, filepath.Join(dir, "user_ed25519"))
	s.KeyFile = filepath.Join(dir, "user_ed25519")
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, ssh.MarshalAuthorizedKey(userPub), 0o600); err != nil {
		t.Fatal(err)
	}

	for attempt := 0; ; attempt++ {
		port := freePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd, out, exited := s.run(t, port, authorized, filepath.Join(dir, "host_ed25519"))
		if waitListening(s.Addr, exited) {
			t.Cleanup(func() {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			})
			break
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if attempt == 4 {
			t.Fatalf("sftptest: sshd did not start: %s", out.String())
		}
	}
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, hostPub)
	if err := os.WriteFile(s.KnownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// Config is the sshd_config of a test SFTP server: loopback only, one user,
// key authentication only, and internal-sftp starting in root. The bench
// starts its own long-lived server with the same configuration.
func Config(port int, hostKey, authorizedKeys, user, root string) string {
	return fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
AuthorizedKeysFile %s
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AllowUsers %s
LogLevel ERROR
Subsystem sftp internal-sftp -d %s
`, port, hostKey, authorizedKeys, user, root)
}

func (s *Server) run(t testing.TB, port int, authorized, hostKey string) (*exec.Cmd, *testenv.Buffer, chan struct{}) {
	config := filepath.Join(s.dir, "sshd_config")
	conf := Config(port, hostKey, authorized, s.User, s.Root)
	if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &testenv.Buffer{}
	cmd := exec.Command(SSHD, "-D", "-e", "-f", config)
	cmd.Stdout, cmd.Stderr = out, out
	// sshd forks a process per session that inherits its output: put them
	// all in one process group to stop them together, and do not wait for
	// their output for ever.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("sftptest: start sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return cmd, out, exited
}

// Path returns the local path of a file in the SFTP home folder.
func (s *Server) Path(elem ...string) string {
	return filepath.Join(append([]string{s.Root}, elem...)...)
}

// WriteKnownHosts writes a known_hosts file that pins a different key (or
// none) for the server, for tests of refusal. changed=false writes a file
// that knows only another host; changed=true one that has another key for
// this host.
func (s *Server) WriteKnownHosts(t testing.TB, changed bool) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	host := "[127.0.0.2]:2222"
	if changed {
		host = knownhosts.Normalize(s.Addr)
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(knownhosts.Line([]string{host}, key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// KnownHostsFor writes a known_hosts file that pins the server's host key
// for another address (a relay in front of the server, say).
func (s *Server) KnownHostsFor(t testing.TB, addr string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, s.HostKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t testing.TB, path string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(sshPub), 0o644); err != nil {
		t.Fatal(err)
	}
	return sshPub
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits until sshd accepts connections, or gives up if it
// exits (the port was taken meanwhile) or is not up within 10 seconds.
func waitListening(addr string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

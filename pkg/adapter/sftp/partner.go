// Package partner is the SFTP adapter to the print partner: it uploads
// files so that the partner only ever sees complete, verified files under
// their final names, and lists, reads and moves files for the reconciler.
//
// The server is authenticated by its host key, pinned in a known_hosts
// file; an unknown or changed key is refused. We authenticate with a key.
package sftp

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strings"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Errors callers tell apart with errors.Is.
var (
	// ErrHostKey means the server's host key is not the pinned one (unknown
	// or changed). Retrying does not help: an operator must check the key.
	ErrHostKey = errors.New("SFTP host key refused")
	// ErrUnavailable means the server could not be reached or failed an
	// operation; it may work on a retry.
	ErrUnavailable = errors.New("SFTP server unavailable")
	// ErrVerify means an uploaded file did not match what was written.
	ErrVerify = errors.New("SFTP upload verification failed")
	// ErrNotFound means a remote file does not exist.
	ErrNotFound = errors.New("remote file not found")
	// ErrTooLarge means a remote file is larger than the caller's limit.
	ErrTooLarge = errors.New("remote file too large")
)

// Config says where and how to connect.
type Config struct {
	Addr       string        // host:port (SFTP_ADDR)
	User       string        // SFTP_USER
	KeyFile    string        // private key file (SFTP_KEY_FILE)
	KnownHosts string        // known_hosts file (SFTP_KNOWN_HOSTS)
	Dir        string        // remote folder for batches (SFTP_DIR), relative to the login folder or absolute
	Timeout    time.Duration // for connecting; default 15s
}

// Client is a connection to the partner's SFTP server.
type Client struct {
	conn *ssh.Client
	sftp *pkgsftp.Client
	dir  string
}

// Dial connects and authenticates, checking the host key against the
// known_hosts file.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	keyPEM, err := os.ReadFile(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("read SFTP_KEY_FILE: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse SFTP_KEY_FILE %s: %w", cfg.KeyFile, err)
	}
	hostKeys, err := knownhosts.New(cfg.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("read SFTP_KNOWN_HOSTS: %w", err)
	}
	algos, err := pinnedAlgorithms(hostKeys, cfg.Addr)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	var keyErr error
	clientCfg := &ssh.ClientConfig{
		User: cfg.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			keyErr = checkHostKey(hostKeys, cfg.Addr, host, remote, key)
			return keyErr
		},
		HostKeyAlgorithms: algos,
		Timeout:           timeout,
	}
	d := net.Dialer{Timeout: timeout}
	tcp, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %v", ErrUnavailable, cfg.Addr, err)
	}
	// The handshake has no context: bound it with a deadline.
	_ = tcp.SetDeadline(time.Now().Add(timeout))
	c, chans, reqs, err := ssh.NewClientConn(tcp, cfg.Addr, clientCfg)
	if err != nil {
		tcp.Close()
		if keyErr != nil {
			return nil, keyErr
		}
		return nil, fmt.Errorf("%w: SSH handshake with %s: %v", ErrUnavailable, cfg.Addr, err)
	}
	_ = tcp.SetDeadline(time.Time{})
	conn := ssh.NewClient(c, chans, reqs)
	sc, err := pkgsftp.NewClient(conn, pkgsftp.UseConcurrentWrites(true))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: start SFTP on %s: %v", ErrUnavailable, cfg.Addr, err)
	}
	return &Client{conn: conn, sftp: sc, dir: cfg.Dir}, nil
}

func checkHostKey(hostKeys ssh.HostKeyCallback, addr, host string, remote net.Addr, key ssh.PublicKey) error {
	err := hostKeys(host, remote, key)
	var ke *knownhosts.KeyError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke) && len(ke.Want) == 0:
		return fmt.Errorf("%w: host key for %s is not in SFTP_KNOWN_HOSTS (server offered %s %s)",
			ErrHostKey, addr, key.Type(), ssh.FingerprintSHA256(key))
	case errors.As(err, &ke):
		return fmt.Errorf("%w: host key mismatch for %s: server offered %s %s, SFTP_KNOWN_HOSTS pins another key",
			ErrHostKey, addr, key.Type(), ssh.FingerprintSHA256(key))
	default:
		var revoked *knownhosts.RevokedError
		if errors.As(err, &revoked) {
			return fmt.Errorf("%w: host key for %s is revoked in SFTP_KNOWN_HOSTS", ErrHostKey, addr)
		}
		return fmt.Errorf("%w: host key for %s: %v", ErrHostKey, addr, err)
	}
}

// pinnedAlgorithms asks for the host key types known_hosts has for addr,
// so that the server presents a key we can check (a server with an RSA and
// an ed25519 key would otherwise be free to offer the one not pinned). It
// finds them by checking a throwaway key: the refusal lists the known keys.
func pinnedAlgorithms(hostKeys ssh.HostKeyCallback, addr string) ([]string, error) {
	tcpAddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: SFTP_ADDR %q: %v", ErrUnavailable, addr, err)
	}
	probe, err := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	if err != nil {
		return nil, fmt.Errorf("host key probe: %w", err)
	}
	var ke *knownhosts.KeyError
	if err := hostKeys(addr, tcpAddr, probe); !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil, fmt.Errorf("%w: host key for %s is not in SFTP_KNOWN_HOSTS", ErrHostKey, addr)
	}
	var algos []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos, nil
}

// Close ends the session.
func (c *Client) Close() error {
	c.sftp.Close()
	return c.conn.Close()
}

// Path returns the remote path of a name in the batch folder.
func (c *Client) Path(name string) string {
	if c.dir == "" {
		return name
	}
	return path.Join(c.dir, name)
}

// EnsureDir creates the batch folder if it does not exist.
func (c *Client) EnsureDir() error {
	if c.dir == "" {
		return nil
	}
	if err := c.sftp.MkdirAll(c.dir); err != nil {
		return fmt.Errorf("%w: create folder %s: %v", ErrUnavailable, c.dir, err)
	}
	return nil
}

// TempName is the name a file is uploaded under before it is verified:
// hidden (leading dot) and with a suffix no partner job should pick up.
func TempName(name string) string { return "." + name + ".part" }

// Uploaded describes a verified upload.
type Uploaded struct {
	Name   string
	Bytes  int64
	SHA256 string
}

// Upload writes a file in the batch folder under its final name in a way
// that the partner never sees it incomplete: write calls back to produce
// the content into a temporary file (a leftover one from an earlier crash
// is overwritten), which is closed, checked for its size, read back and
// checked for its SHA-256, and only then renamed to name (replacing a file
// of that name atomically when the server supports posix-rename). If
// anything fails, no file is left under the final name by this call, and
// the temporary file is removed too (best effort): a partial file holds
// plaintext rows of personal data when the content is not encrypted, and
// nothing may be left half-sent at the partner. Only a crash of this
// process can leave it; the next upload of the same name overwrites it.
func (c *Client) Upload(ctx context.Context, name string, write func(io.Writer) error) (up Uploaded, err error) {
	tmp := c.Path(TempName(name))
	final := c.Path(name)
	f, err := c.sftp.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return Uploaded{}, fmt.Errorf("%w: create %s: %v", ErrUnavailable, tmp, err)
	}
	defer func() {
		if err == nil {
			return
		}
		// Removal can fail when the connection is what broke; the error
		// then says so (the path only, never the content), so an operator
		// knows a partial file may remain on the server.
		if rerr := c.sftp.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("%w (the partial file %s could not be removed: %v)", err, tmp, rerr)
		}
	}()
	// The content is produced (and hashed) in a goroutine of its own and
	// piped to the SFTP writer, which keeps up to 64 write requests in
	// flight: producing the file (reading PostgreSQL, CSV, OpenPGP) and
	// sending it (SSH encryption, the server's acknowledgements) overlap,
	// instead of each large write waiting for the server before the next
	// bytes are produced.
	h := sha256.New()
	pr, pw := io.Pipe()
	counted := &counter{w: io.MultiWriter(pw, h)}
	bw := bufio.NewWriterSize(counted, 256<<10)
	var werr error
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		werr = write(bw)
		if werr == nil {
			werr = bw.Flush()
		}
		pw.CloseWithError(werr) // nil: the end of the file
	}()
	_, rerr := f.ReadFrom(unsized{pr})
	// If sending failed, the producer's next write fails too, so it stops.
	pr.CloseWithError(errSendStopped)
	<-produced
	cerr := f.Close()
	if werr != nil && !(errors.Is(werr, errSendStopped) && rerr != nil) {
		return Uploaded{}, fmt.Errorf("upload %s: %w", name, werr)
	}
	if rerr != nil {
		return Uploaded{}, fmt.Errorf("%w: write %s: %v", ErrUnavailable, tmp, rerr)
	}
	if cerr != nil {
		return Uploaded{}, fmt.Errorf("%w: close %s: %v", ErrUnavailable, tmp, cerr)
	}
	if err := ctx.Err(); err != nil {
		return Uploaded{}, fmt.Errorf("upload %s: %w", name, err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	if err := c.verify(tmp, counted.n, want); err != nil {
		return Uploaded{}, err
	}
	if err := c.rename(tmp, final); err != nil {
		return Uploaded{}, err
	}
	return Uploaded{Name: name, Bytes: counted.n, SHA256: want}, nil
}

// errSendStopped is what the producer of an upload sees once sending it
// has failed.
var errSendStopped = errors.New("sending the file stopped")

// unsized hides a reader's type from sftp.File.ReadFrom and tells it the
// size is unknown (Len -1), for which it uses its full concurrency (without
// a size it would send one request at a time).
type unsized struct{ r io.Reader }

func (u unsized) Read(p []byte) (int, error) { return u.r.Read(p) }
func (u unsized) Len() int                   { return -1 }

func (c *Client) verify(p string, size int64, sum string) error {
	fi, err := c.sftp.Stat(p)
	if err != nil {
		return fmt.Errorf("%w: stat %s: %v", ErrUnavailable, p, err)
	}
	if fi.Size() != size {
		return fmt.Errorf("%w: %s is %d bytes on the server, %d were written", ErrVerify, p, fi.Size(), size)
	}
	got, n, err := c.hash(p)
	if err != nil {
		return err
	}
	if n != size || got != sum {
		return fmt.Errorf("%w: %s read back with SHA-256 %s (%d bytes), %s (%d bytes) was written", ErrVerify, p, got, n, sum, size)
	}
	return nil
}

func (c *Client) hash(p string) (string, int64, error) {
	f, err := c.sftp.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", 0, fmt.Errorf("%w: %s", ErrNotFound, p)
		}
		return "", 0, fmt.Errorf("%w: open %s: %v", ErrUnavailable, p, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := f.WriteTo(h)
	if err != nil {
		return "", 0, fmt.Errorf("%w: read back %s: %v", ErrUnavailable, p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func (c *Client) rename(from, to string) error {
	if _, ok := c.sftp.HasExtension("posix-rename@openssh.com"); ok {
		if err := c.sftp.PosixRename(from, to); err != nil {
			return fmt.Errorf("%w: rename %s to %s: %v", ErrUnavailable, from, to, err)
		}
		return nil
	}
	// Plain SFTP rename refuses to replace: remove an old copy first. The
	// gap is harmless because a data file is only used once its manifest
	// (uploaded last) is there.
	if err := c.sftp.Remove(to); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: replace %s: %v", ErrUnavailable, to, err)
	}
	if err := c.sftp.Rename(from, to); err != nil {
		return fmt.Errorf("%w: rename %s to %s: %v", ErrUnavailable, from, to, err)
	}
	return nil
}

// Checksum reads a file in the batch folder and returns its SHA-256 and
// size, or ErrNotFound.
func (c *Client) Checksum(name string) (string, int64, error) {
	return c.hash(c.Path(name))
}

// ReadFile reads a remote file (a path relative to the login folder, or
// absolute) of at most max bytes; a larger one is ErrTooLarge, and is not
// read further than the limit.
func (c *Client) ReadFile(p string, max int64) ([]byte, error) {
	f, err := c.sftp.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, p)
		}
		return nil, fmt.Errorf("%w: open %s: %v", ErrUnavailable, p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrUnavailable, p, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrTooLarge, p, max)
	}
	return b, nil
}

// File is a remote file in a listing.
type File struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// List returns the regular files in a remote folder (relative to the login
// folder, or absolute), skipping hidden ones (names starting with a dot,
// such as uploads in progress).
func (c *Client) List(dir string) ([]File, error) {
	infos, err := c.sftp.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, dir)
		}
		return nil, fmt.Errorf("%w: list %s: %v", ErrUnavailable, dir, err)
	}
	var files []File
	for _, fi := range infos {
		if !fi.Mode().IsRegular() || strings.HasPrefix(fi.Name(), ".") {
			continue
		}
		files = append(files, File{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime()})
	}
	return files, nil
}

// Move renames a remote file, creating the destination folder if needed
// and replacing a file of the same name.
func (c *Client) Move(from, to string) error {
	if err := c.sftp.MkdirAll(path.Dir(to)); err != nil {
		return fmt.Errorf("%w: create folder %s: %v", ErrUnavailable, path.Dir(to), err)
	}
	return c.rename(from, to)
}

// Exists tells whether a remote path exists.
func (c *Client) Exists(p string) (bool, error) {
	_, err := c.sftp.Stat(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("%w: stat %s: %v", ErrUnavailable, p, err)
}

// WriteFile writes a small remote file (a reason file for the partner)
// under a hidden temporary name and renames it, so that the partner never
// reads it half-written; an existing file of the name is replaced.
func (c *Client) WriteFile(p string, data []byte) error {
	if err := c.sftp.MkdirAll(path.Dir(p)); err != nil {
		return fmt.Errorf("%w: create folder %s: %v", ErrUnavailable, path.Dir(p), err)
	}
	tmp := path.Join(path.Dir(p), TempName(path.Base(p)))
	f, err := c.sftp.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("%w: create %s: %v", ErrUnavailable, tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("%w: write %s: %v", ErrUnavailable, tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%w: write %s: %v", ErrUnavailable, tmp, err)
	}
	return c.rename(tmp, p)
}

// Remove deletes a remote file; a missing file is not an error.
func (c *Client) Remove(p string) error {
	if err := c.sftp.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: remove %s: %v", ErrUnavailable, p, err)
	}
	return nil
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

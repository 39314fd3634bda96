package sftp_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"booklets/pkg/adapter/sftp"
	"booklets/pkg/testkit/sftptest"
)

// A host-key change-over (docs/partner-interface.md, "Changing your
// server's host key"): SFTP_KNOWN_HOSTS lists the partner's current key and
// its next one, one line each, for the same host; the real sshd presents
// one of them, before or after the switch, and the connection is made.

func otherHostKey(t *testing.T, kind string) ssh.PublicKey {
	t.Helper()
	var pub any
	switch kind {
	case "ed25519":
		p, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub = p
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub = &k.PublicKey
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writeKnownHosts(t *testing.T, addr string, keys ...ssh.PublicKey) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# the partner's host keys during a change-over\n")
	for _, k := range keys {
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(addr)}, k) + "\n")
	}
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTwoPinnedHostKeys(t *testing.T) {
	t.Parallel()
	srv := sftptest.Start(t)
	for _, tt := range []struct {
		name string
		keys []ssh.PublicKey
	}{
		// The next key is pinned ahead of the switch: the server still
		// presents the current one, listed first.
		{"before the switch", []ssh.PublicKey{srv.HostKey, otherHostKey(t, "ed25519")}},
		// The partner has switched: the server presents the key listed
		// second; the old line is still there.
		{"after the switch", []ssh.PublicKey{otherHostKey(t, "ed25519"), srv.HostKey}},
		// A change of key type too (RSA to ed25519).
		{"from RSA", []ssh.PublicKey{otherHostKey(t, "rsa"), srv.HostKey}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(srv)
			cfg.KnownHosts = writeKnownHosts(t, srv.Addr, tt.keys...)
			c, err := sftp.Dial(context.Background(), cfg)
			if err != nil {
				t.Fatalf("dial with two pinned host keys, one the server's: %v", err)
			}
			defer c.Close()
			if err := c.EnsureDir(); err != nil {
				t.Fatal(err)
			}
		})
	}

	// Two keys, neither the server's: still refused, not retried.
	cfg := config(srv)
	cfg.KnownHosts = writeKnownHosts(t, srv.Addr, otherHostKey(t, "ed25519"), otherHostKey(t, "ed25519"))
	c, err := sftp.Dial(context.Background(), cfg)
	if err == nil {
		c.Close()
		t.Fatal("connected though neither pinned key is the server's")
	}
	if !errors.Is(err, sftp.ErrHostKey) || !strings.Contains(err.Error(), "host key mismatch for "+srv.Addr) {
		t.Errorf("error %q, want a host key mismatch", err)
	}
}

package partnersim_test

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"booklets/pkg/partner"
	"booklets/pkg/partnersim"
)

// The batcher's SFTP adapter works against the simulator as against
// OpenSSH: pinned host key, key login, verified upload with rename.
func TestPartnerAgainstSimulator(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sim, err := partnersim.Start(partnersim.Config{Addr: "127.0.0.1:0", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cfg := partner.Config{Addr: sim.Addr, User: sim.User, KeyFile: sim.KeyFile, KnownHosts: sim.KnownHosts, Dir: "outbox"}
	c, err := partner.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.EnsureDir(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(context.Background(), "x.csv", func(w io.Writer) error {
		_, err := io.WriteString(w, "a,b\r\n")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(sim.Root + "/outbox/x.csv"); err != nil || string(b) != "a,b\r\n" {
		t.Fatalf("file %q %v", b, err)
	}
	// Another user key is refused.
	other := cfg
	other.User = "someone-else"
	if c2, err := partner.Dial(context.Background(), other); err == nil {
		c2.Close()
		t.Error("another user was let in")
	} else if errors.Is(err, partner.ErrHostKey) {
		t.Errorf("wrong kind of error: %v", err)
	}
}

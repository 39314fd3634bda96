package sftp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"booklets/pkg/adapter/sftp"
	"booklets/pkg/testkit/sftptest"
)

func config(srv *sftptest.Server) sftp.Config {
	return sftp.Config{Addr: srv.Addr, User: srv.User, KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts, Dir: "outbox"}
}

func TestUploadVerifiesAndRenames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := sftptest.Start(t)
	c, err := sftp.Dial(ctx, config(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.EnsureDir(); err != nil {
		t.Fatal(err)
	}
	// A leftover partial upload from a crash is overwritten, not appended to.
	if err := os.WriteFile(srv.Path("outbox", sftp.TempName("a.csv")), bytes.Repeat([]byte("x"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	content := strings.Repeat("row,of,data\r\n", 100_000)
	up, err := c.Upload(ctx, "a.csv", func(w io.Writer) error {
		_, err := io.WriteString(w, content)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(srv.Path("outbox", "a.csv"))
	if err != nil || string(got) != content || up.Bytes != int64(len(content)) {
		t.Fatalf("uploaded %d bytes, %v", len(got), err)
	}
	if _, err := os.Stat(srv.Path("outbox", sftp.TempName("a.csv"))); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
	sum, n, err := c.Checksum("a.csv")
	if err != nil || sum != up.SHA256 || n != up.Bytes {
		t.Errorf("Checksum = %s %d %v, upload said %s", sum, n, err, up.SHA256)
	}
	if _, _, err := c.Checksum("missing.csv"); !errors.Is(err, sftp.ErrNotFound) {
		t.Errorf("Checksum of a missing file: %v", err)
	}

	// A failed write leaves nothing under the final name.
	_, err = c.Upload(ctx, "b.csv", func(w io.Writer) error {
		io.WriteString(w, "partial")
		return fmt.Errorf("source broke")
	})
	if err == nil {
		t.Fatal("upload with a failing writer succeeded")
	}
	if _, err := os.Stat(srv.Path("outbox", "b.csv")); !os.IsNotExist(err) {
		t.Errorf("final name exists after a failed upload: %v", err)
	}
	// Nor under the temporary name: the partial content is removed.
	if _, err := os.Stat(srv.Path("outbox", sftp.TempName("b.csv"))); !os.IsNotExist(err) {
		t.Errorf("temporary file left after a failed upload: %v", err)
	}

	files, err := c.List("outbox")
	if err != nil || len(files) != 1 || files[0].Name != "a.csv" {
		t.Errorf("List = %+v, %v (hidden files must not be listed)", files, err)
	}
	if err := c.Move("outbox/a.csv", "done/a.csv"); err != nil {
		t.Fatal(err)
	}
	b, err := c.ReadFile("done/a.csv", 10<<20)
	if err != nil || string(b) != content {
		t.Errorf("ReadFile after Move: %d bytes, %v", len(b), err)
	}
	if _, err := c.ReadFile("done/a.csv", 10); err == nil {
		t.Error("ReadFile over the limit succeeded")
	}
}

func TestHostKeyRefused(t *testing.T) {
	t.Parallel()
	srv := sftptest.Start(t)
	for _, tt := range []struct {
		name    string
		changed bool
		want    string
	}{
		{"unknown", false, "host key for " + srv.Addr + " is not in SFTP_KNOWN_HOSTS"},
		{"changed", true, "host key mismatch for " + srv.Addr},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(srv)
			cfg.KnownHosts = srv.WriteKnownHosts(t, tt.changed)
			c, err := sftp.Dial(context.Background(), cfg)
			if err == nil {
				c.Close()
				t.Fatal("connected despite the host key")
			}
			if !errors.Is(err, sftp.ErrHostKey) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want ErrHostKey with %q", err, tt.want)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	srv := sftptest.Start(t)
	cfg := config(srv)
	cfg.Addr = "127.0.0.1:1" // nothing listens there; known_hosts does not know it either
	if _, err := sftp.Dial(context.Background(), cfg); !errors.Is(err, sftp.ErrHostKey) && !errors.Is(err, sftp.ErrUnavailable) {
		t.Errorf("error %v", err)
	}
}

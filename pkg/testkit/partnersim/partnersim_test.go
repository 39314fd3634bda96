package partnersim_test

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"booklets/pkg/adapter/sftp"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/platform/clock"
	"booklets/pkg/stage/reconcile"
	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/partnersim"
)

func dial(t *testing.T, sim *partnersim.Server) *sftp.Client {
	t.Helper()
	env := sim.Env()
	c, err := sftp.Dial(context.Background(), sftp.Config{
		Addr: env["SFTP_ADDR"], User: env["SFTP_USER"], KeyFile: env["SFTP_KEY_FILE"],
		KnownHosts: env["SFTP_KNOWN_HOSTS"], Dir: env["SFTP_DIR"],
	})
	if err != nil {
		t.Fatalf("dial the simulator: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The batcher's SFTP adapter works against the simulator as against
// OpenSSH: pinned host key, key login, verified upload with rename; another
// user is refused.
func TestPartnerAgainstSimulator(t *testing.T) {
	t.Parallel()
	sim, err := partnersim.Start(partnersim.Config{Addr: "127.0.0.1:0", Dir: t.TempDir(), NoClerk: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c := dial(t, sim)
	if _, err := c.Upload(context.Background(), "x.csv", func(w io.Writer) error {
		_, err := io.WriteString(w, "a,b\r\n")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(sim.Path(partnersim.DirBatches, "x.csv")); err != nil || string(b) != "a,b\r\n" {
		t.Fatalf("file %q %v", b, err)
	}
	other := sftp.Config{Addr: sim.Addr, User: "someone-else", KeyFile: sim.KeyFile, KnownHosts: sim.KnownHosts}
	if c2, err := sftp.Dial(context.Background(), other); err == nil {
		c2.Close()
		t.Error("another user was let in")
	} else if errors.Is(err, sftp.ErrHostKey) {
		t.Errorf("wrong kind of error: %v", err)
	}
}

// On a fast demo clock the clerk confirms the deletion of a batch, in the
// format the reconciler reads, and deletes the data file.
func TestClerkConfirmsAfterThirtyWorkingDays(t *testing.T) {
	t.Parallel()
	sim, err := partnersim.Start(partnersim.Config{
		Addr: "127.0.0.1:0", Dir: t.TempDir(),
		Clock:      clock.Demo(time.Now(), 20*time.Millisecond), // 30 working days in about a second
		Day:        20 * time.Millisecond,
		CheckEvery: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c := dial(t, sim)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	date := businessday.Date{Year: 2026, Month: time.March, Day: 2}
	data := []byte("reference,area\r\nABCD-EFGH-JK2,kent\r\n")
	dataName := batchfile.DataFileName(date, "b1")
	up, err := c.Upload(ctx, dataName, func(w io.Writer) error { _, err := w.Write(data); return err })
	if err != nil {
		t.Fatalf("upload data: %v", err)
	}
	m := batchfile.Manifest{BatchID: "b1", BusinessDate: date.String(), DataFile: dataName,
		RecordCount: 1, OrderCount: 1, SHA256: up.SHA256, Bytes: int64(len(data)), FormatVersion: 1}
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(ctx, batchfile.ManifestFileName(date, "b1"), func(w io.Writer) error { _, err := w.Write(mb); return err }); err != nil {
		t.Fatalf("upload manifest: %v", err)
	}

	env := sim.Env()
	inbox := c.Confirmations(env["SFTP_CONFIRMATIONS_DIR"], env["SFTP_PROCESSED_DIR"], env["SFTP_REJECTED_DIR"])
	var names []string
	eventually.Until(ctx, t, "the simulator writes a confirmation", func(ctx context.Context) error {
		var err error
		if names, err = inbox.List(ctx); err != nil {
			t.Fatalf("list confirmations: %v", err)
		}
		if len(names) == 0 {
			return errors.New("no confirmation written")
		}
		return nil
	})
	b, err := inbox.Read(ctx, names[0])
	if err != nil {
		t.Fatal(err)
	}
	conf, err := reconcile.Parse(reconcile.NewFile(names[0], b))
	if err != nil {
		t.Fatalf("confirmation does not parse: %v\n%s", err, b)
	}
	if conf.BatchID != "b1" || *conf.RecordCount != 1 || conf.SHA256 != up.SHA256 {
		t.Fatalf("confirmation %+v does not match the batch", conf)
	}
	if _, err := os.Stat(sim.Path(partnersim.DirBatches, dataName)); !os.IsNotExist(err) {
		t.Errorf("data file not deleted before the confirmation: %v", err)
	}
}

package partnersim_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/reference"
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
// format the reconciler reads, signed with the partner's key, and deletes
// the data file.
func TestClerkConfirmsAfterThirtyWorkingDays(t *testing.T) {
	t.Parallel()
	kp, err := openpgp.NewKeyPair("Partner simulator", "", "sim@example.test")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := openpgp.Armor(pgp.PrivateKeyType, func(w io.Writer) error { return kp.Entity.SerializePrivate(w, nil) })
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "pgp-private.asc")
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	sim, err := partnersim.Start(partnersim.Config{
		Addr: "127.0.0.1:0", Dir: t.TempDir(), SigningKeyFile: keyFile,
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
		entries, err := inbox.List(ctx)
		if err != nil {
			t.Fatalf("list confirmations: %v", err)
		}
		names = names[:0]
		for _, e := range entries {
			names = append(names, e.Name)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return errors.New("no confirmation written")
		}
		return nil
	})
	// The signature is written first: the confirmation never appears
	// without it.
	if len(names) != 2 || names[1] != names[0]+reconcile.SigExt {
		t.Fatalf("files %v, want the confirmation and its signature", names)
	}
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
	sig, err := inbox.Read(ctx, names[1])
	if err != nil {
		t.Fatal(err)
	}
	key, err := openpgp.ReadSigningKey(bytes.NewReader(kp.Public))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := key.Verify(b, sig); err != nil {
		t.Errorf("the confirmation's signature does not verify with the partner's key: %v", err)
	}
	if _, err := os.Stat(sim.Path(partnersim.DirBatches, dataName)); !os.IsNotExist(err) {
		t.Errorf("data file not deleted before the confirmation: %v", err)
	}
}

// The clerk posts a batch it can read (here encrypted to its key, as in
// `make run`) and reports every booklet dispatched on the day it arrived,
// in a signed dispatch file in its updates folder, in the format the
// reconciler reads; a batch with no orders gets none.
func TestClerkReportsDispatch(t *testing.T) {
	t.Parallel()
	kp, err := openpgp.NewKeyPair("Partner simulator", "", "sim@example.test")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := openpgp.Armor(pgp.PrivateKeyType, func(w io.Writer) error { return kp.Entity.SerializePrivate(w, nil) })
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "pgp-private.asc")
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	sim, err := partnersim.Start(partnersim.Config{Addr: "127.0.0.1:0", Dir: t.TempDir(), SigningKeyFile: keyFile, CheckEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c := dial(t, sim)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	upload := func(id string, plain []byte, records, version int) {
		t.Helper()
		date := businessday.Date{Year: 2026, Month: time.March, Day: 2}
		var enc bytes.Buffer
		w, err := pgp.Encrypt(&enc, []*pgp.Entity{kp.Entity}, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(plain); err != nil || w.Close() != nil {
			t.Fatal("encrypt", err)
		}
		dataName := batchfile.DataFileName(date, id) + ".gpg"
		up, err := c.Upload(ctx, dataName, func(w io.Writer) error { _, err := w.Write(enc.Bytes()); return err })
		if err != nil {
			t.Fatalf("upload data: %v", err)
		}
		m := batchfile.Manifest{BatchID: id, BusinessDate: date.String(), DataFile: dataName, RecordCount: records, OrderCount: records,
			SHA256: up.SHA256, Bytes: int64(enc.Len()), FormatVersion: version, Encryption: batchfile.EncryptionOpenPGP}
		mb, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Upload(ctx, batchfile.ManifestFileName(date, id), func(w io.Writer) error { _, err := w.Write(mb); return err }); err != nil {
			t.Fatalf("upload manifest: %v", err)
		}
	}
	// An empty batch of format version 1; b1 of version 2 (issue 18), with
	// braille in English and Welsh and audio in Welsh: one dispatch row per
	// order and format.
	upload("bempty", []byte("reference,area_code,area_name,format,name,address_line_1,address_line_2,town,postcode\r\n"), 0, 1)
	ref := reference.New().String()
	upload("b1", []byte(strings.Join(batchfile.Header, ",")+"\r\n"+
		ref+",gwent,Gwent,braille,A Person,\"1 High St\r\nFlat 2\",,Newport,NP20 1XX,en\r\n"+
		ref+",gwent,Gwent,braille,A Person,\"1 High St\r\nFlat 2\",,Newport,NP20 1XX,cy\r\n"+
		ref+",gwent,Gwent,audio,A Person,1 High St,,Newport,NP20 1XX,cy\r\n"), 3, 2)

	dispatch := sim.Path(partnersim.DirUpdates, "updates_b1_dispatch.csv")
	eventually.Until(ctx, t, "the clerk writes a dispatch file", func(ctx context.Context) error {
		if _, err := os.Stat(dispatch); err != nil {
			return err
		}
		return nil
	})
	b, err := os.ReadFile(dispatch)
	if err != nil {
		t.Fatal(err)
	}
	rows, problems := reconcile.ParseUpdates(reconcile.NewFile("updates_b1_dispatch.csv", b))
	out := reconcile.JudgeUpdates(reconcile.NewFile("updates_b1_dispatch.csv", b), rows, problems, nil, nil, nil, time.Now())
	if len(rows) != 2 || rows[0].Reference != ref || rows[0].Format != "braille" || rows[1].Format != "audio" || rows[0].Status != reconcile.Dispatched ||
		!rows[0].Date.Equal(businessday.LondonDate(time.Now()).UTC()) || !strings.Contains(out.Reason, "unknown batch") ||
		problems.String() != "" || bytes.Count(b, []byte("braille")) != 1 {
		t.Fatalf("dispatch file rows %+v (judged %q):\n%s", rows, out.Reason, b)
	}
	if bytes.Contains(b, []byte("Person")) || bytes.Contains(b, []byte("High St")) {
		t.Errorf("the dispatch file holds personal data:\n%s", b)
	}
	sig, err := os.ReadFile(dispatch + reconcile.SigExt)
	if err != nil {
		t.Fatalf("no signature beside the dispatch file: %v", err)
	}
	key, err := openpgp.ReadSigningKey(bytes.NewReader(kp.Public))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := key.Verify(b, sig); err != nil {
		t.Errorf("the dispatch file's signature does not verify: %v", err)
	}
	if files, _ := filepath.Glob(sim.Path(partnersim.DirUpdates, "updates_bempty*")); len(files) != 0 {
		t.Errorf("a dispatch file for a batch with no orders: %v", files)
	}
}

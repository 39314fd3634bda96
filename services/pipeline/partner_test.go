package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"booklets/pkg/batchfile"
	"booklets/pkg/businessday"
	sftppartner "booklets/pkg/partner"
	"booklets/pkg/reconcile"
)

// The simulator speaks SFTP to the real adapter (host key pinned, key
// authentication), and on a fast demo clock confirms the deletion of a batch
// in the format the reconciler reads.
func TestPartnerSimulatorReceivesAndConfirms(t *testing.T) {
	t.Parallel()
	cfg := config{
		runDir:      t.TempDir(),
		partnerAddr: "127.0.0.1:0",
		demo:        true,
		demoDay:     20 * time.Millisecond, // 30 working days in about a second
		demoEpoch:   time.Now(),
	}
	out := &syncBuffer{}
	p, err := startPartner(context.Background(), cfg, newConsole(out))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()

	env := p.env()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := sftppartner.Dial(ctx, sftppartner.Config{
		Addr: env["SFTP_ADDR"], User: env["SFTP_USER"], KeyFile: env["SFTP_KEY_FILE"],
		KnownHosts: env["SFTP_KNOWN_HOSTS"], Dir: env["SFTP_DIR"],
	})
	if err != nil {
		t.Fatalf("dial the simulator: %v", err)
	}
	defer c.Close()

	date := businessday.Date{Year: 2026, Month: time.March, Day: 2}
	data := []byte("reference,area\r\nABCD-EFGH-JK2,kent\r\n")
	up, err := c.Upload(ctx, batchfile.DataFileName(date, "b1"), func(w io.Writer) error { _, err := w.Write(data); return err })
	if err != nil {
		t.Fatalf("upload data: %v", err)
	}
	m := batchfile.Manifest{BatchID: "b1", BusinessDate: date.String(), DataFile: batchfile.DataFileName(date, "b1"),
		RecordCount: 1, OrderCount: 1, SHA256: up.SHA256, Bytes: int64(len(data)), FormatVersion: 1}
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(ctx, batchfile.ManifestFileName(date, "b1"), func(w io.Writer) error { _, err := w.Write(mb); return err }); err != nil {
		t.Fatalf("upload manifest: %v", err)
	}

	inbox := c.Confirmations(env["SFTP_CONFIRMATIONS_DIR"], env["SFTP_PROCESSED_DIR"], env["SFTP_REJECTED_DIR"])
	for {
		names, err := inbox.List(ctx)
		if err != nil {
			t.Fatalf("list confirmations: %v", err)
		}
		if len(names) > 0 {
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
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no confirmation written:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !strings.Contains(out.String(), "received "+batchfile.ManifestFileName(date, "b1")) {
		t.Errorf("arrival not reported:\n%s", out.String())
	}
}

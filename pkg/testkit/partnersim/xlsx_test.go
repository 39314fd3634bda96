package partnersim_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/platform/clock"
	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/partnersim"
)

// The clerk checks a batch with an XLSX copy against its manifest (both
// files' checksums), deletes both before confirming; a batch whose
// spreadsheet does not match its manifest is not processed.
func TestClerkChecksTheSpreadsheet(t *testing.T) {
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
	upload := func(id string, spoil bool) (data, sheet string) {
		t.Helper()
		data = batchfile.DataFileName(date, id)
		sheet = batchfile.XLSXFileName(data)
		put := func(name, content string) (string, int64) {
			up, err := c.Upload(ctx, name, func(w io.Writer) error { _, err := io.WriteString(w, content); return err })
			if err != nil {
				t.Fatalf("upload %s: %v", name, err)
			}
			return up.SHA256, up.Bytes
		}
		m := batchfile.Manifest{BatchID: id, BusinessDate: date.String(), DataFile: data, RecordCount: 1, OrderCount: 1, FormatVersion: 1}
		m.SHA256, m.Bytes = put(data, "reference,area\r\nABCD-EFGH-JK2,kent\r\n")
		m.XLSXFile = sheet
		m.XLSXSHA256, m.XLSXBytes = put(sheet, "PK, a workbook")
		if spoil {
			m.XLSXSHA256 = strings.Repeat("0", 64)
		}
		mb, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Upload(ctx, batchfile.ManifestFileName(date, id), func(w io.Writer) error { _, err := w.Write(mb); return err }); err != nil {
			t.Fatal(err)
		}
		return data, sheet
	}
	badData, badSheet := upload("bad", true)
	goodData, goodSheet := upload("good", false)

	confirmed := func(id string) bool {
		_, err := os.Stat(sim.Path(partnersim.DirConfirmations, "deletion_"+id+".json"))
		return err == nil
	}
	eventually.Until(ctx, t, "the simulator confirms the good batch", func(ctx context.Context) error {
		if !confirmed("good") {
			return errors.New("not confirmed yet")
		}
		return nil
	})
	for _, name := range []string{goodData, goodSheet} {
		if _, err := os.Stat(sim.Path(partnersim.DirBatches, name)); !os.IsNotExist(err) {
			t.Errorf("%s not deleted before the confirmation: %v", name, err)
		}
	}
	// Both arrived together and are due together: the bad one was passed over.
	if confirmed("bad") {
		t.Error("a batch whose spreadsheet does not match its manifest was confirmed")
	}
	for _, name := range []string{badData, badSheet} {
		if _, err := os.Stat(sim.Path(partnersim.DirBatches, name)); err != nil {
			t.Errorf("%s of the unprocessed batch: %v", name, err)
		}
	}
}

package endofday_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/testenv"
)

// The file write makes from sealed orders (opened and encoded in chunks on
// the openers, the chunks reused) is byte for byte the file of the old
// path: each order's entry through Writer.Write, and encoding/csv with
// Neutralise as the writer had it, for orders with quotes, commas, line
// breaks, formula cells, leading spaces, non-ASCII, several formats and
// languages (none, English, Welsh, both), over many chunks. Its summary describes that file.
func TestWriteSameFileAsWriterWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	date := businessday.Date{Year: 2026, Month: 11, Day: 25}
	st, keys, key := sealingStore(t, ctx, date)

	values := []string{
		"Plain Name", "=HYPERLINK(\"http://x\")", "+44 20 7946 0000", "-minus", "@Town", "'=1+1", "\tTab",
		"Flat 2, \"The Old Mill\"", "Line\nbreak", "CR\r\nLF", "\\.", " leading space", "\u00a0no-break",
		"Siân Ní Bhriain 李小龍 👍", "Zoë", "", "'", "a,b", "\"", "Llanfair\u00adpwll",
	}
	formats := [][]order.Format{
		{order.StandardPrint}, {order.Audio, order.LargePrint}, {order.Braille, order.EasyRead, order.StandardPrint},
		{order.EasyRead}, {order.Audio, order.Braille, order.LargePrint, order.EasyRead, order.StandardPrint},
	}
	languages := [][]order.Language{nil, {order.English}, {order.Welsh}, {order.English, order.Welsh}, {order.English}}
	areas := catalogue.Default().Areas
	const orders = 12*endofday.ChunkSize + 17 // more chunks than are ever in flight: they are reused
	start := time.Date(2026, 11, 25, 0, 0, 0, 0, businessday.London())
	var entries []batchfile.Entry
	var sealed []order.SealedOrder
	for i := range orders {
		v := func(k int) string { return values[(i*7+k*3+i/len(values))%len(values)] }
		o := order.Order{
			ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: start.Add(time.Duration(i) * time.Second),
			Area: areas[i%len(areas)].Code, Formats: formats[i%len(formats)], Languages: languages[i%len(languages)],
			Personal: order.Personal{Name: v(0), AddressLine1: v(1), AddressLine2: v(2), Town: v(3), Postcode: v(4)},
		}
		so, err := order.Seal(o, date, key)
		testenv.Must(t, err)
		sealed = append(sealed, so)
		entries = append(entries, batchfile.Entry{Reference: o.Reference.String(), AreaCode: o.Area,
			AreaName: areas[i%len(areas)].Name, Formats: o.Formats, Languages: o.Languages, Personal: o.Personal})
	}
	for part := range slices.Chunk(sealed, 1000) {
		_, err := st.SaveOrders(ctx, part)
		testenv.Must(t, err)
	}
	s := endofday.NewSender(postgres.EndOfDayStore{Orders: st, Keys: keys}, sftp.Outbox{}, endofday.WithKeys(keys))
	id := batchfile.NewBatchID(date)
	b, _, err := st.Assemble(ctx, postgres.Batch{ID: id, Date: date, CreatedAt: time.Now(),
		DataFile: batchfile.DataFileName(date, id), ManifestFile: batchfile.ManifestFileName(date, id)})
	testenv.Must(t, err)

	// The old path.
	var old bytes.Buffer
	w, err := batchfile.NewWriter(&old)
	testenv.Must(t, err)
	for _, e := range entries {
		testenv.Must(t, w.Write(e))
	}
	wantSum, err := w.Close()
	testenv.Must(t, err)
	if !bytes.Equal(old.Bytes(), csvFile(t, entries)) {
		t.Fatal("Writer.Write's file is not encoding/csv's")
	}
	h := sha256.Sum256(old.Bytes())
	if wantSum.Orders != orders || wantSum.Bytes != int64(old.Len()) || wantSum.SHA256 != hex.EncodeToString(h[:]) {
		t.Fatalf("Writer.Write's summary %+v", wantSum)
	}

	for range 2 { // the second time with the sender's state as the first left it
		var got bytes.Buffer
		sum, err := s.Write(ctx, endofday.Batch(b), &got, true)
		testenv.Must(t, err)
		if !bytes.Equal(got.Bytes(), old.Bytes()) {
			t.Fatalf("write's file (%d bytes) differs from Writer.Write's (%d bytes)", got.Len(), old.Len())
		}
		if sum != wantSum {
			t.Errorf("write's summary %+v, want %+v", sum, wantSum)
		}
		got.Reset()
		sum, err = s.Write(ctx, endofday.Batch(b), &got, false)
		testenv.Must(t, err)
		noSum := wantSum
		noSum.SHA256 = ""
		if !bytes.Equal(got.Bytes(), old.Bytes()) || sum != noSum {
			t.Errorf("without checksum: same file %v, summary %+v", bytes.Equal(got.Bytes(), old.Bytes()), sum)
		}
	}
}

// csvFile is the data file as the writer wrote it with encoding/csv.
func csvFile(t *testing.T, entries []batchfile.Entry) []byte {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.UseCRLF = true
	testenv.Must(t, cw.Write(batchfile.Header))
	row := make([]string, len(batchfile.Header))
	for _, e := range entries {
		fs := slices.Clone(e.Formats)
		slices.SortFunc(fs, func(a, b order.Format) int {
			return slices.Index(order.Formats, a) - slices.Index(order.Formats, b)
		})
		ls := e.Languages
		if len(ls) == 0 {
			ls = []order.Language{order.English}
		}
		p := e.Personal
		for _, f := range fs {
			for _, l := range ls { // in order.Languages' order already
				for i, v := range []string{e.Reference, e.AreaCode, e.AreaName, string(f), p.Name, p.AddressLine1, p.AddressLine2, p.Town, p.Postcode, string(l)} {
					row[i] = batchfile.Neutralise(v)
				}
				testenv.Must(t, cw.Write(row))
			}
		}
	}
	cw.Flush()
	testenv.Must(t, cw.Error())
	return buf.Bytes()
}

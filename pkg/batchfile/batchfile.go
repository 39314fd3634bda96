// Package batchfile writes the end-of-day batch for the print partner: a
// CSV data file (RFC 4180, UTF-8 without a byte order mark, CRLF line ends,
// a header row, one row per order and format) and a JSON manifest naming
// the batch, its counts and the SHA-256 of the data file. The format is
// described for the partner in docs/partner-interface.md; change both
// together and raise FormatVersion.
//
// It is a domain package: it writes to any io.Writer and imports no driver.
package batchfile

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"booklets/pkg/businessday"
	"booklets/pkg/order"
)

// FormatVersion is the version of the data file and manifest layout.
const FormatVersion = 1

// Header is the data file's first row.
var Header = []string{
	"reference", "area_code", "area_name", "format",
	"name", "address_line_1", "address_line_2", "town", "postcode",
}

// Entry is one order as it goes into the batch.
type Entry struct {
	Reference string
	AreaCode  string
	AreaName  string // "" if the area is not in the catalogue
	Formats   []order.Format
	Personal  order.Personal
}

// Neutralise makes a cell safe to open in a spreadsheet: a value starting
// with one of = + - @ TAB CR, which Excel, LibreOffice and Google Sheets
// may run as a formula, gets a leading apostrophe ('), which they show as
// text. So that a program can undo this exactly, a value whose leading
// apostrophes are followed by one of those six characters (typed as
// '=1+1, say) gets one more: the partner's rule "remove one leading
// apostrophe when the apostrophes at the start are followed by one of the
// six" then gives back what was typed, and no two values neutralise alike.
// Other values are unchanged.
func Neutralise(s string) string {
	i := 0
	for i < len(s) && s[i] == '\'' {
		i++
	}
	if i == len(s) {
		return s
	}
	switch s[i] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// Summary describes a written data file.
type Summary struct {
	Records int    // data rows (one per order and format), header excluded
	Orders  int    // orders
	Bytes   int64  // size of the file
	SHA256  string // lower-case hex of the file's SHA-256
}

// Writer writes a data file.
type Writer struct {
	cw      *csv.Writer
	count   *countingHash
	row     []string
	formats []order.Format
	records int
	orders  int
}

type countingHash struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// NewWriter starts a data file on w and writes the header row. Writes are
// buffered: call Close to flush them.
func NewWriter(w io.Writer) (*Writer, error) {
	count := &countingHash{w: w, h: sha256.New()}
	cw := csv.NewWriter(count)
	cw.UseCRLF = true
	bw := &Writer{cw: cw, count: count, row: make([]string, len(Header))}
	if err := cw.Write(Header); err != nil {
		return nil, fmt.Errorf("write batch header: %w", err)
	}
	return bw, nil
}

// Write adds an order: one row for each of its formats, in the order the
// formats are offered (order.Formats).
func (w *Writer) Write(e Entry) error {
	w.formats = append(w.formats[:0], e.Formats...)
	slices.SortFunc(w.formats, func(a, b order.Format) int {
		return slices.Index(order.Formats, a) - slices.Index(order.Formats, b)
	})
	p := e.Personal
	for _, f := range w.formats {
		w.row[0] = Neutralise(e.Reference)
		w.row[1] = Neutralise(e.AreaCode)
		w.row[2] = Neutralise(e.AreaName)
		w.row[3] = Neutralise(string(f))
		w.row[4] = Neutralise(p.Name)
		w.row[5] = Neutralise(p.AddressLine1)
		w.row[6] = Neutralise(p.AddressLine2)
		w.row[7] = Neutralise(p.Town)
		w.row[8] = Neutralise(p.Postcode)
		if err := w.cw.Write(w.row); err != nil {
			// The cause is the destination (an SFTP write), never a value.
			return fmt.Errorf("write batch row for order %s: %w", e.Reference, err)
		}
		w.records++
	}
	w.orders++
	return nil
}

// Close flushes the file and returns its summary.
func (w *Writer) Close() (Summary, error) {
	w.cw.Flush()
	if err := w.cw.Error(); err != nil {
		return Summary{}, fmt.Errorf("flush batch file: %w", err)
	}
	return Summary{
		Records: w.records,
		Orders:  w.orders,
		Bytes:   w.count.n,
		SHA256:  hex.EncodeToString(w.count.h.Sum(nil)),
	}, nil
}

// Manifest is the JSON file that tells the partner a batch is complete.
// It is uploaded after the data file, so its presence means the data file
// is whole.
type Manifest struct {
	BatchID       string    `json:"batch_id"`
	BusinessDate  string    `json:"business_date"`
	DataFile      string    `json:"data_file"`
	RecordCount   int       `json:"record_count"`
	OrderCount    int       `json:"order_count"`
	SHA256        string    `json:"sha256"`
	Bytes         int64     `json:"bytes"`
	CreatedAt     time.Time `json:"created_at"`
	FormatVersion int       `json:"format_version"`
	// Encryption is "openpgp" when the data file is encrypted to the
	// partner's key; then SHA256 and Bytes are of the encrypted file (what
	// was sent) and RecipientFingerprint names the key.
	Encryption           string `json:"encryption,omitempty"`
	RecipientFingerprint string `json:"recipient_fingerprint,omitempty"`
}

// NewManifest describes a written data file.
func NewManifest(batchID string, date businessday.Date, createdAt time.Time, s Summary) Manifest {
	return Manifest{
		BatchID:       batchID,
		BusinessDate:  date.String(),
		DataFile:      DataFileName(date, batchID),
		RecordCount:   s.Records,
		OrderCount:    s.Orders,
		SHA256:        s.SHA256,
		Bytes:         s.Bytes,
		CreatedAt:     createdAt.UTC().Truncate(time.Second),
		FormatVersion: FormatVersion,
	}
}

// Marshal encodes the manifest as indented JSON with a final newline.
func (m Manifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest of batch %s: %w", m.BatchID, err)
	}
	return append(b, '\n'), nil
}

// ParseManifest decodes a manifest.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("decode manifest: not a manifest")
	}
	return m, nil
}

// DataFileName is the data file's name: booklets_<date>_<batch id>.csv.
func DataFileName(date businessday.Date, batchID string) string {
	return "booklets_" + date.String() + "_" + batchID + ".csv"
}

// ManifestFileName is the manifest's name: booklets_<date>_<batch id>.manifest.json.
func ManifestFileName(date businessday.Date, batchID string) string {
	return "booklets_" + date.String() + "_" + batchID + ".manifest.json"
}

const idAlphabet = "ABCDEFGHJKMNPQRSTVWXYZ23456789" // no look-alikes (0/O, 1/I/L, U/V)

var batchIDPattern = regexp.MustCompile(`^B[0-9]{8}-[` + idAlphabet + `]{6}$`)

// NewBatchID returns a new random batch id for a business date, such as
// "B20261125-K7QM2X". The date makes it readable; the random part makes
// it unique even if a day's batch were ever rebuilt by hand.
func NewBatchID(date businessday.Date) string {
	var b [6]byte
	rand.Read(b[:])
	var s strings.Builder
	s.WriteString("B" + date.Compact() + "-")
	for _, c := range b {
		s.WriteByte(idAlphabet[int(c)%len(idAlphabet)])
	}
	return s.String()
}

// ValidBatchID reports whether s has the form of a batch id.
func ValidBatchID(s string) bool { return batchIDPattern.MatchString(s) }

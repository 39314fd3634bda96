// Package batchfile writes the end-of-day batch for the print partner: a
// CSV data file (RFC 4180, UTF-8 without a byte order mark, CRLF line ends,
// a header row, one row per booklet to post: per order, format and
// language) and a JSON manifest naming
// the batch, its counts and the SHA-256 of the data file. The format is
// described for the partner in docs/partner-interface.md; change both
// together and raise FormatVersion.
//
// It is a domain package: it writes to any io.Writer and imports no driver.
package batchfile

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
)

// FormatVersion is the version of the data file and manifest layout.
//
// Version 2 (issue 18) added the language column, last, and made a row a
// booklet to post: one per order, format and language, so an order for
// braille in English and Welsh is two rows. Version 1 had no language
// (every booklet was English) and one row per order and format.
const FormatVersion = 2

// Header is the data file's first row.
//
// language is the last column, not beside format, so that a reader that
// takes the columns by position still finds every other one, the name and
// address above all, where version 1 had it.
var Header = []string{
	"reference", "area_code", "area_name", "format",
	"name", "address_line_1", "address_line_2", "town", "postcode",
	"language",
}

// Entry is one order as it goes into the batch.
type Entry struct {
	Reference string
	AreaCode  string
	AreaName  string // "" if the area is not in the catalogue
	Formats   []order.Format
	// Languages are the booklet's languages; none is English (an order
	// stored before issue 18). Each format is a row in each language.
	Languages []order.Language
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
	if neutralised(s) {
		return "'" + s
	}
	return s
}

// Summary describes a written data file.
type Summary struct {
	Records int    // data rows (one per order, format and language), header excluded
	Orders  int    // orders
	Bytes   int64  // size of the file
	SHA256  string // lower-case hex of the file's SHA-256; "" from NewWriterWithoutChecksum
}

// AppendEntry appends an order's rows to dst as the data file has them
// (RFC 4180 with CRLF line ends, every cell neutralised): one row for each
// of its formats in each of its languages, the formats in the order they
// are offered (order.Formats) and, within a format, the languages in
// order.Languages' order, and returns the extended buffer and the number
// of rows. It is what Writer.Write writes; a caller may encode entries on
// several goroutines and give the bytes to Writer.WriteEncoded in order.
// The rows are the bytes encoding/csv (UseCRLF) writes for the neutralised
// cells, without its buffer, the interface calls and a string per
// neutralised cell: at a million orders formatting was a third of the
// single writer's CPU.
func AppendEntry(dst []byte, e Entry) ([]byte, int) {
	langs := entryLanguages(e.Languages)
	// Room for the rows at their longest (every cell neutralised and
	// quoted, every byte a doubled quote or an LF written as CRLF), so that
	// dst grows at most once: the array it leaves behind is cleared, as it
	// holds personal data, and no other copy is made.
	p := e.Personal
	cells := len(e.Reference) + len(e.AreaCode) + len(e.AreaName) +
		len(p.Name) + len(p.AddressLine1) + len(p.AddressLine2) + len(p.Town) + len(p.Postcode)
	need := 0
	for _, f := range e.Formats {
		for _, l := range langs {
			need += 2*(cells+len(f)+len(l)) + len(Header)*3 + len(Header) + 1
		}
	}
	if cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), max(2*cap(dst), len(dst)+need))
		copy(grown, dst)
		clear(dst)
		dst = grown
	}
	n := 0
	eachBooklet(e.Formats, langs, func(f order.Format, l order.Language) {
		dst = appendRow(dst, &e, f, l)
		n++
	})
	return dst, n
}

// entryLanguages is an entry's languages, English when it has none.
func entryLanguages(ls []order.Language) []order.Language {
	if len(ls) == 0 {
		return englishOnly
	}
	return ls
}

// englishOnly is the languages of an entry that names none. Read only.
var englishOnly = []order.Language{order.English}

// eachBooklet calls fn for each format and language of an order in file
// order: the formats sorted stably by their place in order.Formats, and
// within a format the languages by their place in order.Languages, without
// sorting copies: first any not in the list (none pass the intake's
// validation), in the order given, then each offered one as often as the
// order has it.
func eachBooklet(formats []order.Format, langs []order.Language, fn func(order.Format, order.Language)) {
	inLangs := func(f order.Format) {
		for _, l := range langs {
			if !slices.Contains(order.Languages, l) {
				fn(f, l)
			}
		}
		for _, offered := range order.Languages {
			for _, l := range langs {
				if l == offered {
					fn(f, l)
				}
			}
		}
	}
	for _, f := range formats {
		if !slices.Contains(order.Formats, f) {
			inLangs(f)
		}
	}
	for _, offered := range order.Formats {
		for _, f := range formats {
			if f == offered {
				inLangs(f)
			}
		}
	}
}

// EachRecord calls fn with the cells of each of e's rows, in the order
// and with the values AppendEntry writes them, but as typed: not
// neutralised, since a spreadsheet cell typed as text (the XLSX copy) is
// never run as a formula and needs no apostrophe. cells is reused by the
// next call.
func EachRecord(e Entry, fn func(cells []string) error) error {
	var cells [10]string
	var err error
	p := &e.Personal
	eachBooklet(e.Formats, entryLanguages(e.Languages), func(f order.Format, l order.Language) {
		if err != nil {
			return
		}
		cells = [10]string{e.Reference, e.AreaCode, e.AreaName, string(f),
			p.Name, p.AddressLine1, p.AddressLine2, p.Town, p.Postcode, string(l)}
		err = fn(cells[:])
	})
	return err
}

// appendRow appends e's row for format f in language l.
func appendRow(dst []byte, e *Entry, f order.Format, l order.Language) []byte {
	p := &e.Personal
	dst = appendCell(dst, e.Reference)
	dst = append(dst, ',')
	dst = appendCell(dst, e.AreaCode)
	dst = append(dst, ',')
	dst = appendCell(dst, e.AreaName)
	dst = append(dst, ',')
	dst = appendCell(dst, string(f))
	dst = append(dst, ',')
	dst = appendCell(dst, p.Name)
	dst = append(dst, ',')
	dst = appendCell(dst, p.AddressLine1)
	dst = append(dst, ',')
	dst = appendCell(dst, p.AddressLine2)
	dst = append(dst, ',')
	dst = appendCell(dst, p.Town)
	dst = append(dst, ',')
	dst = appendCell(dst, p.Postcode)
	dst = append(dst, ',')
	dst = appendCell(dst, string(l))
	return append(dst, '\r', '\n')
}

// appendCell appends Neutralise(s) as encoding/csv writes a field with
// Comma ',' and UseCRLF: quoted if it is `\.`, holds a quote, CR, LF or
// comma, or starts with a Unicode space; inside quotes a quote is doubled,
// a CR dropped and an LF written as CRLF.
func appendCell(dst []byte, s string) []byte {
	apostrophe := neutralised(s)
	quote := false
	for i := 0; i < len(s); i++ {
		if mustQuote[s[i]] {
			quote = true
			break
		}
	}
	if !quote && !apostrophe && s != "" {
		if s == `\.` {
			quote = true
		} else if c := s[0]; c < utf8.RuneSelf {
			quote = asciiSpace[c]
		} else {
			r, _ := utf8.DecodeRuneInString(s)
			quote = unicode.IsSpace(r)
		}
	}
	if !quote {
		if apostrophe {
			dst = append(dst, '\'')
		}
		return append(dst, s...)
	}
	dst = append(dst, '"')
	if apostrophe {
		dst = append(dst, '\'')
	}
	for len(s) > 0 {
		i := strings.IndexAny(s, "\"\r\n")
		if i < 0 {
			i = len(s)
		}
		dst = append(dst, s[:i]...)
		s = s[i:]
		if len(s) > 0 {
			switch s[0] {
			case '"':
				dst = append(dst, '"', '"')
			case '\n':
				dst = append(dst, '\r', '\n')
			}
			s = s[1:]
		}
	}
	return append(dst, '"')
}

// mustQuote marks the bytes that make encoding/csv quote a field: LF,
// CR, a quote, the comma. A table load a byte instead of four comparisons
// (the loop was most of the encoding's time; testing eight bytes at a
// time was not faster on the short cells of a row).
var mustQuote = [256]bool{'\n': true, '\r': true, '"': true, ',': true}

// asciiSpace is unicode.IsSpace for the ASCII bytes.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// neutralised reports whether Neutralise(s) is "'" + s.
func neutralised(s string) bool {
	i := 0
	for i < len(s) && s[i] == '\'' {
		i++
	}
	if i == len(s) {
		return false
	}
	switch s[i] {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// Writer writes a data file.
type Writer struct {
	count   *countingHash
	buf     []byte // rows encoded by Write, not yet written; cleared once written
	err     error  // the first write error: every later call returns it
	records int
	orders  int
}

type countingHash struct {
	w io.Writer
	h hash.Hash // nil: not hashed
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if c.h != nil {
		c.h.Write(p[:n])
	}
	c.n += int64(n)
	return n, err
}

// bufferSize is how much Write collects before writing it on.
const bufferSize = 32 << 10

// NewWriter starts a data file on w and writes the header row. Writes are
// buffered: call Close to flush them.
func NewWriter(w io.Writer) (*Writer, error) {
	return newWriter(w, sha256.New())
}

// NewWriterWithoutChecksum is NewWriter for a file whose checksum is not
// needed: Close's Summary has no SHA256. The batcher uses it for a file it
// encrypts, where only the checksum of the ciphertext is sent and checked,
// and hashing the CSV as well was a few percent of its CPU.
func NewWriterWithoutChecksum(w io.Writer) (*Writer, error) {
	return newWriter(w, nil)
}

func newWriter(w io.Writer, h hash.Hash) (*Writer, error) {
	bw := &Writer{count: &countingHash{w: w, h: h}, buf: make([]byte, 0, 2*bufferSize)}
	for i, name := range Header {
		if i > 0 {
			bw.buf = append(bw.buf, ',')
		}
		bw.buf = appendCell(bw.buf, name)
	}
	bw.buf = append(bw.buf, '\r', '\n')
	return bw, nil
}

// Write adds an order: one row for each of its formats in each of its
// languages, in the order AppendEntry gives them.
func (w *Writer) Write(e Entry) error {
	if w.err != nil {
		return w.err
	}
	var n int
	w.buf, n = AppendEntry(w.buf, e)
	w.records += n
	w.orders++
	if len(w.buf) >= bufferSize {
		if err := w.flush(); err != nil {
			// The cause is the destination (an SFTP write), never a value.
			return fmt.Errorf("write batch row for order %s: %w", e.Reference, err)
		}
	}
	return nil
}

// WriteEncoded adds orders already encoded by AppendEntry: rows holds the
// rows of that many orders and records, in file order. It writes rows on
// at once, without copying them; the caller may reuse (and should clear)
// rows once it returns.
func (w *Writer) WriteEncoded(rows []byte, records, orders int) error {
	if w.err != nil {
		return w.err
	}
	if err := w.flush(); err != nil {
		return fmt.Errorf("write batch rows: %w", err)
	}
	if _, err := w.count.Write(rows); err != nil {
		w.err = fmt.Errorf("write batch rows: %w", err)
		return w.err
	}
	w.records += records
	w.orders += orders
	return nil
}

// flush writes the buffered rows on and clears them: they hold personal
// data.
func (w *Writer) flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.count.Write(w.buf)
	clear(w.buf)
	w.buf = w.buf[:0]
	if err != nil {
		w.err = err
	}
	return err
}

// Close flushes the file and returns its summary.
func (w *Writer) Close() (Summary, error) {
	if err := w.flush(); err != nil {
		return Summary{}, fmt.Errorf("flush batch file: %w", err)
	}
	sum := Summary{Records: w.records, Orders: w.orders, Bytes: w.count.n}
	if w.count.h != nil {
		sum.SHA256 = hex.EncodeToString(w.count.h.Sum(nil))
	}
	return sum, nil
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
	// Encryption says how the data file is sent: EncryptionOpenPGP when it
	// is encrypted to the partner's key (then SHA256 and Bytes are of the
	// encrypted file, what was sent, and RecipientFingerprint names the
	// key), EncryptionNone for plain CSV. Always present in what we send,
	// so that the partner can tell a plain file from an encrypted one
	// without guessing from its name; manifests of earlier versions had
	// it only for encrypted files (absent: plain).
	Encryption           string `json:"encryption"`
	RecipientFingerprint string `json:"recipient_fingerprint,omitempty"`
	// RecipientFingerprints are all the partner's keys the data files are
	// encrypted to, in the pinned file's order: two during a rotation of
	// the partner's key (RecipientFingerprint is the first).
	RecipientFingerprints []string `json:"recipient_fingerprints,omitempty"`
	// The spreadsheet copy (XLSX), only when agreed with the partner
	// (PARTNER_XLSX): the same rows as the data file, every cell text.
	// Encrypted like the data file; XLSXSHA256 and XLSXBytes are of the
	// file as sent. Absent: no spreadsheet. A field added, not a change of
	// layout: FormatVersion stays, and readers that do not know these
	// fields lose nothing (docs/partner-interface.md).
	XLSXFile   string `json:"xlsx_file,omitempty"`
	XLSXSHA256 string `json:"xlsx_sha256,omitempty"`
	XLSXBytes  int64  `json:"xlsx_bytes,omitempty"`
}

// The values of Manifest.Encryption, which the batcher also records for
// each batch when it assembles it.
const (
	EncryptionOpenPGP = "openpgp" // encrypted to the partner's OpenPGP key, *.csv.gpg
	EncryptionNone    = "none"    // plain CSV, *.csv (PARTNER_PLAINTEXT)
)

// NewManifest describes a written data file, plain CSV (the sender sets
// the encryption and the bytes sent of an encrypted one).
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
		Encryption:    EncryptionNone,
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

// XLSXFileName is the spreadsheet copy's name beside a data file named
// dataFile: its .csv becomes .xlsx (booklets_<date>_<batch id>.xlsx, and
// .xlsx.gpg for a .csv.gpg).
func XLSXFileName(dataFile string) string {
	if i := strings.LastIndex(dataFile, ".csv"); i >= 0 {
		return dataFile[:i] + ".xlsx" + dataFile[i+len(".csv"):]
	}
	return dataFile + ".xlsx"
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

package endofday

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
)

// write streams the batch's CSV to w and returns its summary, with the
// CSV's SHA-256 if checksum is set. This is the only place personal data is
// opened, in memory, a chunk of orders at a time.
//
// Opening the personal parts (AES-GCM, decoding) and encoding their CSV
// rows are the costliest steps of a large batch, so they are spread over a
// few goroutines while PostgreSQL is read in one and the file written
// (encrypted) in another; the chunks are written in the order they were
// read, so the file is the same as one written in one goroutine. Memory
// stays flat: at most a few chunks are in flight, and their buffers are
// reused.
func (s *Sender) write(ctx context.Context, b Batch, w io.Writer, checksum bool) (batchfile.Summary, error) {
	if s.codec == nil {
		return batchfile.Summary{}, fmt.Errorf("batch %s: no day keys to open the personal data with", b.ID)
	}
	newWriter := batchfile.NewWriterWithoutChecksum
	if checksum {
		newWriter = batchfile.NewWriter
	}
	bw, err := newWriter(w)
	if err != nil {
		return batchfile.Summary{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(1, min(runtime.GOMAXPROCS(0), 4))
	queue := make(chan *chunk, 2*workers) // in reading order, for the writer
	work := make(chan *chunk, 2*workers)  // for the openers
	// Chunks written, cleared, for the reader to fill again: their arrays
	// (orders, formats, rows) are then allocated only for the first few.
	free := make(chan *chunk, 4*workers+2)
	var openers sync.WaitGroup
	for range workers {
		openers.Add(1)
		go func() {
			defer openers.Done()
			codec := decoderFor(s.codec)
			for c := range work {
				s.open(ctx, b, c, codec)
				close(c.done)
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(queue)
		defer close(work)
		c := reuse(free)
		send := func() error {
			select {
			case work <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case queue <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
			c = reuse(free)
			return nil
		}
		err := s.store.EachOrder(ctx, b.ID, func(o BatchOrder) error {
			o.Formats = c.keepFormats(o.Formats) // reused by EachOrder
			c.orders = append(c.orders, o)
			if len(c.orders) == chunkSize {
				return send()
			}
			return nil
		})
		if err == nil && len(c.orders) > 0 {
			err = send()
		}
		readErr <- err
	}()
	// On return (done or failed) stop the reader and the openers and wait
	// for them, so that nothing is left running with personal data.
	// The rows of chunks opened but not written are cleared too.
	var current *chunk
	defer func() {
		cancel()
		for c := range queue {
			<-c.done
			clear(c.rows)
		}
		openers.Wait()
		if current != nil {
			clear(current.rows)
		}
	}()
	for c := range queue {
		current = c
		select {
		case <-c.done:
		case <-ctx.Done():
			return batchfile.Summary{}, ctx.Err()
		}
		err := bw.WriteEncoded(c.rows, c.records, c.opened)
		clear(c.rows) // personal data
		if err != nil {
			return batchfile.Summary{}, err
		}
		if c.err != nil {
			s.rejected(b, c)
			return batchfile.Summary{}, c.err
		}
		c.reset()
		select {
		case free <- c:
		default:
		}
	}
	if err := <-readErr; err != nil {
		return batchfile.Summary{}, err
	}
	return bw.Close()
}

// chunkSize is how many orders are opened together.
const chunkSize = 256

// chunk is a run of orders in reading order: opened and encoded into CSV
// rows by an opener (up to the first that fails: err), then written by the
// writer.
type chunk struct {
	orders  []BatchOrder
	rows    []byte // the opened orders' rows (personal data: cleared once written)
	records int    // rows in rows
	opened  int    // orders in rows
	failed  string // the reference of the order whose sealed part did not open
	cause   error  // why it did not open
	err     error
	done    chan struct{} // closed once opened
	formats []order.Format
}

// rowsSize is a chunk's first rows buffer: a chunk of orders like the
// bench's (about 140 bytes an order) fits without growing.
const rowsSize = 64 << 10

func newChunk() *chunk {
	return &chunk{
		orders:  make([]BatchOrder, 0, chunkSize),
		formats: make([]order.Format, 0, 2*chunkSize),
		rows:    make([]byte, 0, rowsSize),
		done:    make(chan struct{}),
	}
}

// reuse returns a written chunk from free, or a new one.
func reuse(free chan *chunk) *chunk {
	select {
	case c := <-free:
		return c
	default:
		return newChunk()
	}
}

// reset empties a written chunk for reuse; its rows must have been
// cleared. Nothing refers to its orders or formats any more: they went
// into its rows.
func (c *chunk) reset() {
	clear(c.orders) // the sealed values, for the collector
	c.orders, c.formats, c.rows = c.orders[:0], c.formats[:0], c.rows[:0]
	c.records, c.opened = 0, 0
	c.done = make(chan struct{})
}

// keepFormats copies an order's formats into the chunk's array (one
// allocation a chunk instead of one an order); the slice returned has no
// room to grow into the next order's. When the array is full a new one is
// started: the earlier orders keep theirs.
func (c *chunk) keepFormats(fs []order.Format) []order.Format {
	start := len(c.formats)
	c.formats = append(c.formats, fs...)
	return c.formats[start:len(c.formats):len(c.formats)]
}

// open opens a chunk's personal parts and encodes their rows, stopping at
// the first that fails.
func (s *Sender) open(ctx context.Context, b Batch, c *chunk, codec PersonalCodec) {
	for _, o := range c.orders {
		if ctx.Err() != nil {
			c.err = ctx.Err()
			return
		}
		ref, err := storedReference(o.Reference)
		if err != nil {
			c.err = fmt.Errorf("order %s: %w: stored reference is invalid", o.Reference, ErrSealedRejected)
			return
		}
		p, err := codec.Decode(ctx, o.OrderID, ref, o.BusinessDate, o.Personal)
		if err != nil { // tested first: six errors.Is calls an order were 1 % of the send's CPU
			if errors.Is(err, seal.ErrTampered) || errors.Is(err, seal.ErrMalformed) || errors.Is(err, seal.ErrWrongDayKey) ||
				errors.Is(err, seal.ErrKeyDestroyed) || errors.Is(err, seal.ErrUnknownKEK) || errors.Is(err, ErrNoKey) {
				c.failed, c.cause = o.Reference, err
				c.err = fmt.Errorf("batch %s, order %s: %w: %w", b.ID, o.Reference, ErrSealedRejected, err)
				return
			}
			c.err = fmt.Errorf("order %s: %w", o.Reference, err)
			return
		}
		e := batchfile.Entry{Reference: o.Reference, AreaCode: o.Area, Formats: o.Formats, Languages: o.Languages, Personal: p}
		if a, ok := s.areas.Lookup(o.Area); ok {
			e.AreaName = a.Name
		}
		var n int
		c.rows, n = batchfile.AppendEntry(c.rows, e)
		c.records += n
		c.opened++
	}
}

// storedReference is reference.Parse for a reference as the store holds
// it. The intake stores only the canonical form Parse returns, so a value
// of that form (XXXX-XXXX-XXX in the reference alphabet) is taken as it
// is: Parse's allocations were a tenth of the openers' CPU. Its check
// character is not recomputed here: the reference is bound into the sealed
// part's associated data, so a stored reference changed in any way does
// not open (ErrTampered), and the batch stops all the same. Anything else
// goes through Parse, as before.
func storedReference(s string) (reference.Reference, error) {
	if len(s) != reference.Len+2 || s[4] != '-' || s[9] != '-' {
		return reference.Parse(s)
	}
	for i := 0; i < len(s); i++ {
		if i != 4 && i != 9 && !inAlphabet[s[i]] {
			return reference.Parse(s)
		}
	}
	return reference.Reference(s), nil
}

// inAlphabet says which bytes are in reference.Alphabet.
var inAlphabet = func() (in [256]bool) {
	for i := 0; i < len(reference.Alphabet); i++ {
		in[reference.Alphabet[i]] = true
	}
	return in
}()

// rejected raises the alert for a sealed personal part that did not open.
// It names the batch and the order reference only.
func (s *Sender) rejected(b Batch, c *chunk) {
	if c.cause == nil {
		return
	}
	s.log.Error().Str("alert", "sealed_data_rejected").Str("batch_id", b.ID).Str("reference", c.failed).
		Err(c.cause).Msg("sealed personal data did not open: batch stopped, nothing sent, data kept")
}

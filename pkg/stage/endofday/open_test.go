package endofday

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
)

func TestStoredReferenceAsParse(t *testing.T) {
	t.Parallel()
	r := reference.New()
	in := []string{
		r.String(), strings.ToLower(r.String()), strings.ReplaceAll(r.String(), "-", ""),
		strings.ReplaceAll(r.String(), "-", " "), " " + r.String(), r.String() + "-",
		"", "=cmd|' /C calc'!A0", "0000-0000-000", "ABCD-EFGH-IJ", "ABCD_EFGH_JKL", "ABCD-EFGH-JK\u00e9",
	}
	for range 1000 {
		in = append(in, reference.New().String())
	}
	for _, s := range in {
		got, err := storedReference(s)
		want, werr := reference.Parse(s)
		if got != want || (err == nil) != (werr == nil) {
			t.Errorf("storedReference(%q) = %q, %v; Parse: %q, %v", s, got, err, want, werr)
		}
	}
	// The one difference: the check character of the canonical form is
	// left to the sealed part's associated data (see storedReference).
	bad := []byte(r.String())
	bad[12] = reference.Alphabet[(strings.IndexByte(reference.Alphabet, bad[12])+1)%len(reference.Alphabet)]
	if got, err := storedReference(string(bad)); err != nil || string(got) != string(bad) {
		t.Errorf("storedReference(%q) = %q, %v", bad, got, err)
	}
}

// fakeKeys is a keystore with the keys given, counting look-ups.
type fakeKeys struct {
	keys map[businessday.Date]*seal.DayKey
	gets int
}

func (f *fakeKeys) Get(_ context.Context, day businessday.Date) (*seal.DayKey, error) {
	f.gets++
	if k, ok := f.keys[day]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("day key %s: %w", day, ErrNoKey)
}

// TestSealedDecoderAsSealedCodec opens a run of orders of two days with one
// decoder, as an opener of write does, and checks each result and error
// against the reference implementation: UnmarshalBinary, the key id's
// date, Keys.Get and order.OpenPersonal, order by order.
func TestSealedDecoderAsSealedCodec(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mon, tue, wed := businessday.Date{Year: 2026, Month: 11, Day: 23}, businessday.Date{Year: 2026, Month: 11, Day: 24}, businessday.Date{Year: 2026, Month: 11, Day: 25}
	keys := &fakeKeys{keys: map[businessday.Date]*seal.DayKey{}}
	for _, d := range []businessday.Date{mon, tue} {
		k, err := seal.NewDayKey(d.String())
		if err != nil {
			t.Fatal(err)
		}
		keys.keys[d] = k
	}
	wedKey, _ := seal.NewDayKey(wed.String()) // not in the keystore

	type row struct {
		id   string
		ref  reference.Reference
		date businessday.Date
		data []byte
	}
	sealed := func(d businessday.Date, key *seal.DayKey, name string) row {
		o := order.Order{
			ID: uuid.NewString(), Reference: reference.New(), ReceivedAt: time.Now(), Area: "kent",
			Formats: []order.Format{order.Audio}, Personal: order.Personal{Name: name, Town: "Leeds", Postcode: "LS1 4AP"},
		}
		so, err := order.Seal(o, d, key)
		if err != nil {
			t.Fatal(err)
		}
		b, err := so.Personal.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return row{o.ID, o.Reference, d, b}
	}
	var rows []row
	for i := range 5 {
		rows = append(rows, sealed(mon, keys.keys[mon], fmt.Sprintf("Monday Person %d", i)))
	}
	for i := range 5 {
		rows = append(rows, sealed(tue, keys.keys[tue], fmt.Sprintf("Tuesday Person %d", i)))
	}
	rows = append(rows, sealed(mon, keys.keys[mon], "Monday Again"))
	moved := sealed(mon, keys.keys[mon], "Moved Person")
	moved.date = tue // stored under another date than its key's
	rows = append(rows, moved)
	swapped := sealed(tue, keys.keys[tue], "Swapped Person")
	swapped.ref = reference.New() // stored with another order's reference
	rows = append(rows, swapped)
	rows = append(rows, row{uuid.NewString(), reference.New(), tue, []byte{9, 9, 9}})
	truncated := sealed(tue, keys.keys[tue], "Truncated Person")
	truncated.data = truncated.data[:30]
	rows = append(rows, truncated)
	rows = append(rows, sealed(wed, wedKey, "Wednesday Person"))
	rows = append(rows, sealed(tue, keys.keys[tue], "Tuesday Last"))

	slow := func(r row) (order.Personal, error) {
		var s seal.Sealed
		if err := s.UnmarshalBinary(r.data); err != nil {
			return order.Personal{}, fmt.Errorf("open order %s: %w", r.ref, err)
		}
		if s.KeyID != r.date.String() {
			return order.Personal{}, fmt.Errorf("open order %s: %w", r.ref, seal.ErrWrongDayKey)
		}
		key, err := keys.Get(ctx, r.date)
		if err != nil {
			return order.Personal{}, fmt.Errorf("open order %s: %w", r.ref, err)
		}
		return order.OpenPersonal(key, r.id, r.ref, s)
	}
	dec := decoderFor(SealedCodec{Keys: keys})
	if _, ok := dec.(*sealedDecoder); !ok {
		t.Fatalf("decoderFor(SealedCodec) = %T", dec)
	}
	for i, r := range rows {
		want, werr := slow(r)
		before := keys.gets
		got, err := dec.Decode(ctx, r.id, r.ref, r.date, r.data)
		if got != want || (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
			t.Errorf("row %d: %+v, %v; want %+v, %v", i, got, err, want, werr)
		}
		if err != nil && strings.Contains(err.Error(), "Person") {
			t.Errorf("row %d: error carries personal data: %v", i, err)
		}
		// One look-up per run of a date, plus the failing ones (not kept).
		if wantGets := map[int]int{0: 1, 5: 1, 10: 1, 11: 0, 12: 1, 15: 1, 16: 1}[i]; keys.gets-before != wantGets {
			t.Errorf("row %d: %d key look-ups, want %d", i, keys.gets-before, wantGets)
		}
	}
	if !errors.Is(func() error { _, err := dec.Decode(ctx, moved.id, moved.ref, moved.date, moved.data); return err }(), seal.ErrWrongDayKey) {
		t.Error("moved: want ErrWrongDayKey")
	}

	// Another codec is used as it is.
	if c := decoderFor(benchCodec{}); c != (benchCodec{}) {
		t.Errorf("decoderFor(benchCodec) = %T", c)
	}
}

// A chunk's orders keep their own formats, whatever EachOrder does with
// the slice it passes, and however many the chunk holds.
func TestChunkKeepFormats(t *testing.T) {
	t.Parallel()
	c := newChunk()
	reused := make([]order.Format, 0, 2)
	var kept [][]order.Format
	var want [][]order.Format
	for i := range 3 * chunkSize { // more than the array's first size
		reused = reused[:0]
		reused = append(reused, order.Formats[i%len(order.Formats)])
		if i%3 == 0 {
			reused = append(reused, order.Audio)
		}
		if i%7 == 0 {
			reused = reused[:0]
		}
		want = append(want, slices.Clone(reused))
		kept = append(kept, c.keepFormats(reused))
		reused[0:cap(reused)][0] = "overwritten" // as EachOrder's next row would
	}
	for i := range kept {
		if !slices.Equal(kept[i], want[i]) {
			t.Fatalf("order %d: formats %q, want %q", i, kept[i], want[i])
		}
		if cap(kept[i]) != len(kept[i]) {
			t.Fatalf("order %d: room to grow into the next order's formats", i)
		}
	}
}

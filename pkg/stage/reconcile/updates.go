package reconcile

// Dispatch and returns (issue 16): after printing, the partner says what
// happened to each booklet, in a CSV file in its updates folder, one row
// per order reference and format: dispatched on a date, or returned with a
// reason from a fixed list. No personal data comes back: a reference is a
// random code, not a person. The file is checked, signed like the
// confirmations, and recorded whole or not at all, so that the partner
// never has to work out which half of a file we took.

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
)

// MaxUpdatesSize bounds an updates file: a row is about 50 bytes, so this
// is some 80,000 rows, more than any day's batch.
const MaxUpdatesSize = 4 << 20

// The statuses of a row.
const (
	Dispatched = "dispatched" // posted, on the row's date
	Returned   = "returned"   // came back to the partner, on the row's date, for the row's reason
)

// ReturnReasons are why a booklet came back, as the partner may give them
// (Royal Mail's reasons for an undelivered item, as a print house records
// them).
var ReturnReasons = []string{
	"addressee-unknown",  // not known, or gone away, at the address
	"refused",            // the addressee refused it
	"damaged",            // damaged in the post and returned
	"address-incomplete", // the address was insufficient or inaccessible
	"not-collected",      // a "something for you" card left, never collected
}

// UpdatesHeader is the updates file's header line, in this order.
var UpdatesHeader = []string{"reference", "format", "status", "date", "reason"}

// updatesPattern: updates_<batch id>.csv, or updates_<batch id>_<label>.csv
// so that a partner can send a dispatch file and later a returns file for
// the same batch (the label is the partner's: dispatch, returns-1, …).
// Batch ids hold no underscore.
var updatesPattern = regexp.MustCompile(`^updates_([A-Za-z0-9][A-Za-z0-9.-]{0,99})(?:_[A-Za-z0-9-]{1,40})?\.csv$`)

// BatchIDFromUpdatesName returns the batch id an updates file's name
// announces, or false when the name is not updates_<batch id>[_<label>].csv.
func BatchIDFromUpdatesName(name string) (string, bool) {
	m := updatesPattern.FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// UpdateRow is one row of an updates file, checked on its own.
type UpdateRow struct {
	Line      int // in the file, the header being line 1
	Reference string
	Format    string
	Status    string
	Date      time.Time // a civil date, midnight UTC
	Reason    string    // returned only
}

// UpdateKey identifies a booklet's status: a reference, a format, a status.
type UpdateKey struct{ Reference, Format, Status string }

// Key is the row's UpdateKey.
func (r UpdateRow) Key() UpdateKey { return UpdateKey{r.Reference, r.Format, r.Status} }

// maxProblems is how many problems a reason lists: the partner fixes those
// and sends again; a thousand lines of the same mistake help no one.
const maxProblems = 10

// problems collects what is wrong with a file, line by line. Values the
// partner wrote are never repeated unless they were checked to be what
// they should be (a valid reference, a known format): a mistaken column
// could hold a name or an address, which must not reach our logs.
type problems struct {
	list  []problem
	extra int
}

type problem struct {
	line int // 0: the file as a whole
	msg  string
}

func (p *problems) add(line int, format string, args ...any) {
	if len(p.list) == maxProblems {
		p.extra++
		return
	}
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	p.list = append(p.list, problem{line, msg})
}

// String lists the problems in the order of the lines (those found while
// reading the file, then those found against the record, sorted together).
func (p *problems) String() string {
	sorted := slices.Clone(p.list)
	slices.SortStableFunc(sorted, func(a, b problem) int { return a.line - b.line })
	msgs := make([]string, len(sorted))
	for i, x := range sorted {
		msgs[i] = x.msg
	}
	s := strings.Join(msgs, "; ")
	if p.extra > 0 {
		s += fmt.Sprintf("; and %d more", p.extra)
	}
	return s
}

func (p *problems) empty() bool { return len(p.list) == 0 }

// ParseUpdates reads an updates file's rows, checking each on its own and
// the file as a whole (its header, no row twice). The problems found go
// into the reason given to the partner.
func ParseUpdates(f File) (rows []UpdateRow, p problems) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(f.Data, []byte(utf8BOM))))
	r.FieldsPerRecord = -1 // checked here, to say which line
	header, err := r.Read()
	if err != nil {
		p.add(0, "the file is empty or not CSV: the first line must be the header %s", strings.Join(UpdatesHeader, ","))
		return nil, p
	}
	if !sameHeader(header) {
		p.add(1, "the header must be exactly %s", strings.Join(UpdatesHeader, ","))
		return nil, p
	}
	seen := map[UpdateKey]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var perr *csv.ParseError
			if errors.As(err, &perr) {
				p.add(perr.StartLine, "not valid CSV (%v)", perr.Err)
			} else {
				p.add(0, "not valid CSV")
			}
			return nil, p
		}
		line, _ := r.FieldPos(0) // after the error check: a failed read has no fields
		if len(rec) != len(UpdatesHeader) {
			p.add(line, "%d fields, want %d (%s)", len(rec), len(UpdatesHeader), strings.Join(UpdatesHeader, ","))
			continue
		}
		row, ok := parseRow(line, rec, &p)
		if !ok {
			continue
		}
		if first, dup := seen[row.Key()]; dup {
			p.add(line, "order %s %s is %s already on line %d: give each booklet's status once", row.Reference, row.Format, row.Status, first)
			continue
		}
		seen[row.Key()] = line
		rows = append(rows, row)
	}
	if p.empty() && len(rows) == 0 {
		p.add(0, "the file has no rows after the header")
	}
	return rows, p
}

func sameHeader(h []string) bool {
	if len(h) != len(UpdatesHeader) {
		return false
	}
	for i, name := range UpdatesHeader {
		if strings.ToLower(strings.TrimSpace(h[i])) != name {
			return false
		}
	}
	return true
}

func parseRow(line int, rec []string, p *problems) (UpdateRow, bool) {
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
	}
	row := UpdateRow{Line: line, Format: rec[1], Status: strings.ToLower(rec[2]), Reason: strings.ToLower(rec[4])}
	ok := true
	ref, err := reference.Parse(rec[0])
	if err != nil {
		p.add(line, "reference is not an order reference like K7QM-X9PA-C4T (check the column order: %s)", strings.Join(UpdatesHeader, ","))
		ok = false
	}
	row.Reference = ref.String()
	if !order.Format(row.Format).Valid() {
		names := make([]string, len(order.Formats))
		for i, f := range order.Formats {
			names[i] = string(f)
		}
		p.add(line, "format must be one of %s, as in the batch file", strings.Join(names, ", "))
		ok = false
	}
	d, err := time.Parse(time.DateOnly, rec[3])
	if err != nil {
		p.add(line, "date must be a date like 2026-11-27 (YYYY-MM-DD)")
		ok = false
	}
	row.Date = d
	switch row.Status {
	case Dispatched:
		if row.Reason != "" {
			p.add(line, "a dispatched row has no reason: leave the reason empty")
			ok = false
		}
	case Returned:
		known := false
		for _, r := range ReturnReasons {
			known = known || r == row.Reason
		}
		if !known {
			p.add(line, "a returned row needs a reason, one of %s", strings.Join(ReturnReasons, ", "))
			ok = false
		}
	default:
		p.add(line, "status must be dispatched or returned")
		ok = false
	}
	return row, ok
}

// OrderInfo is what we know of an order named in an updates file: the
// batch it went out in ("" when none) and the formats it asked for.
type OrderInfo struct {
	BatchID string
	Formats []string
}

// PriorUpdate is a status already recorded for a booklet.
type PriorUpdate struct {
	Date   time.Time
	Reason string
	File   string // the file that recorded it
}

// UpdatesOutcome is what was decided about an updates file.
type UpdatesOutcome struct {
	FileName, FileSHA256 string
	BatchID              string // as its name says; "" for a bad name
	Accepted             bool
	Reason               string // why it was rejected, and what to change
	// Rows are the file's rows (accepted files only); New those of them
	// not recorded before (a file sent again records nothing new).
	Rows, New            []UpdateRow
	Dispatched, Returned int // the file's rows of each status
	ReceivedAt           time.Time
	Signer               string // fingerprint of the key that signed it; "" when unsigned
	SignatureSHA256      string
}

// JudgeUpdates decides on an updates file with its rows as parsed, the
// batch its name names (nil: no such batch), what we know of the orders it
// names (by canonical reference) and the statuses already recorded for
// them. now is when it is received. The whole file is accepted or none of
// it.
func JudgeUpdates(f File, rows []UpdateRow, parsed problems, batch *Batch, orders map[string]OrderInfo,
	prior map[UpdateKey]PriorUpdate, now time.Time) UpdatesOutcome {
	out := UpdatesOutcome{FileName: f.Name, FileSHA256: f.SHA256, ReceivedAt: now, Signer: f.Sig.Signer, SignatureSHA256: f.Sig.SHA256}
	out.BatchID, _ = BatchIDFromUpdatesName(f.Name)
	again := fmt.Sprintf("Correct the file and upload it again as %s (signed again); nothing in it was recorded.", f.Name)
	reject := func(fix, format string, args ...any) UpdatesOutcome {
		out.Reason = fmt.Sprintf(format, args...) + ". " + fix
		return out
	}
	switch {
	case out.BatchID == "":
		return reject("Name each updates file updates_<batch id>.csv or updates_<batch id>_<label>.csv (for example updates_B20261125-K7QM2X_dispatch.csv), with the batch id from the names of the files we sent.",
			"the file name is not updates_<batch id>.csv or updates_<batch id>_<label>.csv")
	case batch == nil:
		return reject("Check the batch id against the names of the files we sent.", "unknown batch %q", out.BatchID)
	case f.Sig.Problem != "":
		return reject("Sign the file with the key you registered with us (gpg --armor --detach-sign "+f.Name+") and upload the .asc, then the .csv again.", "%s", f.Sig.Problem)
	case !batch.Sent():
		return reject("Check the batch id: send updates only for batches you received.", "batch %q has not been sent", out.BatchID)
	}
	// The rows that could be read are checked too, so that the partner
	// learns of every mistake (up to maxProblems) at once.
	p := parsed
	p.list = slices.Clone(parsed.list)
	today := londonDate(now)
	inFile := map[UpdateKey]UpdateRow{}
	for _, r := range rows {
		inFile[r.Key()] = r
	}
	for _, r := range rows {
		o, known := orders[r.Reference]
		switch {
		case !known:
			p.add(r.Line, "%s is not an order reference of ours", r.Reference)
			continue
		case o.BatchID != out.BatchID && o.BatchID == "":
			p.add(r.Line, "order %s is in no batch we sent; it cannot be in %s", r.Reference, out.BatchID)
			continue
		case o.BatchID != out.BatchID:
			p.add(r.Line, "order %s was sent in batch %s, not %s: send its status in that batch's updates file", r.Reference, o.BatchID, out.BatchID)
			continue
		}
		asked := false
		for _, f := range o.Formats {
			asked = asked || f == r.Format
		}
		if !asked {
			p.add(r.Line, "order %s did not ask for %s", r.Reference, r.Format)
			continue
		}
		switch {
		case r.Date.Before(batch.DeliveryDate):
			p.add(r.Line, "date %s is before the batch reached you (%s)", r.Date.Format(time.DateOnly), batch.DeliveryDate.Format(time.DateOnly))
		case r.Date.After(today.AddDate(0, 0, 1)):
			p.add(r.Line, "date %s is in the future", r.Date.Format(time.DateOnly))
		}
		if before, ok := prior[r.Key()]; ok && (!before.Date.Equal(r.Date) || before.Reason != r.Reason) {
			p.add(r.Line, "order %s %s was already recorded %s on %s (from %s): a status is given once", r.Reference, r.Format, r.Status,
				before.Date.Format(time.DateOnly), before.File)
		}
		if r.Status != Dispatched {
			continue
		}
		ret := UpdateKey{r.Reference, r.Format, Returned}
		if back, ok := prior[ret]; ok {
			p.add(r.Line, "order %s %s was recorded returned on %s: a returned booklet is not sent again (we hold no address; the person is asked to order again)",
				r.Reference, r.Format, back.Date.Format(time.DateOnly))
		} else if back, ok := inFile[ret]; ok && back.Date.Before(r.Date) {
			p.add(r.Line, "order %s %s is dispatched on %s, after it was returned (line %d)", r.Reference, r.Format, r.Date.Format(time.DateOnly), back.Line)
		}
	}
	if !p.empty() {
		return reject(again, "%s", p.String())
	}
	out.Accepted, out.Rows = true, rows
	for _, r := range rows {
		if r.Status == Dispatched {
			out.Dispatched++
		} else {
			out.Returned++
		}
		if _, ok := prior[r.Key()]; !ok {
			out.New = append(out.New, r)
		}
	}
	return out
}

// UpdatesStore records updates files (pkg/adapter/postgres).
type UpdatesStore interface {
	// RecordUpdates judges an updates file naming batch batchID and the
	// orders refs (canonical references) with judge, given what is
	// recorded about them, and records the outcome: the file, its new rows
	// and, when accepted, an audit entry, in one transaction. A file
	// already recorded (same name and content) is not judged again: its
	// earlier outcome is returned with dup true.
	RecordUpdates(ctx context.Context, f File, batchID string, refs []string, now time.Time,
		judge func(batch *Batch, orders map[string]OrderInfo, prior map[UpdateKey]PriorUpdate) UpdatesOutcome) (UpdatesOutcome, bool, error)
}

// UpdatesSummary says what a run did with the updates folder.
type UpdatesSummary struct {
	Files      int `json:"files"`
	Accepted   int `json:"accepted"`
	Rejected   int `json:"rejected"`
	Duplicates int `json:"duplicates"`
	Failed     int `json:"failed"`
	Waiting    int `json:"waiting_for_signature,omitempty"`
}

// OrderStatus is what the partner told us about one booklet of an order
// (a reference and a format): dispatched, and perhaps returned. It is for
// the public status page (issue 17): a returned booklet cannot be sent
// again, as we hold no address once the batch is sent; the person is told
// to order again.
type OrderStatus struct {
	Format       string
	BatchID      string
	Status       string    // Returned when a return is recorded, else Dispatched
	DispatchedOn time.Time // zero when no dispatch is recorded
	ReturnedOn   time.Time // zero unless returned
	ReturnReason string
}

// Package trackorder is what a person can do with their order's reference
// once the order is placed (issue 17): see where the order is (Status),
// and cancel it before the cut-off with the postcode it was placed with
// (Cancel).
//
// The status says nothing about the person or what they asked for: no
// name, address, postcode, area or format (a format such as braille or
// audio hints at a disability), only dates. A reference is not personal
// data (it is random, docs/architecture.md), so anyone holding one may see
// its order's status; cancelling needs the postcode too, which is checked
// against the one sealed in the order and never stored, logged or echoed.
package trackorder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/postcode"
	"booklets/pkg/domain/reference"
	"booklets/pkg/stage/endofday"
)

// The public statuses of an order, as the status page and the API give
// them (docs/api.md, "Order status").
const (
	// Received: stored, not yet sent to the printer (it may be in the
	// batch being sent: Status.Sending).
	Received = "received"
	// Cancelled: its personal data was deleted before it was sent, by the
	// person (Cancel) or on their request by an operator.
	Cancelled = "cancelled"
	// Sent: in a batch the printer has received; our copy of the name and
	// address is deleted.
	Sent = "sent"
	// Dispatched: the printer reports it posted.
	Dispatched = "dispatched"
	// Returned: the printer reports a booklet came back. We hold no
	// address any more, so it cannot be sent again: the person is told
	// to order again.
	Returned = "returned"
	// DeletionConfirmed: the printer confirmed deleting the batch's names
	// and addresses. Nobody holds them any more.
	DeletionConfirmed = "deletion_confirmed"
)

// Status is an order's public status: one of the constants above and the
// dates that apply (zero when not). Dates are London calendar dates.
type Status struct {
	Reference string
	Status    string
	// ReceivedOn is the London date the order was received.
	ReceivedOn businessday.Date
	// GoesToPrinterAt is its business day's cut-off: after it the order
	// goes in that day's batch.
	GoesToPrinterAt time.Time
	// CancellableUntil is GoesToPrinterAt while the order can still be
	// cancelled (before it, in no batch, not cancelled); zero otherwise.
	CancellableUntil time.Time
	// Sending: past the cut-off but not yet sent (in the batch being
	// assembled and uploaded, or waiting for it).
	Sending bool
	// CancelledOn is when a cancelled order's personal data was deleted.
	CancelledOn businessday.Date
	// SentOn is when the batch reached the printer (its files verified on
	// the partner's server).
	SentOn businessday.Date
	// PersonalDataDeletedOn is when our copy of the name and address was
	// deleted: when the batch was recorded sent, or when cancelled.
	PersonalDataDeletedOn businessday.Date
	// DispatchedOn is the latest dispatch date the printer reported for
	// the order's booklets; ReturnedOn the latest return.
	DispatchedOn businessday.Date
	ReturnedOn   businessday.Date
	// DeletionDueBy is the last day of the printer's 30 working days to
	// delete the data, until they confirm; DeletionOverdue when that day
	// has passed without a confirmation.
	DeletionDueBy   businessday.Date
	DeletionOverdue bool
	// DeletionConfirmedOn is when the printer says it deleted the data.
	DeletionConfirmedOn businessday.Date
}

// Config is what the service needs.
type Config struct {
	Store Store
	// Keys open the sealed personal part, for Cancel's postcode check.
	Keys endofday.DayKeys
	// Cutoff is BATCH_CUTOFF: an order can be cancelled until its
	// business day's cut-off.
	Cutoff businessday.Cutoff
	// Clock is the time orders are received by (the intake's: demo time
	// in demo mode); time.Now when nil.
	Clock func() time.Time
}

// Service answers status questions and cancels orders.
type Service struct {
	store  Store
	keys   endofday.DayKeys
	cutoff businessday.Cutoff
	now    func() time.Time
}

// New checks the configuration.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.New("trackorder: Store and Keys are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Service{store: cfg.Store, keys: cfg.Keys, cutoff: cfg.Cutoff, now: cfg.Clock}, nil
}

// ParseReference reads a reference as a person types it (any case, spaces
// or dashes anywhere) and says what is wrong with it: ErrNoReference,
// ErrReferenceFormat (wrong length, or a character references never use),
// or ErrReferenceCheck (the right shape, but the check character does not
// match: a character is mistyped). The domain's reference.Parse gives one
// error for all three; a person needs to know which.
func ParseReference(s string) (reference.Reference, error) {
	ref, err := reference.Parse(s)
	if err == nil {
		return ref, nil
	}
	var raw strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case r < 128 && strings.IndexByte(reference.Alphabet, byte(r)) >= 0:
			raw.WriteRune(r)
		default:
			return "", ErrReferenceFormat
		}
	}
	switch raw.Len() {
	case 0:
		return "", ErrNoReference
	case reference.Len:
		return "", ErrReferenceCheck
	}
	return "", ErrReferenceFormat
}

// Status returns the public status of the order with reference ref (as
// typed): ErrUnknown if there is none, or ParseReference's errors.
//
// When several booklets were ordered and the printer reported on them
// separately, the most pressing status wins: returned if any booklet came
// back (the person must order again, and must be told), else deletion
// confirmed (the last step of all: the printer posts before deleting),
// else dispatched if any booklet was posted, else sent. The dates of
// the other steps are still given.
func (s *Service) Status(ctx context.Context, ref string) (Status, error) {
	parsed, err := ParseReference(ref)
	if err != nil {
		return Status{}, err
	}
	f, err := s.store.Track(ctx, parsed.String())
	if errors.Is(err, ErrNotFound) {
		return Status{}, ErrUnknown
	}
	if err != nil {
		return Status{}, fmt.Errorf("status of order %s: %w", parsed, err)
	}
	return s.status(f, s.now()), nil
}

// status derives the public status from the facts at now.
func (s *Service) status(f Facts, now time.Time) Status {
	st := Status{Reference: f.Reference, Status: Received, ReceivedOn: businessday.LondonDate(f.ReceivedAt),
		GoesToPrinterAt: s.cutoff.Closes(f.BusinessDate)}
	if !f.ErasedAt.IsZero() {
		st.Status = Cancelled
		st.CancelledOn = businessday.LondonDate(f.ErasedAt)
		st.PersonalDataDeletedOn = st.CancelledOn
		return st
	}
	if f.Batch.State != endofday.StateSent {
		if f.Batch.ID == "" && now.Before(st.GoesToPrinterAt) {
			st.CancellableUntil = st.GoesToPrinterAt
		} else {
			st.Sending = true
		}
		return st
	}
	st.Status = Sent
	uploaded := f.Batch.UploadedAt
	if uploaded.IsZero() {
		uploaded = f.Batch.SentAt
	}
	st.SentOn = businessday.LondonDate(uploaded)
	st.PersonalDataDeletedOn = businessday.LondonDate(f.Batch.SentAt)
	returned := false
	for _, b := range f.Booklets {
		if !b.DispatchedOn.IsZero() && b.DispatchedOn.After(st.DispatchedOn) {
			st.DispatchedOn = b.DispatchedOn
		}
		if !b.ReturnedOn.IsZero() {
			returned = true
			if b.ReturnedOn.After(st.ReturnedOn) {
				st.ReturnedOn = b.ReturnedOn
			}
		}
	}
	if f.ConfirmedAt.IsZero() {
		st.DeletionDueBy = f.Batch.DueDate
		st.DeletionOverdue = !f.Batch.DueDate.IsZero() && f.Batch.DueDate.Before(businessday.LondonDate(now))
	} else {
		st.DeletionConfirmedOn = businessday.LondonDate(f.ConfirmedAt)
	}
	switch {
	case returned:
		st.Status = Returned
	case !f.ConfirmedAt.IsZero():
		st.Status = DeletionConfirmed
	case !st.DispatchedOn.IsZero():
		st.Status = Dispatched
	}
	return st
}

// Cancellation is what Cancel did.
type Cancellation struct {
	Reference string
	// Already: the order had been cancelled (or erased on request)
	// before; nothing changed. Cancelling twice is not an error for the
	// person: the order is cancelled, which is what they asked for.
	Already bool
}

// Cancel cancels the order with reference ref if pc is the postcode it
// was placed with and it has not gone to the printer: its personal part
// is deleted at once, it is left out of the batch and "order_cancelled" is
// recorded in the audit log (the reference only).
//
// Errors: ParseReference's, ErrNoPostcode or ErrPostcodeFormat, ErrUnknown
// (no such order, or a postcode that does not match: the same error),
// ErrTooLate (past the order's cut-off, in a batch or sent). An order
// already cancelled is no error (Cancellation.Already), whatever postcode is
// given: we no longer hold one to check, and its status, which anyone with
// the reference may see, already says it is cancelled.
func (s *Service) Cancel(ctx context.Context, ref, pc string) (Cancellation, error) {
	parsed, err := ParseReference(ref)
	if err != nil {
		return Cancellation{}, err
	}
	if strings.TrimSpace(pc) == "" {
		return Cancellation{}, ErrNoPostcode
	}
	if _, err := postcode.Normalise(pc); err != nil {
		return Cancellation{}, ErrPostcodeFormat
	}
	out := Cancellation{Reference: parsed.String()}
	f, err := s.store.Track(ctx, parsed.String())
	if errors.Is(err, ErrNotFound) {
		return Cancellation{}, ErrUnknown
	}
	if err != nil {
		return Cancellation{}, fmt.Errorf("cancel order %s: %w", parsed, err)
	}
	switch st := s.status(f, s.now()); {
	case st.Status == Cancelled:
		out.Already = true
		return out, nil
	case st.CancellableUntil.IsZero():
		return Cancellation{}, ErrTooLate
	}
	held, err := endofday.Confirm(ctx, s.store, s.keys, parsed.String(), pc)
	if err == nil {
		err = s.store.CancelOrder(ctx, held.Order.OrderID, held.Order.Reference)
	}
	// The order may have been assembled into a batch, or cancelled by
	// another request, since Track: the store's answer under the lock is
	// the one that counts.
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, endofday.ErrNoMatch):
		return Cancellation{}, ErrUnknown
	case errors.Is(err, endofday.ErrErased):
		out.Already = true
		return out, nil
	case errors.Is(err, endofday.ErrAlreadySent):
		return Cancellation{}, ErrTooLate
	}
	return Cancellation{}, fmt.Errorf("cancel order %s: %w", parsed, err)
}

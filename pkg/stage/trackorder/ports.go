package trackorder

import (
	"context"
	"errors"
	"time"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/stage/endofday"
)

// The ports of tracking an order: what it needs of the database (Store,
// implemented by pkg/adapter/postgres) and the day keys that open the
// sealed postcode (endofday.DayKeys, the same adapter).

// Store is what the status and the cancellation need of the database.
type Store interface {
	// endofday.UnsentFinder finds an order whose personal data is still
	// held, for the postcode check it shares with the operator's commands
	// (endofday.Confirm).
	endofday.UnsentFinder
	// Track returns what is known of the order with the canonical
	// reference ref, or ErrNotFound.
	Track(ctx context.Context, ref string) (Facts, error)
	// CancelOrder deletes an unsent order's personal part, leaves it out
	// of every batch and records "order_cancelled" with the reference, in
	// one transaction, under the lock assembling a batch takes. An order
	// assembled into a batch meanwhile is endofday.ErrAlreadySent, one
	// already erased or cancelled endofday.ErrErased (both wrapped).
	CancelOrder(ctx context.Context, orderID, ref string) error
}

// ErrNotFound is what a Store returns for a reference it does not hold: the
// end-of-day stage's, which the PostgreSQL adapter already returns.
var ErrNotFound = endofday.ErrNotFound

// Facts are what the database knows of an order, none of it personal and
// nothing about the booklets asked for (no formats, no area): the order's
// times, its batch's, the partner's deletion confirmation and what the
// partner reported of each booklet.
type Facts struct {
	OrderID      string
	Reference    string
	ReceivedAt   time.Time
	BusinessDate businessday.Date
	// ErasedAt is when the personal part was deleted before the order was
	// sent: cancelled by the person, or erased on request by an operator.
	// Zero otherwise.
	ErasedAt time.Time
	// Batch is the order's batch; zero (ID "") until it is assembled.
	Batch Batch
	// ConfirmedAt is when the partner says it deleted the batch's data,
	// from the accepted deletion confirmation; zero until one is accepted.
	ConfirmedAt time.Time
	// Booklets are what the partner reported per booklet (one per format
	// it reported on; which format is not kept here).
	Booklets []Booklet
}

// Batch is what the status needs of the order's batch.
type Batch struct {
	ID    string
	State string // endofday.StateAssembling, StateUploaded or StateSent
	// UploadedAt is when both files were verified on the partner's
	// server; SentAt when the batch was recorded sent and the personal
	// data deleted (the same transaction). Zero until then.
	UploadedAt time.Time
	SentAt     time.Time
	// DueDate is the last day of the partner's 30 working days to delete
	// the data; zero until sent.
	DueDate businessday.Date
}

// Booklet is what the partner reported of one booklet of the order.
type Booklet struct {
	DispatchedOn businessday.Date // zero when no dispatch is reported
	ReturnedOn   businessday.Date // zero unless it came back
}

// The errors of Status and Cancel, told apart with errors.Is. None holds
// the postcode.
var (
	// ErrNoReference: the reference is empty.
	ErrNoReference = errors.New("enter an order reference")
	// ErrReferenceFormat: not 11 characters of the references' alphabet
	// (dashes and spaces aside).
	ErrReferenceFormat = errors.New("not in the form of an order reference")
	// ErrReferenceCheck: 11 characters of the alphabet whose check
	// character does not match: one of them is mistyped.
	ErrReferenceCheck = errors.New("the reference's check character does not match")
	// ErrUnknown: no order has that reference; for Cancel, also a postcode
	// that does not match the order's (the same error, so that one cannot
	// be told from the other).
	ErrUnknown = errors.New("no order with that reference (and postcode)")
	// ErrNoPostcode and ErrPostcodeFormat: Cancel's postcode is missing or
	// not a UK postcode (it cannot match any order).
	ErrNoPostcode     = errors.New("enter the postcode the order was placed with")
	ErrPostcodeFormat = errors.New("the postcode is not a UK postcode")
	// ErrTooLate: the order is past its cut-off, in a batch or sent: it is
	// going, or has gone, to the printer.
	ErrTooLate = errors.New("the order has gone to the printer: too late to cancel")
)

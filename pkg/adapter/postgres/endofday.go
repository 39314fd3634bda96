package postgres

import (
	"context"
	"errors"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/endofday"
)

// EndOfDayStore is the database as the end-of-day stage uses it: the
// batches and their orders (endofday.Store), the retention watchdog's
// reads and findings (endofday.RetentionStore) and the public's rights
// over an unsent order (endofday.RightsStore). Keys, when set, has the
// record transaction of a sent batch destroy its day keys
// (crypto-shredding): one transaction across orders, day keys and the
// audit log, inside this package.
type EndOfDayStore struct {
	Orders *Orders
	Keys   *DayKeys
}

var (
	_ endofday.Store          = EndOfDayStore{}
	_ endofday.RetentionStore = EndOfDayStore{}
	_ endofday.RightsStore    = EndOfDayStore{}
)

// TryLockSending implements endofday.Store (Orders.TryLockSending).
func (s EndOfDayStore) TryLockSending(ctx context.Context) (endofday.Lock, bool, error) {
	lock, ok, err := s.Orders.TryLockSending(ctx)
	if err != nil || !ok {
		return nil, ok, err
	}
	return lock, true, nil
}

// Unfinished implements endofday.Store (Orders.Unfinished).
func (s EndOfDayStore) Unfinished(ctx context.Context, before businessday.Date) ([]endofday.Batch, error) {
	bs, err := s.Orders.Unfinished(ctx, before)
	if err != nil {
		return nil, err
	}
	out := make([]endofday.Batch, len(bs))
	for i, b := range bs {
		out[i] = endofday.Batch(b)
	}
	return out, nil
}

// BatchFor implements endofday.Store (Orders.BatchFor).
func (s EndOfDayStore) BatchFor(ctx context.Context, date businessday.Date) (endofday.Batch, error) {
	b, err := s.Orders.BatchFor(ctx, date)
	return endofday.Batch(b), notFound(err)
}

// Assemble implements endofday.Store (Orders.Assemble).
func (s EndOfDayStore) Assemble(ctx context.Context, candidate endofday.Batch) (endofday.Batch, bool, error) {
	b, created, err := s.Orders.Assemble(ctx, Batch(candidate))
	return endofday.Batch(b), created, err
}

// CountBatch implements endofday.Store (Orders.CountBatch).
func (s EndOfDayStore) CountBatch(ctx context.Context, batchID string) (int, int, error) {
	return s.Orders.CountBatch(ctx, batchID)
}

// EachOrder implements endofday.Store (Orders.EachOrder).
func (s EndOfDayStore) EachOrder(ctx context.Context, batchID string, fn func(endofday.BatchOrder) error) error {
	return s.Orders.EachOrder(ctx, batchID, func(o BatchOrder) error { return fn(endofday.BatchOrder(o)) })
}

// NoteAttempt implements endofday.Store (Orders.NoteAttempt).
func (s EndOfDayStore) NoteAttempt(ctx context.Context, batchID, reason string) error {
	return s.Orders.NoteAttempt(ctx, batchID, reason)
}

// MarkUploaded implements endofday.Store (Orders.MarkUploaded).
func (s EndOfDayStore) MarkUploaded(ctx context.Context, batchID, sha256 string, records, orders int) error {
	return s.Orders.MarkUploaded(ctx, batchID, sha256, records, orders)
}

// RecordSent implements endofday.Store (Orders.RecordSent, destroying the
// day keys when Keys is set).
func (s EndOfDayStore) RecordSent(ctx context.Context, r endofday.Sent) (endofday.Deleted, error) {
	del, err := s.Orders.RecordSent(ctx, Sent{BatchID: r.BatchID, SHA256: r.SHA256, Records: r.Records, Orders: r.Orders,
		SentAt: r.SentAt, DeliveryDate: r.DeliveryDate, DueDate: r.DueDate, Keys: s.Keys})
	out := endofday.Deleted{Orders: del.Orders, DeadLetters: del.DeadLetters}
	for _, k := range del.DayKeys {
		out.DayKeys = append(out.DayKeys, endofday.KeyDestroyed{Date: k.Date, KEKID: k.KEKID, Already: k.Already})
	}
	return out, notFound(err)
}

// PersonalDataHeld implements endofday.RetentionStore
// (Orders.PersonalDataHeld).
func (s EndOfDayStore) PersonalDataHeld(ctx context.Context) ([]endofday.HeldItem, error) {
	items, err := s.Orders.PersonalDataHeld(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]endofday.HeldItem, len(items))
	for i, it := range items {
		out[i] = endofday.HeldItem(it)
	}
	return out, nil
}

// SaveRetentionCheck implements endofday.RetentionStore
// (Orders.SaveRetentionCheck).
func (s EndOfDayStore) SaveRetentionCheck(ctx context.Context, c endofday.RetentionCheck) error {
	return s.Orders.SaveRetentionCheck(ctx, RetentionCheck(c))
}

// FindUnsent implements endofday.RightsStore: Orders.FindOrder, refused
// with ErrAlreadySent or ErrErased (HeldOrder.Unsent) once the order's
// personal data is gone.
func (s EndOfDayStore) FindUnsent(ctx context.Context, ref string) (endofday.HeldOrder, error) {
	h, err := s.Orders.FindOrder(ctx, ref)
	if err != nil {
		return endofday.HeldOrder{}, notFound(err)
	}
	if err := h.Unsent(); err != nil {
		return endofday.HeldOrder{}, err
	}
	return endofday.HeldOrder(h), nil
}

// RecordViewed implements endofday.RightsStore (Orders.RecordViewed).
func (s EndOfDayStore) RecordViewed(ctx context.Context, ref string) error {
	return s.Orders.RecordViewed(ctx, ref)
}

// CorrectPersonal implements endofday.RightsStore (Orders.CorrectPersonal).
func (s EndOfDayStore) CorrectPersonal(ctx context.Context, orderID, ref string, sealed []byte, fields []string) error {
	return s.Orders.CorrectPersonal(ctx, orderID, ref, sealed, fields)
}

// ErasePersonal implements endofday.RightsStore (Orders.ErasePersonal).
func (s EndOfDayStore) ErasePersonal(ctx context.Context, orderID, ref string) error {
	return s.Orders.ErasePersonal(ctx, orderID, ref)
}

func notFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return also(err, endofday.ErrNotFound)
	}
	return err
}

// EndOfDayKeys is the day keys as the end-of-day stage opens orders with
// them (endofday.DayKeys): DayKeys.Get, with ErrNoKey also
// endofday.ErrNoKey.
type EndOfDayKeys struct{ Keys *DayKeys }

var _ endofday.DayKeys = EndOfDayKeys{}

// Get implements endofday.DayKeys.
func (k EndOfDayKeys) Get(ctx context.Context, day businessday.Date) (*seal.DayKey, error) {
	key, err := k.Keys.Get(ctx, day)
	if errors.Is(err, ErrNoKey) {
		return nil, also(err, endofday.ErrNoKey)
	}
	return key, err
}

package postgres

import (
	"context"
	"errors"

	"booklets/pkg/domain/order"
	"booklets/pkg/stage/ingest"
)

// IngestStore is the orders table as the ingest stage stores into it
// (ingest.Store).
type IngestStore struct{ Orders *Orders }

var _ ingest.Store = IngestStore{}

// SaveOrders implements ingest.Store (Orders.SaveOrders).
func (s IngestStore) SaveOrders(ctx context.Context, os []order.SealedOrder) ([]ingest.Saved, error) {
	saved, err := s.Orders.SaveOrders(ctx, os)
	if err != nil {
		return nil, ingestErr(err)
	}
	out := make([]ingest.Saved, len(saved))
	for i, v := range saved {
		switch v {
		case Inserted:
			out[i] = ingest.Inserted
		case Duplicate:
			out[i] = ingest.Duplicate
		case Late:
			out[i] = ingest.Late
		}
	}
	return out, nil
}

// SaveOrder implements ingest.Store (Orders.SaveOrder).
func (s IngestStore) SaveOrder(ctx context.Context, o order.SealedOrder) (bool, error) {
	inserted, err := s.Orders.SaveOrder(ctx, o)
	return inserted, ingestErr(err)
}

// SaveDeadLetter implements ingest.Store (Orders.SaveDeadLetter).
func (s IngestStore) SaveDeadLetter(ctx context.Context, d ingest.DeadLetter) (bool, error) {
	return s.Orders.SaveDeadLetter(ctx, DeadLetter(d))
}

func ingestErr(err error) error {
	switch {
	case errors.Is(err, ErrLate):
		return also(err, ingest.ErrLate)
	case errors.Is(err, ErrConflict):
		return also(err, ingest.ErrConflict)
	}
	return err
}

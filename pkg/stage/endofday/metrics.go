package endofday

import "time"

// Observer hears what the end of day did, for the service's metrics
// (services/batcher implements it with Prometheus). It must not block.
type Observer interface {
	// BatchSent: a batch uploaded, verified and recorded, with its orders
	// and data rows, and how many orders lost their personal data.
	BatchSent(orders, records, personalDeleted int)
	// BatchFailed: a send failed after all retries (alert).
	BatchFailed()
	// NotCaughtUp: a batch not assembled because the stream consumer had
	// not caught up in time.
	NotCaughtUp()
	// SealedRejected: a batch stopped because a sealed personal part did
	// not open.
	SealedRejected()
	// UploadRetried: an upload attempt failed and is retried.
	UploadRetried()
	// Uploaded: a successful upload of a batch's two files took d.
	Uploaded(d time.Duration)
	// DayKeyDestroyed: a day key destroyed with its batch.
	DayKeyDestroyed()
	// RetentionChecked: what the retention watchdog found overdue, and
	// how long the oldest of it has been held.
	RetentionChecked(overdue int, oldestAge time.Duration)
}

// nopObserver is the Observer of a sender given none.
type nopObserver struct{}

func (nopObserver) BatchSent(int, int, int)             {}
func (nopObserver) BatchFailed()                        {}
func (nopObserver) NotCaughtUp()                        {}
func (nopObserver) SealedRejected()                     {}
func (nopObserver) UploadRetried()                      {}
func (nopObserver) Uploaded(time.Duration)              {}
func (nopObserver) DayKeyDestroyed()                    {}
func (nopObserver) RetentionChecked(int, time.Duration) {}

package public

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per client IP. Buckets idle long enough to be
// full again are forgotten, so memory stays bounded by the clients seen in
// the last few minutes.
type limiter struct {
	mu        sync.Mutex
	every     rate.Limit
	burst     int
	idle      time.Duration
	now       func() time.Time
	clients   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perMinute, burst int, now func() time.Time) *limiter {
	every := rate.Limit(float64(perMinute) / 60)
	// After this long without a request a bucket is full, the same as a new one.
	idle := time.Duration(float64(burst)/float64(every)*float64(time.Second)) + time.Minute
	return &limiter{every: every, burst: burst, idle: idle, now: now, clients: map[string]*bucket{}, lastSweep: now()}
}

// reserve takes a token for the client, or returns how long it must wait
// for one (taking none).
func (l *limiter) reserve(client string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.lastSweep) > l.idle {
		for k, b := range l.clients {
			if now.Sub(b.seen) > l.idle {
				delete(l.clients, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.clients[client]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.clients[client] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

package auditors

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of Auth.FailuresPerMinute and Auth.FailureBurst: an auditor who
// mistypes a password a few times is not held up, a client guessing gets
// 5 tries a minute (each a bcrypt check) after the first 10.
const (
	DefaultFailuresPerMinute = 5
	DefaultFailureBurst      = 10
)

// MinTokenLength is the shortest AUDIT_TOKEN accepted: 32 bytes, as
// `openssl rand -hex 16` gives (and `openssl rand -hex 32` more than).
const MinTokenLength = 32

// maxClients bounds how many clients' failures are remembered; beyond it
// (a guesser spreading over many addresses) the newcomers share one
// allowance, so memory stays bounded and so does the bcrypt work.
const maxClients = 10000

// failures is a token bucket of failed sign-ins per client. A request
// that presents credentials waits for its client's turn (one check at a
// time per client, so parallel requests cannot all slip through on the
// last token), is refused with 429 when the bucket is empty, and takes a
// token only when its credentials are wrong: an auditor who signs in
// correctly uses none.
type failures struct {
	every rate.Limit
	burst int
	idle  time.Duration // after this a bucket is full again: forgotten

	mu        sync.Mutex
	clients   map[string]*client
	overflow  *client
	lastSweep time.Time
}

type client struct {
	turn    sync.Mutex // held for the whole check of one request
	lim     *rate.Limiter
	seen    time.Time
	limited bool // a 429 was logged since the last failure let through
}

func newFailures(perMinute, burst int) *failures {
	if perMinute < 1 {
		perMinute = DefaultFailuresPerMinute
	}
	if burst < 1 {
		burst = DefaultFailureBurst
	}
	every := rate.Limit(float64(perMinute) / 60)
	idle := time.Duration(float64(burst)/float64(every)*float64(time.Second)) + time.Minute
	f := &failures{every: every, burst: burst, idle: idle, clients: map[string]*client{}}
	f.overflow = &client{lim: rate.NewLimiter(every, burst)}
	return f
}

// take returns the client's bucket with its turn held; the caller must
// unlock c.turn.
func (f *failures) take(key string, now time.Time) *client {
	f.mu.Lock()
	if now.Sub(f.lastSweep) > f.idle {
		for k, c := range f.clients {
			if now.Sub(c.seen) > f.idle {
				delete(f.clients, k)
			}
		}
		f.lastSweep = now
	}
	c, ok := f.clients[key]
	switch {
	case ok:
	case len(f.clients) >= maxClients:
		c = f.overflow
	default:
		c = &client{lim: rate.NewLimiter(f.every, f.burst)}
		f.clients[key] = c
	}
	c.seen = now
	f.mu.Unlock()
	c.turn.Lock()
	return c
}

// wait is how long the client must wait before its next attempt is
// checked: 0 when it may try now.
func (c *client) wait(now time.Time) time.Duration {
	t := c.lim.TokensAt(now)
	if t >= 1 {
		return 0
	}
	return time.Duration((1 - t) / float64(c.lim.Limit()) * float64(time.Second))
}

// fail takes a token for a failed attempt.
func (c *client) fail(now time.Time) {
	c.lim.AllowN(now, 1)
	c.limited = false
}

// clientKey names the client a request comes from: its IP address, or
// for IPv6 its /64, which one subscriber usually holds whole. Behind a
// reverse proxy every request comes from the proxy: the proxy must then
// limit sign-ins itself (docs/reconciler.md).
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// presented says which credentials a request carries, and the user name
// for basic auth (for the log: never the password or the token).
func presented(r *http.Request) (method, user string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ""
	}
	if u, _, ok := r.BasicAuth(); ok {
		return "basic", u
	}
	if strings.HasPrefix(h, "Bearer ") {
		return "bearer", ""
	}
	return "other", ""
}

// logName is a user name as logged, cut so that a long one cannot bloat
// the log.
func logName(u string) string {
	if len(u) > 64 {
		u = strings.ToValidUTF8(u[:64], "") + "…"
	}
	return u
}

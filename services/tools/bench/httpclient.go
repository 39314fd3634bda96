package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// leanClient is the load generator's HTTP/1.1 client: one keep-alive
// connection per worker, a request written in one call, the response read
// in full (status line, headers, body). It does what wrk or hey do, at a
// third of the CPU of net/http's client, which runs two goroutines per
// connection and hands every request and response between them. On this
// 2-core machine the client shares the cores with the intake and NATS, so
// its cost is taken from what is measured; the raw baseline's client is
// the work measured (nats.go), not an instrument. -http-client nethttp
// measures with net/http's client instead.
type leanClient struct {
	addr  string // host:port
	reqs  [][]byte
	conns []*leanConn // one per worker: worker w only ever uses conns[w]
}

type leanConn struct {
	c net.Conn
	r *bufio.Reader
}

func newLeanClient(addr string, bodies [][]byte, workers int) *leanClient {
	lc := &leanClient{addr: addr, conns: make([]*leanConn, workers)}
	for _, b := range bodies {
		req := fmt.Appendf(nil, "POST /api/v1/orders HTTP/1.1\r\nHost: %s\r\nUser-Agent: booklets-bench\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, len(b))
		lc.reqs = append(lc.reqs, append(req, b...))
	}
	return lc
}

func (lc *leanClient) close() {
	for _, c := range lc.conns {
		if c != nil {
			c.c.Close()
		}
	}
}

// post sends order i on worker i%workers's connection (load gives worker
// w the indexes w, w+workers, …) and fails on anything but 201 Created.
func (lc *leanClient) post(ctx context.Context, i int) error {
	w := i % len(lc.conns)
	c := lc.conns[w]
	if c == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", lc.addr)
		if err != nil {
			return err
		}
		c = &leanConn{c: conn, r: bufio.NewReaderSize(conn, 4096)}
		lc.conns[w] = c
	}
	if dl, ok := ctx.Deadline(); ok {
		c.c.SetDeadline(dl)
	} else {
		c.c.SetDeadline(time.Now().Add(30 * time.Second))
	}
	status, keep, err := c.roundTrip(lc.reqs[i%len(lc.reqs)])
	if err != nil || !keep {
		c.c.Close()
		lc.conns[w] = nil
	}
	if err != nil {
		return fmt.Errorf("POST /api/v1/orders: %w", err)
	}
	if status != 201 {
		return fmt.Errorf("POST /api/v1/orders: status %d", status)
	}
	return nil
}

// roundTrip writes a request and reads its response, returning the status
// and whether the connection may be used again.
func (c *leanConn) roundTrip(req []byte) (status int, keep bool, err error) {
	if _, err := c.c.Write(req); err != nil {
		return 0, false, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("bad status line")
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line")
	}
	length, keep := -1, true
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("bad header line")
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, false, fmt.Errorf("bad Content-Length")
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, false, fmt.Errorf("chunked response not supported")
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		}
	}
	if length < 0 {
		return 0, false, fmt.Errorf("response without Content-Length")
	}
	if _, err := c.r.Discard(length); err != nil {
		return 0, false, err
	}
	return status, keep, nil
}

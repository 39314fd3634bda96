package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// console is the launcher's terminal: every line is prefixed with the name
// of the process that wrote it, and whole lines are written one at a time so
// that the services' output does not interleave mid-line.
type console struct {
	mu sync.Mutex
	w  io.Writer
}

func newConsole(w io.Writer) *console { return &console{w: w} }

const prefixWidth = 10

func (c *console) line(name string, text []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, "%-*s | %s\n", prefixWidth, name, text)
}

// printf writes one of the launcher's own lines.
func (c *console) printf(format string, args ...any) {
	c.line("pipeline", fmt.Appendf(nil, format, args...))
}

// writer returns an io.Writer for one child's output.
func (c *console) writer(name string) *prefixed { return &prefixed{c: c, name: name} }

// prefixed buffers a partial line until its newline arrives.
type prefixed struct {
	c    *console
	name string
	mu   sync.Mutex
	buf  []byte
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.c.line(p.name, bytes.TrimRight(p.buf[:i], "\r"))
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// flush writes what is left of an unfinished last line.
func (p *prefixed) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.c.line(p.name, p.buf)
		p.buf = nil
	}
}

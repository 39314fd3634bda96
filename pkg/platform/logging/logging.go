// Package logging builds the services' zerolog logger: JSON lines for
// machines, or a readable console form for a person running `make run`.
//
// Nothing here filters personal data: the rule is that callers never put it
// in a log event in the first place (log order references and batch ids).
package logging

import (
	"io"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// New returns a logger writing to w. format is "json" (the default) or
// "console"; level is a zerolog level name ("debug", "info", ...). The
// console form is coloured only when w is a terminal: colour codes in a
// file, a pipe or a log collector are noise.
func New(w io.Writer, format, level, service string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), err
	}
	if level == "" {
		lvl = zerolog.InfoLevel
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !IsTerminal(w)}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", service).Logger(), nil
}

// IsTerminal says whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

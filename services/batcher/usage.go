package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// usage is the text of `batcher -h`.
const usage = `usage: batcher [command] [arguments]

With no command, runs the service: stores orders from the stream, sends
each closed business day's batch to the print partner at the cut-off
(retrying until it is sent), and serves /healthz, /readyz and /metrics.

Commands:
  migrate                                  apply the database migrations and exit
  send-now [--date YYYY-MM-DD]             send one closed day's batch now and exit
  order show|correct|erase REF [--field NAME ...]
                                           an order not sent yet (postcode, then new values, on standard input)
  keys list|rewrap                         the day keys; rewrap them under the current KEK
  resend BATCH_ID                          upload a sent batch's kept encrypted files again (within RESEND_WINDOW)
  help                                     this text

"batcher COMMAND -h" describes a command. -h and --help print usage and
change nothing. Settings are environment variables (README.md,
docs/batcher.md).
`

// usages are the texts of `batcher COMMAND -h`.
var usages = map[string]string{
	"migrate": `usage: batcher migrate

Applies the database migrations and exits, whatever MIGRATE says. Run it as
the owner of the schema; it needs DATABASE_URL, not the KEK.
`,
	"send-now": `usage: batcher send-now [--date YYYY-MM-DD]

Sends one business day's batch to the print partner now, then exits
(non-zero if it was not sent). Without --date it sends the day that closed
at the last cut-off, and says which before it starts. A day still open is
refused. Safe to repeat: a batch already sent is reported, not sent again.

  --date YYYY-MM-DD   the business date to send (a day that has closed)
`,
	"order": `usage: batcher order show|correct|erase REF [--field NAME ...]

What we hold about an order not sent yet, for a request from the person
who placed it (docs/privacy.md). The postcode the order was placed with,
then one new value per --field, are read from standard input (asked for at
a terminal; or piped: printf 'ST18 0YY\n' | batcher order show REF), never
taken as arguments, which other users and the shell's history would see.

  show REF                          print what is held
  correct REF --field NAME ...      correct the named fields (name, address_line_1,
                                    address_line_2, town, postcode)
  erase REF                         erase the personal data; the order is left out of the batch
`,
	"keys": `usage: batcher keys list|rewrap

  list     the day keys: business date, KEK id, created, destroyed (never key material)
  rewrap   rewrap the live day keys under the current KEK (KEK rotation, docs/privacy.md)
`,
	"resend": `usage: batcher resend BATCH_ID

Uploads the files of a sent batch again to the partner's SFTP folder, under
the same names and byte for byte as first sent (each verified by reading it
back), for a batch the partner lost or found damaged. Only an encrypted
batch is kept, and only for RESEND_WINDOW (default 7 days) after it was
sent, in RETAINED_DIR; an unknown batch, a plain CSV batch, one not kept and
one whose window has ended are refused, saying why (exit status 1). Each
resend is an audit entry (batch_resent). It needs no KEK: the files are
ciphertext to the partner's key.
`,
	"help": usage,
}

// usageError is a command line that cannot be run: its message, then the
// usage to run it by. main exits 2 for it.
type usageError struct {
	msg   string
	usage string
}

func (e usageError) Error() string { return e.msg + "\n\n" + e.usage }

// isHelp reports whether an argument asks for help, in any of the forms
// Go's flag package takes.
func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// command is a parsed command line, run once the settings are read.
type command struct {
	name string
	// help is set when usage was asked for: it is printed and nothing
	// else happens (no setting read, nothing connected to).
	help     string
	sendDate string    // send-now --date
	order    orderArgs // order
	keysVerb string    // keys
	resendID string    // resend
}

// parseCommand checks the whole command line before any setting is read,
// so that asking for help or mistyping a command never reads the KEK or
// connects to anything.
func parseCommand(args []string) (command, error) {
	if len(args) == 0 {
		return command{}, nil // the service
	}
	name, rest := args[0], args[1:]
	switch {
	case isHelp(name) || name == "help":
		if len(rest) > 0 {
			if u, ok := usages[rest[0]]; ok {
				return command{help: u}, nil
			}
		}
		return command{help: usage}, nil
	case strings.HasPrefix(name, "-"):
		return command{}, usageError{fmt.Sprintf("unknown flag %q", name), usage}
	}
	u, ok := usages[name]
	if !ok {
		return command{}, usageError{fmt.Sprintf("unknown command %q (want migrate, send-now, order, keys or resend)", name), usage}
	}
	if slices.ContainsFunc(rest, isHelp) {
		return command{name: name, help: u}, nil
	}
	c := command{name: name}
	var err error
	switch name {
	case "migrate":
		if len(rest) > 0 {
			err = usageError{"migrate takes no arguments", u}
		}
	case "send-now":
		c.sendDate, err = parseSendNow(rest)
	case "order":
		c.order, err = parseOrder(rest)
	case "keys":
		c.keysVerb, err = parseKeys(rest)
	case "resend":
		c.resendID, err = parseResend(rest)
	}
	return c, err
}

// parseSendNow returns send-now's --date ("" for the day that closed last).
func parseSendNow(args []string) (string, error) {
	fs := flag.NewFlagSet("send-now", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error is returned, with the usage
	date := fs.String("date", "", "")
	if err := fs.Parse(args); err != nil {
		return "", usageError{"send-now: " + err.Error(), usages["send-now"]}
	}
	if fs.NArg() > 0 {
		return "", usageError{fmt.Sprintf("send-now: unexpected argument %q", fs.Arg(0)), usages["send-now"]}
	}
	return *date, nil
}

// isUsage reports whether err is a command line that cannot be run.
func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

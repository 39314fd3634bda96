package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/catalogue"
	"booklets/pkg/stage/endofday"
)

// fieldNames collects repeated --field NAME: the fields to correct, whose
// new values are read from standard input.
type fieldNames struct {
	names []string
	// withValue is set by the old form --field name=value, refused because
	// the value would be on the command line.
	withValue bool
}

func (f *fieldNames) String() string { return "" }

func (f *fieldNames) Set(s string) error {
	if strings.Contains(s, "=") {
		f.withValue = true
		return errors.New("--field takes a name only")
	}
	if slices.Contains(f.names, s) {
		return errors.New("--field given twice")
	}
	f.names = append(f.names, s)
	return nil
}

// Why personal data is never taken from the command line: the arguments of
// a running process are visible to every user of the machine (ps,
// /proc/PID/cmdline) and a typed command is kept in the shell's history.
const (
	errPostcodeArg = "--postcode is not taken on the command line, where other users see it (ps) and the shell keeps it in its history: " +
		"give the postcode on standard input (type it when asked, or pipe it: printf 'PC\\n' | batcher order show REF)"
	errFieldValueArg = "--field name=value is not taken: a value on the command line is seen by other users (ps) and kept in the shell's history; " +
		"name the fields (--field name --field town) and give the postcode, then one new value per named field, on standard input"
)

// orderCommand is `batcher order show|correct|erase REF [--field NAME ...]`:
// the public's rights over an order before it is sent (docs/privacy.md).
// The postcode that confirms the person, and the new values of a
// correction, are read from stdin - one line each, prompted for when stdin
// is a terminal - never from the arguments. What is held is printed to
// stdout for the operator only; it is never logged, and the audit log
// records the use without the personal data.
// orderArgs are the parsed arguments of an order command.
type orderArgs struct {
	verb, ref string
	fields    []string
}

// parseOrder checks an order command's arguments, before any setting is
// read. Its errors never quote an argument: a stray one may be personal
// data.
func parseOrder(args []string) (orderArgs, error) {
	usage := usages["order"]
	if len(args) < 2 || strings.HasPrefix(args[1], "-") {
		return orderArgs{}, usageError{"order: a verb (show, correct or erase) and an order reference are needed", usage}
	}
	verb, ref := args[0], args[1]
	if verb != "show" && verb != "correct" && verb != "erase" {
		return orderArgs{}, usageError{"order: unknown verb (want show, correct or erase)", usage}
	}
	for _, a := range args[2:] {
		if name := strings.TrimLeft(a, "-"); a != name && (name == "postcode" || strings.HasPrefix(name, "postcode=")) {
			return orderArgs{}, errors.New(errPostcodeArg)
		}
	}
	fs := flag.NewFlagSet("order "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // flag errors are returned; their text may quote a value
	var fields fieldNames
	if verb == "correct" {
		fs.Var(&fields, "field", "a field to correct; repeat for several ("+strings.Join(endofday.Fields, ", ")+")")
	}
	if err := fs.Parse(args[2:]); err != nil {
		if fields.withValue {
			return orderArgs{}, errors.New(errFieldValueArg)
		}
		return orderArgs{}, usageError{"order " + verb + ": bad arguments", usage}
	}
	if fs.NArg() > 0 {
		// never echoed: a stray argument may be personal data
		return orderArgs{}, usageError{"order " + verb + ": unexpected arguments", usage}
	}
	for _, f := range fields.names {
		if !slices.Contains(endofday.Fields, f) {
			return orderArgs{}, fmt.Errorf("--field takes one of %s", strings.Join(endofday.Fields, ", "))
		}
	}
	if verb == "correct" && len(fields.names) == 0 {
		return orderArgs{}, errors.New("give at least one --field NAME (its new value is then read from standard input)")
	}
	return orderArgs{verb: verb, ref: ref, fields: fields.names}, nil
}

func orderCommand(ctx context.Context, cfg config, a orderArgs, stdin io.Reader, stdout io.Writer) error {
	verb, ref, fields := a.verb, a.ref, fieldNames{names: a.fields}
	in := newAnswers(stdin, stdout)
	pc, err := in.line("postcode the order was placed with")
	if err != nil {
		return err
	}
	if strings.TrimSpace(pc) == "" {
		return errors.New("the postcode is required: it confirms the person asking")
	}
	changes := make(map[string]string, len(fields.names))
	for _, f := range fields.names {
		if changes[f], err = in.line("new " + f); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	areas, err := catalogue.Load(cfg.AreasFile)
	if err != nil {
		return fmt.Errorf("AREAS_FILE: %w", err)
	}
	r := endofday.Rights{Store: st,
		Keys: postgres.NewDayKeys(st.Pool(), cfg.Ring, postgres.WithClock(cfg.Now)), Areas: areas}
	switch verb {
	case "show":
		h, err := r.Show(ctx, ref, pc)
		if err != nil {
			return explain(err)
		}
		p := h.Personal
		var formats, languages []string
		for _, f := range h.Order.Formats {
			formats = append(formats, string(f))
		}
		for _, l := range h.Order.Languages {
			languages = append(languages, string(l))
		}
		fmt.Fprintf(stdout, "reference:      %s\nreceived:       %s (business date %s)\narea:           %s\nformats:        %s\nlanguages:      %s\n"+
			"name:           %s\naddress line 1: %s\naddress line 2: %s\ntown:           %s\npostcode:       %s\n"+
			"status:         not sent yet; it goes to the partner at the cut-off after %s\n",
			h.Order.Reference, h.Order.ReceivedAt.UTC().Format("2006-01-02 15:04 UTC"), h.Order.BusinessDate, h.Order.Area,
			strings.Join(formats, ", "), strings.Join(languages, ", "), p.Name, p.AddressLine1, p.AddressLine2, p.Town, p.Postcode, h.Order.BusinessDate)
	case "correct":
		changed, err := r.Correct(ctx, ref, pc, changes)
		if err != nil {
			return explain(err)
		}
		if len(changed) == 0 {
			fmt.Fprintln(stdout, "nothing changed: the order already holds those values")
			return nil
		}
		fmt.Fprintf(stdout, "corrected %s of order %s (recorded in the audit log without the values)\n", strings.Join(changed, ", "), strings.ToUpper(ref))
	case "erase":
		h, err := r.Erase(ctx, ref, pc)
		if err != nil {
			return explain(err)
		}
		fmt.Fprintf(stdout, "erased the personal data of order %s; it will not be sent (recorded in the audit log)\n", h.Reference)
	}
	return nil
}

// answers reads what the operator gives on standard input, one line each,
// after a prompt when a person is typing at a terminal.
type answers struct {
	r      *bufio.Reader
	prompt io.Writer // nil when stdin is a pipe or a file
}

func newAnswers(stdin io.Reader, stdout io.Writer) *answers {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	a := &answers{r: bufio.NewReader(stdin)}
	if isTerminal(stdin) {
		a.prompt = stdout
	}
	return a
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// line returns the next line without its line ending ("" for an empty
// line: clearing address_line_2, say). A last line without a newline
// counts; no line at all is an error naming what was wanted.
func (a *answers) line(what string) (string, error) {
	if a.prompt != nil {
		fmt.Fprintf(a.prompt, "%s: ", what)
	}
	s, err := a.r.ReadString('\n')
	if errors.Is(err, io.EOF) && s != "" {
		err = nil
	}
	if errors.Is(err, io.EOF) {
		return "", fmt.Errorf("standard input ended before the %s", what)
	}
	if err != nil {
		return "", fmt.Errorf("reading the %s from standard input: %w", what, err)
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// explain turns the refusals into what the operator tells the person.
func explain(err error) error {
	switch {
	case errors.Is(err, postgres.ErrAlreadySent):
		return fmt.Errorf("%w: it can no longer be shown, corrected or erased here; the person's data is with the print partner now, "+
			"who deletes it 30 working days after delivery (contact the partner for a correction or erasure)", err)
	case errors.Is(err, postgres.ErrErased):
		return fmt.Errorf("%w already: nothing is held any more", err)
	case errors.Is(err, endofday.ErrNoMatch):
		return fmt.Errorf("%w: check both with the person (an order already sent and deleted cannot be found by postcode)", err)
	}
	return err
}

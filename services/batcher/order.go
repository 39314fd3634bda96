package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"booklets/pkg/catalogue"
	"booklets/pkg/keystore"
	"booklets/pkg/store"
	"booklets/services/batcher/internal/batcher"
)

// fieldFlags collects repeated --field name=value.
type fieldFlags map[string]string

func (f fieldFlags) String() string { return "" }

func (f fieldFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errors.New("want --field name=value")
	}
	if _, dup := f[k]; dup {
		return fmt.Errorf("--field %s given twice", k)
	}
	f[k] = v
	return nil
}

// orderCommand is `batcher order show|correct|erase REF --postcode PC`:
// the public's rights over an order before it is sent (docs/privacy.md).
// What is held is printed to stdout for the operator only; it is never
// logged, and the audit log records the use without the personal data.
func orderCommand(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	const usage = "usage: batcher order show|correct|erase REF --postcode PC [--field name=value ...]"
	if len(args) < 2 || strings.HasPrefix(args[1], "-") {
		return errors.New(usage)
	}
	verb, ref := args[0], args[1]
	fs := flag.NewFlagSet("order "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // flag errors are returned; their text may quote a value
	pc := fs.String("postcode", "", "the postcode the order was placed with (confirms the person)")
	fields := fieldFlags{}
	if verb == "correct" {
		fs.Var(fields, "field", "name=value; repeat for several ("+strings.Join(batcher.Fields, ", ")+")")
	}
	if err := fs.Parse(args[2:]); err != nil {
		return fmt.Errorf("%s: bad arguments", usage)
	}
	if *pc == "" {
		return errors.New("--postcode is required: it confirms the person asking")
	}
	if fs.NArg() > 0 {
		return errors.New(usage)
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
	r := batcher.Rights{Store: st, Keys: keystore.New(st.Pool(), cfg.Ring, keystore.WithClock(cfg.Now)), Areas: areas}
	switch verb {
	case "show":
		h, err := r.Show(ctx, ref, *pc)
		if err != nil {
			return explain(err)
		}
		p := h.Personal
		var formats []string
		for _, f := range h.Order.Formats {
			formats = append(formats, string(f))
		}
		fmt.Fprintf(stdout, "reference:      %s\nreceived:       %s (business date %s)\narea:           %s\nformats:        %s\n"+
			"name:           %s\naddress line 1: %s\naddress line 2: %s\ntown:           %s\npostcode:       %s\n"+
			"status:         not sent yet; it goes to the partner at the cut-off after %s\n",
			h.Order.Reference, h.Order.ReceivedAt.UTC().Format("2006-01-02 15:04 UTC"), h.Order.BusinessDate, h.Order.Area,
			strings.Join(formats, ", "), p.Name, p.AddressLine1, p.AddressLine2, p.Town, p.Postcode, h.Order.BusinessDate)
	case "correct":
		if len(fields) == 0 {
			return errors.New("give at least one --field name=value")
		}
		changed, err := r.Correct(ctx, ref, *pc, fields)
		if err != nil {
			return explain(err)
		}
		if len(changed) == 0 {
			fmt.Fprintln(stdout, "nothing changed: the order already holds those values")
			return nil
		}
		fmt.Fprintf(stdout, "corrected %s of order %s (recorded in the audit log without the values)\n", strings.Join(changed, ", "), strings.ToUpper(ref))
	case "erase":
		h, err := r.Erase(ctx, ref, *pc)
		if err != nil {
			return explain(err)
		}
		fmt.Fprintf(stdout, "erased the personal data of order %s; it will not be sent (recorded in the audit log)\n", h.Reference)
	default:
		return errors.New(usage)
	}
	return nil
}

// explain turns the refusals into what the operator tells the person.
func explain(err error) error {
	switch {
	case errors.Is(err, store.ErrAlreadySent):
		return fmt.Errorf("%w: it can no longer be shown, corrected or erased here; the person's data is with the print partner now, "+
			"who deletes it 30 working days after delivery (contact the partner for a correction or erasure)", err)
	case errors.Is(err, store.ErrErased):
		return fmt.Errorf("%w already: nothing is held any more", err)
	case errors.Is(err, batcher.ErrNoMatch):
		return fmt.Errorf("%w: check both with the person (an order already sent and deleted cannot be found by postcode)", err)
	}
	return err
}

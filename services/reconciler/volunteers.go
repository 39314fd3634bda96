package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/seal"
	"booklets/pkg/platform/envconfig"
	"booklets/pkg/stage/research"
)

// The user-research volunteers' 2-year review (docs/research.md).
//
//	reconciler volunteers due                        list entries whose review is due: ids and dates only
//	reconciler volunteers show ID                    print one entry's name and email (audited)
//	reconciler volunteers review ID --keep|--delete  record the decision (audited)
//	reconciler volunteers seal                       seal entries stored in clear before migration 082
//	reconciler volunteers rewrap                     KEK rotation: rewrap the entries' keys under the current KEK
//
// Names and email addresses are printed only by "show", to stdout, never
// to a log. Each entry's contact details are sealed under a key of its
// own, wrapped by the KEK ring: show, seal and rewrap need KEK_FILE (or
// KEK); the daemon and the other commands never open a volunteer's details
// and run without one.

// volunteersKEK reads the KEK ring if one is configured. It is optional for
// the reconciler (see above), but a ring that is set and wrong is refused
// at start, naming the entry, never the key.
func volunteersKEK(r *envconfig.Reader, getenv func(string) string) *seal.Ring {
	if getenv(seal.EnvKEKFile) == "" && getenv(seal.EnvKEK) == "" {
		return nil
	}
	ring, err := seal.RingFromEnv(getenv)
	if err != nil {
		r.Fail("KEK_FILE or KEK", err.Error())
	}
	return ring
}

// flagVolunteerReviews is the daily job: it marks entries whose review has
// fallen due, sets the gauge to how many await a decision, and logs the
// counts (never an id, a name or an email).
func flagVolunteerReviews(ctx context.Context, st *postgres.Volunteers, due prometheus.Gauge, log zerolog.Logger) (postgres.FlagResult, error) {
	r, err := st.FlagDue(ctx)
	if err != nil {
		return r, err
	}
	if due != nil {
		due.Set(float64(r.Due))
	}
	ev := log.Info()
	if r.Due > 0 {
		ev = log.Warn()
	}
	ev.Int("newly_due", r.NewlyFlagged).Int("due", r.Due).
		Msg("volunteer reviews: run `reconciler volunteers due` and record a decision for each")
	return r, nil
}

// scheduleVolunteerReviews registers the daily review job on the
// reconciler's scheduler, at the same time of day as the reconciliation,
// and runs it once at start so that the gauge is right after a restart.
func scheduleVolunteerReviews(ctx context.Context, sched gocron.Scheduler, reg prometheus.Registerer, st *postgres.Volunteers, at time.Duration, log zerolog.Logger) error {
	due := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "booklets_reconciler_volunteer_reviews_due",
		Help: "User-research volunteers whose 2-year review is due and not yet decided.",
	})
	if err := reg.Register(due); err != nil {
		return fmt.Errorf("register booklets_reconciler_volunteer_reviews_due: %w", err)
	}
	h, m := uint(at/time.Hour), uint(at%time.Hour/time.Minute)
	_, err := sched.NewJob(
		gocron.DailyJob(1, gocron.NewAtTimes(gocron.NewAtTime(h, m, 0))),
		gocron.NewTask(func() {
			if _, err := flagVolunteerReviews(ctx, st, due, log); err != nil {
				log.Error().Err(err).Msg("volunteer review job failed")
			}
		}),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithStartAt(gocron.WithStartImmediately()),
	)
	if err != nil {
		return fmt.Errorf("schedule volunteer reviews: %w", err)
	}
	return nil
}

const volunteersUsage = `Usage: reconciler volunteers due | show ID | review ID --keep|--delete | seal | rewrap

  due                      list the volunteers whose 2-year review is due (ids and dates only)
  show ID                  print one volunteer's name and email (audited; needs KEK_FILE or KEK)
  review ID --keep         keep them for another 2 years (audited)
  review ID --delete       delete their details and their key now (audited)
  seal                     seal entries stored in clear before migration 082 (needs the KEK;
                           the intake also does this at start)
  rewrap                   KEK rotation: rewrap every entry's key under the current KEK, then
                           print how many keys each KEK wraps (needs the KEK ring, old key included)
`

// volunteersArgs is a parsed `reconciler volunteers ...` command line.
type volunteersArgs struct {
	sub      string // due, show or review
	id       string
	decision research.Decision
}

// parseVolunteers reads the command line without acting on it:
// flag.ErrHelp for -h or --help anywhere in it (an id never starts with a
// dash), an error for anything else it does not know.
func parseVolunteers(args []string) (volunteersArgs, error) {
	for _, a := range args {
		if isHelp(a) {
			return volunteersArgs{}, flag.ErrHelp
		}
	}
	if len(args) == 0 {
		return volunteersArgs{}, errors.New("volunteers: say due, show ID or review ID")
	}
	v := volunteersArgs{sub: args[0]}
	switch v.sub {
	case "due", "seal", "rewrap":
		if len(args) != 1 {
			return v, fmt.Errorf("volunteers %s: unexpected %q", v.sub, args[1])
		}
	case "show":
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			return v, errors.New("volunteers show: give exactly one ID")
		}
		v.id = args[1]
	case "review":
		for _, a := range args[1:] {
			switch a {
			case "--keep", "-keep":
				v.decision = pick(v.decision, research.Keep)
			case "--delete", "-delete":
				v.decision = pick(v.decision, research.Delete)
			default:
				if v.id != "" || len(a) > 0 && a[0] == '-' {
					return v, fmt.Errorf("volunteers review: unexpected %q", a)
				}
				v.id = a
			}
		}
		if v.id == "" || (v.decision != research.Keep && v.decision != research.Delete) {
			return v, errors.New("volunteers review: give an ID and exactly one of --keep and --delete")
		}
	default:
		return v, fmt.Errorf("volunteers: unknown command %q", v.sub)
	}
	return v, nil
}

// volunteersCommand runs a parsed `reconciler volunteers ...`.
func volunteersCommand(ctx context.Context, args volunteersArgs, st *postgres.Volunteers, stdout io.Writer) error {
	switch args.sub {
	case "due":
		list, err := st.Due(ctx)
		if err != nil {
			return err
		}
		return writeDue(stdout, list)
	case "show":
		e, err := st.Show(ctx, args.id, "operator_show")
		if err != nil {
			return notFound(err)
		}
		fmt.Fprintf(stdout, "id:              %s\nname:            %s\nemail:           %s\npurpose:         %s\nconsent version: %s\nsigned up:       %s\nreview due:      %s\n",
			e.ID, orNone(e.Name), orNone(e.Email), e.Purpose, e.ConsentVersion, e.SignedUpOn, e.ReviewDueOn)
		if !e.LastReviewOn.IsZero() {
			fmt.Fprintf(stdout, "last review:     %s (%s)\n", e.LastReviewOn, e.LastDecision)
		}
		return nil
	case "review":
		id, d := args.id, args.decision
		next, err := st.Review(ctx, id, d)
		if err != nil {
			return notFound(err)
		}
		if d == research.Keep {
			fmt.Fprintf(stdout, "kept %s: next review due %s\n", id, next)
		} else {
			fmt.Fprintf(stdout, "deleted %s\n", id)
		}
		return nil
	case "seal":
		n, err := st.SealPlaintext(ctx)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "sealed %d entries stored in clear\n", n)
		return err
	case "rewrap":
		n, err := st.Rewrap(ctx)
		fmt.Fprintf(stdout, "rewrapped %d volunteer keys\n", n)
		if err != nil {
			return err
		}
		return writeKeysPerKEK(ctx, stdout, st)
	}
	return fmt.Errorf("volunteers: unknown command %q", args.sub)
}

// writeKeysPerKEK prints how many entries' keys each KEK wraps: before an
// old KEK is removed from the ring, only the current one may be listed.
func writeKeysPerKEK(ctx context.Context, w io.Writer, st *postgres.Volunteers) error {
	counts, err := st.KeysPerKEK(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		name := id
		if id == "" {
			name = "(not sealed yet: run `reconciler volunteers seal`)"
		}
		fmt.Fprintf(w, "KEK %s: %d keys\n", name, counts[id])
	}
	return nil
}

// pick returns the decision, or an invalid one if two were given.
func pick(have, want research.Decision) research.Decision {
	if have != "" && have != want {
		return "both"
	}
	return want
}

func notFound(err error) error {
	if errors.Is(err, research.ErrNotFound) {
		return fmt.Errorf("%w: check the id with `reconciler volunteers due`", err)
	}
	return err
}

func orNone(s string) string {
	if s == "" {
		return "(not given)"
	}
	return s
}

// writeDue prints the entries awaiting review: ids and dates only.
func writeDue(w io.Writer, list []research.Summary) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "No volunteer reviews are due.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSIGNED UP\tREVIEW DUE\tLAST REVIEW\tGIVEN")
	for _, v := range list {
		last := "-"
		if !v.LastReviewOn.IsZero() {
			last = v.LastReviewOn.String()
		}
		given := ""
		switch {
		case v.HasName && v.HasEmail:
			given = "name, email"
		case v.HasName:
			given = "name"
		default:
			given = "email"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.SignedUpOn, v.ReviewDueOn, last, given)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d due. Decide each with `reconciler volunteers review ID --keep|--delete`.\n", len(list))
	return err
}

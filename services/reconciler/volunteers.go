package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"booklets/pkg/volunteer"
	"booklets/pkg/volunteerstore"
)

// The user-research volunteers' 2-year review (docs/research.md).
//
//	reconciler volunteers due                        list entries whose review is due: ids and dates only
//	reconciler volunteers show ID                    print one entry's name and email (audited)
//	reconciler volunteers review ID --keep|--delete  record the decision (audited)
//
// Names and email addresses are printed only by "show", to stdout, never
// to a log.

// flagVolunteerReviews is the daily job: it marks entries whose review has
// fallen due, sets the gauge to how many await a decision, and logs the
// counts (never an id, a name or an email).
func flagVolunteerReviews(ctx context.Context, st *volunteerstore.Store, due prometheus.Gauge, log zerolog.Logger) (volunteerstore.FlagResult, error) {
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
func scheduleVolunteerReviews(ctx context.Context, sched gocron.Scheduler, reg prometheus.Registerer, st *volunteerstore.Store, at time.Duration, log zerolog.Logger) error {
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

const volunteersUsage = "usage: volunteers due | volunteers show ID | volunteers review ID --keep|--delete"

// volunteersCommand runs `reconciler volunteers ...`.
func volunteersCommand(ctx context.Context, args []string, st *volunteerstore.Store, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(volunteersUsage)
	}
	switch args[0] {
	case "due":
		if len(args) != 1 {
			return errors.New(volunteersUsage)
		}
		list, err := st.Due(ctx)
		if err != nil {
			return err
		}
		return writeDue(stdout, list)
	case "show":
		if len(args) != 2 {
			return errors.New(volunteersUsage)
		}
		e, err := st.Show(ctx, args[1], "operator_show")
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
		var id string
		var d volunteer.Decision
		for _, a := range args[1:] {
			switch a {
			case "--keep", "-keep":
				d = pick(d, volunteer.Keep)
			case "--delete", "-delete":
				d = pick(d, volunteer.Delete)
			default:
				if id != "" || len(a) > 0 && a[0] == '-' {
					return errors.New(volunteersUsage)
				}
				id = a
			}
		}
		if id == "" || (d != volunteer.Keep && d != volunteer.Delete) {
			return errors.New(volunteersUsage + " (exactly one of --keep and --delete)")
		}
		next, err := st.Review(ctx, id, d)
		if err != nil {
			return notFound(err)
		}
		if d == volunteer.Keep {
			fmt.Fprintf(stdout, "kept %s: next review due %s\n", id, next)
		} else {
			fmt.Fprintf(stdout, "deleted %s\n", id)
		}
		return nil
	}
	return errors.New(volunteersUsage)
}

// pick returns the decision, or an invalid one if two were given.
func pick(have, want volunteer.Decision) volunteer.Decision {
	if have != "" && have != want {
		return "both"
	}
	return want
}

func notFound(err error) error {
	if errors.Is(err, volunteer.ErrNotFound) {
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
func writeDue(w io.Writer, list []volunteer.Summary) error {
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

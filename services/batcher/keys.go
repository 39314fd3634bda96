package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/seal"
	"booklets/pkg/stage/audit"
)

// parseKeys checks a keys command's arguments, before any setting is read.
func parseKeys(args []string) (string, error) {
	switch {
	case len(args) == 0:
		return "", usageError{"keys: a verb (list or rewrap) is needed", usages["keys"]}
	case args[0] != "list" && args[0] != "rewrap":
		return "", usageError{fmt.Sprintf("keys: unknown verb %q (want list or rewrap)", args[0]), usages["keys"]}
	case len(args) > 1:
		return "", usageError{"keys " + args[0] + ": takes no arguments", usages["keys"]}
	}
	return args[0], nil
}

// keysCommand is `batcher keys list|rewrap`: the day keys' records, and the
// rewrap step of a KEK rotation (docs/privacy.md, "KEK rotation
// procedure"). Neither ever prints or logs key material: a day key exists
// only wrapped, and only its date, KEK id and times are shown.
func keysCommand(ctx context.Context, cfg config, verb string, stdout io.Writer) error {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if verb == "list" {
		infos, err := postgres.NewDayKeys(st.Pool(), cfg.Ring, postgres.WithClock(cfg.Now)).List(ctx)
		if err != nil {
			return err
		}
		return printKeys(stdout, infos, cfg.Ring)
	}
	return rewrapKeys(ctx, cfg, st.Pool(), stdout)
}

// printKeys writes one line per day key and a summary of which KEKs still
// wrap live keys: what step 4 of the rotation checks before a KEK is
// removed.
func printKeys(w io.Writer, infos []postgres.DayKeyInfo, ring *seal.Ring) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BUSINESS DATE\tKEK ID\tSTATE\tCREATED\tDESTROYED")
	live := map[string]int{}
	for _, i := range infos {
		kek, state, destroyed := i.KEKID, "live", "-"
		if kek == "" {
			kek = "-" // destroyed before any key was made (a day without orders)
		}
		if !i.Live() {
			state, destroyed = "destroyed", i.DestroyedAt.UTC().Format(time.RFC3339)
		} else {
			live[i.KEKID]++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.Date, kek, state, i.CreatedAt.UTC().Format(time.RFC3339), destroyed)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("keys list: %w", err)
	}
	fmt.Fprintf(w, "\n%d day keys, %d live; current KEK %s (configured: %s)\n",
		len(infos), sumCounts(live), ring.Current(), strings.Join(ring.IDs(), ", "))
	ids := make([]string, 0, len(live))
	for id := range live {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		switch {
		case id == ring.Current():
			fmt.Fprintf(w, "live under %s: %d\n", id, live[id])
		case ring.Has(id):
			fmt.Fprintf(w, "live under %s: %d (not the current KEK: run `batcher keys rewrap` before removing %s)\n", id, live[id], id)
		default:
			fmt.Fprintf(w, "live under %s: %d (KEK %s is NOT configured: these days cannot be sent until it is added back)\n", id, live[id], id)
		}
	}
	return nil
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// rewrapKeys wraps every live day key not under the current KEK again
// under it, and records the step in the audit log, in one transaction. The
// transaction first takes the audit log's lock, as the batcher's record
// transaction does before it destroys day keys: the two then queue behind
// each other rather than deadlock, and a key destroyed meanwhile is simply
// not rewrapped.
//
// If some keys cannot be unwrapped (their KEK was removed from the
// configuration too early), the others are still rewrapped and recorded,
// and the error names the dates and KEK ids.
func rewrapKeys(ctx context.Context, cfg config, db *pgxpool.Pool, stdout io.Writer) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("keys rewrap: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", postgres.AuditLockKey); err != nil {
		return fmt.Errorf("keys rewrap: lock: %w", err)
	}
	keys := postgres.NewDayKeys(tx, cfg.Ring, postgres.WithClock(cfg.Now), postgres.WithTTL(0))
	infos, err := keys.List(ctx)
	if err != nil {
		return fmt.Errorf("keys rewrap: %w", err)
	}
	var from, missing []string
	for _, i := range infos {
		switch {
		case !i.Live() || i.KEKID == cfg.Ring.Current():
		case cfg.Ring.Has(i.KEKID):
			if !slices.Contains(from, i.KEKID) {
				from = append(from, i.KEKID)
			}
		default:
			missing = append(missing, i.Date.String()+" (KEK "+i.KEKID+")")
		}
	}
	slices.Sort(from)
	n, rerr := keys.Rewrap(ctx)
	if rerr != nil && n == 0 {
		return explainRewrap(rerr, missing)
	}
	if _, err := (postgres.AuditAppender{Now: cfg.Now}).Append(ctx, tx, audit.Event{Kind: audit.DayKeysRewrapped, Details: map[string]any{
		"count": n, "kek_id": cfg.Ring.Current(), "from_kek_ids": from,
	}}); err != nil {
		return fmt.Errorf("keys rewrap: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("keys rewrap: commit: %w", err)
	}
	if n == 0 {
		fmt.Fprintf(stdout, "rewrapped 0 day keys: every live day key is under the current KEK %s\n", cfg.Ring.Current())
	} else {
		fmt.Fprintf(stdout, "rewrapped %d day keys under the current KEK %s (from %s); recorded in the audit log\n",
			n, cfg.Ring.Current(), strings.Join(from, ", "))
	}
	if rerr != nil {
		return explainRewrap(rerr, missing)
	}
	return nil
}

// explainRewrap tells the operator what to do about keys that did not
// unwrap. Only dates and KEK ids are named.
func explainRewrap(err error, missing []string) error {
	if errors.Is(err, seal.ErrUnknownKEK) && len(missing) > 0 {
		return fmt.Errorf("%w\nthe day keys of %s are wrapped by a KEK that is no longer in KEK_FILE/KEK: "+
			"add that KEK back after the current one, restart, and run `batcher keys rewrap` again", err, strings.Join(missing, ", "))
	}
	return err
}

package auditors

import (
	"time"

	"booklets/pkg/stage/audit"
)

// The encrypted copy a batcher keeps for a resend (docs/batcher.md,
// "Resending a batch"), as the batch's evidence trail shows it: read from
// the audit log's entries about the batch, like the rest of that page, so
// the page says what the log proves.
const (
	kindRetained      audit.Kind = "batch_retained"
	kindResent        audit.Kind = "batch_resent"
	kindRetainedGone  audit.Kind = "retained_copy_deleted"
	retainedDayFormat            = "2 Jan 2006 15:04 UTC"
)

// retainedView is the "Kept for a resend" lines of a batch page.
type retainedView struct {
	Until     string // end of the resend window
	DeletedAt string // when the kept copy was deleted; empty while kept
	Reason    string // why it was deleted
	Resends   []string
}

// retainedFrom reads the kept copy's story from the batch's entries; nil
// if the log says none was kept (plain CSV, retention off, before it).
func retainedFrom(entries []audit.Entry) *retainedView {
	var v *retainedView
	for _, e := range entries {
		switch e.Kind {
		case kindRetained:
			v = &retainedView{Until: detailTime(e.Details["retained_until"])}
		case kindResent:
			if v != nil {
				v.Resends = append(v.Resends, e.At.UTC().Format(retainedDayFormat))
			}
		case kindRetainedGone:
			if v != nil {
				v.DeletedAt = e.At.UTC().Format(retainedDayFormat)
				v.Reason, _ = e.Details["reason"].(string)
			}
		}
	}
	return v
}

// detailTime shows an RFC 3339 detail as the page shows times.
func detailTime(v any) string {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(retainedDayFormat)
}

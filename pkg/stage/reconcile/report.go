package reconcile

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Row is one batch in the report, with the field names of the issue.
// Times are RFC 3339 in UTC, dates YYYY-MM-DD (London calendar dates).
type Row struct {
	BatchID      string  `json:"batch_id"`
	BusinessDate string  `json:"business_date"`
	RecordCount  int     `json:"record_count"`
	SentAt       string  `json:"sent_at"`
	DeliveryDate string  `json:"delivery_date"`
	DueDate      string  `json:"due_date"`
	ConfirmedAt  *string `json:"confirmed_at"`
	Status       Status  `json:"status"`
	// DeletedAt is when the partner says it deleted the batch (the
	// accepted confirmation's deleted_at); Deviation why that is
	// irregular (before or after the due date). Added at the end of the
	// CSV so that a reader of the earlier columns by position still works.
	DeletedAt *string `json:"deleted_at"`
	Deviation string  `json:"deviation,omitempty"`
	// Dispatched and Returned count the booklets (records) the partner
	// reported posted, and returned, in its updates files.
	Dispatched int `json:"dispatched"`
	Returned   int `json:"returned"`
}

// ReportColumns are the CSV header, in order.
var ReportColumns = []string{"batch_id", "business_date", "record_count", "sent_at", "delivery_date", "due_date", "confirmed_at", "status",
	"deleted_at", "deviation", "dispatched", "returned"}

// RowOf is the report row of a view.
func RowOf(v View) Row {
	r := Row{
		BatchID:      v.ID,
		BusinessDate: v.BusinessDate.Format(time.DateOnly),
		RecordCount:  v.RecordCount,
		SentAt:       v.SentAt.UTC().Format(time.RFC3339),
		DeliveryDate: v.DeliveryDate.Format(time.DateOnly),
		DueDate:      v.DueDate.Format(time.DateOnly),
		Status:       v.Status,
		Deviation:    v.Deviation,
		Dispatched:   v.Dispatched,
		Returned:     v.Returned,
	}
	if v.ConfirmedAt != nil {
		s := v.ConfirmedAt.UTC().Format(time.RFC3339)
		r.ConfirmedAt = &s
	}
	if v.DeletedAt != nil {
		s := v.DeletedAt.UTC().Format(time.RFC3339)
		r.DeletedAt = &s
	}
	return r
}

// WriteCSV writes the report as CSV with a header line.
func WriteCSV(w io.Writer, views []View) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(ReportColumns); err != nil {
		return fmt.Errorf("report: write CSV: %w", err)
	}
	for _, v := range views {
		r := RowOf(v)
		confirmed := ""
		if r.ConfirmedAt != nil {
			confirmed = *r.ConfirmedAt
		}
		deleted := ""
		if r.DeletedAt != nil {
			deleted = *r.DeletedAt
		}
		rec := []string{r.BatchID, r.BusinessDate, strconv.Itoa(r.RecordCount), r.SentAt, r.DeliveryDate, r.DueDate, confirmed, string(r.Status),
			deleted, r.Deviation, strconv.Itoa(r.Dispatched), strconv.Itoa(r.Returned)}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("report: write CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: write CSV: %w", err)
	}
	return nil
}

// WriteJSON writes the report as a JSON array of rows.
func WriteJSON(w io.Writer, views []View) error {
	rows := make([]Row, 0, len(views))
	for _, v := range views {
		rows = append(rows, RowOf(v))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rows); err != nil {
		return fmt.Errorf("report: write JSON: %w", err)
	}
	return nil
}

// Counts are the number of batches in each status.
type Counts map[Status]int

// Summarise counts views by status and finds the oldest overdue batch (the
// one with the earliest due date, its status overdue or rejected), nil when
// none is overdue.
func Summarise(views []View) (Counts, *View) {
	c := Counts{}
	for _, s := range Statuses {
		c[s] = 0
	}
	var oldest *View
	for i := range views {
		v := &views[i]
		c[v.Status]++
		if v.Overdue && (oldest == nil || v.DueDate.Before(oldest.DueDate)) {
			oldest = v
		}
	}
	return c, oldest
}

// UnmatchedColumns are the CSV header of `reconciler report --unmatched`.
var UnmatchedColumns = []string{"seen_at", "file_name", "why", "batch_id", "file_sha256", "reason"}

// unmatchedRow is an unmatched file as the report's JSON gives it.
type unmatchedRow struct {
	SeenAt     string `json:"seen_at"`
	FileName   string `json:"file_name"`
	Why        string `json:"why"`
	BatchID    string `json:"batch_id,omitempty"`
	FileSHA256 string `json:"file_sha256,omitempty"`
	Reason     string `json:"reason"`
}

// WriteUnmatched writes the files that named no batch of ours, as CSV
// with a header or as a JSON array.
func WriteUnmatched(w io.Writer, format string, files []UnmatchedFile) error {
	rows := make([]unmatchedRow, 0, len(files))
	for _, f := range files {
		rows = append(rows, unmatchedRow{SeenAt: f.SeenAt.UTC().Format(time.RFC3339), FileName: f.FileName, Why: f.Why,
			BatchID: f.BatchID, FileSHA256: f.FileSHA256, Reason: f.Reason})
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return fmt.Errorf("report: write JSON: %w", err)
		}
		return nil
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(UnmatchedColumns)
	for _, r := range rows {
		_ = cw.Write([]string{r.SeenAt, r.FileName, r.Why, r.BatchID, r.FileSHA256, r.Reason})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: write CSV: %w", err)
	}
	return nil
}

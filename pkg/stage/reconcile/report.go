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
}

// ReportColumns are the CSV header, in order.
var ReportColumns = []string{"batch_id", "business_date", "record_count", "sent_at", "delivery_date", "due_date", "confirmed_at", "status"}

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
	}
	if v.ConfirmedAt != nil {
		s := v.ConfirmedAt.UTC().Format(time.RFC3339)
		r.ConfirmedAt = &s
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
		rec := []string{r.BatchID, r.BusinessDate, strconv.Itoa(r.RecordCount), r.SentAt, r.DeliveryDate, r.DueDate, confirmed, string(r.Status)}
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

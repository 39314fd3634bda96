package endofday

// WithMaxSpreadsheetRows lowers the rows a worksheet may hold, so that a
// test reaches the limit without a million orders.
func WithMaxSpreadsheetRows(n int) Option { return func(s *Sender) { s.maxSheetRows = n } }

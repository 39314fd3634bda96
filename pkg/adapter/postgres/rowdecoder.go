package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
)

// rowDecoder turns the raw values of EachOrder's rows (order_id,
// reference, area, formats, business_date, data, languages) into
// BatchOrders.
//
// It reads the wire values itself instead of through rows.Scan: at a
// million rows pgx's scan plans and their allocations were about a third of
// the batcher's CPU for reading the batch (docs/performance.md). The areas
// and format and language lists of a batch are few, so each distinct one
// is kept once and shared between orders (BatchOrder.Formats and
// Languages are read-only); the
// reference, order id and personal part are new values for every order.
type rowDecoder struct {
	areas   map[string]string
	formats map[string][]order.Format
	langs   map[string][]order.Language
}

// decode decodes one row. Values may come in the text or the binary
// format, whichever pgx asked PostgreSQL for.
func (d *rowDecoder) decode(fields []pgconn.FieldDescription, values [][]byte) (BatchOrder, error) {
	if len(values) != 7 || len(fields) != 7 {
		return BatchOrder{}, fmt.Errorf("batch row has %d columns, want 7", len(values))
	}
	for i, v := range values {
		if v == nil {
			return BatchOrder{}, fmt.Errorf("batch row: %s is NULL", fields[i].Name)
		}
	}
	var o BatchOrder
	var err error
	if o.OrderID, err = decodeUUID(fields[0].Format, values[0]); err != nil {
		return BatchOrder{}, err
	}
	o.Reference = string(values[1])
	o.Area = d.area(values[2])
	o.Formats = d.formatList(values[3])
	if o.BusinessDate, err = decodeDate(fields[4].Format, values[4]); err != nil {
		return BatchOrder{}, err
	}
	if fields[5].Format == pgtype.TextFormatCode {
		return BatchOrder{}, errors.New("batch row: personal part sent as text, want binary")
	}
	o.Personal = append([]byte(nil), values[5]...) // the row's buffer is reused
	o.Languages = d.languageList(values[6])
	return o, nil
}

func (d *rowDecoder) languageList(b []byte) []order.Language {
	if ls, ok := d.langs[string(b)]; ok {
		return ls
	}
	if d.langs == nil {
		d.langs = map[string][]order.Language{}
	}
	s := string(b)
	var ls []order.Language
	for l := range strings.SplitSeq(s, ",") {
		if l != "" {
			ls = append(ls, order.Language(l))
		}
	}
	d.langs[s] = ls
	return ls
}

func (d *rowDecoder) area(b []byte) string {
	if a, ok := d.areas[string(b)]; ok { // no allocation for the lookup
		return a
	}
	if d.areas == nil {
		d.areas = map[string]string{}
	}
	a := string(b)
	d.areas[a] = a
	return a
}

func (d *rowDecoder) formatList(b []byte) []order.Format {
	if fs, ok := d.formats[string(b)]; ok {
		return fs
	}
	if d.formats == nil {
		d.formats = map[string][]order.Format{}
	}
	s := string(b)
	var fs []order.Format
	for f := range strings.SplitSeq(s, ",") {
		if f != "" {
			fs = append(fs, order.Format(f))
		}
	}
	d.formats[s] = fs
	return fs
}

func decodeUUID(format int16, b []byte) (string, error) {
	if format == pgtype.BinaryFormatCode {
		if len(b) != 16 {
			return "", fmt.Errorf("batch row: order id of %d bytes", len(b))
		}
		return uuid.UUID(b).String(), nil
	}
	id, err := uuid.ParseBytes(b)
	if err != nil {
		return "", fmt.Errorf("batch row: order id: %w", err)
	}
	return id.String(), nil
}

// postgresEpoch is day 0 of PostgreSQL's binary date.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func decodeDate(format int16, b []byte) (businessday.Date, error) {
	if format == pgtype.BinaryFormatCode {
		if len(b) != 4 {
			return businessday.Date{}, fmt.Errorf("batch row: business date of %d bytes", len(b))
		}
		days := int32(binary.BigEndian.Uint32(b))
		return businessday.FromTime(postgresEpoch.AddDate(0, 0, int(days))), nil
	}
	t, err := time.Parse(time.DateOnly, string(b))
	if err != nil {
		return businessday.Date{}, fmt.Errorf("batch row: business date: %w", err)
	}
	return businessday.FromTime(t), nil
}

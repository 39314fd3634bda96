package endofday

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"booklets/pkg/domain/catalogue"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/postcode"
	"booklets/pkg/domain/reference"
)

// ErrNoMatch means no unsent order has that reference and postcode. The
// same answer is given whether the reference is unknown or the postcode
// wrong, so that the command cannot be used to test one against the other.
var ErrNoMatch = errors.New("no order with that reference and postcode")

// Why an order's personal data can no longer be shown, corrected, erased or
// cancelled. A RightsStore returns them (wrapped, naming the reference);
// they are declared here, not in the adapter, because both this stage and
// the person's own cancellation (pkg/stage/trackorder) tell them apart.
var (
	// ErrAlreadySent: the order is in a batch (being sent or sent); its
	// data is with the partner, or about to be.
	ErrAlreadySent = errors.New("order already sent to the print partner")
	// ErrErased: the order's personal data was erased (on request, or
	// cancelled by the person).
	ErrErased = errors.New("order's personal data was erased")
)

// UnsentFinder finds an order whose personal data is still held: the part
// of RightsStore that confirming a person by their postcode needs.
type UnsentFinder interface {
	// FindUnsent returns the order with a reference if its personal data
	// can still be shown, corrected or erased: ErrNotFound if there is no
	// such order, ErrAlreadySent or ErrErased (wrapped) if it is sent or
	// erased.
	FindUnsent(ctx context.Context, ref string) (HeldOrder, error)
}

// Confirm finds an unsent order by its reference and checks that the
// postcode sealed in it is pc (as typed: any case or spacing). An unknown
// reference and a postcode that does not match are the same ErrNoMatch;
// an order already sent or erased is ErrAlreadySent or ErrErased. It is
// shared by the operator's commands (Rights) and the person's own
// cancellation (pkg/stage/trackorder). Errors never hold the postcode.
func Confirm(ctx context.Context, store UnsentFinder, keys DayKeys, ref, pc string) (Held, error) {
	parsed, err := reference.Parse(strings.TrimSpace(ref))
	if err != nil {
		return Held{}, fmt.Errorf("%q is not an order reference", ref)
	}
	want, err := postcode.Normalise(pc)
	if err != nil {
		return Held{}, errors.New("the postcode given is not a UK postcode")
	}
	h, err := store.FindUnsent(ctx, parsed.String())
	if errors.Is(err, ErrNotFound) {
		return Held{}, ErrNoMatch
	}
	if err != nil {
		return Held{}, err
	}
	p, err := SealedCodec{Keys: keys}.Decode(ctx, h.OrderID, parsed, h.BusinessDate, h.Personal)
	if err != nil {
		return Held{}, err
	}
	if got, _ := postcode.Normalise(p.Postcode); got != want {
		return Held{}, ErrNoMatch
	}
	return Held{Order: h, Personal: p}, nil
}

// Rights serves the public's rights over an order before it is sent
// (`batcher order show|correct|erase`): find it by reference, confirm the
// person by the postcode sealed in it, and show, correct or erase what is
// held. Every use is in the audit log, without the personal data.
type Rights struct {
	Store RightsStore
	Keys  DayKeys
	Areas *catalogue.Catalogue
}

// Held is what is held about an order, for the operator's screen only.
type Held struct {
	Order    HeldOrder
	Personal order.Personal
}

// find opens an unsent order, checking the postcode (Confirm).
func (r Rights) find(ctx context.Context, ref, pc string) (Held, error) {
	return Confirm(ctx, r.Store, r.Keys, ref, pc)
}

// Show returns what is held about an unsent order and records that it was
// viewed.
func (r Rights) Show(ctx context.Context, ref, pc string) (Held, error) {
	h, err := r.find(ctx, ref, pc)
	if err != nil {
		return Held{}, err
	}
	if err := r.Store.RecordViewed(ctx, h.Order.Reference); err != nil {
		return Held{}, err
	}
	return h, nil
}

// Fields are the personal fields that can be corrected.
var Fields = []string{"name", "address_line_1", "address_line_2", "town", "postcode"}

// Correct changes personal fields of an unsent order (field name -> new
// value), validated as the order form does, and seals the result under
// the same day key. It returns the names of the fields that changed.
func (r Rights) Correct(ctx context.Context, ref, pc string, changes map[string]string) ([]string, error) {
	h, err := r.find(ctx, ref, pc)
	if err != nil {
		return nil, err
	}
	p := h.Personal
	d := order.Draft{Area: h.Order.Area, Name: p.Name, AddressLine1: p.AddressLine1, AddressLine2: p.AddressLine2,
		Town: p.Town, Postcode: p.Postcode}
	for _, f := range h.Order.Formats {
		d.Formats = append(d.Formats, string(f))
	}
	for field, v := range changes {
		switch field {
		case "name":
			d.Name = v
		case "address_line_1":
			d.AddressLine1 = v
		case "address_line_2":
			d.AddressLine2 = v
		case "town":
			d.Town = v
		case "postcode":
			d.Postcode = v
		default:
			return nil, fmt.Errorf("cannot correct %q: the fields are %s", field, strings.Join(Fields, ", "))
		}
	}
	areas := r.Areas
	if areas == nil {
		areas = catalogue.Default()
	}
	v, err := d.Validate(areas)
	if err != nil {
		var ve order.ValidationError
		if errors.As(err, &ve) {
			var names []string
			for _, fe := range ve {
				names = append(names, fe.Field+": "+fe.Message) // the rule, never the value
			}
			return nil, fmt.Errorf("correction refused: %s", strings.Join(names, "; "))
		}
		return nil, err
	}
	var changed []string
	old, upd := p, v.Personal
	for _, c := range []struct {
		name     string
		was, now string
	}{{"name", old.Name, upd.Name}, {"address_line_1", old.AddressLine1, upd.AddressLine1},
		{"address_line_2", old.AddressLine2, upd.AddressLine2}, {"town", old.Town, upd.Town}, {"postcode", old.Postcode, upd.Postcode}} {
		if c.was != c.now {
			changed = append(changed, c.name)
		}
	}
	sort.Strings(changed)
	if len(changed) == 0 {
		return nil, nil
	}
	ref2, _ := reference.Parse(h.Order.Reference)
	key, err := r.Keys.Get(ctx, h.Order.BusinessDate)
	if err != nil {
		return nil, fmt.Errorf("correct order %s: %w", h.Order.Reference, err)
	}
	so, err := order.Seal(order.Order{ID: h.Order.OrderID, Reference: ref2, ReceivedAt: h.Order.ReceivedAt,
		Area: h.Order.Area, Formats: h.Order.Formats, Personal: upd}, h.Order.BusinessDate, key)
	if err != nil {
		return nil, err
	}
	b, err := so.Personal.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("correct order %s: %w", h.Order.Reference, err)
	}
	if err := r.Store.CorrectPersonal(ctx, h.Order.OrderID, h.Order.Reference, b, changed); err != nil {
		return nil, err
	}
	return changed, nil
}

// Erase deletes the personal part of an unsent order; it is left out of
// the coming batch.
func (r Rights) Erase(ctx context.Context, ref, pc string) (HeldOrder, error) {
	h, err := r.find(ctx, ref, pc)
	if err != nil {
		return HeldOrder{}, err
	}
	return h.Order, r.Store.ErasePersonal(ctx, h.Order.OrderID, h.Order.Reference)
}

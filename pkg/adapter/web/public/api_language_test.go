package public

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"booklets/pkg/domain/order"
	"booklets/pkg/testkit/testenv"
)

// welshJSON is goodJSON in a Welsh area (Gwent), with the languages field
// given as langs (raw JSON; "" leaves the field out).
func welshJSON(langs string) string {
	body := `{"area":"gwent","formats":["audio"],"name":"Siân O'Brien",` +
		`"address_line_1":"1 High Street","town":"Newport","postcode":"NP20 1AA"`
	if langs != "" {
		body += `,"languages":` + langs
	}
	return body + "}"
}

// The booklet languages (issue 18): optional, English when left out,
// published with the order in catalogue order, and reported in the 201.
func TestAPIAcceptsAndReportsLanguages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for i, c := range []struct {
		body string
		want []order.Language
	}{
		{welshJSON(""), []order.Language{order.English}},
		{welshJSON(`["cy"]`), []order.Language{order.Welsh}},
		{welshJSON(`["cy","en"]`), []order.Language{order.English, order.Welsh}},
		{welshJSON(`[]`), []order.Language{order.English}},
		{goodJSON, []order.Language{order.English}}, // an English area, no languages
	} {
		w := f.postJSON(c.body, "")
		if w.Code != http.StatusCreated {
			t.Fatalf("%s: status = %d, body %s", c.body, w.Code, w.Body)
		}
		var got struct {
			Reference, Status string
			Languages         []order.Language
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v", w.Body, err)
		}
		if got.Status != "received" || !slices.Equal(got.Languages, c.want) {
			t.Errorf("%s: 201 body %s, want languages %v", c.body, w.Body, c.want)
		}
		msgs := publishedSealed(t, f)
		if len(msgs) != i+1 || !slices.Equal(msgs[i].Languages, c.want) || msgs[i].Reference.String() != got.Reference {
			t.Errorf("%s: published %+v", c.body, msgs[len(msgs)-1])
		}
	}
}

// publishedSealed is the stream's orders as published, sealed: the facts
// (languages included) without opening the personal part.
func publishedSealed(t *testing.T, f *fixture) []order.SealedOrder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := testenv.JetStream(t).Stream(ctx, f.orders.Config().Stream)
	testenv.Must(t, err)
	info, err := s.Info(ctx)
	testenv.Must(t, err)
	var out []order.SealedOrder
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		testenv.Must(t, err)
		so, err := order.UnmarshalSealed(m.Data)
		testenv.Must(t, err)
		out = append(out, so)
	}
	return out
}

// The 201's body is exactly what encoding/json writes for its fields.
func TestCreatedBodyIsJSON(t *testing.T) {
	t.Parallel()
	for _, ls := range [][]order.Language{{order.English}, {order.Welsh}, {order.English, order.Welsh}} {
		want, err := json.Marshal(struct {
			Reference string           `json:"reference"`
			Status    string           `json:"status"`
			Languages []order.Language `json:"languages"`
		}{"K7QM-X9PA-C4T", "received", ls})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(createdBody("K7QM-X9PA-C4T", ls)); got != string(want)+"\n" {
			t.Errorf("createdBody = %q, want %q", got, want)
		}
	}
}

// A bad language, or Welsh where the area does not offer it, is a 422
// problem naming the languages field, without repeating the value; a
// languages field of the wrong type or in another case is a 400; nothing
// is published.
func TestAPIRefusesBadLanguages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, body := range []string{
		welshJSON(`["SECRET"]`),
		welshJSON(`["en","SECRET"]`),
		strings.Replace(goodJSON, `"formats"`, `"languages":["cy"],"formats"`, 1), // Staffordshire offers no Welsh
	} {
		w := f.postJSON(body, "")
		if w.Code != http.StatusUnprocessableEntity {
			t.Fatalf("%s: status = %d, body %s", body, w.Code, w.Body)
		}
		var p struct{ Errors []order.FieldError }
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Errors) != 1 || p.Errors[0].Field != order.FieldLanguages || p.Errors[0].Message == "" {
			t.Errorf("%s: errors %+v, want one for %s", body, p.Errors, order.FieldLanguages)
		}
		if strings.Contains(w.Body.String(), "SECRET") {
			t.Errorf("the problem repeats the value: %s", w.Body)
		}
	}
	for _, body := range []string{
		welshJSON(`"cy"`), // a string, not a list
		welshJSON(`[1]`),  // not strings
		strings.Replace(welshJSON(`["cy"]`), `"languages"`, `"Languages"`, 1), // another case
		strings.Replace(welshJSON(`["cy"]`), `}`, `,"languages":["en"]}`, 1),  // twice
		strings.Replace(welshJSON(`["cy"]`), `}`, `,"Journey":"cy"}`, 1),      // not for clients to set
	} {
		if w := f.postJSON(body, ""); w.Code != http.StatusBadRequest {
			t.Errorf("%s: status = %d, want 400; body %s", body, w.Code, w.Body)
		}
	}
	if n := len(f.messages(t)); n != 0 {
		t.Errorf("stream holds %d messages after rejected orders", n)
	}
}

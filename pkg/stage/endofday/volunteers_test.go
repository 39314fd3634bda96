package endofday_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/stage/research"
	"booklets/pkg/testkit/testenv"
)

// TestNoVolunteerDataInABatch sends a day's batch over SFTP with a
// user-research volunteer signed up the same day in the same database, and
// checks that neither file at the partner holds anything of them
// (docs/research.md). Added by the research sign-up (issue 9).
func TestNoVolunteerDataInABatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	v, err := research.Draft{Name: "Vera Volunteer", Email: "vera.volunteer@example.net", Consent: true}.Validate()
	testenv.Must(t, err)
	if _, err := postgres.NewVolunteers(e.Store.Pool(), e.Now, postgres.WithRing(e.Ring)).SignUp(ctx, v); err != nil {
		t.Fatal(err)
	}
	e.save(newOrder(at("2026-11-25 09:00:00"), person("Orla Orderer")))
	res, err := e.Sender().SendBatch(ctx, date("2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(e.Server.Path("outbox", res.Batch.DataFile))
	testenv.Must(t, err)
	manifest, err := os.ReadFile(e.Server.Path("outbox", res.Batch.ManifestFile))
	testenv.Must(t, err)
	if !strings.Contains(string(data), "Orla Orderer") {
		t.Fatalf("the batch lacks the order:\n%s", data)
	}
	for _, p := range []string{"Vera", "vera.volunteer", "example.net"} {
		if strings.Contains(string(data), p) || strings.Contains(string(manifest), p) {
			t.Errorf("the batch holds volunteer data %q", p)
		}
	}
	if n := e.Count(`SELECT count(*) FROM research.volunteers`); n != 1 {
		t.Errorf("sending the batch changed the volunteers: %d left", n)
	}
}

package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"booklets/pkg/adapter/postgres"
	"booklets/pkg/domain/seal"
	"booklets/pkg/testkit/eventually"
	"booklets/pkg/testkit/testenv"
)

// TestLegacyVolunteersSealedAtStart: a user-research sign-up stored in
// clear before migration 082 is sealed by the intake when it starts (the
// migration cannot: the KEK is never in the database), and opens with the
// intake's KEK afterwards.
func TestLegacyVolunteersSealedAtStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, url := testenv.MigratedPool(t)
	var id string
	testenv.Must(t, db.QueryRow(ctx, `INSERT INTO research.volunteers (name, email, has_name, has_email, purpose,
		consent_version, withdrawal_code_sha256, signed_up_on, review_due_on)
		VALUES ('Winifred Oldrow-Plain', 'winifred.oldrow@example.org', true, true, 'user_research', 'research-consent-v1',
		        repeat('d', 64), '2025-06-01', '2027-06-01')
		RETURNING volunteer_id::text`).Scan(&id))

	// Both intakes share the KEK, as replicas do: the second must open the
	// day key the first made.
	kek := newKEK("test1")
	ring, err := seal.ParseRing(kek)
	testenv.Must(t, err)
	for _, migrate := range []string{"true", "false"} {
		startIntake(t, map[string]string{"DATABASE_URL": url, "MIGRATE": migrate, "KEK": kek})
		eventually.Within(t, 20*time.Second, "MIGRATE="+migrate+": the legacy sign-up is sealed", func(ctx context.Context) error {
			var plain bool
			if err := db.QueryRow(ctx, `SELECT contact IS NULL OR name IS NOT NULL OR email IS NOT NULL
				FROM research.volunteers WHERE volunteer_id = $1`, id).Scan(&plain); err != nil {
				return err
			}
			if plain {
				return errors.New("still in clear")
			}
			return nil
		})
		e, err := postgres.NewVolunteers(db, nil, postgres.WithRing(ring)).Show(ctx, id, "test")
		if err != nil || e.Name != "Winifred Oldrow-Plain" || e.Email != "winifred.oldrow@example.org" {
			t.Fatalf("MIGRATE=%s: show the sealed sign-up: %+v, %v", migrate, e, err)
		}
		// Back in clear for the second round, as a database restored from
		// before 082 would be.
		_, err = db.Exec(ctx, `UPDATE research.volunteers SET name = 'Winifred Oldrow-Plain', email = 'winifred.oldrow@example.org',
			contact = NULL, kek_id = NULL, wrapped_key = NULL WHERE volunteer_id = $1`, id)
		testenv.Must(t, err)
	}
	var rows string
	testenv.Must(t, db.QueryRow(ctx, `SELECT count(*)::text FROM audit_log WHERE kind = $1`, string(postgres.KindContactSealed)).Scan(&rows))
	if strings.TrimSpace(rows) != "2" {
		t.Fatalf("%s audit entries, want 2", rows)
	}
}

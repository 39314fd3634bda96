package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/adapter/postgres"
)

// sealLegacyVolunteers seals the user-research sign-ups stored in clear
// before migration 082 (which cannot seal them: the KEK is never in the
// database), once the schema is there; see docs/research.md, "Sealed
// contact details". The intake runs it at every start because it always
// holds the KEK; once nothing is left to seal it is one query. It retries
// while PostgreSQL is down or the schema not yet migrated, and logs counts
// only.
func sealLegacyVolunteers(ctx context.Context, st *postgres.Volunteers, log zerolog.Logger) {
	wait := time.Second
	for {
		n, err := st.SealPlaintext(ctx)
		if err == nil {
			if n > 0 {
				log.Info().Int("sealed", n).Msg("user-research sign-ups stored in clear before migration 082 are now sealed")
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		// The error names entry ids at most, never a name or an email.
		log.Warn().Err(err).Dur("retry_in", wait).Msg("could not seal user-research sign-ups stored in clear; retrying")
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

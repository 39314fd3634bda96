package research

import (
	"context"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// The use cases of the public pages: sign up, and withdraw. Reviews are
// the reconciler's (the volunteers' review job).

// Store is where sign-ups are kept: the PostgreSQL adapter's volunteer
// store, each entry's name and email sealed under a key of its own.
type Store interface {
	// SignUp stores a valid sign-up and returns its withdrawal code.
	SignUp(ctx context.Context, v SignUp) (Receipt, error)
	// WithdrawByCode and WithdrawByEmail delete at once whatever the code
	// or the address matches, and say how many entries that was.
	WithdrawByCode(ctx context.Context, code string) (int, error)
	WithdrawByEmail(ctx context.Context, email string) (int, error)
}

// Service signs volunteers up and withdraws them.
type Service struct{ store Store }

// NewService returns the use cases over a store.
func NewService(store Store) *Service { return &Service{store: store} }

// SignUp validates a draft and stores it. It returns a ValidationError
// naming every invalid field, or the receipt whose code the person is
// shown once (never logged, never in a URL).
func (s *Service) SignUp(ctx context.Context, d Draft) (Receipt, error) {
	v, err := d.Validate()
	if err != nil {
		return Receipt{}, err
	}
	return s.store.SignUp(ctx, v)
}

// Withdraw deletes at once whatever a withdrawal code or an email address
// typed on the withdrawal page matches. It returns nil whether anything
// matched or not, so that the page cannot be used to find out who has
// signed up; only the form of what was typed is checked, so that a typing
// mistake is shown: a ValidationError on FieldCode.
func (s *Service) Withdraw(ctx context.Context, typed string) error {
	typed = strings.TrimSpace(typed)
	var msg string
	switch {
	case typed == "":
		msg = MsgWithdrawEmpty
	case LooksLikeEmail(typed):
		if _, err := NormaliseEmail(typed); err != nil {
			msg = MsgEmailFormat
		}
	default:
		if _, ok := NormaliseCode(typed); !ok {
			msg = MsgCodeFormat
		}
	}
	if msg != "" {
		return ValidationError{{Field: FieldCode, Message: msg}}
	}
	var err error
	if LooksLikeEmail(typed) {
		_, err = s.store.WithdrawByEmail(ctx, typed)
	} else {
		_, err = s.store.WithdrawByCode(ctx, typed)
	}
	return err
}

// LegacySealer seals the sign-ups stored in clear before migration 082
// (the PostgreSQL adapter's volunteer store).
type LegacySealer interface {
	SealPlaintext(ctx context.Context) (int, error)
}

// SealLegacy seals the user-research sign-ups stored in clear before
// migration 082 (which cannot seal them: the KEK is never in the
// database), once the schema is there; see docs/research.md, "Sealed
// contact details". The intake runs it at every start because it always
// holds the KEK; once nothing is left to seal it is one query. It retries
// while PostgreSQL is down or the schema not yet migrated, until ctx ends,
// and logs counts only.
func SealLegacy(ctx context.Context, st LegacySealer, log zerolog.Logger) {
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

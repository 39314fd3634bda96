package placeorder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/reference"
	"booklets/pkg/domain/seal"
)

// A day key that exists but cannot be used (wrapped under a key-encryption
// key this process was not given, or not authentic) is a fault that waiting does not
// mend: every order is refused until an operator fixes KEK/KEK_FILE. So it
// is made loud: /readyz fails with the reason, the log names the KEK
// (alert day_key_unavailable), the gauge booklets_intake_day_key_unavailable
// is 1 (Observer.DayKeyUnavailable), and the public are not told to try
// again in a few minutes.

// dayKeyFault reports whether a day-key error is one that waiting cannot
// mend. The database being unreachable is not; nor is a destroyed key
// (its day's batch is sent: an order a moment later falls in the next
// day, under a new key).
func dayKeyFault(err error) bool {
	return errors.Is(err, seal.ErrUnknownKEK) || errors.Is(err, seal.ErrTampered) || errors.Is(err, seal.ErrMalformed)
}

// dayKeyHealth is the last known state of the current day's key.
type dayKeyHealth struct {
	mu    sync.Mutex
	fault error // nil while the key is usable (or not known to be faulty)
	day   businessday.Date
}

// missingKEK returns the id of the key-encryption key a day key is wrapped
// under when seal.ErrUnknownKEK says it is not configured ("" otherwise).
// pkg/domain/seal names it after the sentinel's text; a KEK id is 1-64 letters,
// digits, '.', '_' or '-'.
func missingKEK(err error) string {
	if !errors.Is(err, seal.ErrUnknownKEK) {
		return ""
	}
	_, rest, ok := strings.Cut(err.Error(), seal.ErrUnknownKEK.Error()+" ")
	if !ok {
		return ""
	}
	end := strings.IndexFunc(rest, func(r rune) bool {
		return !(r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
	if end >= 0 {
		rest = rest[:end]
	}
	return rest
}

// dayKeyReason is the reason /readyz gives for a faulty day key. It names
// no KEK (the log does): /readyz answers anyone who can reach the intake.
func dayKeyReason(day businessday.Date, err error) string {
	switch {
	case errors.Is(err, seal.ErrUnknownKEK):
		return fmt.Sprintf("day key of %s is wrapped under a key-encryption key that is not configured (KEK or KEK_FILE; the log names it)", day)
	}
	return fmt.Sprintf("day key of %s does not authenticate under its key-encryption key", day)
}

// setDayKeyFault records a faulty day key; the first time, it logs the
// alert and raises the gauge.
func (s *Service) setDayKeyFault(day businessday.Date, err error) {
	h := &s.dayKey
	h.mu.Lock()
	first := h.fault == nil || h.day != day
	h.fault, h.day = err, day
	h.mu.Unlock()
	s.obs.DayKeyUnavailable(true)
	if first {
		ev := s.log.Error().Err(err).Str("alert", "day_key_unavailable").Str("business_date", day.String())
		if id := missingKEK(err); id != "" {
			ev = ev.Str("missing_kek_id", id)
		}
		ev.Msg("the day key cannot be used: every order is refused until KEK or KEK_FILE is fixed")
	}
}

// clearDayKeyFault records a usable day key.
func (s *Service) clearDayKeyFault() {
	h := &s.dayKey
	h.mu.Lock()
	was := h.fault
	h.fault = nil
	h.mu.Unlock()
	s.obs.DayKeyUnavailable(false)
	if was != nil {
		s.log.Info().Str("business_date", h.day.String()).Msg("the day key can be used again: orders are accepted")
	}
}

// noDayKey turns a failure to get the day key of an order into Place's
// error.
func (s *Service) noDayKey(ctx context.Context, day businessday.Date, ref reference.Reference, err error) error {
	if dayKeyFault(err) {
		s.setDayKeyFault(day, err)
		return fmt.Errorf("seal order %s: %w: %w", ref, ErrDayKeyFault, err)
	}
	err = fmt.Errorf("seal order %s: %w: %w", ref, ErrKeysUnavailable, err)
	// The public are refused (503); operators must hear of it.
	s.logger(ctx).Warn().Err(err).Str("reference", ref.String()).Msg("order not accepted: no day key to seal it")
	return err
}

// CheckDayKey gets (or makes) the current business day's key, as the next
// order will, and records whether it can be used. It returns nil when it
// can; a faulty key's reason (wrapping ErrDayKeyFault, in words fit for
// anyone to read: no KEK id); or the error that kept it from knowing (the
// database unreachable, say, wrapping ErrKeysUnavailable), which leaves the
// recorded state as it was. /readyz calls it, and the intake on a ticker
// (WatchDayKey) so that the gauge and the log do not wait for a probe or an
// order.
func (s *Service) CheckDayKey(ctx context.Context) error {
	day := s.cutoff.DateOf(s.clock())
	_, err := s.keys.GetOrCreate(ctx, day)
	switch {
	case err == nil:
		s.clearDayKeyFault()
		return nil
	case dayKeyFault(err):
		s.setDayKeyFault(day, err)
		return fmt.Errorf("%w: %s", ErrDayKeyFault, dayKeyReason(day, err))
	}
	return fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
}

// WatchDayKey runs CheckDayKey every interval until ctx ends.
func (s *Service) WatchDayKey(ctx context.Context, every time.Duration) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := s.CheckDayKey(cctx); err != nil && !dayKeyFault(err) && !errors.Is(err, ErrDayKeyFault) {
			s.log.Debug().Err(err).Msg("day key not checked")
		}
		cancel()
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

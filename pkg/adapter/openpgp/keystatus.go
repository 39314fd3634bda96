package openpgp

import (
	"errors"
	"fmt"
	"time"

	pgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Why a pinned key cannot encrypt, for errors.Is: the error also names the
// key's fingerprint and the date.
var (
	ErrKeyExpired = errors.New("expired")
	ErrKeyRevoked = errors.New("revoked")
)

// KeyStatus is the state of one pinned key at a moment: what the batcher's
// metrics, its start-up log and the auditors' page show. It holds no
// secret: a public key's fingerprint and dates.
type KeyStatus struct {
	Fingerprint string
	Created     time.Time
	// Expires is when the key stops being usable for encryption: the
	// earlier of the primary key's expiry and the last expiry of its
	// encryption subkeys. Zero when it never expires.
	Expires time.Time
	// Revoked is when the key (or its last encryption subkey) was
	// revoked; zero if it is not.
	Revoked time.Time
	// Usable is true when files can be encrypted to the key now.
	Usable bool
	// Problem says why not, in words ("expired on 2026-11-30", "revoked on
	// 2026-11-02", "has no encryption subkey"); "" when Usable.
	Problem string

	cause error // ErrKeyExpired, ErrKeyRevoked or nil
}

// err is the status's problem as an error wrapping ErrKeyExpired or
// ErrKeyRevoked when that is the cause.
func (s KeyStatus) err() error {
	switch {
	case s.Usable:
		return nil
	case s.cause == ErrKeyRevoked:
		return fmt.Errorf("key %s %w on %s", s.Fingerprint, ErrKeyRevoked, day(s.Revoked))
	case s.cause == ErrKeyExpired:
		return fmt.Errorf("key %s %w on %s", s.Fingerprint, ErrKeyExpired, day(s.Expires))
	}
	return fmt.Errorf("key %s %s", s.Fingerprint, s.Problem)
}

// day writes a moment as the UTC date and time an operator compares with
// `gpg --list-keys` (which shows dates).
func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// status judges e at now the way go-crypto's EncryptionKey does (which is
// what Encrypt uses), and finds the dates it does not report.
func status(e *pgp.Entity, now time.Time) KeyStatus {
	st := KeyStatus{Fingerprint: fingerprint(e.PrimaryKey), Created: e.PrimaryKey.CreationTime}
	_, st.Usable = e.EncryptionKey(now)

	self, ident := e.PrimarySelfSignature()
	if self != nil {
		st.Expires = expiry(e.PrimaryKey, self)
	}
	// Revocations of the key itself, or of the identity it is used under.
	if rev := revokedAt(e.Revocations, now); !rev.IsZero() {
		st.Revoked = rev
	} else if ident != nil {
		st.Revoked = revokedAt(ident.Revocations, now)
	}

	// The encryption subkeys: the key can encrypt until the last of those
	// not revoked expires; if every one is revoked, the key is revoked for
	// our purpose.
	var last time.Time
	var never, anySub, liveSub bool
	var subRevoked time.Time
	for _, sk := range e.Subkeys {
		if !sk.Sig.FlagsValid || !sk.Sig.FlagEncryptCommunications || !sk.PublicKey.PubKeyAlgo.CanEncrypt() {
			continue
		}
		anySub = true
		if rev := revokedAt(sk.Revocations, now); !rev.IsZero() {
			if rev.After(subRevoked) {
				subRevoked = rev
			}
			continue
		}
		liveSub = true
		switch exp := expiry(sk.PublicKey, sk.Sig); {
		case exp.IsZero():
			never = true
		case exp.After(last):
			last = exp
		}
	}
	if !anySub && self != nil && self.FlagsValid && self.FlagEncryptCommunications {
		// An encrypting primary key without subkeys: its own dates apply.
		anySub, liveSub, never = true, true, true
	}
	if liveSub && !never && (st.Expires.IsZero() || last.Before(st.Expires)) {
		st.Expires = last
	}
	if anySub && !liveSub && st.Revoked.IsZero() {
		st.Revoked = subRevoked
	}

	switch {
	case st.Usable:
	case !st.Revoked.IsZero():
		st.Problem, st.cause = "revoked on "+day(st.Revoked), ErrKeyRevoked
	case !st.Expires.IsZero() && !now.Before(st.Expires):
		st.Problem, st.cause = "expired on "+day(st.Expires), ErrKeyExpired
	case !anySub:
		st.Problem = "has no encryption subkey"
	default:
		st.Problem = "cannot encrypt (no valid self-signature)"
	}
	return st
}

// expiry is when a key with self-signature sig expires; zero for never.
func expiry(pk *packet.PublicKey, sig *packet.Signature) time.Time {
	if sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return time.Time{}
	}
	return pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
}

// revokedAt is when the earliest revocation in effect at now was made;
// zero if none is.
func revokedAt(revocations []*packet.Signature, now time.Time) time.Time {
	var at time.Time
	for _, r := range revocations {
		compromised := r.RevocationReason != nil && *r.RevocationReason == packet.KeyCompromised
		if !compromised && r.SigExpired(now) {
			continue
		}
		if at.IsZero() || r.CreationTime.Before(at) {
			at = r.CreationTime
		}
	}
	return at
}

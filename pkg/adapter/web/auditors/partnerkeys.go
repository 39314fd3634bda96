package auditors

import "time"

// The print partner's OpenPGP encryption key(s) on the page: which keys the
// batch files are encrypted to and until when, so that an auditor sees
// that only the partner can read what we send, and an expiring key is seen
// before it stops the batches. The reconciler reads the same key file as
// the batcher (PARTNER_PGP_KEY_FILE); this adapter only shows what it is
// given.

// PartnerKey is one pinned partner key as of now: public facts only.
type PartnerKey struct {
	Fingerprint string
	Expires     time.Time // zero: never
	Usable      bool      // batch files are encrypted to it now
	Problem     string    // why not ("expired on …", "revoked on …"); "" when Usable
}

// keyWarning is when the page starts to warn of an expiry, as the alert
// BookletsPartnerKeyExpiresSoon does.
const keyWarning = 30 * 24 * time.Hour

// partnerKeyView is a PartnerKey as the page shows it.
type partnerKeyView struct {
	PartnerKey
	ExpiresSoon bool
}

// partnerKeysData is the page's section; nil hides it (no key file given
// to the reconciler).
type partnerKeysData struct {
	Keys []partnerKeyView
}

func (s *Server) partnerKeys() *partnerKeysData {
	if s.PartnerKeys == nil {
		return nil
	}
	now := s.now()
	d := &partnerKeysData{}
	for _, k := range s.PartnerKeys() {
		d.Keys = append(d.Keys, partnerKeyView{PartnerKey: k,
			ExpiresSoon: k.Usable && !k.Expires.IsZero() && k.Expires.Sub(now) < keyWarning})
	}
	return d
}

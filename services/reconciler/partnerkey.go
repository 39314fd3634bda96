package main

import (
	"time"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/adapter/web/auditors"
	"booklets/pkg/platform/envconfig"
)

// readPartnerKeys reads PARTNER_PGP_KEY_FILE, the partner's public key(s)
// the batcher encrypts batch files to (the same file), so that the
// auditors' page shows which keys they are and until when. Unset, the page
// has no such section. A file that cannot be read stops the reconciler at
// start; keys that are expired or revoked are shown as such, not refused
// (the page is where that should be seen). Validity is judged on real
// time at each request, as the batcher judges it.
func readPartnerKeys(r *envconfig.Reader) func() []auditors.PartnerKey {
	path := r.String(openpgp.EnvKeyFile, "")
	if path == "" {
		return nil
	}
	rec, err := openpgp.LoadPinned(path, time.Now)
	if err != nil {
		r.Fail(openpgp.EnvKeyFile, err.Error())
		return nil
	}
	return func() []auditors.PartnerKey {
		var out []auditors.PartnerKey
		for _, k := range rec.Keys() {
			out = append(out, auditors.PartnerKey{Fingerprint: k.Fingerprint, Expires: k.Expires, Usable: k.Usable, Problem: k.Problem})
		}
		return out
	}
}

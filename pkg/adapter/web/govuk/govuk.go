// Package govuk holds the GOV.UK Frontend files (CSS, JavaScript, fonts,
// images) that every page of the service is styled with: the public form
// (pkg/adapter/web/public) and the auditors' page (pkg/adapter/web/auditors).
// They are vendored from npm by scripts/vendor-govuk.sh, committed, and
// embedded in each binary, so that no page ever loads them from a CDN.
//
// It is the one package the web adapters share: neither imports the other.
package govuk

import (
	"embed"
	"io/fs"
	"net/http"
)

// static is scripts/vendor-govuk.sh's copy. The stylesheet refers to
// /assets/fonts/... and /assets/images/..., so the files are served at
// /assets/ as they lie here.
//
//go:embed static
var static embed.FS

// FS is the files, with govuk-frontend.min.css at its root.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the path is a constant inside the embedded tree
	}
	return sub
}

// Assets serves the files. Mount it with http.StripPrefix under /assets/.
func Assets() http.Handler { return http.FileServerFS(FS()) }

package public

import (
	"io/fs"
	"net/http"
)

// GOVUKAssets serves the embedded GOV.UK Frontend files (CSS, fonts,
// images) for other services' pages, such as the reconciler's auditors'
// page, so that no service ever loads them from a CDN. Mount it with
// http.StripPrefix under /assets/.
func GOVUKAssets() http.Handler {
	govuk, err := fs.Sub(staticFS, "static/govuk")
	if err != nil {
		panic(err) // the path is a constant inside the embedded tree
	}
	return http.FileServerFS(govuk)
}

// Package layout holds the rules that keep the tree in the shape
// docs/architecture.md describes, and (in its test) checks them against
// every package of the module, so that a wrong import fails `go test`
// instead of waiting for a reviewer to notice:
//
//   - the domain (pkg/domain/...) and the stages (pkg/stage/...) import no
//     driver: no PostgreSQL, NATS, SFTP, HTTP, Prometheus or scheduler
//     library, and no adapter; the domain does not import a stage;
//   - an adapter (pkg/adapter/X/...) does not import another adapter, so a
//     technology can be replaced without touching the others. The web front
//     ends count one each (web/public, web/auditors); they share
//     web/govuk, the GOV.UK assets, and only that;
//   - production code never imports a test kit (pkg/testkit/...).
//
// Only non-test files count: a test may use a test kit or a driver.
package layout

import (
	"fmt"
	"sort"
	"strings"
)

// Package is what the rules need of a package: its import path, the
// packages its non-test files import, and everything those depend on in
// turn (go list's Deps), so that a driver reached through a helper package
// is found too.
type Package struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// Violation is one import the rules forbid.
type Violation struct {
	Package string // the importing package
	Import  string // what it must not import
	Rule    string // why, in words
}

func (v Violation) String() string {
	return fmt.Sprintf("%s imports %s: %s", v.Package, v.Import, v.Rule)
}

// drivers are the libraries the domain and the stages must not import,
// each matched with its sub-packages (path prefix at a "/" boundary).
var drivers = []string{
	"github.com/jackc/pgx",
	"github.com/nats-io/nats.go",
	"github.com/nats-io/nats-server",
	"github.com/pkg/sftp",
	"net/http",
	"github.com/prometheus/client_golang",
	"github.com/go-co-op/gocron",
}

// Check applies the rules to pkgs, which belong to the module whose path is
// module (e.g. "booklets"), and returns every violation, sorted.
func Check(module string, pkgs []Package) []Violation {
	var (
		domain   = module + "/pkg/domain"
		stage    = module + "/pkg/stage"
		adapter  = module + "/pkg/adapter"
		testkit  = module + "/pkg/testkit"
		products = []string{
			domain, stage, adapter, module + "/pkg/platform",
			module + "/services/intake", module + "/services/batcher", module + "/services/reconciler",
			module + "/deploy",
		}
	)
	var out []Violation
	add := func(p, imp, rule string) { out = append(out, Violation{p, imp, rule}) }
	for _, p := range pkgs {
		core := under(p.ImportPath, domain) || under(p.ImportPath, stage)
		production := false
		for _, prefix := range products {
			production = production || under(p.ImportPath, prefix)
		}
		for _, imp := range p.Imports {
			if core {
				for _, d := range drivers {
					if under(imp, d) {
						add(p.ImportPath, imp, "the domain and the stages import no driver; put it behind a port the stage owns, implemented in pkg/adapter")
					}
				}
				if under(imp, adapter) {
					add(p.ImportPath, imp, "the domain and the stages import no adapter; declare the port in the stage and let the service wire the adapter in")
				}
			}

			if under(p.ImportPath, domain) && under(imp, stage) {
				add(p.ImportPath, imp, "the domain does not depend on a stage; the stages use the domain")
			}
			if under(p.ImportPath, adapter) && under(imp, adapter) {
				from, to := technology(adapter, p.ImportPath), technology(adapter, imp)
				if from != to && !(under(from, "web") && to == "web/govuk") {
					add(p.ImportPath, imp, fmt.Sprintf("adapter %s imports adapter %s; adapters do not import one another (web front ends may share web/govuk only)", from, to))
				}
			}
			if production && under(imp, testkit) {
				add(p.ImportPath, imp, "production code never imports a test kit")
			}
		}
		if core {
			direct := map[string]bool{}
			for _, imp := range p.Imports {
				direct[imp] = true
			}
			for _, dep := range p.Deps {
				if direct[dep] {
					continue // reported above
				}
				for _, d := range append(drivers[:len(drivers):len(drivers)], adapter) {
					if under(dep, d) {
						add(p.ImportPath, dep, "the domain and the stages do not depend on a driver or an adapter, not even through another package; find which import brings it with `go list -deps`")
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Package != out[j].Package {
			return out[i].Package < out[j].Package
		}
		return out[i].Import < out[j].Import
	})
	return out
}

// under reports whether path is prefix or one of its sub-packages.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// technology is the adapter a package belongs to: the first element after
// pkg/adapter ("postgres", "jetstream", ...), or the first two under web,
// where each front end is one adapter of its own.
func technology(adapterRoot, path string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(path, adapterRoot), "/")
	parts := strings.SplitN(rest, "/", 3)
	if parts[0] == "web" && len(parts) > 1 {
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

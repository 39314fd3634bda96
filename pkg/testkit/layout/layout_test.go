package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestModuleLayout checks every package of the module, as `go list` sees
// the tree now.
func TestModuleLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("lists every package of the module")
	}
	module, pkgs := listModule(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages in %s; the check would prove nothing", len(pkgs), module)
	}
	for _, v := range Check(module, pkgs) {
		t.Error(v)
	}
}

// listModule runs `go list` from the module's root, whichever package
// directory the test runs in.
func listModule(t *testing.T) (string, []Package) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" {
		t.Fatal("not inside a Go module")
	}
	root := filepath.Dir(gomod)

	cmd := exec.Command("go", "list", "-m")
	cmd.Dir = root
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	module := strings.TrimSpace(string(out))

	// -e: a package that does not compile (someone's work in progress) is
	// still listed with the imports its files declare, so its layout is
	// still checked.
	cmd = exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading go list's output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return module, pkgs
}

func TestCheckRules(t *testing.T) {
	cases := []struct {
		name string
		pkg  Package
		want []string // the forbidden imports, in sorted order; nil: none
	}{
		{"domain uses the standard library and the domain",
			Package{ImportPath: "m/pkg/domain/order", Imports: []string{"errors", "m/pkg/domain/postcode", "golang.org/x/text/unicode/norm"}}, nil},
		{"domain imports pgx",
			Package{ImportPath: "m/pkg/domain/order", Imports: []string{"github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn"}},
			[]string{"github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn"}},
		{"stage imports net/http and its sub-packages",
			Package{ImportPath: "m/pkg/stage/reconcile", Imports: []string{"net/http", "net/http/httptest", "net/url", "net/mail"}},
			[]string{"net/http", "net/http/httptest"}},
		{"net/httpx is not net/http",
			Package{ImportPath: "m/pkg/stage/reconcile", Imports: []string{"net/httpx"}}, nil},
		{"stage imports NATS, the server, SFTP, Prometheus and gocron",
			Package{ImportPath: "m/pkg/stage/endofday", Imports: []string{
				"github.com/nats-io/nats.go/jetstream", "github.com/nats-io/nats-server/v2/server",
				"github.com/pkg/sftp", "github.com/prometheus/client_golang/prometheus", "github.com/go-co-op/gocron/v2",
				"github.com/nats-io/nuid", "github.com/prometheus/common/expfmt"}},
			[]string{"github.com/go-co-op/gocron/v2", "github.com/nats-io/nats-server/v2/server",
				"github.com/nats-io/nats.go/jetstream", "github.com/pkg/sftp", "github.com/prometheus/client_golang/prometheus"}},
		{"stage imports an adapter",
			Package{ImportPath: "m/pkg/stage/ingest", Imports: []string{"m/pkg/adapter/postgres", "m/pkg/domain/order", "m/pkg/platform/clock"}},
			[]string{"m/pkg/adapter/postgres"}},
		{"stage imports another stage",
			Package{ImportPath: "m/pkg/stage/endofday", Imports: []string{"m/pkg/stage/audit"}}, nil},
		{"domain imports a stage",
			Package{ImportPath: "m/pkg/domain/seal", Imports: []string{"m/pkg/stage/audit"}}, []string{"m/pkg/stage/audit"}},
		{"adapter imports its own sub-package and the domain",
			Package{ImportPath: "m/pkg/adapter/postgres", Imports: []string{"m/pkg/adapter/postgres/internal/rows", "m/pkg/domain/order", "github.com/jackc/pgx/v5"}}, nil},
		{"adapter imports another adapter",
			Package{ImportPath: "m/pkg/adapter/postgres", Imports: []string{"m/pkg/adapter/openpgp"}}, []string{"m/pkg/adapter/openpgp"}},
		{"front end imports the GOV.UK assets",
			Package{ImportPath: "m/pkg/adapter/web/auditors", Imports: []string{"m/pkg/adapter/web/govuk"}}, nil},
		{"front end imports the other front end",
			Package{ImportPath: "m/pkg/adapter/web/auditors", Imports: []string{"m/pkg/adapter/web/public"}}, []string{"m/pkg/adapter/web/public"}},
		{"the GOV.UK assets import a front end",
			Package{ImportPath: "m/pkg/adapter/web/govuk", Imports: []string{"m/pkg/adapter/web/public"}}, []string{"m/pkg/adapter/web/public"}},
		{"non-web adapter imports the GOV.UK assets",
			Package{ImportPath: "m/pkg/adapter/sftp", Imports: []string{"m/pkg/adapter/web/govuk"}}, []string{"m/pkg/adapter/web/govuk"}},
		{"service imports a test kit",
			Package{ImportPath: "m/services/batcher", Imports: []string{"m/pkg/testkit/testenv"}}, []string{"m/pkg/testkit/testenv"}},
		{"service sub-package imports a test kit",
			Package{ImportPath: "m/services/batcher/internal/batcher", Imports: []string{"m/pkg/testkit/eventually"}}, []string{"m/pkg/testkit/eventually"}},
		{"platform imports a test kit",
			Package{ImportPath: "m/pkg/platform/natsembed", Imports: []string{"m/pkg/testkit/sftptest"}}, []string{"m/pkg/testkit/sftptest"}},
		{"deploy imports a test kit",
			Package{ImportPath: "m/deploy/healthcheck", Imports: []string{"m/pkg/testkit/testenv"}}, []string{"m/pkg/testkit/testenv"}},
		{"developer tool imports a test kit and drivers",
			Package{ImportPath: "m/services/tools/testenv", Imports: []string{"m/pkg/testkit/testenv", "github.com/jackc/pgx/v5", "net/http"}}, nil},
		{"test kit imports a test kit and an adapter",
			Package{ImportPath: "m/pkg/testkit/partnersim", Imports: []string{"m/pkg/testkit/sftptest", "m/pkg/adapter/sftp"}}, nil},
		{"a service named like a production one is not one",
			Package{ImportPath: "m/services/intakex", Imports: []string{"m/pkg/testkit/testenv"}}, nil},
		{"stage depends on a driver through a platform package",
			Package{ImportPath: "m/pkg/stage/ingest", Imports: []string{"m/pkg/platform/natsembed"},
				Deps: []string{"m/pkg/platform/natsembed", "github.com/nats-io/nats-server/v2/server", "github.com/nats-io/nuid", "m/pkg/adapter/jetstream"}},
			[]string{"github.com/nats-io/nats-server/v2/server", "m/pkg/adapter/jetstream"}},
		{"a driver imported directly is reported once",
			Package{ImportPath: "m/pkg/stage/ingest", Imports: []string{"github.com/jackc/pgx/v5"}, Deps: []string{"github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn"}},
			[]string{"github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn"}},
		{"an adapter may depend on anything through its imports",
			Package{ImportPath: "m/pkg/adapter/postgres", Imports: []string{"github.com/jackc/pgx/v5"}, Deps: []string{"github.com/jackc/pgx/v5", "net/http"}}, nil},
		{"another module's domain is not ours",
			Package{ImportPath: "other/pkg/domain/order", Imports: []string{"net/http"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, v := range Check("m", []Package{c.pkg}) {
				if v.Package != c.pkg.ImportPath || v.Rule == "" {
					t.Errorf("violation %+v does not name the package or the rule", v)
				}
				if !strings.Contains(v.String(), v.Package) || !strings.Contains(v.String(), v.Import) {
					t.Errorf("message %q does not name the package and the import", v)
				}
				got = append(got, v.Import)
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("violations = %q, want %q", got, c.want)
			}
		})
	}
}

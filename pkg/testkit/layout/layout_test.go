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
	cmd = exec.Command("go", "list", "-e", "-json=ImportPath,Imports", "./...")
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
			Package{"m/pkg/domain/order", []string{"errors", "m/pkg/domain/postcode", "golang.org/x/text/unicode/norm"}}, nil},
		{"domain imports pgx",
			Package{"m/pkg/domain/order", []string{"github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn"}},
			[]string{"github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn"}},
		{"stage imports net/http and its sub-packages",
			Package{"m/pkg/stage/reconcile", []string{"net/http", "net/http/httptest", "net/url", "net/mail"}},
			[]string{"net/http", "net/http/httptest"}},
		{"net/httpx is not net/http",
			Package{"m/pkg/stage/reconcile", []string{"net/httpx"}}, nil},
		{"stage imports NATS, the server, SFTP, Prometheus and gocron",
			Package{"m/pkg/stage/endofday", []string{
				"github.com/nats-io/nats.go/jetstream", "github.com/nats-io/nats-server/v2/server",
				"github.com/pkg/sftp", "github.com/prometheus/client_golang/prometheus", "github.com/go-co-op/gocron/v2",
				"github.com/nats-io/nuid", "github.com/prometheus/common/expfmt"}},
			[]string{"github.com/go-co-op/gocron/v2", "github.com/nats-io/nats-server/v2/server",
				"github.com/nats-io/nats.go/jetstream", "github.com/pkg/sftp", "github.com/prometheus/client_golang/prometheus"}},
		{"stage imports an adapter",
			Package{"m/pkg/stage/ingest", []string{"m/pkg/adapter/postgres", "m/pkg/domain/order", "m/pkg/platform/clock"}},
			[]string{"m/pkg/adapter/postgres"}},
		{"stage imports another stage",
			Package{"m/pkg/stage/endofday", []string{"m/pkg/stage/audit"}}, nil},
		{"domain imports a stage",
			Package{"m/pkg/domain/seal", []string{"m/pkg/stage/audit"}}, []string{"m/pkg/stage/audit"}},
		{"adapter imports its own sub-package and the domain",
			Package{"m/pkg/adapter/postgres", []string{"m/pkg/adapter/postgres/internal/rows", "m/pkg/domain/order", "github.com/jackc/pgx/v5"}}, nil},
		{"adapter imports another adapter",
			Package{"m/pkg/adapter/postgres", []string{"m/pkg/adapter/openpgp"}}, []string{"m/pkg/adapter/openpgp"}},
		{"front end imports the GOV.UK assets",
			Package{"m/pkg/adapter/web/auditors", []string{"m/pkg/adapter/web/govuk"}}, nil},
		{"front end imports the other front end",
			Package{"m/pkg/adapter/web/auditors", []string{"m/pkg/adapter/web/public"}}, []string{"m/pkg/adapter/web/public"}},
		{"the GOV.UK assets import a front end",
			Package{"m/pkg/adapter/web/govuk", []string{"m/pkg/adapter/web/public"}}, []string{"m/pkg/adapter/web/public"}},
		{"non-web adapter imports the GOV.UK assets",
			Package{"m/pkg/adapter/sftp", []string{"m/pkg/adapter/web/govuk"}}, []string{"m/pkg/adapter/web/govuk"}},
		{"service imports a test kit",
			Package{"m/services/batcher", []string{"m/pkg/testkit/testenv"}}, []string{"m/pkg/testkit/testenv"}},
		{"service sub-package imports a test kit",
			Package{"m/services/batcher/internal/batcher", []string{"m/pkg/testkit/eventually"}}, []string{"m/pkg/testkit/eventually"}},
		{"platform imports a test kit",
			Package{"m/pkg/platform/natsembed", []string{"m/pkg/testkit/sftptest"}}, []string{"m/pkg/testkit/sftptest"}},
		{"deploy imports a test kit",
			Package{"m/deploy/healthcheck", []string{"m/pkg/testkit/testenv"}}, []string{"m/pkg/testkit/testenv"}},
		{"developer tool imports a test kit and drivers",
			Package{"m/services/tools/testenv", []string{"m/pkg/testkit/testenv", "github.com/jackc/pgx/v5", "net/http"}}, nil},
		{"test kit imports a test kit and an adapter",
			Package{"m/pkg/testkit/partnersim", []string{"m/pkg/testkit/sftptest", "m/pkg/adapter/sftp"}}, nil},
		{"a service named like a production one is not one",
			Package{"m/services/intakex", []string{"m/pkg/testkit/testenv"}}, nil},
		{"another module's domain is not ours",
			Package{"other/pkg/domain/order", []string{"net/http"}}, nil},
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

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// PARTNER_XLSX=true: send-now sends the XLSX copy beside the CSV, named in
// the manifest; a value that is not a boolean is a configuration error
// naming the setting.
func TestSendNowWithSpreadsheet(t *testing.T) {
	t.Parallel()
	dbURL := testenv.Database(t)
	srv := sftptest.Start(t)
	env := serviceEnv(dbURL, testenv.Orders(t), srv, map[string]string{"KEK": testKEK("k1"), EnvXLSX: "maybe"})
	getenv := func(k string) string { return env[k] }
	if err := run(context.Background(), []string{"send-now"}, getenv, nil, &testenv.Buffer{}); err == nil || !strings.Contains(err.Error(), EnvXLSX) {
		t.Fatalf("PARTNER_XLSX=maybe: %v, want an error naming it", err)
	}

	env[EnvXLSX] = "true"
	var out testenv.Buffer
	if err := run(context.Background(), []string{"send-now"}, getenv, nil, &out); err != nil {
		t.Fatalf("send-now: %v\n%s", err, out.String())
	}
	manifests, _ := filepath.Glob(srv.Path("outbox", "*.manifest.json"))
	if len(manifests) != 1 {
		t.Fatalf("manifests %q", manifests)
	}
	b, err := os.ReadFile(manifests[0])
	testenv.Must(t, err)
	m, err := batchfile.ParseManifest(b)
	testenv.Must(t, err)
	if m.XLSXFile != batchfile.XLSXFileName(m.DataFile) || m.XLSXSHA256 == "" {
		t.Fatalf("manifest %+v names no spreadsheet", m)
	}
	if fi, err := os.Stat(srv.Path("outbox", m.XLSXFile)); err != nil || fi.Size() != m.XLSXBytes {
		t.Errorf("spreadsheet at the partner: %v, %v; manifest says %d bytes", fi, err, m.XLSXBytes)
	}
}

package logging_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"booklets/pkg/platform/logging"
)

// The console form written anywhere but a terminal (a buffer, a file, a
// pipe to `make run`'s launcher or a log collector) has no colour codes.
func TestConsoleFormIsPlainWhenNotATerminal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range []io.Writer{&buf, f} {
		log, err := logging.New(w, "console", "info", "test")
		if err != nil {
			t.Fatal(err)
		}
		log.Info().Str("batch_id", "b1").Msg("batch sent")
	}
	written, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"buffer": buf.String(), "file": string(written)} {
		if !strings.Contains(out, "batch sent") {
			t.Errorf("%s: nothing logged: %q", name, out)
		}
		if strings.Contains(out, "\x1b[") {
			t.Errorf("%s: colour codes in a log that is not a terminal: %q", name, out)
		}
	}
}

package partnersim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"booklets/pkg/domain/batchfile"
)

// checkBatch is what the partner does when a manifest arrives
// (docs/partner-interface.md, "Checking a batch"): the data file and, when
// the manifest names one, the XLSX copy must be there with the manifest's
// SHA-256 and size. A batch that does not match is not processed (so never
// confirmed): a real partner would tell us its batch id.
func (s *Server) checkBatch(manifestPath string) error {
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		return err
	}
	m, err := batchfile.ParseManifest(b)
	if err != nil {
		return err
	}
	if err := s.checkFile(m.DataFile, m.SHA256, m.Bytes); err != nil {
		return err
	}
	if m.XLSXFile != "" {
		if err := s.checkFile(m.XLSXFile, m.XLSXSHA256, m.XLSXBytes); err != nil {
			return fmt.Errorf("spreadsheet: %w", err)
		}
	}
	return nil
}

func (s *Server) checkFile(name, sha string, size int64) error {
	if name == "" || name != filepath.Base(name) {
		return fmt.Errorf("manifest names no file in the folder: %q", name)
	}
	f, err := os.Open(s.Path(DirBatches, name))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha || n != size {
		return fmt.Errorf("%s: sha256 %s, %d bytes; the manifest says %s, %d bytes", name, got, n, sha, size)
	}
	return nil
}

// removeBatchFiles deletes what the manifest names besides the data file
// (the XLSX copy), as the partner deletes the whole batch before it
// confirms.
func (s *Server) removeBatchFiles(m batchfile.Manifest) error {
	if m.XLSXFile == "" || m.XLSXFile != filepath.Base(m.XLSXFile) {
		return nil
	}
	if err := os.Remove(s.Path(DirBatches, m.XLSXFile)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

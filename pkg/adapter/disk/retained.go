// Package disk keeps the encrypted files of sent batches on the batcher's
// own disk (RETAINED_DIR) for the resend window: endofday.Retainer.
//
// Why a folder and not PostgreSQL: a deleted row lives on in the WAL, in
// base backups and on replicas for as long as they are kept, so the end of
// a copy's window could not be shown as its deletion. A file on one
// volume that no backup takes is gone when it is unlinked. The files are
// ciphertext to the partner's key (the manifest holds no personal data);
// the record of what is kept, and of each deletion, is in PostgreSQL and
// the audit log (pkg/adapter/postgres, retention.go).
//
// Layout: RETAINED_DIR/<batch id>/<file name> for a kept file, and
// RETAINED_DIR/<batch id>/.<file name>.part while one is written. Folders
// are made 0700 and files 0600: only the batcher's user reads them.
package disk

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/stage/endofday"
)

// Retained is the folder of kept batch files.
type Retained struct{ Dir string }

var _ endofday.Retainer = Retained{}

// batchDir is a batch's folder; an id that is not a batch id is refused,
// so no name can lead out of Dir.
func (r Retained) batchDir(batchID string) (string, error) {
	if r.Dir == "" {
		return "", errors.New("RETAINED_DIR is not set")
	}
	if !batchfile.ValidBatchID(batchID) {
		return "", fmt.Errorf("retained files: %q is not a batch id", batchID)
	}
	return filepath.Join(r.Dir, batchID), nil
}

func validName(name string) error {
	if name == "" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("retained files: %q is not a batch file name", name)
	}
	return nil
}

// Create implements endofday.Retainer.
func (r Retained) Create(batchID, name string) (endofday.RetainedWriter, error) {
	dir, err := r.batchDir(batchID)
	if err != nil {
		return nil, err
	}
	if err := validName(name); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("retained files: %w", err)
	}
	part := filepath.Join(dir, "."+name+".part")
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("retained files: %w", err)
	}
	// The encrypter writes in small pieces; one system call per piece
	// would cost the send more than the copy itself.
	return &writer{f: f, buf: bufio.NewWriterSize(f, 256<<10), part: part, final: filepath.Join(dir, name), dir: dir}, nil
}

type writer struct {
	f                *os.File
	buf              *bufio.Writer
	part, final, dir string
	closed           bool
}

func (w *writer) Write(p []byte) (int, error) { return w.buf.Write(p) }

// Keep syncs the file, renames it to its final name and syncs the folder,
// so that a kept file survives a crash whole or not at all.
func (w *writer) Keep() error {
	err := w.buf.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.closed = true
	if err == nil {
		err = os.Rename(w.part, w.final)
	}
	if err == nil {
		err = syncDir(w.dir)
	}
	if err != nil {
		return fmt.Errorf("retained files: %w", err)
	}
	return nil
}

// Discard implements endofday.RetainedWriter.
func (w *writer) Discard() error {
	if !w.closed {
		_ = w.f.Close()
		w.closed = true
	}
	if err := os.Remove(w.part); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("retained files: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Files implements endofday.Retainer: the kept files, hashed from disk.
func (r Retained) Files(batchID string) ([]endofday.RetainedFile, error) {
	dir, err := r.batchDir(batchID)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("retained files: %w", err)
	}
	var files []endofday.RetainedFile
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f, err := hashFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("retained files: %w", err)
		}
		f.Name = e.Name()
		files = append(files, f)
	}
	return files, nil
}

func hashFile(path string) (endofday.RetainedFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return endofday.RetainedFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return endofday.RetainedFile{}, err
	}
	return endofday.RetainedFile{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Open implements endofday.Retainer.
func (r Retained) Open(batchID, name string) (io.ReadCloser, error) {
	dir, err := r.batchDir(batchID)
	if err != nil {
		return nil, err
	}
	if err := validName(name); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("retained files: batch %s: %s: %w", batchID, name, endofday.ErrNoSuchFile)
	}
	if err != nil {
		return nil, fmt.Errorf("retained files: %w", err)
	}
	return f, nil
}

// Remove implements endofday.Retainer.
func (r Retained) Remove(batchID string) error {
	dir, err := r.batchDir(batchID)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("retained files: %w", err)
	}
	if err := syncDir(r.Dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("retained files: %w", err)
	}
	return nil
}

// Batches implements endofday.Retainer: the folders named like a batch id.
func (r Retained) Batches() ([]string, error) {
	if r.Dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(r.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("retained files: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && batchfile.ValidBatchID(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

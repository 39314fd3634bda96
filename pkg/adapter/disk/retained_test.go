package disk_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"booklets/pkg/adapter/disk"
	"booklets/pkg/stage/endofday"
	"booklets/pkg/testkit/testenv"
)

const id = "B20261125-K7QM2X"

// A copy is invisible until kept, private to the batcher's user, listed
// with its checksum once kept, and gone, folder and all, when removed; an
// abandoned copy leaves nothing.
func TestKeepListOpenRemove(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "retained")
	r := disk.Retained{Dir: dir}
	w, err := r.Create(id, "booklets_2026-11-25_"+id+".csv.gpg")
	testenv.Must(t, err)
	_, err = w.Write([]byte("ciphertext"))
	testenv.Must(t, err)
	if files, err := r.Files(id); err != nil || len(files) != 0 {
		t.Fatalf("a copy being written is listed: %v %v", files, err)
	}
	testenv.Must(t, w.Keep())
	files, err := r.Files(id)
	testenv.Must(t, err)
	if len(files) != 1 || files[0].Bytes != 10 || files[0].SHA256 != "305531dcc50ebca31cf1d5b31e9fc76ed51f66b3b6dd5a030c6539ae6532f979" {
		t.Fatalf("files %+v", files)
	}
	for _, p := range []string{filepath.Join(dir, id), filepath.Join(dir, id, files[0].Name)} {
		fi, err := os.Stat(p)
		testenv.Must(t, err)
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is mode %v: others can read it", p, fi.Mode())
		}
	}
	rc, err := r.Open(id, files[0].Name)
	testenv.Must(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "ciphertext" {
		t.Fatalf("read %q", b)
	}
	ids, err := r.Batches()
	testenv.Must(t, err)
	if len(ids) != 1 || ids[0] != id {
		t.Fatalf("batches %v", ids)
	}

	w, err = r.Create(id, "booklets_2026-11-25_"+id+".manifest.json")
	testenv.Must(t, err)
	_, _ = w.Write([]byte("{}"))
	testenv.Must(t, w.Discard())
	if files, _ := r.Files(id); len(files) != 1 {
		t.Fatalf("a discarded copy is listed: %+v", files)
	}

	testenv.Must(t, r.Remove(id))
	if _, err := os.Stat(filepath.Join(dir, id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the batch's folder is still there: %v", err)
	}
	if _, err := r.Open(id, files[0].Name); !errors.Is(err, endofday.ErrNoSuchFile) {
		t.Fatalf("open after remove: %v", err)
	}
	testenv.Must(t, r.Remove(id)) // nothing there: not an error
}

// No batch id or file name leads out of the folder.
func TestRefusesPathsOutOfTheFolder(t *testing.T) {
	t.Parallel()
	r := disk.Retained{Dir: t.TempDir()}
	for _, c := range []struct{ id, name string }{
		{"../etc", "x"}, {"B20261125-K7QM2X/..", "x"}, {id, "../x"}, {id, ".hidden"}, {id, "a/b"}, {id, ""},
	} {
		if _, err := r.Create(c.id, c.name); err == nil {
			t.Errorf("Create(%q, %q) accepted", c.id, c.name)
		}
		if _, err := r.Open(c.id, c.name); err == nil {
			t.Errorf("Open(%q, %q) accepted", c.id, c.name)
		}
	}
	if err := r.Remove(".."); err == nil {
		t.Error("Remove(..) accepted")
	}
}

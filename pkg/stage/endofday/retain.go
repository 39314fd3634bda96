package endofday

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"booklets/pkg/domain/batchfile"
)

// Retention: for a limited window (RESEND_WINDOW, 7 days by default) the
// batcher keeps the exact files of an encrypted batch as uploaded, so that
// a batch the partner lost or found corrupt can be sent again (resend.go)
// after our own copy of the personal data is shredded. Only ciphertext is
// kept: the data file is encrypted to the partner's key, and we hold no key
// that opens it; the manifest holds no personal data. A plain CSV batch is
// never kept, because that would be readable personal data.
//
// The copy is made while uploading (a tee after the encryption, so no
// second read of the database and no plaintext on disk), given its final
// name only once the partner's copy is verified, and recorded as retained
// (batch_retention and the audit entry "batch_retained") in the same
// transaction that records the batch sent. A crash before that transaction
// leaves ciphertext only, which the next run either records (the batch is
// resumed) or the sweep deletes.

// Retainer keeps the files of batches on the batcher's disk (RETAINED_DIR,
// pkg/adapter/disk).
type Retainer interface {
	// Create starts a copy of a file of a batch, under a temporary name
	// until Keep.
	Create(batchID, name string) (RetainedWriter, error)
	// Files lists a batch's kept files (not those still being written),
	// with their size and SHA-256 read from disk.
	Files(batchID string) ([]RetainedFile, error)
	// Open reads a kept file; ErrNoSuchFile if it is not there.
	Open(batchID, name string) (io.ReadCloser, error)
	// Remove deletes every file of a batch, kept or being written;
	// nothing there is not an error.
	Remove(batchID string) error
	// Batches lists the batches that have anything on disk.
	Batches() ([]string, error)
}

// RetainedWriter is a copy being written.
type RetainedWriter interface {
	io.Writer
	// Keep flushes and syncs the copy and gives it its final name.
	Keep() error
	// Discard deletes the incomplete copy.
	Discard() error
}

// RetainedFile is one file kept: its name at the partner, size and
// SHA-256 (hex) as uploaded.
type RetainedFile struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Retention is a batch's kept copy as recorded with the batch sent.
type Retention struct {
	Files      []RetainedFile // in upload order: the data file first, the manifest last
	RetainedAt time.Time
	Until      time.Time // the end of the resend window, when the sweep deletes it
}

// WithRetention keeps the files of every encrypted batch for window
// (RESEND_WINDOW) in r. Plain CSV batches are never kept.
func WithRetention(r Retainer, window time.Duration) Option {
	return func(s *Sender) {
		s.retainer, s.window = r, window
		s.kept = &keptFiles{m: map[string][]RetainedFile{}}
	}
}

// keptFiles remembers, per batch, the files the last upload attempt kept
// with the checksums the partner's copy was verified against, so that the
// record step need not hash them again from disk (a send's hot path).
type keptFiles struct {
	mu sync.Mutex
	m  map[string][]RetainedFile
}

func (k *keptFiles) add(batchID string, f RetainedFile) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fs := k.m[batchID]
	for i := range fs {
		if fs[i].Name == f.Name {
			fs[i] = f
			return
		}
	}
	k.m[batchID] = append(fs, f)
}

func (k *keptFiles) take(batchID string) ([]RetainedFile, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fs, ok := k.m[batchID]
	delete(k.m, batchID)
	return fs, ok
}

// retaining wraps a partner session so that each upload of an encrypted
// batch is also written to the retainer: every file uploaded (data file,
// manifest, any copy beside them) is kept as its bytes went out.
func (s *Sender) retaining(c PartnerSession, b Batch) PartnerSession {
	if s.retainer == nil || b.Encryption != batchfile.EncryptionOpenPGP {
		return c
	}
	s.kept.take(b.ID) // a fresh attempt: forget an earlier one's files
	return retainingSession{PartnerSession: c, s: s, batchID: b.ID}
}

type retainingSession struct {
	PartnerSession
	s       *Sender
	batchID string
}

func (r retainingSession) Upload(ctx context.Context, name string, write func(io.Writer) error) (Uploaded, error) {
	log := r.s.log.With().Str("batch_id", r.batchID).Str("file", name).Logger()
	local, err := r.s.retainer.Create(r.batchID, name)
	if err != nil {
		// Keeping a copy must never hold up the send (and so the deletion
		// of our readable data): the batch goes without one.
		notRetained(log, err)
		return r.PartnerSession.Upload(ctx, name, write)
	}
	tee := &teeWriter{local: local}
	up, err := r.PartnerSession.Upload(ctx, name, func(w io.Writer) error {
		tee.remote = w
		return write(tee)
	})
	if err != nil {
		_ = local.Discard()
		return up, err
	}
	if tee.err != nil || tee.n != up.Bytes {
		_ = local.Discard()
		if tee.err == nil {
			tee.err = errors.New("the copy's size differs from the upload's")
		}
		notRetained(log, tee.err)
		return up, nil
	}
	if err := local.Keep(); err != nil {
		_ = local.Discard()
		notRetained(log, err)
		return up, nil
	}
	r.s.kept.add(r.batchID, RetainedFile{Name: name, Bytes: up.Bytes, SHA256: up.SHA256})
	return up, nil
}

func notRetained(log zerolog.Logger, err error) {
	log.Error().Err(err).Str("alert", "batch_not_retained").
		Msg("no copy of the uploaded file kept: the batch is sent, but cannot be resent")
}

// teeWriter writes to the partner and, as long as that works, to the
// local copy; a failing local copy is noted, not returned.
type teeWriter struct {
	remote io.Writer
	local  io.Writer
	n      int64 // bytes written to the local copy
	err    error // the local copy's first error
}

func (t *teeWriter) Write(p []byte) (int, error) {
	n, err := t.remote.Write(p)
	if t.err == nil && n > 0 {
		var m int
		m, t.err = t.local.Write(p[:n])
		t.n += int64(m)
	}
	return n, err
}

// retention is what the record step records as kept for b, sent with
// sha256 (the data file's): the files kept by this run's upload or, for a
// resumed batch, found complete on disk. Only a copy whose data file is
// the one verified at the partner, with its manifest, is retained;
// anything else on disk is removed, so nothing is kept unrecorded.
func (s *Sender) retention(b Batch, sha256 string, log zerolog.Logger) *Retention {
	if s.retainer == nil || b.Encryption != batchfile.EncryptionOpenPGP {
		return nil
	}
	files, ok := s.kept.take(b.ID)
	if !ok {
		var err error
		if files, err = s.retainer.Files(b.ID); err != nil {
			notRetained(log, err)
			files = nil
		}
	}
	var data, manifest bool
	for _, f := range files {
		data = data || (f.Name == b.DataFile && f.SHA256 == sha256)
		manifest = manifest || f.Name == b.ManifestFile
	}
	if !data || !manifest {
		if err := s.retainer.Remove(b.ID); err != nil {
			log.Error().Err(err).Msg("remove an incomplete retained copy")
		}
		notRetained(log, errors.New("no complete copy of the files as verified at the partner"))
		return nil
	}
	// The manifest last, as it was uploaded and as a resend uploads it.
	ordered := make([]RetainedFile, 0, len(files))
	for _, f := range files {
		if f.Name != b.ManifestFile {
			ordered = append(ordered, f)
		}
	}
	for _, f := range files {
		if f.Name == b.ManifestFile {
			ordered = append(ordered, f)
		}
	}
	now := s.now().UTC()
	return &Retention{Files: ordered, RetainedAt: now, Until: now.Add(s.window)}
}

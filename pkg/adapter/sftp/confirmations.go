package sftp

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"booklets/pkg/stage/reconcile"
)

// Confirmations is the folder where the partner leaves deletion
// confirmations, and the folders handled files are moved to. It is the
// reconciler's reconcile.Inbox. Paths are relative to the login folder or
// absolute.
type Confirmations struct {
	client    *Client
	dir       string
	processed string
	rejected  string
	max       int64 // the largest file read
}

var _ reconcile.Inbox = (*Confirmations)(nil)

// Confirmations returns the confirmations folder dir, moving accepted files
// to processed and rejected ones to rejected. The Confirmations owns the
// client: closing it closes the connection.
func (c *Client) Confirmations(dir, processed, rejected string) *Confirmations {
	return &Confirmations{client: c, dir: dir, processed: processed, rejected: rejected, max: reconcile.MaxFileSize}
}

// Updates returns the partner's updates folder (dispatch and returns
// files), handled as the confirmations folder is, with files up to
// reconcile.MaxUpdatesSize.
func (c *Client) Updates(dir, processed, rejected string) *Confirmations {
	return &Confirmations{client: c, dir: dir, processed: processed, rejected: rejected, max: reconcile.MaxUpdatesSize}
}

// List returns the files waiting (not hidden, not folders). A folder that
// does not exist yet holds nothing.
func (f *Confirmations) List(ctx context.Context) ([]reconcile.Entry, error) {
	files, err := f.client.List(f.dir)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	entries := make([]reconcile.Entry, 0, len(files))
	for _, fi := range files {
		entries = append(entries, reconcile.Entry{Name: fi.Name, ModTime: fi.ModTime})
	}
	return entries, nil
}

// Read returns a waiting file's content, or reconcile.ErrOversized.
func (f *Confirmations) Read(ctx context.Context, name string) ([]byte, error) {
	b, err := f.client.ReadFile(path.Join(f.dir, name), f.max)
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("%w (%d bytes): %v", reconcile.ErrOversized, f.max, err)
	}
	return b, err
}

// Done moves a handled file: accepted ones to the processed folder under
// their own name; a repeat of an accepted one (or an accepted one whose
// name is taken there already) to the processed folder with the start of
// its content hash added, so that the accepted file is never replaced;
// rejected ones to the rejected folder with the start of their content
// hash added, so that two different rejected files of the same name are
// both kept, and the reason file beside them (written first: a failure
// after it leaves the file, which the next run moves again, with the same
// reason file). The signature file, if any, goes with it, its name the
// file's new name plus .asc; it is moved first, so that a failure in
// between leaves the confirmation, which the next run moves again
// (recorded: a duplicate), and not a lone signature.
func (f *Confirmations) Done(ctx context.Context, file reconcile.File, move reconcile.Move, reason string) error {
	hashed := fmt.Sprintf("%s.%s%s", stem(file.Name), file.SHA256[:12], shortExt(path.Ext(file.Name)))
	var to string
	switch move {
	case reconcile.MoveProcessed:
		to = path.Join(f.processed, file.Name)
		taken, err := f.client.Exists(to)
		if err != nil {
			return err
		}
		if taken {
			to = path.Join(f.processed, hashed)
		}
	case reconcile.MoveRepeat:
		to = path.Join(f.processed, hashed)
	case reconcile.MoveRejected:
		to = path.Join(f.rejected, hashed)
		if err := f.client.WriteFile(to+reconcile.ReasonExt, []byte(reason)); err != nil {
			return fmt.Errorf("write the reason file: %w", err)
		}
	default:
		return fmt.Errorf("sftp: move %s: unknown destination %d", file.Name, move)
	}
	if file.Sig.Data != nil {
		if err := f.client.Move(path.Join(f.dir, file.Name+reconcile.SigExt), to+reconcile.SigExt); err != nil {
			return err
		}
	}
	return f.client.Move(path.Join(f.dir, file.Name), to)
}

// Quarantine moves a file that was not read (too large) to the rejected
// folder as <name>.<why>-<time>, so that it stops failing every run and
// its name says why it was set aside; the time keeps each one. Its reason
// file is written beside it first.
func (f *Confirmations) Quarantine(ctx context.Context, name, why string, now time.Time, reason string) error {
	to := path.Join(f.rejected, fmt.Sprintf("%s%s.%s-%s", stem(name), shortExt(path.Ext(name)), why, now.UTC().Format("20060102T150405.000000000Z")))
	if err := f.client.WriteFile(to+reconcile.ReasonExt, []byte(reason)); err != nil {
		return fmt.Errorf("write the reason file: %w", err)
	}
	return f.client.Move(path.Join(f.dir, name), to)
}

// stem is a file name without its extension, cut to 100 bytes: a
// partner's (or an intruder's) name of 250 bytes plus our suffix would
// exceed the 255 a file system allows, and the move would fail, and the
// file stay, at every run. Real confirmations' names are far shorter.
func stem(name string) string {
	s := strings.TrimSuffix(name, path.Ext(name))
	if len(s) > 100 {
		s = strings.ToValidUTF8(s[:100], "")
	}
	return s
}

func shortExt(ext string) string {
	if len(ext) > 16 {
		return ""
	}
	return ext
}

// Close ends the connection.
func (f *Confirmations) Close() error { return f.client.Close() }

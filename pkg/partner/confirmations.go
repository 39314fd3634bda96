package partner

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"booklets/pkg/reconcile"
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
}

var _ reconcile.Inbox = (*Confirmations)(nil)

// Confirmations returns the confirmations folder dir, moving accepted files
// to processed and rejected ones to rejected. The Confirmations owns the
// client: closing it closes the connection.
func (c *Client) Confirmations(dir, processed, rejected string) *Confirmations {
	return &Confirmations{client: c, dir: dir, processed: processed, rejected: rejected}
}

// List returns the names of the files waiting (not hidden, not folders). A
// folder that does not exist yet holds nothing.
func (f *Confirmations) List(ctx context.Context) ([]string, error) {
	files, err := f.client.List(f.dir)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for _, fi := range files {
		names = append(names, fi.Name)
	}
	return names, nil
}

// Read returns a waiting file's content.
func (f *Confirmations) Read(ctx context.Context, name string) ([]byte, error) {
	return f.client.ReadFile(path.Join(f.dir, name), reconcile.MaxFileSize)
}

// Done moves a handled file: accepted ones to the processed folder under
// their own name, rejected ones to the rejected folder with the start of
// their content hash added, so that two different rejected files of the
// same name are both kept.
func (f *Confirmations) Done(ctx context.Context, file reconcile.File, accepted bool) error {
	to := path.Join(f.processed, file.Name)
	if !accepted {
		stem := strings.TrimSuffix(file.Name, path.Ext(file.Name))
		to = path.Join(f.rejected, fmt.Sprintf("%s.%s%s", stem, file.SHA256[:12], path.Ext(file.Name)))
	}
	return f.client.Move(path.Join(f.dir, file.Name), to)
}

// Close ends the connection.
func (f *Confirmations) Close() error { return f.client.Close() }

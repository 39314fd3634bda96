package sftp

import (
	"context"
	"errors"
	"io"

	"booklets/pkg/stage/endofday"
)

// Outbox is the partner's batch folder as the end-of-day stage sends to it
// (endofday.Partner). Errors keep their messages and this package's
// sentinels; ErrHostKey, ErrNotFound and ErrVerify are also the stage's
// endofday.ErrHostKey, ErrNoSuchFile and ErrVerify.
type Outbox struct{ Config Config }

var _ endofday.Partner = Outbox{}

// Dial implements endofday.Partner.
func (o Outbox) Dial(ctx context.Context) (endofday.PartnerSession, error) {
	c, err := Dial(ctx, o.Config)
	if err != nil {
		return nil, stageErr(err)
	}
	return outboxSession{c}, nil
}

// outboxSession is a connection, with names in the batch folder.
type outboxSession struct{ c *Client }

func (s outboxSession) EnsureDir() error { return stageErr(s.c.EnsureDir()) }

func (s outboxSession) ReadFile(name string, max int64) ([]byte, error) {
	b, err := s.c.ReadFile(s.c.Path(name), max)
	return b, stageErr(err)
}

func (s outboxSession) Checksum(name string) (string, int64, error) {
	sum, size, err := s.c.Checksum(name)
	return sum, size, stageErr(err)
}

func (s outboxSession) Upload(ctx context.Context, name string, write func(io.Writer) error) (endofday.Uploaded, error) {
	up, err := s.c.Upload(ctx, name, write)
	return endofday.Uploaded(up), stageErr(err)
}

func (s outboxSession) Remove(name string) error { return stageErr(s.c.Remove(s.c.Path(name))) }

func (s outboxSession) Close() error { return s.c.Close() }

// stageErr marks err with the stage's sentinel too, its message unchanged.
func stageErr(err error) error {
	var stage error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrHostKey):
		stage = endofday.ErrHostKey
	case errors.Is(err, ErrNotFound):
		stage = endofday.ErrNoSuchFile
	case errors.Is(err, ErrVerify):
		stage = endofday.ErrVerify
	default:
		return err
	}
	return stageError{err: err, stage: stage}
}

type stageError struct{ err, stage error }

func (e stageError) Error() string   { return e.err.Error() }
func (e stageError) Unwrap() []error { return []error{e.err, e.stage} }

package postgres

import "errors"

// also returns err marked as the stage's sentinel too, its message
// unchanged: errors.Is finds both this package's error and the stage's,
// so the stage tells the case apart without importing this package and
// the log lines read as before.
func also(err, stage error) error {
	if err == nil || errors.Is(err, stage) {
		return err
	}
	return alsoError{err: err, stage: stage}
}

type alsoError struct{ err, stage error }

func (e alsoError) Error() string   { return e.err.Error() }
func (e alsoError) Unwrap() []error { return []error{e.err, e.stage} }

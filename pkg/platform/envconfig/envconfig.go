// Package envconfig reads typed settings from environment variables, with
// defaults, collecting every bad value so that a service reports all of its
// configuration mistakes at once instead of one per restart.
package envconfig

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Reader reads settings through a getenv function (os.Getenv in main, a map
// in tests).
type Reader struct {
	getenv func(string) string
	errs   []error
}

// New returns a Reader over getenv.
func New(getenv func(string) string) *Reader { return &Reader{getenv: getenv} }

// String returns the variable, or def when it is unset or empty.
func (r *Reader) String(name, def string) string {
	if v := r.getenv(name); v != "" {
		return v
	}
	return def
}

// Int returns the variable as an integer, or def.
func (r *Reader) Int(name string, def int) int {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not a whole number", name, v))
		return def
	}
	return n
}

// Duration returns the variable as a Go duration ("90s", "5m"), or def.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not a duration like 90s or 5m", name, v))
		return def
	}
	return d
}

// Bool returns the variable as a boolean ("true", "1", "false", "0"), or def.
func (r *Reader) Bool(name string, def bool) bool {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not true or false", name, v))
		return def
	}
	return b
}

// Required returns the variable, recording an error when it is unset.
func (r *Reader) Required(name string) string {
	v := r.getenv(name)
	if v == "" {
		r.errs = append(r.errs, fmt.Errorf("%s must be set", name))
	}
	return v
}

// Fail records a problem found while checking a value.
func (r *Reader) Fail(name, problem string) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, problem))
}

// Err returns every problem found so far, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("configuration: %w", errors.Join(r.errs...))
}

// Secret returns a secret setting: the variable name itself, or else the
// content of the file named by name+"_FILE" (trailing new lines removed),
// which is how container secret stores hand secrets over (Docker and
// Kubernetes mount them as files). Setting both is an error, as it is
// unclear which was meant. The value is never repeated in an error.
func (r *Reader) Secret(name string) string {
	v, file := r.getenv(name), r.getenv(name+"_FILE")
	switch {
	case v != "" && file != "":
		r.errs = append(r.errs, fmt.Errorf("%s and %s_FILE are both set: set one", name, name))
		return ""
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("%s_FILE: %w", name, err))
			return ""
		}
		return strings.TrimRight(string(b), "\r\n")
	}
	return v
}

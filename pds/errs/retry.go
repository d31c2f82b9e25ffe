package errs

import (
	"fmt"
	"time"
)

// Retry is an ErrRateLimited refusal that says when to try again; the HTTP
// edge turns After into a Retry-After header.
type Retry struct {
	Err   *Error
	After time.Duration
}

func (r *Retry) Error() string { return r.Err.Error() }

// Unwrap returns the *Error, so errors.Is(err, ErrRateLimited) holds.
func (r *Retry) Unwrap() error { return r.Err }

// RateLimited is an ErrRateLimited error that may be retried after wait.
func RateLimited(wait time.Duration, format string, args ...any) error {
	return &Retry{Err: New(ErrRateLimited, "%s", fmt.Sprintf(format, args...)), After: wait}
}

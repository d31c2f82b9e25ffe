package errs

import (
	"errors"
	"fmt"
)

// Kinds of failure. Test with errors.Is(err, errs.ErrRepoNotFound).
var (
	ErrInvalidRequest     = errors.New("invalid request")
	ErrRepoNotFound       = errors.New("repo not found")
	ErrRecordNotFound     = errors.New("record not found")
	ErrBlobNotFound       = errors.New("blob not found")
	ErrBlockNotFound      = errors.New("block not found")
	ErrHandleNotFound     = errors.New("handle not found")
	ErrAccountDeactivated = errors.New("account deactivated")
	ErrRepoDeactivated    = errors.New("repo deactivated")
	ErrAccountTakedown    = errors.New("account taken down")
	ErrInvalidRecord      = errors.New("invalid record")
	ErrInvalidSwap        = errors.New("swap check failed")
	ErrInvalidHandle      = errors.New("invalid handle")
	ErrHandleNotAvailable = errors.New("handle not available")
	ErrUnsupportedDomain  = errors.New("unsupported domain")
	ErrInvalidEmail       = errors.New("invalid email")
	ErrInvalidInviteCode  = errors.New("invalid invite code")
	ErrInvalidMimeType    = errors.New("invalid MIME type")
	ErrInvalidSize        = errors.New("invalid blob size")
	ErrBlobTooLarge       = errors.New("blob too large")
	ErrBadExpiration      = errors.New("bad expiration")
	ErrAuthRequired       = errors.New("authentication required")
	ErrForbidden          = errors.New("forbidden") // authenticated, but not allowed (another account's repo)
	ErrExpiredToken       = errors.New("expired token")
	ErrInvalidToken       = errors.New("invalid token")
	ErrRateLimited        = errors.New("rate limited")
	ErrUpstreamFailure    = errors.New("upstream failure")
	ErrDiskFull           = errors.New("disk full")
	ErrReadOnlyDisk       = errors.New("read-only disk")
	// ErrFolderInUse: another process holds the data folder's lock.
	ErrFolderInUse = errors.New("data folder in use")
	// ErrDataDamaged: stored data is missing or fails a check at start-up
	// (the database, an account's head commit, the data key).
	ErrDataDamaged = errors.New("data damaged")
)

// Kinds lists every kind above, for tables that must cover them all.
var Kinds = []error{
	ErrInvalidRequest, ErrRepoNotFound, ErrRecordNotFound, ErrBlobNotFound, ErrBlockNotFound,
	ErrHandleNotFound, ErrAccountDeactivated, ErrRepoDeactivated, ErrAccountTakedown, ErrInvalidRecord,
	ErrInvalidSwap, ErrInvalidHandle, ErrHandleNotAvailable, ErrUnsupportedDomain, ErrInvalidEmail,
	ErrInvalidInviteCode, ErrInvalidMimeType, ErrInvalidSize, ErrBlobTooLarge, ErrBadExpiration,
	ErrAuthRequired, ErrForbidden, ErrExpiredToken, ErrInvalidToken, ErrRateLimited, ErrUpstreamFailure,
	ErrDiskFull, ErrReadOnlyDisk, ErrFolderInUse, ErrDataDamaged,
}

// Error is a failure of a known kind with a message for the caller.
type Error struct {
	Kind    error  // one of the Err… sentinels
	Message string // safe to show to whoever made the request
	Err     error  // the cause, for logs and errors.Is/As; never shown
}

// Error is the caller-facing message (the desktop window shows it as is);
// the kind is reached with errors.Is and the cause with errors.Unwrap.
func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Kind.Error()
}

// Is makes errors.Is(err, kind) true for the error's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New builds an Error of kind with a formatted message.
func New(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap is New keeping err as the (unshown) cause.
func Wrap(kind error, err error, format string, args ...any) *Error {
	e := New(kind, format, args...)
	e.Err = err
	return e
}

// Invalid is an ErrInvalidRequest.
func Invalid(format string, args ...any) *Error { return New(ErrInvalidRequest, format, args...) }

// RepoNotFound is the one message for a repo that is not hosted here.
func RepoNotFound(repo string) *Error {
	return New(ErrRepoNotFound, "Could not find repo: %s", repo)
}

// Message returns the caller-facing message of err when it is an *Error
// ("" otherwise).
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return ""
}

// Prefix adds context to the message of err when it is an *Error (for
// example which write of a batch failed) and returns err.
func Prefix(err error, format string, args ...any) error {
	var e *Error
	if errors.As(err, &e) {
		e.Message = fmt.Sprintf(format, args...) + e.Message
	}
	return err
}

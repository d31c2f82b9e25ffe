// Package apierr defines the errors the engine returns to callers: an XRPC
// error name (as the reference PDS uses them), a human message and the HTTP
// status the XRPC layer sends.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an error a client can act on.
type Error struct {
	Name    string // XRPC error name, e.g. "InvalidRequest"
	Message string
	Status  int // HTTP status
	Err     error
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New builds an Error.
func New(status int, name, format string, args ...any) *Error {
	return &Error{Name: name, Message: fmt.Sprintf(format, args...), Status: status}
}

// Wrap builds an Error that keeps err as its cause.
func Wrap(err error, status int, name, format string, args ...any) *Error {
	e := New(status, name, format, args...)
	e.Err = err
	return e
}

// Invalid is a 400 InvalidRequest.
func Invalid(format string, args ...any) *Error {
	return New(http.StatusBadRequest, "InvalidRequest", format, args...)
}

// From returns err as an *Error, or a 500 InternalServerError wrapping it.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Name: "InternalServerError", Message: "Internal Server Error", Status: http.StatusInternalServerError, Err: err}
}

package xrpc

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hearth-pds/hearth/pds/errs"
)

// Kinds of failure that only the HTTP edge produces.
var (
	errMethodNotImplemented = errors.New("method not implemented")
	errMethodNotAllowed     = errors.New("wrong HTTP method")
	errPayloadTooLarge      = errors.New("request body too large")
	errAuthMissing          = errors.New("no credentials")
	errNotFound             = errors.New("not found")
	errBodyTimeout          = errors.New("request body too slow")
)

// xrpcError is how a kind of failure is answered: the XRPC error name and
// the HTTP status.
type xrpcError struct {
	name   string
	status int
}

// errorMap is the one table from error kinds to XRPC answers. An error of
// no listed kind is internal: logged, and answered 500 with no details.
var errorMap = map[error]xrpcError{
	errs.ErrInvalidRequest:     {"InvalidRequest", http.StatusBadRequest},
	errs.ErrRepoNotFound:       {"RepoNotFound", http.StatusBadRequest},
	errs.ErrRecordNotFound:     {"RecordNotFound", http.StatusBadRequest},
	errs.ErrBlobNotFound:       {"BlobNotFound", http.StatusBadRequest},
	errs.ErrBlockNotFound:      {"BlockNotFound", http.StatusBadRequest},
	errs.ErrHandleNotFound:     {"HandleNotFound", http.StatusBadRequest},
	errs.ErrAccountDeactivated: {"AccountDeactivated", http.StatusUnauthorized}, // as the reference PDS (tests/migrate)
	errs.ErrRepoDeactivated:    {"RepoDeactivated", http.StatusBadRequest},
	errs.ErrAccountTakedown:    {"AccountTakedown", http.StatusUnauthorized},
	errs.ErrInvalidRecord:      {"InvalidRecord", http.StatusBadRequest},
	errs.ErrInvalidSwap:        {"InvalidSwap", http.StatusBadRequest},
	errs.ErrInvalidHandle:      {"InvalidHandle", http.StatusBadRequest},
	errs.ErrHandleNotAvailable: {"HandleNotAvailable", http.StatusBadRequest},
	errs.ErrUnsupportedDomain:  {"UnsupportedDomain", http.StatusBadRequest},
	errs.ErrInvalidEmail:       {"InvalidEmail", http.StatusBadRequest},
	errs.ErrInvalidInviteCode:  {"InvalidInviteCode", http.StatusBadRequest},
	errs.ErrInvalidMimeType:    {"InvalidMimeType", http.StatusBadRequest},
	errs.ErrInvalidSize:        {"InvalidSize", http.StatusBadRequest},
	errs.ErrBlobTooLarge:       {"BlobTooLarge", http.StatusRequestEntityTooLarge},
	errs.ErrBadExpiration:      {"BadExpiration", http.StatusBadRequest},
	errs.ErrAuthRequired:       {"AuthenticationRequired", http.StatusUnauthorized},
	errs.ErrForbidden:          {"Forbidden", http.StatusForbidden},
	errs.ErrExpiredToken:       {"ExpiredToken", http.StatusBadRequest},
	errs.ErrInvalidToken:       {"InvalidToken", http.StatusBadRequest},
	errs.ErrRateLimited:        {"RateLimitExceeded", http.StatusTooManyRequests},
	errs.ErrUpstreamFailure:    {"UpstreamFailure", http.StatusBadGateway},
	errs.ErrDiskFull:           {"DiskFull", http.StatusInsufficientStorage},
	errs.ErrReadOnlyDisk:       {"ReadOnlyDisk", http.StatusInsufficientStorage},
	errs.ErrFolderInUse:        {"ServiceUnavailable", http.StatusServiceUnavailable},
	errs.ErrDataDamaged:        {"ServiceUnavailable", http.StatusServiceUnavailable},

	errMethodNotImplemented: {"MethodNotImplemented", http.StatusNotImplemented},
	errMethodNotAllowed:     {"InvalidRequest", http.StatusMethodNotAllowed},
	errPayloadTooLarge:      {"PayloadTooLarge", http.StatusRequestEntityTooLarge},
	errAuthMissing:          {"AuthMissing", http.StatusUnauthorized},
	errNotFound:             {"NotFound", http.StatusNotFound},
	errBodyTimeout:          {"InvalidRequest", http.StatusRequestTimeout},
}

var internalError = xrpcError{"InternalServerError", http.StatusInternalServerError}

// answer maps err to its XRPC answer and the message to send. ok is false
// for internal errors, whose message is generic.
func answer(err error) (xe xrpcError, message string, ok bool) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorMap[errPayloadTooLarge], fmt.Sprintf("request body is larger than %d bytes", mbe.Limit), true
	}
	var e *errs.Error
	if errors.As(err, &e) {
		if xe, ok := errorMap[e.Kind]; ok {
			msg := e.Message
			if msg == "" {
				msg = xe.name
			}
			return xe, msg, true
		}
	}
	for kind, xe := range errorMap {
		if errors.Is(err, kind) {
			return xe, xe.name, true
		}
	}
	return internalError, "Internal Server Error", false
}

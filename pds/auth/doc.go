// Package auth provides password hashing (argon2id), the session JWTs Hearth
// issues (HS256, access and refresh, with atproto's scopes) and a failed-login
// throttle. Token storage (refresh-token rotation) lives in the engine.
package auth

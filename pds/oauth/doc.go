// Package oauth is Hearth's OAuth authorization server, the atproto
// profile of OAuth 2.1: metadata documents, pushed authorization requests
// (PAR), the sign-in and consent page, the token endpoint
// (authorization_code with PKCE S256, rotating refresh tokens), revocation,
// DPoP proofs (ES256, server nonces, a jti replay cache) and the scopes a
// grant carries. It owns the oauth_* tables.
//
// Like pds/firehose it is part of the HTTP edge: pds/xrpc mounts its
// handlers (Server.Routes) and asks it to check DPoP-bound access tokens on
// resource requests (Server.AuthenticateResource). Client metadata
// documents are fetched through the outbound policy (pds/outbound).
package oauth

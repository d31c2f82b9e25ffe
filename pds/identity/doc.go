// Package identity owns what the network is told about who an account is and
// where it lives: the PDS's public URL, did:plc operations (signed, queued and
// published to the PLC directory in order), did:web endpoints, DID documents,
// handle resolution and verification, and the service-auth tokens and
// service endpoints used to talk to other atproto services.
package identity

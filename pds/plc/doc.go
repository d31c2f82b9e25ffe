// Package plc builds, signs and publishes did:plc operations for a PDS
// account.
//
// A DID is fixed by its signed genesis operation ([GenesisOp]), so an account
// can be created offline and published to a PLC directory later with
// [Client.Submit]. Later changes (handle, PDS endpoint, extra rotation keys)
// are [UpdateOp]s that point at the CID ([OpCID]) of the previous operation
// and are signed by one of its rotation keys.
//
// Operation encoding, CIDs, DIDs and signatures come from
// github.com/did-method-plc/go-didplc, so they match what the directory
// computes.
package plc

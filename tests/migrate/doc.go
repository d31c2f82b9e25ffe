// Package migrate holds the end-to-end account migration test: an account
// moves from the reference PDS (@atproto/pds, tests/refpds) into a real
// hearthd and out again to a second reference PDS, both times with goat
// (`goat account migrate`), against a local did:plc directory. It is driven
// by scripts/test-migrate.sh (make test-migrate), which builds goat and
// installs the reference PDS. The package has no code besides its tests.
package migrate

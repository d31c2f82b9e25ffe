// Package outbox keeps the tokens the reference PDS would send by email:
// Hearth has no mail server, so a PLC operation signature token, an email
// confirmation or update code, a password reset code or an account deletion
// code is written here, one live token per account and purpose, with an
// expiry. The owner reads them in the desktop window or with
// `hearthd outbox list`, which reads the database over its own read-only
// connection (ListFile) while another process serves the folder.
package outbox

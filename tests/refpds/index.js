// Starts the reference PDS (@atproto/pds, pinned in package-lock.json) with
// its configuration from the environment (PDS_* variables, read by the
// package's own readEnv), for tests/migrate. It prints one line
// "refpds listening on http://localhost:PORT" once it answers, and stops on
// SIGTERM or SIGINT.
//
// Minimal environment (tests/migrate sets all of it):
//   PDS_HOSTNAME=localhost          public URL http://localhost:PDS_PORT,
//                                   handles under .test
//   PDS_PORT                        a free loopback port
//   PDS_SERVICE_DID                 the audience of service auth
//   PDS_JWT_SECRET, PDS_ADMIN_PASSWORD
//   PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX
//   PDS_DATA_DIRECTORY, PDS_BLOBSTORE_DISK_LOCATION   in a temp folder
//   PDS_DID_PLC_URL                 the local PLC directory
//   PDS_DEV_MODE=true               (http, no SSRF protection for loopback)
//   PDS_INVITE_REQUIRED=false
//   PDS_BSKY_APP_VIEW_URL, PDS_BSKY_APP_VIEW_DID  (without an AppView the
//                                   reference refuses app.bsky.actor.*Preferences)
// Without PDS_EMAIL_SMTP_URL the reference "sends" mail to a JSON transport
// (nothing leaves the process); the tokens it would email stay in its
// account database (account.sqlite, table email_token), where the test
// reads them.
'use strict'

async function main() {
  const { PDS, readEnv, envToCfg, envToSecrets } = await import('@atproto/pds')
  const env = readEnv()
  const pds = await PDS.create(envToCfg(env), envToSecrets(env))
  await pds.start()
  process.stdout.write(`refpds listening on ${pds.ctx.cfg.service.publicUrl}\n`)
  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    try {
      await pds.destroy()
    } finally {
      process.exit(0)
    }
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err) => {
  process.stderr.write(`refpds: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})

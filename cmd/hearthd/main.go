package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/crawl"
	"github.com/hearth-pds/hearth/pds/edge"
	"github.com/hearth-pds/hearth/pds/firehose"
	"github.com/hearth-pds/hearth/pds/identity"
	"github.com/hearth-pds/hearth/pds/outbound"
	"github.com/hearth-pds/hearth/pds/reach"
	"github.com/hearth-pds/hearth/pds/secrets"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hearthd:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  hearthd serve --data-dir DIR --listen 127.0.0.1:PORT --public-url URL [--plc-url URL]
  hearthd account create --data-dir DIR --handle HANDLE --password PASSWORD [--email EMAIL] [--public-url URL] [--did-web DOMAIN]
  hearthd invite create --data-dir DIR [--uses N]
  hearthd verify --data-dir DIR [--json]
  hearthd recovery-key create --data-dir DIR [--handle HANDLE]
  hearthd account recovery-key --data-dir DIR --did DID   (Hearth's rotation key for the account)
  hearthd outbox list --data-dir DIR [--did DID]   (tokens the reference would email; one JSON per line)
  hearthd backup create --data-dir DIR --out FILE --passphrase-file PASSFILE
  hearthd backup restore --in FILE --data-dir NEWDIR --passphrase-file PASSFILE [--key-store auto|keyring|file]
  hearthd export --data-dir DIR --out PATH   (a folder, or a .zip)
  hearthd devnet --data-dir DIR [--listen 127.0.0.1:PORT] [--plc-listen ADDR] [--seed N]
      an offline developer network: PLC directory + PDS (open sign-up for *.test) + /subscribe;
      prints {"pds","plc","jetstream",…} as one JSON line on stdout, then logs on stderr
Every flag may also be set as HEARTH_<NAME> (e.g. HEARTH_DATA_DIR).
One process at a time owns a data folder: while hearthd serve (or the desktop
app) runs on DIR, other commands on DIR stop with "in use by ... (pid N)";
backup create and outbox list are the exceptions: they only read, and work
while DIR is in use.`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) >= 1 && args[0] == "serve":
		return serve(ctx, args[1:], stderr)
	case len(args) >= 2 && args[0] == "account" && args[1] == "create":
		return accountCreate(ctx, args[2:], stdout, stderr)
	case len(args) >= 2 && args[0] == "invite" && args[1] == "create":
		return inviteCreate(ctx, args[2:], stdout, stderr)
	case len(args) >= 2 && args[0] == "outbox" && args[1] == "list":
		return outboxList(ctx, args[2:], stdout)
	case len(args) >= 2 && args[0] == "account" && args[1] == "recovery-key":
		return accountRecoveryKey(ctx, args[2:], stdout, stderr)
	case len(args) >= 2 && args[0] == "recovery-key" && args[1] == "create":
		return recoveryKeyCreate(ctx, args[2:], stdout, stderr)
	case len(args) >= 2 && args[0] == "backup" && args[1] == "create":
		return backupCreate(ctx, args[2:], stdout, stderr)
	case len(args) >= 2 && args[0] == "backup" && args[1] == "restore":
		return backupRestore(ctx, args[2:], stdout, stderr)
	case len(args) >= 1 && args[0] == "export":
		return exportCmd(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "devnet":
		return devnet(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "verify":
		return verify(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		_, err := fmt.Fprintln(stdout, usage)
		return err
	}
	if _, err := fmt.Fprintln(stderr, usage); err != nil {
		return err
	}
	return errors.New("unknown command (usage above)")
}

// parseFlags parses args, then fills every flag not given on the command
// line from its HEARTH_* environment variable.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
		}
	})
	return err
}

// envName is the environment variable for flag name: HEARTH_ and the name
// in upper case with dashes as underscores.
func envName(name string) string {
	return "HEARTH_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// given reports whether the user set flag name, on the command line or
// through its HEARTH_* variable, rather than leaving its default.
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	_, env := os.LookupEnv(envName(name))
	return set || env
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

type engineFlags struct {
	dataDir, publicURL, plcURL, logLevel string
	appViewURL, appViewDID               string
	keyStore                             string
	userDomains, privacyPolicy           string
	termsOfService, contactEmail         string
	blobLimit                            int64
	allowPrivateNetwork                  bool
}

func (f *engineFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory (database and blobs)")
	fs.StringVar(&f.publicURL, "public-url", "", "URL the PDS is reachable at, e.g. https://pds.example.com")
	fs.StringVar(&f.plcURL, "plc-url", pds.DefaultPLCURL, "did:plc directory URL")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Int64Var(&f.blobLimit, "blob-limit", 100<<20, "largest accepted blob in bytes")
	fs.StringVar(&f.appViewURL, "appview-url", identity.DefaultAppViewURL, "AppView that app.bsky.* calls are proxied to")
	fs.StringVar(&f.keyStore, "key-store", secrets.StoreAuto, "where a new data folder's data key (which encrypts the private keys) is kept: auto (the OS keyring if one answers, else DIR/keys/data.key), keyring, or file (DIR/keys/data.key, for headless servers)")
	fs.StringVar(&f.appViewDID, "appview-did", identity.DefaultAppViewDID, "the AppView's service DID, bare (did:web:api.bsky.app) or with its #id (the audience of service auth)")
	fs.StringVar(&f.userDomains, "user-domains", "", "comma-separated handle domains this server offers, e.g. .test (default: the public hostname); a handle under one needs no DNS record")
	fs.StringVar(&f.privacyPolicy, "privacy-policy-url", "", "privacy policy link reported by describeServer")
	fs.StringVar(&f.termsOfService, "terms-of-service-url", "", "terms of service link reported by describeServer")
	fs.StringVar(&f.contactEmail, "contact-email", "", "contact email reported by describeServer")
	fs.BoolVar(&f.allowPrivateNetwork, "allow-private-network", false, "let fetches of URLs from outside (DID documents, handles, proxy targets) reach loopback and private addresses; only for offline development networks")
}

func (f *engineFlags) open(ctx context.Context, log *slog.Logger) (*pds.Engine, error) {
	if f.dataDir == "" {
		return nil, errors.New("--data-dir (or HEARTH_DATA_DIR) is required")
	}
	return pds.Open(ctx, pds.Config{
		DataDir: f.dataDir, PublicURL: f.publicURL, PLCURL: f.plcURL, BlobLimit: f.blobLimit,
		Logger: log, HandleResolver: identity.NewNetworkHandleResolver(outbound.Policy{AllowPrivateNetwork: f.allowPrivateNetwork}),
		AppViewURL: f.appViewURL, AppViewDID: f.appViewDID, AllowPrivateNetwork: f.allowPrivateNetwork, KeyStore: f.keyStore,
		UserDomains: splitList(f.userDomains), PrivacyPolicyURL: f.privacyPolicy, TermsOfServiceURL: f.termsOfService, ContactEmail: f.contactEmail,
	})
}

func serve(ctx context.Context, args []string, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var ef engineFlags
	ef.register(fs)
	listen := fs.String("listen", "127.0.0.1:2583", "address to listen on")
	relays := fs.String("relays", strings.Join(crawl.DefaultRelays, ","), "comma-separated relays to ask for a crawl (empty: none); the default ones only when the public URL is not local, relays given here always")
	retention := fs.Duration("event-retention", 72*time.Hour, "how long firehose events are kept for replay")
	maxEvents := fs.Int64("event-max", 1_000_000, "how many firehose events are kept at most")
	zstdDict := fs.String("jetstream-zstd-dictionary", "", "Jetstream's zstd dictionary file (pkg/models/zstd_dictionary in github.com/bluesky-social/jetstream): /subscribe then compresses for subscribers that ask")
	cpuProfile := fs.String("cpu-profile", "", "write a Go CPU profile of the whole run to this file; {pid} in the name becomes the process id (for performance work)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if ef.publicURL == "" {
		return errors.New("--public-url (or HEARTH_PUBLIC_URL) is required")
	}
	log := newLogger(stderr, ef.logLevel)
	if ef.allowPrivateNetwork {
		log.Warn("outbound fetches may reach loopback and private addresses (--allow-private-network)")
	}
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer func() {
			if perr := stopProfile(); perr != nil {
				err = errors.Join(err, perr)
			}
		}()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := ef.open(ctx, log)
	if err != nil {
		return err
	}
	defer closeInto(&err, "engine", e)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	dict, err := readOptionalFile(*zstdDict)
	if err != nil {
		return err
	}
	h, err := xrpc.New(e, xrpc.Options{Firehose: firehose.Config{Retention: *retention, MaxEvents: *maxEvents}, JetstreamZstdDictionary: dict})
	if err != nil {
		return err
	}
	defer h.Close()
	srv := edge.NewServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("hearthd ready", "listen", ln.Addr().String(), "public_url", e.Identity.PublicURL(), "data_dir", ef.dataDir)
	// The reachability supervisor: announces to the relays now, again
	// after a wake or a network change, and whenever a relay is found not
	// subscribed (backoff capped at 60 s).
	sup := reach.New(reach.Config{Relays: relayList(*relays, given(fs, "relays")), Log: log,
		Subscribers: func() int { return h.Firehose().Stats().Subscribers }})
	defer sup.Close()
	announce(sup, e.Identity.PublicURL(), log)
	return serveUntilDone(ctx, srv, errc, log)
}

// serveUntilDone waits until the server fails (errc) or ctx ends (a
// signal), then shuts the server down gracefully within 10 s.
func serveUntilDone(ctx context.Context, srv *http.Server, errc <-chan error, log *slog.Logger) error {
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	return nil
}

// relayList turns --relays into the supervisor's relays: explicit (asked
// even for a local or private public URL) when the operator set --relays or
// HEARTH_RELAYS, else the defaults, which crawl.ShouldAsk keeps to public
// hosts.
func relayList(relays string, explicit bool) []reach.Relay {
	var out []reach.Relay
	for _, r := range strings.Split(relays, ",") {
		if strings.TrimSpace(r) != "" {
			out = append(out, reach.Relay{URL: r, Explicit: explicit})
		}
	}
	return out
}

// announce hands the public URL to the supervisor (the hostname is its host
// with the port when there is one) and logs which relays it will not ask.
// It returns whether any relay is asked.
func announce(sup *reach.Supervisor, publicURL string, log *slog.Logger) bool {
	if err := sup.SetHost(publicURL); err != nil {
		log.Warn("not asking relays to crawl: no host in the public URL", "public_url", publicURL, "err", err)
		return false
	}
	asked := false
	for _, st := range sup.Status() {
		if st.State == reach.StateIdle {
			log.Info("public URL is local: not asking the default relays to crawl (name relays with --relays to ask them anyway)", "relay", st.Relay, "hostname", st.Hostname)
		} else {
			asked = true
		}
	}
	return asked
}

func accountCreate(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("account create", flag.ContinueOnError)
	var ef engineFlags
	ef.register(fs)
	handle := fs.String("handle", "", "the account's handle, e.g. alice.example.com")
	password := fs.String("password", "", "the account's password (8 characters or more)")
	email := fs.String("email", "", "optional email address")
	didWeb := fs.String("did-web", "", "use did:web:DOMAIN instead of did:plc (you must own DOMAIN and point it at this PDS)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if ef.dataDir == "" {
		return errors.New("--data-dir (or HEARTH_DATA_DIR) is required")
	}
	if ef.publicURL == "" {
		return errors.New("--public-url (or HEARTH_PUBLIC_URL) is required: it goes into the new DID document")
	}
	log := newLogger(stderr, "warn")
	e, err := ef.open(ctx, log)
	if err != nil {
		return err
	}
	defer closeInto(&err, "engine", e)
	acc, err := e.CreateAccount(ctx, pds.NewAccount{Handle: *handle, Password: *password, Email: *email, DIDWeb: *didWeb})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, acc.DID)
	return err
}

func inviteCreate(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("invite create", flag.ContinueOnError)
	var ef engineFlags
	ef.register(fs)
	uses := fs.Int("uses", 1, "how many accounts the code may create")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if ef.publicURL == "" {
		ef.publicURL = "http://localhost"
	}
	e, err := ef.open(ctx, newLogger(stderr, "warn"))
	if err != nil {
		return err
	}
	defer closeInto(&err, "engine", e)
	code, err := e.Accounts.CreateInviteCode(ctx, *uses)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, code)
	return err
}

// errProblemsFound makes `hearthd verify` exit non-zero after its report.
var errProblemsFound = errors.New("verification found problems (report above)")

// verify checks everything in the data folder and prints the report (one
// JSON object with --json); it fails when something is wrong.
func verify(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	var ef engineFlags
	ef.register(fs)
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if ef.publicURL == "" {
		ef.publicURL = "http://localhost"
	}
	e, err := ef.open(ctx, newLogger(stderr, "warn"))
	if err != nil {
		return err
	}
	defer closeInto(&err, "engine", e)
	rep, err := e.Verify(ctx, func(step string) {
		if !*asJSON {
			_, _ = fmt.Fprintf(stderr, "checking %s…\n", step) // progress only
		}
	})
	if err != nil {
		return err
	}
	if *asJSON {
		err = json.NewEncoder(stdout).Encode(rep)
	} else {
		_, err = io.WriteString(stdout, rep.String())
	}
	if err != nil {
		return err
	}
	if !rep.OK {
		return errProblemsFound
	}
	return nil
}

// recoveryKeyCreate makes a recovery key that outranks Hearth's own
// rotation key and prints its private half, once: Hearth does not keep it.
func recoveryKeyCreate(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("recovery-key create", flag.ContinueOnError)
	var ef engineFlags
	ef.register(fs)
	handle := fs.String("handle", "", "the account (needed when the folder holds more than one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	e, err := ef.open(ctx, newLogger(stderr, "warn"))
	if err != nil {
		return err
	}
	defer closeInto(&err, "engine", e)
	accs, err := e.Accounts.List(ctx)
	if err != nil {
		return err
	}
	var acc *accounts.Account
	for i := range accs {
		if *handle == "" && len(accs) == 1 || accs[i].Handle.String() == strings.TrimPrefix(*handle, "@") {
			acc = &accs[i]
		}
	}
	if acc == nil {
		return fmt.Errorf("no account %q here: give --handle of one of the %d accounts", *handle, len(accs))
	}
	priv, didKey, err := e.Identity.CreateRecoveryKey(ctx, acc.DID)
	if err != nil {
		return err
	}
	st, err := e.Identity.PLCStatus(ctx, acc.DID)
	if err != nil {
		return err
	}
	published := "The PLC directory has the update."
	if st.Pending > 0 {
		published = "The update to your DID is queued: it reaches the PLC directory the next time Hearth runs online (hearthd serve or the app)."
	}
	_, err = fmt.Fprintf(stdout, `Recovery key for %s (%s)
private key (secp256k1, hex): %s
public key: %s

This is the only time it is shown: Hearth does not keep it. Store it offline
(a password manager or paper). It ranks above Hearth's own key, so with it
you can take your identity back within 72 hours of any change, and move it
to another server without this machine. %s
`, acc.Handle, acc.DID, priv, didKey, published)
	return err
}

// closeInto closes c and adds a failure to *err (for deferred closes of
// things whose Close can lose data, such as the engine's database).
func closeInto(err *error, what string, c io.Closer) {
	if cerr := c.Close(); cerr != nil {
		*err = errors.Join(*err, fmt.Errorf("close %s: %w", what, cerr))
	}
}

// startCPUProfile profiles the process until the returned func is called.
func startCPUProfile(path string) (func() error, error) {
	path = strings.ReplaceAll(path, "{pid}", strconv.Itoa(os.Getpid()))
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, errors.Join(fmt.Errorf("cpu profile: %w", err), f.Close())
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		return nil
	}, nil
}

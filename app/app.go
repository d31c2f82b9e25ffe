package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/edge"
	"github.com/hearth-pds/hearth/pds/identity"
	"github.com/hearth-pds/hearth/pds/outbound"
	"github.com/hearth-pds/hearth/pds/repos"
	"github.com/hearth-pds/hearth/pds/secrets"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

// UI is what the app needs from the window: events to the frontend and
// native file dialogs. The Wails runtime implements it in main.go.
type UI interface {
	Emit(event string, data any)
	SaveFile(title, defaultName string) (string, error)
	OpenFile(title, pattern string) (string, error)
}

// Config configures the app.
type Config struct {
	DataDir string // default: $XDG_DATA_HOME/hearth (~/.local/share/hearth)
	PLCURL  string // default: the public PLC directory
	Port    int    // loopback port for the PDS; 0 = remembered or free
	Logger  *slog.Logger
	// HandleResolver checks domain handles (default: DNS and HTTPS).
	HandleResolver identity.HandleResolver
	// KeyStore is where a new folder's data key is kept (pds.Config.KeyStore;
	// default: the OS keyring when it answers, else a 0600 file).
	KeyStore string
	// AllowPrivateNetwork lifts the outbound address rule (DID documents,
	// handles and proxy targets on loopback or the LAN), for offline
	// development networks; main.go sets it from
	// HEARTH_ALLOW_PRIVATE_NETWORK.
	AllowPrivateNetwork bool
	// Keyring keeps the backup passphrase (default: the OS keyring).
	Keyring secrets.Keyring
	// UserDomains are the handle domains this PDS offers (pds.Config;
	// main.go reads HEARTH_USER_DOMAINS, comma-separated, e.g. ".test").
	UserDomains []string
	// AppViewURL and AppViewDID, when set (main.go reads HEARTH_APPVIEW_URL
	// and HEARTH_APPVIEW_DID), win over the AppView saved in the Settings
	// screen, which then shows them read-only (appview.go).
	AppViewURL, AppViewDID string
	// AutostartDir is where the start-at-login entry file goes (tests;
	// default: the system's folder, see app/autostart).
	AutostartDir string
	// OutsideCheckEvery is how often the outside check runs while
	// publishing (default 5 minutes; it also runs after every change).
	OutsideCheckEvery time.Duration
}

// EnvFlag reads a boolean environment variable ("1", "true", …); unset or
// unparsable is false.
func EnvFlag(name string) bool {
	v, err := strconv.ParseBool(strings.TrimSpace(os.Getenv(name)))
	return err == nil && v
}

// DefaultDataDir follows the XDG base directory spec.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "hearth")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "hearth-data"
	}
	return filepath.Join(home, ".local", "share", "hearth")
}

// App is bound to the frontend.
type App struct {
	cfg  Config
	log  *slog.Logger
	logs *LogRing // recent log records, for the log viewer

	mu      sync.Mutex
	ui      UI
	engine  *pds.Engine
	server  *xrpc.Server
	httpSrv *http.Server
	dataDir string
	url     string
	carView *repos.ParsedCAR // a CAR opened read-only
	carPath string
	pub     *publisher
	saveErr error // the last desktop.json save's failure (settingsProblem)
	// openErr is why the engine did not open (the folder is in use by
	// another Hearth process, its data is damaged): the window shows it.
	openErr error
	// quitting is set by a deliberate quit (the app menu, "Stop and
	// quit"): closing the window then never asks (BeforeClose).
	quitting bool
	bk       backups // scheduled backups (backup.go)
	// ngrokOK is the last ngrok authtoken CheckNgrokToken accepted
	// (StartPublishing does not check it a second time).
	ngrokOK string
	// ngrokMask is the keyring entry of the saved ngrok authtoken and the
	// token masked for the Publish form (ngrok_token.go).
	ngrokMask [2]string
	move      moveRunner // the Move in / Move out wizards (move.go)
}

// New returns an app; call Start to open the engine.
func New(cfg Config) *App {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Everything logged goes on as before and is also kept for the log
	// viewer (app/logring.go).
	logs := NewLogRing(DefaultLogLines)
	cfg.Logger = slog.New(logs.Handler(cfg.Logger.Handler()))
	return &App{cfg: cfg, log: cfg.Logger, logs: logs}
}

func (a *App) emit(event string, data any) {
	a.mu.Lock()
	ui := a.ui
	a.mu.Unlock()
	if ui != nil {
		ui.Emit(event, data)
	}
}

// settings are kept in desktop.json in the data folder (mode 0600; it may
// hold the ngrok authtoken).
type settings struct {
	Port           int    `json:"port"`
	Tunnel         string `json:"tunnel,omitempty"`
	NgrokAuthtoken string `json:"ngrokAuthtoken,omitempty"` // only without an OS keyring (ngrok_token.go)
	// NgrokTokenEntry names the OS keyring entry holding the authtoken.
	NgrokTokenEntry string   `json:"ngrokTokenEntry,omitempty"`
	NgrokDomain     string   `json:"ngrokDomain,omitempty"`
	BYOURL          string   `json:"byoURL,omitempty"`
	Relays          []string `json:"relays,omitempty"`
	// AppViewURL and AppViewDID are the AppView chosen in Settings ("" =
	// the default); see appview.go.
	AppViewURL string `json:"appViewURL,omitempty"`
	AppViewDID string `json:"appViewDID,omitempty"`
}

const settingsFile = "desktop.json"

// loadSettings reads desktop.json. A missing file is a first run (zero
// settings, no error); a file that cannot be read or parsed is an error, and
// the caller must then not save over it: it may hold the user's authtoken
// and tunnel choice, which defaults would silently lose.
func loadSettings(dir string) (settings, error) {
	var s settings
	path := filepath.Join(dir, settingsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return settings{}, fmt.Errorf("read desktop settings: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return settings{}, fmt.Errorf("desktop settings %s are not valid JSON (left untouched; fix or remove the file, then restart Hearth): %w", path, err)
	}
	return s, nil
}

func saveSettings(dir string, s settings) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode desktop settings: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, settingsFile), b, 0o600); err != nil {
		return fmt.Errorf("save desktop settings: %w", err)
	}
	return nil
}

// settingsSaved records the outcome of a save for the status panel (see
// settingsProblem) and logs a failure.
func (a *App) settingsSaved(err error) {
	if err != nil {
		a.log.Error("desktop settings not saved", "err", err)
	}
	a.mu.Lock()
	a.saveErr = err
	a.mu.Unlock()
}

// settingsProblem says what is wrong with desktop.json, "" if nothing: it
// cannot be read or parsed (checked afresh, so fixing the file clears it), or
// the last save failed.
func (a *App) settingsProblem() string {
	a.mu.Lock()
	dir, saveErr := a.dataDir, a.saveErr
	a.mu.Unlock()
	if dir != "" {
		if _, err := loadSettings(dir); err != nil {
			return err.Error()
		}
	}
	if saveErr != nil {
		return saveErr.Error()
	}
	return ""
}

// Start connects the window and opens the engine on the configured data
// dir. (A function, not a method, so Wails does not bind it.)
func Start(ctx context.Context, a *App, ui UI) error {
	a.mu.Lock()
	a.ui = ui
	a.mu.Unlock()
	err := a.open(ctx, a.cfg.DataDir)
	a.mu.Lock()
	a.openErr = err
	a.mu.Unlock()
	return err
}

// StartError says why the PDS did not start ("" when it runs or is still
// starting): the start screen shows it instead of waiting for the engine.
func (a *App) StartError() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.engine != nil || a.openErr == nil {
		return ""
	}
	return a.openErr.Error()
}

func (a *App) open(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data folder %s: %w", dir, err)
	}
	st, serr := loadSettings(dir)
	if serr != nil {
		// Run on defaults but leave the file alone; the status panel and
		// the log say what is wrong (settingsProblem).
		a.log.Error("desktop settings unreadable; running on defaults without saving them", "err", serr)
	}
	port := a.cfg.Port
	if port == 0 {
		port = st.Port
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil && port != 0 {
		ln, err = net.Listen("tcp", "127.0.0.1:0") // remembered port taken: pick another
	}
	if err != nil {
		return fmt.Errorf("listen on loopback: %w", err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	url := fmt.Sprintf("http://localhost:%d", port)
	hr := a.cfg.HandleResolver
	if hr == nil {
		hr = identity.NewNetworkHandleResolver(outbound.Policy{AllowPrivateNetwork: a.cfg.AllowPrivateNetwork})
	}
	if a.cfg.AllowPrivateNetwork {
		a.log.Warn("outbound fetches may reach loopback and private addresses (HEARTH_ALLOW_PRIVATE_NETWORK)")
	}
	avURL, avDID := a.startAppView(st)
	e, err := pds.Open(ctx, pds.Config{DataDir: dir, PublicURL: url, PLCURL: a.cfg.PLCURL, Logger: a.log, HandleResolver: hr,
		AllowPrivateNetwork: a.cfg.AllowPrivateNetwork, KeyStore: a.cfg.KeyStore, UserDomains: a.cfg.UserDomains,
		AppViewURL: avURL, AppViewDID: avDID})
	if err != nil {
		return errors.Join(fmt.Errorf("open the engine: %w", err), closeErr("loopback listener", ln.Close()))
	}
	srv, err := xrpc.New(e, xrpc.Options{})
	if err != nil {
		return errors.Join(fmt.Errorf("start the XRPC server: %w", err),
			closeErr("loopback listener", ln.Close()), closeErr("engine", e.Close()))
	}
	hs := edge.NewServer(srv)
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("loopback HTTP server stopped", "err", err)
		}
	}()
	a.mu.Lock()
	a.engine, a.server, a.httpSrv, a.dataDir, a.url = e, srv, hs, dir, url
	a.saveErr = nil
	a.mu.Unlock()
	if serr == nil && st.Port != port {
		st.Port = port
		a.settingsSaved(saveSettings(dir, st))
	}
	if serr == nil {
		a.migrateNgrokToken(dir, st)
	}
	a.log.Info("engine started", "data_dir", dir, "url", url)
	go a.forwardEvents(srv)
	a.startBackups()
	if serr == nil && st.Tunnel != "" {
		// Publishing was on when the app last ran: switch it back on.
		cfg := PublishConfig{Kind: st.Tunnel, Domain: st.NgrokDomain, URL: st.BYOURL, Relays: st.Relays}
		if _, err := a.StartPublishing(cfg); err != nil {
			a.log.Warn("could not resume publishing", "err", err)
		}
	}
	return nil
}

// forwardEvents pushes new log events to the frontend (status view).
func (a *App) forwardEvents(srv *xrpc.Server) {
	ch, stop := srv.Firehose().Watch(256)
	defer stop()
	for ev := range ch {
		a.emit("event", eventInfo(ev))
	}
}

// Shutdown stops the HTTP server and closes the engine cleanly.
func Shutdown(ctx context.Context, a *App) { a.stop(ctx) }

func (a *App) stop(ctx context.Context) {
	a.stopBackups()
	a.stopPublishing()
	a.CloseCAR() // its temporary files
	a.mu.Lock()
	e, srv, hs := a.engine, a.server, a.httpSrv
	a.engine, a.server, a.httpSrv = nil, nil, nil
	a.mu.Unlock()
	if hs == nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		a.log.Warn("shut the loopback HTTP server down", "err", err)
	}
	srv.Close()
	if err := e.Close(); err != nil {
		a.log.Warn("close engine", "err", err)
	}
}

// closeErr wraps a failed Close during cleanup (nil stays nil).
func closeErr(what string, err error) error {
	if err != nil {
		return fmt.Errorf("close %s: %w", what, err)
	}
	return nil
}

// closeRead closes something only read from, where a failed Close loses no
// data: it is logged, not returned.
func (a *App) closeRead(what string, c io.Closer) {
	if err := c.Close(); err != nil {
		a.log.Warn("close "+what, "err", err)
	}
}

var errNotRunning = errors.New("the PDS engine is not running")

func (a *App) eng() (*pds.Engine, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.engine == nil {
		if a.openErr != nil {
			return nil, a.openErr
		}
		return nil, errNotRunning
	}
	return a.engine, nil
}

// account returns the account the window works with (the first one).
func (a *App) account(ctx context.Context) (*pds.Engine, *accounts.Account, error) {
	e, err := a.eng()
	if err != nil {
		return nil, nil, err
	}
	accs, err := e.Accounts.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(accs) == 0 {
		return nil, nil, errors.New("no account yet: create one first")
	}
	return e, &accs[0], nil
}

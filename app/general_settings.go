package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hearth-pds/hearth/pds/crawl"
)

// The Settings screen: where things are, what this Hearth talks to, start
// at login, developer options, and the recent logs.

// AppSettings is what the Settings screen shows.
type AppSettings struct {
	DataDir   string   `json:"dataDir"`
	LocalURL  string   `json:"localURL"`
	Relays    []string `json:"relays"`
	RelayNote string   `json:"relayNote"`
	AppView   struct {
		URL string `json:"url"`
		DID string `json:"did"`
	} `json:"appView"`
	PLCURL       string `json:"plcURL"`
	StartAtLogin struct {
		Supported bool   `json:"supported"`
		On        bool   `json:"on"`
		Path      string `json:"path"` // the autostart entry
	} `json:"startAtLogin"`
	Developer struct {
		AllowPrivateNetwork bool     `json:"allowPrivateNetwork"`
		UserDomains         []string `json:"userDomains"`
		KeyStore            string   `json:"keyStore"`
	} `json:"developer"`
}

// GetAppSettings reads the Settings screen's data.
func (a *App) GetAppSettings() (*AppSettings, error) {
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	dir, url := a.dataDir, a.url
	a.mu.Unlock()
	out := &AppSettings{DataDir: dir, LocalURL: url, PLCURL: a.cfg.PLCURL}
	if out.PLCURL == "" {
		out.PLCURL = "https://plc.directory"
	}
	out.Relays = crawl.DefaultRelays
	out.RelayNote = "Bluesky's relay, asked to crawl this PDS when it is published on a public address. Change the relays on the Publish screen."
	if s, err := loadSettings(dir); err == nil && len(s.Relays) > 0 {
		out.Relays = s.Relays
		out.RelayNote = "The relays you chose on the Publish screen."
	}
	if svc, err := e.Identity.AppViewService(); err == nil {
		out.AppView.URL, out.AppView.DID = svc.URL.String(), svc.DID.String()
	}
	path, err := autostartPath()
	out.StartAtLogin.Supported = err == nil
	if err == nil {
		out.StartAtLogin.Path = path
		_, serr := os.Stat(path)
		out.StartAtLogin.On = serr == nil
	}
	out.Developer.AllowPrivateNetwork = a.cfg.AllowPrivateNetwork
	out.Developer.UserDomains = e.Identity.UserDomains()
	out.Developer.KeyStore = a.cfg.KeyStore
	if out.Developer.KeyStore == "" {
		out.Developer.KeyStore = "auto"
	}
	return out, nil
}

// autostartPath is the XDG autostart entry that starts Hearth at login
// (Linux and other freedesktop systems).
func autostartPath() (string, error) {
	if runtime.GOOS != "linux" && runtime.GOOS != "freebsd" {
		return "", fmt.Errorf("starting at login is not available on %s yet", runtime.GOOS)
	}
	base := os.Getenv("XDG_CONFIG_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find your home folder: %w", err)
		}
		base = filepath.Join(home, ".config")
	}
	return filepath.Join(base, "autostart", "hearth.desktop"), nil
}

// SetStartAtLogin adds (on) or removes the autostart entry that opens
// Hearth when you log in.
func (a *App) SetStartAtLogin(on bool) error {
	path, err := autostartPath()
	if err != nil {
		return err
	}
	if !on {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find Hearth's program file: %w", err)
	}
	if strings.ContainsAny(exe, "\n\r") {
		return fmt.Errorf("the program path %q cannot go in an autostart entry", exe)
	}
	entry := "[Desktop Entry]\nType=Application\nName=Hearth\nComment=Your own AT Protocol PDS\nExec=" + desktopQuote(exe) + "\nX-GNOME-Autostart-enabled=true\nTerminal=false\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(entry), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

// desktopQuote quotes an Exec path per the Desktop Entry spec.
func desktopQuote(s string) string {
	if !strings.ContainsAny(s, " \t\"`$\\'><~|&;*?#()") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\\\`, `"`, `\\"`, "`", "\\\\`", `$`, `\\$`)
	return `"` + r.Replace(s) + `"`
}

// Logs returns the recent engine and tunnel log records, oldest first.
func (a *App) Logs() []LogEntry { return a.logs.Entries() }

// BugReport is a plain-text report to paste into a bug: versions, the
// state of this Hearth and the recent logs (secrets redacted; handles and
// DIDs are public and stay).
func (a *App) BugReport() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Hearth bug report, %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "system: %s/%s, %s\n", runtime.GOOS, runtime.GOARCH, runtime.Version())
	if st, err := a.Status(); err == nil {
		fmt.Fprintf(&b, "local URL: %s; events: %d; subscribers: %d\n", st.LocalURL, st.Seq, st.Subscribers)
		if st.SettingsError != "" {
			fmt.Fprintf(&b, "settings: %s\n", st.SettingsError)
		}
	} else {
		fmt.Fprintf(&b, "status: %v\n", err)
	}
	a.mu.Lock()
	pub := a.pub
	a.mu.Unlock()
	if pub != nil {
		ts := pub.mgr.Status()
		fmt.Fprintf(&b, "publishing: %s %s\n", ts.State, ts.URL)
	} else {
		b.WriteString("publishing: off\n")
	}
	b.WriteString("\nrecent logs (oldest first):\n")
	for _, e := range a.logs.Entries() {
		fmt.Fprintf(&b, "%s %-5s [%s] %s", e.Time, e.Level, e.Source, e.Message)
		if e.Attrs != "" {
			b.WriteString(" " + e.Attrs)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

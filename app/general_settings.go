package app

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hearth-pds/hearth/app/autostart"
	"github.com/hearth-pds/hearth/pds/crawl"
)

// The Settings screen: where things are, what this Hearth talks to, start
// at login, developer options, and the recent logs.

// AppSettings is what the Settings screen shows.
type AppSettings struct {
	DataDir   string   `json:"dataDir"`
	LocalURL  string   `json:"localURL"`
	Relays    []string `json:"relays"` // in use: the saved ones, else the defaults
	RelayNote string   `json:"relayNote"`
	// RelaysDefault says no relays are saved (Relays are the defaults).
	RelaysDefault bool           `json:"relaysDefault"`
	AppView       AppViewSetting `json:"appView"`
	PLCURL        string         `json:"plcURL"`
	StartAtLogin  struct {
		Supported bool   `json:"supported"`
		On        bool   `json:"on"`
		Path      string `json:"path"`   // the entry: a file, or the registry value on Windows
		System    string `json:"system"` // linux, darwin, windows, …
		Note      string `json:"note"`   // why not supported, or what the entry does
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
	st, _ := loadSettings(dir) // unreadable: defaults shown; the status panel says what is wrong
	out.Relays, out.RelaysDefault = append([]string(nil), crawl.DefaultRelays...), true
	out.RelayNote = "Bluesky's relay, asked to crawl this PDS while it is published on a public address."
	if len(st.Relays) > 0 {
		out.Relays, out.RelaysDefault = st.Relays, false
		out.RelayNote = "The relays you chose (here or on the Publish screen): asked to crawl this PDS while it is published, even on a local address."
	}
	if out.AppView, err = a.appViewSetting(st); err != nil {
		return nil, err
	}
	ent := a.autostartEntry()
	out.StartAtLogin.System = runtime.GOOS
	if path, err := ent.Where(); err != nil {
		out.StartAtLogin.Note = err.Error()
	} else {
		on, err := ent.Enabled()
		out.StartAtLogin.Supported, out.StartAtLogin.On, out.StartAtLogin.Path = err == nil, on, path
		if err != nil {
			out.StartAtLogin.Note = err.Error()
		}
	}
	out.Developer.AllowPrivateNetwork = a.cfg.AllowPrivateNetwork
	out.Developer.UserDomains = e.Identity.UserDomains()
	out.Developer.KeyStore = a.cfg.KeyStore
	if out.Developer.KeyStore == "" {
		out.Developer.KeyStore = "auto"
	}
	return out, nil
}

// autostartEntry is Hearth's start-at-login entry on this system (see
// app/autostart): ~/.config/autostart/hearth.desktop,
// ~/Library/LaunchAgents/app.hearth.Hearth.plist or the Run value "hearth".
func (a *App) autostartEntry() autostart.Entry {
	return autostart.Entry{Name: "hearth", Label: "app.hearth.Hearth", Comment: "Your own AT Protocol PDS", Dir: a.cfg.AutostartDir}
}

// SetStartAtLogin adds (on) or removes the entry that opens Hearth when
// you log in.
func (a *App) SetStartAtLogin(on bool) error {
	ent := a.autostartEntry()
	if !on {
		return ent.Disable()
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find Hearth's program file: %w", err)
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	ent.Exec = exe
	return ent.Enable()
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

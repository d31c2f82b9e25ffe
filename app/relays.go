package app

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/hearth-pds/hearth/pds/crawl"
)

// The relays Hearth asks to crawl it: one list, saved in desktop.json,
// edited on the Settings screen (SetRelays) and the Publish screen
// (StartPublishing); both read it back from there.

// CheckRelays normalises relay addresses as they are typed ("bsky.network"
// becomes https://bsky.network) and refuses anything that is not an
// http(s) origin. Duplicates are dropped; an empty list means the default
// relays.
func CheckRelays(list []string) ([]string, error) {
	out := []string{}
	seen := map[string]bool{}
	for _, raw := range list {
		r := crawl.NormalizeRelay(raw)
		if r == "" {
			continue
		}
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || strings.HasSuffix(u.Host, ":") || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(r, " \t\n") {
			return nil, fmt.Errorf("%q is not a relay address like https://bsky.network", strings.TrimSpace(raw))
		}
		r = u.Scheme + "://" + strings.ToLower(u.Host)
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// SetRelays saves the relays (empty: the default ones) and, while
// publishing, applies them at once: a new relay is asked to crawl right
// away, a removed one is no longer asked.
func (a *App) SetRelays(list []string) (*AppSettings, error) {
	relays, err := CheckRelays(list)
	if err != nil {
		return nil, err
	}
	if _, err := a.eng(); err != nil {
		return nil, err
	}
	st, err := loadSettings(a.dir())
	if err != nil {
		return nil, err // not saved over: see loadSettings
	}
	st.Relays = nil
	if len(relays) > 0 {
		st.Relays = relays
	}
	err = saveSettings(a.dir(), st)
	a.settingsSaved(err)
	if err != nil {
		return nil, err
	}
	live := relays
	if len(live) == 0 {
		live = append([]string(nil), crawl.DefaultRelays...)
	}
	a.mu.Lock()
	p := a.pub
	if p != nil {
		p.cfg.Relays = live
	}
	a.mu.Unlock()
	if p != nil {
		if err := p.sup.SetRelays(relaysFor(live)); err != nil {
			a.log.Warn("relays saved; publishing is stopping, so they apply next time", "err", err)
		}
	}
	return a.GetAppSettings()
}

package app

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// The ngrok authtoken lives in the OS keyring where there is one (service
// "hearth", an entry named in desktop.json's ngrokTokenEntry); without a
// keyring it stays in desktop.json (mode 0600). A token found in
// desktop.json is moved to the keyring when the folder opens. The token
// itself is never logged.

// savedNgrokToken is the saved authtoken ("" when none). A token kept in
// the keyring that cannot be read is an error that says so.
func (a *App) savedNgrokToken(st settings) (string, error) {
	if st.NgrokTokenEntry == "" {
		return st.NgrokAuthtoken, nil
	}
	tok, err := a.keyring().Get(keyringService, st.NgrokTokenEntry)
	if err != nil {
		return "", fmt.Errorf("the ngrok authtoken is kept in the OS keyring, which did not give it back (%v): enter the authtoken again", err)
	}
	return tok, nil
}

// keepNgrokToken stores token for st: in the keyring when it answers (and
// then not in desktop.json), else in st.NgrokAuthtoken. It reports whether
// the keyring took it.
func (a *App) keepNgrokToken(st *settings, token string) bool {
	entry := st.NgrokTokenEntry
	if entry == "" {
		id := make([]byte, 12)
		if _, err := rand.Read(id); err != nil {
			a.log.Warn("ngrok authtoken kept in desktop.json (0600): naming a keyring entry failed", "err", err)
			st.NgrokAuthtoken = token
			return false
		}
		entry = "ngrok-authtoken-" + hex.EncodeToString(id)
	}
	if err := a.keyring().Set(keyringService, entry, token); err != nil {
		a.log.Info("no OS keyring: the ngrok authtoken stays in desktop.json (0600)", "err", redactToken(err, token))
		st.NgrokAuthtoken = token
		return false
	}
	st.NgrokTokenEntry, st.NgrokAuthtoken = entry, ""
	a.mu.Lock()
	a.ngrokMask = [2]string{entry, maskToken(token)}
	a.mu.Unlock()
	return true
}

// maskToken shows only a token's last four characters.
func maskToken(tok string) string {
	if tok == "" {
		return ""
	}
	return "••••" + tok[max(0, len(tok)-4):]
}

// maskedNgrokToken is the saved token as the Publish form shows it
// ("••••abcd"), read from the keyring once and remembered (the form polls).
func (a *App) maskedNgrokToken(st settings) string {
	if st.NgrokTokenEntry == "" {
		return maskToken(st.NgrokAuthtoken)
	}
	a.mu.Lock()
	m := a.ngrokMask
	a.mu.Unlock()
	if m[0] == st.NgrokTokenEntry {
		return m[1]
	}
	tok, err := a.savedNgrokToken(st)
	if err != nil {
		return ""
	}
	a.mu.Lock()
	a.ngrokMask = [2]string{st.NgrokTokenEntry, maskToken(tok)}
	a.mu.Unlock()
	return maskToken(tok)
}

// migrateNgrokToken moves a token saved in desktop.json to the keyring
// (folders saved before the keyring was used). st is saved when it moved.
func (a *App) migrateNgrokToken(dir string, st settings) {
	if st.NgrokAuthtoken == "" {
		return
	}
	tok := st.NgrokAuthtoken
	if st.NgrokTokenEntry != "" {
		// In both places (a keyring that failed once): the file's copy is
		// the newer one.
		st.NgrokTokenEntry = ""
	}
	if !a.keepNgrokToken(&st, tok) {
		return
	}
	if err := saveSettings(dir, st); err != nil {
		a.settingsSaved(err)
		return
	}
	a.log.Info("the ngrok authtoken moved from desktop.json to the OS keyring")
}

// redactToken keeps a token out of an error that may quote it.
func redactToken(err error, token string) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if token != "" {
		s = strings.ReplaceAll(s, token, "[redacted]")
	}
	return s
}

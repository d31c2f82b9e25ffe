package autostart

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The LaunchAgent parses as a plist whose label, program and RunAtLoad are
// the entry's, whatever characters the path holds.
func TestLaunchAgentPlist(t *testing.T) {
	for _, exe := range []string{
		"/Applications/Hearth.app/Contents/MacOS/Hearth",
		"/Users/a & b/<Apps>/Hearth \"dev\".app/Contents/MacOS/Hearth",
	} {
		out := LaunchAgentPlist(Entry{Label: "app.hearth.Hearth", Exec: exe})
		if !strings.HasPrefix(string(out), `<?xml version="1.0" encoding="UTF-8"?>`+"\n<!DOCTYPE plist") {
			t.Fatalf("header: %s", out)
		}
		var doc struct {
			XMLName xml.Name `xml:"plist"`
			Version string   `xml:"version,attr"`
			Dict    struct {
				Items []struct {
					XMLName xml.Name
					Text    string   `xml:",chardata"`
					Strings []string `xml:"string"`
				} `xml:",any"`
			} `xml:"dict"`
		}
		if err := xml.Unmarshal(out, &doc); err != nil {
			t.Fatalf("plist does not parse: %v\n%s", err, out)
		}
		got := map[string]string{}
		var key string
		for _, it := range doc.Dict.Items {
			switch it.XMLName.Local {
			case "key":
				key = it.Text
			case "string":
				got[key] = it.Text
			case "array":
				got[key] = strings.Join(it.Strings, "|")
			default: // <true/>
				got[key] = it.XMLName.Local
			}
		}
		want := map[string]string{"Label": "app.hearth.Hearth", "ProgramArguments": exe, "RunAtLoad": "true",
			"LimitLoadToSessionType": "Aqua", "ProcessType": "Interactive"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q (%s)", k, got[k], v, out)
			}
		}
		if doc.Version != "1.0" {
			t.Errorf("plist version %q", doc.Version)
		}
	}
}

func TestDesktopEntryQuoting(t *testing.T) {
	for _, tc := range []struct{ exe, exec string }{
		{"/usr/bin/hearth", "/usr/bin/hearth"},
		{"/opt/my apps/hearth", `"/opt/my apps/hearth"`},
		{`/opt/a$b/"x"/hearth`, `"/opt/a\\$b/\\"x\\"/hearth"`},
		{"/opt/100%/hearth", `"/opt/100%%/hearth"`},
		{"/home/x/hearth (1)/bin", `"/home/x/hearth (1)/bin"`},
	} {
		got := DesktopEntry(Entry{Name: "hearth", Comment: "two\nlines", Exec: tc.exe})
		if !strings.Contains(got, "\nExec="+tc.exec+"\n") || !strings.HasPrefix(got, "[Desktop Entry]\nType=Application\n") ||
			!strings.Contains(got, "\nComment=two lines\n") {
			t.Errorf("%q: entry\n%s", tc.exe, got)
		}
	}
	if got := RunValue(Entry{Exec: `C:\Program Files\Hearth\Hearth.exe`}); got != `"C:\Program Files\Hearth\Hearth.exe"` {
		t.Errorf("Run value %s", got)
	}
}

// On this OS the entry is really written, read back and removed (on Linux
// the XDG autostart file; the CI runs on Linux).
func TestEnableDisable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the registry entry is not exercised by the test suite")
	}
	dir := filepath.Join(t.TempDir(), "autostart")
	e := Entry{Name: "hearth", Label: "app.hearth.Hearth", Comment: "Your own PDS", Exec: "/opt/Hearth dev/hearth", Dir: dir}
	if on, err := e.Enabled(); err != nil || on {
		t.Fatalf("fresh: %v %v", on, err)
	}
	if err := e.Enable(); err != nil {
		t.Fatal(err)
	}
	path, err := e.Where()
	if err != nil || filepath.Dir(path) != dir {
		t.Fatalf("where: %q %v", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DesktopEntry(e)
	if runtime.GOOS == "darwin" {
		want = string(LaunchAgentPlist(e))
	}
	if string(b) != want {
		t.Fatalf("file %s:\n%s", path, b)
	}
	if on, err := e.Enabled(); err != nil || !on {
		t.Fatalf("after Enable: %v %v", on, err)
	}
	if err := e.Enable(); err != nil { // again: replaced, not an error
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // removing twice is fine
		if err := e.Disable(); err != nil {
			t.Fatal(err)
		}
	}
	if on, err := e.Enabled(); err != nil || on {
		t.Fatalf("after Disable: %v %v", on, err)
	}
	for _, bad := range []string{"", "relative/hearth", "/opt/x\nExec=/bin/evil"} {
		if err := (Entry{Name: "hearth", Exec: bad, Dir: dir}).Enable(); err == nil {
			t.Errorf("Enable(%q) accepted", bad)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("left behind %v", entries)
	}
}

// XDG_CONFIG_HOME decides where the Linux entry goes.
func TestXDGLocation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("XDG autostart is the Linux entry")
	}
	base := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", base)
	if p, err := (Entry{Name: "hearth"}).Where(); err != nil || p != filepath.Join(base, "autostart", "hearth.desktop") {
		t.Fatalf("%q %v", p, err)
	}
}

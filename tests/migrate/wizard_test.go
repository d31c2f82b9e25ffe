package migrate_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hearth-pds/hearth/app/moving"
	"github.com/hearth-pds/hearth/pds/outbound"
)

// TestMain lets the test binary double as the child process that
// TestWizardMoveInAndOut kills in the middle of the blob copy.
func TestMain(m *testing.M) {
	if path := os.Getenv("HEARTH_WIZARD_CHILD_STATE"); path != "" {
		os.Exit(wizardChild(path, os.Getenv("HEARTH_WIZARD_CHILD_PASSWORD")))
	}
	os.Exit(m.Run())
}

// wizardChild resumes the move saved at path and, once the first blob is
// copied (and saved), says so on stdout and waits to be killed.
func wizardChild(path, newPassword string) int {
	hc := outbound.Policy{AllowPrivateNetwork: true, MaxBody: 1 << 30, Timeout: 5 * time.Minute, HeaderTimeout: 5 * time.Minute}.Client()
	m, err := moving.Resume(path, moving.Options{HTTP: hc, AfterBlob: func(n int) {
		fmt.Printf("copied %d\n", n)
		time.Sleep(time.Hour) // killed here
	}})
	if err != nil {
		fmt.Println("resume:", err)
		return 1
	}
	err = m.Run(context.Background(), moving.Input{Confirm: true, NewPassword: newPassword})
	fmt.Println("the run ended before the kill:", err)
	return 1
}

// killMidBlobs runs the move at statePath in a child process and kills it
// with SIGKILL right after the first blob is copied.
func killMidBlobs(t *testing.T, statePath, newPassword string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HEARTH_WIZARD_CHILD_STATE="+statePath, "HEARTH_WIZARD_CHILD_PASSWORD="+newPassword)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(3 * time.Minute)
	var seen []string
	for copied := false; !copied; {
		select {
		case l, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("the wizard's child process ended before copying a blob: %v\n%s", seen, stderr.String())
			}
			seen = append(seen, l)
			copied = l == "copied 1"
		case <-deadline:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the wizard's child process copied no blob within 3 minutes: %v\n%s", seen, stderr.String())
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	go func() {
		for range lines { // drain what the killed child still had buffered
		}
	}()
	t.Logf("killed the wizard's process (pid %d) after it copied the first blob", cmd.Process.Pid)
}

// TestWizardMoveInAndOut drives the desktop wizards' engine (app/moving)
// against the real peers: an account with three blobs moves from a
// reference PDS (A) into hearthd, with the engine's process killed (SIGKILL) after
// the first blob and resumed from its state file (the copied blob is not copied
// again), and with a second resume from the file while it waits for the
// PLC code; then it moves out of hearthd to a second reference PDS (B) with
// the PLC code taken from Hearth's outbox. After each move: records, blobs,
// preferences, the PLC log and the account status on every side
// (checkMoved), and the engine's own report.
func TestWizardMoveInAndOut(t *testing.T) {
	tl := findTools(t)
	plc := startPLC(t)
	a := startRefPDS(t, tl, "refpds-a", plc)
	h := startHearth(t, tl, plc)
	b := startRefPDS(t, tl, "refpds-b", plc)

	const (
		handleA = "wiz.test"
		handleH = "wiz-hearth.test"
		handleB = "wiz-b.test"
		email   = "wiz@proton.me"
	)
	passA, passH, passB := "wizard-pass-a-1234", "wizard-pass-hearth-1234", "wizard-pass-b-1234"

	ca, did := createOnA(t, a.url, handleA, email, passA)
	pngBytes := testPNG(t)
	want := seed(t, ca, did, pngBytes)
	want = seedMoreBlobs(t, ca, did, want, 2)
	if len(want.blobs) != 3 {
		t.Fatalf("seeded blobs %v, want 3", want.blobs)
	}

	hc := outbound.Policy{AllowPrivateNetwork: true, MaxBody: 1 << 30, Timeout: 5 * time.Minute, HeaderTimeout: 5 * time.Minute}.Client()
	ctx := context.Background()

	// --- move in: A -> Hearth ---------------------------------------------------
	statePath := filepath.Join(t.TempDir(), "move.json")
	plan := moving.Plan{Direction: moving.MoveIn, OldURL: a.url, NewURL: h.url, Identifier: handleA,
		NewHandle: handleH, Email: email, InviteCode: h.invite}
	m, err := moving.Begin(statePath, plan, moving.Options{HTTP: hc, PLCURL: plc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := moving.Begin(statePath, plan, moving.Options{HTTP: hc}); !errors.Is(err, moving.ErrMoveExists) {
		t.Errorf("a second Begin over an unfinished move = %v, want ErrMoveExists", err)
	}
	// Without a password the run waits for it.
	wantNeed(t, m.Run(ctx, moving.Input{}), moving.NeedOldPassword)
	wantNeed(t, m.Run(ctx, moving.Input{OldPassword: "wrong-password-1234"}), moving.NeedOldPassword)
	// With it, it stops at the summary.
	wantNeed(t, m.Run(ctx, moving.Input{OldPassword: passA}), moving.NeedConfirm)
	sum := m.State().Summary
	if sum == nil || sum.DID != did || sum.Handle != handleA || sum.Records != len(want.records) ||
		sum.Blobs != 3 || sum.Preferences != 2 || sum.Collections["app.bsky.feed.post"] != 5 || sum.NewServiceDID == "" {
		t.Fatalf("summary = %+v, want %s, %d records (5 posts), 3 blobs, 2 preferences", sum, did, len(want.records))
	}

	// Run in a child process until the first blob is copied, then kill it
	// (SIGKILL: no cleanup, as a crash or a closed laptop).
	killMidBlobs(t, statePath, passH)
	st, err := moving.LoadState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Next != moving.StepBlobs || st.Blobs.Copied != 1 || st.Blobs.Expected != 3 {
		t.Fatalf("after the kill: next %s, blobs %+v; want copy_blobs with 1 of 3 copied", st.Next, st.Blobs)
	}
	var hs struct {
		ImportedBlobs int `json:"importedBlobs"`
		ExpectedBlobs int `json:"expectedBlobs"`
	}
	if err := login(t, h.url, did, passH).get("com.atproto.server.checkAccountStatus", nil, &hs); err != nil {
		t.Fatal(err)
	} else if hs.ImportedBlobs != 1 || hs.ExpectedBlobs != 3 {
		t.Fatalf("Hearth holds %d of %d blobs after the kill, want 1 of 3", hs.ImportedBlobs, hs.ExpectedBlobs)
	}

	// Resume from the file alone (no passwords): the sessions it kept
	// carry on, the copied blob is skipped, and it waits for the PLC code.
	m3, err := moving.Resume(statePath, moving.Options{HTTP: hc, PLCURL: plc})
	if err != nil {
		t.Fatal(err)
	}
	wantNeed(t, m3.Run(ctx, moving.Input{}), moving.NeedPLCToken)
	st3 := m3.State()
	if st3.Blobs.Skipped != 1 || st3.Blobs.Copied != 3 || st3.Blobs.Imported != 3 || len(st3.Blobs.Missing) != 0 {
		t.Errorf("blobs after the resume = %+v, want 1 skipped, 3 copied in all, 3 imported", st3.Blobs)
	}
	if !st3.TokenRequested {
		t.Error("the old PDS was not asked for the PLC code")
	}
	// The account is not active anywhere new yet, and still active on A.
	checkStatus(t, "A while waiting for the code", a.url, did, true, "")

	// A second resume from the file, with the code A "emailed".
	tokenA := a.emailToken(t, did, "plc_operation")
	m4, err := moving.Resume(statePath, moving.Options{HTTP: hc, PLCURL: plc})
	if err != nil {
		t.Fatal(err)
	}
	if err := m4.Run(ctx, moving.Input{PLCToken: tokenA}); err != nil {
		t.Fatalf("finish the move in: %v (problem %q)", err, m4.State().Problem)
	}
	checkReport(t, "move in", m4.State(), handleA, handleH, h.url)
	checkStateFile(t, statePath, passA, passH)

	ch := login(t, h.url, did, passH)
	want.records = checkMoved(t, "wizard A -> Hearth", moveCheck{
		did: did, plc: plc, wantLog: 2, pngBytes: pngBytes, want: want,
		oldURL: a.url, oldPass: passA, newURL: h.url, newClient: ch, newHandle: handleH,
	})

	// --- move out: Hearth -> B ----------------------------------------------------
	// A finished move's state is replaced by a new one.
	planOut := moving.Plan{Direction: moving.MoveOut, OldURL: h.url, NewURL: b.url, Identifier: did,
		NewHandle: handleB, Email: email}
	outbox := func(ctx context.Context, did string) (string, error) { return hearthOutboxToken(ctx, h, did) }
	mo, err := moving.Begin(statePath, planOut, moving.Options{HTTP: hc, PLCURL: plc, PLCToken: outbox})
	if err != nil {
		t.Fatal(err)
	}
	wantNeed(t, mo.Run(ctx, moving.Input{OldPassword: passH}), moving.NeedConfirm)
	if err := mo.Run(ctx, moving.Input{Confirm: true, OldPassword: passH, NewPassword: passB}); err != nil {
		t.Fatalf("move out: %v (problem %q)", err, mo.State().Problem)
	}
	checkReport(t, "move out", mo.State(), handleH, handleB, b.url)
	checkStateFile(t, statePath, passH, passB)
	cb := login(t, b.url, did, passB)
	checkMoved(t, "wizard Hearth -> B", moveCheck{
		did: did, plc: plc, wantLog: 3, pngBytes: pngBytes, want: want,
		oldURL: h.url, oldPass: passH, newURL: b.url, newClient: cb, newHandle: handleB,
	})
	checkStatus(t, "A after the second move", a.url, did, false, "deactivated")

	// Running a finished move again changes nothing.
	if err := mo.Run(ctx, moving.Input{}); err != nil {
		t.Errorf("running a finished move again: %v", err)
	}
}

func wantNeed(t *testing.T, err error, n moving.Need) {
	t.Helper()
	var ne *moving.NeedInputError
	if !errors.As(err, &ne) || ne.Need != n {
		t.Fatalf("run = %v, want it to wait for %s", err, n)
	}
}

func checkReport(t *testing.T, step string, st moving.State, oldHandle, newHandle, newURL string) {
	t.Helper()
	r := st.Report
	if st.Next != moving.StepDone || r == nil {
		t.Fatalf("%s: next %s, report %v", step, st.Next, r)
	}
	if !r.OK || r.OldHandle != oldHandle || r.NewHandle != newHandle || r.PLCEndpoint != newURL ||
		r.OldBlobs != 3 || r.NewBlobs != 3 || r.OldPreferences != 2 || r.NewPreferences != 2 ||
		!r.NewActive || r.OldStatus != "deactivated" || r.OldRecords != r.NewRecords {
		t.Errorf("%s: report = %+v", step, r)
	}
}

// checkStateFile: 0600, and no password in it.
func checkStateFile(t *testing.T, path string, secrets ...string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("the state file holds a password")
		}
	}
}

// hearthOutboxToken reads the live PLC code for did from `hearthd outbox
// list` ("" when there is none).
func hearthOutboxToken(ctx context.Context, h *hearth, did string) (string, error) {
	cmd := exec.CommandContext(ctx, h.bin, "outbox", "list", "--did", did, "--data-dir", h.dataDir)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hearthd outbox list: %w", err)
	}
	token := ""
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var e struct {
			Purpose   string `json:"purpose"`
			Token     string `json:"token"`
			ExpiresAt string `json:"expires_at"`
		}
		if line == "" || json.Unmarshal([]byte(line), &e) != nil || !strings.Contains(e.Purpose, "plc") {
			continue
		}
		if exp, err := time.Parse(time.RFC3339Nano, e.ExpiresAt); err == nil && time.Now().Before(exp) {
			token = e.Token
		}
	}
	return token, nil
}

// seedMoreBlobs adds n posts, each with its own image, and returns want
// updated with them.
func seedMoreBlobs(t *testing.T, c *client, did string, want seeded, n int) seeded {
	t.Helper()
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 24, 24))
		for x := range 24 {
			for y := range 24 {
				img.Set(x, y, color.RGBA{R: uint8(40 * (i + 1)), G: uint8(x * 10), B: uint8(y * 10), A: 255})
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		var up struct {
			Blob map[string]any `json:"blob"`
		}
		if err := c.do(http.MethodPost, "com.atproto.repo.uploadBlob", nil, bytes.NewReader(buf.Bytes()), "image/png", &up); err != nil {
			t.Fatalf("uploadBlob: %v", err)
		}
		if err := c.post("com.atproto.repo.createRecord", map[string]any{
			"repo": did, "collection": "app.bsky.feed.post",
			"record": map[string]any{
				"$type": "app.bsky.feed.post", "text": fmt.Sprintf("picture %d", i),
				"createdAt": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
				"embed": map[string]any{"$type": "app.bsky.embed.images",
					"images": []any{map[string]any{"image": up.Blob, "alt": "picture"}}},
			},
		}, nil); err != nil {
			t.Fatalf("createRecord: %v", err)
		}
		want.blobs = append(want.blobs, up.Blob["ref"].(map[string]any)["$link"].(string))
	}
	sort.Strings(want.blobs)
	want.records = listAllRecords(t, c.base, did)
	return want
}

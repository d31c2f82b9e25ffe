package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/app/moving"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/outbox"
)

// The "Move in" and "Move out" wizards (app/moving is their engine). The
// move's state lives in move.json in the data folder, so a move that
// stopped (the app quit or crashed, the laptop slept, the network went) is
// offered for resuming when the window opens. Passwords are kept in memory
// only, for the app's lifetime; a resumed move asks for them again when the
// sessions it saved no longer work.

const moveStateFile = "move.json"

// moveRunner is the App's part of the wizards.
type moveRunner struct {
	run     sync.Mutex // one run at a time
	mu      sync.Mutex
	running bool
	secrets moving.Input // passwords given in this app session
	seq     uint64       // the last MoveView's Seq (under mu)
}

// MoveStartInput starts a wizard.
type MoveStartInput struct {
	Direction string `json:"direction"` // "in" or "out"
	// RemoteURL is the other PDS (the old one for "in", the new one for "out").
	RemoteURL string `json:"remoteUrl"`
	// Identifier is the account on the old PDS ("in"; "out" moves Hearth's account).
	Identifier string `json:"identifier"`
	// NewHandle is the handle on the new PDS ("" = keep a domain handle).
	NewHandle string `json:"newHandle"`
	Email     string `json:"email"`
	// InviteCode is the new PDS's invite code ("out"; Hearth makes its own for "in").
	InviteCode  string `json:"inviteCode"`
	OldPassword string `json:"oldPassword"`
	NewPassword string `json:"newPassword"`
}

// MoveStepView is one step of the wizard's progress list.
type MoveStepView struct {
	ID     string `json:"id"`
	Label  string `json:"label"`
	Status string `json:"status"` // "done", "running", "waiting", "failed", "pending"
}

// MoveView is the wizard's state as the window shows it.
type MoveView struct {
	Direction string              `json:"direction"`
	OldURL    string              `json:"oldUrl"`
	NewURL    string              `json:"newUrl"`
	DID       string              `json:"did"`
	NewHandle string              `json:"newHandle"`
	Email     string              `json:"email"`
	Steps     []MoveStepView      `json:"steps"`
	Next      string              `json:"next"`
	Need      string              `json:"need"`
	Problem   string              `json:"problem"`
	Running   bool                `json:"running"`
	Done      bool                `json:"done"`
	Summary   *moving.Summary     `json:"summary"`
	Blobs     moving.BlobProgress `json:"blobs"`
	Report    *moving.Report      `json:"report"`
	UpdatedAt string              `json:"updatedAt"`
	// CanDiscard says whether the move may be abandoned (nothing about
	// the identity changed yet, or it is finished).
	CanDiscard bool `json:"canDiscard"`
	// Warning is shown above the wizard (Hearth not published, …).
	Warning string `json:"warning"`
	// Seq orders the views this app produced: events and call results
	// reach the window on different paths, so a late "running" event can
	// arrive after the final view; the window keeps the highest Seq.
	Seq uint64 `json:"seq"`
}

var moveLabels = map[moving.Step]string{
	moving.StepSignIn:      "Sign in to the old PDS",
	moving.StepSummary:     "Look at what will move",
	moving.StepCreate:      "Create the account on the new PDS",
	moving.StepRepo:        "Copy the repository",
	moving.StepBlobs:       "Copy the blobs",
	moving.StepPreferences: "Copy the preferences",
	moving.StepToken:       "Get the PLC code",
	moving.StepPLC:         "Point the identity at the new PDS",
	moving.StepActivate:    "Activate the new account",
	moving.StepDeactivate:  "Deactivate the old account",
	moving.StepReport:      "Compare both sides",
}

func (a *App) movePath() (string, error) {
	a.mu.Lock()
	dir := a.dataDir
	a.mu.Unlock()
	if dir == "" {
		return "", errNotRunning
	}
	return filepath.Join(dir, moveStateFile), nil
}

// MoveStatus returns the move in progress or last finished, nil when there
// is none: the window offers to resume an unfinished one.
func (a *App) MoveStatus() (*MoveView, error) {
	path, err := a.movePath()
	if err != nil {
		return nil, err
	}
	st, err := moving.LoadState(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return a.moveView(*st), nil
}

// MoveStart starts a wizard and runs it until it needs the user (the
// summary to confirm, a code) or ends.
func (a *App) MoveStart(in MoveStartInput) (*MoveView, error) {
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	path, err := a.movePath()
	if err != nil {
		return nil, err
	}
	remote, err := normalizePDSURL(in.RemoteURL)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	local := a.url
	a.mu.Unlock()
	plan := moving.Plan{Direction: moving.Direction(in.Direction), NewHandle: strings.TrimPrefix(strings.TrimSpace(in.NewHandle), "@"),
		Email: strings.TrimSpace(in.Email)}
	switch plan.Direction {
	case moving.MoveIn:
		accs, err := e.Accounts.List(bg)
		if err != nil {
			return nil, err
		}
		if len(accs) > 0 {
			return nil, fmt.Errorf("this Hearth already holds @%s: Move in needs an empty Hearth (open another data folder)", accs[0].Handle)
		}
		if in.OldPassword == "" {
			return nil, errors.New("the password of the account on the old PDS is needed")
		}
		plan.OldURL, plan.NewURL, plan.Identifier = remote, local, strings.TrimPrefix(strings.TrimSpace(in.Identifier), "@")
	case moving.MoveOut:
		_, acc, err := a.account(bg)
		if err != nil {
			return nil, err
		}
		if plan.Email == "" {
			plan.Email = acc.Email
		}
		plan.OldURL, plan.NewURL, plan.Identifier, plan.InviteCode = local, remote, acc.DID.String(), strings.TrimSpace(in.InviteCode)
	default:
		return nil, fmt.Errorf("unknown direction %q", in.Direction)
	}
	if len(in.NewPassword) < 8 {
		return nil, errors.New("choose a password of at least 8 characters for the account on the new PDS")
	}
	m, err := moving.Begin(path, plan, a.moveOptions(e, plan))
	if err != nil {
		return nil, err
	}
	a.move.mu.Lock()
	a.move.secrets = moving.Input{OldPassword: in.OldPassword, NewPassword: in.NewPassword}
	a.move.mu.Unlock()
	return a.runMove(m, moving.Input{})
}

// MoveContinue resumes the move with what the user gave (a code, the
// confirmation, a password again, …) and runs it as far as it goes.
func (a *App) MoveContinue(in moving.Input) (*MoveView, error) {
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	path, err := a.movePath()
	if err != nil {
		return nil, err
	}
	st, err := moving.LoadState(path)
	if err != nil {
		return nil, err
	}
	m, err := moving.Resume(path, a.moveOptions(e, st.Plan))
	if err != nil {
		return nil, err
	}
	return a.runMove(m, in)
}

// MoveDiscard abandons the move (or clears a finished one). It refuses once
// the identity may already point at the new PDS and the move is not done:
// then only finishing it is safe.
func (a *App) MoveDiscard() error {
	path, err := a.movePath()
	if err != nil {
		return err
	}
	if !a.move.run.TryLock() {
		return errors.New("the move is running: wait for it to stop")
	}
	defer a.move.run.Unlock()
	st, err := moving.LoadState(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !canDiscard(*st) {
		return errors.New("the old PDS has signed the identity over to the new PDS: finish the move instead (Resume)")
	}
	a.move.mu.Lock()
	a.move.secrets = moving.Input{}
	a.move.mu.Unlock()
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove the move's state: %w", err)
	}
	return nil
}

func canDiscard(st moving.State) bool {
	if st.Next == moving.StepDone {
		return true
	}
	if len(st.SignedOp) > 0 {
		return false // signed: it may be submitted already
	}
	for _, s := range moving.Steps {
		if s == st.Next {
			return true // the identity is untouched: the old account still has it
		}
		if s == moving.StepPLC {
			return false
		}
	}
	return false
}

func (a *App) runMove(m *moving.Mover, in moving.Input) (*MoveView, error) {
	if !a.move.run.TryLock() {
		return nil, errors.New("the move is already running")
	}
	defer a.move.run.Unlock()
	a.move.mu.Lock()
	if in.OldPassword != "" {
		a.move.secrets.OldPassword = in.OldPassword
	}
	if in.NewPassword != "" {
		a.move.secrets.NewPassword = in.NewPassword
	}
	in.OldPassword, in.NewPassword = a.move.secrets.OldPassword, a.move.secrets.NewPassword
	a.move.running = true
	a.move.mu.Unlock()
	a.emit("move", a.moveView(m.State()))
	err := m.Run(context.Background(), in)
	a.move.mu.Lock()
	a.move.running = false
	st := m.State()
	if st.Need == moving.NeedOldPassword && in.OldPassword != "" && st.Problem != "" {
		a.move.secrets.OldPassword = "" // refused: ask again
	}
	if st.Need == moving.NeedNewPassword && in.NewPassword != "" && st.Problem != "" {
		a.move.secrets.NewPassword = ""
	}
	if st.Next == moving.StepDone {
		a.move.secrets = moving.Input{}
	}
	a.move.mu.Unlock()
	v := a.moveView(st)
	a.emit("move", v)
	var ne *moving.NeedInputError
	if err != nil && !errors.As(err, &ne) {
		a.log.Warn("move stopped", "step", st.Next, "err", err)
	}
	// The view carries the problem; the binding succeeds so the window
	// shows the step that failed and a Resume button.
	return v, nil
}

// moveOptions: requests go through the engine's outbound policy (bounded,
// no redirects, no environment proxy). Like the PLC directory and relays
// the owner names, the other PDS is an address the owner typed in, so it
// is trusted even on a private network (a self-hosted PDS on the LAN);
// nothing the remote PDS answers is ever fetched.
func (a *App) moveOptions(e *pds.Engine, plan moving.Plan) moving.Options {
	dir := plan.Direction
	pol := e.Outbound()
	pol.Trusted = append(pol.Trusted, plan.OldURL, plan.NewURL)
	pol.MaxBody = 64 << 30 // a repo CAR or a video blob
	pol.Timeout = 2 * time.Hour
	pol.HeaderTimeout = 30 * time.Minute // importRepo answers once the import is done
	plcURL := a.cfg.PLCURL
	if plcURL == "" {
		plcURL = pds.DefaultPLCURL
	}
	a.mu.Lock()
	local := a.url
	a.mu.Unlock()
	pol.Trusted = append(pol.Trusted, local)
	opts := moving.Options{
		HTTP:      pol.Client(),
		PLCURL:    plcURL,
		HearthURL: local,
		Progress: func(st moving.State) {
			a.emit("move", a.moveView(st))
		},
	}
	if dir == moving.MoveIn {
		// Hearth is the new PDS: it makes its own invite code when the
		// account is created.
		opts.InviteCode = func(ctx context.Context) (string, error) { return e.Accounts.CreateInviteCode(ctx, 1) }
	}
	if dir == moving.MoveOut {
		// Hearth is the old PDS: its PLC code is in its own outbox.
		opts.PLCToken = func(ctx context.Context, did string) (string, error) {
			d, err := syntax.ParseDID(did)
			if err != nil {
				return "", err
			}
			return livePLCToken(ctx, e, d)
		}
	}
	return opts
}

// livePLCToken is the newest unexpired PLC code in the outbox ("" if none).
func livePLCToken(ctx context.Context, e *pds.Engine, did syntax.DID) (string, error) {
	msgs, err := e.Outbox.List(ctx, did)
	if err != nil {
		return "", err
	}
	now := time.Now()
	token, newest := "", ""
	for _, m := range msgs {
		if m.Purpose == outbox.PurposePLCOperation && !m.Expired(now) && m.CreatedAt >= newest {
			token, newest = m.Token, m.CreatedAt
		}
	}
	return token, nil
}

func (a *App) moveView(st moving.State) *MoveView {
	a.move.mu.Lock()
	running := a.move.running
	a.move.seq++
	seq := a.move.seq
	a.move.mu.Unlock()
	v := &MoveView{Seq: seq,
		Direction: string(st.Plan.Direction), OldURL: st.Plan.OldURL, NewURL: st.Plan.NewURL, DID: st.DID,
		NewHandle: st.Plan.NewHandle, Email: st.Plan.Email, Next: string(st.Next), Need: string(st.Need),
		Problem: st.Problem, Running: running, Done: st.Next == moving.StepDone, Summary: st.Summary,
		Blobs: st.Blobs, Report: st.Report, UpdatedAt: st.UpdatedAt, CanDiscard: canDiscard(st),
	}
	past := true
	for _, s := range moving.Steps {
		status := "pending"
		switch {
		case s == st.Next:
			past = false
			switch {
			case st.Need != moving.NeedNothing:
				status = "waiting"
			case running:
				status = "running"
			case st.Problem != "":
				status = "failed"
			}
		case past:
			status = "done"
		}
		v.Steps = append(v.Steps, MoveStepView{ID: string(s), Label: moveLabels[s], Status: status})
	}
	if st.Plan.Direction == moving.MoveIn && !v.Done && isLoopbackURL(st.Plan.NewURL) {
		v.Warning = "Hearth is not published yet: after the move, your DID document points at this computer, which only you can reach. Switch publishing on afterwards (Publish) and Hearth updates it."
	}
	return v
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}

// normalizePDSURL accepts "bsky.social" or "https://pds.example/" and
// returns the origin ("https://…").
func normalizePDSURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("the other PDS's address is needed (for example https://bsky.social)")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not a PDS address (like https://bsky.social)", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

package moving

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Options are what a move needs besides its plan.
type Options struct {
	// HTTP is the client for both PDSes and the PLC directory (the app
	// passes pds/outbound's policy client); required.
	HTTP *http.Client
	// PLCURL is the did:plc directory the report reads the DID document
	// from ("" = trust the new PDS's checkAccountStatus.validDid).
	PLCURL string
	// PLCToken, when set, fetches the PLC code the old PDS just issued
	// (Move out: from Hearth's own outbox): it returns "" when there is no
	// live code. When nil, the run waits for the user (NeedPLCToken).
	PLCToken func(ctx context.Context, did string) (string, error)
	// Progress hears of the state after every save.
	Progress func(State)
	// AfterBlob is called after each blob copied (tests stop a run there).
	AfterBlob func(copied int)
	// HearthURL, when set, is where Hearth's side of the move (the new
	// PDS moving in, the old one moving out) answers now: the app's
	// loopback port may change between runs, the account on it does not.
	HearthURL string
	// InviteCode, when set, mints an invite code for the new PDS the
	// moment the account is created there and the plan has none (Move in:
	// Hearth makes its own, so an abandoned move leaves none behind).
	InviteCode func(ctx context.Context) (string, error)
}

// Input is what the user gives a run. Passwords and codes are used, never
// written to the state file (except the PLC code, kept until the
// operation is signed so that a resume does not need a second one).
type Input struct {
	OldPassword string `json:"oldPassword,omitempty"`
	EmailCode   string `json:"emailCode,omitempty"`
	NewPassword string `json:"newPassword,omitempty"`
	PLCToken    string `json:"plcToken,omitempty"`
	InviteCode  string `json:"inviteCode,omitempty"`
	NewHandle   string `json:"newHandle,omitempty"`
	// Confirm starts the move once the summary is shown.
	Confirm bool `json:"confirm,omitempty"`
	// ResendToken asks the old PDS for a new PLC code.
	ResendToken bool `json:"resendToken,omitempty"`
}

// More of what a run can wait for.
const (
	NeedInviteCode Need = "invite_code" // the new PDS wants a (valid) invite code
	NeedHandle     Need = "handle"      // the handle cannot be kept or was refused: choose one
)

// NeedInputError is returned by Run when it waits for the user.
type NeedInputError struct {
	Need   Need
	Reason string
}

func (e *NeedInputError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("waiting for %s: %s", e.Need, e.Reason)
	}
	return fmt.Sprintf("waiting for %s", e.Need)
}

func need(n Need, reason string) error { return &NeedInputError{Need: n, Reason: reason} }

// Mover runs one move. It is not safe for concurrent use.
type Mover struct {
	path     string
	opts     Options
	st       *State
	old, new *client
}

// ErrMoveExists is returned by Begin when an unfinished move's state is
// in the way.
var ErrMoveExists = errors.New("an unfinished move is already in progress")

// Begin starts a new move with plan, writing its state to path. It refuses
// (ErrMoveExists) while an unfinished move's state is there.
func Begin(path string, plan Plan, opts Options) (*Mover, error) {
	if err := plan.check(); err != nil {
		return nil, err
	}
	if prev, err := LoadState(path); err == nil && prev.Next != StepDone {
		return nil, ErrMoveExists
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	st := &State{Version: stateVersion, Plan: plan, Next: StepSignIn}
	m := newMover(path, st, opts)
	if err := m.save(); err != nil {
		return nil, err
	}
	return m, nil
}

// Resume loads the move saved at path.
func Resume(path string, opts Options) (*Mover, error) {
	st, err := LoadState(path)
	if err != nil {
		return nil, err
	}
	return newMover(path, st, opts), nil
}

func newMover(path string, st *State, opts Options) *Mover {
	if opts.HearthURL != "" {
		switch st.Plan.Direction {
		case MoveIn:
			st.Plan.NewURL = opts.HearthURL
		case MoveOut:
			st.Plan.OldURL = opts.HearthURL
		}
	}
	m := &Mover{path: path, opts: opts, st: st}
	oldBase := st.Plan.OldURL
	if st.OldPDS != "" {
		oldBase = st.OldPDS
	}
	m.old = &client{hc: opts.HTTP, base: oldBase, sess: &st.OldSession, save: m.save}
	m.new = &client{hc: opts.HTTP, base: st.Plan.NewURL, sess: &st.NewSession, save: m.save}
	return m
}

func (p Plan) check() error {
	if p.Direction != MoveIn && p.Direction != MoveOut {
		return fmt.Errorf("unknown direction %q", p.Direction)
	}
	for what, u := range map[string]string{"old PDS": p.OldURL, "new PDS": p.NewURL} {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || pu.User != nil {
			return fmt.Errorf("the %s address %q is not an http(s) URL", what, u)
		}
	}
	if sameOrigin(p.OldURL, p.NewURL) {
		return errors.New("the old and the new PDS are the same")
	}
	if strings.TrimSpace(p.Identifier) == "" {
		return errors.New("say which account to move (handle, DID or email)")
	}
	if strings.TrimSpace(p.Email) == "" || !strings.Contains(p.Email, "@") {
		return errors.New("an email address is needed for the account on the new PDS")
	}
	return nil
}

func sameOrigin(a, b string) bool {
	return strings.TrimRight(strings.ToLower(a), "/") == strings.TrimRight(strings.ToLower(b), "/")
}

// State returns a copy of the move's state.
func (m *Mover) State() State {
	st := *m.st
	return st
}

// Path is the state file.
func (m *Mover) Path() string { return m.path }

func (m *Mover) save() error {
	m.st.UpdatedAt = time.Now().UTC().Format(time.RFC3339)
	if err := saveState(m.path, m.st); err != nil {
		return err
	}
	if m.opts.Progress != nil {
		m.opts.Progress(m.State())
	}
	return nil
}

// Run runs the move's steps from where it stopped until it is done, waits
// for input (*NeedInputError) or fails; the state is saved after every
// step either way.
func (m *Mover) Run(ctx context.Context, in Input) error {
	if in.InviteCode != "" {
		m.st.Plan.InviteCode = strings.TrimSpace(in.InviteCode)
	}
	if in.NewHandle != "" {
		m.st.Plan.NewHandle = strings.TrimPrefix(strings.TrimSpace(in.NewHandle), "@")
	}
	if in.ResendToken {
		m.st.TokenRequested, m.st.PLCToken = false, ""
	}
	if t := strings.TrimSpace(in.PLCToken); t != "" {
		m.st.PLCToken = t
	}
	for m.st.Next != StepDone {
		if err := ctx.Err(); err != nil {
			return err
		}
		step := m.st.Next
		err := m.runStep(ctx, step, in)
		if err != nil {
			var ne *NeedInputError
			if errors.As(err, &ne) {
				m.st.Need, m.st.Problem = ne.Need, ne.Reason
			} else {
				m.st.Need, m.st.Problem = NeedNothing, err.Error()
			}
			return errors.Join(fmt.Errorf("%s: %w", step, err), m.save())
		}
		m.st.Next, m.st.Need, m.st.Problem = nextStep(step), NeedNothing, ""
		if err := m.save(); err != nil {
			return err
		}
	}
	return nil
}

func nextStep(s Step) Step {
	for i, x := range Steps {
		if x == s && i+1 < len(Steps) {
			return Steps[i+1]
		}
	}
	return StepDone
}

func (m *Mover) runStep(ctx context.Context, s Step, in Input) error {
	switch s {
	case StepSignIn:
		return m.signIn(ctx, in)
	case StepSummary:
		return m.summary(ctx, in)
	case StepCreate:
		return m.create(ctx, in)
	case StepRepo:
		return m.importRepo(ctx)
	case StepBlobs:
		return m.copyBlobs(ctx)
	case StepPreferences:
		return m.preferences(ctx)
	case StepToken:
		return m.token(ctx)
	case StepPLC:
		return m.plc(ctx)
	case StepActivate:
		return m.activate(ctx)
	case StepDeactivate:
		return m.deactivateOld(ctx)
	case StepReport:
		return m.report(ctx)
	}
	return fmt.Errorf("unknown step %q", s)
}

// --- the steps ----------------------------------------------------------------

type sessionOut struct {
	Access  string          `json:"accessJwt"`
	Refresh string          `json:"refreshJwt"`
	DID     string          `json:"did"`
	DIDDoc  json.RawMessage `json:"didDoc"`
	Handle  string          `json:"handle"`
}

func (m *Mover) signIn(ctx context.Context, in Input) error {
	if m.st.OldSession.Access != "" || m.st.OldSession.Refresh != "" {
		err := m.old.ensure(ctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errNoSession) {
			return err
		}
	}
	return m.passwordSignIn(ctx, in)
}

// passwordSignIn signs in to the old PDS with the password (and the email
// code when it asks for one).
func (m *Mover) passwordSignIn(ctx context.Context, in Input) error {
	if in.OldPassword == "" {
		return need(NeedOldPassword, "")
	}
	body := map[string]any{"identifier": strings.TrimSpace(m.st.Plan.Identifier), "password": in.OldPassword}
	if c := strings.TrimSpace(in.EmailCode); c != "" {
		body["authFactorToken"] = c
	}
	var out sessionOut
	err := m.old.do(ctx, call{method: http.MethodPost, nsid: "com.atproto.server.createSession", body: body, out: &out})
	switch {
	case isXRPC(err, "AuthFactorTokenRequired"):
		return need(NeedEmailCode, "the old PDS sent a sign-in code to your email")
	case isXRPC(err, "AuthenticationRequired"), isXRPC(err, "InvalidToken") && in.EmailCode != "":
		return need(NeedOldPassword, "the old PDS refused the sign-in: check the account, password and code")
	case err != nil:
		return err
	}
	if m.st.DID != "" && out.DID != m.st.DID {
		return fmt.Errorf("signed in as %s, but this move is for %s", out.DID, m.st.DID)
	}
	m.st.DID = out.DID
	m.st.OldSession = Session{Access: out.Access, Refresh: out.Refresh}
	if pds := entrywayPDS(m.st.Plan, out.DIDDoc); pds != "" {
		m.st.OldPDS = pds
		m.old.base = pds
	}
	return nil
}

// entrywayPDS is the PDS a Move in continues with after signing in: the
// atproto_pds endpoint of the DID document createSession answered when it
// is an https origin other than the address typed (an entryway such as
// bsky.social), else "" (keep the typed address). Only https endpoints
// are followed: the owner trusted the typed address, not whatever a DID
// document names, and the HTTP client's outbound policy still applies.
func entrywayPDS(p Plan, doc json.RawMessage) string {
	if p.Direction != MoveIn || len(doc) == 0 {
		return ""
	}
	var d struct {
		Service []struct {
			ID              string `json:"id"`
			Type            string `json:"type"`
			ServiceEndpoint string `json:"serviceEndpoint"`
		} `json:"service"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return ""
	}
	for _, s := range d.Service {
		if !strings.HasSuffix(s.ID, "#atproto_pds") || s.Type != "AtprotoPersonalDataServer" {
			continue
		}
		u, err := url.Parse(s.ServiceEndpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return ""
		}
		origin := "https://" + u.Host
		if sameOrigin(origin, p.OldURL) {
			return ""
		}
		return origin
	}
	return ""
}

type describeServer struct {
	DID                  string   `json:"did"`
	InviteCodeRequired   bool     `json:"inviteCodeRequired"`
	AvailableUserDomains []string `json:"availableUserDomains"`
}

func (m *Mover) summary(ctx context.Context, in Input) error {
	if m.st.Summary == nil {
		if err := m.old.ensure(ctx); err != nil {
			return m.sessionLost(err, NeedOldPassword)
		}
		inv, err := takeInventory(ctx, m.old, m.st.DID)
		if err != nil {
			return err
		}
		cols, total, handle := inv.collections, inv.records, inv.handle
		blobs, prefs := inv.blobs, inv.preferences
		var ds describeServer
		if err := m.new.get(ctx, "com.atproto.server.describeServer", nil, &ds); err != nil {
			return err
		}
		if ds.DID == "" {
			return fmt.Errorf("the new PDS %s does not say its service DID (describeServer)", m.st.Plan.NewURL)
		}
		var oldDS describeServer
		if err := m.old.get(ctx, "com.atproto.server.describeServer", nil, &oldDS); err != nil {
			return err
		}
		m.st.Summary = &Summary{
			DID: m.st.DID, Handle: handle, Collections: cols, Records: total, Blobs: len(blobs),
			Preferences: len(prefs), NewServiceDID: ds.DID, InviteRequired: ds.InviteCodeRequired,
			UserDomains: ds.AvailableUserDomains,
		}
		if m.st.Plan.NewHandle == "" && !underDomains(handle, oldDS.AvailableUserDomains) {
			m.st.Plan.NewHandle = handle // a domain handle: kept
		}
		if err := m.save(); err != nil {
			return err
		}
	}
	if m.st.Plan.NewHandle == "" {
		return need(NeedHandle, fmt.Sprintf("%s belongs to the old PDS: choose a new handle", m.st.Summary.Handle))
	}
	if !m.st.Confirmed {
		if !in.Confirm {
			return need(NeedConfirm, "")
		}
		m.st.Confirmed = true
	}
	return nil
}

func underDomains(handle string, domains []string) bool {
	h := strings.ToLower(handle)
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		if !strings.HasPrefix(d, ".") {
			d = "." + d
		}
		if strings.HasSuffix(h, d) {
			return true
		}
	}
	return false
}

// sessionLost turns "no usable session" into a request for the password.
func (m *Mover) sessionLost(err error, n Need) error {
	if errors.Is(err, errNoSession) {
		return need(n, "the session ended: sign in again")
	}
	return err
}

type repoStatus struct {
	Active bool   `json:"active"`
	Status string `json:"status"`
	Rev    string `json:"rev"`
}

func (m *Mover) repoStatus(ctx context.Context, c *client) (repoStatus, bool, error) {
	var rs repoStatus
	err := c.get(ctx, "com.atproto.sync.getRepoStatus", url.Values{"did": {m.st.DID}}, &rs)
	if isXRPC(err, "RepoNotFound") {
		return rs, false, nil
	}
	return rs, err == nil, err
}

func (m *Mover) create(ctx context.Context, in Input) error {
	_, exists, err := m.repoStatus(ctx, m.new)
	if err != nil {
		return err
	}
	if exists {
		// Created by an earlier run: a session is all this step needs.
		if m.new.ensure(ctx) == nil {
			return nil
		}
		if in.NewPassword == "" {
			return need(NeedNewPassword, "the account exists on the new PDS: sign in to it again")
		}
		var out sessionOut
		if err := m.new.do(ctx, call{method: http.MethodPost, nsid: "com.atproto.server.createSession",
			body: map[string]any{"identifier": m.st.DID, "password": in.NewPassword}, out: &out}); err != nil {
			if isXRPC(err, "AuthenticationRequired") {
				return need(NeedNewPassword, "the new PDS refused the password")
			}
			return err
		}
		m.st.NewSession = Session{Access: out.Access, Refresh: out.Refresh}
		return nil
	}
	if len(in.NewPassword) < 8 {
		return need(NeedNewPassword, "choose a password of at least 8 characters for the new PDS")
	}
	if err := m.old.ensure(ctx); err != nil {
		return m.sessionLost(err, NeedOldPassword)
	}
	var sa struct {
		Token string `json:"token"`
	}
	if err := m.old.getAuthed(ctx, "com.atproto.server.getServiceAuth", url.Values{
		"aud": {m.st.Summary.NewServiceDID}, "lxm": {"com.atproto.server.createAccount"},
	}, &sa); err != nil {
		return fmt.Errorf("the old PDS would not vouch for the move (service auth): %w", err)
	}
	if m.st.Plan.InviteCode == "" && m.opts.InviteCode != nil {
		code, err := m.opts.InviteCode(ctx)
		if err != nil {
			return fmt.Errorf("make an invite code: %w", err)
		}
		m.st.Plan.InviteCode = code
		if err := m.save(); err != nil {
			return err
		}
	}
	body := map[string]any{"did": m.st.DID, "handle": m.st.Plan.NewHandle, "email": m.st.Plan.Email, "password": in.NewPassword}
	if m.st.Plan.InviteCode != "" {
		body["inviteCode"] = m.st.Plan.InviteCode
	}
	var out sessionOut
	err = m.new.do(ctx, call{method: http.MethodPost, nsid: "com.atproto.server.createAccount", body: body, auth: sa.Token, out: &out})
	var xe *XRPCError
	switch {
	case isXRPC(err, "InvalidInviteCode"):
		return need(NeedInviteCode, "the new PDS needs a valid invite code")
	case errors.As(err, &xe) && (xe.Name == "HandleNotAvailable" || xe.Name == "InvalidHandle" || xe.Name == "UnsupportedDomain"):
		return need(NeedHandle, "the new PDS refused the handle: "+xe.Message)
	case err != nil:
		return err
	}
	m.st.NewSession = Session{Access: out.Access, Refresh: out.Refresh}
	return nil
}

type accountStatus struct {
	Activated      bool   `json:"activated"`
	ValidDid       bool   `json:"validDid"`
	RepoRev        string `json:"repoRev"`
	IndexedRecords int    `json:"indexedRecords"`
	ExpectedBlobs  int    `json:"expectedBlobs"`
	ImportedBlobs  int    `json:"importedBlobs"`
}

func (m *Mover) newStatus(ctx context.Context) (accountStatus, error) {
	var st accountStatus
	err := m.new.getAuthed(ctx, "com.atproto.server.checkAccountStatus", nil, &st)
	return st, err
}

func (m *Mover) bothSessions(ctx context.Context) error {
	if err := m.old.ensure(ctx); err != nil {
		return m.sessionLost(err, NeedOldPassword)
	}
	if err := m.new.ensure(ctx); err != nil {
		return m.sessionLost(err, NeedNewPassword)
	}
	return nil
}

func (m *Mover) importRepo(ctx context.Context) error {
	if err := m.bothSessions(ctx); err != nil {
		return err
	}
	var latest struct {
		Rev string `json:"rev"`
	}
	if err := m.old.get(ctx, "com.atproto.sync.getLatestCommit", url.Values{"did": {m.st.DID}}, &latest); err != nil {
		return err
	}
	st, err := m.newStatus(ctx)
	if err != nil {
		return err
	}
	if latest.Rev != "" && st.RepoRev == latest.Rev {
		return nil // imported by an earlier run
	}
	resp, err := m.old.raw(ctx, call{method: http.MethodGet, nsid: "com.atproto.sync.getRepo", params: url.Values{"did": {m.st.DID}}, auth: m.st.OldSession.Access})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return m.new.do(ctx, call{method: http.MethodPost, nsid: "com.atproto.repo.importRepo", body: resp.Body,
		ctype: "application/vnd.ipld.car", auth: m.st.NewSession.Access})
}

func (m *Mover) copyBlobs(ctx context.Context) error {
	if err := m.bothSessions(ctx); err != nil {
		return err
	}
	st, err := m.newStatus(ctx)
	if err != nil {
		return err
	}
	b := &m.st.Blobs
	b.Expected, b.Imported, b.Skipped = st.ExpectedBlobs, st.ImportedBlobs, st.ImportedBlobs
	if err := m.save(); err != nil {
		return err
	}
	missing := map[string]bool{}
	for _, c := range b.Missing {
		missing[c] = true
	}
	// Passes until one finds nothing left to copy (the cursor walks a
	// list that shrinks as blobs arrive).
	for pass := 0; pass < 5; pass++ {
		copied := 0
		cursor := ""
		for {
			var page struct {
				Cursor string `json:"cursor"`
				Blobs  []struct {
					CID string `json:"cid"`
				} `json:"blobs"`
			}
			q := url.Values{"limit": {"500"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			if err := m.new.getAuthed(ctx, "com.atproto.repo.listMissingBlobs", q, &page); err != nil {
				return err
			}
			for _, bl := range page.Blobs {
				if missing[bl.CID] {
					continue
				}
				found, err := m.copyBlob(ctx, bl.CID)
				if err != nil {
					return err
				}
				if !found {
					missing[bl.CID] = true
					b.Missing = append(b.Missing, bl.CID)
				} else {
					b.Copied++
					b.Imported++
					copied++
				}
				if err := m.save(); err != nil {
					return err
				}
				if found && m.opts.AfterBlob != nil {
					m.opts.AfterBlob(b.Copied)
				}
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if page.Cursor == "" || len(page.Blobs) == 0 {
				break
			}
			cursor = page.Cursor
		}
		if copied == 0 {
			return nil
		}
	}
	return nil
}

// copyBlob streams one blob from the old PDS to the new; found is false
// when the old PDS does not have it.
func (m *Mover) copyBlob(ctx context.Context, cid string) (found bool, err error) {
	for attempt := 0; ; attempt++ {
		resp, err := m.old.raw(ctx, call{method: http.MethodGet, nsid: "com.atproto.sync.getBlob",
			params: url.Values{"did": {m.st.DID}, "cid": {cid}}, auth: m.st.OldSession.Access})
		var xe *XRPCError
		if errors.As(err, &xe) && (xe.Name == "BlobNotFound" || xe.Status == http.StatusNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		ctype := resp.Header.Get("Content-Type")
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		err = m.new.do(ctx, call{method: http.MethodPost, nsid: "com.atproto.repo.uploadBlob", body: resp.Body,
			ctype: ctype, auth: m.st.NewSession.Access})
		_ = resp.Body.Close()
		if err != nil && expired(err) && attempt == 0 {
			if rerr := m.new.refresh(ctx); rerr != nil {
				return false, errors.Join(err, rerr)
			}
			continue
		}
		return err == nil, err
	}
}

func (m *Mover) preferences(ctx context.Context) error {
	if err := m.bothSessions(ctx); err != nil {
		return err
	}
	prefs, err := getPreferences(ctx, m.old)
	if err != nil {
		return err
	}
	if prefs == nil {
		prefs = []json.RawMessage{}
	}
	return m.new.post(ctx, "app.bsky.actor.putPreferences", map[string]any{"preferences": prefs}, nil)
}

// token makes sure a PLC code is at hand: asks the old PDS to send one
// (once), then takes it from Options.PLCToken or waits for the user.
func (m *Mover) token(ctx context.Context) error {
	if len(m.st.SignedOp) > 0 || m.st.PLCToken != "" {
		return nil
	}
	if err := m.new.ensure(ctx); err != nil {
		return m.sessionLost(err, NeedNewPassword)
	}
	if st, err := m.newStatus(ctx); err != nil {
		return err
	} else if st.ValidDid {
		return nil // the DID document already points at the new PDS
	}
	for attempt := 0; attempt < 2; attempt++ {
		if !m.st.TokenRequested {
			if err := m.old.ensure(ctx); err != nil {
				return m.sessionLost(err, NeedOldPassword)
			}
			if err := m.old.post(ctx, "com.atproto.identity.requestPlcOperationSignature", nil, nil); err != nil {
				return err
			}
			m.st.TokenRequested = true
			if err := m.save(); err != nil {
				return err
			}
		}
		if m.opts.PLCToken == nil {
			return need(NeedPLCToken, "")
		}
		tok, err := m.opts.PLCToken(ctx, m.st.DID)
		if err != nil {
			return fmt.Errorf("read the PLC code: %w", err)
		}
		if tok != "" {
			m.st.PLCToken = tok
			return nil
		}
		m.st.TokenRequested = false // expired meanwhile: ask again
	}
	return errors.New("the old PDS issued no PLC code")
}

func (m *Mover) plc(ctx context.Context) error {
	if err := m.new.ensure(ctx); err != nil {
		return m.sessionLost(err, NeedNewPassword)
	}
	st, err := m.newStatus(ctx)
	if err != nil {
		return err
	}
	if st.ValidDid {
		return nil // submitted by an earlier run
	}
	if len(m.st.SignedOp) == 0 {
		if err := m.token(ctx); err != nil {
			return err
		}
		if err := m.old.ensure(ctx); err != nil {
			return m.sessionLost(err, NeedOldPassword)
		}
		var creds map[string]json.RawMessage
		if err := m.new.getAuthed(ctx, "com.atproto.identity.getRecommendedDidCredentials", nil, &creds); err != nil {
			return err
		}
		body := map[string]any{"token": m.st.PLCToken}
		for k, v := range creds {
			body[k] = v
		}
		var out struct {
			Operation json.RawMessage `json:"operation"`
		}
		err := m.old.post(ctx, "com.atproto.identity.signPlcOperation", body, &out)
		if isXRPC(err, "InvalidToken") || isXRPC(err, "ExpiredToken") {
			m.st.PLCToken, m.st.TokenRequested = "", false
			if m.opts.PLCToken == nil {
				return need(NeedPLCToken, "the old PDS refused the code (wrong or expired): ask for a new one")
			}
			return fmt.Errorf("the old PDS refused the PLC code from the outbox: %w", err)
		}
		if err != nil {
			return err
		}
		if len(out.Operation) == 0 {
			return errors.New("the old PDS signed no operation")
		}
		m.st.SignedOp, m.st.PLCToken = out.Operation, ""
		if err := m.save(); err != nil {
			return err
		}
	}
	return m.new.post(ctx, "com.atproto.identity.submitPlcOperation", map[string]any{"operation": m.st.SignedOp}, nil)
}

func (m *Mover) activate(ctx context.Context) error {
	if err := m.new.ensure(ctx); err != nil {
		return m.sessionLost(err, NeedNewPassword)
	}
	st, err := m.newStatus(ctx)
	if err != nil {
		return err
	}
	if !st.ValidDid {
		return errors.New("the DID document does not point at the new PDS yet: not activating")
	}
	if st.Activated {
		return nil
	}
	return m.new.post(ctx, "com.atproto.server.activateAccount", nil, nil)
}

func (m *Mover) deactivateOld(ctx context.Context) error {
	nrs, ok, err := m.repoStatus(ctx, m.new)
	if err != nil {
		return err
	}
	if !ok || !nrs.Active {
		return errors.New("the account is not active on the new PDS: the old one stays active")
	}
	ors, ok, err := m.repoStatus(ctx, m.old)
	if err != nil {
		return err
	}
	if !ok || !ors.Active {
		return nil // deactivated by an earlier run
	}
	if err := m.old.ensure(ctx); err != nil {
		return m.sessionLost(err, NeedOldPassword)
	}
	return m.old.post(ctx, "com.atproto.server.deactivateAccount", map[string]any{}, nil)
}

func (m *Mover) report(ctx context.Context) error {
	if err := m.new.ensure(ctx); err != nil {
		return m.sessionLost(err, NeedNewPassword)
	}
	sum := m.st.Summary
	inv, err := takeInventory(ctx, m.new, m.st.DID)
	if err != nil {
		return err
	}
	cols, total, handle := inv.collections, inv.records, inv.handle
	blobs, prefs := inv.blobs, inv.preferences
	r := &Report{OldRecords: sum.Records, NewRecords: total, OldBlobs: sum.Blobs, NewBlobs: len(blobs),
		MissingBlobs: m.st.Blobs.Missing, OldPreferences: sum.Preferences, NewPreferences: len(prefs),
		OldHandle: sum.Handle, NewHandle: handle}
	colsOK := true
	names := map[string]bool{}
	for c := range sum.Collections {
		names[c] = true
	}
	for c := range cols {
		names[c] = true
	}
	for _, c := range sortedKeys(names) {
		cc := CollectionCount{Collection: c, Old: sum.Collections[c], New: cols[c]}
		colsOK = colsOK && cc.Old == cc.New
		r.Collections = append(r.Collections, cc)
	}
	st, err := m.newStatus(ctx)
	if err != nil {
		return err
	}
	r.PLCEndpoint, r.PLCOK, err = m.plcCheck(ctx, st.ValidDid)
	if err != nil {
		return err
	}
	nrs, _, err := m.repoStatus(ctx, m.new)
	if err != nil {
		return err
	}
	ors, _, err := m.repoStatus(ctx, m.old)
	if err != nil {
		return err
	}
	r.NewActive, r.OldStatus = nrs.Active, ors.Status
	if ors.Active {
		r.OldStatus = "active"
	}
	r.OK = colsOK && r.OldRecords == r.NewRecords && r.OldBlobs == r.NewBlobs && len(r.MissingBlobs) == 0 &&
		r.OldPreferences == r.NewPreferences && r.PLCOK && r.NewActive && !ors.Active &&
		strings.EqualFold(r.NewHandle, m.st.Plan.NewHandle)
	m.st.Report = r
	return nil
}

// plcCheck reads the DID document's PDS endpoint from the PLC directory
// and compares it with the one the new PDS recommended.
func (m *Mover) plcCheck(ctx context.Context, validDid bool) (string, bool, error) {
	if m.opts.PLCURL == "" || !strings.HasPrefix(m.st.DID, "did:plc:") {
		return "", validDid, nil
	}
	var creds struct {
		Services map[string]struct {
			Endpoint string `json:"endpoint"`
		} `json:"services"`
	}
	if err := m.new.getAuthed(ctx, "com.atproto.identity.getRecommendedDidCredentials", nil, &creds); err != nil {
		return "", false, err
	}
	want := creds.Services["atproto_pds"].Endpoint
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(m.opts.PLCURL, "/")+"/"+m.st.DID, nil)
	if err != nil {
		return "", false, err
	}
	resp, err := m.opts.HTTP.Do(req)
	if err != nil {
		return "", false, fmt.Errorf("read the DID document from the PLC directory: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("read the DID document from the PLC directory: HTTP %d", resp.StatusCode)
	}
	var doc struct {
		Service []struct {
			ID              string `json:"id"`
			ServiceEndpoint string `json:"serviceEndpoint"`
		} `json:"service"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return "", false, fmt.Errorf("read the DID document from the PLC directory: %w", err)
	}
	for _, s := range doc.Service {
		if s.ID == "#atproto_pds" || s.ID == m.st.DID+"#atproto_pds" {
			return s.ServiceEndpoint, s.ServiceEndpoint == want && validDid, nil
		}
	}
	return "", false, nil
}

package moving

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Direction says which way the account moves, seen from Hearth.
type Direction string

// The two wizards.
const (
	MoveIn  Direction = "in"  // from another PDS into Hearth
	MoveOut Direction = "out" // from Hearth to another PDS
)

// Step is one step of a move.
type Step string

// The steps, in order (Steps).
const (
	StepSignIn      Step = "sign_in"        // a session on the old PDS
	StepSummary     Step = "summary"        // what will move; waits for the user's go
	StepCreate      Step = "create_account" // the account on the new PDS, with service auth
	StepRepo        Step = "import_repo"    // the repo CAR, old → new
	StepBlobs       Step = "copy_blobs"     // listMissingBlobs → getBlob → uploadBlob
	StepPreferences Step = "preferences"    // getPreferences → putPreferences
	StepToken       Step = "plc_token"      // the old PDS sends the PLC code; the user (or the outbox) gives it
	StepPLC         Step = "plc_operation"  // signed by the old PDS, submitted through the new
	StepActivate    Step = "activate"       // the new side active
	StepDeactivate  Step = "deactivate_old" // the old side deactivated (only after the new is active)
	StepReport      Step = "report"         // both sides compared
	StepDone        Step = "done"
	stateVersion         = 1
)

// Steps lists the steps in the order they run.
var Steps = []Step{StepSignIn, StepSummary, StepCreate, StepRepo, StepBlobs, StepPreferences, StepToken, StepPLC, StepActivate, StepDeactivate, StepReport}

// Need says what input a run waits for.
type Need string

// What a run can wait for.
const (
	NeedNothing     Need = ""
	NeedOldPassword Need = "old_password" // sign in to the old PDS (again)
	NeedEmailCode   Need = "email_code"   // the old PDS asked for the code it emailed (AuthFactorTokenRequired)
	NeedConfirm     Need = "confirm"      // the summary is ready; the user starts the move
	NeedNewPassword Need = "new_password" // the password for the account on the new PDS (again)
	NeedPLCToken    Need = "plc_token"    // the code the old PDS emailed for the PLC operation
)

// Plan is what the user chose when the wizard started.
type Plan struct {
	Direction Direction `json:"direction"`
	// OldURL and NewURL are the two PDSes' base URLs.
	OldURL string `json:"oldUrl"`
	NewURL string `json:"newUrl"`
	// Identifier signs in to the old PDS (handle, DID or email).
	Identifier string `json:"identifier"`
	// NewHandle is the handle on the new PDS: the old domain handle kept,
	// or a new one ("" = keep the old handle).
	NewHandle  string `json:"newHandle,omitempty"`
	Email      string `json:"email"`
	InviteCode string `json:"inviteCode,omitempty"`
}

// Summary is what will move, as the old PDS lists it before the move.
type Summary struct {
	DID         string         `json:"did"`
	Handle      string         `json:"handle"`
	Collections map[string]int `json:"collections"` // NSID → records
	Records     int            `json:"records"`
	Blobs       int            `json:"blobs"`
	Preferences int            `json:"preferences"`
	// NewServiceDID is the new PDS's service DID (the aud of the service
	// auth token); InviteRequired and UserDomains come from its describeServer.
	NewServiceDID  string   `json:"newServiceDid"`
	InviteRequired bool     `json:"inviteRequired"`
	UserDomains    []string `json:"userDomains,omitempty"`
}

// BlobProgress counts the blob copy.
type BlobProgress struct {
	// Expected and Imported are the new PDS's own counts
	// (checkAccountStatus) when the step (re)started.
	Expected int `json:"expected"`
	Imported int `json:"imported"`
	// Copied counts blobs this move uploaded, over all runs; Skipped is
	// how many were already there when a run (re)started the step.
	Copied  int `json:"copied"`
	Skipped int `json:"skipped"`
	// Missing lists blobs the old PDS could not serve (the report shows
	// them; the move goes on without them).
	Missing []string `json:"missing,omitempty"`
}

// State is the persisted state of one move.
type State struct {
	Version int  `json:"version"`
	Plan    Plan `json:"plan"`
	// Next is the step to run next (StepDone at the end); Need is the
	// input that step waits for, Problem the last error, if any.
	Next    Step   `json:"next"`
	Need    Need   `json:"need,omitempty"`
	Problem string `json:"problem,omitempty"`

	DID string `json:"did,omitempty"`
	// OldPDS is the account's own PDS when the old address signed in
	// through an entryway (bsky.social answers createSession with a DID
	// document naming the PDS that holds the repo, and the repo, blobs
	// and everything after sign-in are asked of that PDS, as the Bluesky
	// app and goat do).
	OldPDS    string   `json:"oldPDS,omitempty"`
	Summary   *Summary `json:"summary,omitempty"`
	Confirmed bool     `json:"confirmed,omitempty"`
	// OldSession and NewSession are the sessions on both sides (tokens,
	// never passwords; the file is 0600).
	OldSession Session      `json:"oldSession"`
	NewSession Session      `json:"newSession"`
	Blobs      BlobProgress `json:"blobs"`
	// TokenRequested is set once the old PDS was asked to send the PLC
	// code; PLCToken is the code given (kept until the operation is
	// signed); SignedOp is the operation the old PDS signed (kept until it
	// is submitted, so a crash in between does not need a second code).
	TokenRequested bool            `json:"tokenRequested,omitempty"`
	PLCToken       string          `json:"plcToken,omitempty"`
	SignedOp       json.RawMessage `json:"signedOp,omitempty"`
	Report         *Report         `json:"report,omitempty"`
	UpdatedAt      string          `json:"updatedAt"`
}

// Report compares both sides after the move.
type Report struct {
	Collections    []CollectionCount `json:"collections"`
	OldRecords     int               `json:"oldRecords"`
	NewRecords     int               `json:"newRecords"`
	OldBlobs       int               `json:"oldBlobs"`
	NewBlobs       int               `json:"newBlobs"`
	MissingBlobs   []string          `json:"missingBlobs,omitempty"`
	OldPreferences int               `json:"oldPreferences"`
	NewPreferences int               `json:"newPreferences"`
	OldHandle      string            `json:"oldHandle"`
	NewHandle      string            `json:"newHandle"`
	// PLCEndpoint is the PDS endpoint of the DID document (from the PLC
	// directory, or the new PDS's own resolution when no directory is
	// configured).
	PLCEndpoint string `json:"plcEndpoint"`
	PLCOK       bool   `json:"plcOk"`
	NewActive   bool   `json:"newActive"`
	OldStatus   string `json:"oldStatus"` // getRepoStatus on the old PDS: "deactivated"
	OK          bool   `json:"ok"`
}

// CollectionCount is one collection's record count on both sides (the old
// side's as counted before the move: a deactivated repo is not listed).
type CollectionCount struct {
	Collection string `json:"collection"`
	Old        int    `json:"old"`
	New        int    `json:"new"`
}

// LoadState reads the state file at path; os.ErrNotExist (wrapped) when
// there is none.
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the move's state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("the move's state %s is not valid JSON (left untouched): %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("the move's state %s has version %d, want %d (left untouched)", path, st.Version, stateVersion)
	}
	if !st.Next.valid() {
		return nil, fmt.Errorf("the move's state %s names an unknown step %q (left untouched)", path, st.Next)
	}
	return &st, nil
}

func (s Step) valid() bool {
	if s == StepDone {
		return true
	}
	for _, x := range Steps {
		if s == x {
			return true
		}
	}
	return false
}

// saveState writes st to path atomically: a 0600 temporary file in the
// same folder, synced, renamed over path, and the folder synced.
func saveState(path string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the move's state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".move-*.tmp")
	if err != nil {
		return fmt.Errorf("save the move's state: %w", err)
	}
	tmp := f.Name()
	werr := func() error {
		if err := f.Chmod(0o600); err != nil {
			return err
		}
		if _, err := f.Write(b); err != nil {
			return err
		}
		return f.Sync()
	}()
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("save the move's state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("save the move's state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save the move's state: sync the folder: %w", err)
	}
	serr := d.Sync()
	return errors.Join(serr, d.Close())
}

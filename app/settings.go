package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	cidpkg "github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/repos"
)

// The account settings screen: profile, handle, password, app passwords,
// email, deactivation and deletion. Each binding calls the same engine
// method the matching XRPC call does.

const (
	profileCollection = "app.bsky.actor.profile"
	profileRkey       = "self"
	// guiFrom is the "address" the window's password checks count against
	// in the login throttle.
	guiFrom = "window"
	// EmailNote explains what Hearth does with an email address.
	EmailNote = "Hearth sends no mail. The codes another PDS would email you (to confirm an address, change it, reset the password or delete the account) go to the outbox below (and hearthd outbox list); apps see whether your address is confirmed."
)

// Profile is the account's app.bsky.actor.profile record, as the settings
// screen edits it.
type Profile struct {
	DisplayName string   `json:"displayName"`
	Description string   `json:"description"`
	Avatar      *BlobRef `json:"avatar"` // nil: none
	Banner      *BlobRef `json:"banner"`
	AvatarURL   string   `json:"avatarUrl"`
	BannerURL   string   `json:"bannerUrl"`
	CID         string   `json:"cid"` // "" when there is no profile record yet
}

// AppPasswordInfo is one app password (its secret is shown only once, when
// it is created).
type AppPasswordInfo struct {
	Name       string `json:"name"`
	CreatedAt  string `json:"createdAt"`
	Privileged bool   `json:"privileged"`
}

// NewAppPassword is a created app password, with its secret.
type NewAppPassword struct {
	AppPasswordInfo
	Password string `json:"password"`
}

// AccountSettings is what the account settings screen shows.
type AccountSettings struct {
	DID            string            `json:"did"`
	Handle         string            `json:"handle"`
	Email          string            `json:"email"`
	EmailConfirmed bool              `json:"emailConfirmed"`
	EmailNote      string            `json:"emailNote"`
	Outbox         []OutboxMessage   `json:"outbox"`
	Active         bool              `json:"active"`
	Status         string            `json:"status"`
	UserDomains    []string          `json:"userDomains"`
	AppPasswords   []AppPasswordInfo `json:"appPasswords"`
	Profile        Profile           `json:"profile"`
	// BlueskyURL is the profile on bsky.app while the PDS is published
	// (online through the tunnel); "" otherwise.
	BlueskyURL string `json:"blueskyUrl"`
}

// GetAccountSettings reads everything the settings screen shows.
func (a *App) GetAccountSettings() (*AccountSettings, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	prof, err := a.profile(acc.DID)
	if err != nil {
		return nil, err
	}
	aps, err := e.Accounts.ListAppPasswords(bg, acc.DID)
	if err != nil {
		return nil, err
	}
	out := &AccountSettings{DID: acc.DID.String(), Handle: acc.Handle.String(), Email: acc.Email, EmailNote: EmailNote,
		Active: acc.Active(), Status: acc.Status, UserDomains: e.Identity.UserDomains(), Profile: *prof, AppPasswords: []AppPasswordInfo{}}
	for _, p := range aps {
		out.AppPasswords = append(out.AppPasswords, AppPasswordInfo{Name: p.Name, CreatedAt: p.CreatedAt, Privileged: p.Privileged})
	}
	if out.EmailConfirmed, err = e.Accounts.EmailConfirmed(bg, acc.DID); err != nil {
		return nil, err
	}
	msgs, err := e.Outbox.List(bg, acc.DID)
	if err != nil {
		return nil, err
	}
	out.Outbox = []OutboxMessage{}
	now := time.Now()
	for _, m := range msgs {
		out.Outbox = append(out.Outbox, OutboxMessage{Purpose: string(m.Purpose), Token: m.Token, Email: m.Email, CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt, Expired: m.Expired(now)})
	}
	out.BlueskyURL = a.blueskyURL(acc)
	return out, nil
}

// blueskyURL is the account's profile on bsky.app while publishing is
// online, else "".
func (a *App) blueskyURL(acc *accounts.Account) string {
	a.mu.Lock()
	pub := a.pub
	a.mu.Unlock()
	if pub == nil || pub.mgr.Status().State != "online" {
		return ""
	}
	return "https://bsky.app/profile/" + url.PathEscape(acc.Handle.String())
}

func (a *App) profile(did syntax.DID) (*Profile, error) {
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	rec, err := e.Repos.GetRecord(bg, did, profileCollection, profileRkey, cidpkg.Undef)
	if errors.Is(err, errs.ErrRecordNotFound) {
		return &Profile{}, nil
	}
	if err != nil {
		return nil, err
	}
	p := &Profile{CID: rec.CID}
	p.DisplayName, _ = rec.Value["displayName"].(string)
	p.Description, _ = rec.Value["description"].(string)
	p.Avatar = blobIn(rec.Value["avatar"])
	p.Banner = blobIn(rec.Value["banner"])
	if p.Avatar != nil {
		p.AvatarURL = a.blobURL(did.String(), p.Avatar.CID)
	}
	if p.Banner != nil {
		p.BannerURL = a.blobURL(did.String(), p.Banner.CID)
	}
	return p, nil
}

// blobIn reads a blob reference out of a decoded record value (through its
// JSON form, which is the same for every decoder).
func blobIn(v any) *BlobRef {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var ref struct {
		Ref struct {
			Link string `json:"$link"`
		} `json:"ref"`
		MimeType string `json:"mimeType"`
		Size     int64  `json:"size"`
	}
	if json.Unmarshal(b, &ref) != nil || ref.Ref.Link == "" {
		return nil
	}
	return &BlobRef{CID: ref.Ref.Link, MimeType: ref.MimeType, Size: ref.Size}
}

// ProfileInput is an edited profile. Avatar and Banner name blobs already
// uploaded (UploadBlob, or one from the gallery); nil removes them.
type ProfileInput struct {
	DisplayName string   `json:"displayName"`
	Description string   `json:"description"`
	Avatar      *BlobRef `json:"avatar"`
	Banner      *BlobRef `json:"banner"`
	// BaseCID is the profile's CID the edit started from ("" for none): a
	// profile changed meanwhile (by an app over XRPC) is not overwritten.
	BaseCID string `json:"baseCid"`
}

// SaveProfile writes app.bsky.actor.profile/self through the validated
// write path, keeping the record's other fields (pinned post, labels…).
func (a *App) SaveProfile(in ProfileInput) (*WriteResult, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	rec := map[string]any{}
	cur, err := e.Repos.GetRecord(bg, acc.DID, profileCollection, profileRkey, cidpkg.Undef)
	switch {
	case errors.Is(err, errs.ErrRecordNotFound):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(mustJSON(cur.Value), &rec); err != nil {
			return nil, fmt.Errorf("read the current profile: %w", err)
		}
	}
	swap := cidpkg.Undef
	if in.BaseCID != "" {
		if swap, err = cidpkg.Decode(in.BaseCID); err != nil {
			return nil, fmt.Errorf("profile version: %w", err)
		}
	}
	rec["$type"] = profileCollection
	setOrDelete(rec, "displayName", strings.TrimSpace(in.DisplayName))
	setOrDelete(rec, "description", strings.TrimSpace(in.Description))
	for key, ref := range map[string]*BlobRef{"avatar": in.Avatar, "banner": in.Banner} {
		if ref == nil {
			delete(rec, key)
			continue
		}
		rec[key] = map[string]any{"$type": "blob", "ref": map[string]any{"$link": ref.CID}, "mimeType": ref.MimeType, "size": ref.Size}
	}
	if _, ok := rec["createdAt"]; !ok {
		rec["createdAt"] = syntax.DatetimeNow().String()
	}
	data, err := decodeJSONRecord(mustJSON(rec))
	if err != nil {
		return nil, err
	}
	res, err := e.Repos.ApplyWrites(bg, acc.DID, []repos.Write{{Action: actorrepo.Update, Collection: profileCollection, Rkey: profileRkey, Record: data, SwapRecord: &swap}}, repos.WriteOptions{})
	if err != nil {
		if errors.Is(err, errs.ErrInvalidSwap) {
			return nil, errors.New("your profile was changed elsewhere (by an app) since this screen loaded it: reload and edit again")
		}
		return nil, err
	}
	r := res.Results[0]
	return &WriteResult{URI: r.URI, CID: r.CID, ValidationStatus: r.ValidationStatus}, nil
}

func setOrDelete(m map[string]any, k, v string) {
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("null")
	}
	return b
}

// ChangeHandle switches the account to a new handle: one under this PDS's
// user domains, the public hostname, or a domain whose DNS TXT record or
// /.well-known/atproto-did already names the account's DID.
func (a *App) ChangeHandle(raw string) (*AccountInfo, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	h, err := accounts.ParseNewHandle(strings.TrimPrefix(strings.TrimSpace(raw), "@"))
	if err != nil {
		return nil, err
	}
	if err := e.Identity.VerifyHandle(bg, acc.DID, h); err != nil {
		return nil, err
	}
	if err := e.UpdateHandle(bg, acc.DID, h.String()); err != nil {
		return nil, err
	}
	got, err := e.Accounts.Get(bg, acc.DID)
	if err != nil {
		return nil, err
	}
	return a.accountInfo(e, got)
}

// ChangePassword replaces the account password (the current one is
// checked) and signs out every session; app passwords keep working.
func (a *App) ChangePassword(current, next string) error {
	e, acc, err := a.account(bg)
	if err != nil {
		return err
	}
	return e.Accounts.ChangePassword(bg, acc.DID, current, next, guiFrom)
}

// CreateAppPassword makes an app password. A privileged one may also read
// and send direct messages (chat.bsky.*); give it only to apps that need
// that.
func (a *App) CreateAppPassword(name string, privileged bool) (*NewAppPassword, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	pw, info, err := e.Accounts.CreateAppPassword(bg, acc.DID, strings.TrimSpace(name), privileged)
	if err != nil {
		return nil, err
	}
	return &NewAppPassword{AppPasswordInfo: AppPasswordInfo{Name: info.Name, CreatedAt: info.CreatedAt, Privileged: info.Privileged}, Password: pw}, nil
}

// RevokeAppPassword deletes an app password and signs out the sessions
// made with it.
func (a *App) RevokeAppPassword(name string) error {
	e, acc, err := a.account(bg)
	if err != nil {
		return err
	}
	return e.Accounts.RevokeAppPassword(bg, acc.DID, name)
}

// OutboxMessage is one message of the outbox: what the reference PDS
// would have emailed.
type OutboxMessage struct {
	Purpose   string `json:"purpose"`
	Token     string `json:"token"`
	Email     string `json:"email"`
	CreatedAt string `json:"createdAt"`
	ExpiresAt string `json:"expiresAt"`
	Expired   bool   `json:"expired"`
}

// SetEmail changes the account's email address through the same flow as
// com.atproto.server.updateEmail. Once the current address is confirmed,
// a change needs the update_email code: called without one, SetEmail puts
// a code in the outbox and reports needsCode; call again with it.
func (a *App) SetEmail(email, code string) (needsCode bool, err error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(code) == "" {
		confirmed, err := e.Accounts.EmailConfirmed(bg, acc.DID)
		if err != nil {
			return false, err
		}
		if confirmed {
			if _, err := e.RequestEmailUpdate(bg, acc.DID); err != nil {
				return false, err
			}
			return true, nil
		}
	}
	return false, e.UpdateEmail(bg, acc.DID, email, code)
}

// RequestEmailConfirmation puts a confirm_email code in the outbox.
func (a *App) RequestEmailConfirmation() error {
	e, acc, err := a.account(bg)
	if err != nil {
		return err
	}
	return e.RequestEmailConfirmation(bg, acc.DID)
}

// ConfirmEmail confirms the account's current address with the code from
// the outbox.
func (a *App) ConfirmEmail(code string) error {
	e, acc, err := a.account(bg)
	if err != nil {
		return err
	}
	return e.ConfirmEmail(bg, acc.DID, acc.Email, code)
}

// SetAccountActive deactivates (false) or reactivates (true) the account.
// A deactivated account keeps its data but refuses writes, and relays and
// apps are told (#account) that it is not active.
func (a *App) SetAccountActive(active bool) error {
	e, acc, err := a.account(bg)
	if err != nil {
		return err
	}
	return e.SetActive(bg, acc.DID, active)
}

// DeleteAccount deletes the account and all of its data for good. confirm
// must be the account's handle, typed; password the account password.
func (a *App) DeleteAccount(confirm, password string) error {
	e, acc, err := a.account(bg)
	if err != nil {
		return err
	}
	if strings.TrimPrefix(strings.TrimSpace(strings.ToLower(confirm)), "@") != acc.Handle.String() {
		return fmt.Errorf("type your handle, %s, to confirm", acc.Handle)
	}
	return e.DeleteAccount(bg, acc.DID, password, guiFrom)
}

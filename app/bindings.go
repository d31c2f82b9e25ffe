package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	cidpkg "github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/eventlog"
	"github.com/hearth-pds/hearth/pds/events"
	"github.com/hearth-pds/hearth/pds/repos"
)

var bg = context.Background()

// AccountInfo is the window's account.
type AccountInfo struct {
	DID          string `json:"did"`
	Handle       string `json:"handle"`
	Email        string `json:"email"`
	Status       string `json:"status"`
	PLCPublished int    `json:"plcPublished"`
	PLCPending   int    `json:"plcPending"`
	Published    bool   `json:"published"` // the DID is in the PLC directory
	Explanation  string `json:"explanation"`
}

func (a *App) accountInfo(e *pds.Engine, acc *accounts.Account) (*AccountInfo, error) {
	st, err := e.Identity.PLCStatus(bg, acc.DID)
	if err != nil {
		return nil, err
	}
	info := &AccountInfo{DID: acc.DID.String(), Handle: acc.Handle.String(), Email: acc.Email, Status: acc.Status, PLCPublished: st.Published, PLCPending: st.Pending}
	info.Published = st.Published > 0
	if web, ok := strings.CutPrefix(acc.DID.String(), "did:web:"); ok {
		info.Published = true
		info.Explanation = "Your DID is " + acc.DID.String() + ": its document lives at https://" + web + "/.well-known/did.json, which Hearth serves whenever " + web + " reaches this PDS (switch publishing on with that domain). Whoever controls the domain controls the identity."
		return info, nil
	}
	a.mu.Lock()
	pub := a.pub
	a.mu.Unlock()
	if pub != nil {
		if ts := pub.mgr.Status(); ts.State == "online" && st.Pending == 0 {
			info.Explanation = "Your identity is published and your PDS is reachable at " + ts.URL + " through the tunnel."
			return info, nil
		}
	}
	switch {
	case st.Pending == 0:
		info.Explanation = "Your identity is published in the PLC directory. Your PDS is only reachable from this computer until you switch publishing on."
	case st.Published == 0:
		info.Explanation = "Your DID exists and is yours, but it is not published yet: the PLC directory could not be reached. Hearth keeps the signed operation and publishes it when it can. Until then, other servers cannot find you."
	default:
		info.Explanation = "Your DID is published, but a later identity change (handle or address) is still waiting to be published."
	}
	return info, nil
}

// Account returns the current account, or nil when there is none yet.
func (a *App) Account() (*AccountInfo, error) {
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	accs, err := e.Accounts.List(bg)
	if err != nil || len(accs) == 0 {
		return nil, err
	}
	return a.accountInfo(e, &accs[0])
}

// CreateAccount creates the owner's account (no invite needed).
func (a *App) CreateAccount(handle, password, email string) (*AccountInfo, error) {
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	acc, err := e.CreateAccount(bg, pds.NewAccount{Handle: handle, Password: password, Email: email})
	if err != nil {
		return nil, err
	}
	return a.accountInfo(e, acc)
}

// CreateAccountWithDIDWeb creates the owner's account with did:web:<domain>
// (for someone who owns a stable domain) instead of did:plc.
func (a *App) CreateAccountWithDIDWeb(handle, password, email, domain string) (*AccountInfo, error) {
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	acc, err := e.CreateAccount(bg, pds.NewAccount{Handle: handle, Password: password, Email: email, DIDWeb: domain})
	if err != nil {
		return nil, err
	}
	return a.accountInfo(e, acc)
}

// CreateInviteCode mints an invite code for XRPC createAccount (which is
// closed otherwise), for uses accounts.
func (a *App) CreateInviteCode(uses int) (string, error) {
	e, err := a.eng()
	if err != nil {
		return "", err
	}
	return e.Accounts.CreateInviteCode(bg, uses)
}

// OpenDataDir switches the window to another data folder (one chosen with
// a dialog when dir is empty). The engine restarts on it.
func (a *App) OpenDataDir(dir string) (string, error) {
	if dir == "" {
		a.mu.Lock()
		ui := a.ui
		a.mu.Unlock()
		if ui == nil {
			return "", fmt.Errorf("no window")
		}
		d, err := ui.OpenFile("Open a Hearth data folder (pick its hearth.db)", "hearth.db")
		if err != nil || d == "" {
			return "", err
		}
		dir = strings.TrimSuffix(d, "/hearth.db")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("%s is not a folder", dir)
	}
	a.stop(bg)
	err := a.open(bg, dir)
	a.mu.Lock()
	a.openErr = err
	a.mu.Unlock()
	if err != nil {
		return "", err
	}
	return dir, nil
}

// StatusInfo is the status panel.
type StatusInfo struct {
	DataDir     string      `json:"dataDir"`
	LocalURL    string      `json:"localURL"`
	PublicURL   string      `json:"publicURL"` // filled by the tunnel (later)
	Seq         int64       `json:"seq"`
	Subscribers int         `json:"subscribers"`
	Recent      []EventInfo `json:"recent"`
	RelayCrawl  []string    `json:"relayCrawl"` // filled by the tunnel issue
	// SettingsError says why desktop.json cannot be read or saved ("" if
	// it can); the app then runs on defaults and leaves the file alone.
	SettingsError string `json:"settingsError,omitempty"`
}

// EventInfo is one event-log entry.
type EventInfo struct {
	Seq  int64  `json:"seq"`
	DID  string `json:"did"`
	Kind string `json:"kind"`
	Time string `json:"time"`
}

func eventInfo(ev eventlog.Event) EventInfo {
	return EventInfo{Seq: ev.Seq, DID: ev.DID, Kind: ev.Kind, Time: ev.Time}
}

// Status returns the status panel's data.
func (a *App) Status() (*StatusInfo, error) {
	a.mu.Lock()
	srv, dir, url, openErr := a.server, a.dataDir, a.url, a.openErr
	a.mu.Unlock()
	if srv == nil {
		if openErr != nil {
			return nil, openErr
		}
		return nil, errNotRunning
	}
	st := srv.Firehose().Stats()
	out := &StatusInfo{DataDir: dir, LocalURL: url, Seq: st.Seq, Subscribers: st.Subscribers, Recent: []EventInfo{}, RelayCrawl: []string{},
		SettingsError: a.settingsProblem()}
	a.mu.Lock()
	p := a.pub
	a.mu.Unlock()
	if p != nil {
		ts := p.mgr.Status()
		if ts.State == "online" {
			out.PublicURL = ts.URL
		}
		for _, r := range p.sup.Status() {
			out.RelayCrawl = append(out.RelayCrawl, r.Relay+": "+r.State)
		}
	}
	rec := srv.Firehose().Recent()
	for i := len(rec) - 1; i >= 0 && len(out.Recent) < 20; i-- {
		out.Recent = append(out.Recent, eventInfo(rec[i]))
	}
	return out, nil
}

// ImageInput is one image of a post (already uploaded with UploadBlob).
type ImageInput struct {
	CID      string `json:"cid"`
	MimeType string `json:"mimeType"`
	Size     int64  `json:"size"`
	Alt      string `json:"alt"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

// PostInput is a post from the composer. Facets come from @atproto/api's
// RichText in the frontend, as JSON.
type PostInput struct {
	Text    string          `json:"text"`
	Facets  json.RawMessage `json:"facets"`
	Images  []ImageInput    `json:"images"`
	ReplyTo string          `json:"replyTo"` // AT-URI of one of your posts
	Langs   []string        `json:"langs"`
}

// WriteResult is a created record.
type WriteResult struct {
	URI              string `json:"uri"`
	CID              string `json:"cid"`
	ValidationStatus string `json:"validationStatus"`
}

// BlobRef is an uploaded blob.
type BlobRef struct {
	CID      string `json:"cid"`
	MimeType string `json:"mimeType"`
	Size     int64  `json:"size"`
}

// UploadBlob stores base64 data as a blob of the account.
func (a *App) UploadBlob(mimeType, dataBase64 string) (*BlobRef, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	data, err := base64.StdEncoding.DecodeString(dataBase64)
	if err != nil {
		return nil, fmt.Errorf("the file could not be read: %w", err)
	}
	info, err := e.Blobs.Upload(bg, acc.DID, mimeType, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return &BlobRef{CID: info.CID, MimeType: info.MimeType, Size: info.Size}, nil
}

// Post creates an app.bsky.feed.post through the engine's validated write path.
func (a *App) Post(in PostInput) (*WriteResult, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	rec := map[string]any{"$type": "app.bsky.feed.post", "text": in.Text, "createdAt": syntax.DatetimeNow().String()}
	if len(in.Facets) > 0 && string(in.Facets) != "null" && string(in.Facets) != "[]" {
		var facets []any
		if err := json.Unmarshal(in.Facets, &facets); err != nil {
			return nil, fmt.Errorf("facets: %w", err)
		}
		rec["facets"] = facets
	}
	if len(in.Langs) > 0 {
		rec["langs"] = in.Langs
	}
	if len(in.Images) > 4 {
		return nil, fmt.Errorf("a post holds at most 4 images")
	}
	if len(in.Images) > 0 {
		imgs := []any{}
		for _, im := range in.Images {
			img := map[string]any{"alt": im.Alt, "image": map[string]any{"$type": "blob", "ref": map[string]any{"$link": im.CID}, "mimeType": im.MimeType, "size": im.Size}}
			if im.Width > 0 && im.Height > 0 {
				img["aspectRatio"] = map[string]any{"width": im.Width, "height": im.Height}
			}
			imgs = append(imgs, img)
		}
		rec["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": imgs}
	}
	if in.ReplyTo != "" {
		uri, err := syntax.ParseATURI(in.ReplyTo)
		if err != nil {
			return nil, fmt.Errorf("reply target: %w", err)
		}
		parent, err := recordAt(e, uri)
		if err != nil {
			return nil, err
		}
		root := map[string]any{"uri": parent.URI, "cid": parent.CID}
		if reply, ok := parent.Value["reply"].(map[string]any); ok {
			if r, ok := reply["root"].(map[string]any); ok {
				root = r
			}
		}
		rec["reply"] = map[string]any{"root": root, "parent": map[string]any{"uri": parent.URI, "cid": parent.CID}}
	}
	// Round-trip through JSON so the record is plain atproto data (links, blobs).
	b, _ := json.Marshal(rec)
	data, err := decodeJSONRecord(b)
	if err != nil {
		return nil, err
	}
	res, err := e.Repos.ApplyWrites(bg, acc.DID, []repos.Write{{Action: actorrepo.Create, Collection: "app.bsky.feed.post", Record: data}}, repos.WriteOptions{})
	if err != nil {
		return nil, err
	}
	r := res.Results[0]
	return &WriteResult{URI: r.URI, CID: r.CID, ValidationStatus: r.ValidationStatus}, nil
}

// DeleteRecord deletes one of your records by AT-URI.
func (a *App) DeleteRecord(uri string) error {
	e, acc, err := a.account(bg)
	if err != nil {
		return err
	}
	u, err := syntax.ParseATURI(uri)
	if err != nil {
		return fmt.Errorf("not an AT-URI: %w", err)
	}
	if u.Authority().String() != acc.DID.String() {
		return fmt.Errorf("%s is not one of your records", uri)
	}
	_, err = e.Repos.ApplyWrites(bg, acc.DID, []repos.Write{{Action: actorrepo.Delete, Collection: u.Collection(), Rkey: u.RecordKey()}}, repos.WriteOptions{})
	return err
}

// RecordView is a record for the timeline and the repo browser.
type RecordView struct {
	URI       string `json:"uri"`
	CID       string `json:"cid"`
	JSON      string `json:"json"`      // pretty JSON, links as {"$link"}
	Text      string `json:"text"`      // posts
	CreatedAt string `json:"createdAt"` // posts
	Images    []struct {
		URL string `json:"url"`
		Alt string `json:"alt"`
		CID string `json:"cid"`
	} `json:"images"`
	ReplyTo string `json:"replyTo"`
}

func (a *App) blobURL(did, cid string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.url + "/xrpc/com.atproto.sync.getBlob?did=" + did + "&cid=" + cid
}

func (a *App) view(did syntax.DID, r *repos.Record) RecordView {
	b, _ := json.MarshalIndent(r.Value, "", "  ")
	v := RecordView{URI: r.URI, CID: r.CID, JSON: string(b)}
	v.Text, _ = r.Value["text"].(string)
	v.CreatedAt, _ = r.Value["createdAt"].(string)
	if reply, ok := r.Value["reply"].(map[string]any); ok {
		if p, ok := reply["parent"].(map[string]any); ok {
			v.ReplyTo, _ = p["uri"].(string)
		}
	}
	if emb, ok := r.Value["embed"].(map[string]any); ok {
		imgs, _ := emb["images"].([]any)
		for _, x := range imgs {
			im, _ := x.(map[string]any)
			alt, _ := im["alt"].(string)
			var cid string
			if bm, err := json.Marshal(im["image"]); err == nil {
				var ref struct {
					Ref struct {
						Link string `json:"$link"`
					} `json:"ref"`
				}
				if json.Unmarshal(bm, &ref) == nil {
					cid = ref.Ref.Link
				}
			}
			v.Images = append(v.Images, struct {
				URL string `json:"url"`
				Alt string `json:"alt"`
				CID string `json:"cid"`
			}{URL: a.blobURL(did.String(), cid), Alt: alt, CID: cid})
		}
	}
	return v
}

// Page is a page of records.
type Page struct {
	Records []RecordView `json:"records"`
	Cursor  string       `json:"cursor"`
}

// Timeline lists your posts, newest first.
func (a *App) Timeline(cursor string) (*Page, error) {
	return a.ListRecords("app.bsky.feed.post", cursor)
}

// ListRecords pages through one of your collections, newest first.
func (a *App) ListRecords(collection, cursor string) (*Page, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	col, err := syntax.ParseNSID(collection)
	if err != nil {
		return nil, fmt.Errorf("not a collection name: %w", err)
	}
	recs, next, err := e.Repos.ListRecords(bg, repos.ListRecordsQuery{Repo: acc.DID, Collection: col, Cursor: cursor, Limit: 25})
	if err != nil {
		return nil, err
	}
	p := &Page{Records: []RecordView{}, Cursor: next}
	for _, r := range recs {
		p.Records = append(p.Records, a.view(acc.DID, r))
	}
	return p, nil
}

// Collection is a collection and its record count.
type Collection struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// Collections lists your collections.
func (a *App) Collections() ([]Collection, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	cols, err := e.Repos.Collections(bg, acc.DID)
	if err != nil {
		return nil, err
	}
	out := []Collection{}
	for _, c := range cols {
		out = append(out, Collection{Name: c.Collection, Count: c.Count})
	}
	return out, nil
}

// GetRecord returns a record by AT-URI.
func (a *App) GetRecord(uri string) (*RecordView, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	u, err := syntax.ParseATURI(uri)
	if err != nil {
		return nil, fmt.Errorf("not an AT-URI: %w", err)
	}
	r, err := recordAt(e, u)
	if err != nil {
		return nil, err
	}
	v := a.view(acc.DID, r)
	return &v, nil
}

// recordAt reads the record an AT-URI names (its authority a DID or a
// handle hosted here).
func recordAt(e *pds.Engine, u syntax.ATURI) (*repos.Record, error) {
	acc, err := e.Accounts.Lookup(bg, u.Authority())
	if err != nil {
		return nil, err
	}
	if u.Collection() == "" || u.RecordKey() == "" {
		return nil, fmt.Errorf("%s does not name a record", u)
	}
	return e.Repos.GetRecord(bg, acc.DID, u.Collection(), u.RecordKey(), cidpkg.Undef)
}

// Search finds records by AT-URI or by rkey.
func (a *App) Search(query string) ([]RecordView, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	query = strings.TrimSpace(query)
	out := []RecordView{}
	if strings.HasPrefix(query, "at://") {
		v, err := a.GetRecord(query)
		if err != nil {
			return out, nil
		}
		return append(out, *v), nil
	}
	rkey, err := syntax.ParseRecordKey(query)
	if err != nil {
		return out, nil // not a record key: nothing can match
	}
	recs, err := e.Repos.FindRecords(bg, acc.DID, rkey)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		out = append(out, a.view(acc.DID, r))
	}
	return out, nil
}

// CommitInfo describes the current commit.
type CommitInfo struct {
	CID        string `json:"cid"`
	Rev        string `json:"rev"`
	SigningKey string `json:"signingKey"`
}

// CurrentCommit returns the head commit and the key that signs it.
func (a *App) CurrentCommit() (*CommitInfo, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	m, err := e.Repos.LatestCommit(bg, acc.DID)
	if err != nil {
		return nil, err
	}
	key, err := e.Repos.SigningKey(bg, acc.DID)
	if err != nil {
		return nil, err
	}
	return &CommitInfo{CID: m.CID, Rev: m.Rev, SigningKey: key}, nil
}

// HistoryEntry is one commit (or other event) from the event log.
type HistoryEntry struct {
	Seq    int64    `json:"seq"`
	Kind   string   `json:"kind"`
	Time   string   `json:"time"`
	Rev    string   `json:"rev"`
	Commit string   `json:"commit"`
	Ops    []string `json:"ops"` // "create app.bsky.feed.post/3k…"
}

// History lists the account's events, newest first (up to 100).
func (a *App) History() ([]HistoryEntry, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	var all []eventlog.Event
	var after int64
	for {
		evs, err := e.Events.Range(bg, after, 1000, 0, acc.DID.String())
		if err != nil {
			return nil, err
		}
		all = append(all, evs...)
		if len(evs) < 1000 {
			break
		}
		after = evs[len(evs)-1].Seq
		if len(all) > 5000 {
			all = all[len(all)-100:]
		}
	}
	out := []HistoryEntry{}
	for i := len(all) - 1; i >= 0 && len(out) < 100; i-- {
		ev := all[i]
		h := HistoryEntry{Seq: ev.Seq, Kind: ev.Kind, Time: ev.Time, Ops: []string{}}
		if f, err := events.Decode(ev.Frame); err == nil {
			switch {
			case f.Commit != nil:
				h.Rev, h.Commit = f.Commit.Rev, f.Commit.Commit.String()
				for _, op := range f.Commit.Ops {
					h.Ops = append(h.Ops, op.Action+" "+op.Path)
				}
			case f.Sync != nil:
				h.Rev = f.Sync.Rev
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// BlobView is one blob in the gallery.
type BlobView struct {
	CID        string   `json:"cid"`
	MimeType   string   `json:"mimeType"`
	Size       int64    `json:"size"`
	CreatedAt  string   `json:"createdAt"`
	Referenced bool     `json:"referenced"`
	UsedBy     []string `json:"usedBy"`
	URL        string   `json:"url"`
}

// BlobList is the gallery with totals.
type BlobList struct {
	Blobs         []BlobView `json:"blobs"`
	Count         int        `json:"count"`
	TotalBytes    int64      `json:"totalBytes"`
	Unreferenced  int        `json:"unreferenced"`
	UnreferencedB int64      `json:"unreferencedBytes"`
	DiskBytes     int64      `json:"diskBytes"` // the whole data folder
}

// Blobs lists every blob with totals and disk use.
func (a *App) Blobs() (*BlobList, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	bs, err := e.Blobs.Details(bg, acc.DID)
	if err != nil {
		return nil, err
	}
	out := &BlobList{Blobs: []BlobView{}}
	for _, b := range bs {
		used := b.UsedBy
		if used == nil {
			used = []string{}
		}
		out.Blobs = append(out.Blobs, BlobView{CID: b.CID, MimeType: b.MimeType, Size: b.Size, CreatedAt: b.CreatedAt.UTC().Format(time.RFC3339),
			Referenced: b.Referenced, UsedBy: used, URL: a.blobURL(acc.DID.String(), b.CID)})
		out.Count++
		out.TotalBytes += b.Size
		if !b.Referenced {
			out.Unreferenced++
			out.UnreferencedB += b.Size
		}
	}
	a.mu.Lock()
	dir := a.dataDir
	a.mu.Unlock()
	out.DiskBytes = dirSize(dir)
	return out, nil
}

func dirSize(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		p := dir + "/" + en.Name()
		if en.IsDir() {
			n += dirSize(p)
		} else if info, err := en.Info(); err == nil {
			n += info.Size()
		}
	}
	return n
}

// CleanUpBlobs deletes every blob no record uses (the GUI confirms first).
func (a *App) CleanUpBlobs() (int, error) {
	e, err := a.eng()
	if err != nil {
		return 0, err
	}
	return e.Blobs.CollectGarbage(bg, 0)
}

// SaveBlob writes a blob to a file the user picks.
func (a *App) SaveBlob(cidStr string) (string, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return "", err
	}
	c, err := cidpkg.Decode(cidStr)
	if err != nil {
		return "", fmt.Errorf("not a blob CID: %w", err)
	}
	f, info, err := e.Blobs.Open(bg, acc.DID, c)
	if err != nil {
		return "", err
	}
	defer a.closeRead("blob", f)
	name := cidStr + extFor(info.MimeType)
	path, err := a.savePath("Save blob", name)
	if err != nil || path == "" {
		return "", err
	}
	tmp := path + ".part"
	out, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, f)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", errors.Join(err, os.Remove(tmp))
	}
	return path, os.Rename(tmp, path)
}

func extFor(mime string) string {
	switch mime {
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "video/mp4":
		return ".mp4"
	}
	return ""
}

func (a *App) savePath(title, name string) (string, error) {
	a.mu.Lock()
	ui := a.ui
	a.mu.Unlock()
	if ui == nil {
		return "", fmt.Errorf("no window")
	}
	return ui.SaveFile(title, name)
}

func (a *App) openPath(title, pattern string) (string, error) {
	a.mu.Lock()
	ui := a.ui
	a.mu.Unlock()
	if ui == nil {
		return "", fmt.Errorf("no window")
	}
	return ui.OpenFile(title, pattern)
}

// Progress is sent as the "progress" event during long jobs.
type Progress struct {
	Job   string `json:"job"` // "export" or "import"
	Phase string `json:"phase"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
}

// ExportCAR writes your repo to a CAR file the user picks. Returns the path
// ("" if cancelled).
func (a *App) ExportCAR() (string, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return "", err
	}
	path, err := a.savePath("Export your repository", strings.ReplaceAll(acc.Handle.String(), ".", "-")+".car")
	if err != nil || path == "" {
		return "", err
	}
	tmp := path + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	err = e.Repos.ExportRepoLocal(bg, acc.DID, "", f, func(p repos.ProgressEvent) {
		a.emit("progress", Progress{Job: "export", Phase: p.Phase, Done: p.Done, Total: p.Total})
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", errors.Join(err, os.Remove(tmp))
	}
	return path, os.Rename(tmp, path)
}

// CARInfo is what a CAR holds, shown before an import.
type CARInfo struct {
	Path        string       `json:"path"`
	DID         string       `json:"did"`
	Rev         string       `json:"rev"`
	Records     int          `json:"records"`
	Collections []Collection `json:"collections"`
	Blobs       int          `json:"blobs"`
	Bytes       int64        `json:"bytes"`
	ForThisAcct bool         `json:"forThisAccount"`
	// Loss is what importing this CAR would lose (records your repository
	// holds now that are absent or different in the file); nil when
	// nothing would be lost or the CAR is not for this account.
	Loss *LossInfo `json:"loss"`
}

// LossInfo is what an import would lose, shown before asking to confirm.
type LossInfo struct {
	// Head is the current head commit the loss was measured against:
	// ImportCAR takes it back as the confirmation.
	Head        string           `json:"head"`
	Rev         string           `json:"rev"`   // the repository's current rev
	Older       bool             `json:"older"` // the CAR's rev is lower than the current one
	Records     int              `json:"records"`
	Missing     int              `json:"missing"`
	Changed     int              `json:"changed"`
	Collections []LostCollection `json:"collections"`
	Posts       []LostPost       `json:"posts"` // the newest posts that would be lost, at most repos.MaxLostPosts
	PostsLost   int              `json:"postsLost"`
}

// LostCollection is one collection's share of a LossInfo.
type LostCollection struct {
	Name    string `json:"name"`
	Missing int    `json:"missing"`
	Changed int    `json:"changed"`
}

// LostPost is a post that exists now and not (or differently) in the CAR.
type LostPost struct {
	URI       string `json:"uri"`
	Text      string `json:"text"`
	CreatedAt string `json:"createdAt"`
	Changed   bool   `json:"changed"`
}

func lossInfo(did string, l *repos.ImportLoss) *LossInfo {
	if l == nil || l.Records() == 0 {
		return nil
	}
	out := &LossInfo{Head: l.Head, Rev: l.Rev, Older: l.Older, Records: l.Records(), Missing: l.Missing, Changed: l.Changed,
		Collections: []LostCollection{}, Posts: []LostPost{}, PostsLost: l.PostsLost}
	for _, c := range l.Collections {
		out.Collections = append(out.Collections, LostCollection{Name: c.Collection, Missing: c.Missing, Changed: c.Changed})
	}
	for _, p := range l.Posts {
		out.Posts = append(out.Posts, LostPost{URI: "at://" + did + "/app.bsky.feed.post/" + p.RKey, Text: p.Text, CreatedAt: p.CreatedAt, Changed: p.Changed})
	}
	return out
}

func carInfo(path string, s repos.CARSummary, did string) *CARInfo {
	ci := &CARInfo{Path: path, DID: s.DID, Rev: s.Rev, Records: s.Records, Blobs: s.Blobs, Bytes: s.Bytes, Collections: []Collection{}, ForThisAcct: s.DID == did}
	for _, c := range s.Collections {
		ci.Collections = append(ci.Collections, Collection{Name: c.Collection, Count: c.Count})
	}
	sort.Slice(ci.Collections, func(i, j int) bool { return ci.Collections[i].Name < ci.Collections[j].Name })
	return ci
}

// InspectCAR lets the user pick a CAR, verifies it and says what it holds
// (nothing is imported). Returns nil if cancelled.
func (a *App) InspectCAR() (_ *CARInfo, err error) {
	defer a.guardJob("inspecting the CAR", &err)
	path, err := a.openPath("Choose a repository CAR file", "*.car")
	if err != nil || path == "" {
		return nil, err
	}
	p, err := a.parseCAR(path, "inspect")
	if err != nil {
		return nil, err
	}
	defer a.closeRead("verified CAR", p)
	e, acc, err := a.account(bg)
	if err != nil {
		return carInfo(path, p.Summary, ""), nil // no account yet: nothing to lose
	}
	info := carInfo(path, p.Summary, acc.DID.String())
	if info.ForThisAcct {
		loss, err := e.Repos.ImportLoss(bg, acc.DID, p)
		if err != nil {
			return nil, fmt.Errorf("compare the CAR with your repository: %w", err)
		}
		info.Loss = lossInfo(acc.DID.String(), loss)
	}
	return info, nil
}

func (a *App) parseCAR(path, job string) (*repos.ParsedCAR, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer a.closeRead("CAR file", f)
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	progress := func(p repos.ProgressEvent) {
		a.emit("progress", Progress{Job: job, Phase: p.Phase, Done: p.Done, Total: p.Total})
	}
	// The CAR streams from the file; its blocks wait in temporary files in
	// the data folder when the engine runs (the OS's temp dir otherwise).
	if e, err := a.eng(); err == nil {
		return e.Repos.ParseCAR(bg, f, st.Size(), progress)
	}
	return repos.ParseRepoCAR(bg, f, st.Size(), progress)
}

// ImportCAR imports a CAR (chosen and confirmed after InspectCAR) into your
// repo. On any error your repo is left as it was. An import that would lose
// records your repo holds now (absent or different in the CAR) is refused
// unless confirmLossAt is the head InspectCAR measured that loss against
// (CARInfo.Loss.Head), i.e. the person saw what would be lost and confirmed
// it, and nothing was written since.
func (a *App) ImportCAR(path, confirmLossAt string) (_ *CARInfo, err error) {
	defer a.guardJob("importing the CAR", &err)
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer a.closeRead("CAR file", f)
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sum, err := e.Repos.ImportGuarded(bg, acc.DID, f, st.Size(), func(p repos.ProgressEvent) {
		a.emit("progress", Progress{Job: "import", Phase: p.Phase, Done: p.Done, Total: p.Total})
	}, confirmLossAt)
	if err != nil {
		return nil, err
	}
	return carInfo(path, *sum, acc.DID.String()), nil
}

// OpenCARReadOnly opens any repo CAR for browsing without importing it.
func (a *App) OpenCARReadOnly() (_ *CARInfo, err error) {
	defer a.guardJob("opening the CAR", &err)
	path, err := a.openPath("Open a CAR file to browse", "*.car")
	if err != nil || path == "" {
		return nil, err
	}
	p, err := a.parseCAR(path, "open")
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	prev := a.carView
	a.carView, a.carPath = p, path
	a.mu.Unlock()
	if prev != nil {
		a.closeRead("CAR opened read-only", prev)
	}
	return carInfo(path, p.Summary, ""), nil
}

// CARRecords pages through a collection of the CAR opened read-only.
func (a *App) CARRecords(collection, cursor string) (_ *Page, err error) {
	defer a.guardJob("reading the CAR", &err)
	a.mu.Lock()
	p := a.carView
	a.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("no CAR is open")
	}
	recs, next, err := p.RecordsIn(collection, cursor, 25)
	if err != nil {
		return nil, err
	}
	out := &Page{Records: []RecordView{}, Cursor: next}
	for _, r := range recs {
		v := a.view(syntax.DID(p.Commit.DID), r)
		for i := range v.Images {
			v.Images[i].URL = "" // blobs are not in a CAR
		}
		out.Records = append(out.Records, v)
	}
	return out, nil
}

// CARRecord returns one record of the CAR opened read-only.
func (a *App) CARRecord(uri string) (_ *RecordView, err error) {
	defer a.guardJob("reading the CAR", &err)
	a.mu.Lock()
	p := a.carView
	a.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("no CAR is open")
	}
	u, err := syntax.ParseATURI(uri)
	if err != nil {
		return nil, err
	}
	r, err := p.Record(u.Collection().String(), u.RecordKey().String())
	if err != nil {
		return nil, err
	}
	v := a.view(syntax.DID(p.Commit.DID), r)
	return &v, nil
}

// CloseCAR forgets the CAR opened read-only.
func (a *App) CloseCAR() {
	a.mu.Lock()
	p := a.carView
	a.carView, a.carPath = nil, ""
	a.mu.Unlock()
	if p != nil {
		a.closeRead("CAR opened read-only", p)
	}
}

// VerifyData checks everything in the data folder, as `hearthd verify`
// does (database integrity, every repo and its signature, every blob's
// hash, the event log), and returns the report. Progress arrives as
// "progress" events of job "verify".
func (a *App) VerifyData() (_ *pds.VerifyReport, err error) {
	defer a.guardJob("verifying the data folder", &err)
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	rep, err := e.Verify(bg, func(step string) {
		a.emit("progress", Progress{Job: "verify", Phase: "checking the " + step})
	})
	if err != nil {
		return nil, err
	}
	if rep.Accounts == nil {
		rep.Accounts = []pds.AccountCheck{}
	}
	return rep, nil
}

package moving

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
)

// countRecords counts every collection's records (describeRepo, then
// listRecords page by page) and returns the handle describeRepo names.
func countRecords(ctx context.Context, c *client, did string) (map[string]int, int, string, error) {
	var desc struct {
		Handle      string   `json:"handle"`
		Collections []string `json:"collections"`
	}
	if err := c.get(ctx, "com.atproto.repo.describeRepo", url.Values{"repo": {did}}, &desc); err != nil {
		return nil, 0, "", err
	}
	out := map[string]int{}
	total := 0
	for _, col := range desc.Collections {
		cursor := ""
		for {
			q := url.Values{"repo": {did}, "collection": {col}, "limit": {"100"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			var page struct {
				Cursor  string            `json:"cursor"`
				Records []json.RawMessage `json:"records"`
			}
			if err := c.get(ctx, "com.atproto.repo.listRecords", q, &page); err != nil {
				return nil, 0, "", err
			}
			out[col] += len(page.Records)
			total += len(page.Records)
			if page.Cursor == "" || len(page.Records) == 0 {
				break
			}
			cursor = page.Cursor
		}
	}
	return out, total, desc.Handle, nil
}

// listBlobs lists the account's blob CIDs (sync.listBlobs).
func listBlobs(ctx context.Context, c *client, did string) ([]string, error) {
	var out []string
	cursor := ""
	for {
		q := url.Values{"did": {did}, "limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Cursor string   `json:"cursor"`
			CIDs   []string `json:"cids"`
		}
		if err := c.get(ctx, "com.atproto.sync.listBlobs", q, &page); err != nil {
			return nil, err
		}
		out = append(out, page.CIDs...)
		if page.Cursor == "" || len(page.CIDs) == 0 {
			return out, nil
		}
		cursor = page.Cursor
	}
}

func getPreferences(ctx context.Context, c *client) ([]json.RawMessage, error) {
	var out struct {
		Preferences []json.RawMessage `json:"preferences"`
	}
	if err := c.getAuthed(ctx, "app.bsky.actor.getPreferences", nil, &out); err != nil {
		return nil, err
	}
	return out.Preferences, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// inventory is what one side holds of the account: what the summary shows
// before a move and the report compares after it.
type inventory struct {
	collections map[string]int
	records     int
	handle      string
	blobs       []string
	preferences []json.RawMessage
}

func takeInventory(ctx context.Context, c *client, did string) (inventory, error) {
	var inv inventory
	var err error
	if inv.collections, inv.records, inv.handle, err = countRecords(ctx, c, did); err != nil {
		return inv, err
	}
	if inv.blobs, err = listBlobs(ctx, c, did); err != nil {
		return inv, err
	}
	inv.preferences, err = getPreferences(ctx, c)
	return inv, err
}

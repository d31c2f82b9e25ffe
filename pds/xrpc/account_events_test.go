package xrpc_test

import (
	"testing"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/events"
)

// The firehose around an account's life matches the reference PDS's
// sequencer: createAccount emits #identity, #account, #commit, #sync (of the
// genesis commit); deactivateAccount #account (inactive, "deactivated");
// activateAccount #account (active), #identity (the handle) and #sync of the
// current commit.
func TestAccountLifeEvents(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	if err := c.Post(ctx, "com.atproto.server.deactivateAccount", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Post(ctx, "com.atproto.server.activateAccount", nil, nil); err != nil {
		t.Fatal(err)
	}
	evs, err := p.Engine.Events.Range(ctx, 0, 100, 0, a.DID)
	if err != nil {
		t.Fatal(err)
	}
	var got []*events.Frame
	kinds := ""
	for _, ev := range evs {
		f, err := events.Decode(ev.Frame)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f)
		kinds += f.Kind
	}
	if want := "#identity#account#commit#sync" + "#account" + "#account#identity#sync"; kinds != want {
		t.Fatalf("events %s, want %s", kinds, want)
	}
	head := mustVerify(t, p, a.DID).Commit
	if got[3].Sync.Rev != got[2].Commit.Rev || got[3].Sync.Rev != head.Rev {
		t.Errorf("creation #sync rev %s, #commit rev %s, head %s", got[3].Sync.Rev, got[2].Commit.Rev, head.Rev)
	}
	if got[4].Account.Active || got[4].Account.Status == nil || *got[4].Account.Status != "deactivated" {
		t.Errorf("deactivation: %+v", got[4].Account)
	}
	if !got[5].Account.Active || got[5].Account.Status != nil {
		t.Errorf("activation #account: %+v", got[5].Account)
	}
	if got[6].Identity.Handle == nil || *got[6].Identity.Handle != "alice.test" {
		t.Errorf("activation #identity: %+v", got[6].Identity)
	}
	if got[7].Sync.Rev != head.Rev {
		t.Errorf("activation #sync rev %s, head %s", got[7].Sync.Rev, head.Rev)
	}
}

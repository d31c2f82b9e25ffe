package xrpc_test

import (
	"testing"

	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/outbox"
)

func outboxToken(t *testing.T, p *testpds.PDS, did string, purpose outbox.Purpose) string {
	t.Helper()
	msgs, err := p.Engine.Outbox.List(ctx, syntax.DID(did))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Purpose == purpose {
			return m.Token
		}
	}
	t.Fatalf("no %s token in the outbox: %+v", purpose, msgs)
	return ""
}

// TestEmailFlowsThroughTheOutbox runs the reference's emailed flows with
// the outbox as the mail: confirm, update, password reset, account
// deletion with its token.
func TestEmailFlowsThroughTheOutbox(t *testing.T) {
	p := testpds.Start(t, nil)
	acc, err := p.Engine.CreateAccount(ctx, pds.NewAccount{Handle: "mail.test", Password: "mail-password-1", Email: "mail@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	did := acc.DID.String()
	c, err := atclient.LoginWithPasswordHost(ctx, p.URL, "mail.test", "mail-password-1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	session := func() (confirmed bool, email string) {
		var s struct {
			EmailConfirmed bool
			Email          string
		}
		if err := c.Get(ctx, "com.atproto.server.getSession", nil, &s); err != nil {
			t.Fatal(err)
		}
		return s.EmailConfirmed, s.Email
	}

	// Confirm.
	var upd struct{ TokenRequired bool }
	if err := c.Post(ctx, "com.atproto.server.requestEmailUpdate", nil, &upd); err != nil || upd.TokenRequired {
		t.Fatalf("requestEmailUpdate before confirming: %+v %v", upd, err)
	}
	if err := c.Post(ctx, "com.atproto.server.requestEmailConfirmation", nil, nil); err != nil {
		t.Fatal(err)
	}
	tok := outboxToken(t, p, did, outbox.PurposeConfirmEmail)
	apiErr(t, c.Post(ctx, "com.atproto.server.confirmEmail", map[string]any{"email": "other@example.com", "token": tok}, nil), 400, "InvalidEmail")
	apiErr(t, c.Post(ctx, "com.atproto.server.confirmEmail", map[string]any{"email": "mail@example.com", "token": "AAAAA-AAAAA"}, nil), 400, "InvalidToken")
	if err := c.Post(ctx, "com.atproto.server.confirmEmail", map[string]any{"email": "MAIL@example.com", "token": tok}, nil); err != nil {
		t.Fatal(err)
	}
	if ok, _ := session(); !ok {
		t.Fatal("getSession says the email is not confirmed")
	}

	// Update: a confirmed address needs the token.
	if err := c.Post(ctx, "com.atproto.server.requestEmailUpdate", nil, &upd); err != nil || !upd.TokenRequired {
		t.Fatalf("requestEmailUpdate after confirming: %+v %v", upd, err)
	}
	apiErr(t, c.Post(ctx, "com.atproto.server.updateEmail", map[string]any{"email": "new@example.com"}, nil), 401, "AuthenticationRequired")
	apiErr(t, c.Post(ctx, "com.atproto.server.updateEmail", map[string]any{"email": "no-at-sign", "token": "x"}, nil), 400, "InvalidEmail")
	tok = outboxToken(t, p, did, outbox.PurposeUpdateEmail)
	if err := c.Post(ctx, "com.atproto.server.updateEmail", map[string]any{"email": "new@example.com", "token": tok}, nil); err != nil {
		t.Fatal(err)
	}
	if ok, email := session(); ok || email != "new@example.com" {
		t.Fatalf("after updateEmail: confirmed=%v email=%s", ok, email)
	}

	// Password reset: an unknown address gets the same answer.
	if err := c.Post(ctx, "com.atproto.server.requestPasswordReset", map[string]any{"email": "nobody@example.com"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Post(ctx, "com.atproto.server.requestPasswordReset", map[string]any{"email": "new@example.com"}, nil); err != nil {
		t.Fatal(err)
	}
	tok = outboxToken(t, p, did, outbox.PurposeResetPassword)
	apiErr(t, c.Post(ctx, "com.atproto.server.resetPassword", map[string]any{"token": "AAAAA-AAAAA", "password": "reset-password-2"}, nil), 400, "InvalidToken")
	apiErr(t, c.Post(ctx, "com.atproto.server.resetPassword", map[string]any{"token": tok, "password": "short"}, nil), 400, "InvalidRequest")
	if err := c.Post(ctx, "com.atproto.server.resetPassword", map[string]any{"token": tok, "password": "reset-password-2"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := atclient.LoginWithPasswordHost(ctx, p.URL, "mail.test", "mail-password-1", "", nil); err == nil {
		t.Fatal("the old password still works")
	}
	c, err = atclient.LoginWithPasswordHost(ctx, p.URL, "mail.test", "reset-password-2", "", nil)
	if err != nil {
		t.Fatalf("the new password: %v", err)
	}

	// Account deletion with the token: a wrong one deletes nothing.
	if err := c.Post(ctx, "com.atproto.server.requestAccountDelete", nil, nil); err != nil {
		t.Fatal(err)
	}
	tok = outboxToken(t, p, did, outbox.PurposeDeleteAccount)
	del := func(token string) error {
		return c.Post(ctx, "com.atproto.server.deleteAccount", map[string]any{"did": did, "password": "reset-password-2", "token": token}, nil)
	}
	apiErr(t, del("AAAAA-AAAAA"), 400, "InvalidToken")
	if _, err := p.Engine.Accounts.Get(ctx, acc.DID); err != nil {
		t.Fatalf("a wrong token deleted the account: %v", err)
	}
	if err := del(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Engine.Accounts.Get(ctx, acc.DID); err == nil {
		t.Fatal("the account is still there")
	}
}

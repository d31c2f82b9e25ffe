package auth

import (
	"context"
	"fmt"
	"time"
)

// Budget is how many failed password checks a key may have within Window.
type Budget struct {
	Max    int
	Window time.Duration
}

// ThrottlePolicy is the set of budgets every password check shares.
//
// A failure is counted against three keys at once, and an attempt is
// refused while any of them is spent:
//
//   - PerAccountAddr, (account, client address): 10 failures per 15
//     minutes. This is the budget a guesser at one address meets; it locks
//     out only that address, so a stranger cannot lock the owner out by
//     failing from their own address.
//   - PerAccount, (account, any address): 100 failures per hour. It caps a
//     guesser spread over many addresses at 2,400 guesses a day. Spending
//     it takes at least ten addresses working together (each is held to
//     10 per 15 minutes), and even then only new password logins through
//     HTTP wait: existing sessions keep refreshing and the desktop window
//     never checks a password.
//   - PerAddr, (client address, any identifier, known or not): 30 failures
//     per 15 minutes. It stops one address from spraying guesses across
//     accounts and is the only budget unknown identifiers spend.
//
// A success clears only its (account, address) budget: the account-wide
// budget a distributed guesser spends is not refilled by the owner's own
// logins.
type ThrottlePolicy struct {
	PerAccountAddr Budget
	PerAccount     Budget
	PerAddr        Budget
}

// DefaultThrottlePolicy is the policy described on ThrottlePolicy.
var DefaultThrottlePolicy = ThrottlePolicy{
	PerAccountAddr: Budget{Max: 10, Window: 15 * time.Minute},
	PerAccount:     Budget{Max: 100, Window: time.Hour},
	PerAddr:        Budget{Max: 30, Window: 15 * time.Minute},
}

// FailureStore keeps failed attempts per key (persistently, so a restart
// does not refill the budgets).
type FailureStore interface {
	// Failures counts key's failures at or after since and returns the
	// time of the oldest of them.
	Failures(ctx context.Context, key string, since time.Time) (n int, oldest time.Time, err error)
	// AddFailure records one failure at `at` for each key.
	AddFailure(ctx context.Context, at time.Time, keys ...string) error
	// ClearFailures forgets every failure of key.
	ClearFailures(ctx context.Context, key string) error
}

// Throttle applies a ThrottlePolicy over a FailureStore. The zero account
// ("") means the identifier named no account here.
type Throttle struct {
	Policy ThrottlePolicy
	Store  FailureStore
	Now    func() time.Time // time.Now when nil
}

func (t *Throttle) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

type throttleKey struct {
	key    string
	budget Budget
}

func (t *Throttle) keys(account, addr string) []throttleKey {
	ks := []throttleKey{{"addr:" + addr, t.Policy.PerAddr}}
	if account != "" {
		ks = append(ks,
			throttleKey{"acct-addr:" + account + "|" + addr, t.Policy.PerAccountAddr},
			throttleKey{"acct:" + account, t.Policy.PerAccount})
	}
	return ks
}

// Wait returns how long an attempt for account from addr must wait (0
// when it may go ahead now).
func (t *Throttle) Wait(ctx context.Context, account, addr string) (time.Duration, error) {
	now := t.now()
	var wait time.Duration
	for _, k := range t.keys(account, addr) {
		if k.budget.Max <= 0 {
			continue
		}
		n, oldest, err := t.Store.Failures(ctx, k.key, now.Add(-k.budget.Window))
		if err != nil {
			return 0, fmt.Errorf("read login failures: %w", err)
		}
		if n >= k.budget.Max {
			wait = max(wait, oldest.Add(k.budget.Window).Sub(now))
		}
	}
	return max(wait, 0), nil
}

// Fail records a failed attempt for account from addr.
func (t *Throttle) Fail(ctx context.Context, account, addr string) error {
	var keys []string
	for _, k := range t.keys(account, addr) {
		keys = append(keys, k.key)
	}
	if err := t.Store.AddFailure(ctx, t.now(), keys...); err != nil {
		return fmt.Errorf("record login failure: %w", err)
	}
	return nil
}

// Succeed clears the (account, addr) budget after a good password.
func (t *Throttle) Succeed(ctx context.Context, account, addr string) error {
	if err := t.Store.ClearFailures(ctx, "acct-addr:"+account+"|"+addr); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}

// PruneBefore is the time before which failures no longer matter.
func (t *Throttle) PruneBefore() time.Time {
	p := t.Policy
	return t.now().Add(-max(p.PerAccountAddr.Window, p.PerAccount.Window, p.PerAddr.Window))
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/plcdir"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/edge"
	"github.com/hearth-pds/hearth/pds/identity"
	"github.com/hearth-pds/hearth/pds/outbound"
	"github.com/hearth-pds/hearth/pds/secrets"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

// devnetDomains are the handle suffixes anyone may sign up under on a
// devnet, without an invite.
var devnetDomains = []string{".test"}

// devnetPassword is the seeded demo accounts' password.
const devnetPassword = "hearth-devnet"

// devnetInfo is the one JSON line devnet prints on stdout once it is ready.
type devnetInfo struct {
	PDS       string          `json:"pds"`
	PLC       string          `json:"plc"`
	Jetstream string          `json:"jetstream"`
	DataDir   string          `json:"dataDir"`
	Domains   []string        `json:"signupDomains"`
	Accounts  []seededAccount `json:"accounts"`
}

type seededAccount struct {
	Handle   string `json:"handle"`
	DID      string `json:"did"`
	Password string `json:"password"`
}

// devnet runs an offline developer network in one process: a did:plc
// directory (internal/plcdir, every operation verified; kept in
// DIR/plc/ops.jsonl), the PDS (DIR/pds) with open sign-up for *.test
// handles and --allow-private-network, and the Jetstream-compatible
// /subscribe on the PDS's listener.
func devnet(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "folder for the network's data (created if missing; kept between runs)")
	listen := fs.String("listen", "127.0.0.1:2583", "address of the PDS (XRPC and /subscribe)")
	plcListen := fs.String("plc-listen", "", "address of the PLC directory (default: the PDS's host, port+1)")
	seed := fs.Int("seed", 0, "create this many demo accounts (alice.test, bob.test, …) with posts, follows and likes; existing ones are kept")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	zstdDict := fs.String("jetstream-zstd-dictionary", "", "Jetstream's zstd dictionary file: /subscribe then compresses for subscribers that ask")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dict, err := readOptionalFile(*zstdDict)
	if err != nil {
		return err
	}
	if *dataDir == "" {
		return errors.New("--data-dir (or HEARTH_DATA_DIR) is required")
	}
	if *seed < 0 || *seed > 100 {
		return errors.New("--seed takes 0 to 100 accounts")
	}
	log := newLogger(stderr, *logLevel)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(filepath.Join(*dataDir, "plc"), 0o700); err != nil {
		return fmt.Errorf("create the data folder: %w", err)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	defer func() { _ = ln.Close() }() // after Shutdown it is closed already
	if *plcListen == "" {
		*plcListen = nextPort(ln.Addr())
	}
	plcLn, err := net.Listen("tcp", *plcListen)
	if err != nil {
		return fmt.Errorf("listen on %s for the PLC directory: %w", *plcListen, err)
	}
	plcDir, err := plcdir.OpenJournaled(ctx, filepath.Join(*dataDir, "plc", "ops.jsonl"))
	if err != nil {
		_ = plcLn.Close()
		return err
	}
	defer closeInto(&err, "PLC journal", plcDir)
	plcSrv := edge.NewServer(plcDir)
	go func() { _ = plcSrv.Serve(plcLn) }() // ends with Close below
	defer func() { _ = plcSrv.Close() }()
	plcURL := "http://" + plcLn.Addr().String()
	pdsURL := "http://" + ln.Addr().String()

	policy := outbound.Policy{AllowPrivateNetwork: true}
	e, err := pds.Open(ctx, pds.Config{
		DataDir: filepath.Join(*dataDir, "pds"), PublicURL: pdsURL, PLCURL: plcURL, Logger: log,
		HandleResolver: identity.NewNetworkHandleResolver(policy), AllowPrivateNetwork: true, KeyStore: secrets.StoreFile,
	})
	if err != nil {
		return err
	}
	defer closeInto(&err, "engine", e)
	h, err := xrpc.New(e, xrpc.Options{OpenSignupDomains: devnetDomains, JetstreamZstdDictionary: dict})
	if err != nil {
		return err
	}
	defer h.Close()
	srv := edge.NewServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("devnet: PDS and PLC directory up", "pds", pdsURL, "plc", plcURL, "data_dir", *dataDir)

	info := devnetInfo{PDS: pdsURL, PLC: plcURL, Jetstream: "ws://" + ln.Addr().String() + "/subscribe", DataDir: *dataDir,
		Domains: devnetDomains, Accounts: []seededAccount{}}
	if *seed > 0 {
		if info.Accounts, err = seedDevnet(ctx, pdsURL, *seed, log); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	line, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return err
	}
	return serveUntilDone(ctx, srv, errc, log)
}

// readOptionalFile reads path, or returns nil for "".
func readOptionalFile(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// nextPort is addr's host with the next port (or any free port when addr's
// port is 0 or the last one).
func nextPort(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "127.0.0.1:0"
	}
	p, err := strconv.Atoi(port)
	if err != nil || p == 0 || p >= 65535 {
		return net.JoinHostPort(host, "0")
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1))
}

var demoNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"}

func demoHandle(i int) string {
	if i < len(demoNames) {
		return demoNames[i] + ".test"
	}
	return fmt.Sprintf("user%d.test", i+1)
}

// seedDevnet creates n demo accounts through the PDS's own XRPC API (the path
// an app takes), each with three posts, following every other new one and
// liking their first posts. Accounts that exist already are left alone.
func seedDevnet(ctx context.Context, pdsURL string, n int, log *slog.Logger) ([]seededAccount, error) {
	type member struct {
		seededAccount
		c     *atclient.APIClient
		first map[string]string // the first post's uri and cid
	}
	var fresh []*member
	var out []seededAccount
	anon := atclient.NewAPIClient(pdsURL)
	for i := range n {
		handle := demoHandle(i)
		var created struct {
			DID string `json:"did"`
		}
		err := anon.Post(ctx, "com.atproto.server.createAccount", map[string]any{
			"handle": handle, "password": devnetPassword, "email": demoNames[i%len(demoNames)] + strconv.Itoa(i) + "@devnet.test"}, &created)
		if err != nil {
			var apiErr *atclient.APIError
			var res struct {
				DID string `json:"did"`
			}
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest ||
				anon.Get(ctx, "com.atproto.identity.resolveHandle", map[string]any{"handle": handle}, &res) != nil {
				return nil, fmt.Errorf("create %s: %w", handle, err)
			}
			log.Info("devnet: demo account exists, kept as it is", "handle", handle)
			out = append(out, seededAccount{Handle: handle, DID: res.DID})
			continue
		}
		c, err := atclient.LoginWithPasswordHost(ctx, pdsURL, handle, devnetPassword, "", nil)
		if err != nil {
			return nil, fmt.Errorf("log in as %s: %w", handle, err)
		}
		m := &member{seededAccount: seededAccount{Handle: handle, DID: created.DID, Password: devnetPassword}, c: c}
		fresh = append(fresh, m)
		out = append(out, m.seededAccount)
	}
	create := func(m *member, col string, rec map[string]any) (map[string]string, error) {
		rec["$type"] = col
		in := map[string]any{"repo": m.DID, "collection": col, "record": rec}
		if col == "app.bsky.actor.profile" {
			in["rkey"] = "self"
		} else {
			rec["createdAt"] = syntax.DatetimeNow().String()
		}
		var res map[string]any
		err := m.c.Post(ctx, "com.atproto.repo.createRecord", in, &res)
		if err != nil {
			return nil, fmt.Errorf("%s: create %s: %w", m.Handle, col, err)
		}
		uri, _ := res["uri"].(string)
		cid, _ := res["cid"].(string)
		return map[string]string{"uri": uri, "cid": cid}, nil
	}
	for _, m := range fresh {
		if _, err := create(m, "app.bsky.actor.profile", map[string]any{"displayName": m.Handle, "description": "A demo account of the Hearth devnet."}); err != nil {
			return nil, err
		}
		for k, text := range []string{"Hello from %s!", "Building an app against Hearth's devnet (%s).", "Third post by %s."} {
			ref, err := create(m, "app.bsky.feed.post", map[string]any{"text": fmt.Sprintf(text, m.Handle)})
			if err != nil {
				return nil, err
			}
			if k == 0 {
				m.first = ref
			}
		}
	}
	for _, m := range fresh {
		for _, o := range fresh {
			if o == m {
				continue
			}
			if _, err := create(m, "app.bsky.graph.follow", map[string]any{"subject": o.DID}); err != nil {
				return nil, err
			}
			if _, err := create(m, "app.bsky.feed.like", map[string]any{"subject": o.first}); err != nil {
				return nil, err
			}
		}
	}
	log.Info("devnet: seeded demo accounts", "new", len(fresh), "kept", len(out)-len(fresh))
	return out, nil
}

package soft_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/psbt"
)

// shortStore is newStore in a short directory: a Unix socket path has
// about 100 bytes, and t.TempDir()'s can be longer.
func shortStore(t *testing.T) *soft.Store {
	t.Helper()
	d, err := os.MkdirTemp("", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	s := soft.NewStore(filepath.Join(d, "keys"))
	if err := s.SetWorkFactor(10); err != nil {
		t.Fatal(err)
	}
	return s
}

// serve unlocks key name in an agent until until, as `key agent` does.
func serve(t *testing.T, s *soft.Store, name string, until time.Time) (done chan error) {
	t.Helper()
	ln, err := s.Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := s.Open(name, testPass)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- soft.NewAgent(sg, ln, until).Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return done
}

// TestAgentSignsLikeTheKey: through its agent, an unlocked key gives the
// same fingerprint, xpubs and signatures as the key opened in process, and
// the adapter's checks hold it like any signer; a second unlock is
// refused; lock wipes it and removes the socket.
func TestAgentSignsLikeTheKey(t *testing.T) {
	s := shortStore(t)
	ctx := context.Background()
	for _, n := range []string{"alice", "bob", "carol"} {
		if _, _, err := s.Generate(n, 12, regtest, testPass); err != nil {
			t.Fatal(err)
		}
	}
	alice, bob := open(t, s, "alice"), open(t, s, "bob")
	if _, ok, err := s.DialAgent(ctx, "alice"); ok || err != nil {
		t.Fatalf("a locked key has an agent: %v, %v", ok, err)
	}
	serve(t, s, "alice", time.Now().Add(time.Minute))
	a, ok, err := s.DialAgent(ctx, "alice")
	if err != nil || !ok {
		t.Fatalf("DialAgent: %v, %v", ok, err)
	}
	if _, err := s.Listen("alice"); !errors.Is(err, soft.ErrExists) {
		t.Fatalf("a second agent for alice: %v", err)
	}
	if a.PID() != os.Getpid() || time.Until(a.Until()) < 50*time.Second {
		t.Fatalf("agent pid %d until %s", a.PID(), a.Until())
	}
	if keyExpr(t, a) != keyExpr(t, alice) {
		t.Fatal("the agent's account key differs from the key's")
	}
	d := parseWallet(t, keyExpr(t, alice), keyExpr(t, bob))
	p, prev := buildPSBT(t, d)
	viaAgent, err := hwtest.Sign(ctx, a, p, d, regtest, "family")
	if err != nil {
		t.Fatal(err)
	}
	direct, err := hwtest.Sign(ctx, alice, p, d, regtest, "family")
	if err != nil {
		t.Fatal(err)
	}
	ra, _ := psbt.Serialize(viaAgent)
	rd, _ := psbt.Serialize(direct)
	if !bytes.Equal(ra, rd) {
		t.Fatal("the agent's signature differs from the key's (RFC 6979: it must not)")
	}
	both, err := hwtest.Sign(ctx, bob, viaAgent, d, regtest, "family")
	if err != nil {
		t.Fatal(err)
	}
	execute(t, both, prev)
	// A wallet the key is not in is refused by the agent, with its kind.
	other := parseWallet(t, keyExpr(t, bob), keyExpr(t, open(t, s, "carol")))
	q, _ := buildPSBT(t, other)
	if _, err := hwtest.Sign(ctx, a, q, other, regtest, "other"); !errors.Is(err, psbt.ErrRefused) {
		t.Fatalf("signing for a wallet alice is not in: %v", err)
	}
	if err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, ok, err := s.DialAgent(ctx, "alice")
		if !ok && err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still unlocked after lock: %v, %v", ok, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Lstat(s.AgentPath("alice")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the socket is still there after lock: %v", err)
	}
}

// TestAgentLocksAtItsDeadline: the agent stops by itself.
func TestAgentLocksAtItsDeadline(t *testing.T) {
	s := shortStore(t)
	if _, _, err := s.Generate("hot", 12, regtest, testPass); err != nil {
		t.Fatal(err)
	}
	done := serve(t, s, "hot", time.Now().Add(300*time.Millisecond))
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not stop at its deadline")
	}
	if _, ok, err := s.DialAgent(context.Background(), "hot"); ok || err != nil {
		t.Fatalf("still unlocked after the deadline: %v, %v", ok, err)
	}
}

// TestAgentLeftBehind: a socket whose agent is gone (killed) reads as
// locked, and unlocking again replaces it.
func TestAgentLeftBehind(t *testing.T) {
	s := shortStore(t)
	if _, _, err := s.Generate("hot", 12, regtest, testPass); err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen("hot")
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // as a killed agent leaves it
	if _, err := os.Lstat(s.AgentPath("hot")); err != nil {
		t.Fatalf("the test's stale socket is not there: %v", err)
	}
	if _, ok, err := s.DialAgent(context.Background(), "hot"); ok || err != nil {
		t.Fatalf("a stale socket reads as unlocked: %v, %v", ok, err)
	}
	serve(t, s, "hot", time.Now().Add(time.Minute))
	if _, ok, err := s.DialAgent(context.Background(), "hot"); !ok || err != nil {
		t.Fatalf("unlocking over a stale socket: %v, %v", ok, err)
	}
}

// TestAgentUnlocksOneAtATime: of several unlocks of one key at once,
// exactly one listens; the others are refused as already unlocked.
func TestAgentUnlocksOneAtATime(t *testing.T) {
	s := shortStore(t)
	if _, _, err := s.Generate("hot", 12, regtest, testPass); err != nil {
		t.Fatal(err)
	}
	const n = 8
	type result struct {
		ln  *net.UnixListener
		err error
	}
	results := make(chan result, n)
	for i := 0; i < n; i++ {
		go func() {
			ln, err := s.Listen("hot")
			results <- result{ln, err}
		}()
	}
	listening := 0
	for i := 0; i < n; i++ {
		r := <-results
		switch {
		case r.err == nil:
			listening++
			defer r.ln.Close()
		case !errors.Is(r.err, soft.ErrExists):
			t.Fatalf("unexpected error: %v", r.err)
		}
	}
	if listening != 1 {
		t.Fatalf("%d agents listen for one key", listening)
	}
}

// TestAgentSignsMessagesLikeTheKey: journal sign's message signature and
// bsms record's key record come from the agent exactly as from the key
// opened in process (both are deterministic), with the key's network.
func TestAgentSignsMessagesLikeTheKey(t *testing.T) {
	s := shortStore(t)
	ctx := context.Background()
	if _, _, err := s.Generate("alice", 12, regtest, testPass); err != nil {
		t.Fatal(err)
	}
	alice := open(t, s, "alice")
	serve(t, s, "alice", time.Now().Add(time.Minute))
	a, ok, err := s.DialAgent(ctx, "alice")
	if err != nil || !ok {
		t.Fatalf("DialAgent: %v, %v", ok, err)
	}
	if a.Network() != regtest {
		t.Fatalf("network %v", a.Network().Name)
	}
	const msg = "countersign journal head 5d1c0bb4 at entry 7"
	addrA, sigA, err := a.SignMessage(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	addrK, sigK, err := alice.SignMessage(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if addrA != addrK || sigA != sigK {
		t.Fatalf("agent %s %s, key %s %s", addrA, sigA, addrK, sigK)
	}
	path := descriptor.Path{48 | 1<<31, 1 | 1<<31, 1 << 31, 2 | 1<<31}
	for _, token := range []string{formats.BSMSNoEncryption, "1f7c5a3bd9e2a681"} {
		recA, err := a.BSMSKeyRecord(ctx, token, "office laptop", path)
		if err != nil {
			t.Fatalf("token %s: %v", token, err)
		}
		recK, err := alice.BSMSKeyRecord(ctx, token, "office laptop", path)
		if err != nil {
			t.Fatal(err)
		}
		fa, _ := recA.File()
		fk, _ := recK.File()
		if !bytes.Equal(fa, fk) {
			t.Fatalf("token %s: the agent's record differs from the key's:\n%s\n%s", token, fa, fk)
		}
	}
}

// TestAgentMessageAnswersChecked: what an agent answers for journal sign
// and bsms record is checked as a device's signature is. A fake agent (a
// plain socket server answering as the test says) that returns another
// key's valid signature or record, or alice's address with bob's
// signature, is refused.
func TestAgentMessageAnswersChecked(t *testing.T) {
	s := shortStore(t)
	ctx := context.Background()
	for _, n := range []string{"alice", "bob"} {
		if _, _, err := s.Generate(n, 12, regtest, testPass); err != nil {
			t.Fatal(err)
		}
	}
	alice, bob := open(t, s, "alice"), open(t, s, "bob")
	fp, _ := alice.Fingerprint(ctx)
	const msg = "countersign journal head 5d1c0bb4 at entry 7"
	addrAlice, _, _ := alice.SignMessage(ctx, msg)
	addrBob, sigBob, _ := bob.SignMessage(ctx, msg)
	path := descriptor.Path{48 | 1<<31, 1 | 1<<31, 1 << 31, 2 | 1<<31}
	recBob, err := bob.BSMSKeyRecord(ctx, "00", "office laptop", path)
	if err != nil {
		t.Fatal(err)
	}
	recAlice, _ := alice.BSMSKeyRecord(ctx, "00", "office laptop", path)

	var answer map[string]any // what the fake agent answers to anything but "info"
	ln, err := net.Listen("unix", s.AgentPath("alice"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var req map[string]any
			_ = json.NewDecoder(c).Decode(&req)
			ans := answer
			if req["op"] == "info" {
				ans = map[string]any{"name": "alice", "fingerprint": hex.EncodeToString(fp[:]), "network": "regtest", "pid": 1}
			}
			_ = json.NewEncoder(c).Encode(ans)
			c.Close()
		}
	}()
	a, ok, err := s.DialAgent(ctx, "alice")
	if err != nil || !ok {
		t.Fatalf("DialAgent: %v, %v", ok, err)
	}
	for _, c := range []struct {
		what   string
		answer map[string]any
	}{
		{"bob's address and signature", map[string]any{"address": addrBob, "signature": sigBob}},
		{"alice's address, bob's signature", map[string]any{"address": addrAlice, "signature": sigBob}},
	} {
		answer = c.answer
		if _, _, err := a.SignMessage(ctx, msg); !errors.Is(err, hw.ErrDevice) {
			t.Errorf("%s: %v", c.what, err)
		}
	}
	answer = map[string]any{"record": recBob.Plaintext()}
	if _, err := a.BSMSKeyRecord(ctx, "00", "office laptop", path); !errors.Is(err, hw.ErrDevice) {
		t.Errorf("bob's key record: %v", err)
	}
	answer = map[string]any{"record": recAlice.Plaintext()}
	if _, err := a.BSMSKeyRecord(ctx, "00", "another description", path); !errors.Is(err, hw.ErrDevice) {
		t.Errorf("a record with another description: %v", err)
	}
	if _, err := a.BSMSKeyRecord(ctx, "00", "office laptop", path[:3]); !errors.Is(err, hw.ErrDevice) {
		t.Errorf("a record at another path: %v", err)
	}
	if _, err := a.BSMSKeyRecord(ctx, "00", "office laptop", path); err != nil {
		t.Errorf("alice's own record, as asked: %v", err)
	}
	// An agent started by an older countersign does not know the request
	// (it answers as handle does): the error says what to do.
	answer = map[string]any{"error": `unsupported: the agent does not know "message"`, "kind": "unsupported"}
	if _, _, err := a.SignMessage(ctx, msg); !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "key lock alice") {
		t.Errorf("an older agent: %v", err)
	}
}

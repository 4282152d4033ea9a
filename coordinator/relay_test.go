package coordinator_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/internal/nostrrelay"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/relay"
	"github.com/countersign/countersign/relay/nip44"
	"github.com/countersign/countersign/wallet"
)

// party is one operator with a store of their own and a software key whose
// Nostr key (NIP-06) talks on the relay.
type party struct {
	c  *coordinator.Coordinator
	sk nip44.SecretKey
	pk nip44.PublicKey
}

func (r *rig) nostrKey(t *testing.T, name string) (nip44.SecretKey, nip44.PublicKey) {
	t.Helper()
	sk, err := r.keys[name].NostrSecret(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pk, err := nip44.SecretKey(sk).Public()
	if err != nil {
		t.Fatal(err)
	}
	return sk, pk
}

// copyParty gives name a store of their own: a copy of the rig's (the
// same wallet, as a cosigner who imported it would have).
func (r *rig) copyParty(t *testing.T, name string) *party {
	t.Helper()
	ctx := context.Background()
	st, err := wallet.OpenStore(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := wallet.CopyStore(ctx, st, r.c.Store); err != nil {
		t.Fatal(err)
	}
	b := r.b
	c := &coordinator.Coordinator{Store: st, BackendDefault: "fake://", OpenBackend: func(string, chain.OpenOptions) (chain.Backend, error) { return b, nil }}
	sk, pk := r.nostrKey(t, name)
	return &party{c: c, sk: sk, pk: pk}
}

// TestRelayTwoOfThree: carol drafts a 2-of-3 spend and sends it over a
// real Nostr relay to alice and bob, each with a store of their own; each
// receives it, signs with their software key and sends it back; carol
// receives both, the draft is ready and finalizes. On the way: a message
// from a stranger is ignored, a PSBT for a transaction carol has no draft
// of is reported and not stored, and a manipulated PSBT from a cosigner's
// key is refused by the gate.
func TestRelayTwoOfThree(t *testing.T) {
	url := nostrrelay.Start(t)
	ctx := context.Background()
	r := newRig(t, 300_000, 200_000)
	alice, bob := r.copyParty(t, "alice"), r.copyParty(t, "bob")
	csk, cpk := r.nostrKey(t, "carol")
	carol := &party{c: r.c, sk: csk, pk: cpk}

	co := func(label string, p *party) coordinator.RelayCosigner {
		return coordinator.RelayCosigner{Label: label, PubKey: p.pk}
	}
	setups := map[string]struct {
		p   *party
		cfg coordinator.RelayConfig
	}{
		"carol": {carol, coordinator.RelayConfig{Relays: []string{url}, Key: "carol", Cosigners: []coordinator.RelayCosigner{co("alice", alice), co("bob", bob)}}},
		"alice": {alice, coordinator.RelayConfig{Relays: []string{url}, Key: "alice", Cosigners: []coordinator.RelayCosigner{co("carol", carol), co("bob", bob)}}},
		"bob":   {bob, coordinator.RelayConfig{Relays: []string{url}, Key: "bob", Cosigners: []coordinator.RelayCosigner{co("carol", carol), co("alice", alice)}}},
	}
	for name, s := range setups {
		if err := s.p.c.SetRelay(ctx, "family", s.cfg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if got, err := carol.c.Relay(ctx, "family"); err != nil || len(got.Cosigners) != 2 || got.Cosigners[0].PubKey != alice.pk {
		t.Fatalf("relay setup read back: %+v, %v", got, err)
	}

	sp, err := carol.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 100_000)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	txid := sp.PSBT.UnsignedTx.TxHash()
	sent, err := carol.c.SendPSBT(ctx, "family", txid.String(), []string{"alice", "bob"}, carol.sk, coordinator.GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent.Sent) != 2 || sent.Sent[0].EventID == sent.Sent[1].EventID {
		t.Fatalf("sent %+v", sent.Sent)
	}
	if _, err := carol.c.SendPSBT(ctx, "family", txid.String(), []string{"dave"}, carol.sk, coordinator.GateOptions{}); err == nil {
		t.Fatal("sent to a label the relay setup does not have")
	}

	// A stranger writes to alice: ignored.
	var strangerSK nip44.SecretKey
	strangerSK[31], strangerSK[0] = 9, 0x33
	if _, err := relay.Send(ctx, []string{url}, strangerSK, alice.pk, []byte("cHNidP8B")); err != nil {
		t.Fatal(err)
	}

	for _, who := range []struct {
		name string
		p    *party
	}{{"alice", alice}, {"bob", bob}} {
		// Without --new the spend is reported, not stored.
		got, err := who.p.c.ReceivePSBTs(ctx, "family", who.p.sk, coordinator.ReceiveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(got, coordinator.ReceivedUnknownTx); n != 1 {
			t.Fatalf("%s without --new: %+v", who.name, got)
		}
		if _, err := who.p.c.PendingSpend(ctx, "family", txid.String()); err == nil {
			t.Fatalf("%s stored a spend it was only told about", who.name)
		}
		got, err = who.p.c.ReceivePSBTs(ctx, "family", who.p.sk, coordinator.ReceiveOptions{New: true, All: true})
		if err != nil {
			t.Fatal(err)
		}
		if count(got, coordinator.ReceivedNew) != 1 {
			t.Fatalf("%s with --new: %+v", who.name, got)
		}
		if who.name == "alice" && count(got, coordinator.ReceivedUnknownSender) != 1 {
			t.Fatalf("alice: the stranger's message was not reported as such: %+v", got)
		}
		pend, err := who.p.c.PendingSpend(ctx, "family", txid.String())
		if err != nil {
			t.Fatal(err)
		}
		plan, err := who.p.c.PrepareSign(ctx, "family", pend.PSBT, coordinator.GateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := who.p.c.Sign(ctx, plan, hw.NewSigner(r.keys[who.name])); err != nil {
			t.Fatalf("%s signs: %v", who.name, err)
		}
		if _, err := who.p.c.SendPSBT(ctx, "family", txid.String(), []string{"carol"}, who.p.sk, coordinator.GateOptions{}); err != nil {
			t.Fatalf("%s sends back: %v", who.name, err)
		}
	}

	// Alice, on a spend of her own carol never drafted: carol reports it.
	other, err := alice.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 50_000)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.c.SendPSBT(ctx, "family", other.PSBT.UnsignedTx.TxHash().String(), []string{"carol"}, alice.sk, coordinator.GateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Bob's key sends a copy of the spend with its payment cut to a
	// tenth: the fee it leaves is refused by the gate.
	bad := clonePSBT(t, sp.PSBT)
	bad.UnsignedTx.TxOut[0].Value /= 10
	bad.UnsignedTx.TxOut[len(bad.UnsignedTx.TxOut)-1].Value /= 10
	b64, err := psbt.Encode(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := relay.Send(ctx, []string{url}, bob.sk, carol.pk, []byte(b64)); err != nil {
		t.Fatal(err)
	}
	badTxid := bad.UnsignedTx.TxHash()

	got, err := carol.c.ReceivePSBTs(ctx, "family", carol.sk, coordinator.ReceiveOptions{New: true, Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if count(got, coordinator.ReceivedMerged) != 2 || count(got, coordinator.ReceivedNew) != 1 || count(got, coordinator.ReceivedRefused) != 1 {
		t.Fatalf("carol received %+v", got)
	}
	for _, g := range got {
		if g.Outcome == coordinator.ReceivedRefused && (g.Label != "bob" || !strings.Contains(g.Reason, "refused by the")) {
			t.Errorf("the manipulated copy: %+v", g)
		}
		if g.Outcome == coordinator.ReceivedMerged && len(g.Signers) != 1 {
			t.Errorf("a merge added %v", g.Signers)
		}
	}
	if _, err := carol.c.PendingSpend(ctx, "family", badTxid.String()); err == nil {
		t.Error("the manipulated PSBT was stored")
	}
	pend, err := carol.c.PendingSpend(ctx, "family", txid.String())
	if err != nil {
		t.Fatal(err)
	}
	if pend.State != coordinator.PendingReady || pend.Signatures != 2 {
		t.Fatalf("after both came back: %s with %d signatures", pend.State, pend.Signatures)
	}
	if _, err := carol.c.Finalize(ctx, "family", pend.PSBT, coordinator.GateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Each message sent and received is on record in the sender's and
	// receiver's journal.
	for who, p := range map[string]*party{"carol": carol, "alice": alice} {
		entries, err := p.c.Store.Journal(ctx, "family", 0)
		if err != nil {
			t.Fatal(err)
		}
		sends, receives := 0, 0
		for _, e := range entries {
			switch e.Action {
			case wallet.ActionRelaySend:
				sends++
			case wallet.ActionRelayReceive:
				receives++
			}
		}
		// alice: two receives of carol's message and the stranger's.
		want := map[string][2]int{"carol": {2, 4}, "alice": {2, 4}}[who]
		if sends != want[0] || receives != want[1] {
			t.Errorf("%s's journal: %d relay.send, %d relay.receive; want %v", who, sends, receives, want)
		}
	}
	// A second receive starts where the first stopped: the same messages
	// (same second) merge again harmlessly, nothing new.
	again, err := carol.c.ReceivePSBTs(ctx, "family", carol.sk, coordinator.ReceiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if count(again, coordinator.ReceivedNew) != 0 {
		t.Fatalf("second receive: %+v", again)
	}
}

func count(rs []coordinator.Received, outcome string) int {
	n := 0
	for _, r := range rs {
		if r.Outcome == outcome {
			n++
		}
	}
	return n
}

func clonePSBT(t *testing.T, p *bpsbt.Packet) *bpsbt.Packet {
	t.Helper()
	b, err := psbt.Serialize(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := psbt.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestRelaySetupRefusals: what SetRelay refuses, and the errors of a
// wallet without a relay setup, or with a damaged one.
func TestRelaySetupRefusals(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 300_000)
	_, pk := r.nostrKey(t, "alice")
	if _, err := r.c.Relay(ctx, "family"); !errors.Is(err, coordinator.ErrNoRelay) {
		t.Fatalf("no setup: %v", err)
	}
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 100_000)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	var sk nip44.SecretKey
	sk[31] = 1
	if _, err := r.c.SendPSBT(ctx, "family", sp.PSBT.UnsignedTx.TxHash().String(), []string{"alice"}, sk, coordinator.GateOptions{}); !errors.Is(err, coordinator.ErrNoRelay) {
		t.Fatalf("send without a setup: %v", err)
	}
	good := coordinator.RelayConfig{Relays: []string{"wss://relay.example"}, Key: "carol", Cosigners: []coordinator.RelayCosigner{{Label: "alice", PubKey: pk}}}
	for name, bad := range map[string]func(c *coordinator.RelayConfig){
		"no relay":     func(c *coordinator.RelayConfig) { c.Relays = nil },
		"http relay":   func(c *coordinator.RelayConfig) { c.Relays = []string{"https://relay.example"} },
		"no key":       func(c *coordinator.RelayConfig) { c.Key = "" },
		"empty label":  func(c *coordinator.RelayConfig) { c.Cosigners[0].Label = "" },
		"twice":        func(c *coordinator.RelayConfig) { c.Cosigners = append(c.Cosigners, c.Cosigners[0]) },
		"bad hex npub": func(c *coordinator.RelayConfig) { c.Cosigners[0].Hex = "zz" },
		"zero key":     func(c *coordinator.RelayConfig) { c.Cosigners[0].PubKey = nip44.PublicKey{} },
	} {
		c := good
		c.Cosigners = append([]coordinator.RelayCosigner(nil), good.Cosigners...)
		bad(&c)
		if err := r.c.SetRelay(ctx, "family", c); !errors.Is(err, wallet.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := r.c.SetRelay(ctx, "nope", good); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("unknown wallet: %v", err)
	}
	if err := r.c.SetRelay(ctx, "family", good); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.SendPSBT(ctx, "family", sp.PSBT.UnsignedTx.TxHash().String(), []string{"bob"}, sk, coordinator.GateOptions{}); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("send to a label not set up: %v", err)
	}
	if _, err := r.c.SendPSBT(ctx, "family", sp.PSBT.UnsignedTx.TxHash().String(), nil, sk, coordinator.GateOptions{}); !errors.Is(err, wallet.ErrInvalid) {
		t.Errorf("send to nobody: %v", err)
	}
	// A damaged stored setup is an error, not a panic.
	if err := r.c.Store.SetSetting(ctx, "family", "relay", `{"relays":[1]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Relay(ctx, "family"); !errors.Is(err, wallet.ErrInvalid) {
		t.Errorf("damaged setup: %v", err)
	}
}

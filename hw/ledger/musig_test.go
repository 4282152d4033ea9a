package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	emu "github.com/countersign/countersign/hw/emulator/ledger"
	"github.com/countersign/countersign/hw/hwtest"
	"github.com/countersign/countersign/hw/transport"
	"github.com/countersign/countersign/psbt"
)

// muSigFixture is the default taproot wallet (MuSig2 key path of the
// three keys, a sortedmulti_a leaf) registered on an emulated Ledger
// (app 2.4.1), with the two software cosigners' nonce stores.
type muSigFixture struct {
	w      *testWallet
	d      *session
	u      *user
	stores []*hwtest.MemNonces
	base   int // what the user was asked before signing (the registration)
}

// asked lists what the user was asked since the registration.
func (f *muSigFixture) asked() []string { return f.u.kinds()[f.base:] }

func newMuSigFixture(t *testing.T) *muSigFixture {
	t.Helper()
	return newMuSigFixtureOn(t, func(l Link) Link { return l })
}

// newMuSigFixtureOn is newMuSigFixture with the driver's link wrapped
// (a recordingLink to record the session).
func newMuSigFixtureOn(t *testing.T, wrap func(Link) Link) *muSigFixture {
	t.Helper()
	keys, _ := policyKeys(t)
	u := &user{}
	_, addr := startEmulator(t, emu.Config{HMACKey: testHMACKey, AppVersion: "2.4.1", Approve: u.approve})
	conn, err := transport.DialTCP(context.Background(), addr, SpeculosOptions)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(context.Background(), wrap(SpeculosLink(conn)), Options{Endpoint: endpointFor(addr)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	d := &session{Ledger: l}
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	w.desc = mustTaproot(t, keys, descriptor.TaprootOptions{})
	token, err := d.Register(context.Background(), w.desc, testNet, "tap")
	if err != nil {
		t.Fatal(err)
	}
	d.UseToken(token)
	return &muSigFixture{w: w, d: d, u: u, stores: []*hwtest.MemNonces{nil, {}, {}}, base: len(u.kinds())}
}

// soft has software cosigner k take its next MuSig2 step.
func (f *muSigFixture) soft(t *testing.T, p *bpsbt.Packet, k int) psbt.MuSig2Result {
	t.Helper()
	r, err := psbt.SignMuSig2(context.Background(), p, f.w.masters[k], f.stores[k])
	if err != nil {
		t.Fatalf("cosigner %d: %v", k, err)
	}
	return r
}

// ledger has the Ledger sign p behind the adapter.
func (f *muSigFixture) ledger(p *bpsbt.Packet) (*hw.SignResult, error) {
	return hw.NewSigner(f.d.Ledger).Sign(context.Background(), p, f.d.wallet(f.w.desc, testNet, "tap"))
}

// muSigRecords counts input i's BIP-373 records of keyType by the
// participant whose derivation names master fingerprint fp.
func muSigRecords(t *testing.T, p *bpsbt.Packet, i int, keyType byte, fp [4]byte) int {
	t.Helper()
	n := 0
	for _, u := range p.Inputs[i].Unknowns {
		if len(u.Key) != 67 || u.Key[0] != keyType {
			continue
		}
		if slices.ContainsFunc(p.Inputs[i].TaprootBip32Derivation, func(d *bpsbt.TaprootBip32Derivation) bool {
			return d.MasterKeyFingerprint == binary.LittleEndian.Uint32(fp[:]) && bytes.Equal(d.XOnlyPubKey, u.Key[2:34])
		}) {
			n++
		}
	}
	return n
}

// bothRounds runs the MuSig2 rounds of a 2-input spend in turn (cosigner
// 1, the Ledger, cosigner 2; twice) and returns the PSBT with every
// partial signature.
func (f *muSigFixture) bothRounds(t *testing.T) *bpsbt.Packet {
	t.Helper()
	p := f.w.spend(t, 2)
	for round := 0; round < 2; round++ {
		f.soft(t, p, 1)
		res, err := f.ledger(p)
		if err != nil {
			t.Fatalf("Ledger, round %d: %v", round+1, err)
		}
		p = res.PSBT
		f.soft(t, p, 2)
	}
	return p
}

// TestMuSig2KeyPathWithLedger: the Ledger takes both MuSig2 rounds of the
// default taproot wallet's key path over the wire with two software
// cosigners (psbt.SignMuSig2), in turn; its records come back under
// BIP-373's aggregate key, verified by the adapter; the spend is finalized
// by the key path (one 64-byte signature) and btcd's script engine
// accepts it. A second round 2 on the same PSBT (the device's session is
// gone) and a round 2 with a nonce of a replaced round 1 are refused with
// what to do, never a protocol error.
func TestMuSig2KeyPathWithLedger(t *testing.T) {
	f := newMuSigFixture(t)
	p := f.w.spend(t, 2)
	fpL := fingerprintOf(t, deviceMaster(t))

	// Round 1: cosigner 1's nonces, then the Ledger's (and its leaf
	// signatures, after the user approved), then cosigner 2's.
	if r := f.soft(t, p, 1); r.Nonces != 2 {
		t.Fatalf("cosigner 1, round 1: %+v", r)
	}
	res, err := f.ledger(p)
	if err != nil {
		t.Fatal(err)
	}
	p = res.PSBT
	if res.Added != 4 || strings.Join(f.asked(), ",") != "sign" {
		t.Fatalf("Ledger round 1: added %d (want 2 nonces, 2 leaf signatures), user asked %v", res.Added, f.asked())
	}
	for i := range p.Inputs {
		if muSigRecords(t, p, i, hw.MuSigPubNonceType, fpL) != 1 || len(p.Inputs[i].TaprootScriptSpendSig) != 1 {
			t.Fatalf("input %d after the Ledger's round 1: %d nonces, %d leaf signatures", i, muSigRecords(t, p, i, hw.MuSigPubNonceType, fpL), len(p.Inputs[i].TaprootScriptSpendSig))
		}
	}
	// Cosigner 2's nonces are missing: the Ledger waits, unasked.
	if res, err := f.ledger(p); err != nil || !res.AlreadySigned || !res.WaitingMuSig2 || len(f.asked()) != 1 {
		t.Fatalf("Ledger before every nonce is in: %+v, %v (user asked %v)", res, err, f.asked())
	}
	if r := f.soft(t, p, 2); r.Nonces != 2 {
		t.Fatalf("cosigner 2, round 1: %+v", r)
	}

	// Round 2.
	if r := f.soft(t, p, 1); r.PartialSigs != 2 {
		t.Fatalf("cosigner 1, round 2: %+v", r)
	}
	before, err := psbt.Clone(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err = f.ledger(p)
	if err != nil {
		t.Fatal(err)
	}
	p = res.PSBT
	if res.Added != 2 {
		t.Fatalf("Ledger round 2: added %d, want 2 partial signatures", res.Added)
	}
	for i := range p.Inputs {
		if muSigRecords(t, p, i, hw.MuSigPartialSigType, fpL) != 1 {
			t.Fatalf("input %d: no partial signature of the Ledger", i)
		}
	}
	// Done: the Ledger has nothing left to add.
	if res, err := f.ledger(p); err != nil || !res.AlreadySigned || res.WaitingMuSig2 {
		t.Fatalf("Ledger after round 2: %+v, %v", res, err)
	}
	if r := f.soft(t, p, 2); r.PartialSigs != 2 {
		t.Fatalf("cosigner 2, round 2: %+v", r)
	}
	tx, err := psbt.Finalize(p, psbt.WalletInfo{Descriptor: f.w.desc, Network: testNet})
	if err != nil {
		t.Fatal(err)
	}
	fetch := prevOuts(p)
	hashes := txscript.NewTxSigHashes(tx, fetch)
	for i, in := range tx.TxIn {
		if len(in.Witness) != 1 || len(in.Witness[0]) != 64 {
			t.Fatalf("input %d: witness %x, want one 64-byte key-path signature", i, in.Witness)
		}
		prev := p.Inputs[i].WitnessUtxo
		vm, err := txscript.NewEngine(prev.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, prev.Value, fetch)
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.Execute(); err != nil {
			t.Fatalf("input %d: btcd's script engine: %v", i, err)
		}
	}

	// A second round 2 on the PSBT the Ledger signed before: no session.
	_, err = f.ledger(before)
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "no MuSig2 session for this transaction") || !strings.Contains(err.Error(), "0xb007") {
		t.Fatalf("second round 2: %v", err)
	}
	t.Logf("second round 2: %v", err)
}

// TestMuSig2ReplacedRound: a second round 1 for a transaction replaces the
// device's session; a round 2 with the nonces of the first is refused by
// the device (its nonce is not the one it would sign with) and the driver
// says so.
func TestMuSig2ReplacedRound(t *testing.T) {
	f := newMuSigFixture(t)
	unsigned := f.w.spend(t, 1)
	first, err := f.ledger(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.ledger(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	fpL := fingerprintOf(t, deviceMaster(t))
	nonceOf := func(p *bpsbt.Packet) []byte {
		for _, u := range p.Inputs[0].Unknowns {
			if len(u.Key) == 67 && u.Key[0] == hw.MuSigPubNonceType && slices.ContainsFunc(p.Inputs[0].TaprootBip32Derivation, func(d *bpsbt.TaprootBip32Derivation) bool {
				return d.MasterKeyFingerprint == binary.LittleEndian.Uint32(fpL[:]) && bytes.Equal(d.XOnlyPubKey, u.Key[2:34])
			}) {
				return u.Value
			}
		}
		return nil
	}
	if a, b := nonceOf(first.PSBT), nonceOf(second.PSBT); a == nil || b == nil || bytes.Equal(a, b) {
		t.Fatalf("two round 1s gave nonces %x and %x, want two different ones", a, b)
	}
	p := first.PSBT
	f.soft(t, p, 1)
	f.soft(t, p, 2)
	_, err = f.ledger(p)
	if !errors.Is(err, hw.ErrDevice) || !strings.Contains(err.Error(), "not the one it made in round 1") || !strings.Contains(err.Error(), "0x6a80") {
		t.Fatalf("round 2 with the replaced round's nonce: %v", err)
	}
	// Its session is gone: the newer round's nonces cannot be used either.
	p = second.PSBT
	f.soft(t, p, 1)
	f.soft(t, p, 2)
	if _, err := f.ledger(p); err == nil || !strings.Contains(err.Error(), "no MuSig2 session") {
		t.Fatalf("round 2 after the session was taken: %v", err)
	}
}

// TestMuSig2Plan: the round the driver runs, decided from the PSBT's
// BIP-373 records, the device's copy for each round, and the states it
// refuses before the device is asked.
func TestMuSig2Plan(t *testing.T) {
	keys, _ := policyKeys(t)
	w := newTestWallet(t, descriptor.ScriptWsh, 2, true)
	w.desc = mustTaproot(t, keys, descriptor.TaprootOptions{})
	d := deviceLedger(t)
	p := w.spend(t, 2)
	stores := []*hwtest.MemNonces{{}, {}, {}}
	step := func(p *bpsbt.Packet, k int) {
		t.Helper()
		if _, err := psbt.SignMuSig2(context.Background(), p, w.masters[k], stores[k]); err != nil {
			t.Fatal(err)
		}
	}

	// Cosigners' nonces in, not the Ledger's: round 1, and the device's
	// copy has no nonce at all.
	step(p, 1)
	plan, err := d.planMuSig(p)
	if err != nil || plan.Round != hw.MuSigRound1 || len(plan.Sessions) != 2 {
		t.Fatalf("plan %+v, %v; want round 1 on both inputs", plan, err)
	}
	for _, s := range plan.Sessions {
		script := p.Inputs[s.Input].WitnessUtxo.PkScript
		if !bytes.Equal(s.Tweaked[1:], script[2:]) || bytes.Equal(s.Plain, s.Tweaked) {
			t.Errorf("input %d: app key %x, plain %x, output key %x", s.Input, s.Tweaked, s.Plain, script[2:])
		}
	}
	dev := clonePacket(t, p)
	plan.deviceCopy(dev)
	for i := range dev.Inputs {
		for _, u := range dev.Inputs[i].Unknowns {
			if u.Key[0] == hw.MuSigPubNonceType || u.Key[0] == hw.MuSigPartialSigType {
				t.Fatalf("input %d: round 1 copy holds %x", i, u.Key)
			}
		}
		if len(dev.Inputs[i].Unknowns) == 0 {
			t.Errorf("input %d: the participants record was dropped too", i)
		}
	}

	// The Ledger's nonces in (made here with the device's master as a
	// software key), cosigner 2's missing: refused, naming cosigner 2.
	step(p, 0)
	fp2 := fingerprintOf(t, w.masters[2])
	if _, err := d.planMuSig(p); err == nil || !strings.Contains(err.Error(), "cosigner "+hexFP(fp2)) || strings.Contains(err.Error(), "cosigner "+hexFP(fingerprintOf(t, w.masters[1]))) {
		t.Errorf("with cosigner 2's nonce missing: %v", err)
	}
	// Its nonce in input 0 only: refused (two rounds mixed).
	mixed := clonePacket(t, p)
	own := plan.Sessions[1]
	mixed.Inputs[1].Unknowns = dropKey(mixed.Inputs[1].Unknowns, hw.MuSigRecordKey(hw.MuSigPubNonceType, own.Own, own.Plain))
	if _, err := d.planMuSig(mixed); err == nil || !strings.Contains(err.Error(), "input(s) 0 but not for input(s) 1") {
		t.Errorf("nonce in one input of two: %v", err)
	}

	// Every nonce in: round 2, the copy carries each nonce under the
	// app's key (participant | output key), none under BIP-373's.
	step(p, 2)
	step(p, 1) // cosigner 1's partial signatures: not for the device
	plan, err = d.planMuSig(p)
	if err != nil || plan.Round != hw.MuSigRound2 {
		t.Fatalf("plan %+v, %v; want round 2", plan, err)
	}
	dev = clonePacket(t, p)
	plan.deviceCopy(dev)
	for _, s := range plan.Sessions {
		in := &dev.Inputs[s.Input]
		for _, k := range s.Participants {
			want := hw.FindMuSigRecord(&p.Inputs[s.Input], hw.MuSigRecordKey(hw.MuSigPubNonceType, k, s.Plain))
			if got := hw.FindMuSigRecord(in, hw.MuSigRecordKey(hw.MuSigPubNonceType, k, s.Tweaked)); want == nil || !bytes.Equal(got, want) {
				t.Errorf("input %d participant %x: app-keyed nonce %x, want %x", s.Input, k, got, want)
			}
			if hw.FindMuSigRecord(in, hw.MuSigRecordKey(hw.MuSigPubNonceType, k, s.Plain)) != nil || hw.FindMuSigRecord(in, hw.MuSigRecordKey(hw.MuSigPartialSigType, k, s.Plain)) != nil {
				t.Errorf("input %d: the copy keeps BIP-373-keyed records", s.Input)
			}
		}
	}

	// An input without a participants record while round 2 is due:
	// refused before the device takes its session.
	bare := clonePacket(t, p)
	bare.Inputs[1].Unknowns = nil
	if _, err := d.planMuSig(bare); err == nil || !strings.Contains(err.Error(), "input 1 has no MuSig2 participants record") {
		t.Errorf("input without participants in round 2: %v", err)
	}

	// The Ledger's partial signatures in: no round (leaves only).
	step(p, 0)
	if plan, err := d.planMuSig(p); err != nil || plan.Round != hw.MuSigNone {
		t.Errorf("after its partial signatures: %+v, %v", plan, err)
	}
	// Its partial signature in input 0 only: two rounds mixed, refused
	// (hw.PlanMuSig's rule, shared with the Coldcard).
	half := clonePacket(t, p)
	s1 := plan.Sessions[1]
	half.Inputs[1].Unknowns = dropKey(half.Inputs[1].Unknowns, hw.MuSigRecordKey(hw.MuSigPartialSigType, s1.Own, s1.Plain))
	if _, err := d.planMuSig(half); err == nil || !strings.Contains(err.Error(), "partial signature for input(s) 0 and not for input(s) 1") {
		t.Errorf("partial signature in one input of two: %v", err)
	}

	// A partial signature yield in round 1, a nonce in round 2, one for a
	// leaf, one for another participant: refused.
	r1 := &muSigPlan{hw.MuSigPlan{Round: hw.MuSigRound1, Sessions: plan.Sessions}}
	r2 := &muSigPlan{hw.MuSigPlan{Round: hw.MuSigRound2, Sessions: plan.Sessions}}
	s := plan.Sessions[0]
	other := s.Participants[0]
	if bytes.Equal(other, s.Own) {
		other = s.Participants[1]
	}
	for _, c := range []struct {
		plan *muSigPlan
		ps   partialSig
		want string
	}{
		{r1, partialSig{kind: yieldMuSigSig, pubKey: s.Own, agg: s.Tweaked, sig: make([]byte, 32)}, "round that does not make one"},
		{r2, partialSig{kind: yieldMuSigNonce, pubKey: s.Own, agg: s.Tweaked, sig: make([]byte, 66)}, "round that does not make one"},
		{r2, partialSig{kind: yieldMuSigSig, pubKey: s.Own, agg: s.Tweaked, sig: make([]byte, 32), leafHash: make([]byte, 32)}, "script leaf"},
		{r2, partialSig{kind: yieldMuSigSig, pubKey: other, agg: s.Tweaked, sig: make([]byte, 32)}, "not for its own key"},
		{r2, partialSig{kind: yieldMuSigSig, pubKey: s.Own, agg: s.Plain, sig: make([]byte, 32)}, "not the input's output key"},
	} {
		if _, err := c.plan.addMuSig(clonePacket(t, w.spend(t, 2)), c.ps); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.ps, err, c.want)
		}
	}
}

func hexFP(fp [4]byte) string { return hex.EncodeToString(fp[:]) }

func dropKey(us []*bpsbt.Unknown, k []byte) []*bpsbt.Unknown {
	var out []*bpsbt.Unknown
	for _, u := range us {
		if !bytes.Equal(u.Key, k) {
			out = append(out, u)
		}
	}
	return out
}

// tamperLink flips bits (mask) of the first data byte of every MuSig2 YIELD
// with tag (0xFFFFFFFF pubnonce, 0xFFFFFFFE partial signature) the device
// sends: the driver passes the record on, and the adapter's BIP-373 check
// must refuse it.
type tamperLink struct {
	Link
	tag, mask byte
}

func (l *tamperLink) Exchange(ctx context.Context, apdu []byte) ([]byte, uint16, error) {
	data, sw, err := l.Link.Exchange(ctx, apdu)
	// ccYield | 0xFE tag(4, little-endian) | input varint | data...
	if err == nil && sw == swInterrupted && len(data) > 8 && data[0] == ccYield && data[1] == 0xfe && data[2] == l.tag {
		data = bytes.Clone(data)
		data[7] ^= l.mask
	}
	return data, sw, err
}

// TestMuSig2BadRecordsRefused: a partial signature that does not verify
// (BIP-327 PartialSigVerify against the PSBT's nonces) and a nonce that is
// not two points, as if the device had sent them, are refused by the
// adapter and nothing is added.
func TestMuSig2BadRecordsRefused(t *testing.T) {
	t.Run("partial signature", func(t *testing.T) {
		f := newMuSigFixtureOn(t, func(l Link) Link { return &tamperLink{Link: l, tag: 0xfe, mask: 0x01} })
		p := f.w.spend(t, 1)
		f.soft(t, p, 1)
		res, err := f.ledger(p)
		if err != nil {
			t.Fatal(err)
		}
		p = res.PSBT
		f.soft(t, p, 2)
		f.soft(t, p, 1)
		before := len(p.Inputs[0].Unknowns)
		if _, err := f.ledger(p); err == nil || !strings.Contains(err.Error(), "MuSig2 record") || !strings.Contains(err.Error(), "does not verify") {
			t.Fatalf("a bad partial signature: %v", err)
		}
		if len(p.Inputs[0].Unknowns) != before {
			t.Error("the caller's PSBT changed")
		}
	})
	t.Run("nonce", func(t *testing.T) {
		f := newMuSigFixtureOn(t, func(l Link) Link { return &tamperLink{Link: l, tag: 0xff, mask: 0x04} })
		p := f.w.spend(t, 1)
		// The first byte of the nonce is R1's parity byte: 0x06 or 0x07
		// is no compressed point.
		if _, err := f.ledger(p); err == nil || !strings.Contains(err.Error(), "public nonce") {
			t.Fatalf("a bad nonce: %v", err)
		}
	})
}

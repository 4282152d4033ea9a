package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/internal/regtest"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// The tamper suite: every manipulation an attacker (a compromised
// coordinator machine, a cosigner's tool, a file on the way) can make to a
// PSBT, tried against every step: inspect, update, sign with a software key
// and with each device emulator, combine, finalize and broadcast. Each is
// refused with the rule named (exit 4, or 2 for a PSBT that is not valid
// at all) and nothing is written: no output file, no draft, no journal
// entry, no transaction on the network. A manipulation that is not an
// attack but must not pass unseen (change moved to the wallet's own
// receive branch within the gap) is flagged: the output is shown as a
// payment to the wallet's receive address, never as change.
//
// The untampered PSBTs go through every step first, so a refusal below is
// the manipulation's doing and not a broken fixture.

// tamperFixture is a funded 2-of-6 wallet of two software keys and four
// emulated devices, and one spend at each stage of its life.
type tamperFixture struct {
	node    *regtest.Node
	dir     string // data directory
	desc    *descriptor.Descriptor
	net     *chaincfg.Params
	signers []string // every signer, as --with takes it
	// The spend at each stage, serialized: unsigned, signed by k1, signed
	// by k2, both combined, finalized.
	unsigned, k1, k2, signed, final []byte
	nextReceive                     uint32
	// external is a transaction of the node's own coins: an input from
	// outside the wallet, and the wrong previous transaction.
	external *wire.MsgTx
}

// tamper changes a PSBT as an attacker would.
type tamper struct {
	name string
	// apply changes p; it fails the test when the manipulation does not
	// apply (so that no row passes by doing nothing).
	apply func(t *testing.T, fx *tamperFixture, p *bpsbt.Packet)
	// rule is the gate rule that must refuse it ("" when the PSBT is not
	// valid at all: exit 2). flagged: accepted, shown as a receive output.
	rule    string
	flagged bool
}

func newTamperFixture(t *testing.T) *tamperFixture {
	node := regtest.Start(t)
	ctx := context.Background()
	cc, fpC := startColdcard(t, mnemonicA, node.Params(), nil)
	lg, fpL := startLedger(t, mnemonicC, node.Params())
	tz, fpT := startTrezor(t, mnemonicB)
	bb, fpB, _ := startBitBox02(t, mnemonicD)
	extraEnv = map[string]string{"COUNTERSIGN_EMULATORS": "1", "COUNTERSIGN_COLDCARD_SOCKET": cc,
		"COUNTERSIGN_LEDGER_SPECULOS": lg, "COUNTERSIGN_TREZOR_EMULATOR": tz, "COUNTERSIGN_BITBOX02_SIMULATOR": bb}
	t.Cleanup(func() { extraEnv = nil })
	fx := &tamperFixture{node: node, dir: t.TempDir(), net: node.Params()}
	dir := fx.dir
	// The BitBox02 pairs once, at a terminal.
	if r := runCLIAtTerminal(t, dir, "device", "xpub", "--with", "bitbox02:"+fpB, "--path", "m/48h/1h/0h/2h"); r.Code != 0 {
		t.Fatalf("pair the BitBox02: exit %d: %s", r.Code, r.Err)
	}
	importTestKeys(t, dir, []testCosigner{newTestCosigner(t, 21, 2), newTestCosigner(t, 22, 2)})
	mustRun(t, dir, "--network", "regtest", "wallet", "create", "vault", "--threshold", "2",
		"--device", "key:k1", "--device", "key:k2", "--device", "coldcard:"+fpC,
		"--device", "ledger:"+fpL, "--device", "trezor:"+fpT, "--device", "bitbox02:"+fpB)
	mustRun(t, dir, "backend", "set", node.RPCURL())
	fx.signers = []string{"key:k1", "coldcard:" + fpC, "ledger:" + fpL, "trezor:" + fpT, "bitbox02:" + fpB}
	for _, dev := range []string{"coldcard:" + fpC, "ledger:" + fpL, "bitbox02:" + fpB} {
		mustRun(t, dir, "device", "register", "vault", "--with", dev)
	}
	var show struct {
		Descriptor string `json:"descriptor"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", "vault"), &show)
	d, err := descriptor.Parse(show.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	fx.desc = d
	for range 2 {
		a, err := btcutil.DecodeAddress(strings.TrimSpace(mustRun(t, dir, "address", "vault")), fx.net)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.Fund(ctx, a, 100_000_000); err != nil {
			t.Fatal(err)
		}
	}
	txid, err := node.Fund(ctx, node.Address(), 30_000_000)
	if err != nil {
		t.Fatal(err)
	}
	node.Mine(ctx, 1)
	raw, err := node.Client().GetRawTransaction(&txid)
	if err != nil {
		t.Fatal(err)
	}
	fx.external = raw.MsgTx()
	mustRun(t, dir, "wallet", "sync", "vault")
	var w struct {
		NextReceive uint32 `json:"next_receive_index"`
	}
	mustJSON(t, mustRun(t, dir, "--json", "wallet", "show", "vault"), &w)
	fx.nextReceive = w.NextReceive

	work := t.TempDir()
	at := func(name string) string { return filepath.Join(work, name) }
	mustRun(t, dir, "spend", "vault", "--to", node.Address().EncodeAddress()+":0.1", "--fee-rate", "3", "-o", at("u.psbt"))
	mustRun(t, dir, "sign", at("u.psbt"), "--with", "key:k1", "--yes", "-o", at("k1.psbt"))
	mustRun(t, dir, "sign", at("u.psbt"), "--with", "key:k2", "--yes", "-o", at("k2.psbt"))
	mustRun(t, dir, "psbt", "combine", at("k1.psbt"), at("k2.psbt"), "-o", at("s.psbt"))
	mustRun(t, dir, "psbt", "finalize", at("s.psbt"), "--psbt-output", at("f.psbt"), "-o", at("tx.hex"))
	read := func(name string) []byte {
		b, err := os.ReadFile(at(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	fx.unsigned, fx.k1, fx.k2, fx.signed, fx.final = read("u.psbt"), read("k1.psbt"), read("k2.psbt"), read("s.psbt"), read("f.psbt")
	return fx
}

// decode parses one of the fixture's PSBTs afresh.
func (fx *tamperFixture) decode(t *testing.T, b []byte) *bpsbt.Packet {
	t.Helper()
	p, err := psbt.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// changeOutput is the index of the spend's change output.
func changeOutput(t *testing.T, p *bpsbt.Packet) int {
	t.Helper()
	for i, o := range p.Outputs {
		if len(o.Bip32Derivation) > 0 {
			return i
		}
	}
	t.Fatal("the spend has no change output")
	return 0
}

// moveChange re-derives the change output at branch/index of the wallet,
// scripts and derivations correct: only the position is the attack.
func moveChange(branch, index uint32) func(*testing.T, *tamperFixture, *bpsbt.Packet) {
	return func(t *testing.T, fx *tamperFixture, p *bpsbt.Packet) {
		j := changeOutput(t, p)
		dv, err := fx.desc.Derive(branch, index, fx.net)
		if err != nil {
			t.Fatal(err)
		}
		p.UnsignedTx.TxOut[j].PkScript = dv.ScriptPubKey
		o := &p.Outputs[j]
		o.RedeemScript, o.WitnessScript = dv.RedeemScript, dv.WitnessScript
		o.Bip32Derivation = nil
		for _, k := range dv.Keys {
			o.Bip32Derivation = append(o.Bip32Derivation, &bpsbt.Bip32Derivation{
				PubKey: k.PubKey, MasterKeyFingerprint: leUint32(k.Fingerprint), Bip32Path: k.Path})
		}
	}
}

func leUint32(b [4]byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// setSighash makes every input ask for sighash type h.
func setSighash(h txscript.SigHashType) func(*testing.T, *tamperFixture, *bpsbt.Packet) {
	return func(t *testing.T, fx *tamperFixture, p *bpsbt.Packet) {
		for i := range p.Inputs {
			p.Inputs[i].SighashType = h
		}
	}
}

// witnessScriptOf is input i's witness script: from the PSBT, or from the
// unsigned spend once finalizing removed it.
func (fx *tamperFixture) witnessScriptOf(t *testing.T, p *bpsbt.Packet, i int) []byte {
	if ws := p.Inputs[i].WitnessScript; ws != nil {
		return ws
	}
	u := fx.decode(t, fx.unsigned)
	return u.Inputs[i].WitnessScript
}

var tampers = []tamper{
	{name: "change swapped for another script", rule: psbt.RuleWallet, apply: func(t *testing.T, fx *tamperFixture, p *bpsbt.Packet) {
		j := changeOutput(t, p)
		h := sha256.Sum256([]byte("attacker"))
		p.UnsignedTx.TxOut[j].PkScript = append([]byte{txscript.OP_0, 32}, h[:]...)
	}},
	{name: "change index far away (1/100000)", rule: psbt.RuleIndex, apply: moveChange(1, 100000)},
	{name: "change at the last index (1/2147483646)", rule: psbt.RuleIndex, apply: moveChange(1, 2147483646)},
	{name: "change on the receive branch beyond the gap", rule: psbt.RuleIndex, apply: moveChange(0, 5000)},
	{name: "change on the receive branch within the gap", flagged: true, apply: func(t *testing.T, fx *tamperFixture, p *bpsbt.Packet) {
		moveChange(0, fx.nextReceive+1)(t, fx, p)
	}},
	{name: "fee raised through the change (0.5 BTC)", rule: psbt.RuleFee, apply: func(t *testing.T, fx *tamperFixture, p *bpsbt.Packet) {
		p.UnsignedTx.TxOut[changeOutput(t, p)].Value -= 50_000_000
	}},
	{name: "witness_utxo amount lowered", rule: "", apply: func(t *testing.T, fx *tamperFixture, p *bpsbt.Packet) {
		if p.Inputs[0].WitnessUtxo == nil {
			t.Fatal("no witness_utxo to lower")
		}
		p.Inputs[0].WitnessUtxo.Value -= 40_000_000
	}},
	{name: "non_witness_utxo of another transaction", rule: "", apply: func(t *testing.T, fx *tamperFixture, p *bpsbt.Packet) {
		p.Inputs[0].NonWitnessUtxo = fx.external.Copy()
	}},
	{name: "sighash NONE", rule: psbt.RuleWallet, apply: setSighash(txscript.SigHashNone)},
	{name: "sighash SINGLE", rule: psbt.RuleWallet, apply: setSighash(txscript.SigHashSingle)},
	{name: "sighash ALL|ANYONECANPAY", rule: psbt.RuleWallet, apply: setSighash(txscript.SigHashAll | txscript.SigHashAnyOneCanPay)},
	{name: "signature by a key not in the wallet", rule: psbt.RuleSignature, apply: func(t *testing.T, fx *tamperFixture, p *bpsbt.Packet) {
		priv, _ := btcec.NewPrivateKey()
		ws := fx.witnessScriptOf(t, p, 0)
		prev := txscript.NewMultiPrevOutFetcher(nil)
		for i, in := range p.UnsignedTx.TxIn {
			prev.AddPrevOut(in.PreviousOutPoint, p.Inputs[i].WitnessUtxo)
		}
		h, err := txscript.CalcWitnessSigHash(ws, txscript.NewTxSigHashes(p.UnsignedTx, prev), txscript.SigHashAll,
			p.UnsignedTx, 0, p.Inputs[0].WitnessUtxo.Value)
		if err != nil {
			t.Fatal(err)
		}
		sig := append(ecdsa.Sign(priv, h).Serialize(), byte(txscript.SigHashAll))
		p.Inputs[0].PartialSigs = append(p.Inputs[0].PartialSigs, &bpsbt.PartialSig{PubKey: priv.PubKey().SerializeCompressed(), Signature: sig})
	}},
	{name: "input duplicated", rule: "", apply: func(t *testing.T, fx *tamperFixture, p *bpsbt.Packet) {
		in := *p.UnsignedTx.TxIn[0]
		p.UnsignedTx.TxIn = append(p.UnsignedTx.TxIn, &in)
		p.Inputs = append(p.Inputs, p.Inputs[0])
	}},
	{name: "global xpubs of another network", rule: psbt.RuleNetwork, apply: func(t *testing.T, fx *tamperFixture, p *bpsbt.Packet) {
		n := 0
		for _, u := range p.Unknowns {
			if len(u.Key) == 79 && u.Key[0] == 0x01 {
				copy(u.Key[1:5], chaincfg.MainNetParams.HDPublicKeyID[:])
				n++
			}
		}
		if n == 0 {
			t.Fatal("no global xpubs to change")
		}
	}},
	{name: "unknown input added", rule: psbt.RuleWallet, apply: func(t *testing.T, fx *tamperFixture, p *bpsbt.Packet) {
		tx := fx.external
		for vout, out := range tx.TxOut {
			if out.Value != 30_000_000 {
				continue
			}
			p.UnsignedTx.TxIn = append(p.UnsignedTx.TxIn, wire.NewTxIn(wire.NewOutPoint(ptrHash(tx.TxHash()), uint32(vout)), nil, nil))
			p.Inputs = append(p.Inputs, bpsbt.PInput{NonWitnessUtxo: tx.Copy(), WitnessUtxo: out})
			return
		}
		t.Fatal("the node's payment is not in its transaction")
	}},
}

func ptrHash(h chainhash.Hash) *chainhash.Hash { return &h }

// step is one command a manipulated PSBT goes through.
type step struct {
	name string
	// base is the stage of the spend the step takes.
	base func(fx *tamperFixture) [][]byte
	// args runs the step on files in; out is where it would write.
	args func(in []string, out string) []string
}

func tamperSteps(fx *tamperFixture) []step {
	one := func(b func(fx *tamperFixture) []byte) func(*tamperFixture) [][]byte {
		return func(fx *tamperFixture) [][]byte { return [][]byte{b(fx)} }
	}
	unsigned := one(func(fx *tamperFixture) []byte { return fx.unsigned })
	steps := []step{
		{"inspect", unsigned, func(in []string, out string) []string { return []string{"--json", "psbt", "inspect", in[0]} }},
		{"update", unsigned, func(in []string, out string) []string { return []string{"psbt", "update", in[0], "-o", out} }},
	}
	for _, with := range fx.signers {
		steps = append(steps, step{"sign " + strings.SplitN(with, ":", 2)[0], unsigned, func(in []string, out string) []string {
			return []string{"sign", in[0], "--with", with, "--yes", "-o", out}
		}})
	}
	return append(steps,
		step{"combine", func(fx *tamperFixture) [][]byte { return [][]byte{fx.k1, fx.k2} }, func(in []string, out string) []string {
			return append(append([]string{"psbt", "combine"}, in...), "-o", out)
		}},
		step{"finalize", one(func(fx *tamperFixture) []byte { return fx.signed }), func(in []string, out string) []string {
			return []string{"psbt", "finalize", in[0], "-o", out}
		}},
		step{"broadcast", one(func(fx *tamperFixture) []byte { return fx.final }), func(in []string, out string) []string {
			return []string{"psbt", "broadcast", in[0]}
		}},
	)
}

// storeState is what a refused step must leave as it was.
type storeState struct {
	drafts, journal int
}

func (fx *tamperFixture) state(t *testing.T) storeState {
	t.Helper()
	s, err := wallet.Open(fx.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ds, err := s.Drafts(ctx, "vault")
	if err != nil {
		t.Fatal(err)
	}
	js, err := s.Journal(ctx, "vault", 0)
	if err != nil {
		t.Fatal(err)
	}
	return storeState{len(ds), len(js)}
}

func (fx *tamperFixture) inMempool(t *testing.T, p *bpsbt.Packet) bool {
	t.Helper()
	ids, err := fx.node.Client().GetRawMempool()
	if err != nil {
		t.Fatal(err)
	}
	want := p.UnsignedTx.TxHash()
	for _, id := range ids {
		if *id == want {
			return true
		}
	}
	return false
}

func TestTamperSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("regtest test")
	}
	fx := newTamperFixture(t)
	steps := tamperSteps(fx)
	work := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(work, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// The untampered spend passes every step but broadcast (kept for last:
	// broadcasting it would spend the coins the rows below try to spend).
	for _, s := range steps {
		if s.name == "broadcast" {
			continue
		}
		var in []string
		for k, b := range s.base(fx) {
			in = append(in, write(fmt.Sprintf("control-%s-%d.psbt", strings.ReplaceAll(s.name, " ", "-"), k), b))
		}
		if r := runCLI(t, fx.dir, "", s.args(in, filepath.Join(work, "control-out"))...); r.Code != 0 {
			t.Fatalf("control: %s of the untampered spend: exit %d: %s", s.name, r.Code, r.Err)
		}
	}

	tried, refused, flagged := 0, 0, 0
	for ti, tm := range tampers {
		for _, s := range steps {
			t.Run(tm.name+"/"+s.name, func(t *testing.T) {
				var in []string
				var packets []*bpsbt.Packet
				for k, b := range s.base(fx) {
					p := fx.decode(t, b)
					tm.apply(t, fx, p)
					raw := serializeTampered(t, p)
					if bytes.Equal(raw, b) {
						t.Fatal("the manipulation did not change the PSBT's bytes")
					}
					packets = append(packets, p)
					in = append(in, write(fmt.Sprintf("t%d-%s-%d.psbt", ti, strings.ReplaceAll(s.name, " ", "-"), k), raw))
				}
				inputs := make([][]byte, len(in))
				for k, f := range in {
					inputs[k], _ = os.ReadFile(f)
				}
				out := filepath.Join(work, fmt.Sprintf("t%d-%s-out", ti, strings.ReplaceAll(s.name, " ", "-")))
				before := fx.state(t)
				r := runCLI(t, fx.dir, "", s.args(in, out)...)
				tried++

				if tm.flagged {
					checkFlagged(t, fx, s, r, packets[0], out)
					flagged++
					return
				}
				want := 4
				if tm.rule == "" {
					want = 0 // 2 or 4: not valid at all, or refused by a rule
				}
				switch {
				case want == 4 && r.Code != 4, want == 0 && r.Code != 2 && r.Code != 4:
					t.Fatalf("exit %d, want a refusal; stdout %q stderr %q", r.Code, r.Out, r.Err)
				case strings.TrimSpace(r.Err) == "":
					t.Fatal("refused without a reason on stderr")
				case tm.rule != "" && !strings.Contains(r.Err, "by the "+tm.rule+" rule"):
					t.Fatalf("refused, but not by the %s rule: %s", tm.rule, r.Err)
				}
				if s.name == "inspect" && r.Code == 4 {
					var j struct {
						Refused *refusalJSON `json:"refused"`
					}
					if err := json.Unmarshal([]byte(r.Out), &j); err != nil || j.Refused == nil || j.Refused.Reason == "" {
						t.Fatalf("inspect: exit 4 without the refusal in its JSON: %s", r.Out)
					}
				}
				if _, err := os.Stat(out); err == nil {
					t.Fatalf("a refused %s wrote %s", s.name, out)
				}
				for k, f := range in {
					if b, _ := os.ReadFile(f); !bytes.Equal(b, inputs[k]) {
						t.Fatalf("a refused %s changed its input file", s.name)
					}
				}
				if after := fx.state(t); after != before {
					t.Fatalf("a refused %s changed the store: %+v, then %+v", s.name, before, after)
				}
				if s.name == "broadcast" && fx.inMempool(t, packets[0]) {
					t.Fatal("a refused broadcast reached the network")
				}
				refused++
			})
		}
	}
	t.Logf("tamper suite: %d manipulations x %d steps = %d runs: %d refused, %d flagged", len(tampers), len(steps), tried, refused, flagged)

	// Last, the untampered finalized spend does broadcast.
	if r := runCLI(t, fx.dir, "", "psbt", "broadcast", write("control-final.psbt", fx.final)); r.Code != 0 {
		t.Fatalf("control: broadcast of the untampered spend: exit %d: %s", r.Code, r.Err)
	}
}

// serializeTampered writes a manipulated PSBT. btcd's serializer leaves
// out of a finalized input the records a finalizer clears (partial
// signatures, sighash type), so those are written in by hand: an attacker
// is not bound by the library's manners.
func serializeTampered(t *testing.T, p *bpsbt.Packet) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := p.Serialize(&b); err != nil {
		t.Fatalf("serialize the manipulated PSBT: %v", err)
	}
	raw := b.Bytes()
	for i := range p.Inputs {
		in := &p.Inputs[i]
		if in.FinalScriptSig == nil && in.FinalScriptWitness == nil {
			continue
		}
		var recs [][2][]byte
		for _, ps := range in.PartialSigs {
			recs = append(recs, [2][]byte{append([]byte{0x02}, ps.PubKey...), ps.Signature})
		}
		if in.SighashType != 0 {
			v := make([]byte, 4)
			binary.LittleEndian.PutUint32(v, uint32(in.SighashType))
			recs = append(recs, [2][]byte{{0x03}, v})
		}
		if len(recs) > 0 {
			raw = injectInputRecords(t, raw, i, recs)
		}
	}
	return raw
}

// injectInputRecords adds key-value records at the end of input i's map.
func injectInputRecords(t *testing.T, raw []byte, input int, recs [][2][]byte) []byte {
	t.Helper()
	r := bytes.NewReader(raw[5:]) // after the magic
	skipMap := func() {
		for {
			kl, err := wire.ReadVarInt(r, 0)
			if err != nil {
				t.Fatal(err)
			}
			if kl == 0 {
				return
			}
			if _, err := r.Seek(int64(kl), io.SeekCurrent); err != nil {
				t.Fatal(err)
			}
			vl, err := wire.ReadVarInt(r, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Seek(int64(vl), io.SeekCurrent); err != nil {
				t.Fatal(err)
			}
		}
	}
	skipMap() // global
	for range input {
		skipMap()
	}
	skipMap()
	end := len(raw) - r.Len() - 1 // input's terminating 0x00
	var add bytes.Buffer
	for _, kv := range recs {
		wire.WriteVarBytes(&add, 0, kv[0])
		wire.WriteVarBytes(&add, 0, kv[1])
	}
	out := append(append(append([]byte{}, raw[:end]...), add.Bytes()...), raw[end:]...)
	return out
}

// checkFlagged: a manipulation that is not refused must be visible: the
// moved output is reported as a payment to the wallet's receive address,
// never as change, wherever the step reports outputs. Steps that take
// signed PSBTs refuse it: the signatures no longer verify.
func checkFlagged(t *testing.T, fx *tamperFixture, s step, r result, p *bpsbt.Packet, out string) {
	t.Helper()
	switch s.name {
	case "combine", "finalize", "broadcast":
		if r.Code != 4 || !strings.Contains(r.Err, "by the "+psbt.RuleSignature+" rule") {
			t.Fatalf("signed PSBT with an output moved: exit %d, want 4 by the signature rule: %s", r.Code, r.Err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("a refused %s wrote %s", s.name, out)
		}
		return
	}
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Err)
	}
	if s.name == "inspect" {
		assertReceiveOutput(t, r.Out)
		return
	}
	assertReceiveOutput(t, mustRun(t, fx.dir, "--json", "psbt", "inspect", out))
}

func assertReceiveOutput(t *testing.T, inspectJSON string) {
	t.Helper()
	var j struct {
		Outputs []struct {
			Kind string `json:"kind"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(inspectJSON), &j); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range j.Outputs {
		kinds[o.Kind]++
	}
	if kinds[psbt.KindReceive] != 1 || kinds[psbt.KindChange] != 0 {
		t.Fatalf("the moved output is not shown as a receive output: %v", kinds)
	}
}

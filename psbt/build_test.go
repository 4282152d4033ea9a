package psbt

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
)

func TestDustThreshold(t *testing.T) {
	p2wsh := append([]byte{0x00, 0x20}, make([]byte, 32)...)
	p2sh := append(append([]byte{0xa9, 0x14}, make([]byte, 20)...), 0x87)
	p2pkh := append(append([]byte{0x76, 0xa9, 0x14}, make([]byte, 20)...), 0x88, 0xac)
	// Bitcoin Core's values at the 3 sat/vB dust relay fee.
	for _, c := range []struct {
		name   string
		script []byte
		want   int64
	}{
		{"p2wsh", p2wsh, 330},
		{"p2wpkh", externalScript(1), 294},
		{"p2sh", p2sh, 540},
		{"p2pkh", p2pkh, 546},
		{"op_return", []byte{txscript.OP_RETURN, 0x01, 0x00}, 0},
	} {
		if got := DustThreshold(c.script); got != c.want {
			t.Errorf("%s: dust threshold %d, want %d", c.name, got, c.want)
		}
	}
}

// TestEstimateVSizeAgainstSignedTx builds, signs and finalizes real
// transactions and checks the estimate against their actual size: never
// below it, and above it only by the worst-case signature slack.
func TestEstimateVSizeAgainstSignedTx(t *testing.T) {
	for _, c := range []struct {
		script descriptor.ScriptType
		m, n   int
		nIn    int
	}{
		{descriptor.ScriptWsh, 2, 3, 1},
		{descriptor.ScriptWsh, 3, 5, 4},
		{descriptor.ScriptShWsh, 2, 3, 3},
		{descriptor.ScriptSh, 2, 3, 2},
		{descriptor.ScriptSh, 3, 15, 1},   // largest legacy redeem script (PUSHDATA2)
		{descriptor.ScriptWsh, 17, 20, 1}, // counts above 16 are pushes
	} {
		name := fmt.Sprintf("%s-%dof%d-%din", c.script, c.m, c.n, c.nIn)
		t.Run(name, func(t *testing.T) {
			tw := newTestWallet(t, c.script, c.m, c.n, true)
			var utxos []UTXO
			for i := 0; i < c.nIn; i++ {
				utxos = append(utxos, tw.utxo(t, 0, uint32(i), 1_000_000, i))
			}
			const rate = 7.3
			p, sum, err := Build(BuildRequest{
				Wallet: tw.info, UTXOs: utxos, Preselected: outpoints(utxos),
				Outputs: []Output{{Script: externalScript(9), Value: 500_000}},
				FeeRate: rate, ChangeBranch: 1, ChangeIndex: 0, LockTime: 100, Rand: seeded(1),
			})
			if err != nil {
				t.Fatal(err)
			}
			var scripts [][]byte
			for _, o := range p.UnsignedTx.TxOut {
				scripts = append(scripts, o.PkScript)
			}
			est, err := EstimateVSize(tw.info.Descriptor, c.nIn, scripts)
			if err != nil {
				t.Fatal(err)
			}
			if est != sum.VSize {
				t.Fatalf("EstimateVSize %d, Build's estimate %d", est, sum.VSize)
			}
			signers := make([]int, c.m)
			for k := range signers {
				signers[k] = k
			}
			tw.sign(t, p, signers...)
			tx, err := Finalize(p, tw.info)
			if err != nil {
				t.Fatal(err)
			}
			actual := actualVSize(tx)
			// A signature is at most 72 bytes with its sighash byte, so the
			// estimate (73) is over by 1 to 3 bytes per signature.
			slack := int64(c.nIn * c.m * 3)
			if c.script != descriptor.ScriptSh {
				slack = (slack+3)/4 + 1
			}
			if est < actual || est-actual > slack {
				t.Fatalf("estimate %d vB, signed transaction %d vB (allowed slack %d)", est, actual, slack)
			}
			paid := float64(sum.Fee) / float64(actual)
			if paid < rate {
				t.Fatalf("paid %.3f sat/vB, asked %.3f", paid, rate)
			}
			t.Logf("estimate %d vB, actual %d vB, paid %.3f sat/vB", est, actual, paid)
		})
	}
}

func outpoints(us []UTXO) []wire.OutPoint {
	var out []wire.OutPoint
	for _, u := range us {
		out = append(out, u.OutPoint)
	}
	return out
}

func TestBranchAndBoundFindsExactMatch(t *testing.T) {
	// Unit level: effective values 1..9 (x1000); a target of 12,000 with a
	// small cost of change has exact answers, and BnB must return one.
	var pool []coin
	for v := int64(1); v <= 9; v++ {
		pool = append(pool, coin{utxo: int(v), value: v*1000 + 100, fee: 100, longTermFee: 100, effective: v * 1000})
	}
	got := selectBnB(pool, 12000, 50)
	var total int64
	for _, c := range got {
		total += c.effective
	}
	if got == nil || total != 12000 {
		t.Fatalf("BnB returned %v (sum %d), want an exact 12000", got, total)
	}
	// No subset lands in [100500, 100550]: BnB gives up.
	if got := selectBnB(pool, 100500, 50); got != nil {
		t.Fatalf("BnB returned %v for an unreachable target", got)
	}

	// Build level: two coins that exactly pay for the payment and the fee
	// are chosen among larger ones, without change.
	tw := newTestWallet(t, descriptor.ScriptWsh, 2, 3, true)
	utxos := []UTXO{
		tw.utxo(t, 0, 0, 3_000_000, 1),
		tw.utxo(t, 0, 1, 1_234_567, 2),
		tw.utxo(t, 0, 2, 5_000_000, 3),
		tw.utxo(t, 0, 3, 765_433, 4),
		tw.utxo(t, 0, 4, 7_000_000, 5),
	}
	dest := externalScript(7)
	vsize, err := EstimateVSize(tw.info.Descriptor, 2, [][]byte{dest})
	if err != nil {
		t.Fatal(err)
	}
	const rate = 10
	amount := 1_234_567 + 765_433 - rate*vsize - 50 // 50 sat of excess goes to the fee
	p, sum, err := Build(BuildRequest{
		Wallet: tw.info, UTXOs: utxos, Outputs: []Output{{Script: dest, Value: amount}},
		FeeRate: rate, ChangeBranch: 1, ChangeIndex: 0, Rand: seeded(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Algorithm != "bnb" || sum.ChangeUsed || len(p.UnsignedTx.TxOut) != 1 {
		t.Fatalf("algorithm %q, change %v, %d outputs; want a changeless bnb selection", sum.Algorithm, sum.ChangeUsed, len(p.UnsignedTx.TxOut))
	}
	if got := sum.TotalIn; got != 2_000_000 {
		t.Fatalf("selected %d sat, want the two coins adding to 2,000,000", got)
	}
	if sum.FeeRate < rate {
		t.Fatalf("fee rate %.2f below %d", sum.FeeRate, rate)
	}
}

func TestChangeDroppedBelowDust(t *testing.T) {
	tw := newTestWallet(t, descriptor.ScriptWsh, 2, 3, true)
	u := tw.utxo(t, 0, 0, 100_000, 1)
	dest := externalScript(3)
	change := tw.derive(t, 1, 7)
	const rate = 2
	withChange, err := EstimateVSize(tw.info.Descriptor, 1, [][]byte{dest, change.ScriptPubKey})
	if err != nil {
		t.Fatal(err)
	}
	dust := DustThreshold(change.ScriptPubKey)
	if dust != 330 {
		t.Fatalf("P2WSH change dust threshold %d, want 330", dust)
	}
	base := BuildRequest{Wallet: tw.info, UTXOs: []UTXO{u}, FeeRate: rate, ChangeBranch: 1, ChangeIndex: 7, Rand: seeded(3)}

	// A remainder of dust-1 after paying for the change output: dropped.
	req := base
	req.Outputs = []Output{{Script: dest, Value: 100_000 - rate*withChange - (dust - 1)}}
	p, sum, err := Build(req)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ChangeUsed || len(p.UnsignedTx.TxOut) != 1 || sum.DroppedChange <= 0 || sum.ChangeOutput != -1 {
		t.Fatalf("change used %v, outputs %d, dropped %d; want the dust change dropped", sum.ChangeUsed, len(p.UnsignedTx.TxOut), sum.DroppedChange)
	}
	if sum.Fee != 100_000-req.Outputs[0].Value {
		t.Fatalf("fee %d: the dropped change must go to the fee", sum.Fee)
	}

	// A remainder well above the minimum viable change: a change output at
	// the position asked for, with its scripts and derivations.
	req = base
	req.Outputs = []Output{{Script: dest, Value: 50_000}}
	p, sum, err = Build(req)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.ChangeUsed || sum.ChangeValue != 100_000-50_000-rate*withChange {
		t.Fatalf("change used %v value %d, want %d", sum.ChangeUsed, sum.ChangeValue, 100_000-50_000-rate*withChange)
	}
	out := p.UnsignedTx.TxOut[sum.ChangeOutput]
	if !bytes.Equal(out.PkScript, change.ScriptPubKey) || sum.ChangeAddress != change.Address {
		t.Fatal("change does not pay to branch 1 index 7")
	}
	po := p.Outputs[sum.ChangeOutput]
	if !bytes.Equal(po.WitnessScript, change.WitnessScript) || len(po.Bip32Derivation) != 3 {
		t.Fatal("change output lacks its witness script or the cosigners' derivations")
	}
}

func TestRBFAndLockTime(t *testing.T) {
	tw := newTestWallet(t, descriptor.ScriptShWsh, 2, 3, true)
	utxos := []UTXO{tw.utxo(t, 0, 0, 200_000, 1), tw.utxo(t, 0, 1, 300_000, 2)}
	req := BuildRequest{
		Wallet: tw.info, UTXOs: utxos, Outputs: []Output{{Script: externalScript(4), Value: 400_000}},
		FeeRate: 3, ChangeBranch: 1, LockTime: 812_345, Rand: seeded(4),
	}
	p, _, err := Build(req)
	if err != nil {
		t.Fatal(err)
	}
	if p.UnsignedTx.LockTime != 812_345 || p.UnsignedTx.Version != 2 {
		t.Fatalf("locktime %d version %d", p.UnsignedTx.LockTime, p.UnsignedTx.Version)
	}
	for _, in := range p.UnsignedTx.TxIn {
		if in.Sequence != 0xfffffffd {
			t.Fatalf("sequence %#x, want 0xfffffffd (RBF)", in.Sequence)
		}
	}
	r, err := Inspect(p, tw.info)
	if err != nil || !r.RBF {
		t.Fatalf("Inspect: rbf %v err %v", r != nil && r.RBF, err)
	}
	req.DisableRBF = true
	p, _, err = Build(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range p.UnsignedTx.TxIn {
		if in.Sequence != 0xfffffffe {
			t.Fatalf("sequence %#x, want 0xfffffffe (no RBF, lock time still enforced)", in.Sequence)
		}
	}
}

func TestBuildRefusals(t *testing.T) {
	tw := newTestWallet(t, descriptor.ScriptWsh, 2, 3, true)
	utxos := []UTXO{tw.utxo(t, 0, 0, 1_000_000, 1), tw.utxo(t, 0, 1, 2_000_000, 2)}
	base := BuildRequest{Wallet: tw.info, UTXOs: utxos, FeeRate: 5, ChangeBranch: 1, Rand: seeded(5),
		Outputs: []Output{{Script: externalScript(5), Value: 500_000}}}

	check := func(name string, mod func(*BuildRequest), want error, contains string) {
		t.Helper()
		req := base
		req.Outputs = append([]Output(nil), base.Outputs...)
		mod(&req)
		_, _, err := Build(req)
		if !errors.Is(err, want) || !strings.Contains(err.Error(), contains) {
			t.Errorf("%s: err = %v, want %v containing %q", name, err, want, contains)
		}
	}
	check("fee rate above 1000 sat/vB", func(r *BuildRequest) { r.FeeRate = 1500 }, ErrRefused, "1000 sat/vB")
	check("fee above 5% of the amount", func(r *BuildRequest) { r.Outputs[0].Value = 20_000; r.FeeRate = 100 }, ErrRefused, "5%")
	check("output below dust", func(r *BuildRequest) { r.Outputs[0].Value = 293 }, ErrRefused, "dust")
	check("insufficient funds", func(r *BuildRequest) { r.Outputs[0].Value = 2_999_000 }, ErrInsufficientFunds, "3000000 sat")
	check("fee rate below relay", func(r *BuildRequest) { r.FeeRate = 0.5 }, ErrMalformed, "minimum relay")
	check("wrong network address", func(r *BuildRequest) {
		r.Outputs[0] = Output{Address: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", Value: 10_000}
	}, ErrMalformed, "regtest")
	check("unknown preselected coin", func(r *BuildRequest) { r.Preselected = []wire.OutPoint{{Index: 9}} }, ErrMalformed, "not among")
	check("send-all with an amount", func(r *BuildRequest) { r.SendAll = true }, ErrMalformed, "leave it 0")

	// Insufficient funds is a plain failure, not a safety refusal.
	req := base
	req.Outputs = []Output{{Script: externalScript(5), Value: 5_000_000}}
	if _, _, err := Build(req); errors.Is(err, ErrRefused) {
		t.Error("insufficient funds must not be ErrRefused")
	}

	// The explicit override lets the high fee through.
	req = base
	req.FeeRate, req.AllowHighFee = 1500, true
	if _, sum, err := Build(req); err != nil || sum.FeeRate < 1500 {
		t.Errorf("AllowHighFee: err %v", err)
	}

	// A coin whose previous transaction is not what it claims is refused.
	bad := tw.utxo(t, 0, 2, 1_000_000, 3)
	bad.PrevTx.LockTime = 1 // the txid no longer matches the outpoint
	req = base
	req.UTXOs, req.Preselected = []UTXO{bad}, []wire.OutPoint{bad.OutPoint}
	if _, _, err := Build(req); !errors.Is(err, ErrRefused) {
		t.Errorf("coin with a forged previous transaction: err %v", err)
	}
	// A coin recorded at the wrong position does not derive: refused.
	wrong := tw.utxo(t, 0, 3, 1_000_000, 4)
	wrong.Index = 4
	req.UTXOs, req.Preselected = []UTXO{wrong}, []wire.OutPoint{wrong.OutPoint}
	if _, _, err := Build(req); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "index 4") {
		t.Errorf("coin at the wrong position: err %v", err)
	}
}

func TestBuildUpdaterFields(t *testing.T) {
	for _, st := range []descriptor.ScriptType{descriptor.ScriptSh, descriptor.ScriptShWsh, descriptor.ScriptWsh} {
		tw := newTestWallet(t, st, 2, 3, false)
		u := tw.utxo(t, 0, 5, 1_000_000, 1)
		p, sum, err := Build(BuildRequest{Wallet: tw.info, UTXOs: []UTXO{u},
			Outputs: []Output{{Script: externalScript(1), Value: 100_000}}, FeeRate: 4, ChangeBranch: 1, ChangeIndex: 2, Rand: seeded(6)})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Unknowns) != 3 || p.Unknowns[0].Key[0] != globalXpub || len(p.Unknowns[0].Key) != 79 {
			t.Fatalf("%s: want 3 global xpubs, got %d records", st, len(p.Unknowns))
		}
		in := p.Inputs[0]
		d := tw.derive(t, 0, 5)
		if in.NonWitnessUtxo == nil || in.NonWitnessUtxo.TxHash() != u.OutPoint.Hash {
			t.Fatalf("%s: non_witness_utxo missing", st)
		}
		if (in.WitnessUtxo != nil) != (st != descriptor.ScriptSh) {
			t.Fatalf("%s: witness_utxo present=%v", st, in.WitnessUtxo != nil)
		}
		if !bytes.Equal(in.RedeemScript, d.RedeemScript) || !bytes.Equal(in.WitnessScript, d.WitnessScript) {
			t.Fatalf("%s: scripts differ from the derivation", st)
		}
		if len(in.Bip32Derivation) != 3 {
			t.Fatalf("%s: %d derivations, want one per cosigner", st, len(in.Bip32Derivation))
		}
		for _, der := range in.Bip32Derivation {
			if len(der.Bip32Path) != 6 || der.Bip32Path[4] != 0 || der.Bip32Path[5] != 5 {
				t.Fatalf("%s: derivation path %v, want m/48h/1h/0h/Sh/0/5", st, der.Bip32Path)
			}
		}
		if in.SighashType != 0 {
			t.Fatalf("%s: sighash type set; ALL is the default", st)
		}
		if err := CheckWallet(p, tw.info); err != nil {
			t.Fatalf("%s: CheckWallet refuses its own PSBT: %v", st, err)
		}
		// Decode(Encode) is the identity on what Build makes.
		s, err := Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := Decode([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		if s2, _ := Encode(q); s2 != s {
			t.Fatalf("%s: Encode(Decode(Encode(p))) differs", st)
		}
		_ = sum
	}
}

func TestSendAllAndPreselection(t *testing.T) {
	tw := newTestWallet(t, descriptor.ScriptWsh, 2, 3, true)
	utxos := []UTXO{tw.utxo(t, 0, 0, 100_000, 1), tw.utxo(t, 0, 1, 200_000, 2), tw.utxo(t, 0, 2, 300_000, 3)}
	utxos[2].Confirmations = 0

	p, sum, err := Build(BuildRequest{Wallet: tw.info, UTXOs: utxos, SendAll: true,
		Outputs: []Output{{Script: externalScript(2)}}, FeeRate: 3, Rand: seeded(7)})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.UnsignedTx.TxIn) != 3 || len(p.UnsignedTx.TxOut) != 1 || sum.ChangeUsed {
		t.Fatalf("send-all: %d inputs %d outputs", len(p.UnsignedTx.TxIn), len(p.UnsignedTx.TxOut))
	}
	if got := p.UnsignedTx.TxOut[0].Value; got != 600_000-sum.Fee || sum.Algorithm != "send-all" {
		t.Fatalf("send-all pays %d, fee %d", got, sum.Fee)
	}

	// Coin control: exactly the coin chosen, though a better one exists.
	p, sum, err = Build(BuildRequest{Wallet: tw.info, UTXOs: utxos, Preselected: []wire.OutPoint{utxos[1].OutPoint},
		Outputs: []Output{{Script: externalScript(2), Value: 50_000}}, FeeRate: 3, ChangeBranch: 1, Rand: seeded(8)})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Inputs) != 1 || sum.Inputs[0] != utxos[1].OutPoint || sum.Algorithm != "preselected" {
		t.Fatalf("preselection: inputs %v algorithm %s", sum.Inputs, sum.Algorithm)
	}
	_ = p

	// Confirmed coins are used before unconfirmed ones.
	_, sum, err = Build(BuildRequest{Wallet: tw.info, UTXOs: utxos,
		Outputs: []Output{{Script: externalScript(2), Value: 250_000}}, FeeRate: 3, ChangeBranch: 1, Rand: seeded(9)})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range sum.Inputs {
		if op == utxos[2].OutPoint {
			t.Fatal("an unconfirmed coin was spent while confirmed ones sufficed")
		}
	}
}

func TestCoinSelectionDeterministic(t *testing.T) {
	tw := newTestWallet(t, descriptor.ScriptWsh, 2, 3, true)
	var utxos []UTXO
	for i := 0; i < 60; i++ {
		utxos = append(utxos, tw.utxo(t, 0, uint32(i), int64(10_000+i*7_919%50_000), i))
	}
	build := func(seed uint64) []wire.OutPoint {
		_, sum, err := Build(BuildRequest{Wallet: tw.info, UTXOs: utxos,
			Outputs: []Output{{Script: externalScript(2), Value: 333_333}}, FeeRate: 12, ChangeBranch: 1, Rand: seeded(seed)})
		if err != nil {
			t.Fatal(err)
		}
		return sum.Inputs
	}
	a, b := build(42), build(42)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("different selections for one seed: %v vs %v", a, b)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("different selections for one seed: %v vs %v", a, b)
		}
	}
}

// TestBuildFetchesOnlyChosenPrevTxs: coins may come without their previous
// transactions; Build asks PrevTxs for exactly the ones it chose, and a
// coin whose transaction is not returned is refused, not spent blind.
func TestBuildFetchesOnlyChosenPrevTxs(t *testing.T) {
	tw := newTestWallet(t, descriptor.ScriptWsh, 2, 3, true)
	var utxos []UTXO
	prev := map[chainhash.Hash]*wire.MsgTx{}
	for i := 0; i < 40; i++ {
		u := tw.utxo(t, 0, uint32(i), 100_000, i)
		prev[u.OutPoint.Hash] = u.PrevTx
		u.PrevTx = nil
		utxos = append(utxos, u)
	}
	var asked []chainhash.Hash
	req := BuildRequest{
		Wallet: tw.info, UTXOs: utxos, Outputs: []Output{{Script: externalScript(4), Value: 250_000}},
		FeeRate: 3, ChangeBranch: 1, Rand: seeded(9),
		PrevTxs: func(ids []chainhash.Hash) (map[chainhash.Hash]*wire.MsgTx, error) {
			asked = append(asked, ids...)
			out := map[chainhash.Hash]*wire.MsgTx{}
			for _, id := range ids {
				out[id] = prev[id]
			}
			return out, nil
		},
	}
	p, _, err := Build(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != len(p.UnsignedTx.TxIn) {
		t.Fatalf("asked for %d previous transactions, the PSBT has %d inputs", len(asked), len(p.UnsignedTx.TxIn))
	}
	for k, in := range p.UnsignedTx.TxIn {
		if asked[k] != in.PreviousOutPoint.Hash || p.Inputs[k].NonWitnessUtxo == nil {
			t.Fatalf("input %d: asked %s, spends %s, non_witness_utxo %v", k, asked[k], in.PreviousOutPoint.Hash, p.Inputs[k].NonWitnessUtxo != nil)
		}
	}
	req.PrevTxs = func([]chainhash.Hash) (map[chainhash.Hash]*wire.MsgTx, error) {
		return map[chainhash.Hash]*wire.MsgTx{}, nil
	}
	if _, _, err := Build(req); err == nil || !strings.Contains(err.Error(), "no previous transaction") {
		t.Fatalf("a coin whose transaction is missing: %v, want a refusal", err)
	}
}

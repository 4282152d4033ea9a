package psbt

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/descriptor"
)

// Sequence numbers. Both leave the lock time enforced, which is what makes
// the anti-fee-sniping lock time count.
const (
	// SequenceRBF signals BIP-125 replaceability (the default).
	SequenceRBF = wire.MaxTxInSequenceNum - 2 // 0xfffffffd
	// SequenceNoRBF is final for replacement but keeps the lock time.
	SequenceNoRBF = wire.MaxTxInSequenceNum - 1 // 0xfffffffe

	txVersion = 2 // BIP-68 relative lock times need version 2
)

// UTXO is a coin of the wallet that Build may spend.
type UTXO struct {
	OutPoint wire.OutPoint
	Value    int64
	// Branch and Index are the wallet position the coin was paid to; Build
	// re-derives the script there and refuses a coin that does not match.
	Branch, Index uint32
	// PrevTx is the whole transaction that created the coin. It is
	// required for every script type: segwit inputs carry it as
	// non_witness_utxo too, so that signers can prove the amounts. When
	// nil, BuildRequest.PrevTxs fetches it for the coins Build chooses.
	PrevTx        *wire.MsgTx
	Confirmations int32 // 0 for unconfirmed
}

// Output is a payment. Give Script, Address, or both (they must agree).
type Output struct {
	Script  []byte
	Value   int64
	Address string
}

// BuildRequest describes a spend from the wallet.
type BuildRequest struct {
	Wallet WalletInfo
	UTXOs  []UTXO // the wallet's spendable coins
	// PrevTxs returns the previous transactions of the chosen coins that
	// came without PrevTx, by txid (one missing from the map is refused
	// as a coin without its transaction). A wallet of 50,000 coins then
	// reads and decodes only the few transactions a spend needs.
	PrevTxs func(txids []chainhash.Hash) (map[chainhash.Hash]*wire.MsgTx, error)

	// Outputs are the payments, in the order they appear in the
	// transaction; the change output, if any, goes at a random position.
	Outputs []Output
	// SendAll sends everything selected, minus the fee and the other
	// outputs' amounts, to the one output in Outputs whose Value is 0 (a
	// sweep has only that output; a fee bump that may lower the send-all
	// payment keeps the others). No change is made.
	SendAll bool

	// Preselected are coins that must be spent (coin control). Without
	// AddInputs they are exactly the inputs; with it, coin selection adds
	// more from UTXOs if they do not cover the payments.
	Preselected []wire.OutPoint
	AddInputs   bool

	// FeeRate is the rate to pay, in sat/vB (at least 1).
	FeeRate float64
	// LongTermFeeRate is the rate the wallet expects to pay later, in
	// sat/vB, used to weigh spending more inputs now; 0 means 10 sat/vB
	// (Bitcoin Core's -consolidatefeerate).
	LongTermFeeRate float64
	// MinConfirmations excludes coins with fewer confirmations from
	// automatic selection. With 0, confirmed coins are tried first and
	// unconfirmed ones only if those do not suffice.
	MinConfirmations int32

	// ChangeBranch and ChangeIndex are where change goes: the caller's next
	// unused change position. The summary says whether it was used, so the
	// caller advances its counter only then.
	ChangeBranch, ChangeIndex uint32

	// LockTime is the transaction's nLockTime. Pass the chain tip height
	// to discourage fee sniping, as Bitcoin Core does.
	LockTime uint32
	// DisableRBF sets nSequence to 0xfffffffe instead of the BIP-125
	// replaceable 0xfffffffd.
	DisableRBF bool
	// Sequence, when not 0, is every input's nSequence instead: the
	// BIP-68 relative lock a miniscript path's older() needs (below
	// 0xfffffffe, so it also signals BIP-125 replaceability).
	Sequence uint32
	// AllowHighFee lets a fee rate above 1,000 sat/vB or a fee above 5% of
	// the amount sent through.
	AllowHighFee bool

	// Rand drives the random choices (single random draw, input order,
	// change position). nil uses a fresh cryptographically seeded source;
	// tests pass a seeded one to get a deterministic result.
	Rand *rand.Rand
}

// BuildSummary tells the caller what Build chose.
type BuildSummary struct {
	Inputs  []wire.OutPoint // in transaction order
	TotalIn int64
	Sent    int64 // sum of the payments (all outputs but change)
	Fee     int64
	VSize   int64   // estimated final virtual size (worst-case signatures)
	FeeRate float64 // Fee / VSize, sat/vB: never below the rate asked for

	// ChangeUsed reports whether a change output was added at
	// (ChangeBranch, ChangeIndex); advance the change counter only then.
	ChangeUsed    bool
	ChangeValue   int64
	ChangeOutput  int // index in the transaction's outputs; -1 without change
	ChangeAddress string
	// DroppedChange is the remainder that was too small for a change
	// output (below the minimum viable change) and went to the fee.
	DroppedChange int64

	// Algorithm is how the coins were chosen: "bnb" (branch-and-bound,
	// changeless), "srd" (single random draw), "largest-first",
	// "preselected" or "send-all".
	Algorithm string
	// Waste is the selection's waste in sats, Bitcoin Core's metric.
	Waste int64
}

// payment is an output resolved to its script.
type payment struct {
	script []byte
	value  int64
}

// Build is the Creator and Updater: it selects coins, creates the unsigned
// transaction (version 2, nLockTime = LockTime, nSequence 0xfffffffd or
// 0xfffffffe), and fills every record signers and the wallet need (global
// xpubs, non_witness_utxo and witness_utxo, redeem and witness scripts,
// every cosigner's BIP-32 derivations on inputs and change). The fee is
// FeeRate times the estimated final size with worst-case signatures.
//
// Invalid requests wrap ErrMalformed; an output below the dust threshold, a
// fee rate above 1,000 sat/vB or a fee above 5% of the amount sent (without
// AllowHighFee), and coins that do not derive from the wallet wrap
// ErrRefused; too little money wraps ErrInsufficientFunds.
func Build(req BuildRequest) (*bpsbt.Packet, *BuildSummary, error) {
	b, err := newBuilder(req)
	if err != nil {
		return nil, nil, err
	}
	sel, err := b.selectCoins()
	if err != nil {
		return nil, nil, err
	}
	return b.assemble(sel)
}

// builder holds a request's resolved values while Build runs.
type builder struct {
	req       BuildRequest
	d         *descriptor.Descriptor
	rate      int64 // sat/kvB
	longTerm  int64 // sat/kvB
	in        inputSize
	inVSize   int64
	payments  []payment
	sumOut    int64
	remainder int // with SendAll, the payment that takes what is left
	change    *descriptor.Derived
	sp        selectionParams
	rng       *rand.Rand
	byOutPt   map[wire.OutPoint]int
	preset    []int // indexes into req.UTXOs
	isPreset  map[int]bool
	eligibles [][]int // confirmation tiers tried in order
}

func newBuilder(req BuildRequest) (*builder, error) {
	w := req.Wallet
	if w.Descriptor == nil || w.Network == nil {
		return nil, badRequest("no wallet: the request needs the wallet's descriptor and network")
	}
	if err := w.Descriptor.CheckNetwork(w.Network); err != nil {
		return nil, badRequest("wallet descriptor: %v", err)
	}
	b := &builder{req: req, d: walletForm(w.Descriptor), rng: req.Rand}
	if b.rng == nil {
		var seed [32]byte
		if _, err := crand.Read(seed[:]); err != nil {
			return nil, fmt.Errorf("seeding coin selection: %w", err)
		}
		b.rng = rand.New(rand.NewChaCha8(seed))
	}

	var err error
	if b.rate, err = feeRateKvB(req.FeeRate); err != nil {
		return nil, err
	}
	if b.rate < minFeeRate {
		return nil, badRequest("fee rate %v sat/vB is below the 1 sat/vB minimum relay fee: nodes would not relay the transaction", req.FeeRate)
	}
	if b.rate > maxFeeRate && !req.AllowHighFee {
		return nil, fmt.Errorf("%w: fee rate %v sat/vB is above %d sat/vB; if this is really intended, allow a high fee explicitly", ErrRefused, req.FeeRate, maxFeeRate/1000)
	}
	b.longTerm = defaultLongTermFeeRate
	if req.LongTermFeeRate != 0 {
		if b.longTerm, err = feeRateKvB(req.LongTermFeeRate); err != nil {
			return nil, err
		}
	}
	if b.in, err = walletInputSize(b.d); err != nil {
		return nil, badRequest("wallet descriptor: %v", err)
	}
	b.inVSize = vsizeOf(int64(b.in.base)*witnessScale + int64(b.in.witness))

	if err := b.resolvePayments(); err != nil {
		return nil, err
	}
	if !req.SendAll {
		if b.change, err = b.d.Derive(req.ChangeBranch, req.ChangeIndex, w.Network); err != nil {
			return nil, badRequest("change position branch %d index %d: %v", req.ChangeBranch, req.ChangeIndex, err)
		}
	}
	if err := b.indexUTXOs(); err != nil {
		return nil, err
	}
	b.params()
	return b, nil
}

// resolvePayments turns outputs into scripts and checks their amounts.
func (b *builder) resolvePayments() error {
	req := b.req
	if len(req.Outputs) == 0 {
		return badRequest("no outputs: give at least one payment")
	}
	if req.SendAll {
		zero := 0
		for j, o := range req.Outputs {
			if o.Value == 0 {
				zero, b.remainder = zero+1, j
			}
		}
		if zero != 1 {
			return badRequest("with send-all exactly one output's amount is computed: leave it 0 (%d of %d outputs have no amount)", zero, len(req.Outputs))
		}
	}
	for j, o := range req.Outputs {
		script, err := outputScript(o, b.req.Wallet)
		if err != nil {
			return badRequest("output %d: %v", j, err)
		}
		switch {
		case req.SendAll && j == b.remainder:
		case o.Value < 0 || o.Value > btcutil.MaxSatoshi:
			return badRequest("output %d: amount %d sat is outside 0..21e14", j, o.Value)
		case o.Value < DustThreshold(script):
			return fmt.Errorf("%w: output %d: %d sat is below the dust threshold of %d sat for this script type; nodes would not relay the transaction — send at least %d sat",
				ErrRefused, j, o.Value, DustThreshold(script), DustThreshold(script))
		}
		b.payments = append(b.payments, payment{script: script, value: o.Value})
		b.sumOut += o.Value
		if b.sumOut > btcutil.MaxSatoshi {
			return badRequest("outputs add up to more than 21 million BTC")
		}
	}
	return nil
}

// outputScript resolves an Output to its scriptPubKey.
func outputScript(o Output, w WalletInfo) ([]byte, error) {
	if o.Address == "" {
		if len(o.Script) == 0 {
			return nil, errors.New("neither an address nor a script")
		}
		if len(o.Script) > txscript.MaxScriptSize {
			return nil, fmt.Errorf("script of %d bytes is larger than the %d-byte limit", len(o.Script), txscript.MaxScriptSize)
		}
		return bytes.Clone(o.Script), nil
	}
	addr, err := btcutil.DecodeAddress(o.Address, w.Network)
	if err != nil {
		return nil, fmt.Errorf("address %q: %v", o.Address, err)
	}
	if !addr.IsForNet(w.Network) {
		return nil, fmt.Errorf("address %q is not a %s address", o.Address, descriptor.NetworkName(w.Network))
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %v", o.Address, err)
	}
	if len(o.Script) > 0 && !bytes.Equal(o.Script, script) {
		return nil, fmt.Errorf("script %x does not match address %q", o.Script, o.Address)
	}
	return script, nil
}

// indexUTXOs checks the coin list and sorts it into preselected coins and
// confirmation tiers.
func (b *builder) indexUTXOs() error {
	req := b.req
	b.byOutPt = make(map[wire.OutPoint]int, len(req.UTXOs))
	for i, u := range req.UTXOs {
		if _, dup := b.byOutPt[u.OutPoint]; dup {
			return badRequest("UTXO %s is listed twice", u.OutPoint)
		}
		if u.Value <= 0 || u.Value > btcutil.MaxSatoshi {
			return badRequest("UTXO %s has amount %d sat", u.OutPoint, u.Value)
		}
		b.byOutPt[u.OutPoint] = i
	}
	b.isPreset = make(map[int]bool, len(req.Preselected))
	for _, op := range req.Preselected {
		i, ok := b.byOutPt[op]
		if !ok {
			return badRequest("preselected coin %s is not among the wallet's spendable UTXOs", op)
		}
		if b.isPreset[i] {
			return badRequest("preselected coin %s is listed twice", op)
		}
		b.isPreset[i] = true
		b.preset = append(b.preset, i)
	}
	tiers := []int32{req.MinConfirmations}
	if req.MinConfirmations <= 0 {
		tiers = []int32{1, 0}
	}
	for _, minConf := range tiers {
		var tier []int
		for i, u := range req.UTXOs {
			if !b.isPreset[i] && u.Confirmations >= minConf {
				tier = append(tier, i)
			}
		}
		b.eligibles = append(b.eligibles, tier)
	}
	return nil
}

// params computes the selection target and the costs of change.
func (b *builder) params() {
	outBytes := 0
	for _, p := range b.payments {
		outBytes += outputSize(p.script)
	}
	// Everything but the inputs: version, lock time, the counts (the input
	// count sized for the whole pool, an upper bound), outputs, and the
	// segwit marker when the wallet is segwit.
	fixed := int64(txVersionLockTimeSize+compactSizeLen(len(b.req.UTXOs))+compactSizeLen(len(b.payments)+1)+outBytes) * witnessScale
	if b.in.witness > 0 {
		fixed += segwitMarkerFlagSize
	}
	b.sp.target = b.sumOut + feeAt(b.rate, vsizeOf(fixed))
	if b.change != nil {
		b.sp.changeFee = feeAt(b.rate, int64(outputSize(b.change.ScriptPubKey)))
		spendLater := feeAt(discardFeeRate, b.inVSize)
		b.sp.costOfChange = b.sp.changeFee + spendLater
		b.sp.minViableChange = max(DustThreshold(b.change.ScriptPubKey), spendLater+1)
	}
}

// coin returns UTXO i as coin selection sees it.
func (b *builder) coin(i int) coin {
	u := b.req.UTXOs[i]
	fee := feeAt(b.rate, b.inVSize)
	return coin{utxo: i, value: u.Value, fee: fee, longTermFee: feeAt(b.longTerm, b.inVSize), effective: u.Value - fee}
}

func (b *builder) coins(idx []int) []coin {
	out := make([]coin, len(idx))
	for k, i := range idx {
		out[k] = b.coin(i)
	}
	return out
}

// selectCoins decides which coins to spend.
func (b *builder) selectCoins() (*selection, error) {
	preset := b.coins(b.preset)
	all := b.coins(b.eligibles[len(b.eligibles)-1])
	switch {
	case b.req.SendAll:
		cs := preset
		if len(cs) == 0 {
			cs = all
		}
		if len(cs) == 0 {
			return nil, b.insufficient(cs)
		}
		return &selection{coins: cs, algorithm: "send-all"}, nil
	case len(preset) > 0 && !b.req.AddInputs:
		s := b.sp.finish(preset, "preselected")
		if s.effective < b.sp.target {
			return nil, b.insufficient(preset)
		}
		return s, nil
	}

	// Coins that must go in count towards the target first.
	sp := b.sp
	for _, c := range preset {
		sp.target -= c.effective
	}
	if len(preset) > 0 && sp.target <= 0 {
		return b.sp.finish(preset, "preselected"), nil
	}
	for _, tier := range b.eligibles {
		if s := chooseSelection(b.coins(tier), sp, b.rng); s != nil {
			return b.sp.finish(slices.Concat(preset, s.coins), s.algorithm), nil
		}
	}
	return nil, b.insufficient(slices.Concat(preset, all))
}

// insufficient explains what the coins considered hold and what is needed.
func (b *builder) insufficient(pool []coin) error {
	var value, effective int64
	for _, c := range pool {
		value += c.value
		effective += c.effective
	}
	return fmt.Errorf("%w: %d spendable coins hold %d sat (%d sat after the %v sat/vB fee to spend them), but the payments need %d sat plus %d sat of fee for the rest of the transaction",
		ErrInsufficientFunds, len(pool), value, effective, float64(b.rate)/1000, b.sumOut, b.sp.target-b.sumOut)
}

// assemble creates the transaction from a selection, decides the change,
// checks the fee, and runs the updater.
func (b *builder) assemble(sel *selection) (*bpsbt.Packet, *BuildSummary, error) {
	req := b.req
	coins := sel.coins
	b.rng.Shuffle(len(coins), func(i, j int) { coins[i], coins[j] = coins[j], coins[i] })

	sizes := make([]inputSize, len(coins))
	var sumIn int64
	for k, c := range coins {
		sizes[k] = b.in
		sumIn += c.value
	}
	outBytes := 0
	for _, p := range b.payments {
		outBytes += outputSize(p.script)
	}
	vsize := vsizeOf(txWeight(sizes, outBytes, len(b.payments)))
	fee := feeAt(b.rate, vsize)

	payments := append([]payment(nil), b.payments...)
	sum := &BuildSummary{ChangeOutput: -1, Algorithm: sel.algorithm, Waste: sel.waste, TotalIn: sumIn}
	switch {
	case req.SendAll:
		rest := &payments[b.remainder]
		rest.value = sumIn - fee - b.sumOut
		if dust := DustThreshold(rest.script); rest.value < dust {
			return nil, nil, fmt.Errorf("%w: after the %d sat fee, %d sat would be left to send, below the %d sat dust threshold",
				ErrInsufficientFunds, fee+b.sumOut, rest.value, dust)
		}
	case sumIn-b.sumOut < fee:
		return nil, nil, b.insufficient(coins)
	default:
		withChange := vsizeOf(txWeight(sizes, outBytes+outputSize(b.change.ScriptPubKey), len(b.payments)+1))
		changeValue := sumIn - b.sumOut - feeAt(b.rate, withChange)
		if changeValue >= b.sp.minViableChange {
			pos := b.rng.IntN(len(payments) + 1)
			payments = append(payments[:pos], append([]payment{{script: b.change.ScriptPubKey, value: changeValue}}, payments[pos:]...)...)
			sum.ChangeUsed, sum.ChangeValue, sum.ChangeOutput = true, changeValue, pos
			sum.ChangeAddress = b.change.Address
			vsize, fee = withChange, sumIn-b.sumOut-changeValue
		} else {
			sum.DroppedChange = sumIn - b.sumOut - fee
			fee = sumIn - b.sumOut
		}
	}

	seq := uint32(SequenceRBF)
	switch {
	case req.Sequence != 0:
		seq = req.Sequence
	case req.DisableRBF:
		seq = SequenceNoRBF
	}
	for _, c := range coins {
		sum.Inputs = append(sum.Inputs, req.UTXOs[c.utxo].OutPoint)
	}
	outs := make([]*wire.TxOut, len(payments))
	for k, p := range payments {
		outs[k] = wire.NewTxOut(p.value, p.script)
	}
	p, err := createPacket(txVersion, req.LockTime, sum.Inputs, seq, outs)
	if err != nil {
		return nil, nil, err
	}
	if w := txWeight(sizes, totalOutputBytes(p.UnsignedTx), len(outs)); w > maxStandardTxWeight {
		return nil, nil, fmt.Errorf("%w: the transaction would weigh %d WU with %d inputs, above the %d WU standard limit; spend fewer coins (consolidate first) or send less",
			ErrRefused, w, len(coins), maxStandardTxWeight)
	}

	sum.Fee, sum.VSize = fee, vsize
	sum.FeeRate = float64(fee) / float64(vsize)
	sum.Sent = sumIn - fee - sum.ChangeValue
	if err := checkFee(fee, vsize, sum.Sent, req.AllowHighFee); err != nil {
		return nil, nil, err
	}

	if err := b.update(p, coins, sum); err != nil {
		return nil, nil, err
	}
	return p, sum, nil
}

// createPacket is the Creator proper: an unsigned transaction spending ins
// (all with one sequence number) to outs, in a PSBT with empty maps.
func createPacket(version int32, lockTime uint32, ins []wire.OutPoint, sequence uint32, outs []*wire.TxOut) (*bpsbt.Packet, error) {
	tx := wire.NewMsgTx(version)
	tx.LockTime = lockTime
	for _, op := range ins {
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: op, Sequence: sequence})
	}
	for _, o := range outs {
		tx.AddTxOut(o)
	}
	p, err := bpsbt.NewFromUnsignedTx(tx)
	if err != nil {
		return nil, badRequest("creating the PSBT: %v", err)
	}
	return p, nil
}

func totalOutputBytes(tx *wire.MsgTx) int {
	n := 0
	for _, o := range tx.TxOut {
		n += outputSize(o.PkScript)
	}
	return n
}

// checkFee refuses absurd fees: a rate above 1,000 sat/vB, or a fee above
// 5% of the amount sent, unless allowed.
func checkFee(fee, vsize, sent int64, allow bool) error {
	if allow {
		return nil
	}
	if vsize > 0 && fee*1000 > maxFeeRate*vsize {
		return fmt.Errorf("%w: the fee of %d sat is %.1f sat/vB, above the %d sat/vB limit; if this is really intended, allow a high fee explicitly",
			ErrRefused, fee, float64(fee)/float64(vsize), maxFeeRate/1000)
	}
	// Without a payment (an OP_RETURN of 0 sat, everything else to change)
	// there is no amount to compare with; the rate check still applies.
	if sent > 0 && fee*100 > sent*maxFeeShare {
		return fmt.Errorf("%w: the fee of %d sat is more than %d%% of the %d sat sent; if this is really intended, allow a high fee explicitly",
			ErrRefused, fee, maxFeeShare, sent)
	}
	return nil
}

package bitbox02

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
)

// The signing session of bitcoin/signtx.rs (_process), run as a goroutine
// that hands each BTCSignNextResponse to the host and waits for the next
// request, as the firmware's next_request does.

// signSession carries requests from the API to the signing goroutine and
// its responses back.
type signSession struct {
	reqs   chan sessionRequest
	resps  chan sessionReply
	cancel context.CancelFunc
	done   chan struct{}
	opCtx  context.Context // the current request's context: confirmations wait on it
}

type sessionRequest struct {
	m   pmsg
	ctx context.Context
}

type sessionReply struct {
	rsp []byte
	end bool
}

// endSessionLocked stops a signing session; e.mu is held.
func (e *Emulator) endSessionLocked() {
	if e.session != nil {
		e.session.cancel()
		e.session = nil
	}
}

func (e *Emulator) startSession(ctx context.Context, init pmsg) []byte {
	sctx, cancel := context.WithCancel(context.Background())
	s := &signSession{reqs: make(chan sessionRequest), resps: make(chan sessionReply, 1), cancel: cancel, done: make(chan struct{}), opCtx: ctx}
	e.mu.Lock()
	e.endSessionLocked()
	e.session = s
	e.stats.SignSessions++
	e.mu.Unlock()
	go func() {
		defer close(s.done)
		rsp, err := e.signTx(sctx, s, init)
		if err != nil {
			rsp = errorResponse(err)
		}
		select {
		case s.resps <- sessionReply{rsp: rsp, end: true}:
		case <-sctx.Done():
		}
	}()
	return e.await(ctx, s)
}

// await waits for the session's next response.
func (e *Emulator) await(ctx context.Context, s *signSession) []byte {
	select {
	case r := <-s.resps:
		if r.end {
			e.mu.Lock()
			if e.session == s {
				e.session = nil
			}
			e.mu.Unlock()
			s.cancel()
		}
		return r.rsp
	case <-ctx.Done():
		e.mu.Lock()
		if e.session == s {
			e.endSessionLocked()
		}
		e.mu.Unlock()
		return errorResponse(errUserAbort)
	}
}

// sessionRequest hands a request to the running session.
func (e *Emulator) sessionRequest(ctx context.Context, s *signSession, m pmsg) []byte {
	select {
	case s.reqs <- sessionRequest{m: m, ctx: ctx}:
		return e.await(ctx, s)
	case <-s.done:
		e.mu.Lock()
		if e.session == s {
			e.session = nil
		}
		e.mu.Unlock()
		return errorResponse(errInvalidState)
	case <-ctx.Done():
		return errorResponse(errUserAbort)
	}
}

// signer is one run of signTx: the pending BTCSignNextResponse extras and
// whether the next response is wrapped in BTCResponse (signtx.rs
// NextResponse.wrap: it follows the kind of the request answered).
type signer struct {
	e      *Emulator
	s      *signSession
	ctx    context.Context
	wrap   bool
	hasSig bool
	sig    []byte
	// commitment is the anti-klepto signer commitment sent with the
	// HOST_NONCE request (BTCSignNextResponse.anti_klepto_signer_commitment).
	commitment []byte
}

// Next types (btc.proto BTCSignNextResponse.Type).
const (
	nextInput        = 0
	nextOutput       = 1
	nextDone         = 2
	nextPrevTxInit   = 3
	nextPrevTxInput  = 4
	nextPrevTxOutput = 5
	nextHostNonce    = 6
)

func (g *signer) response(typ, index, prevIndex uint32) []byte {
	body := pbuf(nil).varint(1, uint64(typ)).varint(2, uint64(index)).flag(3, g.hasSig).opt(4, g.sig).varint(5, uint64(prevIndex))
	if g.commitment != nil {
		body = body.field(6, pbuf(nil).field(1, g.commitment))
	}
	g.hasSig, g.sig, g.commitment = false, nil, nil
	if g.wrap {
		return pbuf(nil).field(rspBTC, pbuf(nil).field(3, body))
	}
	return pbuf(nil).field(rspBTCSignNext, body)
}

// ask sends the response asking for an item and returns the host's next
// request.
func (g *signer) ask(typ, index, prevIndex uint32) (pmsg, error) {
	rsp := g.response(typ, index, prevIndex)
	select {
	case g.s.resps <- sessionReply{rsp: rsp}:
	case <-g.ctx.Done():
		return nil, g.ctx.Err()
	}
	select {
	case r := <-g.s.reqs:
		g.s.opCtx = r.ctx
		return r.m, nil
	case <-g.ctx.Done():
		return nil, g.ctx.Err()
	}
}

// confirm asks the user, waiting on the current request's context.
func (g *signer) confirm(sc Screen) error {
	if !g.e.confirm(g.s.opCtx, sc) {
		return errUserAbort
	}
	return nil
}

// signInput is BTCSignInputRequest.
type signInput struct {
	prevHash  []byte
	prevIndex uint32
	value     uint64
	sequence  uint32
	keypath   []uint32
	scIndex   uint32
	// hostCommitment is the anti-klepto host nonce commitment, nil when
	// the host does not take part (field 8, checked when signing).
	hostCommitment []byte
}

func parseSignInput(m pmsg) (*signInput, error) {
	var in signInput
	var err error
	if in.prevHash, err = m.bytes(1); err != nil {
		return nil, err
	}
	if in.prevIndex, err = m.u32(2); err != nil {
		return nil, err
	}
	if in.value, err = m.uint(3); err != nil {
		return nil, err
	}
	if in.sequence, err = m.u32(4); err != nil {
		return nil, err
	}
	if in.keypath, err = m.u32s(6); err != nil {
		return nil, err
	}
	if in.scIndex, err = m.u32(7); err != nil {
		return nil, err
	}
	if c, ok, err := m.sub(8); err != nil {
		return nil, err
	} else if ok {
		if in.hostCommitment, err = c.bytes(1); err != nil {
			return nil, err
		}
		if in.hostCommitment == nil {
			in.hostCommitment = []byte{}
		}
	}
	if len(in.prevHash) != 32 {
		return nil, errInvalidInput
	}
	return &in, nil
}

// signOutput is BTCSignOutputRequest.
type signOutput struct {
	ours    bool
	typ     uint64
	value   uint64
	payload []byte
	keypath []uint32
	scIndex uint32
}

func parseSignOutput(m pmsg) (*signOutput, error) {
	var o signOutput
	var err error
	if o.ours, err = m.flag(1); err != nil {
		return nil, err
	}
	if o.typ, err = m.uint(2); err != nil {
		return nil, err
	}
	if o.value, err = m.uint(3); err != nil {
		return nil, err
	}
	if o.payload, err = m.bytes(4); err != nil {
		return nil, err
	}
	if o.keypath, err = m.u32s(5); err != nil {
		return nil, err
	}
	if o.scIndex, err = m.u32(6); err != nil {
		return nil, err
	}
	if m.has(7) || m.has(8) || m.has(9) {
		// Payment requests, silent payments, other accounts: not emulated.
		return nil, errInvalidInput
	}
	return &o, nil
}

func (g *signer) input(i uint32) (*signInput, error) {
	m, err := g.ask(nextInput, i, 0)
	if err != nil {
		return nil, err
	}
	if m.oneof() != 10 {
		return nil, errInvalidState
	}
	g.wrap = false
	r, _, err := m.sub(10)
	if err != nil {
		return nil, err
	}
	return parseSignInput(r)
}

func (g *signer) outputReq(i uint32) (*signOutput, error) {
	m, err := g.ask(nextOutput, i, 0)
	if err != nil {
		return nil, err
	}
	if m.oneof() != 11 {
		return nil, errInvalidState
	}
	g.wrap = false
	r, _, err := m.sub(11)
	if err != nil {
		return nil, err
	}
	return parseSignOutput(r)
}

// btc asks for a BTCRequest member (prevtx init/input/output).
func (g *signer) btc(typ, index, prevIndex uint32, member int) (pmsg, error) {
	m, err := g.ask(typ, index, prevIndex)
	if err != nil {
		return nil, err
	}
	if m.oneof() != 25 {
		return nil, errInvalidState
	}
	b, _, err := m.sub(25)
	if err != nil {
		return nil, err
	}
	if b.oneof() != member {
		return nil, errInvalidState
	}
	g.wrap = true
	r, _, err := b.sub(member)
	return r, err
}

// compactSize appends Bitcoin's variable-length integer.
func compactSize(b []byte, n uint64) []byte {
	switch {
	case n < 0xfd:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(n))
	case n <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(n))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xff), n)
}

func dsha(b []byte) []byte {
	h := sha256.Sum256(b)
	h = sha256.Sum256(h[:])
	return h[:]
}

// prevTx is signtx.rs handle_prevtx: stream the previous transaction of
// input i, hash it, and check the spent output.
func (g *signer) prevTx(i uint32, in *signInput, expectScript []byte) error {
	init, err := g.btc(nextPrevTxInit, i, 0, 3)
	if err != nil {
		return err
	}
	version, err := init.u32(1)
	if err != nil {
		return err
	}
	nIn, err := init.u32(2)
	if err != nil {
		return err
	}
	nOut, err := init.u32(3)
	if err != nil {
		return err
	}
	locktime, err := init.u32(4)
	if err != nil {
		return err
	}
	if nIn < 1 || nOut < 1 || in.prevIndex >= nOut {
		return errInvalidInput
	}
	ser := binary.LittleEndian.AppendUint32(nil, version)
	ser = compactSize(ser, uint64(nIn))
	for j := uint32(0); j < nIn; j++ {
		m, err := g.btc(nextPrevTxInput, i, j, 4)
		if err != nil {
			return err
		}
		h, err := m.bytes(1)
		if err != nil {
			return err
		}
		idx, err := m.u32(2)
		if err != nil {
			return err
		}
		sig, err := m.bytes(3)
		if err != nil {
			return err
		}
		seq, err := m.u32(4)
		if err != nil {
			return err
		}
		ser = append(ser, h...)
		ser = binary.LittleEndian.AppendUint32(ser, idx)
		ser = compactSize(ser, uint64(len(sig)))
		ser = append(ser, sig...)
		ser = binary.LittleEndian.AppendUint32(ser, seq)
	}
	ser = compactSize(ser, uint64(nOut))
	for j := uint32(0); j < nOut; j++ {
		m, err := g.btc(nextPrevTxOutput, i, j, 5)
		if err != nil {
			return err
		}
		value, err := m.uint(1)
		if err != nil {
			return err
		}
		script, err := m.bytes(2)
		if err != nil {
			return err
		}
		if j == in.prevIndex && (value != in.value || !bytes.Equal(script, expectScript)) {
			return errInvalidInput
		}
		ser = binary.LittleEndian.AppendUint64(ser, value)
		ser = compactSize(ser, uint64(len(script)))
		ser = append(ser, script...)
	}
	ser = binary.LittleEndian.AppendUint32(ser, locktime)
	if !bytes.Equal(dsha(ser), in.prevHash) {
		return errInvalidInput
	}
	g.e.mu.Lock()
	g.e.stats.PrevTxStreamed++
	g.e.mu.Unlock()
	return nil
}

// validateKeypath is signtx.rs validate_keypath for multisig and policy
// configs: the account path, then two elements; receive addresses (own
// outputs) at index 9999 at most.
func validateKeypath(account, keypath []uint32, receive bool) error {
	if len(keypath) < 2 || len(keypath) != len(account)+2 || len(account) == 0 || !prefix(keypath, account) {
		return errInvalidInput
	}
	if receive && keypath[len(keypath)-1] > 9999 {
		return errInvalidInput
	}
	return nil
}

// externalScript rebuilds an outside output's script from its type and
// payload (bitcoin/common.rs Payload::pk_script) and its address for the
// screen.
func externalScript(o *signOutput, cp *coinParams) ([]byte, string, error) {
	p := o.payload
	var script []byte
	var addr btcutil.Address
	var err error
	switch o.typ {
	case 1: // P2PKH
		if len(p) != 20 {
			return nil, "", errInvalidInput
		}
		script = append(append([]byte{0x76, 0xa9, 0x14}, p...), 0x88, 0xac)
		addr, err = btcutil.NewAddressPubKeyHash(p, cp.net)
	case 2: // P2SH
		if len(p) != 20 {
			return nil, "", errInvalidInput
		}
		script = append(append([]byte{0xa9, 0x14}, p...), 0x87)
		addr, err = btcutil.NewAddressScriptHashFromHash(p, cp.net)
	case 3: // P2WPKH
		if len(p) != 20 {
			return nil, "", errInvalidInput
		}
		script = append([]byte{0x00, 0x14}, p...)
		addr, err = btcutil.NewAddressWitnessPubKeyHash(p, cp.net)
	case 4: // P2WSH
		if len(p) != 32 {
			return nil, "", errInvalidInput
		}
		script = append([]byte{0x00, 0x20}, p...)
		addr, err = btcutil.NewAddressWitnessScriptHash(p, cp.net)
	case 5: // P2TR
		if len(p) != 32 {
			return nil, "", errInvalidInput
		}
		script = append([]byte{0x51, 0x20}, p...)
		addr, err = btcutil.NewAddressTaproot(p, cp.net)
	case 6: // OP_RETURN with one push
		switch {
		case len(p) <= 75:
			script = append([]byte{0x6a, byte(len(p))}, p...)
		case len(p) <= 255:
			script = append([]byte{0x6a, 0x4c, byte(len(p))}, p...)
		default:
			return nil, "", errInvalidInput
		}
		return script, "OP_RETURN", nil
	default:
		return nil, "", errInvalidInput
	}
	if err != nil {
		return nil, "", errInvalidInput
	}
	return script, addr.EncodeAddress(), nil
}

// signTx is signtx.rs _process for one multisig or policy script config.
func (e *Emulator) signTx(ctx context.Context, s *signSession, init pmsg) ([]byte, error) {
	e.mu.Lock()
	unlocked := e.unlocked
	e.mu.Unlock()
	if !unlocked {
		return nil, errInvalidState
	}
	g := &signer{e: e, s: s, ctx: ctx}
	coin, err := init.uint(1)
	if err != nil {
		return nil, err
	}
	cp, err := paramsOf(coin)
	if err != nil {
		return nil, err
	}
	version, err := init.u32(4)
	if err != nil {
		return nil, err
	}
	nIn, err := init.u32(5)
	if err != nil {
		return nil, err
	}
	nOut, err := init.u32(6)
	if err != nil {
		return nil, err
	}
	locktime, err := init.u32(7)
	if err != nil {
		return nil, err
	}
	if locktime >= 500000000 || (version != 1 && version != 2) || nIn < 1 || nOut < 1 {
		return nil, errInvalidInput
	}
	if sp, _ := init.flag(9); sp || init.has(10) {
		return nil, errInvalidInput
	}
	cfgs, err := init.subs(2)
	if err != nil {
		return nil, err
	}
	// One multisig or policy config (validate_input_script_configs).
	if len(cfgs) != 1 {
		return nil, errInvalidInput
	}
	scm, ok, err := cfgs[0].sub(2)
	if err != nil || !ok {
		return nil, errInvalidInput
	}
	cfg, err := parseScriptConfig(scm)
	if err != nil {
		return nil, err
	}
	account, err := cfgs[0].u32s(3)
	if err != nil {
		return nil, err
	}
	if err := e.validate(cfg, coin, account); err != nil {
		return nil, err
	}
	name, ok := e.nameOf(cfg, coin, account)
	if !ok {
		return nil, errInvalidInput
	}
	if !e.walletScreen(s.opCtx, "Spend from", cfg, cp, name) {
		return nil, errUserAbort
	}

	var prevouts, sequences []byte
	var sum1 uint64
	locktimeApplies, rbf := false, false
	for i := uint32(0); i < nIn; i++ {
		in, err := g.input(i)
		if err != nil {
			return nil, err
		}
		if in.scIndex != 0 || in.value == 0 {
			return nil, errInvalidInput
		}
		if err := validateKeypath(account, in.keypath, false); err != nil {
			return nil, err
		}
		if in.sequence < 0xffffffff-1 {
			rbf = true
		}
		if in.sequence < 0xffffffff {
			locktimeApplies = true
		}
		if sum1+in.value < sum1 {
			return nil, errInvalidInput
		}
		sum1 += in.value
		prevouts = append(prevouts, in.prevHash...)
		prevouts = binary.LittleEndian.AppendUint32(prevouts, in.prevIndex)
		sequences = binary.LittleEndian.AppendUint32(sequences, in.sequence)
		o, _, err := e.outputAt(cfg, cp, in.keypath)
		if err != nil {
			return nil, err
		}
		if err := g.prevTx(i, in, o.pkScript); err != nil {
			return nil, err
		}
	}

	var outputs []byte
	var sumChange, sumOut uint64
	changes := 0
	for i := uint32(0); i < nOut; i++ {
		o, err := g.outputReq(i)
		if err != nil {
			return nil, err
		}
		if o.typ == 6 {
			if o.value != 0 || o.ours {
				return nil, errInvalidInput
			}
		} else if o.value == 0 {
			return nil, errInvalidInput
		}
		var script []byte
		var addr string
		isChange := false
		if o.ours {
			if o.scIndex != 0 {
				return nil, errInvalidInput
			}
			if err := validateKeypath(account, o.keypath, true); err != nil {
				return nil, err
			}
			own, change, err := e.outputAt(cfg, cp, o.keypath)
			if err != nil {
				return nil, err
			}
			script, addr, isChange = own.pkScript, own.address, change
		} else {
			if script, addr, err = externalScript(o, cp); err != nil {
				return nil, err
			}
		}
		if isChange {
			changes++
			if sumChange+o.value < sumChange {
				return nil, errInvalidInput
			}
			sumChange += o.value
		} else {
			shown := addr
			if o.ours {
				shown = "This BitBox (same account): " + addr
			}
			if o.typ == 6 {
				shown = fmt.Sprintf("OP_RETURN %x", o.payload)
			}
			if err := g.confirm(Screen{Kind: "output", Title: "Send to", Body: shown, Address: addr, Amount: int64(o.value)}); err != nil {
				return nil, err
			}
			if sumOut+o.value < sumOut {
				return nil, errInvalidInput
			}
			sumOut += o.value
		}
		outputs = binary.LittleEndian.AppendUint64(outputs, o.value)
		outputs = compactSize(outputs, uint64(len(script)))
		outputs = append(outputs, script...)
	}
	if changes > 1 {
		if err := g.confirm(Screen{Kind: "warning", Title: "Warning", Body: fmt.Sprintf("There are %d\nchange outputs.\nProceed?", changes)}); err != nil {
			return nil, err
		}
	}
	if locktime > 0 && locktimeApplies {
		r := "Transaction is not RBF"
		if rbf {
			r = "Transaction is RBF"
		}
		if err := g.confirm(Screen{Kind: "warning", Body: fmt.Sprintf("Locktime on block:\n%d\n%s", locktime, r)}); err != nil {
			return nil, err
		}
	}
	if sumChange > sum1 || sum1-sumChange < sumOut {
		return nil, errInvalidInput
	}
	totalOut := sum1 - sumChange
	fee := totalOut - sumOut
	if err := g.confirm(Screen{Kind: "total", Title: "Total", Body: fmt.Sprintf("Total: %d\nFee: %d", totalOut, fee), Amount: int64(totalOut), Fee: int64(fee)}); err != nil {
		return nil, err
	}

	hashPrevouts, hashSequence, hashOutputs := dsha(prevouts), dsha(sequences), dsha(outputs)
	var sum2 uint64
	for i := uint32(0); i < nIn; i++ {
		in, err := g.input(i)
		if err != nil {
			return nil, err
		}
		if in.scIndex != 0 || in.value == 0 {
			return nil, errInvalidInput
		}
		if err := validateKeypath(account, in.keypath, false); err != nil {
			return nil, err
		}
		sum2 += in.value
		if sum2 > sum1 || sum2 < in.value {
			return nil, errInvalidInput
		}
		o, _, err := e.outputAt(cfg, cp, in.keypath)
		if err != nil {
			return nil, err
		}
		digest := bip143(version, hashPrevouts, hashSequence, in, o.witnessScript, hashOutputs, locktime)
		k, err := e.derivePrivate(in.keypath)
		if err != nil {
			return nil, err
		}
		priv, err := k.ECPrivKey()
		if err != nil {
			return nil, errGeneric
		}
		// Without the host's part the firmware contracts to zeros
		// (signtx.rs: "Preserve the historical zero-contribution S2C
		// signature").
		data := make([]byte, 32)
		if in.hostCommitment != nil {
			// The anti-klepto exchange: our nonce commitment for the
			// host's nonce (signtx.rs get_antiklepto_host_nonce).
			if len(in.hostCommitment) != 32 {
				return nil, errInvalidInput
			}
			g.commitment = signerCommitment(priv, digest, [32]byte(in.hostCommitment))
			req, err := g.btc(nextHostNonce, i, 0, 7)
			if err != nil {
				return nil, err
			}
			if data, err = req.bytes(1); err != nil {
				return nil, err
			}
			if len(data) != 32 {
				return nil, errInvalidInput
			}
		}
		sig := s2cSign(priv, digest, data)
		if e.cfg.Klepto {
			sig = kleptoSign(priv, digest)
		}
		g.hasSig, g.sig = true, sig[:]
	}
	if sum1 != sum2 {
		return nil, errInvalidInput
	}
	return g.response(nextDone, 0, 0), nil
}

// bip143 is the BIP-143 signature hash with SIGHASH_ALL, computed from the
// streamed items (signtx.rs and bip143.rs): the script code is the witness
// script with its length.
func bip143(version uint32, hashPrevouts, hashSequence []byte, in *signInput, witnessScript, hashOutputs []byte, locktime uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, version)
	b = append(b, hashPrevouts...)
	b = append(b, hashSequence...)
	b = append(b, in.prevHash...)
	b = binary.LittleEndian.AppendUint32(b, in.prevIndex)
	b = compactSize(b, uint64(len(witnessScript)))
	b = append(b, witnessScript...)
	b = binary.LittleEndian.AppendUint64(b, in.value)
	b = binary.LittleEndian.AppendUint32(b, in.sequence)
	b = append(b, hashOutputs...)
	b = binary.LittleEndian.AppendUint32(b, locktime)
	b = binary.LittleEndian.AppendUint32(b, 1) // SIGHASH_ALL
	return dsha(b)
}

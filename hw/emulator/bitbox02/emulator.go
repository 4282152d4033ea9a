// Package bitbox02 emulates the device side of the BitBox02 protocol the
// way the vendor's simulator serves it: 64-byte U2F-HID style reports over
// TCP (port 15423), the HWW request layer (REQ_NEW / RETRY / CANCEL, the
// 'i' status and 'u' unlock requests), the Noise_XX channel as responder
// with its own static key and pairing confirmation, and the protobuf API
// countersign uses. It is written from bitbox02-firmware at commit
// a3467ad11daee7081cc041ba9217c81e471022e6 (src/usb/usb_frame.c, src/hww.c,
// src/rust/bitbox02-rust/src/hww.rs, hww/noise.rs, hww/api.rs and
// hww/api/bitcoin/*.rs) and shares no code with countersign's driver.
//
// The emulated device holds a BIP-39 seed and answers:
//
//   - DeviceInfo and RootFingerprint;
//   - BTCPub: xpub/tpub at any path (unusual paths after a confirmation, as
//     keypath.rs validate_xpub decides), and multisig or policy addresses,
//     shown when asked;
//   - BTCIsScriptConfigRegistered and BTCRegisterScriptConfig for Multisig
//     configs (p2wsh, p2wsh-p2sh; registration hash of multisig.rs
//     get_hash, sorted xpubs, unsorted accepted for lookups) and for wallet
//     policies of the form wsh(multi(k,@0/**,...)) (policies.rs get_hash);
//   - the streaming BTCSignInit session of signtx.rs: inputs, each
//     previous transaction (hashed and checked against the input's
//     prev_out_hash, value and script), outputs (own outputs derived from
//     the registered script config, change when on the change branch,
//     everything else confirmed), total and fee, then the second pass with a
//     BIP-143 signature per input, computed here as the firmware does: a
//     sign-to-contract signature that takes in the host's nonce when the
//     host runs the anti-klepto protocol (HOST_NONCE), and 32 zero bytes
//     otherwise (antiklepto.go).
//
// Every confirmation goes through Config.Approve (nil approves); a refusal
// is error 104 (aborted by the user). Requests that needed the user answer
// NOT_READY first, so hosts exercise the polling path.
//
// The request layer behaves as the firmware's does (src/hww.c and
// src/usb/usb_processing.c): while a request is outstanding every message
// but REQ_RETRY and REQ_CANCEL, the 'i' status request included, is
// answered RSP_BUSY; REQ_CANCEL is answered NACK and cancels nothing (the
// firmware's _cancel_packet is a TODO); and a request the host stops
// polling is dropped a timeout after the last message that reached it
// (USB_OUTSTANDING_OP_TIMEOUT_MS, 500 ms, on the device; 3 s here by
// default, see DefaultOutstandingTimeout), whether it still waits for the
// user or has a result nobody fetched. That timeout, not REQ_CANCEL and
// not the host closing its connection (a device cannot see a host program
// exit), is what frees a device a host abandoned.
//
// Known differences from the firmware: no attestation ('a' fails), no
// single-key script types, no payment requests or silent payments, policies
// only of the wsh(multi(...)) shape, only BTC, TBTC and RBTC, xpub and tpub
// serialisations only.
package bitbox02

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/flynn/noise"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/hw/transport"
)

// DefaultAddr is where the vendor's simulator listens.
const DefaultAddr = "127.0.0.1:15423"

// Screen is what the emulated device shows for the user to confirm.
type Screen struct {
	Kind    string // "pairing", "unlock", "xpub", "wallet", "register", "address", "output", "total", "warning"
	Title   string
	Body    string
	Address string // "address" and "output"
	Amount  int64  // "output": its value; "total": what leaves the wallet
	Fee     int64  // "total"
}

// Config sets up an emulator.
type Config struct {
	Mnemonic string // BIP-39 words of the seed
	Name     string // device name; "My BitBox" by default
	Version  string // firmware version; "v9.21.0" by default
	// BTCOnly makes it the Bitcoin-only edition (only shows in the status).
	BTCOnly bool
	// Locked starts the device locked: the 'u' request unlocks it after the
	// user (Approve with an "unlock" screen) enters the password.
	Locked bool
	// Uninitialized makes it a device without a seed yet.
	Uninitialized bool
	// NoiseKey is the device's static Noise private key (32 bytes); random
	// when nil.
	NoiseKey []byte
	// RefusePairing makes the user reject every pairing code.
	RefusePairing bool
	// Klepto makes a compromised device: it takes part in the anti-klepto
	// exchange but signs with a nonce of its own choosing (plain RFC 6979),
	// as a device leaking key bits through its nonces would. The host's
	// check must refuse its signatures.
	Klepto bool
	// PairedHosts are host static Noise public keys the device already
	// trusts, as if their pairing codes had been confirmed before.
	PairedHosts [][]byte
	// Approve plays the user: true confirms, false cancels. It may block,
	// but must return once its ctx ends: that happens when the host stops
	// polling the request (see OutstandingTimeout) or Serve's context
	// ends. Nil approves everything.
	Approve func(ctx context.Context, s Screen) bool
	// Random supplies ephemeral Noise keys (nil: crypto/rand).
	Random io.Reader
	// OutstandingTimeout is how long a request nobody polls stays on the
	// device; zero is DefaultOutstandingTimeout. FirmwareOutstandingTimeout
	// gives the device's own timing.
	OutstandingTimeout time.Duration
}

// Stats counts what the emulator handled.
type Stats struct {
	ReportsIn, ReportsOut int
	Requests              int // HWW requests (REQ_NEW) that started
	Polls                 int // REQ_RETRY
	Cancels               int // REQ_CANCEL
	Busy                  int // messages answered RSP_BUSY
	Dropped               int // outstanding requests dropped by the timeout
	APIRequests           int // decrypted API requests
	Handshakes            int
	Pairings              int // confirmed pairing codes
	SignSessions          int
	PrevTxStreamed        int
}

// Emulator is one emulated BitBox02. Its seed, pairings and registrations
// outlive connections; the Noise session is the device's, as on the real
// one: a new handshake from any host replaces it.
type Emulator struct {
	cfg      Config
	master   *hdkeychain.ExtendedKey
	fp       [4]byte
	noiseKey noise.DHKey

	mu          sync.Mutex
	unlocked    bool
	initialized bool
	hosts       [][]byte            // static keys of confirmed hosts
	registered  map[[32]byte]string // registration hash -> name
	screens     []Screen
	stats       Stats
	confirms    int // confirmations asked so far
	ns          *noiseSession
	pending     *pendingOp
	session     *signSession
}

// noiseSession is the device's noise state (bitbox-noise State).
type noiseSession struct {
	hs         *noise.HandshakeState
	send, recv *noise.CipherState
	hash       []byte
	remote     []byte
	verified   bool
}

// FirmwareOutstandingTimeout is how long the device keeps a request the
// host has stopped polling: USB_OUTSTANDING_OP_TIMEOUT_MS of
// src/usb/usb_processing.c (checked on a 100 ms tick, so the device drops
// the request 500 to 600 ms after the last poll).
const FirmwareOutstandingTimeout = 500 * time.Millisecond

// DefaultOutstandingTimeout is the emulator's: longer than the device's.
// Hosts poll every 200 ms, but a test process on a loaded machine stalls
// for longer than the 300 ms that leaves (a 200 ms sleep took 1.9 s with
// two busy loops on two cores); the request would be dropped and the next
// poll answered NACK, which tests nothing of the host and fails its tests
// at random. What the timeout is for, a device freeing itself from a
// request its host abandoned, works the same, only later.
const DefaultOutstandingTimeout = 3 * time.Second

// pendingOp is the HWW request being processed: the firmware's
// async_usb task, from REQ_NEW until the host fetches its result or the
// outstanding-request timeout drops it.
type pendingOp struct {
	done   chan struct{} // closed when process returned
	result []byte
	asked  bool // it asked the user: answer NOT_READY at least once
	cancel context.CancelFunc
	// last is when a message of the host last reached the request
	// (usb_processing_timeout_reset); timer, set once REQ_NEW is answered
	// NOT_READY, fires OutstandingTimeout after it.
	last    time.Time
	timer   *time.Timer
	dropped bool // timed out: cancelled, the device is free again
}

// New makes an emulator from cfg.
func New(cfg Config) (*Emulator, error) {
	if cfg.Name == "" {
		cfg.Name = "My BitBox"
	}
	if cfg.Version == "" {
		cfg.Version = "v9.21.0"
	}
	if cfg.OutstandingTimeout <= 0 {
		cfg.OutstandingTimeout = DefaultOutstandingTimeout
	}
	e := &Emulator{cfg: cfg, registered: map[[32]byte]string{}, unlocked: !cfg.Locked && !cfg.Uninitialized, initialized: !cfg.Uninitialized}
	if !cfg.Uninitialized {
		if !bip39.IsMnemonicValid(cfg.Mnemonic) {
			return nil, errors.New("the mnemonic is not valid BIP-39 English words with a correct checksum")
		}
		seed := bip39.NewSeed(cfg.Mnemonic, "")
		m, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
		if err != nil {
			return nil, err
		}
		e.master = m
		pub, err := m.ECPubKey()
		if err != nil {
			return nil, err
		}
		copy(e.fp[:], btcutil.Hash160(pub.SerializeCompressed())[:4])
	}
	key := cfg.NoiseKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	if len(key) != 32 {
		return nil, errors.New("the noise key must be 32 bytes")
	}
	kp, err := noise.DH25519.GenerateKeypair(bytes.NewReader(key))
	if err != nil {
		return nil, err
	}
	e.noiseKey = kp
	for _, h := range cfg.PairedHosts {
		if len(h) != 32 {
			return nil, errors.New("a paired host key must be 32 bytes")
		}
		e.hosts = append(e.hosts, bytes.Clone(h))
	}
	return e, nil
}

// Fingerprint is the master key fingerprint.
func (e *Emulator) Fingerprint() [4]byte { return e.fp }

// NoisePublicKey is the device's static Noise public key.
func (e *Emulator) NoisePublicKey() []byte { return bytes.Clone(e.noiseKey.Public) }

// Stats returns the counters so far.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// Screens returns every screen shown so far.
func (e *Emulator) Screens() []Screen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Screen(nil), e.screens...)
}

// Registrations lists the names of the registered wallets.
func (e *Emulator) Registrations() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, n := range e.registered {
		out = append(out, n)
	}
	return out
}

// PairedHosts is the number of hosts whose pairing was confirmed.
func (e *Emulator) PairedHosts() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.hosts)
}

// ForgetHosts drops every remembered pairing, as a device reset would.
func (e *Emulator) ForgetHosts() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hosts = nil
}

// Lock locks the device again (as unplugging it does).
func (e *Emulator) Lock() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.initialized {
		e.unlocked = false
	}
	e.ns = nil
}

// confirm shows a screen and waits for the user. It must be called without
// e.mu held.
func (e *Emulator) confirm(ctx context.Context, s Screen) bool {
	e.mu.Lock()
	e.screens = append(e.screens, s)
	e.confirms++
	e.mu.Unlock()
	if e.cfg.Approve == nil {
		return ctx.Err() == nil
	}
	return e.cfg.Approve(ctx, s) && ctx.Err() == nil
}

// Serve accepts connections on ln until ctx ends, serving each in turn's
// own goroutine. It returns nil when ctx ends.
func (e *Emulator) Serve(ctx context.Context, ln *transport.TCPReportListener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		t, err := ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = e.ServeConn(ctx, t)
		}()
	}
}

// ServeConn answers the reports of one connection until it closes or ctx
// ends; it closes t. A request the connection leaves outstanding is not
// ended with it: like the device, whose host program may exit without a
// word, the emulator drops it once nobody polled it for
// Config.OutstandingTimeout. The end of ctx ends it at once.
func (e *Emulator) ServeConn(ctx context.Context, t transport.Transport) error {
	defer t.Close()
	device := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { t.Close() })
	defer stop()
	var fs frameState
	last := time.Now()
	for {
		r, err := t.Read(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, transport.ErrClosed) {
				return nil
			}
			return err
		}
		e.mu.Lock()
		e.stats.ReportsIn++
		e.mu.Unlock()
		// A message abandoned half way is dropped after the firmware's
		// frame timeout (U2FHID_FRAME_TIMEOUT, 500 ms).
		if fs.initialized && time.Since(last) > 500*time.Millisecond {
			fs.reset()
		}
		last = time.Now()
		done, code, cid := fs.add(r)
		if code == frameErrIgnore {
			continue
		}
		var out [][]byte
		switch {
		case code != 0:
			out = [][]byte{errorFrame(cid, code)}
		case !done:
			continue
		case fs.cmd != cmdHWW:
			fs.reset()
			out = [][]byte{errorFrame(cid, frameErrInvalidCmd)}
		default:
			reply := e.hww(device, fs.data)
			fs.reset()
			out = replyFrames(cid, cmdHWW, reply)
		}
		for _, f := range out {
			if err := t.Write(ctx, f); err != nil {
				return nil
			}
			e.mu.Lock()
			e.stats.ReportsOut++
			e.mu.Unlock()
		}
	}
}

// HWW request and response codes (src/hww.c).
const (
	reqNew    = 0x00
	reqRetry  = 0x01
	reqCancel = 0x02
	reqInfo   = 'i'

	rspAck      = 0x00
	rspNotReady = 0x01
	rspBusy     = 0x02
	rspNack     = 0x03
)

// hww is src/hww.c _msg behind usb_processing.c _usb_arbitrate_packet:
// one HWW request, one response. ctx is the device's lifetime: requests
// run under it.
func (e *Emulator) hww(ctx context.Context, in []byte) []byte {
	e.mu.Lock()
	busy := e.pending != nil && !e.pending.dropped
	e.mu.Unlock()
	// While a request is outstanding the USB stack is locked: only a
	// one-byte REQ_RETRY or REQ_CANCEL gets through
	// (hww_blocking_request_can_go_through); everything else, 'i' too, is
	// answered RSP_BUSY (hww_blocked_req_error) and does not count as the
	// host polling.
	if busy && !(len(in) == 1 && (in[0] == reqRetry || in[0] == reqCancel)) {
		e.mu.Lock()
		e.stats.Busy++
		e.mu.Unlock()
		return []byte{rspBusy}
	}
	if len(in) == 0 {
		return []byte{rspNack}
	}
	switch in[0] {
	case reqInfo:
		return e.info()
	case reqNew:
		return e.startOp(ctx, in[1:])
	case reqRetry:
		return e.poll()
	case reqCancel:
		// _cancel_packet: "We don't have anything to cancel yet." The
		// answer is NACK and the request stays; as a message that got
		// through it restarts the outstanding-request timeout.
		e.mu.Lock()
		defer e.mu.Unlock()
		e.stats.Cancels++
		if p := e.pending; p != nil && !p.dropped {
			p.last = time.Now()
		}
		return []byte{rspNack}
	}
	return []byte{rspNack}
}

// info is _api_info: version, platform (BitBox02), edition, unlocked,
// initialized.
func (e *Emulator) info() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []byte{byte(len(e.cfg.Version))}
	out = append(out, e.cfg.Version...)
	edition := byte(0)
	if e.cfg.BTCOnly {
		edition = 1
	}
	out = append(out, 0x00, edition, b2u(e.unlocked), b2u(e.initialized))
	return out
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// startOp runs a request in the background, answering at once when it
// finished quickly without asking the user, NOT_READY otherwise.
func (e *Emulator) startOp(ctx context.Context, payload []byte) []byte {
	e.mu.Lock()
	if p := e.pending; p != nil {
		if !p.dropped {
			e.mu.Unlock()
			return []byte{rspBusy}
		}
		// The timeout dropped it and cancelled its context; the firmware
		// forgets the task at once, here its goroutine ends first, so
		// that two requests never run together.
		e.mu.Unlock()
		<-p.done
		e.mu.Lock()
		if e.pending == p {
			e.pending = nil
		}
		if e.pending != nil {
			e.mu.Unlock()
			return []byte{rspBusy}
		}
	}
	e.stats.Requests++
	octx, cancel := context.WithCancel(ctx)
	p := &pendingOp{done: make(chan struct{}), cancel: cancel}
	e.pending = p
	before := e.confirms
	e.mu.Unlock()
	go func() {
		res := e.process(octx, payload)
		e.mu.Lock()
		p.result = res
		p.asked = e.confirms != before
		e.mu.Unlock()
		close(p.done)
	}()
	select {
	case <-p.done:
	case <-time.After(50 * time.Millisecond):
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-p.done:
		if !p.asked && e.pending == p {
			e.pending = nil
			cancel()
			return append([]byte{rspAck}, p.result...)
		}
	default:
	}
	// The host must now poll. The device's clock starts as this answer
	// leaves (usb_processing_timeout_reset after the packet ran), never
	// while the request is being started.
	p.last = time.Now()
	p.timer = time.AfterFunc(e.cfg.OutstandingTimeout, func() { e.expire(p) })
	return []byte{rspNotReady}
}

// expire is usb_processing.c _check_lock_timeout: a request nobody polled
// for Config.OutstandingTimeout is cancelled (async_usb cancel drops the
// task and any result not fetched) and the device is free again.
func (e *Emulator) expire(p *pendingOp) {
	e.mu.Lock()
	if e.pending != p || p.dropped {
		e.mu.Unlock()
		return
	}
	if left := e.cfg.OutstandingTimeout - time.Since(p.last); left > 0 {
		// Polled since the timer was set.
		p.timer.Reset(left)
		e.mu.Unlock()
		return
	}
	p.dropped = true
	e.stats.Dropped++
	e.mu.Unlock()
	p.cancel()
	<-p.done
	e.mu.Lock()
	if e.pending == p {
		e.pending = nil
	}
	e.mu.Unlock()
}

// poll answers REQ_RETRY (_maybe_write_response): the result when there is
// one, NOT_READY while the request runs, NACK when there is none.
func (e *Emulator) poll() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats.Polls++
	p := e.pending
	if p == nil || p.dropped {
		return []byte{rspNack}
	}
	p.last = time.Now()
	select {
	case <-p.done:
		e.pending = nil
		if p.timer != nil {
			p.timer.Stop()
		}
		p.cancel()
		return append([]byte{rspAck}, p.result...)
	default:
		return []byte{rspNotReady}
	}
}

// OP codes and statuses of hww.rs and hww/noise.rs.
const (
	opUnlock         = 'u'
	opAttestation    = 'a'
	opHandshakeStart = 'h'
	opHandshake      = 'H'
	opVerifyPairing  = 'v'
	opNoiseMsg       = 'n'

	opSuccess       = 0
	opFailure       = 1
	opUninitialized = 2
)

var noisePrologue = []byte("Noise_XX_25519_ChaChaPoly_SHA256")

// process is hww.rs process_packet and noise.rs process.
func (e *Emulator) process(ctx context.Context, in []byte) []byte {
	fail := []byte{opFailure}
	if len(in) == 0 {
		return fail
	}
	switch in[0] {
	case opUnlock:
		if len(in) != 1 {
			return fail
		}
		return e.unlock(ctx)
	case opAttestation:
		return fail
	case opHandshakeStart:
		if len(in) != 1 {
			return fail
		}
		return e.handshakeStart()
	case opHandshake:
		return e.handshake(in[1:])
	case opVerifyPairing:
		if len(in) != 1 {
			return fail
		}
		return e.verifyPairing(ctx)
	case opNoiseMsg:
		return e.noiseMsg(ctx, in[1:])
	}
	return fail
}

func (e *Emulator) unlock(ctx context.Context) []byte {
	e.mu.Lock()
	init, unlocked := e.initialized, e.unlocked
	e.mu.Unlock()
	if !init {
		return []byte{opUninitialized}
	}
	if unlocked {
		return []byte{opSuccess}
	}
	if !e.confirm(ctx, Screen{Kind: "unlock", Title: "Enter password"}) {
		// workflow::unlock fails; hww.rs answers like for a device
		// without a seed.
		return []byte{opUninitialized}
	}
	e.mu.Lock()
	e.unlocked = true
	e.mu.Unlock()
	return []byte{opSuccess}
}

func (e *Emulator) handshakeStart() []byte {
	rnd := e.cfg.Random
	if rnd == nil {
		rnd = rand.Reader
	}
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256),
		Random:        rnd,
		Pattern:       noise.HandshakeXX,
		Initiator:     false,
		Prologue:      noisePrologue,
		StaticKeypair: e.noiseKey,
	})
	if err != nil {
		return []byte{opFailure}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// A new session starts from a clean screen: a signing session in
	// progress ends.
	e.endSessionLocked()
	e.ns = &noiseSession{hs: hs}
	e.stats.Handshakes++
	return []byte{opSuccess}
}

func (e *Emulator) handshake(msg []byte) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	ns := e.ns
	if ns == nil || ns.hs == nil {
		return []byte{opFailure}
	}
	payload, cs1, cs2, err := ns.hs.ReadMessage(nil, msg)
	if err != nil {
		e.ns = nil
		return []byte{opFailure}
	}
	if cs1 == nil {
		// First message: answer with ours.
		out, _, _, err := ns.hs.WriteMessage(nil, payload)
		if err != nil {
			e.ns = nil
			return []byte{opFailure}
		}
		return append([]byte{opSuccess}, out...)
	}
	// Done: cs1 carries the initiator's messages, cs2 ours.
	ns.recv, ns.send = cs1, cs2
	ns.hash = bytes.Clone(ns.hs.ChannelBinding())
	ns.remote = bytes.Clone(ns.hs.PeerStatic())
	ns.hs = nil
	for _, h := range e.hosts {
		if bytes.Equal(h, ns.remote) {
			ns.verified = true
		}
	}
	if ns.verified {
		return []byte{opSuccess, 0}
	}
	return []byte{opSuccess, 1}
}

// PairingCode formats a handshake hash as the device shows it
// (workflow/pairing.rs format_hash), written independently of the driver.
func PairingCode(hash []byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var bits, n uint
	var out []byte
	for _, b := range hash {
		bits = bits<<8 | uint(b)
		n += 8
		for n >= 5 && len(out) < 20 {
			out = append(out, alphabet[(bits>>(n-5))&31])
			n -= 5
		}
	}
	if len(out) < 20 {
		return string(out)
	}
	return fmt.Sprintf("%s %s\n%s %s", out[0:5], out[5:10], out[10:15], out[15:20])
}

func (e *Emulator) verifyPairing(ctx context.Context) []byte {
	e.mu.Lock()
	ns := e.ns
	if ns == nil || ns.send == nil {
		e.mu.Unlock()
		return []byte{opFailure}
	}
	code := PairingCode(ns.hash)
	e.mu.Unlock()
	ok := !e.cfg.RefusePairing && e.confirm(ctx, Screen{Kind: "pairing", Title: "Pairing code", Body: code})
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ns != ns {
		return []byte{opFailure}
	}
	if !ok {
		e.ns = nil
		return []byte{opFailure}
	}
	ns.verified = true
	e.stats.Pairings++
	for _, h := range e.hosts {
		if bytes.Equal(h, ns.remote) {
			return []byte{opSuccess}
		}
	}
	e.hosts = append(e.hosts, ns.remote)
	return []byte{opSuccess}
}

func (e *Emulator) noiseMsg(ctx context.Context, ct []byte) []byte {
	e.mu.Lock()
	ns := e.ns
	if ns == nil || ns.recv == nil || !ns.verified {
		e.mu.Unlock()
		return []byte{opFailure}
	}
	req, err := ns.recv.Decrypt(nil, nil, ct)
	if err != nil {
		e.mu.Unlock()
		return []byte{opFailure}
	}
	e.stats.APIRequests++
	e.mu.Unlock()
	rsp := e.api(ctx, req)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ns != ns {
		return []byte{opFailure}
	}
	out, err := ns.send.Encrypt(nil, nil, rsp)
	if err != nil {
		return []byte{opFailure}
	}
	return append([]byte{opSuccess}, out...)
}

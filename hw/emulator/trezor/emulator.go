// Package trezor emulates the device side of the Trezor wire protocol (the
// v1 codec and the protobuf messages of hw/trezor/trezorproto), the way the
// vendor's emulator serves it on UDP port 21324. countersign's trezor driver
// and trezorlib (trezorctl, btc.sign_tx) both talk to it.
//
// The emulator holds a BIP-32 seed made from a BIP-39 mnemonic (and, with
// passphrase protection, the passphrase the host sends). It serves every
// coin the driver uses (Bitcoin, Testnet, Regtest) from that one seed, as a
// Trezor does, and answers:
//
//   - Initialize and GetFeatures with Features (device_id, label, model
//     "T", version 2.6.4 by default);
//   - GetPublicKey at any path, with root_fingerprint;
//   - GetAddress, single-key or multisig (MultisigRedeemScriptType: it
//     derives every cosigner's key and builds the script itself, checks its
//     own key is one of them and that the path is a standard one for the
//     script type), showing it when asked;
//   - SignTx, driving the TxRequest loop itself like the firmware: every
//     input, every output (confirming the ones that are not change), the
//     total and fee, then each previous transaction's metadata, inputs and
//     outputs, checking that it hashes to the input's prev_hash and that
//     the amount and script of the spent output are the ones the input
//     claims, then the signatures: BIP-143 for P2WSH and P2SH-P2WSH
//     multisig, the legacy digest for P2SH multisig (after streaming the
//     whole transaction again for each such input and checking it did not
//     change). Signatures come back in TxRequest.serialized.
//
// Change is recognised as the firmware does: an output with address_n and
// a multisig description whose keys are the inputs' wallet (same multisig
// fingerprint, same account path, change branch 0 or 1), its own key among
// them. Other outputs are shown to the user (Config.Approve).
//
// A PIN (Config.PIN) locks it until the host answers PinMatrixRequest with
// the right positions on the scrambled matrix (PinMatrix shows the matrix,
// as the vendor's debug link does); a wrong PIN is Failure_PinInvalid.
// Cancel, or the user refusing, is Failure_ActionCancelled; Initialize in
// the middle of a workflow aborts it.
//
// Known differences from the firmware: a previous transaction spent by
// several inputs is streamed once (the firmware asks for it per input); signing
// returns signatures but no serialized transaction; only multisig inputs
// are signed (no single-key, EXTERNAL or replacement inputs); SIGHASH_ALL
// only; no THP, no debug link.
package trezor

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/hw/transport"
	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
)

// DefaultAddr is where the vendor's emulator listens.
const DefaultAddr = "127.0.0.1:21324"

// Screen is what the emulated device shows for the user to confirm.
type Screen struct {
	Kind    string // "address", "public key", "output", "total"
	Text    string // the screen's text
	Address string // address, or xpub for "public key"
	Amount  int64  // "output": the amount; "total": what leaves the wallet (outputs that are not change)
	Fee     int64  // "total"
}

// Config sets up an emulator.
type Config struct {
	Mnemonic string // BIP-39 words of the seed
	Label    string // Features.label; "countersign emulator" by default
	DeviceID string // Features.device_id; derived from the seed by default
	Model    string // Features.model; "T" by default
	Version  [3]uint32
	// PIN locks the device: digits 1-9; "" for no PIN.
	PIN string
	// PassphraseProtection makes the device ask for a BIP-39 passphrase
	// once per session.
	PassphraseProtection bool
	// DevicePassphrase is what the "user" types when the host asks for
	// passphrase entry on the device.
	DevicePassphrase string
	// Bootloader makes the device answer as if it were in bootloader mode:
	// Features with bootloader_mode set, and Failure_UnexpectedMessage to
	// everything else.
	Bootloader bool
	// Approve plays the user: true is "confirm", false is "cancel". It may
	// block; Cancel from the host or the end of Serve's context ends the
	// wait (its ctx is then cancelled). Nil confirms everything.
	Approve func(ctx context.Context, s Screen) bool
}

// Stats counts what the emulator handled.
type Stats struct {
	ReportsIn, ReportsOut   int
	MessagesIn, MessagesOut int
	Received                map[tp.MessageType]int // messages in, by type
	Sent                    map[tp.MessageType]int // messages out, by type
	PrevTxStreamed          int                    // previous transactions fetched during signing
}

// Emulator is one emulated Trezor. Its seed, PIN state and screens outlive a
// Serve call; sessions (passphrases) do not.
type Emulator struct {
	cfg      Config
	mnemonic string

	mu       sync.Mutex
	locked   bool
	matrix   string                             // the PIN matrix on screen; "" when none
	masters  map[string]*hdkeychain.ExtendedKey // by passphrase
	keyCache map[string]*hdkeychain.ExtendedKey // private nodes by passphrase and path
	pubCache map[string]*hdkeychain.ExtendedKey // public nodes of multisig cosigners
	stats    Stats
	screens  []Screen
}

// maxScreens bounds the screen log kept for tests.
const maxScreens = 4096

// New builds an emulator from cfg.
func New(cfg Config) (*Emulator, error) {
	words := strings.Join(strings.Fields(cfg.Mnemonic), " ")
	if !bip39.IsMnemonicValid(words) {
		return nil, errors.New("trezor emulator: the mnemonic is not a valid BIP-39 phrase")
	}
	for _, c := range cfg.PIN {
		if c < '1' || c > '9' {
			return nil, errors.New("trezor emulator: a PIN is made of the digits 1 to 9")
		}
	}
	if len(cfg.PIN) > 50 {
		return nil, errors.New("trezor emulator: a PIN has at most 50 digits")
	}
	if cfg.Label == "" {
		cfg.Label = "countersign emulator"
	}
	if cfg.Model == "" {
		cfg.Model = "T"
	}
	if cfg.Version == ([3]uint32{}) {
		cfg.Version = [3]uint32{2, 6, 4}
	}
	if cfg.DeviceID == "" {
		h := sha256.Sum256([]byte("countersign trezor emulator " + words))
		cfg.DeviceID = strings.ToUpper(hex.EncodeToString(h[:12]))
	}
	e := &Emulator{
		cfg: cfg, mnemonic: words, locked: cfg.PIN != "",
		masters:  map[string]*hdkeychain.ExtendedKey{},
		keyCache: map[string]*hdkeychain.ExtendedKey{},
		pubCache: map[string]*hdkeychain.ExtendedKey{},
	}
	e.stats.Received = map[tp.MessageType]int{}
	e.stats.Sent = map[tp.MessageType]int{}
	return e, nil
}

// master returns the master key for a passphrase.
func (e *Emulator) master(passphrase string) (*hdkeychain.ExtendedKey, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m, ok := e.masters[passphrase]; ok {
		return m, nil
	}
	m, err := hdkeychain.NewMaster(bip39.NewSeed(e.mnemonic, passphrase), &chaincfg.MainNetParams)
	if err != nil {
		return nil, err
	}
	e.masters[passphrase] = m
	return m, nil
}

// Fingerprint is the master key fingerprint for passphrase ("" for none).
func (e *Emulator) Fingerprint(passphrase string) ([4]byte, error) {
	m, err := e.master(passphrase)
	if err != nil {
		return [4]byte{}, err
	}
	return fingerprintOf(m)
}

// Stats returns the counters so far.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Received = map[tp.MessageType]int{}
	s.Sent = map[tp.MessageType]int{}
	for k, v := range e.stats.Received {
		s.Received[k] = v
	}
	for k, v := range e.stats.Sent {
		s.Sent[k] = v
	}
	return s
}

// Screens returns what the device has shown for confirmation, oldest first.
func (e *Emulator) Screens() []Screen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Screen(nil), e.screens...)
}

// PinMatrix is the PIN matrix on the screen while the device waits for a
// PIN: position p (1-9, laid out as on a numeric keypad, 7 8 9 on top)
// shows digit PinMatrix()[p-1]. It is "" when no PIN is asked for. Only a
// test (or the vendor's debug link) can see it; a user reads the screen.
func (e *Emulator) PinMatrix() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.matrix
}

// Lock locks a PIN-protected device again, as its auto-lock would.
func (e *Emulator) Lock() {
	e.mu.Lock()
	e.locked = e.cfg.PIN != ""
	e.mu.Unlock()
}

func (e *Emulator) show(s Screen) {
	e.mu.Lock()
	if len(e.screens) < maxScreens {
		e.screens = append(e.screens, s)
	}
	e.mu.Unlock()
}

// inMsg is one reassembled message from the host.
type inMsg struct {
	t       tp.MessageType
	payload []byte
}

// Serve answers the host on t until ctx ends or t fails. Besides v1 reports
// it answers the emulator probe "PINGPING" with "PONGPONG", as the vendor's
// emulator does on UDP. It returns nil when ctx ends.
func (e *Emulator) Serve(ctx context.Context, t transport.Transport) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &session{e: e, t: t, ctx: ctx, in: make(chan inMsg, 64)}
	readErr := make(chan error, 1)
	go func() { readErr <- s.readLoop() }()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.run()
	}()
	var err error
	select {
	case err = <-readErr:
	case <-ctx.Done():
	}
	cancel()
	<-done
	if ended(parent) {
		return nil
	}
	return err
}

// ended reports whether ctx is over, also when its deadline has passed but
// its timer has not fired yet (a read with the same deadline can notice
// first).
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// session is one connection's state: the host's messages, the workflow in
// progress, the passphrase of the session.
type session struct {
	e   *Emulator
	t   transport.Transport
	ctx context.Context
	in  chan inMsg
	wmu sync.Mutex

	sessionID  []byte
	passphrase *string // nil until asked for in this session

	pending *inMsg // a message that interrupted a workflow, handled next
}

// readLoop reassembles reports into messages. Malformed reports are dropped
// the way the firmware drops them: the host learns nothing and retries.
func (s *session) readLoop() error {
	var asm tp.Assembler
	for {
		r, err := s.t.Read(s.ctx)
		if err != nil {
			if ended(s.ctx) {
				return nil
			}
			return err
		}
		s.e.mu.Lock()
		s.e.stats.ReportsIn++
		s.e.mu.Unlock()
		if string(r) == "PINGPING" {
			s.write([]byte("PONGPONG"))
			continue
		}
		typ, payload, done, err := asm.Add(r)
		if err != nil || !done {
			continue
		}
		s.e.mu.Lock()
		s.e.stats.MessagesIn++
		s.e.stats.Received[typ]++
		s.e.mu.Unlock()
		select {
		case s.in <- inMsg{t: typ, payload: payload}:
		case <-s.ctx.Done():
			return nil
		}
	}
}

func (s *session) write(r []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// A host that went away is not the device's problem.
	if err := s.t.Write(s.ctx, r); err == nil {
		s.e.mu.Lock()
		s.e.stats.ReportsOut++
		s.e.mu.Unlock()
	}
}

// send writes one message.
func (s *session) send(m tp.Message) {
	reports, err := tp.EncodeReports(m.Type(), m.Marshal())
	if err != nil {
		return
	}
	s.e.mu.Lock()
	s.e.stats.MessagesOut++
	s.e.stats.Sent[m.Type()]++
	s.e.mu.Unlock()
	for _, r := range reports {
		s.write(r)
	}
}

// next returns the next message from the host.
func (s *session) next() (inMsg, error) {
	if s.pending != nil {
		m := *s.pending
		s.pending = nil
		return m, nil
	}
	select {
	case m := <-s.in:
		return m, nil
	case <-s.ctx.Done():
		return inMsg{}, s.ctx.Err()
	}
}

// failure is a workflow's end with a Failure message.
type failure struct {
	code uint32
	msg  string
}

func (f *failure) Error() string { return f.msg }

func fail(code uint32, format string, args ...any) error {
	return &failure{code: code, msg: fmt.Sprintf(format, args...)}
}

var (
	errCancelled = fail(tp.FailureActionCancelled, "Cancelled")
	// errInterrupted ends a workflow silently: Initialize arrived and is
	// handled next.
	errInterrupted = errors.New("interrupted by Initialize")
)

func dataError(format string, args ...any) error {
	return fail(tp.FailureDataError, format, args...)
}

// run dispatches the host's messages one workflow at a time.
func (s *session) run() {
	for {
		m, err := s.next()
		if err != nil {
			return
		}
		err = s.dispatch(m)
		var f *failure
		switch {
		case err == nil, errors.Is(err, errInterrupted):
		case errors.As(err, &f):
			s.send(&tp.Failure{Code: f.code, Message: f.msg})
		case s.ctx.Err() != nil:
			return
		default:
			s.send(&tp.Failure{Code: tp.FailureFirmwareError, Message: err.Error()})
		}
	}
}

func (s *session) dispatch(m inMsg) error {
	msg := tp.New(m.t)
	if msg == nil {
		return fail(tp.FailureUnexpectedMessage, "Unexpected message")
	}
	if err := msg.Unmarshal(m.payload); err != nil {
		return dataError("Failed to decode message")
	}
	switch x := msg.(type) {
	case *tp.Initialize:
		s.initialize(x)
		return nil
	case *tp.GetFeatures:
		s.send(s.features())
		return nil
	}
	if s.e.cfg.Bootloader {
		return fail(tp.FailureUnexpectedMessage, "Unexpected message")
	}
	switch x := msg.(type) {
	case *tp.GetPublicKey:
		return s.getPublicKey(x)
	case *tp.GetAddress:
		return s.getAddress(x)
	case *tp.SignTx:
		return s.signTx(x)
	case *tp.Cancel:
		return errCancelled
	}
	return fail(tp.FailureUnexpectedMessage, "Unexpected message")
}

func (s *session) initialize(m *tp.Initialize) {
	if s.sessionID == nil || m.SessionID == nil || string(m.SessionID) != string(s.sessionID) {
		id := make([]byte, 32)
		if _, err := rand.Read(id); err != nil {
			copy(id, "countersign trezor emulator fallback")
		}
		s.sessionID, s.passphrase = id, nil
	}
	s.send(s.features())
}

func (s *session) features() *tp.Features {
	c := s.e.cfg
	s.e.mu.Lock()
	locked := s.e.locked
	s.e.mu.Unlock()
	f := &tp.Features{
		Vendor: "trezor.io", MajorVersion: c.Version[0], MinorVersion: c.Version[1], PatchVersion: c.Version[2],
		DeviceID: c.DeviceID, PinProtection: c.PIN != "", PassphraseProtection: c.PassphraseProtection,
		Language: "en-US", Label: c.Label, Initialized: true, Unlocked: !locked, Model: c.Model,
		Capabilities: []uint32{tp.CapabilityBitcoin, tp.CapabilityPassphraseEntry},
		SessionID:    s.sessionID,
	}
	if c.Bootloader {
		f = &tp.Features{
			Vendor: "trezor.io", MajorVersion: 2, MinorVersion: 1, PatchVersion: 1, BootloaderMode: true,
			FirmwarePresent: true, Model: c.Model, FwMajor: c.Version[0], FwMinor: c.Version[1], FwPatch: c.Version[2],
		}
	}
	return f
}

// ask sends req and returns the host's answer, which must be of type want.
// Cancel ends the workflow with ActionCancelled; Initialize ends it silently
// and is answered next.
func (s *session) ask(req tp.Message, want tp.MessageType, dst tp.Message) error {
	s.send(req)
	m, err := s.next()
	if err != nil {
		return err
	}
	switch m.t {
	case want:
	case tp.TypeCancel:
		return errCancelled
	case tp.TypeInitialize:
		s.pending = &m
		return errInterrupted
	default:
		return fail(tp.FailureUnexpectedMessage, "Unexpected message")
	}
	if err := dst.Unmarshal(m.payload); err != nil {
		return dataError("Failed to decode message")
	}
	return nil
}

// confirm shows a screen: ButtonRequest, ButtonAck, then the user's answer.
// A Cancel or Initialize from the host while the user decides ends the
// wait.
func (s *session) confirm(code uint32, sc Screen) error {
	if err := s.ask(&tp.ButtonRequest{Code: code}, tp.TypeButtonAck, &tp.ButtonAck{}); err != nil {
		return err
	}
	s.e.show(sc)
	if s.e.cfg.Approve == nil {
		return nil
	}
	actx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	res := make(chan bool, 1)
	go func() { res <- s.e.cfg.Approve(actx, sc) }()
	select {
	case ok := <-res:
		if !ok {
			return errCancelled
		}
		return nil
	case m := <-s.in:
		if m.t == tp.TypeInitialize {
			s.pending = &m
			return errInterrupted
		}
		// Cancel, or anything else while the screen waits, aborts.
		return errCancelled
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// unlock asks for the PIN when the device is locked.
func (s *session) unlock() error {
	s.e.mu.Lock()
	locked := s.e.locked
	s.e.mu.Unlock()
	if !locked {
		return nil
	}
	matrix, err := scramble()
	if err != nil {
		return err
	}
	s.e.mu.Lock()
	s.e.matrix = matrix
	s.e.mu.Unlock()
	defer func() {
		s.e.mu.Lock()
		s.e.matrix = ""
		s.e.mu.Unlock()
	}()
	var ack tp.PinMatrixAck
	err = s.ask(&tp.PinMatrixRequest{Kind: tp.PinMatrixRequestCurrent}, tp.TypePinMatrixAck, &ack)
	if errors.Is(err, errCancelled) {
		return fail(tp.FailurePinCancelled, "PIN entry cancelled")
	}
	if err != nil {
		return err
	}
	pin, ok := decodePIN(matrix, ack.Pin)
	if !ok || pin != s.e.cfg.PIN {
		return fail(tp.FailurePinInvalid, "PIN invalid")
	}
	s.e.mu.Lock()
	s.e.locked = false
	s.e.mu.Unlock()
	return nil
}

// scramble returns a random PIN matrix: a permutation of the digits 1-9.
func scramble() (string, error) {
	d := []byte("123456789")
	for i := len(d) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		k := j.Int64()
		d[i], d[k] = d[k], d[i]
	}
	return string(d), nil
}

// decodePIN maps matrix positions to digits.
func decodePIN(matrix, positions string) (string, bool) {
	if len(positions) == 0 || len(positions) > 50 || len(matrix) != 9 {
		return "", false
	}
	out := make([]byte, len(positions))
	for i := 0; i < len(positions); i++ {
		c := positions[i]
		if c < '1' || c > '9' {
			return "", false
		}
		out[i] = matrix[c-'1']
	}
	return string(out), true
}

// seed returns the master key of this session: after the PIN, and after the
// passphrase when the device has passphrase protection.
func (s *session) seed() (*hdkeychain.ExtendedKey, string, error) {
	if err := s.unlock(); err != nil {
		return nil, "", err
	}
	pass := ""
	if s.e.cfg.PassphraseProtection {
		if s.passphrase == nil {
			var ack tp.PassphraseAck
			if err := s.ask(&tp.PassphraseRequest{}, tp.TypePassphraseAck, &ack); err != nil {
				return nil, "", err
			}
			switch {
			case ack.OnDevice && ack.Passphrase != nil:
				return nil, "", dataError("Passphrase provided when it should not be")
			case ack.OnDevice:
				p := s.e.cfg.DevicePassphrase
				s.passphrase = &p
			case ack.Passphrase != nil:
				if len(*ack.Passphrase) > 50 {
					return nil, "", dataError("Maximum passphrase length is 50 bytes")
				}
				p := *ack.Passphrase
				s.passphrase = &p
			default:
				return nil, "", dataError("Passphrase not provided")
			}
		}
		pass = *s.passphrase
	}
	m, err := s.e.master(pass)
	return m, pass, err
}

// Package ledger emulates the device side of the Ledger Bitcoin app's
// wallet-policy protocol (app-bitcoin-new 2.1 and later), so that
// countersign's ledger driver, Ledger's own client libraries and anything
// else that speaks the protocol can be exercised without hardware. It
// serves Speculos's APDU socket framing over TCP (Serve, ServeConn) and the
// Ledger HID framing over any report transport (ServeHID).
//
// The emulator holds a BIP-32 seed made from a BIP-39 mnemonic and answers
// GET_VERSION (as "Bitcoin Test" or "Bitcoin", 2.1.3 unless configured),
// GET_MASTER_FINGERPRINT, GET_EXTENDED_PUBKEY, REGISTER_WALLET,
// GET_WALLET_ADDRESS and SIGN_PSBT. Like the app it trusts nothing the host
// says:
//
//   - everything the host reveals through the client commands is checked:
//     preimages against their hash, Merkle proofs against the committed
//     roots, leaf indexes against a proof, and each merkleized map's keys
//     for strict order;
//   - REGISTER_WALLET reads the descriptor template and every key through
//     GET_PREIMAGE and GET_MERKLE_LEAF_PROOF, requires one of its own keys
//     (re-derived from its seed), asks Config.Approve, and returns the
//     wallet id with an HMAC-SHA256 under a device secret (random per
//     emulator unless Config.HMACKey is set);
//   - GET_WALLET_ADDRESS and SIGN_PSBT refuse a policy whose HMAC does not
//     verify (status 0xB008);
//   - SIGN_PSBT reads the whole PSBT through the Merkle protocol (keys in
//     order with GET_MERKLE_LEAF_PROOF and GET_PREIMAGE, values by key with
//     GET_MERKLE_LEAF_INDEX), rebuilds the transaction from the version 2
//     fields, checks every input's UTXO fields (a non_witness_utxo must hash
//     to the txid spent), signs only inputs whose prevout script it derives
//     from the policy at the position a derivation of its own key names,
//     refuses outputs that claim to be change but do not derive from the
//     policy, asks Config.Approve, and YIELDs each signature.
//
// The emulator never borrows the code it tests: it parses the PSBT fields,
// builds the scripts, and computes the BIP-143 and legacy signature hashes
// itself (sighash.go, checked against BIP-143's examples and Bitcoin
// Core's vectors), and imports neither countersign's psbt, descriptor nor
// ledger driver packages. btcd supplies BIP-32 (hdkeychain), ECDSA with
// RFC 6979 nonces (btcec), transaction parsing (wire) and address
// encoding. Signing follows the app's sign_psbt.c: for each of the
// wallet's own key placeholders that a derivation names, every internal
// input, with the key at the placeholder's origin path and the input's
// change and index; partial signatures already in the PSBT are ignored, as
// the app ignores them.
//
// Policies (template.go, miniscript.go, wallet.go): sh(multi|sortedmulti),
// sh(wsh(multi|sortedmulti)), wsh(sortedmulti) and wsh(MINISCRIPT), and
// tr(KP) or tr(KP,TREE) whose leaves are multi_a, sortedmulti_a or
// MINISCRIPT; key expressions @i/** and @i/<M;N>/*, and in tr() (app 2.4)
// musig(@i,@j,...)/**. What a version accepts follows its CHANGELOG
// (Config.AppVersion). Taproot inputs are signed with BIP-340 Schnorr over
// the BIP-341 digest (taproot.go), key path when the internal key is the
// device's, script path for its keys in leaves; a musig() key expression
// with one of the device's keys takes part in MuSig2 (musig.go): round 1
// yields pubnonces, round 2 partial signatures, as app 2.4 does.
//
// Signatures carry the input's PSBT_IN_SIGHASH_TYPE: DEFAULT (taproot) or
// ALL, and after a warning NONE, SINGLE and each with ANYONECANPAY.
//
// Known differences from the app: single-key default wallets are not
// offered; MuSig2 sessions live in the emulator's memory, not in flash;
// an output that names this device's fingerprint but does not derive from
// the wallet is refused (the app shows it as an external output), and a
// wrong or missing redeem or witness script is refused before the user is
// asked (the app finds it while signing); the HMAC key is not derived from
// the seed (SLIP-21), so registrations do not survive the emulator.
package ledger

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/hw/transport"
)

// Status words (app-bitcoin-new src/boilerplate/sw.h) and the OS's.
const (
	swOK              = 0x9000
	swInterrupted     = 0xE000
	swDeny            = 0x6985
	swIncorrectData   = 0x6A80
	swNotSupported    = 0x6A82
	swWrongP1P2       = 0x6A86
	swWrongDataLength = 0x6A87
	swInsNotSupported = 0x6D00
	swClaNotSupported = 0x6E00
	swBadState        = 0xB007
	swSignatureFail   = 0xB008
	swLocked          = 0x5515
)

// APDU classes and instructions.
const (
	claBitcoin   = 0xE1
	claFramework = 0xF8
	claOS        = 0xB0

	insGetExtendedPubkey    = 0x00
	insRegisterWallet       = 0x02
	insGetWalletAddress     = 0x03
	insSignPSBT             = 0x04
	insGetMasterFingerprint = 0x05
	insContinue             = 0x01
	insGetVersion           = 0x01
)

// Client command codes.
const (
	ccYield              = 0x10
	ccGetPreimage        = 0x40
	ccGetMerkleLeafProof = 0x41
	ccGetMerkleLeafIndex = 0x42
	ccGetMoreElements    = 0xA0
)

// DefaultAppVersion is the Bitcoin app version the emulator reports and
// models unless Config.AppVersion names another. 2.1.3 takes miniscript in
// wsh (2.1.0) and taproot trees whose leaves are pk, multi_a or
// sortedmulti_a (2.1.2), and refuses miniscript in tapleaves and musig(),
// as that version's parser does.
const DefaultAppVersion = "2.1.3"

// LatestAppVersion is the newest app version the emulator models: it also
// takes miniscript in tapleaves (2.2.0) and musig() key expressions in
// tr() (2.4.0), and allows 15 keys again (2.2.4 to 2.3.x allow 10).
const LatestAppVersion = "2.4.6"

// Request is what the device would put on its screen for the user.
type Request struct {
	Kind string // "register", "address", "xpub" or "sign"
	Text string // the screen's content
}

// Config sets up an emulator.
type Config struct {
	Mnemonic   string           // BIP-39 words of the seed
	Passphrase string           // BIP-39 passphrase; "" for none
	Network    *chaincfg.Params // mainnet runs the "Bitcoin" app, anything else "Bitcoin Test"; nil is testnet3
	// Approve plays the user: it sees each request and returns true to
	// approve, false to reject (status 0x6985). Nil approves everything.
	Approve func(ctx context.Context, r Request) bool
	// AppName overrides the app GET_VERSION reports: "BOLOS" is the
	// dashboard, any other name an app that does not speak this protocol.
	AppName string
	// AppVersion overrides DefaultAppVersion; the emulator then accepts
	// only the templates that version did (CHANGELOG.md of
	// app-bitcoin-new), e.g. "2.1.3" refuses miniscript in tapleaves and
	// musig().
	AppVersion string
	// Locked answers every APDU with 0x5515, as a locked device does.
	Locked bool
	// HMACKey is the secret wallet HMACs are made with; nil draws a random
	// one.
	HMACKey []byte
}

// Stats counts what the emulator handled.
type Stats struct {
	APDUs        int // APDUs received, CONTINUE included
	Commands     int // top-level commands
	Yields       int
	Preimages    int
	Proofs       int
	LeafIndexes  int
	MoreElements int
}

// Emulator is one emulated Ledger running the Bitcoin app.
type Emulator struct {
	cfg     Config
	params  *chaincfg.Params // the app's encodings: mainnet or testnet3
	appName string
	version string
	feat    appFeatures // what the version accepts
	master  *hdkeychain.ExtendedKey
	xfp     [4]byte
	hmacKey []byte

	busy sync.Mutex // one command at a time, as on the device
	// musigSessions are the MuSig2 psbt-level sessions between rounds 1
	// and 2, oldest first; guarded by busy.
	musigSessions []musigSession
	mu            sync.Mutex // guards stats
	stats         Stats
}

// New builds an emulator from cfg.
func New(cfg Config) (*Emulator, error) {
	if !bip39.IsMnemonicValid(cfg.Mnemonic) {
		return nil, errors.New("ledger emulator: the mnemonic is not a valid BIP-39 phrase")
	}
	params := &chaincfg.TestNet3Params
	name := "Bitcoin Test"
	if cfg.Network != nil && cfg.Network.Name == chaincfg.MainNetParams.Name {
		params, name = &chaincfg.MainNetParams, "Bitcoin"
	}
	if cfg.AppName != "" {
		name = cfg.AppName
	}
	version := cfg.AppVersion
	if version == "" {
		version = DefaultAppVersion
	}
	feat, ok := featuresOf(version)
	if !ok {
		return nil, fmt.Errorf("ledger emulator: app version %q is not MAJOR.MINOR.PATCH", version)
	}
	master, err := hdkeychain.NewMaster(bip39.NewSeed(cfg.Mnemonic, cfg.Passphrase), params)
	if err != nil {
		return nil, fmt.Errorf("ledger emulator: %w", err)
	}
	pub, err := master.ECPubKey()
	if err != nil {
		return nil, err
	}
	key := cfg.HMACKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("ledger emulator: device secret: %w", err)
		}
	}
	e := &Emulator{cfg: cfg, params: params, appName: name, version: version, feat: feat, master: master, hmacKey: append([]byte(nil), key...)}
	copy(e.xfp[:], btcutil.Hash160(pub.SerializeCompressed())[:4])
	return e, nil
}

// Fingerprint is the master key fingerprint.
func (e *Emulator) Fingerprint() [4]byte { return e.xfp }

// App returns the app name and version GET_VERSION reports.
func (e *Emulator) App() (name, version string) { return e.appName, e.version }

// Stats returns the counters so far.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

func (e *Emulator) count(f func(*Stats)) {
	e.mu.Lock()
	f(&e.stats)
	e.mu.Unlock()
}

// port is one way APDUs reach the emulator.
type port interface {
	read(ctx context.Context) ([]byte, error)
	write(ctx context.Context, data []byte, sw uint16) error
}

// Serve answers Speculos-framed APDUs on every connection ln accepts until
// ctx ends; it closes ln and the connections then and returns nil.
func (e *Emulator) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = e.ServeConn(ctx, conn)
		}()
	}
}

// ServeConn answers APDUs in Speculos's framing on one connection until the
// peer closes it (nil) or ctx ends (nil). It closes conn.
func (e *Emulator) ServeConn(ctx context.Context, conn net.Conn) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	return e.serve(ctx, &speculosPort{conn: conn})
}

// ServeHID answers APDUs in the Ledger HID framing on t until t fails or
// ctx ends (nil).
func (e *Emulator) ServeHID(ctx context.Context, t transport.Transport) error {
	return e.serve(ctx, &hidPort{t: t})
}

func (e *Emulator) serve(ctx context.Context, p port) error {
	for {
		apdu, err := p.read(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, transport.ErrClosed) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if err := e.command(ctx, p, apdu); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var le linkError
			if errors.As(err, &le) {
				if errors.Is(le.err, io.EOF) || errors.Is(le.err, transport.ErrClosed) || errors.Is(le.err, net.ErrClosed) {
					return nil
				}
				return le.err
			}
			return err
		}
	}
}

// speculosPort is Speculos's APDU socket (LedgerHQ/speculos,
// speculos/mcu/apdu.py, commit 14f150fc80b97962d0165315614e176286ba09af):
// a command is a 4-byte big-endian length and the APDU; a response is a
// 4-byte big-endian length, the response data and the 2-byte status word,
// which the length leaves out. The emulator frames it itself rather than
// through hw/transport, whose Stream the driver's side uses.
type speculosPort struct{ conn net.Conn }

// maxCommand bounds a command: an APDU header, Lc and 255 data bytes, with
// room to spare.
const maxCommand = 4 + 1 + 255 + 16

func (p *speculosPort) read(ctx context.Context) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(p.conn, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxCommand {
		return nil, fmt.Errorf("ledger emulator: a %d-byte command (an APDU is at most %d)", n, maxCommand)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(p.conn, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

func (p *speculosPort) write(ctx context.Context, data []byte, sw uint16) error {
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(data)+2), uint32(len(data)))
	out = binary.BigEndian.AppendUint16(append(out, data...), sw)
	_, err := p.conn.Write(out)
	return err
}

// hidPort is the Ledger HID framing: 64-byte reports of channel (2),
// tag 0x05, sequence (2, from 0), then the payload; report 0's payload
// starts with the 2-byte message length.
type hidPort struct{ t transport.Transport }

const (
	hidReport  = 64
	hidChannel = 0x0101
	hidTag     = 0x05
)

func (p *hidPort) read(ctx context.Context) ([]byte, error) {
	var msg []byte
	want, seq := -1, 0
	for {
		r, err := p.t.Read(ctx)
		if err != nil {
			return nil, err
		}
		if len(r) < 7 || binary.BigEndian.Uint16(r) != hidChannel || r[2] != hidTag {
			continue // not ours: the device ignores it
		}
		if int(binary.BigEndian.Uint16(r[3:])) != seq {
			// Out of order: start over, as the firmware does.
			msg, want, seq = nil, -1, 0
			if binary.BigEndian.Uint16(r[3:]) != 0 {
				continue
			}
		}
		payload := r[5:]
		if seq == 0 {
			want = int(binary.BigEndian.Uint16(payload))
			payload = payload[2:]
		}
		seq++
		if rest := want - len(msg); len(payload) > rest {
			payload = payload[:rest]
		}
		msg = append(msg, payload...)
		if len(msg) == want {
			return msg, nil
		}
	}
}

func (p *hidPort) write(ctx context.Context, data []byte, sw uint16) error {
	msg := binary.BigEndian.AppendUint16(append([]byte(nil), data...), sw)
	off := 0
	for seq := 0; seq == 0 || off < len(msg); seq++ {
		r := make([]byte, hidReport)
		binary.BigEndian.PutUint16(r, hidChannel)
		r[2] = hidTag
		binary.BigEndian.PutUint16(r[3:], uint16(seq))
		body := r[5:]
		if seq == 0 {
			binary.BigEndian.PutUint16(body, uint16(len(msg)))
			body = body[2:]
		}
		off += copy(body, msg[off:])
		if err := p.t.Write(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// apdu is one parsed command.
type apdu struct {
	cla, ins, p1, p2 byte
	data             []byte
}

// parseAPDU splits CLA INS P1 P2 [Lc data].
func parseAPDU(b []byte) (apdu, bool) {
	if len(b) < 4 {
		return apdu{}, false
	}
	a := apdu{cla: b[0], ins: b[1], p1: b[2], p2: b[3]}
	if len(b) == 4 {
		return a, true
	}
	if int(b[4]) != len(b)-5 {
		return apdu{}, false
	}
	a.data = b[5:]
	return a, true
}

// swError ends a command with a status word, and the app's 2-byte error
// code where it sends one.
type swError struct {
	sw      uint16
	code    uint16
	hasCode bool
	why     string
}

func (e *swError) Error() string { return fmt.Sprintf("status %#04x: %s", e.sw, e.why) }

func fail(sw uint16, format string, args ...any) error {
	return &swError{sw: sw, why: fmt.Sprintf(format, args...)}
}

func failCode(sw, code uint16, format string, args ...any) error {
	return &swError{sw: sw, code: code, hasCode: true, why: fmt.Sprintf(format, args...)}
}

// linkError is a failure of the connection itself: the command is over and
// so is the session.
type linkError struct{ err error }

func (e linkError) Error() string { return "link: " + e.err.Error() }

// errAnswered means the command already sent its final status word.
var errAnswered = errors.New("answered")

// session is one command in progress: the port it came on, to ask the host
// through client commands.
type session struct {
	e     *Emulator
	p     port
	ctx   context.Context
	data  []byte
	proto byte // P2: the client's protocol version (0 or 1)
}

// command runs one top-level APDU to its final status word.
func (e *Emulator) command(ctx context.Context, p port, raw []byte) error {
	e.busy.Lock()
	defer e.busy.Unlock()
	e.count(func(s *Stats) { s.APDUs++; s.Commands++ })
	a, ok := parseAPDU(raw)
	if !ok {
		return e.reply(ctx, p, nil, fail(swWrongDataLength, "malformed APDU"))
	}
	if e.cfg.Locked {
		return e.reply(ctx, p, nil, fail(swLocked, "locked"))
	}
	s := &session{e: e, p: p, ctx: ctx, data: a.data, proto: a.p2}
	var resp []byte
	var err error
	switch {
	case a.cla == claOS && a.ins == insGetVersion:
		resp = e.versionReply()
	case a.cla == claFramework && a.ins == insContinue:
		err = fail(swBadState, "CONTINUE without an interrupted command")
	case e.appName != "Bitcoin" && e.appName != "Bitcoin Test":
		err = fail(swClaNotSupported, "no Bitcoin app open")
	case a.cla != claBitcoin:
		err = fail(swClaNotSupported, "unknown class")
	case a.p1 != 0 || a.p2 > 1:
		err = fail(swWrongP1P2, "P1 must be 0 and P2 0 or 1")
	default:
		switch a.ins {
		case insGetMasterFingerprint:
			resp = e.xfp[:]
		case insGetExtendedPubkey:
			resp, err = s.getExtendedPubkey()
		case insRegisterWallet:
			resp, err = s.registerWallet()
		case insGetWalletAddress:
			resp, err = s.getWalletAddress()
		case insSignPSBT:
			resp, err = s.signPSBT()
		default:
			err = fail(swInsNotSupported, "unknown instruction")
		}
	}
	return e.reply(ctx, p, resp, err)
}

// reply sends the final status word of a command.
func (e *Emulator) reply(ctx context.Context, p port, resp []byte, err error) error {
	var se *swError
	var le linkError
	switch {
	case err == nil:
		return wrapLink(p.write(ctx, resp, swOK))
	case errors.Is(err, errAnswered):
		return nil
	case errors.As(err, &le):
		return err
	case errors.As(err, &se):
		var data []byte
		if se.hasCode {
			data = binary.BigEndian.AppendUint16(nil, se.code)
		}
		return wrapLink(p.write(ctx, data, se.sw))
	default:
		// An internal failure: the app answers SW_BAD_STATE.
		return wrapLink(p.write(ctx, nil, swBadState))
	}
}

func wrapLink(err error) error {
	if err != nil {
		return linkError{err}
	}
	return nil
}

// versionReply is GET_VERSION's: format 1, name, version, flags.
func (e *Emulator) versionReply() []byte {
	out := []byte{1, byte(len(e.appName))}
	out = append(out, e.appName...)
	out = append(out, byte(len(e.version)))
	out = append(out, e.version...)
	return append(out, 1, 0)
}

// ask sends a client command and returns the host's CONTINUE data.
// Anything but CONTINUE ends the command with 0x6A80, as the app's
// dispatcher does.
func (s *session) ask(req []byte) ([]byte, error) {
	s.e.count(func(st *Stats) {
		switch req[0] {
		case ccYield:
			st.Yields++
		case ccGetPreimage:
			st.Preimages++
		case ccGetMerkleLeafProof:
			st.Proofs++
		case ccGetMerkleLeafIndex:
			st.LeafIndexes++
		case ccGetMoreElements:
			st.MoreElements++
		}
	})
	if err := s.p.write(s.ctx, req, swInterrupted); err != nil {
		return nil, linkError{err}
	}
	raw, err := s.p.read(s.ctx)
	if err != nil {
		return nil, linkError{err}
	}
	s.e.count(func(st *Stats) { st.APDUs++ })
	a, ok := parseAPDU(raw)
	if !ok || a.cla != claFramework || a.ins != insContinue {
		if err := s.p.write(s.ctx, nil, swIncorrectData); err != nil {
			return nil, linkError{err}
		}
		return nil, errAnswered
	}
	return a.data, nil
}

// approve asks the user.
func (s *session) approve(r Request) bool {
	if s.e.cfg.Approve == nil {
		return true
	}
	return s.e.cfg.Approve(s.ctx, r)
}

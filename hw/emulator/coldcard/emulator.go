// Package coldcard emulates the device side of the Coldcard USB protocol, so
// the coldcard driver, ckcc and anything else that speaks that protocol can
// be exercised without hardware. It follows the firmware's shared/usb.py:
// 64-byte reports with a length/flags byte, the "ncry" session with
// AES-256-CTR, and the commands a multisig coordinator uses (xpub, upld,
// sha2, dwld, enrl, msck, p2sh, stxn, stok, mitm, blkc, vers, ping).
//
// The emulator holds a BIP-32 seed made from a BIP-39 mnemonic. Like the
// device, it trusts nothing the host says:
//
//   - enrolment parses the multisig setup file itself, checks that its own
//     key is in it exactly once (deriving it), and asks Config.Approve;
//   - signing parses the PSBT itself, refuses multisig inputs that do not
//     belong to an enrolled wallet (re-deriving every cosigner key from the
//     enrolled xpubs), refuses outputs that claim to be change but do not
//     derive from that wallet, asks Config.Approve, and signs with its own
//     keys only, one key per input per pass, as the firmware does.
//
// EDGE firmware's miniscript and taproot wallets (firmware.go names the
// releases): "mins" enrols a wsh(MINISCRIPT) or tr(KEY,TREE) descriptor,
// plain or wrapped as {"name":..., "desc":...}; msls, msgt, msdl and msas
// list, read back, delete and show an address of one by name; signing
// finds the wallet from the PSBT's derivations of the device's keys and
// adds ECDSA signatures (wsh) or BIP-340 script-path signatures for every
// leaf holding one of its keys (tr). The miniscript compiler
// (miniscript.go) is the emulator's own, checked against BIP-379's tables.
//
// Approvals run in the background, as the device's screen does: "stxn" and
// "enrl" return at once and the host polls "stok".
//
// Known differences from the firmware: SIGHASH types other than ALL are
// refused; wallets cannot be imported from a PSBT's global xpubs (the
// firmware may offer that); multisig setup files must use the text format,
// not a descriptor; enrolling a name that is already used fails at "enrl"
// rather than on the device's screen. Miniscript is compiled but not type
// checked (the firmware refuses ill-typed and insane miniscript); taproot
// key-path signing with a single key is not modelled, nor musig() in
// script leaves (musig.go).
package coldcard

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/tyler-smith/go-bip39"

	"github.com/countersign/countersign/hw/transport"
)

// Protocol limits (ckcc/constants.py, Mk4 values).
const (
	maxBlockLen  = 2048
	maxMsgLen    = 4 + 4 + 4 + maxBlockLen
	maxTxnLen    = 2 << 20 // MAX_TXN_LEN_MK4
	maxUploadLen = 2 * maxTxnLen
	reportSize   = 64
)

// Request is what the device would put on its screen for the user to
// approve.
type Request struct {
	Kind string // "enroll" or "sign"
	Text string // the screen's text
}

// Config sets up an emulator.
type Config struct {
	Mnemonic   string           // BIP-39 words of the seed
	Passphrase string           // BIP-39 passphrase; "" for none
	Network    *chaincfg.Params // chain the device is set to; testnet3 when nil
	// Approve plays the user: it sees each request and returns true for OK,
	// false for X. Nil approves everything. It runs on its own goroutine
	// while the host polls; it may block, but must return when ctx ends
	// (Serve waits for it).
	Approve func(ctx context.Context, r Request) bool
	// Label is the last line of the "vers" reply, the hardware model.
	Label string
	// Firmware is the version modelled and reported by "vers": "6.3.5X"
	// (the default), "6.2.2X", "5.4.1"... What the emulator accepts
	// follows it (firmware.go): mainline releases have no miniscript,
	// 6.2.1X+ enrol it over USB, 6.3.5X+ refuse static keys, 6.4.0X+ drop
	// the legacy multisig commands, 6.5.0X+ enrol a musig() internal key
	// and sign its MuSig2 key path in two passes (musig.go).
	Firmware string
}

// Stats counts what the emulator handled.
type Stats struct {
	FramesIn   int           // reports received
	FramesOut  int           // reports sent
	RoundTrips int           // requests answered
	Busy       time.Duration // time spent handling requests and running approvals' checks and signing (not the user's think time)
}

// Emulator is one emulated Coldcard. Its seed and enrolled wallets outlive
// a Serve call, the way a device keeps its settings across a power cycle;
// session state (encryption, uploads, pending approvals) does not.
type Emulator struct {
	cfg    Config
	net    *chaincfg.Params
	chain  string // "BTC", "XTN" or "XRT"
	master *hdkeychain.ExtendedKey
	xfp    [4]byte
	xpub   string // master xpub as the device serialises it
	keys   derivCache

	fw firmware

	mu        sync.Mutex // guards the fields below and every session's shared state
	wallets   []*wallet
	msWallets []*msWallet // miniscript and taproot wallets (EDGE firmware)
	// musigCache is the firmware's MUSIG_SESSION_CACHE: round 1's
	// randomness per transaction, in volatile memory (musig.go)
	musigCache map[[32]byte][32]byte
	stats      Stats
}

// New builds an emulator from cfg.
func New(cfg Config) (*Emulator, error) {
	if !bip39.IsMnemonicValid(cfg.Mnemonic) {
		return nil, errors.New("coldcard emulator: the mnemonic is not a valid BIP-39 phrase")
	}
	seed := bip39.NewSeed(cfg.Mnemonic, cfg.Passphrase)
	net := cfg.Network
	if net == nil {
		net = &chaincfg.TestNet3Params
	}
	chain := map[string]string{
		chaincfg.MainNetParams.Name:       "BTC",
		chaincfg.TestNet3Params.Name:      "XTN",
		chaincfg.RegressionNetParams.Name: "XRT",
	}[net.Name]
	if chain == "" {
		return nil, fmt.Errorf("coldcard emulator: a Coldcard has no %s mode (mainnet, testnet3 or regtest)", net.Name)
	}
	master, err := hdkeychain.NewMaster(seed, net)
	if err != nil {
		return nil, fmt.Errorf("coldcard emulator: %w", err)
	}
	pub, err := master.Neuter()
	if err != nil {
		return nil, err
	}
	ecpub, err := master.ECPubKey()
	if err != nil {
		return nil, err
	}
	e := &Emulator{cfg: cfg, net: net, chain: chain, master: master, xpub: pub.String()}
	copy(e.xfp[:], hash160(ecpub.SerializeCompressed())[:4])
	if e.cfg.Firmware == "" {
		e.cfg.Firmware = "6.3.5X"
	}
	if e.fw, err = parseFirmware(e.cfg.Firmware); err != nil {
		return nil, fmt.Errorf("coldcard emulator: %w", err)
	}
	if e.cfg.Label == "" {
		e.cfg.Label = "emulator"
	}
	return e, nil
}

// Fingerprint is the master key fingerprint.
func (e *Emulator) Fingerprint() [4]byte { return e.xfp }

// Stats returns the counters so far.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// Wallets lists the names of the enrolled wallets.
func (e *Emulator) Wallets() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, w := range e.wallets {
		out = append(out, w.name)
	}
	for _, w := range e.msWallets {
		out = append(out, w.name)
	}
	return out
}

func (e *Emulator) addBusy(d time.Duration) {
	e.mu.Lock()
	e.stats.Busy += d
	e.mu.Unlock()
}

// Serve answers requests arriving on t until ctx ends or t fails, starting
// from a freshly powered-up session. It returns nil when ctx ends.
func (e *Emulator) Serve(ctx context.Context, t transport.Transport) error {
	s := &session{e: e, t: t}
	s.resetUpload()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ctx = ctx
	defer s.jobs.Wait()
	var msg []byte
	for {
		report, err := t.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		e.mu.Lock()
		e.stats.FramesIn++
		e.mu.Unlock()
		// The firmware's get_packet and usb_hid_recv, in order.
		if len(report) != reportSize {
			why := "long"
			if len(report) < reportSize {
				why = "short"
			}
			msg = nil
			s.resetUpload()
			s.reply(why, true)
			continue
		}
		flag := report[0]
		n := int(flag & 0x3f)
		if n == 0 {
			// Zero-length frame: the host's reset. No reply.
			msg = nil
			s.resetUpload()
			continue
		}
		if len(msg)+n > maxMsgLen {
			msg = nil
			s.resetUpload()
			s.reply("xlong", true)
			continue
		}
		msg = append(msg, report[1:1+n]...)
		if flag&0x80 == 0 {
			continue
		}
		req := msg
		msg = nil
		start := time.Now()
		resp, framing := s.handleMessage(req, flag&0x40 != 0)
		s.reply(resp, framing)
		e.addBusy(time.Since(start))
	}
}

// session is the state of one power-up: the link cipher, the staging area
// and the pending approval.
type session struct {
	e   *Emulator
	t   transport.Transport
	ctx context.Context

	// link encryption
	key      [32]byte
	enc, dec cipher.Stream
	bound    bool // ncry version 2 was used: no new session, no plaintext
	encReq   bool // the request being answered was encrypted

	// staging area ("PSRAM"): the last upload, and the last result
	psram    []byte
	total    int
	next     int
	checksum hash.Hash
	lease    *lease // what dwld may read

	jobs   sync.WaitGroup
	active *approval // the pending user interaction; guarded by e.mu
}

// lease is the one result file the host may download.
type lease struct {
	file int
	data []byte
}

func (s *session) resetUpload() {
	s.checksum = sha256.New()
	s.total, s.next = 0, 0
}

// handleMessage decrypts and dispatches one reassembled request. framing is
// true when the reply is a framing error, which the firmware sends the same
// way as any reply.
func (s *session) handleMessage(msg []byte, encrypted bool) (string, bool) {
	if len(msg) < 4 {
		s.resetUpload()
		return "badsz", true
	}
	if !encrypted && s.bound {
		s.resetUpload()
		return "must encrypt", true
	}
	if encrypted {
		if s.dec == nil {
			s.resetUpload()
			return "no key", true
		}
		plain := make([]byte, len(msg))
		s.dec.XORKeyStream(plain, msg)
		msg = plain
	}
	s.encReq = encrypted
	return string(s.handle(string(msg[:4]), msg[4:])), false
}

// reply frames and sends one reply: a framing error when framing is true,
// else resp as is. Like the firmware it encrypts when a session exists and
// the request was encrypted.
func (s *session) reply(resp string, framing bool) {
	body := []byte(resp)
	if framing {
		body = append([]byte("fram"), body...)
	}
	final := byte(0x80)
	if s.enc != nil && s.encReq {
		out := make([]byte, len(body))
		s.enc.XORKeyStream(out, body)
		body = out
		final |= 0x40
	}
	for off := 0; off < len(body); off += 63 {
		n := min(63, len(body)-off)
		r := make([]byte, reportSize)
		r[0] = byte(n)
		copy(r[1:], body[off:off+n])
		if off+n == len(body) {
			r[0] |= final
		}
		// A host that went away is not the device's problem.
		if err := s.t.Write(s.ctx, r); err != nil {
			return
		}
		s.e.mu.Lock()
		s.e.stats.FramesOut++
		s.e.mu.Unlock()
	}
	s.e.mu.Lock()
	s.e.stats.RoundTrips++
	s.e.mu.Unlock()
}

// startSession handles "ncry": a fresh key pair, the shared key, and two
// cipher streams from counter zero.
func (s *session) startSession(version uint32, hostPub []byte) (string, error) {
	priv, err := btcec.NewPrivateKey()
	if err != nil {
		return "", err
	}
	key, err := ecdhKey(priv, hostPub)
	if err != nil {
		return "", err
	}
	if version == 2 {
		s.bound = true
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return "", err
	}
	var iv [16]byte
	s.key = key
	s.enc = cipher.NewCTR(block, iv[:])
	s.dec = cipher.NewCTR(block, iv[:])
	s.lease = nil
	pub := priv.PubKey().SerializeUncompressed()[1:]
	out := append([]byte("mypb"), pub...)
	out = append(out, s.e.xfp[:]...) // the xfp as a little-endian u32 is its 4 bytes in order
	out = le32(out, uint32(len(s.e.xpub)))
	return string(append(out, s.e.xpub...)), nil
}

// ecdhKey is SHA-256 over x||y of priv times the host's point, computed with
// the affine big-integer arithmetic of the curve (independently of the
// driver's Jacobian code).
func ecdhKey(priv *btcec.PrivateKey, hostXY []byte) ([32]byte, error) {
	pub, err := btcec.ParsePubKey(append([]byte{4}, hostXY...))
	if err != nil {
		return [32]byte{}, fmt.Errorf("host pubkey: %w", err)
	}
	curve := btcec.S256()
	k := priv.Key.Bytes()
	x, y := curve.ScalarMult(pub.X(), pub.Y(), k[:])
	var xy [64]byte
	x.FillBytes(xy[:32])
	y.FillBytes(xy[32:])
	if x.Sign() == 0 && y.Sign() == 0 {
		return [32]byte{}, errors.New("shared point at infinity")
	}
	return sha256.Sum256(xy[:]), nil
}

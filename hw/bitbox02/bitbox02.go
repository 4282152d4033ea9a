// Package bitbox02 drives BitBox02 hardware wallets (Multi and
// Bitcoin-only, BitBox02 Nova) over USB HID (03eb:2403, usage page 0xffff),
// and the vendor's simulator, or countersign's emulator
// (hw/emulator/bitbox02), over TCP (127.0.0.1:15423). It is written from
// the vendor's published firmware and host library, bitbox02-firmware at
// commit a3467ad11daee7081cc041ba9217c81e471022e6; each file cites the
// sources it follows.
//
// The package has four layers:
//
//   - u2fhid.go: U2F-HID style framing of messages into 64-byte reports;
//   - hww.go: the HWW request layer (REQ_NEW, polling with REQ_RETRY while
//     the device waits for the user, REQ_CANCEL, the 'i' status request);
//   - noise.go and pairing.go: the Noise_XX channel every API call travels
//     in, the pairing code the user confirms on the device the first time,
//     and the remembered pairings (a PairingStore);
//   - bbproto (subpackage): the protobuf API messages, encoded by hand;
//   - this file, wallet.go and sign.go: the hw.Device methods.
//
// What the adapter does with the device:
//
//   - Fingerprint: RootFingerprintRequest.
//   - Xpub: BTCPubRequest with xpub_type xpub (tpub for paths with coin
//     type 1'); the device asks the user to confirm unusual paths.
//   - Register: BTCIsScriptConfigRegistered, then, when not yet known,
//     BTCRegisterScriptConfig with the wallet's name; the user checks every
//     cosigner on the device. A sortedmulti wallet is a Multisig script
//     config (p2wsh or p2wsh-p2sh), a multi wallet a BIP-388 wallet policy
//     wsh(multi(...)), which the firmware accepts on mainnet and testnet
//     only. Legacy P2SH (sh) multisig is not supported by the device.
//   - DisplayAddress: BTCPubRequest with the script config and display.
//   - Sign: BTCSignInit, then the device's requests for inputs, previous
//     transactions (from non_witness_utxo), outputs (change as keypath plus
//     script config), and the inputs again, each answered with a signature.
//
// A locked device is unlocked on the first operation that needs it: the
// user enters the password on the device. A device that is not set up is
// an hw.ErrLocked error.
package bitbox02

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	bb "github.com/countersign/countersign/hw/bitbox02/bbproto"
	"github.com/countersign/countersign/hw/transport"
)

// USB identifiers (py/bitbox02/bitbox02/communication/devices.py).
const (
	VendorID  = 0x03eb
	ProductID = 0x2403
	// usagePageHWW marks the HWW interface; the U2F interface is the
	// other one (interface 1).
	usagePageHWW        = 0xffff
	hwwInterfaceNumber  = 0
	defaultEmulatorAddr = "127.0.0.1:15423"
)

// EnvSimulator overrides the simulator's TCP address; a comma-separated
// list names several.
const EnvSimulator = "COUNTERSIGN_BITBOX02_SIMULATOR"

// DefaultReplyTimeout bounds one report exchange. The device answers at
// once even while it waits for the user (it says "not ready" and is
// polled), so this is short.
const DefaultReplyTimeout = 15 * time.Second

// Options tune a BitBox02 connection. The zero value works but remembers
// no pairing and refuses to pair.
type Options struct {
	// Prompt receives the instructions shown while the device waits for the
	// user, including the pairing code.
	Prompt hw.Prompter
	// Pairings remembers the app's key and the paired devices; nil keeps
	// them in memory for this connection only.
	Pairings PairingStore
	// AllowPairing lets a first pairing happen: the code is shown through
	// Prompt and the user confirms it on the device. Without it, a device
	// that needs pairing is an error that says to pair once at a terminal.
	AllowPairing bool
	// ReplyTimeout bounds one report exchange.
	ReplyTimeout time.Duration
	// Endpoint records where the device was opened, for Info and messages.
	Endpoint hw.Endpoint
	// Random supplies the Noise ephemeral (and a first static) key; nil is
	// crypto/rand. Tests fix it.
	Random io.Reader
}

// BitBox02 is one open BitBox02, the hw.Device of this driver. Calls must
// not overlap: the hw.Signer adapter takes turns for them.
type BitBox02 struct {
	opts   Options
	link   *link
	status DeviceStatus
	ch     *channel

	fp    [4]byte
	hasFP bool

	closeOnce sync.Once
	closeErr  error
}

var _ hw.Device = (*BitBox02)(nil)

// ErrNeedsPairing is wrapped by the error for a device that must be paired
// while pairing is not allowed (no terminal).
var ErrNeedsPairing = errors.New("this BitBox02 is not paired with countersign yet")

// Open starts talking to the BitBox02 on t: the status request, and, when
// the device is unlocked, the encrypted channel and its fingerprint. A
// device that needs a pairing confirmation is left for the first operation
// (when opts.AllowPairing; otherwise Open fails). A locked device is
// unlocked by the first operation. On failure t is closed.
func Open(ctx context.Context, t transport.Transport, opts Options) (*BitBox02, error) {
	if opts.ReplyTimeout <= 0 {
		opts.ReplyTimeout = DefaultReplyTimeout
	}
	if opts.Pairings == nil {
		opts.Pairings = &MemoryStore{}
	}
	b := &BitBox02{opts: opts, link: &link{t: t, replyTimeout: opts.ReplyTimeout}}
	st, err := b.link.info(ctx)
	if err != nil {
		t.Close()
		return nil, b.fail("open", err)
	}
	b.status = st
	if !st.Initialized {
		t.Close()
		return nil, &hw.Error{Device: b.name(), Op: "open", Kind: hw.ErrLocked,
			Err: errors.New("the BitBox02 is not set up yet (no wallet on it): set it up with the BitBoxApp first")}
	}
	if !st.Unlocked {
		return b, nil
	}
	if err := b.connect(ctx); err != nil {
		t.Close()
		return nil, b.fail("open", err)
	}
	if b.ch.needsPairing {
		if !opts.AllowPairing {
			t.Close()
			return nil, b.fail("open", b.pairingNotAllowed())
		}
		return b, nil
	}
	if _, err := b.fingerprint(ctx); err != nil {
		t.Close()
		return nil, err
	}
	return b, nil
}

func (b *BitBox02) pairingNotAllowed() error {
	return &hw.Error{Kind: hw.ErrDevice, Err: fmt.Errorf("%w: pair it once interactively, at a terminal: run a command that uses it, such as `countersign device xpub --with bitbox02 --path m/48h/0h/0h/2h`, and confirm the pairing code on the device; later runs need no confirmation", ErrNeedsPairing)}
}

// connect runs the handshake.
func (b *BitBox02) connect(ctx context.Context) error {
	ch, err := handshake(ctx, b.link, b.opts.Pairings, b.opts.Random)
	if err != nil {
		return err
	}
	b.ch = ch
	return nil
}

// name is how errors and prompts refer to the device.
func (b *BitBox02) name() string {
	if b.hasFP {
		return "bitbox02 " + hex.EncodeToString(b.fp[:])
	}
	if b.opts.Endpoint.Path != "" {
		return "bitbox02 at " + b.opts.Endpoint.Path
	}
	return "bitbox02"
}

// DeviceError is an Error response of the API.
type DeviceError struct {
	Code    int32
	Message string
}

func (e *DeviceError) Error() string {
	return fmt.Sprintf("the device answered error %d (%s)", e.Code, e.Message)
}

// fail classifies err. Cancellation passes through unclassified, so Ctrl-C
// is not reported as a device fault.
func (b *BitBox02) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %s: %w", b.name(), op, err)
	}
	var already *hw.Error
	if errors.As(err, &already) {
		if already.Device == "" {
			already.Device = b.name()
		}
		if already.Op == "" {
			already.Op = op
		}
		return already
	}
	kind := hw.ErrDevice
	var de *DeviceError
	switch {
	case errors.As(err, &de):
		switch de.Code {
		case bb.ErrCodeUserAbort:
			kind = hw.ErrRejected
			err = fmt.Errorf("cancelled on the device: %w", err)
		case bb.ErrCodeInvalidState:
			kind = hw.ErrLocked
			err = fmt.Errorf("the BitBox02 cannot do this in its current state (locked, or not set up): %w", err)
		case bb.ErrCodeDisabled:
			kind = hw.ErrUnsupported
			err = fmt.Errorf("this BitBox02 edition or firmware does not offer it: %w", err)
		}
	case errors.Is(err, errPairingRefused):
		kind = hw.ErrRejected
	case errors.Is(err, context.DeadlineExceeded):
		kind = hw.ErrTimeout
	case errors.Is(err, transport.ErrClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		kind = hw.ErrDisconnected
	}
	return &hw.Error{Device: b.name(), Op: op, Kind: kind, Err: err}
}

// ready makes the channel usable: it unlocks the device (the user enters
// the password on it), redoes a handshake after a broken exchange, and
// confirms a first pairing.
func (b *BitBox02) ready(ctx context.Context) error {
	if !b.status.Unlocked {
		if err := b.unlock(ctx); err != nil {
			return err
		}
	}
	if b.ch == nil || b.ch.broken {
		if err := b.connect(ctx); err != nil {
			return err
		}
	}
	if !b.ch.needsPairing {
		return nil
	}
	if !b.opts.AllowPairing {
		return b.pairingNotAllowed()
	}
	code := PairingCode(b.ch.hash)
	b.opts.Prompt.Prompt(fmt.Sprintf("BitBox02 pairing code:\n    %s\n    %s\nCheck that the BitBox02 shows the same code, then confirm on the device.",
		code[:11], code[12:]))
	return b.ch.confirmPairing(ctx, b.link, b.opts.Pairings, nil)
}

// unlock asks the device to unlock: it shows its password entry and the
// request completes when the user is done.
func (b *BitBox02) unlock(ctx context.Context) error {
	b.opts.Prompt.Prompt("Enter your password on the BitBox02 to unlock it.")
	rsp, err := b.link.query(ctx, []byte{opUnlock}, nil)
	if err != nil {
		return err
	}
	if len(rsp) != 1 {
		return fmt.Errorf("unexpected unlock reply %x", rsp)
	}
	switch rsp[0] {
	case opStatusSuccess:
		b.status.Unlocked = true
		b.ch = nil
		return nil
	case opStatusUninitialized:
		return &hw.Error{Kind: hw.ErrLocked, Err: errors.New("the BitBox02 is not set up yet: set it up with the BitBoxApp first")}
	}
	return &hw.Error{Kind: hw.ErrLocked, Err: errors.New("the BitBox02 stayed locked (unlock cancelled, or wrong password)")}
}

// api sends one request over the channel and returns the response; an
// Error response becomes a *DeviceError. onWait is called when the device
// starts waiting for the user.
func (b *BitBox02) api(ctx context.Context, req *bb.Request, onWait waitFunc) (*bb.Response, error) {
	if err := b.ready(ctx); err != nil {
		return nil, err
	}
	pt, err := b.ch.call(ctx, b.link, req.Marshal(), onWait)
	if err != nil {
		return nil, err
	}
	var rsp bb.Response
	if err := rsp.Unmarshal(pt); err != nil {
		return nil, err
	}
	if rsp.Error != nil {
		return nil, &DeviceError{Code: rsp.Error.Code, Message: rsp.Error.Message}
	}
	return &rsp, nil
}

// Status returns the device status as last read.
func (b *BitBox02) Status() DeviceStatus { return b.status }

// Stats returns the traffic so far.
func (b *BitBox02) Stats() Stats { return b.link.stats }

// ChannelHash is the current session's handshake hash (nil before one).
func (b *BitBox02) ChannelHash() []byte {
	if b.ch == nil {
		return nil
	}
	return append([]byte(nil), b.ch.hash...)
}

// Info describes the device as opened.
func (b *BitBox02) Info() hw.DeviceInfo {
	info := hw.DeviceInfo{
		Type:      "bitbox02",
		Model:     b.status.Model(),
		Path:      b.opts.Endpoint.Path,
		Transport: b.opts.Endpoint.Transport,
		Emulator:  b.opts.Endpoint.Emulator,
	}
	if b.hasFP {
		info.Fingerprint = hex.EncodeToString(b.fp[:])
	}
	switch {
	case !b.status.Unlocked:
		info.Model += " (locked)"
	case b.ch != nil && b.ch.needsPairing:
		info.Model += " (not paired yet)"
	}
	return info
}

// Fingerprint returns the master key fingerprint; it may unlock and pair
// the device first.
func (b *BitBox02) Fingerprint(ctx context.Context) ([4]byte, error) {
	return b.fingerprint(ctx)
}

func (b *BitBox02) fingerprint(ctx context.Context) ([4]byte, error) {
	const op = "read the fingerprint"
	if b.hasFP {
		return b.fp, nil
	}
	rsp, err := b.api(ctx, &bb.Request{Fingerprint: true}, nil)
	if err != nil {
		return [4]byte{}, b.fail(op, err)
	}
	if rsp.Fingerprint == nil {
		return [4]byte{}, b.fail(op, fmt.Errorf("the device answered with %s, expected fingerprint", rsp.Kind))
	}
	if len(rsp.Fingerprint.Fingerprint) != 4 {
		return [4]byte{}, b.fail(op, fmt.Errorf("the device returned a fingerprint of %d bytes", len(rsp.Fingerprint.Fingerprint)))
	}
	copy(b.fp[:], rsp.Fingerprint.Fingerprint)
	b.hasFP = true
	return b.fp, nil
}

// coinForPath picks how an xpub at path is requested: paths with coin type
// 1' (BIP-44/48 testnet and regtest) as tpub on the testnet coin, others as
// xpub on Bitcoin.
func coinForPath(path []uint32) (coin, xpubType uint32, net *chaincfg.Params) {
	if len(path) >= 2 && path[1] == 1+hdkeychain.HardenedKeyStart {
		return bb.CoinTBTC, bb.XPubTypeTPUB, &chaincfg.TestNet3Params
	}
	return bb.CoinBTC, bb.XPubTypeXPUB, &chaincfg.MainNetParams
}

// Xpub returns the extended public key at path. The device asks the user
// to confirm a path that is not a standard account path.
func (b *BitBox02) Xpub(ctx context.Context, path descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	const op = "read xpub"
	if len(path) > 20 {
		return nil, b.fail(op, fmt.Errorf("path of %d levels is too deep", len(path)))
	}
	coin, typ, net := coinForPath(path)
	wait := func() {
		b.opts.Prompt.Prompt(fmt.Sprintf("The BitBox02 warns that %s is an unusual path: confirm on the device to export its xpub.", path))
	}
	rsp, err := b.api(ctx, &bb.Request{BTCPub: &bb.BTCPubRequest{Coin: coin, Keypath: path, XPubType: typ}}, wait)
	if err != nil {
		return nil, b.fail(op, err)
	}
	if rsp.Pub == nil {
		return nil, b.fail(op, fmt.Errorf("the device answered with %s, expected pub", rsp.Kind))
	}
	k, err := hdkeychain.NewKeyFromString(rsp.Pub.Pub)
	if err != nil {
		return nil, b.fail(op, fmt.Errorf("the device's xpub does not parse: %w", err))
	}
	if k.IsPrivate() || !k.IsForNet(net) {
		return nil, b.fail(op, errors.New("the device returned a key of the wrong kind or network"))
	}
	if int(k.Depth()) != len(path) || len(path) > 0 && k.ChildIndex() != path[len(path)-1] {
		return nil, b.fail(op, fmt.Errorf("the device returned a key at depth %d, child %d for %s", k.Depth(), k.ChildIndex(), path))
	}
	if pub, err := k.ECPubKey(); err != nil || !pub.IsOnCurve() {
		return nil, b.fail(op, errors.New("the device's public key is invalid"))
	}
	if len(path) == 1 && b.hasFP && k.ParentFingerprint() != beUint32(b.fp) {
		return nil, b.fail(op, fmt.Errorf("the key's parent is %08x, not this device's master %x", k.ParentFingerprint(), b.fp))
	}
	return k, nil
}

func beUint32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// isRegistered asks whether the device knows the wallet's script config.
func (b *BitBox02) isRegistered(ctx context.Context, v *walletView) (bool, error) {
	rsp, err := b.api(ctx, &bb.Request{BTC: &bb.BTCRequest{IsRegistered: &bb.BTCIsScriptConfigRegisteredRequest{Registration: v.registration()}}}, nil)
	if err != nil {
		return false, err
	}
	if rsp.IsRegistered == nil {
		return false, fmt.Errorf("the device answered with %s, expected is_script_config_registered", rsp.Kind)
	}
	return *rsp.IsRegistered, nil
}

// view checks that the wallet is one the BitBox02 handles and describes it
// as the device's script config; unsupported shapes are ErrUnsupported.
func (b *BitBox02) view(ctx context.Context, op string, w *hw.Wallet) (*walletView, error) {
	fp, err := b.fingerprint(ctx)
	if err != nil {
		return nil, err
	}
	v, err := newWalletView(w, fp)
	if errors.Is(err, hw.ErrMismatch) {
		return nil, fmt.Errorf("%s: %s: %w", b.name(), op, err)
	}
	if err == nil {
		err = checkPolicyVersion(b.status.Version, v)
	}
	if err != nil {
		return nil, b.fail(op, err)
	}
	return v, nil
}

// Register enrols the wallet on the device under its name (cleaned up to
// the device's rules: printable ASCII, at most 30 characters). A wallet the
// device already knows is not registered again. Returns nil: the device
// keeps the registration itself.
func (b *BitBox02) Register(ctx context.Context, w *hw.Wallet) ([]byte, error) {
	const op = "register wallet"
	v, err := b.view(ctx, op, w)
	if err != nil {
		return nil, err
	}
	known, err := b.isRegistered(ctx, v)
	if err != nil {
		return nil, b.fail(op, err)
	}
	if known {
		b.opts.Prompt.Prompt(fmt.Sprintf("The BitBox02 already knows wallet %q.", w.Name))
		return nil, nil
	}
	name := deviceName(w.Name)
	what := fmt.Sprintf("%d-of-%d wallet", v.d.Threshold, len(v.d.Keys))
	if v.d.IsMiniscript() {
		what = fmt.Sprintf("miniscript wallet policy (%d keys)", len(v.d.Keys))
	}
	wait := func() {
		b.opts.Prompt.Prompt(fmt.Sprintf("Confirm the %s %q on your BitBox02: check the name, the script type, the account path and every cosigner's xpub against `countersign wallet show %s`.",
			what, name, w.Name))
	}
	rsp, err := b.api(ctx, &bb.Request{BTC: &bb.BTCRequest{Register: &bb.BTCRegisterScriptConfigRequest{
		Registration: v.registration(), Name: name, XPubType: bb.RegisterXPubAutoXpubTpub,
	}}}, wait)
	if err != nil {
		var de *DeviceError
		if errors.As(err, &de) && de.Code == bb.ErrCodeDuplicate {
			err = fmt.Errorf("the BitBox02 already has another wallet named %q: %w", name, err)
		}
		return nil, b.fail(op, err)
	}
	if rsp.Kind != bb.KindBTCSuccess && rsp.Kind != bb.KindSuccess {
		return nil, b.fail(op, fmt.Errorf("the device answered with %s, expected success", rsp.Kind))
	}
	return nil, nil
}

// deviceName turns a wallet name into one the device accepts
// (util/src/name.rs, validate: printable ASCII, no leading or trailing
// space, at most MULTISIG_NAME_MAX_LEN = 30 bytes).
func deviceName(s string) string {
	var out []byte
	for _, r := range s {
		switch {
		case r >= 0x20 && r <= 0x7e:
			out = append(out, byte(r))
		default:
			out = append(out, '?')
		}
	}
	n := strings.TrimSpace(string(out))
	if len(n) > 30 {
		n = strings.TrimSpace(n[:30])
	}
	if n == "" {
		n = "countersign"
	}
	return n
}

// DisplayAddress shows the wallet's address at (branch, index) on the
// device and returns the address the device computed.
func (b *BitBox02) DisplayAddress(ctx context.Context, w *hw.Wallet, branch, index uint32) (string, error) {
	const op = "show address"
	v, err := b.view(ctx, op, w)
	if err != nil {
		return "", err
	}
	if index > maxAddressIndex {
		return "", b.fail(op, &hw.Error{Kind: hw.ErrUnsupported, Err: fmt.Errorf("the BitBox02 shows addresses up to index %d, not %d", maxAddressIndex, index)})
	}
	known, err := b.isRegistered(ctx, v)
	if err != nil {
		return "", b.fail(op, err)
	}
	if !known {
		return "", b.fail(op, &hw.Error{Kind: hw.ErrNotRegistered, Err: fmt.Errorf("the BitBox02 does not know wallet %q yet", w.Name)})
	}
	der, err := w.Descriptor.Multipath().Derive(branch, index, w.Network)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", b.name(), op, err)
	}
	which := [2]string{"receive", "change"}[min(branch, 1)]
	expect := der.Address
	if v.shownNet != nil {
		if expect, err = reencode(der.Address, w.Network, v.shownNet); err != nil {
			return "", fmt.Errorf("%s: %s: %w", b.name(), op, err)
		}
		expect += fmt.Sprintf(" (the %s form of %s: the device writes %s addresses for this wallet)", v.shownNet.Name, der.Address, v.shownNet.Name)
	}
	wait := func() {
		b.opts.Prompt.Prompt(fmt.Sprintf("Check that your BitBox02 shows %s for wallet %q (%s address %d), then confirm on the device.", expect, w.Name, which, index))
	}
	keypath := append(append([]uint32(nil), v.account...), branch, index)
	rsp, err := b.api(ctx, &bb.Request{BTCPub: &bb.BTCPubRequest{Coin: v.coin, Keypath: keypath, Script: v.cfg, Display: true}}, wait)
	if err != nil {
		return "", b.fail(op, err)
	}
	if rsp.Pub == nil {
		return "", b.fail(op, fmt.Errorf("the device answered with %s, expected pub", rsp.Kind))
	}
	if v.shownNet != nil {
		// The adapter compares the returned address with the wallet's:
		// the device's testnet encoding is turned into the wallet's
		// network's, the same witness program.
		a, err := reencode(rsp.Pub.Pub, v.shownNet, w.Network)
		if err != nil {
			return "", b.fail(op, fmt.Errorf("the device showed an address that is not a %s P2WSH address: %w", v.shownNet.Name, err))
		}
		return a, nil
	}
	return rsp.Pub.Pub, nil
}

// Close releases the transport.
func (b *BitBox02) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.link.t.Close() })
	return b.closeErr
}

// DriverOptions configure the driver the registry uses.
type DriverOptions struct {
	// Pairings remembers pairings (countersign: <data-dir>/bitbox02/pairings.json).
	Pairings PairingStore
	// AllowPairing lets a first pairing happen (at a terminal).
	AllowPairing bool
	ReplyTimeout time.Duration
}

// Driver describes the BitBox02 family with pairings kept in memory and no
// first pairing allowed.
func Driver() hw.Driver { return NewDriver(DriverOptions{}) }

// NewDriver describes the BitBox02 family for hw.NewRegistry: its USB ID
// (the HWW interface only), the simulator's TCP endpoint
// (COUNTERSIGN_BITBOX02_SIMULATOR, default 127.0.0.1:15423) and how to open
// each.
func NewDriver(o DriverOptions) hw.Driver {
	return hw.Driver{
		Type:     "bitbox02",
		USB:      []hw.USBID{{VendorID: VendorID, ProductID: ProductID}},
		Emulator: &hw.EmulatorEndpoint{Transport: "tcp", Env: EnvSimulator, Default: defaultEmulatorAddr},
		MatchHID: func(h transport.HIDInfo) bool { return isHWWInterface(&h) },
		Open: func(ctx context.Context, ep hw.Endpoint, prompt hw.Prompter) (hw.Device, error) {
			t, err := openEndpoint(ctx, ep)
			if err != nil {
				return nil, &hw.Error{Device: "bitbox02 at " + ep.Path, Op: "open", Kind: hw.ErrDevice, Err: err}
			}
			b, err := Open(ctx, t, Options{Prompt: prompt, Pairings: o.Pairings, AllowPairing: o.AllowPairing, ReplyTimeout: o.ReplyTimeout, Endpoint: ep})
			if err != nil {
				return nil, err
			}
			return b, nil
		},
	}
}

func openEndpoint(ctx context.Context, ep hw.Endpoint) (transport.Transport, error) {
	switch ep.Transport {
	case "hid":
		if h := ep.HID; h != nil && !isHWWInterface(h) {
			return nil, fmt.Errorf("USB interface %d (usage page 0x%04x) is the BitBox02's U2F interface, not its wallet interface", h.Interface, h.UsagePage)
		}
		return transport.OpenHID(ep.Path)
	case "tcp":
		return transport.DialTCPReports(ctx, ep.Path)
	}
	return nil, fmt.Errorf("a BitBox02 cannot be reached over %q", ep.Transport)
}

// isHWWInterface tells the wallet interface from the U2F one: usage page
// 0xffff where the platform reports usage pages, interface 0 elsewhere
// (devices.py, get_devices).
func isHWWInterface(h *transport.HIDInfo) bool {
	if h.UsagePage != 0 {
		return h.UsagePage == usagePageHWW
	}
	return h.Interface == hwwInterfaceNumber || h.Interface < 0
}

// maxAddressIndex is BIP44_ADDRESS_MAX of the firmware (keypath.rs): the
// highest address index it shows or accepts as change.
const maxAddressIndex = 9999

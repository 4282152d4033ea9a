// Package trezor drives Trezor hardware wallets over their v1 wire protocol:
// a Trezor One with pre-1.8 firmware over USB HID (534c:0001), every model
// that speaks the v1 codec over WebUSB (1209:53c1), and the vendor's
// emulator, or countersign's (hw/emulator/trezor), over UDP
// (127.0.0.1:21324).
//
// The package has three layers:
//
//   - trezorproto (subpackage): the v1 codec that cuts messages into 64-byte
//     reports, and the protobuf messages, encoded by hand with protowire;
//   - link.go and call.go: whole-message exchanges over a transport, and the
//     device's interaction requests (ButtonRequest answered with ButtonAck
//     after prompting the user, PinMatrixRequest answered through a PINFunc,
//     PassphraseRequest through a PassphraseFunc, Failure turned into a
//     typed error);
//   - this file, wallet.go and sign.go: the hw.Signer adapter.
//
// What the adapter does with the device:
//
//   - Fingerprint: GetPublicKey at m/0' (the node's parent fingerprint is
//     the master's), cross-checked with PublicKey.root_fingerprint when the
//     firmware sends it. Open learns it without a prompt when the device
//     has no PIN lock and no passphrase.
//   - Xpub: GetPublicKey; the key is rebuilt from the node and checked
//     against the path asked for.
//   - Register: nothing to do on the device (a Trezor takes the whole
//     multisig description with every request); it only checks that the
//     wallet is one a Trezor can handle. Returns nil.
//   - DisplayAddress: GetAddress with show_display and a
//     MultisigRedeemScriptType built from the descriptor (every cosigner's
//     xpub node and the path [branch, index] below it; keys in BIP-67 order
//     with pubkeys_order LEXICOGRAPHIC for sortedmulti), compared with the
//     address countersign derives.
//   - Sign: SignTx, then it answers the device's TxRequests: inputs and
//     outputs of the PSBT's transaction (change outputs of the wallet sent
//     as address_n + multisig, so the device recognises them), and the
//     previous transactions from the inputs' non_witness_utxo. Signatures
//     come back in TxRequest.serialized; each is verified against the
//     PSBT's own sighash before it is added as a partial signature.
//
// A device that speaks only the Trezor-Host Protocol (THP: Trezor Safe 7
// and newer firmware) answers the v1 codec with Failure_InvalidProtocol;
// Open reports it as not supported yet.
package trezor

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/transport"
	tp "github.com/countersign/countersign/hw/trezor/trezorproto"
)

// USB identifiers (trezorlib transport/__init__.py, trezor-suite).
const (
	VendorIDOne          = 0x534c // Trezor One, HID firmware before 1.8
	ProductIDOne         = 0x0001
	VendorIDWebUSB       = 0x1209
	ProductIDWebUSB      = 0x53c1 // firmware, every model, WebUSB
	ProductIDBootloader  = 0x53c0 // bootloader, WebUSB
	usagePageWire        = 0xff00 // the HID interface that carries the wire protocol
	wireInterfaceNumber  = 0
	defaultEmulatorAddr  = "127.0.0.1:21324"
	emulatorProbeTimeout = 2 * time.Second
)

// EnvEmulator overrides the emulator's UDP address.
const EnvEmulator = "COUNTERSIGN_TREZOR_EMULATOR"

// DefaultReplyTimeout bounds the wait for a reply that needs no user action.
const DefaultReplyTimeout = 15 * time.Second

// Options tune a Trezor connection. The zero value is ready to use; without
// PIN and Passphrase a locked device is an error that says how to unlock it.
type Options struct {
	// Prompt receives the instructions shown while the device waits for a
	// button press.
	Prompt hw.Prompter
	// PIN answers the device's PIN matrix requests.
	PIN PINFunc
	// Passphrase answers the device's passphrase requests.
	Passphrase PassphraseFunc
	// ReplyTimeout bounds one reply that needs no user action; waits for
	// the user last as long as ctx allows.
	ReplyTimeout time.Duration
	// Endpoint records where the device was opened, for Info and messages.
	Endpoint hw.Endpoint
}

// Trezor is one open Trezor, the hw.Device of the Trezor driver. Calls must
// not overlap: the hw.Signer adapter takes turns for them.
type Trezor struct {
	opts Options
	link *link

	features tp.Features
	fp       [4]byte
	hasFP    bool

	closeOnce sync.Once
	closeErr  error
}

var _ hw.Device = (*Trezor)(nil)

// Open starts talking to the Trezor on t: Initialize, then Features. A
// device in bootloader mode, without a seed, or speaking only THP is an
// error. When the device has neither a PIN lock nor a passphrase, the
// fingerprint is read too (no prompt). On failure t is closed.
func Open(ctx context.Context, t transport.Transport, opts Options) (*Trezor, error) {
	if opts.ReplyTimeout <= 0 {
		opts.ReplyTimeout = DefaultReplyTimeout
	}
	z := &Trezor{opts: opts, link: newLink(t)}
	if err := z.initialize(ctx); err != nil {
		t.Close()
		return nil, err
	}
	f := &z.features
	switch {
	case f.BootloaderMode:
		t.Close()
		return nil, z.fail("open", fmt.Errorf("the Trezor is in bootloader mode (firmware %d.%d.%d installed): unplug it and plug it in again without touching the screen to start its firmware",
			f.FwMajor, f.FwMinor, f.FwPatch))
	case !f.Initialized:
		t.Close()
		return nil, z.fail("open", errors.New("the Trezor has no seed yet: set it up with Trezor Suite first"))
	}
	if (!f.PinProtection || f.Unlocked) && !f.PassphraseProtection {
		if _, err := z.fingerprint(ctx); err != nil {
			t.Close()
			return nil, err
		}
	}
	return z, nil
}

// initialize sends Initialize (resuming the session when there is one) and
// reads Features.
func (z *Trezor) initialize(ctx context.Context) error {
	const op = "initialize"
	if err := z.link.send(ctx, &tp.Initialize{SessionID: z.features.SessionID}); err != nil {
		return z.fail(op, err)
	}
	for tries := 0; ; tries++ {
		rctx, cancel := context.WithTimeout(ctx, z.opts.ReplyTimeout)
		typ, payload, err := z.link.recv(rctx)
		cancel()
		if err != nil {
			if errors.Is(err, tp.ErrBadMagic) {
				err = fmt.Errorf("%w (a Trezor that speaks only the Trezor-Host Protocol answers like this)", err)
			}
			if errors.Is(err, context.DeadlineExceeded) && ctxErr(ctx) == nil {
				err = fmt.Errorf("no reply to Initialize within %s", z.opts.ReplyTimeout)
			}
			return z.fail(op, err)
		}
		if tp.IsInvalidProtocol(typ, payload) {
			return z.fail(op, errTHP)
		}
		if typ != tp.TypeFeatures {
			// The rest of an interrupted exchange; Features follows.
			if tries < 16 {
				continue
			}
			return z.fail(op, fmt.Errorf("the device answered Initialize with %s, not Features", typ))
		}
		var f tp.Features
		if err := f.Unmarshal(payload); err != nil {
			return z.fail(op, err)
		}
		z.features = f
		z.link.broken = false
		return nil
	}
}

// errTHP is the error for devices that speak only the new protocol.
var errTHP = errors.New("this Trezor speaks only the Trezor-Host Protocol (THP: Trezor Safe 7 and newer firmware), which countersign does not support yet; use Trezor Suite with it for now")

// name is how errors and prompts refer to the device: "trezor 1a2b3c4d".
func (z *Trezor) name() string {
	if z.hasFP {
		return "trezor " + hex.EncodeToString(z.fp[:])
	}
	if z.opts.Endpoint.Path != "" {
		return "trezor at " + z.opts.Endpoint.Path
	}
	if z.features.Label != "" {
		return fmt.Sprintf("trezor %q", z.features.Label)
	}
	return "trezor"
}

// FailureError is a Failure message from the device.
type FailureError struct {
	Code    uint32 // FailureType
	Message string
}

var failureNames = map[uint32]string{
	tp.FailureUnexpectedMessage: "UnexpectedMessage", tp.FailureButtonExpected: "ButtonExpected",
	tp.FailureDataError: "DataError", tp.FailureActionCancelled: "ActionCancelled",
	tp.FailurePinExpected: "PinExpected", tp.FailurePinCancelled: "PinCancelled",
	tp.FailurePinInvalid: "PinInvalid", tp.FailureInvalidSignature: "InvalidSignature",
	tp.FailureProcessError: "ProcessError", tp.FailureNotEnoughFunds: "NotEnoughFunds",
	tp.FailureNotInitialized: "NotInitialized", tp.FailurePinMismatch: "PinMismatch",
	tp.FailureWipeCodeMismatch: "WipeCodeMismatch", tp.FailureInvalidProtocol: "InvalidProtocol",
	tp.FailureFirmwareError: "FirmwareError",
}

func (e *FailureError) Error() string {
	name, ok := failureNames[e.Code]
	if !ok {
		name = fmt.Sprintf("code %d", e.Code)
	}
	if e.Message == "" {
		return "the device failed (" + name + ")"
	}
	return fmt.Sprintf("%s (%s)", e.Message, name)
}

// fail classifies err. Cancellation passes through unclassified, so Ctrl-C
// is not reported as a device fault.
func (z *Trezor) fail(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %s: %w", z.name(), op, err)
	}
	var already *hw.Error
	if errors.As(err, &already) {
		return err
	}
	kind := hw.ErrDevice
	var fe *FailureError
	if errors.As(err, &fe) {
		switch fe.Code {
		case tp.FailureActionCancelled:
			kind = hw.ErrRejected
			err = fmt.Errorf("cancelled on the device: %w", err)
		case tp.FailurePinInvalid:
			kind = hw.ErrLocked
			err = fmt.Errorf("wrong PIN: %w; enter the positions of the PIN's digits on the grid the Trezor shows (each wrong PIN makes the next try wait longer)", err)
		case tp.FailurePinCancelled:
			kind = hw.ErrLocked
			err = fmt.Errorf("PIN entry cancelled: %w", err)
		}
	}
	return &hw.Error{Device: z.name(), Op: op, Kind: kind, Err: err}
}

// Features returns the device's Features as last read.
func (z *Trezor) Features() tp.Features {
	return z.features
}

// Stats returns the traffic so far.
func (z *Trezor) Stats() Stats {
	return z.link.stats.clone()
}

// Info describes the device as of its last Features.
func (z *Trezor) Info() hw.DeviceInfo {
	info := hw.DeviceInfo{
		Type:      "trezor",
		Model:     modelName(z.features.Model),
		Path:      z.opts.Endpoint.Path,
		Transport: z.opts.Endpoint.Transport,
		Emulator:  z.opts.Endpoint.Emulator,
	}
	if z.hasFP {
		info.Fingerprint = hex.EncodeToString(z.fp[:])
	}
	return info
}

func modelName(m string) string {
	switch m {
	case "":
		return "Trezor"
	case "1":
		return "Trezor One"
	case "T":
		return "Trezor Model T"
	}
	if strings.HasPrefix(strings.ToLower(m), "trezor") {
		return m
	}
	return "Trezor " + m
}

// Fingerprint returns the master key fingerprint. It may ask for the PIN
// and passphrase.
func (z *Trezor) Fingerprint(ctx context.Context) ([4]byte, error) {
	return z.fingerprint(ctx)
}

func (z *Trezor) fingerprint(ctx context.Context) ([4]byte, error) {
	const op = "read the fingerprint"
	if z.hasFP {
		return z.fp, nil
	}
	pk, err := z.publicKey(ctx, op, []uint32{hdkeychain.HardenedKeyStart}, "Bitcoin")
	if err != nil {
		return [4]byte{}, err
	}
	if pk.Node.Depth != 1 || pk.Node.ChildNum != hdkeychain.HardenedKeyStart {
		return [4]byte{}, z.fail(op, fmt.Errorf("the device returned a node at depth %d, child %d for m/0'", pk.Node.Depth, pk.Node.ChildNum))
	}
	if pk.RootFingerprint != nil && *pk.RootFingerprint != pk.Node.Fingerprint {
		return [4]byte{}, z.fail(op, fmt.Errorf("the device reports root fingerprint %08x but m/0' has parent fingerprint %08x", *pk.RootFingerprint, pk.Node.Fingerprint))
	}
	binary.BigEndian.PutUint32(z.fp[:], pk.Node.Fingerprint)
	z.hasFP = true
	return z.fp, nil
}

// publicKey runs GetPublicKey.
func (z *Trezor) publicKey(ctx context.Context, op string, path []uint32, coin string) (*tp.PublicKey, error) {
	typ, payload, err := z.call(ctx, &tp.GetPublicKey{AddressN: path, CoinName: coin}, "")
	if err != nil {
		return nil, z.fail(op, err)
	}
	if typ != tp.TypePublicKey {
		return nil, z.fail(op, fmt.Errorf("the device answered GetPublicKey with %s, expected PublicKey", typ))
	}
	var pk tp.PublicKey
	if err := pk.Unmarshal(payload); err != nil {
		return nil, z.fail(op, err)
	}
	if !pk.HasNode {
		return nil, z.fail(op, errors.New("the device's PublicKey has no node"))
	}
	if len(pk.Node.PublicKey) != 33 || len(pk.Node.ChainCode) != 32 {
		return nil, z.fail(op, errors.New("the device's PublicKey node has a malformed key or chain code"))
	}
	if _, err := btcec.ParsePubKey(pk.Node.PublicKey); err != nil {
		return nil, z.fail(op, fmt.Errorf("the device's public key is invalid: %w", err))
	}
	return &pk, nil
}

// coinForPath picks the coin whose xpub version fits path: testnet keys
// (coin type 1') as tpub, everything else as xpub.
func coinForPath(path []uint32) (string, *chaincfg.Params) {
	if len(path) >= 2 && path[1] == 1+hdkeychain.HardenedKeyStart {
		return "Testnet", &chaincfg.TestNet3Params
	}
	return "Bitcoin", &chaincfg.MainNetParams
}

// Xpub returns the extended public key at path. Paths with coin type 1'
// (BIP-44/48 testnet) come back as tpub, others as xpub.
func (z *Trezor) Xpub(ctx context.Context, path descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	const op = "read xpub"
	if len(path) > 255 {
		return nil, z.fail(op, fmt.Errorf("path of %d levels is too deep", len(path)))
	}
	coin, params := coinForPath(path)
	pk, err := z.publicKey(ctx, op, path, coin)
	if err != nil {
		return nil, err
	}
	n := pk.Node
	if int(n.Depth) != len(path) || len(path) > 0 && n.ChildNum != path[len(path)-1] {
		return nil, z.fail(op, fmt.Errorf("the device returned a key at depth %d, child %d for %s", n.Depth, n.ChildNum, path))
	}
	var parent [4]byte
	binary.BigEndian.PutUint32(parent[:], n.Fingerprint)
	k := hdkeychain.NewExtendedKey(params.HDPublicKeyID[:], n.PublicKey, n.ChainCode, parent[:], uint8(n.Depth), n.ChildNum, false)
	if pk.Xpub != "" {
		// The serialized form must describe the same key.
		x, err := hdkeychain.NewKeyFromString(pk.Xpub)
		if err != nil {
			return nil, z.fail(op, fmt.Errorf("the device's xpub does not parse: %w", err))
		}
		xp, _ := x.ECPubKey()
		if xp == nil || string(xp.SerializeCompressed()) != string(n.PublicKey) || string(x.ChainCode()) != string(n.ChainCode) || x.Depth() != uint8(n.Depth) || x.ChildIndex() != n.ChildNum {
			return nil, z.fail(op, errors.New("the device's xpub and node disagree"))
		}
	}
	if len(path) == 1 && z.hasFP && n.Fingerprint != binary.BigEndian.Uint32(z.fp[:]) {
		return nil, z.fail(op, fmt.Errorf("the key's parent is %08x, not this device's master %x: was another seed or passphrase selected?", n.Fingerprint, z.fp))
	}
	return k, nil
}

// Register checks that a Trezor can use the wallet and returns nil: a
// Trezor needs no registration, since every request carries the whole
// multisig description.
func (z *Trezor) Register(ctx context.Context, w *hw.Wallet) ([]byte, error) {
	if _, err := newWalletView(w.Descriptor, w.Network); err != nil {
		return nil, &hw.Error{Device: z.name(), Op: "register wallet", Kind: hw.ErrUnsupported, Err: err}
	}
	return nil, nil
}

// DisplayAddress shows the wallet's address at (branch, index) on the
// device and returns it, after checking it against the address countersign
// derives.
func (z *Trezor) DisplayAddress(ctx context.Context, wal *hw.Wallet, branch, index uint32) (string, error) {
	const op = "show address"
	w, err := newWalletView(wal.Descriptor, wal.Network)
	if err != nil {
		return "", &hw.Error{Device: z.name(), Op: op, Kind: hw.ErrUnsupported, Err: err}
	}
	der, err := w.derive(branch, index)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", z.name(), op, err)
	}
	fp, err := z.fingerprint(ctx)
	if err != nil {
		return "", err
	}
	own := -1
	for i, k := range der.Keys {
		if k.Fingerprint == fp {
			own = i
			break
		}
	}
	if own < 0 {
		return "", z.fail(op, fmt.Errorf("none of the wallet's keys has this Trezor's fingerprint %x (wrong device, or another passphrase?)", fp))
	}
	ms, err := w.multisig(der)
	if err != nil {
		return "", z.fail(op, err)
	}
	which := [2]string{"receive", "change"}[min(branch, 1)]
	prompt := fmt.Sprintf("Check that your %s shows %s for wallet %q (%s address %d), then confirm on the device.", z.name(), der.Address, wal.Name, which, index)
	typ, payload, err := z.call(ctx, &tp.GetAddress{
		AddressN: der.Keys[own].Path, CoinName: w.coin, ShowDisplay: true, Multisig: ms, ScriptType: w.inType,
	}, prompt)
	if err != nil {
		return "", z.fail(op, err)
	}
	if typ != tp.TypeAddress {
		return "", z.fail(op, fmt.Errorf("the device answered GetAddress with %s, expected Address", typ))
	}
	var a tp.Address
	if err := a.Unmarshal(payload); err != nil {
		return "", z.fail(op, err)
	}
	if a.Address != der.Address {
		return "", z.fail(op, fmt.Errorf("the Trezor computed %s but the wallet derives %s at %d/%d: do not use either until you find out why", a.Address, der.Address, branch, index))
	}
	return a.Address, nil
}

// Close releases the transport.
func (z *Trezor) Close() error {
	z.closeOnce.Do(func() { z.closeErr = z.link.t.Close() })
	return z.closeErr
}

// DriverOptions configure the driver the registry uses.
type DriverOptions struct {
	PIN          PINFunc
	Passphrase   PassphraseFunc
	ReplyTimeout time.Duration
}

// Driver describes the Trezor family for hw.NewRegistry with no PIN or
// passphrase entry: a locked device is reported with instructions.
func Driver() hw.Driver { return NewDriver(DriverOptions{}) }

// NewDriver describes the Trezor family for hw.NewRegistry: its USB IDs,
// the emulator's UDP endpoint (COUNTERSIGN_TREZOR_EMULATOR, default
// 127.0.0.1:21324) and how to open each.
func NewDriver(o DriverOptions) hw.Driver {
	return hw.Driver{
		Type: "trezor",
		USB: []hw.USBID{
			{VendorID: VendorIDOne, ProductID: ProductIDOne},
			{VendorID: VendorIDWebUSB, ProductID: ProductIDWebUSB},
			{VendorID: VendorIDWebUSB, ProductID: ProductIDBootloader},
		},
		Emulator: &hw.EmulatorEndpoint{Transport: "udp", Env: EnvEmulator, Default: defaultEmulatorAddr},
		MatchHID: func(h transport.HIDInfo) bool { return isWireInterface(&h) },
		Extra:    webUSBEndpoints,
		Open: func(ctx context.Context, ep hw.Endpoint, prompt hw.Prompter) (hw.Device, error) {
			opts := Options{Prompt: prompt, PIN: o.PIN, Passphrase: o.Passphrase, ReplyTimeout: o.ReplyTimeout, Endpoint: ep}
			t, err := openEndpoint(ctx, ep)
			if err != nil {
				return nil, &hw.Error{Device: "trezor at " + ep.Path, Op: "open", Kind: hw.ErrDevice, Err: err}
			}
			z, err := Open(ctx, t, opts)
			if err != nil {
				return nil, err
			}
			return z, nil
		},
	}
}

// webUSBEndpoints lists the WebUSB Trezors (every model since firmware 1.8),
// which HID enumeration does not see. A build without USB support says so
// once, through HID enumeration; it is not repeated here.
func webUSBEndpoints() ([]hw.Endpoint, error) {
	infos, err := EnumerateWebUSB()
	if errors.Is(err, transport.ErrNoUSB) {
		return nil, nil
	}
	// libusb cannot start where the system has no USB bus at all (a
	// container, a CI runner): there is nothing attached to list, and HID
	// enumeration, which does not need libusb, already covers the rest.
	if err != nil && strings.Contains(err.Error(), "failed to initialize libusb") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	eps := make([]hw.Endpoint, 0, len(infos))
	for _, i := range infos {
		eps = append(eps, hw.Endpoint{Transport: "webusb", Path: i.Path})
	}
	return eps, nil
}

// openEndpoint connects the transport an endpoint names.
func openEndpoint(ctx context.Context, ep hw.Endpoint) (transport.Transport, error) {
	switch ep.Transport {
	case "hid":
		if h := ep.HID; h != nil && !isWireInterface(h) {
			return nil, fmt.Errorf("USB interface %d (usage page 0x%04x) is the Trezor's U2F or debug interface, not its wallet interface", h.Interface, h.UsagePage)
		}
		return transport.OpenHID(ep.Path)
	case "webusb":
		return OpenWebUSB(ep.Path)
	case "udp":
		u, err := transport.DialUDP(ctx, ep.Path)
		if err != nil {
			return nil, err
		}
		if err := pingEmulator(ctx, u, emulatorProbeTimeout); err != nil {
			u.Close()
			return nil, err
		}
		return u, nil
	}
	return nil, fmt.Errorf("a Trezor cannot be reached over %q", ep.Transport)
}

// isWireInterface tells the Trezor One's wallet HID interface from its U2F
// and debug-link interfaces (trezorlib transport/hid.py, is_wirelink).
func isWireInterface(h *transport.HIDInfo) bool {
	if h.UsagePage != 0 {
		return h.UsagePage == usagePageWire
	}
	return h.Interface == wireInterfaceNumber || h.Interface < 0
}

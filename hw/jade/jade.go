// Package jade drives Blockstream Jade hardware wallets over their CBOR-RPC
// protocol (Blockstream/Jade@cfce08ce, docs/index.rst; the firmware's
// main/process/*.c; jadepy/jade.py read for how a host frames requests),
// on a USB serial port (115200 baud; Jade 1 behind a CP210x or CH9102
// bridge, Jade Plus on its own USB CDC interface) or on TCP, where the
// vendor's QEMU image and countersign's emulator (hw/emulator/jade) listen,
// 127.0.0.1:30121 by default.
//
// The package has three layers:
//
//   - frame.go: CBOR items read off the byte stream by their structure
//     (there is no length prefix), checked as replies;
//   - rpc.go: requests with ids and their replies, including results the
//     device sends in pieces (get_extended_data);
//   - this file, pin.go, multisig.go and sign.go: the hw.Device methods.
//
// What the adapter does with the device:
//
//   - Open: get_version_info (nonblocking, so a busy device still answers);
//     when the device is unlocked for this connection (JADE_STATE READY),
//     the fingerprint is read too, without a prompt. A device without a
//     wallet, or locked with no PIN relay to unlock it, fails to open with
//     an hw.ErrLocked error that says why (so `device list` shows it).
//   - Unlocking: auth_user. A Jade with a PIN checks it with Blockstream's
//     blind PIN server, which the device cannot reach itself: it answers
//     auth_user with an http_request for the host to relay (pin.go). The
//     relay needs Options.PINRelay; without it a locked Jade is an
//     hw.ErrLocked error that says so.
//   - Fingerprint: get_xpub of the master (empty path); the fingerprint is
//     the first four bytes of HASH160 of its public key.
//   - Xpub: get_xpub.
//   - Register: register_multisig with the wallet's record (multisig.go);
//     the device shows it for confirmation. No token.
//   - DisplayAddress: get_registered_multisig first (the record of that
//     name must be this wallet: else hw.ErrNotRegistered), then
//     get_receive_address with the record's name and each cosigner's path
//     after its xpub; the device shows the address for confirmation.
//   - SignPSBT: the same registration check (a Jade signs for an
//     unregistered multisig too, but then cannot recognise its change and
//     shows it as a payment), then sign_psbt; the signed PSBT comes back in
//     pieces.
package jade

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
)

// DefaultReplyTimeout bounds the wait for a reply that needs no user
// action.
const DefaultReplyTimeout = 10 * time.Second

// Options tune a Jade connection. The zero value works; without PINRelay a
// locked Jade is reported, not unlocked.
type Options struct {
	// Prompt receives the instructions shown while the device waits for
	// the user.
	Prompt hw.Prompter
	// PINRelay is the HTTP client that relays the device's PIN-server
	// requests. Nil means countersign makes no network request for the
	// device: a locked Jade is an hw.ErrLocked error.
	PINRelay *http.Client
	// ReplyTimeout bounds one reply that needs no user action.
	ReplyTimeout time.Duration
	// Endpoint records where the device was opened, for Info and messages.
	Endpoint hw.Endpoint
	// Network is the network countersign works on (the --network flag),
	// when known. Unlocking names a network and ties a wallet not yet tied
	// to one (JADE_NETWORKS "ALL") to its type, so without it such a
	// device is not unlocked for a request that names none.
	Network *chaincfg.Params
	// Now gives auth_user's epoch (the device's clock); time.Now when nil.
	Now func() time.Time
}

// VersionInfo is the part of get_version_info the driver reads.
type VersionInfo struct {
	Version  string `cbor:"JADE_VERSION"`
	Board    string `cbor:"BOARD_TYPE"`
	Config   string `cbor:"JADE_CONFIG"`
	State    string `cbor:"JADE_STATE"`    // READY, LOCKED, TEMP, UNSAVED, UNINIT
	Networks string `cbor:"JADE_NETWORKS"` // MAIN, TEST, ALL
	HasPIN   bool   `cbor:"JADE_HAS_PIN"`
}

// Jade is one open Jade, the hw.Device of this driver. Calls must not
// overlap; the hw.Signer adapter takes turns for them.
type Jade struct {
	opts  Options
	link  *link
	info  VersionInfo
	fp    [4]byte
	hasFP bool
	ready bool

	closeOnce sync.Once
	closeErr  error
}

var _ hw.Device = (*Jade)(nil)

// Open starts talking to the Jade on conn. On failure conn is closed.
func Open(ctx context.Context, conn io.ReadWriteCloser, opts Options) (*Jade, error) {
	if opts.ReplyTimeout <= 0 {
		opts.ReplyTimeout = DefaultReplyTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	j := &Jade{opts: opts, link: newLink(conn)}
	if err := j.versionInfo(ctx); err != nil {
		j.Close()
		return nil, err
	}
	// A device that cannot be unlocked from here is listed with the
	// reason, rather than as a device every request would fail on.
	if s := j.info.State; s == "UNINIT" || (s == "LOCKED" || s == "UNSAVED") && opts.PINRelay == nil {
		err := j.fail("open", j.stateError())
		j.Close()
		return nil, err
	}
	if j.info.State == "READY" {
		if _, err := j.Fingerprint(ctx); err != nil {
			j.Close()
			return nil, err
		}
	}
	return j, nil
}

// versionInfo refreshes the device's state.
func (j *Jade) versionInfo(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, j.opts.ReplyTimeout)
	defer cancel()
	var info VersionInfo
	if err := j.link.callInto(rctx, "get_version_info", map[string]any{"nonblocking": true}, &info); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no reply to get_version_info within %s: is this a Jade? %w", j.opts.ReplyTimeout, err)
		}
		return j.fail("read the device's version", err)
	}
	j.info = info
	j.ready = info.State == "READY"
	return nil
}

// VersionInfo is the device's description as last read.
func (j *Jade) VersionInfo() VersionInfo { return j.info }

// Stats returns the traffic so far.
func (j *Jade) Stats() Stats { return j.link.snapshot() }

// name is how errors and prompts refer to the device.
func (j *Jade) name() string {
	if j.hasFP {
		return "jade " + hex.EncodeToString(j.fp[:])
	}
	if j.opts.Endpoint.Path != "" {
		return "jade at " + j.opts.Endpoint.Path
	}
	return "jade"
}

// boardNames are the BOARD_TYPE values of Blockstream's hardware
// (main/process/ota_defines.h); the firmware also runs on DIY boards.
var boardNames = map[string]string{
	"JADE": "Jade", "JADE_V1.1": "Jade", "JADE_V2": "Jade Plus", "JADE_V2C": "Jade Core", "QEMU": "Jade (QEMU)",
}

// Info describes the device without prompting.
func (j *Jade) Info() hw.DeviceInfo {
	model, ok := boardNames[j.info.Board]
	if !ok {
		model = "Jade firmware on " + j.info.Board
	}
	model = "Blockstream " + model
	if j.info.Version != "" {
		model += " " + j.info.Version
	}
	switch j.info.State {
	case "LOCKED":
		model += " (locked)"
	case "UNINIT":
		model += " (no wallet)"
	}
	info := hw.DeviceInfo{
		Type: "jade", Model: model, Path: j.opts.Endpoint.Path,
		Transport: j.opts.Endpoint.Transport, Emulator: j.opts.Endpoint.Emulator,
	}
	if j.hasFP {
		info.Fingerprint = hex.EncodeToString(j.fp[:])
	}
	return info
}

func (j *Jade) prompt(msg string) { j.opts.Prompt.Prompt(msg) }

// withReply bounds a call that needs no user action.
func (j *Jade) withReply(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, j.opts.ReplyTimeout)
}

// defaultNetwork is the network to name when the request has none: the
// one the device's wallet is tied to, else the configured one, else the
// one a BIP-44/48 path's coin type names (1' is the test networks). ""
// when none applies.
func (j *Jade) defaultNetwork(path []uint32) string {
	switch j.info.Networks {
	case "TEST":
		return "testnet"
	case "MAIN":
		return "mainnet"
	}
	if j.opts.Network != nil {
		if n, err := networkName(j.opts.Network); err == nil {
			return n
		}
	}
	if len(path) >= 2 {
		if path[1] == 1+hdkeychain.HardenedKeyStart {
			return "testnet"
		}
		if path[1] == hdkeychain.HardenedKeyStart {
			return "mainnet"
		}
	}
	return ""
}

// Fingerprint returns the master key fingerprint, unlocking the device
// first when needed.
func (j *Jade) Fingerprint(ctx context.Context) ([4]byte, error) {
	const op = "read the master fingerprint"
	if j.hasFP {
		return j.fp, nil
	}
	network := j.defaultNetwork(nil)
	if err := j.unlock(ctx, network); err != nil {
		return [4]byte{}, err
	}
	if network == "" {
		network = "mainnet" // unlocked already: the name only picks xpub or tpub
	}
	k, err := j.getXpub(ctx, network, nil)
	if err != nil {
		return [4]byte{}, j.fail(op, err)
	}
	if k.Depth() != 0 {
		return [4]byte{}, j.fail(op, fmt.Errorf("the Jade returned a key at depth %d for the master", k.Depth()))
	}
	pub, err := k.ECPubKey()
	if err != nil {
		return [4]byte{}, j.fail(op, err)
	}
	copy(j.fp[:], btcutil.Hash160(pub.SerializeCompressed()))
	j.hasFP = true
	return j.fp, nil
}

// getXpub runs get_xpub and parses the key.
func (j *Jade) getXpub(ctx context.Context, network string, path []uint32) (*hdkeychain.ExtendedKey, error) {
	if len(path) > maxPathLen {
		return nil, hw.Errorf(hw.ErrUnsupported, "a Jade derives at most %d steps; %s has %d", maxPathLen, descriptor.Path(path), len(path))
	}
	if path == nil {
		path = []uint32{}
	}
	rctx, cancel := j.withReply(ctx)
	defer cancel()
	var s string
	if err := j.link.callInto(rctx, "get_xpub", map[string]any{"network": network, "path": path}, &s); err != nil {
		return nil, err
	}
	k, err := hdkeychain.NewKeyFromString(s)
	if err != nil {
		return nil, fmt.Errorf("the Jade returned %q, not an xpub: %w", s, err)
	}
	if k.IsPrivate() {
		return nil, errors.New("the Jade returned a private key")
	}
	return k, nil
}

// Xpub returns the extended public key at path: a tpub on a Jade tied to
// the test networks, or for a path with coin type 1'; else an xpub.
func (j *Jade) Xpub(ctx context.Context, path descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	const op = "read xpub"
	network := j.defaultNetwork(path)
	if err := j.unlock(ctx, network); err != nil {
		return nil, err
	}
	if network == "" {
		network = "mainnet"
	}
	k, err := j.getXpub(ctx, network, path)
	if err != nil {
		return nil, j.fail(op, err)
	}
	if int(k.Depth()) != len(path) || len(path) > 0 && k.ChildIndex() != path[len(path)-1] {
		return nil, j.fail(op, fmt.Errorf("the Jade returned a key at depth %d, child %d for %s", k.Depth(), k.ChildIndex(), path))
	}
	return k, nil
}

// Register enrols the wallet: the device shows the record and the user
// confirms. It returns no token.
func (j *Jade) Register(ctx context.Context, w *hw.Wallet) ([]byte, error) {
	const op = "register wallet"
	r, err := newRecord(w)
	if err != nil {
		return nil, j.fail(op, err)
	}
	if err := j.unlock(ctx, r.network); err != nil {
		return nil, err
	}
	named := ""
	if r.name != w.Name {
		named = fmt.Sprintf(" as %q (a Jade's names are at most 15 plain characters)", r.name)
	}
	j.prompt(fmt.Sprintf("Check on your %s the wallet %q%s: %d of %d, %s; then confirm it.",
		j.name(), w.Name, named, r.desc.Threshold, len(r.desc.Signers), r.desc.Variant))
	var ok bool
	if err := j.link.callInto(ctx, "register_multisig", r.params(), &ok); err != nil {
		return nil, j.fail(op, err)
	}
	if !ok {
		return nil, j.fail(op, errors.New("the Jade did not register the wallet"))
	}
	return nil, nil
}

// checkRegistered makes sure the record of r's name on the device is this
// wallet. Firmware before 1.0.23 keeps no signer details; there the
// summary of get_registered_multisigs is compared.
func (j *Jade) checkRegistered(ctx context.Context, r *record, w *hw.Wallet) error {
	rctx, cancel := j.withReply(ctx)
	defer cancel()
	var got registered
	err := j.link.callInto(rctx, "get_registered_multisig", map[string]any{"multisig_name": r.name}, &got)
	var re *RPCError
	switch {
	case err == nil:
		if why := r.differs(&got); why != "" {
			return hw.Errorf(hw.ErrNotRegistered, "the Jade holds another wallet under the name %q (%s): register wallet %q again (it replaces that record)", r.name, why, w.Name)
		}
		return nil
	case errors.As(err, &re) && re.Code == CodeUnknownMethod,
		errors.As(err, &re) && re.Message == "Named multisig too old include detailed signer data":
		var all map[string]summary
		if err := j.link.callInto(rctx, "get_registered_multisigs", nil, &all); err != nil {
			return err
		}
		s, ok := all[r.name]
		if !ok {
			break
		}
		if why := r.differsSummary(s); why != "" {
			return hw.Errorf(hw.ErrNotRegistered, "the Jade holds another wallet under the name %q (%s): register wallet %q again", r.name, why, w.Name)
		}
		return nil
	case errors.As(err, &re) && kindIs(re, hw.ErrNotRegistered):
	default:
		return err
	}
	return hw.Errorf(hw.ErrNotRegistered, "wallet %q is not registered on this Jade (it would be named %q there)", w.Name, r.name)
}

func kindIs(re *RPCError, kind error) bool {
	_, k := kindOf(re)
	return k == kind
}

// DisplayAddress shows the wallet's address at (branch, index) on the
// device and returns what the device computed.
func (j *Jade) DisplayAddress(ctx context.Context, w *hw.Wallet, branch, index uint32) (string, error) {
	const op = "show address"
	r, err := newRecord(w)
	if err != nil {
		return "", j.fail(op, err)
	}
	paths, err := r.paths(w, branch, index)
	if err != nil {
		return "", j.fail(op, err)
	}
	der, err := w.Descriptor.Multipath().Derive(branch, index, w.Network)
	if err != nil {
		return "", err
	}
	if err := j.unlock(ctx, r.network); err != nil {
		return "", err
	}
	if err := j.checkRegistered(ctx, r, w); err != nil {
		return "", j.fail(op, err)
	}
	which := [2]string{"receive", "change"}[min(branch, 1)]
	j.prompt(fmt.Sprintf("Check that your %s shows %s for wallet %q (%s address %d), then confirm on the device.", j.name(), der.Address, w.Name, which, index))
	var addr string
	if err := j.link.callInto(ctx, "get_receive_address", map[string]any{"network": r.network, "multisig_name": r.name, "paths": paths}, &addr); err != nil {
		return "", j.fail(op, err)
	}
	return addr, nil
}

// Close releases the connection.
func (j *Jade) Close() error {
	j.closeOnce.Do(func() { j.closeErr = j.link.close() })
	return j.closeErr
}

// stateError explains a device that cannot be used as it is.
func (j *Jade) stateError() error {
	switch j.info.State {
	case "UNINIT":
		return hw.Errorf(hw.ErrLocked, "this Jade has no wallet yet: set it up with Blockstream's app first")
	case "LOCKED", "UNSAVED":
		what := "is locked"
		if j.info.State == "UNSAVED" {
			what = "has a wallet that is not saved with a PIN yet"
		}
		return hw.Errorf(hw.ErrLocked, "this Jade %s. A Jade checks its PIN with Blockstream's blind PIN server, over the network, through the computer it is plugged into: "+
			"unlocking needs a network-connected host. Let countersign relay it (COUNTERSIGN_JADE_PIN_RELAY=1), or unlock the Jade in Blockstream's app and keep it plugged in", what)
	}
	return nil
}

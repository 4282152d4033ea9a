// Package ledger drives the Ledger Bitcoin app (version 2.1.0 and later)
// over its wallet-policy protocol (doc/bitcoin.md, doc/wallet.md and
// doc/merkle.md of LedgerHQ/app-bitcoin-new), natively in Go: over USB HID
// to a Ledger device, and over TCP to Speculos or countersign's emulator.
//
// The package has three layers, each in its own files:
//
//   - frame.go: the transports. HID frames (64-byte reports on channel
//     0x0101, tag 0x05, sequence numbers, the first report carrying the
//     message length) and Speculos's APDU socket (4-byte length prefix; the
//     response length counts the data but not the status word that follows).
//   - apdu.go, interpreter.go, merkle.go, policy.go, psbtv2.go: one builder
//     per command, status words as typed errors, and the host side of the
//     app's client commands (GET_PREIMAGE, GET_MERKLE_LEAF_PROOF,
//     GET_MERKLE_LEAF_INDEX, GET_MORE_ELEMENTS, YIELD), answered from Merkle
//     trees built once per command.
//   - this file and sign.go: the hw.Signer adapter.
//
// What the adapter does with the device:
//
//   - Open: GET_VERSION tells which app runs. The dashboard, another app,
//     the legacy Bitcoin app and versions before 2.1.0 are refused with a
//     message that says what to open or update. GET_MASTER_FINGERPRINT
//     follows; it needs no confirmation.
//   - Xpub: GET_EXTENDED_PUBKEY, silently for the paths the app exports
//     without asking (BIP-44/45/48/49/84/86 accounts of the app's coin
//     type), else shown on the device for the user to approve.
//   - Register: REGISTER_WALLET with the wallet policy made from the
//     descriptor (wsh(sortedmulti(2,@0/**,@1/**,@2/**)) and the sh and
//     sh(wsh()) forms; wsh(MINISCRIPT); tr() with pk/multi_a/sortedmulti_a
//     leaves and musig() key expressions; keys as [fpr/48'/1'/0'/2']tpub...).
//     A policy the running app version cannot take is refused naming the
//     version that added it. It returns the device's 32-byte HMAC, the
//     token the caller stores. Like Ledger's own clients, it then checks
//     the first receive address against the descriptor.
//   - DisplayAddress: GET_WALLET_ADDRESS with display, checked against the
//     address countersign derives.
//   - Sign: SIGN_PSBT with the PSBT converted to version 2 and merkleized;
//     the signatures the app yields are verified (BIP-143, legacy or
//     BIP-341 sighash, the signing key in the input's script or leaf and
//     among this device's derivations) before they are added as partial
//     signatures or BIP-371 taproot signatures. For a musig() wallet the
//     Ledger also takes part in the MuSig2 key path (app 2.4.x): a call
//     without its nonce in the PSBT runs round 1 and adds its public
//     nonces, a call with every participant's nonce runs round 2 and adds
//     its partial signatures, as BIP-373 records (musig.go).
//
// The app keeps no registrations: DisplayAddress and Sign need the HMAC
// that Register returned. A Ledger remembers the HMACs of the wallets it
// registered in this session; for any other wallet the caller hands the
// stored token over with UseToken (the TokenUser interface) before calling
// them. Without one they fail with hw.ErrNotRegistered, as they do when the
// device refuses the HMAC (status 0xB008).
package ledger

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/transport"
)

// VendorID is Ledger's USB vendor ID; every model and app shares it.
const VendorID = 0x2c97

// Speculos endpoint defaults: Speculos's APDU port.
const (
	DefaultSpeculosAddr = "127.0.0.1:9999"
	EnvSpeculos         = "COUNTERSIGN_LEDGER_SPECULOS"
)

// DefaultReplyTimeout bounds an exchange that needs no decision from the
// user.
const DefaultReplyTimeout = 10 * time.Second

// minAppVersion is the first Bitcoin app version with the wallet-policy
// protocol this package speaks.
var minAppVersion = semver{2, 1, 0}

// App names GET_VERSION reports.
const (
	appBitcoin     = "Bitcoin"
	appBitcoinTest = "Bitcoin Test"
	appDashboard   = "BOLOS"
)

// Options tune a Ledger connection. The zero value is ready to use.
type Options struct {
	// Prompt receives the instructions shown while the device waits for
	// the user.
	Prompt hw.Prompter
	// ReplyTimeout bounds one exchange that needs no decision from the
	// user. Exchanges the user may be deciding on wait as long as ctx
	// allows.
	ReplyTimeout time.Duration
	// Endpoint records where the device was opened, for Info.
	Endpoint hw.Endpoint
	// Model names the hardware for Info ("Ledger Nano X"); the driver
	// fills it from the USB product ID.
	Model string
}

// Stats counts the traffic of a connection.
type Stats struct {
	APDUs         int // APDUs sent, CONTINUE included
	Continues     int // answers to client commands
	Yields        int
	Preimages     int
	Proofs        int // GET_MERKLE_LEAF_PROOF
	LeafIndexes   int // GET_MERKLE_LEAF_INDEX
	MoreElements  int // GET_MORE_ELEMENTS
	BytesSent     int // APDU bytes, before framing
	BytesReceived int // response bytes, status words included
}

// Ledger is one open Ledger running the Bitcoin app, the hw.Device of the
// Ledger driver. Calls must not overlap: the hw.Signer adapter takes turns
// for them.
type Ledger struct {
	opts Options
	link Link

	// Set by Open.
	app     appVersion
	ver     semver // app.Version, parsed
	mainnet bool
	xfp     [4]byte

	broken error                 // why the link can no longer be used
	regs   map[[32]byte][32]byte // wallet id -> HMAC, from Register in this session
	stats  Stats

	closeOnce sync.Once
	closeErr  error
}

var _ hw.Device = (*Ledger)(nil)

// Open identifies the app running on the Ledger at the other end of l and
// reads the master fingerprint. Nothing is shown on the device. On failure
// l is closed.
func Open(ctx context.Context, l Link, opts Options) (*Ledger, error) {
	if opts.ReplyTimeout <= 0 {
		opts.ReplyTimeout = DefaultReplyTimeout
	}
	d := &Ledger{opts: opts, link: l, regs: make(map[[32]byte][32]byte)}
	if err := d.identify(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return d, nil
}

// identify runs GET_VERSION and GET_MASTER_FINGERPRINT.
func (d *Ledger) identify(ctx context.Context) error {
	const op = "identify the running app"
	data, sw, err := d.exchange(ctx, reqGetVersion(), false)
	if err != nil {
		return d.fail(op, err)
	}
	switch sw {
	case swOK:
	case swLocked, swSecurityStatus:
		return d.failAs(op, hw.ErrLocked, errors.New("the Ledger is locked: unlock it with its PIN, open the Bitcoin app and try again"))
	default:
		return d.fail(op, &StatusError{Ins: "GET_VERSION", SW: sw})
	}
	app, err := parseAppVersion(data)
	if err != nil {
		return d.fail(op, err)
	}
	d.app = app
	switch app.Name {
	case appBitcoin:
		d.mainnet = true
	case appBitcoinTest:
		d.mainnet = false
	case appDashboard:
		return d.failAs(op, hw.ErrAppClosed, errors.New("the Ledger shows its dashboard: open the Bitcoin app on the Ledger (Bitcoin Test for testnet, signet and regtest)"))
	case "Bitcoin Legacy", "Bitcoin Test Legacy":
		return d.failAs(op, hw.ErrAppClosed, fmt.Errorf("the Ledger runs the %q app, which has no wallet policies: open the Bitcoin app (2.1.0 or later) instead", app.Name))
	default:
		return d.failAs(op, hw.ErrAppClosed, fmt.Errorf("the Ledger runs the %q app: open the Bitcoin app on the Ledger (Bitcoin Test for testnet, signet and regtest)", app.Name))
	}
	v, err := parseSemver(app.Version)
	if err != nil {
		return d.fail(op, fmt.Errorf("the %s app reports version %q: %w", app.Name, app.Version, err))
	}
	if v.Less(minAppVersion) {
		return d.fail(op, fmt.Errorf("the %s app is version %s: countersign needs 2.1.0 or later; update it with Ledger Live", app.Name, app.Version))
	}
	d.ver = v
	fp, err := d.command(ctx, insGetMasterFingerprint, reqGetMasterFingerprint(), nil, false)
	if err != nil {
		return d.fail("read the master fingerprint", err)
	}
	if len(fp) != 4 {
		return d.fail("read the master fingerprint", fmt.Errorf("reply of %d bytes, want 4", len(fp)))
	}
	copy(d.xfp[:], fp)
	return nil
}

// name is how errors and prompts refer to the device.
func (d *Ledger) name() string {
	if d.xfp != ([4]byte{}) {
		return "ledger " + hex.EncodeToString(d.xfp[:])
	}
	if d.opts.Endpoint.Path != "" {
		return "ledger at " + d.opts.Endpoint.Path
	}
	return "ledger"
}

// registerHint tells the user how to get an HMAC.
func (d *Ledger) registerHint(name string) string {
	if name == "" {
		name = "NAME"
	}
	return fmt.Sprintf("register this wallet on the Ledger first: countersign device register %s --with ledger:%s", name, hex.EncodeToString(d.xfp[:]))
}

// fail classifies err. Cancellation passes through unclassified, so Ctrl-C
// is not reported as a device fault.
func (d *Ledger) fail(op string, err error) error {
	return d.failWallet(op, "", err)
}

// failWallet is fail for operations on the wallet called name.
func (d *Ledger) failWallet(op, name string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %s: %w", d.name(), op, err)
	}
	kind := hw.ErrDevice
	var se *StatusError
	if errors.As(err, &se) {
		switch {
		case se.SW == swDeny:
			kind = hw.ErrRejected
			err = fmt.Errorf("refused on the device (%w)", err)
		case se.SW == swSignatureFail && (se.Ins == insSignPSBT.String() || se.Ins == insGetWalletAddress.String()):
			kind = hw.ErrNotRegistered
			err = fmt.Errorf("the Ledger does not accept this wallet's registration (wrong or stale HMAC; %w): %s", err, d.registerHint(name))
		case se.SW == swIncorrectData && se.Ins == insSignPSBT.String() && se.HasCode && se.Code == ecSignPSBTMissingHMAC:
			kind = hw.ErrNotRegistered
			err = fmt.Errorf("%w: %s", err, d.registerHint(name))
		case se.SW == swLocked || se.SW == swSecurityStatus:
			kind = hw.ErrLocked
			err = fmt.Errorf("the Ledger is locked: unlock it with its PIN and open the Bitcoin app (%w)", err)
		case se.SW == swClaNotSupported || se.SW == swInsNotSupported || se.SW == swAppNotOpen1 || se.SW == swAppNotOpen2 || se.SW == swAppNotOpen3:
			kind = hw.ErrAppClosed
			err = fmt.Errorf("the Bitcoin app is no longer open: open the Bitcoin app on the Ledger (%w)", err)
		}
	}
	return d.failAs(op, kind, err)
}

// failAs reports err as a failure of the given kind.
func (d *Ledger) failAs(op string, kind, err error) error {
	return &hw.Error{Device: d.name(), Op: op, Kind: kind, Err: err}
}

// notRegistered is the error for a wallet without an HMAC.
func (d *Ledger) notRegistered(op, name string) error {
	return d.failAs(op, hw.ErrNotRegistered, fmt.Errorf("no registration (HMAC) for wallet %q on this Ledger: %s", name, d.registerHint(name)))
}

// exchange sends one APDU. An exchange the user is not deciding on is
// bounded by ReplyTimeout.
func (d *Ledger) exchange(ctx context.Context, apdu []byte, userWait bool) ([]byte, uint16, error) {
	if !userWait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.opts.ReplyTimeout)
		defer cancel()
	}
	d.stats.APDUs++
	d.stats.BytesSent += len(apdu)
	data, sw, err := d.link.Exchange(ctx, apdu)
	if err == nil {
		d.stats.BytesReceived += len(data) + 2
	}
	return data, sw, err
}

// command runs one app command to its end, answering the client commands
// the app interrupts it with from it. A transport failure or cancellation
// in the middle leaves the app inside the command, so the link is marked
// unusable.
func (d *Ledger) command(ctx context.Context, in ins, req []byte, it *interpreter, userWait bool) ([]byte, error) {
	if d.broken != nil {
		return nil, d.broken
	}
	data, sw, err := d.exchange(ctx, req, userWait)
	for err == nil && sw == swInterrupted {
		if it == nil {
			d.abort(ctx)
			return nil, fmt.Errorf("%s: the app asked for data (client command %x) that this command does not provide", in, data)
		}
		resp, cerr := it.execute(data)
		d.countClientCommand(data)
		if cerr != nil {
			d.abort(ctx)
			return nil, fmt.Errorf("%s: %w", in, cerr)
		}
		d.stats.Continues++
		data, sw, err = d.exchange(ctx, reqContinue(resp), userWait)
	}
	if err != nil {
		d.broken = fmt.Errorf("the connection to the Ledger broke off during %s (%v): close it, reconnect the Ledger and try again", in, err)
		return nil, err
	}
	if sw != swOK {
		return nil, newStatusError(in, sw, data)
	}
	return data, nil
}

func (d *Ledger) countClientCommand(req []byte) {
	if len(req) == 0 {
		return
	}
	switch req[0] {
	case ccYield:
		d.stats.Yields++
	case ccGetPreimage:
		d.stats.Preimages++
	case ccGetMerkleLeafProof:
		d.stats.Proofs++
	case ccGetMerkleLeafIndex:
		d.stats.LeafIndexes++
	case ccGetMoreElements:
		d.stats.MoreElements++
	}
}

// abort ends a command the host cannot serve: an empty CONTINUE is no valid
// answer to any request but YIELD, so the app ends the command with an
// error status and is ready for the next one.
func (d *Ledger) abort(ctx context.Context) {
	for range 4 {
		_, sw, err := d.exchange(ctx, reqContinue(nil), false)
		if err != nil {
			d.broken = fmt.Errorf("the Ledger did not end an aborted command (%v): close it, reconnect the Ledger and try again", err)
			return
		}
		if sw != swInterrupted {
			return
		}
	}
	d.broken = errors.New("the Ledger kept a command open after it was aborted: close it, reconnect the Ledger and try again")
}

// ready fails when the link is unusable.
func (d *Ledger) ready(op string) error {
	if d.broken != nil {
		return d.failAs(op, hw.ErrDisconnected, d.broken)
	}
	return nil
}

// appParams is the network whose encodings the app uses: the Bitcoin Test
// app speaks testnet for every test network.
func (d *Ledger) appParams() *chaincfg.Params {
	if d.mainnet {
		return &chaincfg.MainNetParams
	}
	return &chaincfg.TestNet3Params
}

// checkNetwork refuses a wallet for another network than the app's.
func (d *Ledger) checkNetwork(op string, desc *descriptor.Descriptor, net *chaincfg.Params) error {
	if net == nil {
		return d.failAs(op, hw.ErrDevice, errors.New("no network given for the wallet"))
	}
	isMain := net.Name == chaincfg.MainNetParams.Name
	if isMain != d.mainnet {
		want := "the Bitcoin Test app"
		if isMain {
			want = "the Bitcoin app"
		}
		return d.failAs(op, hw.ErrAppClosed, fmt.Errorf("the Ledger runs the %s app but the wallet is on %s: open %s", d.app.Name, descriptor.NetworkName(net), want))
	}
	if desc != nil {
		if err := desc.CheckNetwork(net); err != nil {
			return fmt.Errorf("%s: %s: %w", d.name(), op, err)
		}
	}
	return nil
}

// Info describes the device as of Open.
func (d *Ledger) Info() hw.DeviceInfo {
	model := d.opts.Model
	if model == "" {
		model = "Ledger"
		if d.opts.Endpoint.Emulator {
			model = "Ledger emulator"
		}
	}
	return hw.DeviceInfo{
		Type:        "ledger",
		Model:       fmt.Sprintf("%s (%s %s)", model, d.app.Name, d.app.Version),
		Path:        d.opts.Endpoint.Path,
		Transport:   d.opts.Endpoint.Transport,
		Emulator:    d.opts.Endpoint.Emulator,
		Fingerprint: hex.EncodeToString(d.xfp[:]),
	}
}

// App returns the name and version of the app GET_VERSION reported.
func (d *Ledger) App() (name, version string) { return d.app.Name, d.app.Version }

// Stats returns the traffic so far. Call it between operations.
func (d *Ledger) Stats() Stats { return d.stats }

// hmacFor returns the HMAC to present for a policy: the one this session
// registered, else the token the caller stored from an earlier Register.
func (d *Ledger) hmacFor(p *WalletPolicy, w *hw.Wallet) ([32]byte, error) {
	if h, ok := d.regs[p.ID()]; ok {
		return h, nil
	}
	switch len(w.Token) {
	case 32:
		return [32]byte(w.Token), nil
	case 0:
		return [32]byte{}, d.notRegistered("use wallet", w.Name)
	}
	return [32]byte{}, d.failAs("use wallet", hw.ErrNotRegistered, fmt.Errorf("the stored Ledger registration of wallet %q is %d bytes, not a 32-byte HMAC: %s", w.Name, len(w.Token), d.registerHint(w.Name)))
}

// policy makes the wallet policy of desc and checks that the running app
// version takes it.
func (d *Ledger) policy(op string, desc *descriptor.Descriptor, name string) (*WalletPolicy, error) {
	pol, err := PolicyFromDescriptor(desc, name)
	if err == nil {
		err = pol.checkApp(d.ver, d.app.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", d.name(), op, err)
	}
	return pol, nil
}

// Fingerprint returns the master key fingerprint read at Open.
func (d *Ledger) Fingerprint(ctx context.Context) ([4]byte, error) {
	return d.xfp, nil
}

// Xpub returns the extended public key at path. Paths the app does not
// export silently are shown on the device for approval.
func (d *Ledger) Xpub(ctx context.Context, path descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	const op = "read xpub"
	display := !d.standardPath(path)
	req, err := reqGetExtendedPubkey(path, display)
	if err != nil {
		return nil, d.fail(op, err)
	}
	if err := d.ready(op); err != nil {
		return nil, err
	}
	if display {
		d.opts.Prompt.Prompt(fmt.Sprintf("Check the extended public key for %s on your %s and approve it (it is not a standard path).", path, d.name()))
	}
	data, err := d.command(ctx, insGetExtendedPubkey, req, nil, display)
	var se *StatusError
	if !display && errors.As(err, &se) && se.SW == swNotSupported {
		// This app version is stricter about silent exports.
		req, _ = reqGetExtendedPubkey(path, true)
		d.opts.Prompt.Prompt(fmt.Sprintf("Check the extended public key for %s on your %s and approve it.", path, d.name()))
		data, err = d.command(ctx, insGetExtendedPubkey, req, nil, true)
	}
	if err != nil {
		return nil, d.fail(op, err)
	}
	k, err := hdkeychain.NewKeyFromString(string(data))
	if err != nil {
		return nil, d.fail(op, fmt.Errorf("the device returned %q: %w", data, err))
	}
	if k.IsPrivate() || !k.IsForNet(d.appParams()) {
		return nil, d.fail(op, fmt.Errorf("the device returned %q, not an extended public key of %s", shorten(string(data)), descriptor.NetworkName(d.appParams())))
	}
	return k, nil
}

// standardPath reports whether the app exports the key at path without
// asking the user (get_extended_pubkey.c, is_path_safe_for_pubkey_export).
func (d *Ledger) standardPath(path []uint32) bool {
	coin := uint32(1)
	if d.mainnet {
		coin = 0
	}
	if len(path) < 3 {
		return false
	}
	var hard int
	switch path[0] &^ hardened {
	case 44, 45, 49, 84, 86:
		hard = 3
	case 48:
		hard = 4
	default:
		return false
	}
	if len(path) < hard {
		return false
	}
	for i, s := range path {
		if (i < hard) != (s >= hardened) {
			return false
		}
	}
	if path[1]&^hardened != coin || path[2]&^hardened > 100 {
		return false
	}
	if hard == 4 && path[3]&^hardened != 1 && path[3]&^hardened != 2 {
		return false
	}
	return true
}

// Register registers the wallet policy made from d and name on the Ledger.
// The user checks the name, the policy and every key on the device. It
// returns the device's HMAC, which DisplayAddress and Sign need: the
// caller stores it and hands it back with UseToken in later sessions.
func (d *Ledger) Register(ctx context.Context, w *hw.Wallet) ([]byte, error) {
	desc, net, name := w.Descriptor, w.Network, w.Name
	const op = "register wallet"
	pol, err := d.policy(op, desc, name)
	if err != nil {
		return nil, err
	}
	if err := d.checkNetwork(op, desc, net); err != nil {
		return nil, err
	}
	req, err := reqRegisterWallet(pol.Serialize())
	if err != nil {
		return nil, d.fail(op, err)
	}
	if err := d.ready(op); err != nil {
		return nil, err
	}
	it := newInterpreter()
	pol.addTo(it)
	d.opts.Prompt.Prompt(fmt.Sprintf("Review the %s wallet %q on your %s: check the policy %s and every key (%s), then approve (reject refuses).",
		strings.ReplaceAll(desc.Policy(), " of ", "-of-"), name, d.name(), pol.Template, strings.Join(pol.Keys, ", ")))
	resp, err := d.command(ctx, insRegisterWallet, req, it, true)
	if err != nil {
		return nil, d.failWallet(op, name, err)
	}
	if len(resp) != 64 {
		return nil, d.fail(op, fmt.Errorf("reply of %d bytes, want 64 (wallet id and HMAC)", len(resp)))
	}
	var id, mac [32]byte
	copy(id[:], resp[:32])
	copy(mac[:], resp[32:])
	if id != pol.ID() {
		return nil, d.fail(op, fmt.Errorf("the Ledger registered wallet id %x but the policy's id is %x: do not use this registration", id, pol.ID()))
	}
	// As Ledger's own clients do, check the device derives the wallet the
	// way countersign does before the registration is trusted.
	if _, err := d.walletAddress(ctx, op, pol, mac, desc, net, 0, 0, false); err != nil {
		return nil, err
	}
	d.regs[id] = mac
	return mac[:], nil
}

// DisplayAddress shows the wallet's address at (branch, index) on the
// Ledger and returns it, after checking it against the address countersign
// derives. It needs the wallet's HMAC (see UseToken).
func (d *Ledger) DisplayAddress(ctx context.Context, w *hw.Wallet, branch, index uint32) (string, error) {
	desc, net, name := w.Descriptor, w.Network, w.Name
	const op = "show address"
	pol, err := d.policy(op, desc, name)
	if err != nil {
		return "", err
	}
	if err := d.checkNetwork(op, desc, net); err != nil {
		return "", err
	}
	if err := d.ready(op); err != nil {
		return "", err
	}
	mac, err := d.hmacFor(pol, w)
	if err != nil {
		return "", err
	}
	return d.walletAddress(ctx, op, pol, mac, desc, net, branch, index, true)
}

// walletAddress runs GET_WALLET_ADDRESS and checks the result against the
// descriptor. It returns the address in the wallet network's encoding (the
// Bitcoin Test app writes every test network's addresses as testnet ones).
func (d *Ledger) walletAddress(ctx context.Context, op string, pol *WalletPolicy, mac [32]byte, desc *descriptor.Descriptor, net *chaincfg.Params, branch, index uint32, display bool) (string, error) {
	if branch > 1 {
		return "", fmt.Errorf("%s: %s: branch %d: the Ledger shows receive (0) and change (1) addresses only", d.name(), op, branch)
	}
	if index >= hardened {
		return "", fmt.Errorf("%s: %s: index %d is a hardened index; addresses use 0..2147483647", d.name(), op, index)
	}
	der, err := desc.Multipath().Derive(branch, index, net)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", d.name(), op, err)
	}
	it := newInterpreter()
	pol.addTo(it)
	if display {
		shown := der.Address
		if d.appParams().Name != net.Name {
			if a, err := encodeAddress(der.ScriptPubKey, d.appParams()); err == nil {
				shown = a + " (the " + descriptor.NetworkName(d.appParams()) + " spelling of " + der.Address + ")"
			}
		}
		d.opts.Prompt.Prompt(fmt.Sprintf("Check that your %s shows %s for wallet %q (%s address %d), then approve.",
			d.name(), shown, pol.Name, [2]string{"receive", "change"}[branch], index))
	}
	resp, err := d.command(ctx, insGetWalletAddress, reqGetWalletAddress(pol.ID(), mac, branch, index, display), it, display)
	if err != nil {
		return "", d.failWallet(op, pol.Name, err)
	}
	got := string(resp)
	a, err := btcutil.DecodeAddress(got, d.appParams())
	var script []byte
	if err == nil {
		script, err = txscript.PayToAddrScript(a)
	}
	if err != nil {
		return "", d.fail(op, fmt.Errorf("the device returned %q, not an address of %s: %w", shorten(got), descriptor.NetworkName(d.appParams()), err))
	}
	if string(script) != string(der.ScriptPubKey) {
		return "", d.fail(op, fmt.Errorf("the Ledger computed %s but the wallet derives %s at %d/%d: do not use either until you find out why", got, der.Address, branch, index))
	}
	return der.Address, nil
}

// encodeAddress writes a script's address for params.
func encodeAddress(script []byte, params *chaincfg.Params) (string, error) {
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(script, params)
	if err != nil || len(addrs) != 1 {
		return "", fmt.Errorf("no single address for script %x", script)
	}
	return addrs[0].EncodeAddress(), nil
}

// Close releases the connection.
func (d *Ledger) Close() error {
	d.closeOnce.Do(func() { d.closeErr = d.link.Close() })
	return d.closeErr
}

// shorten keeps echoes of device replies short.
func shorten(s string) string {
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}

// APDU interfaces: the Ledger's HID interface for APDUs is interface 0,
// usage page 0xffa0 (where the platform reports usage pages); its other
// interfaces (FIDO U2F, WebUSB) do not speak APDUs over this framing.
const apduUsagePage = 0xffa0

func isAPDUInterface(info *transport.HIDInfo) bool {
	return info.UsagePage == apduUsagePage || info.Interface == 0 || info.UsagePage == 0 && info.Interface == -1
}

// modelName names a Ledger from its USB product ID: the high byte is the
// model on current firmware, the whole ID on older firmware.
func modelName(pid uint16) string {
	models := map[uint16]string{
		0x0001: "Ledger Nano S", 0x0004: "Ledger Nano X", 0x0005: "Ledger Nano S Plus",
		0x0006: "Ledger Stax", 0x0007: "Ledger Flex",
	}
	if m, ok := models[pid]; ok {
		return m
	}
	if m, ok := models[map[uint16]uint16{0x10: 0x0001, 0x40: 0x0004, 0x50: 0x0005, 0x60: 0x0006, 0x70: 0x0007}[pid>>8]]; ok {
		return m
	}
	return "Ledger"
}

// Driver describes the Ledger family for hw.NewRegistry: the USB vendor ID
// (any product), the Speculos APDU socket (COUNTERSIGN_LEDGER_SPECULOS,
// default 127.0.0.1:9999) and how to open either.
func Driver() hw.Driver {
	return hw.Driver{
		Type:     "ledger",
		USB:      []hw.USBID{{VendorID: VendorID}},
		Emulator: &hw.EmulatorEndpoint{Transport: "tcp", Env: EnvSpeculos, Default: DefaultSpeculosAddr},
		MatchHID: func(h transport.HIDInfo) bool { return isAPDUInterface(&h) },
		Open: func(ctx context.Context, ep hw.Endpoint, prompt hw.Prompter) (hw.Device, error) {
			opts := Options{Prompt: prompt, Endpoint: ep}
			var link Link
			switch ep.Transport {
			case "hid":
				if ep.HID != nil && !isAPDUInterface(ep.HID) {
					return nil, &hw.Error{Device: "ledger at " + ep.Path, Op: "open", Kind: hw.ErrDevice, Err: fmt.Errorf("USB interface %d is not the Ledger's APDU interface", ep.HID.Interface)}
				}
				if ep.HID != nil {
					opts.Model = modelName(ep.HID.ProductID)
				}
				t, err := transport.OpenHID(ep.Path)
				if err != nil {
					return nil, &hw.Error{Device: "ledger at " + ep.Path, Op: "open", Kind: hw.ErrDevice, Err: err}
				}
				link = HIDLink(t)
			case "tcp":
				s, err := transport.DialTCP(ctx, ep.Path, SpeculosOptions)
				if err != nil {
					return nil, &hw.Error{Device: "ledger at " + ep.Path, Op: "open", Kind: hw.ErrDevice, Err: err}
				}
				link = SpeculosLink(s)
			default:
				return nil, &hw.Error{Device: "ledger at " + ep.Path, Op: "open", Kind: hw.ErrDevice, Err: fmt.Errorf("a Ledger cannot be reached over %q", ep.Transport)}
			}
			return Open(ctx, link, opts)
		},
	}
}

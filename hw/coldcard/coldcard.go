// Package coldcard drives a Coldcard over its USB protocol, and the Coldcard
// simulator or countersign's emulator over the simulator's unix datagram
// socket.
//
// The package has three layers, each in its own file:
//
//   - frame.go, link.go and crypto.go: 64-byte HID reports, reassembly, the
//     encrypted session ("ncry", AES-256-CTR) and request/reply exchanges;
//   - protocol.go: one builder per command and the reply decoder, following
//     ckcc-protocol's CCProtocolPacker/CCProtocolUnpacker;
//   - this file and sign.go: the hw.Signer adapter.
//
// What the adapter does with the device:
//
//   - Fingerprint: the master fingerprint the device reports when the
//     session starts; no prompt.
//   - Xpub: "xpub" with a text path.
//   - Register: uploads a Coldcard multisig setup file ("upld", checked with
//     "sha2"), starts enrolment ("enrl"), waits while the user decides, and
//     confirms with "msck" that the wallet is stored. The device offers no
//     completion poll for enrolment: "stok" says "refu" right after a refusal
//     and "No active request" once the request is gone either way, so "msck"
//     has the last word.
//   - DisplayAddress: "p2sh" with the witness (or redeem) script and every
//     key's fingerprint and path in script order. This is the command the
//     shipping multisig firmware takes. The address the device returns is
//     compared with the one countersign derives.
//   - Miniscript and taproot wallets (miniscript.go), on EDGE firmware
//     6.2.2X and later only: Register uploads {"name", "desc"} and sends
//     "mins", confirming with "msls"/"msgt"; DisplayAddress sends "msas"
//     with the wallet's name; Sign is the same upload/"stxn"/"stok" cycle
//     (with the wallet's name from 6.4.0X, where multisig wallets take this
//     path too), taking back ECDSA and BIP-340 script-path signatures.
//     Mainline firmware, MuSig2 key paths and (on 6.3.5X+) a static
//     internal key are refused as unsupported, naming the firmware needed.
//   - Sign: uploads the PSBT, "stxn", polls "stok" until the user approves or
//     refuses, downloads the result ("dwld") and checks its SHA-256, then
//     copies only the new partial signatures for the device's own keys into
//     a copy of the caller's packet, each one verified. The device signs at
//     most one of its keys per input per pass, so the adapter runs another
//     pass while a pass made progress on an input that still lacks one of
//     the device's signatures.
//
// Before the first operation that returns keys or signatures, the adapter
// asks the device to sign the session key with its master key ("mitm") and
// checks it against the master xpub from the session setup. A relay that
// re-encrypts traffic between host and device (two sessions) cannot make
// that signature for the host's session key. What it proves is that the
// peer holds the key of the fingerprint it announced: an attacker posing as
// a whole device, with its own seed, passes it, so the fingerprint the
// device shows on its screen is what the user must compare with the one
// countersign prints (and every later operation is bound to it: a session
// with another fingerprint is refused).
package coldcard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/hw"
	"github.com/countersign/countersign/hw/transport"
)

// USB identifiers of every Coldcard model (ckcc/client.py).
const (
	VendorID  = 0xd13e
	ProductID = 0xcc10
)

// Simulator endpoint defaults (ckcc/client.py, firmware unix/simulator.py).
const (
	DefaultSocket = "/tmp/ckcc-simulator.sock"
	EnvSocket     = "COUNTERSIGN_COLDCARD_SOCKET"
)

// Defaults for Options.
const (
	DefaultReplyTimeout = 10 * time.Second
	DefaultPollInterval = 250 * time.Millisecond
)

// maxResult bounds a downloaded result: Mk4's largest PSBT (MAX_TXN_LEN_MK4).
const maxResult = 2 << 20

// Options tune a Coldcard connection. The zero value is ready to use.
type Options struct {
	// Prompt receives the instructions shown while the device waits for a
	// button press.
	Prompt hw.Prompter
	// ReplyTimeout bounds one request/reply exchange. The user's decisions
	// are not exchanges: they are awaited by polling, as long as ctx allows.
	ReplyTimeout time.Duration
	// PollInterval is the pause between polls while the user decides.
	PollInterval time.Duration
	// SkipMiTMCheck leaves out the master-key signature over the session key.
	SkipMiTMCheck bool
	// Endpoint records where the device was opened, for Info.
	Endpoint hw.Endpoint
}

// Coldcard is one open Coldcard, the hw.Device of the Coldcard driver.
// Calls must not overlap: the hw.Signer adapter takes turns for them.
type Coldcard struct {
	opts Options
	link *link

	// Set by the session setup; read under use.
	xfp        [4]byte
	masterXpub string
	model      string
	chain      string   // "BTC", "XTN" or "XRT"; "" until asked
	fw         firmware // from "vers"; zero when the device did not say
	proven     bool     // the MiTM check passed for the current session

	closeOnce sync.Once
	closeErr  error
}

var _ hw.Device = (*Coldcard)(nil)

// Open starts a session with the Coldcard on t: it resets the link, sets up
// encryption and learns the master fingerprint. Nothing is shown on the
// device. On failure t is closed.
func Open(ctx context.Context, t transport.Transport, opts Options) (*Coldcard, error) {
	if opts.ReplyTimeout <= 0 {
		opts.ReplyTimeout = DefaultReplyTimeout
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	c := &Coldcard{
		opts: opts,
		link: &link{t: t, timeout: opts.ReplyTimeout, broken: true},
	}
	if err := c.ensureSession(ctx); err != nil {
		t.Close()
		return nil, err
	}
	// The model is a courtesy for `device list`; a device that does not
	// answer "vers" is still usable.
	if rep, err := c.link.roundTrip(ctx, reqVersion()); err == nil {
		if s, err := rep.ascii("vers"); err == nil {
			lines := strings.Split(s, "\n")
			c.model = "Coldcard " + lines[len(lines)-1]
			if len(lines) > 1 {
				c.fw, _ = parseFirmware(lines[1])
			}
		}
	} else if c.link.broken {
		t.Close()
		return nil, c.fail("read firmware version", err)
	}
	return c, nil
}

// name is how errors and prompts refer to the device.
func (c *Coldcard) name() string {
	if c.xfp != ([4]byte{}) {
		return "coldcard " + strings.ToUpper(hex.EncodeToString(c.xfp[:]))
	}
	if c.opts.Endpoint.Path != "" {
		return "coldcard at " + c.opts.Endpoint.Path
	}
	return "coldcard"
}

// The device's words for "I do not know this wallet": from signing
// (psbt.py) and from showing an address (auth.py).
const (
	unknownWallet      = "Unknown multisig wallet"
	unknownFingerprint = "Multisig wallet with those fingerprints not found"
	unknownMiniscript  = "Unknown miniscript wallet"
)

// fail classifies err by what the device replied. Cancellation passes
// through unclassified, so Ctrl-C is not reported as a device fault.
func (c *Coldcard) fail(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %s: %w", c.name(), op, err)
	}
	var re *replyError
	if errors.As(err, &re) {
		switch {
		case re.code == "refu":
			return c.failAs(op, hw.ErrRejected, err)
		case re.code == "err_" && (strings.Contains(re.text, unknownWallet) || strings.Contains(re.text, unknownFingerprint) || strings.Contains(re.text, unknownMiniscript) || strings.HasPrefix(re.text, "Miniscript wallet with name") && strings.HasSuffix(re.text, "not found")):
			return c.failAs(op, hw.ErrNotRegistered, fmt.Errorf("%s (register the wallet on this Coldcard first)", re.text))
		}
	}
	return c.failAs(op, hw.ErrDevice, err)
}

// failAs reports err as a failure of the given kind.
func (c *Coldcard) failAs(op string, kind, err error) error {
	return &hw.Error{Device: c.name(), Op: op, Kind: kind, Err: err}
}

// call runs one exchange, re-establishing the session first if a previous
// exchange was interrupted.
func (c *Coldcard) call(ctx context.Context, req []byte) (reply, error) {
	if err := c.ensureSession(ctx); err != nil {
		return reply{}, err
	}
	return c.link.roundTrip(ctx, req)
}

// ensureSession resets a broken link and sets up a new encrypted session. A
// new session must belong to the same master key as the first one.
func (c *Coldcard) ensureSession(ctx context.Context) error {
	if !c.link.broken {
		return nil
	}
	if err := c.link.resync(ctx); err != nil {
		return c.fail("reset the USB link", err)
	}
	s, err := c.link.startSession(ctx)
	if err != nil {
		return c.fail("start an encrypted session", err)
	}
	if s.xfp != ([4]byte{}) {
		if err := checkMasterXpub(s); err != nil {
			return c.fail("start an encrypted session", err)
		}
	}
	if c.xfp != ([4]byte{}) && s.xfp != c.xfp {
		return c.fail("start an encrypted session", fmt.Errorf("the device now reports master fingerprint %X: another Coldcard, or another seed, was connected; open it again", s.xfp))
	}
	if c.xfp == ([4]byte{}) {
		c.xfp = s.xfp // set once: Info reads it without taking the device
	}
	c.masterXpub, c.proven = s.xpub, false
	return nil
}

// checkMasterXpub checks that the master xpub of the session reply is a
// master key whose fingerprint is the one reported beside it.
func checkMasterXpub(s sessionReply) error {
	k, err := hdkeychain.NewKeyFromString(s.xpub)
	if err != nil {
		return fmt.Errorf("master xpub: %w", err)
	}
	if k.Depth() != 0 || k.IsPrivate() {
		return errors.New("the device's master xpub is not a public master key")
	}
	pub, err := k.ECPubKey()
	if err != nil {
		return err
	}
	fp := btcutil.Hash160(pub.SerializeCompressed())[:4]
	if !bytes.Equal(fp, s.xfp[:]) {
		return fmt.Errorf("the device reports fingerprint %X for a master key whose fingerprint is %X", s.xfp, fp)
	}
	return nil
}

// prepare readies the session for an operation that returns keys,
// addresses or signatures: it proves the session is with the device's
// master key and learns the device's chain.
func (c *Coldcard) prepare(ctx context.Context) error {
	if err := c.ensureSession(ctx); err != nil {
		return err
	}
	if c.xfp == ([4]byte{}) {
		return c.fail("use the device", errors.New("it has no seed yet: set it up on the device first"))
	}
	if !c.proven && !c.opts.SkipMiTMCheck {
		if err := c.checkMiTM(ctx); err != nil {
			return err
		}
	}
	if c.chain == "" {
		rep, err := c.call(ctx, reqBlockchain())
		if err != nil {
			return c.fail("read the device's chain", err)
		}
		chain, err := rep.ascii("blkc")
		if err != nil {
			return c.fail("read the device's chain", err)
		}
		c.chain = chain
	}
	return nil
}

// checkMiTM verifies the device's signature over the session key, made with
// the private key of the master xpub the device sent at session start.
func (c *Coldcard) checkMiTM(ctx context.Context) error {
	rep, err := c.call(ctx, reqCheckMiTM())
	if err != nil {
		return c.fail("check the link for a man in the middle", err)
	}
	sig, err := rep.binary("mitm")
	if err == nil && len(sig) != 65 {
		err = fmt.Errorf("signature of %d bytes, want 65", len(sig))
	}
	if err != nil {
		return c.fail("check the link for a man in the middle", err)
	}
	k, err := hdkeychain.NewKeyFromString(c.masterXpub)
	if err != nil {
		return c.fail("check the link for a man in the middle", err)
	}
	pub, err := k.ECPubKey()
	if err != nil {
		return c.fail("check the link for a man in the middle", err)
	}
	// 65 bytes: a recovery header, then r and s. The digest is the session
	// key itself.
	var r, s btcec.ModNScalar
	overR := r.SetByteSlice(sig[1:33])
	overS := s.SetByteSlice(sig[33:65])
	key := c.link.cipher.key
	if overR || overS || r.IsZero() || s.IsZero() || !ecdsa.NewSignature(&r, &s).Verify(key[:], pub) {
		return c.fail("check the link for a man in the middle",
			errors.New("the session key is not signed by this Coldcard's master key: something between this computer and the Coldcard is tampering with the link; unplug it and do not use this computer"))
	}
	c.proven = true
	return nil
}

// checkChain refuses a wallet for another network than the device's.
func (c *Coldcard) checkChain(op string, net *chaincfg.Params) error {
	if net == nil {
		return c.fail(op, errors.New("no network given for the wallet"))
	}
	want := map[string]string{
		chaincfg.MainNetParams.Name:       "BTC",
		chaincfg.TestNet3Params.Name:      "XTN",
		chaincfg.SigNetParams.Name:        "XTN",
		chaincfg.RegressionNetParams.Name: "XRT",
	}[net.Name]
	if want == "" {
		return c.fail(op, fmt.Errorf("network %s is not one a Coldcard supports", net.Name))
	}
	if want != c.chain {
		return c.fail(op, fmt.Errorf("the Coldcard is set to %s but the wallet is on %s: switch the device's chain (Advanced > Danger Zone > Testnet Mode)", chainName(c.chain), descriptor.NetworkName(net)))
	}
	return nil
}

func chainName(ctype string) string {
	switch ctype {
	case "BTC":
		return "mainnet"
	case "XTN":
		return "testnet"
	case "XRT":
		return "regtest"
	}
	return fmt.Sprintf("chain %q", ctype)
}

// Info describes the device as of its session setup.
func (c *Coldcard) Info() hw.DeviceInfo {
	model := c.model
	if model == "" {
		model = "Coldcard"
	}
	info := hw.DeviceInfo{
		Type:      "coldcard",
		Model:     model,
		Path:      c.opts.Endpoint.Path,
		Transport: c.opts.Endpoint.Transport,
		Emulator:  c.opts.Endpoint.Emulator,
	}
	if c.xfp != ([4]byte{}) {
		info.Fingerprint = hex.EncodeToString(c.xfp[:])
	}
	return info
}

// Stats returns the traffic so far. Call it between operations.
func (c *Coldcard) Stats() Stats {
	return c.link.stats
}

// Fingerprint returns the master key fingerprint the device reported.
func (c *Coldcard) Fingerprint(ctx context.Context) ([4]byte, error) {
	if err := c.ensureSession(ctx); err != nil {
		return [4]byte{}, err
	}
	if c.xfp == ([4]byte{}) {
		return [4]byte{}, c.fail("read the fingerprint", errors.New("the Coldcard has no seed yet: set it up on the device first"))
	}
	return c.xfp, nil
}

// Xpub returns the extended public key at path.
func (c *Coldcard) Xpub(ctx context.Context, path descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	const op = "read xpub"
	if len(path) > maxPathLen {
		return nil, c.fail(op, fmt.Errorf("path %s is deeper than the device's %d levels", path, maxPathLen))
	}
	if err := c.prepare(ctx); err != nil {
		return nil, err
	}
	rep, err := c.call(ctx, reqXpub(path))
	if err != nil {
		return nil, c.fail(op, err)
	}
	s, err := rep.ascii("xpub")
	if err != nil {
		return nil, c.fail(op, err)
	}
	k, err := hdkeychain.NewKeyFromString(s)
	if err != nil {
		return nil, c.fail(op, fmt.Errorf("the device returned %q: %w", s, err))
	}
	return k, nil
}

// Register enrolls the multisig wallet d under name. The user approves on
// the device. It returns no token: the Coldcard stores the wallet itself.
// A wallet the device already holds is not offered again.
func (c *Coldcard) Register(ctx context.Context, w *hw.Wallet) ([]byte, error) {
	d, net, name := w.Descriptor, w.Network, w.Name
	const op = "register wallet"
	if c.usesDescriptors(d) {
		if err := c.checkDescriptorWallet(op, w); err != nil {
			return nil, err
		}
		if err := c.prepare(ctx); err != nil {
			return nil, err
		}
		if err := c.checkChain(op, net); err != nil {
			return nil, err
		}
		return nil, c.registerDescriptor(ctx, w)
	}
	file, err := formats.Export(&formats.Wallet{Name: name, Descriptor: d, Network: net}, formats.FormatColdcard)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", c.name(), op, err)
	}
	if err := c.prepare(ctx); err != nil {
		return nil, err
	}
	if err := c.checkChain(op, net); err != nil {
		return nil, err
	}
	if has, err := c.hasWallet(ctx, d); err != nil {
		return nil, c.fail(op, err)
	} else if has {
		// A wallet with these cosigners is stored. If it derives our
		// first address it is this wallet, and offering it again would
		// only show the user a "Duplicate wallet" screen.
		if _, err := c.showAddress(ctx, d, net, 0, 0); err == nil {
			c.opts.Prompt.Prompt(fmt.Sprintf("The %s wallet %q is already registered on your %s; press X to leave the address screen.", d.Policy(), name, c.name()))
			return nil, nil
		}
	}
	size, sum, err := c.upload(ctx, file)
	if err != nil {
		return nil, c.fail("upload the wallet file", err)
	}
	if _, err := c.call(ctx, reqEnroll(size, sum)); err != nil {
		return nil, c.fail(op, err)
	}
	c.opts.Prompt.Prompt(fmt.Sprintf("Confirm the %s wallet %q on your %s: check every fingerprint and xpub, then press OK (X refuses).",
		strings.ReplaceAll(d.Policy(), " of ", "-of-"), name, c.name()))
	for {
		_, err := c.poll(ctx, reqSignedTxn())
		var re *replyError
		if errors.As(err, &re) && re.code == "err_" && strings.Contains(re.text, "No active request") {
			break // the enrolment request is over; msck says how
		}
		if err != nil {
			return nil, c.fail(op, err)
		}
		// Any other reply to the poll is not about enrolment; keep
		// waiting for the request to end.
		if err := sleep(ctx, c.opts.PollInterval); err != nil {
			return nil, c.fail(op, err)
		}
	}
	has, err := c.hasWallet(ctx, d)
	if err != nil {
		return nil, c.fail(op, err)
	}
	if !has {
		return nil, c.failAs(op, hw.ErrRejected, errors.New("the Coldcard did not save the wallet: it was refused or failed on the device"))
	}
	return nil, nil
}

// hasWallet asks whether the device stores a wallet with d's threshold, key
// count and cosigner fingerprints ("msck").
func (c *Coldcard) hasWallet(ctx context.Context, d *descriptor.Descriptor) (bool, error) {
	var xor uint32
	for _, k := range d.Keys {
		if k.Origin == nil {
			return false, errors.New("a key has no origin fingerprint")
		}
		xor ^= binary.LittleEndian.Uint32(k.Origin.Fingerprint[:])
	}
	rep, err := c.call(ctx, reqMultisigCheck(d.Threshold, len(d.Keys), xor))
	if err != nil {
		return false, err
	}
	v, err := rep.int1("msck")
	return v != 0, err
}

// DisplayAddress shows the wallet's address at (branch, index) on the device
// and returns it, after checking it against the address countersign derives.
func (c *Coldcard) DisplayAddress(ctx context.Context, w *hw.Wallet, branch, index uint32) (string, error) {
	d, net, name := w.Descriptor, w.Network, w.Name
	const op = "show address"
	descWallet := c.usesDescriptors(d)
	if descWallet {
		if err := c.checkDescriptorWallet(op, w); err != nil {
			return "", err
		}
	}
	if err := c.prepare(ctx); err != nil {
		return "", err
	}
	if err := c.checkChain(op, net); err != nil {
		return "", err
	}
	show := c.showAddress
	if descWallet {
		show = func(ctx context.Context, _ *descriptor.Descriptor, net *chaincfg.Params, branch, index uint32) (string, error) {
			return c.showDescriptorAddress(ctx, w, net, branch, index)
		}
	}
	addr, err := show(ctx, d, net, branch, index)
	if err != nil {
		return "", err
	}
	c.opts.Prompt.Prompt(fmt.Sprintf("Check that your %s shows %s for wallet %q (%s/%d), then press X to leave the screen.", c.name(), addr, name, [2]string{"receive", "change"}[min(branch, 1)], index))
	return addr, nil
}

// showAddress sends "p2sh" for d at (branch, index) and checks the answer.
func (c *Coldcard) showAddress(ctx context.Context, d *descriptor.Descriptor, net *chaincfg.Params, branch, index uint32) (string, error) {
	const op = "show address"
	der, err := d.Derive(branch, index, net)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", c.name(), op, err)
	}
	req, err := showAddressRequest(d, der)
	if err != nil {
		return "", c.fail(op, err)
	}
	rep, err := c.call(ctx, req)
	if err != nil {
		return "", c.fail(op, err)
	}
	addr, err := rep.ascii("p2sh")
	if err != nil {
		return "", c.fail(op, err)
	}
	if addr != der.Address {
		return "", c.fail(op, fmt.Errorf("the Coldcard computed %s but the wallet derives %s at %d/%d: do not use either until you find out why", addr, der.Address, branch, index))
	}
	return addr, nil
}

// showAddressRequest builds "p2sh" for one derived address: the script the
// address commits to and each key's origin, in the order the keys appear in
// that script.
func showAddressRequest(d *descriptor.Descriptor, der *descriptor.Derived) ([]byte, error) {
	var fmtCode uint32
	script := der.WitnessScript
	switch d.Script {
	case descriptor.ScriptWsh:
		fmtCode = afP2WSH
	case descriptor.ScriptShWsh:
		fmtCode = afP2WSHP2SH
	case descriptor.ScriptSh:
		fmtCode, script = afP2SH, der.RedeemScript
	default:
		return nil, fmt.Errorf("script type %v is not one a Coldcard shows", d.Script)
	}
	keys := append([]descriptor.DerivedKey(nil), der.Keys...)
	if d.Sorted {
		// BIP-67: the script holds the keys sorted.
		sortKeys(keys)
	}
	paths := make([][]uint32, len(keys))
	for i, k := range keys {
		paths[i] = append([]uint32{binary.LittleEndian.Uint32(k.Fingerprint[:])}, k.Path...)
	}
	return reqShowP2SH(fmtCode, d.Threshold, paths, script)
}

func sortKeys(keys []descriptor.DerivedKey) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && bytes.Compare(keys[j-1].PubKey, keys[j].PubKey) > 0; j-- {
			keys[j-1], keys[j] = keys[j], keys[j-1]
		}
	}
}

// upload sends data in blocks and checks the device's hash of what it got.
func (c *Coldcard) upload(ctx context.Context, data []byte) (uint32, [32]byte, error) {
	sum := sha256.Sum256(data)
	if len(data) == 0 || len(data) > maxResult {
		return 0, sum, fmt.Errorf("file of %d bytes (the device takes 1..%d)", len(data), maxResult)
	}
	total := uint32(len(data))
	for off := 0; off < len(data); off += maxBlockLen {
		block := data[off:min(off+maxBlockLen, len(data))]
		rep, err := c.call(ctx, reqUpload(uint32(off), total, block))
		if err != nil {
			return 0, sum, err
		}
		got, err := rep.int1("upld")
		if err != nil {
			return 0, sum, err
		}
		if got != uint32(off) {
			return 0, sum, fmt.Errorf("the device stored block %d at offset %d", off, got)
		}
	}
	rep, err := c.call(ctx, reqSHA256())
	if err != nil {
		return 0, sum, err
	}
	got, err := rep.binary("sha2")
	if err != nil {
		return 0, sum, err
	}
	if !bytes.Equal(got, sum[:]) {
		return 0, sum, fmt.Errorf("the device's hash of the upload is %x, ours is %x: the upload was corrupted", got, sum)
	}
	return total, sum, nil
}

// download reads a result file of length bytes and checks its hash.
func (c *Coldcard) download(ctx context.Context, length uint32, sum [32]byte) ([]byte, error) {
	if length == 0 || length > maxResult {
		return nil, fmt.Errorf("the device offers a result of %d bytes (expected 1..%d)", length, maxResult)
	}
	out := make([]byte, 0, length)
	for uint32(len(out)) < length {
		want := min(length-uint32(len(out)), maxBlockLen)
		rep, err := c.call(ctx, reqDownload(uint32(len(out)), want, resultFile))
		if err != nil {
			return nil, err
		}
		block, err := rep.binary("dwld")
		if err != nil {
			return nil, err
		}
		if len(block) == 0 || uint32(len(block)) > want {
			return nil, fmt.Errorf("the device sent %d bytes for a %d-byte block", len(block), want)
		}
		out = append(out, block...)
	}
	if got := sha256.Sum256(out); got != sum {
		return nil, fmt.Errorf("the downloaded result hashes to %x, the device announced %x: the download was corrupted", got, sum)
	}
	return out, nil
}

// poll sends req until the device stops answering "okay" (still waiting)
// or "busy" (showing something else), pausing between polls. Cancelling ctx
// ends the wait; the device keeps its screen until the user dismisses it.
func (c *Coldcard) poll(ctx context.Context, req []byte) (reply, error) {
	for {
		rep, err := c.call(ctx, req)
		var re *replyError
		waiting := err == nil && rep.code == "okay" || errors.As(err, &re) && re.code == "busy"
		if !waiting {
			return rep, err
		}
		c.link.stats.Polls++
		start := time.Now()
		err = sleep(ctx, c.opts.PollInterval)
		c.link.stats.Waited += time.Since(start)
		if err != nil {
			return reply{}, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends the session and releases the transport.
func (c *Coldcard) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.link.t.Close() })
	return c.closeErr
}

// Driver describes the Coldcard family for hw.NewRegistry: its USB IDs, the
// simulator socket (COUNTERSIGN_COLDCARD_SOCKET, default
// /tmp/ckcc-simulator.sock) and how to open either.
func Driver() hw.Driver {
	return hw.Driver{
		Type:     "coldcard",
		USB:      []hw.USBID{{VendorID: VendorID, ProductID: ProductID}},
		Emulator: &hw.EmulatorEndpoint{Transport: "unixgram", Env: EnvSocket, Default: DefaultSocket},
		Open: func(ctx context.Context, ep hw.Endpoint, prompt hw.Prompter) (hw.Device, error) {
			var t transport.Transport
			var err error
			switch ep.Transport {
			case "hid":
				t, err = transport.OpenHID(ep.Path)
			case "unixgram":
				t, err = transport.DialUnixgram(ep.Path, "")
			default:
				err = fmt.Errorf("a Coldcard cannot be reached over %q", ep.Transport)
			}
			if err != nil {
				return nil, &hw.Error{Device: "coldcard at " + ep.Path, Op: "open", Kind: hw.ErrDevice, Err: err}
			}
			c, err := Open(ctx, t, Options{Prompt: prompt, Endpoint: ep})
			if err != nil {
				return nil, err
			}
			return c, nil
		},
	}
}

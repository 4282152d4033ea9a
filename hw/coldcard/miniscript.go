package coldcard

// Miniscript and taproot wallets on EDGE firmware. What each release
// brought (releases/History-Edge.md, github.com/Coldcard/firmware branch
// new_edge, commit 8919b84a):
//
//	6.0.0X  tapscript sortedmulti_a; 6.1.0X miniscript (file import only)
//	6.2.1X  "mins": enrol an uploaded descriptor over USB
//	6.2.2X  "msls", "msgt", "msdl", "msas" (show an address by wallet name);
//	        the uploaded file may be JSON {"name": ..., "desc": ...}
//	6.3.5X  "Static internal keys disallowed - all keys need to be ranged
//	        extended keys"
//	6.4.0X  "stxn" takes the wallet's name; "p2sh", "msck" and the multisig
//	        setup file are gone: multisig wallets are miniscript wallets
//	6.5.0X  MuSig2: a musig() internal key, signed in two passes (musig.go)
//
// Mainline firmware (5.x Mk4, 1.x Q) has none of it. The commands and
// their arguments follow shared/usb.py (new_edge) and ckcc-protocol's
// ckcc/protocol.py (commit abf04078): "mins" <len:u32> <sha256:32>;
// "msas" <change:u32> <index:u32> <name>; "msls"; "msgt" <name>; "stxn"
// ... <name_len:u8> <name>. They need an encrypted session.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
)

// firmware is a version as "vers" reports it on its second line:
// "6.3.5X", "6.3.5QX" (EDGE), "5.4.1", "1.3.1Q" (mainline).
type firmware struct {
	text                string
	major, minor, patch int
	edge                bool
}

// versionRE is compiled on first use, not by every process at start.
var versionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)(Q?)(X?)$`) })

func parseFirmware(s string) (firmware, bool) {
	m := versionRE().FindStringSubmatch(s)
	if m == nil {
		return firmware{text: s}, false
	}
	f := firmware{text: s, edge: m[5] == "X"}
	f.major, _ = strconv.Atoi(m[1])
	f.minor, _ = strconv.Atoi(m[2])
	f.patch, _ = strconv.Atoi(m[3])
	return f, true
}

// atLeast reports an EDGE release at or after major.minor.patch.
func (f firmware) atLeast(major, minor, patch int) bool {
	if !f.edge {
		return false
	}
	return slices.Compare([]int{f.major, f.minor, f.patch}, []int{major, minor, patch}) >= 0
}

// Requests of the miniscript commands.
func reqMiniscriptEnroll(length uint32, sha [32]byte) []byte {
	b := append([]byte("mins"), le32(length)...)
	return append(b, sha[:]...)
}
func reqMiniscriptList() []byte { return []byte("msls") }
func reqMiniscriptGet(name string) []byte {
	return append([]byte("msgt"), name...)
}
func reqMiniscriptAddress(change, index uint32, name string) []byte {
	b := append([]byte("msas"), le32(change)...)
	b = append(b, le32(index)...)
	return append(b, name...)
}

// reqSignTxnNamed is "stxn" with the wallet's name after the hash (6.4.0X).
func reqSignTxnNamed(length uint32, sha [32]byte, name string) []byte {
	b := reqSignTxn(length, sha)
	b = append(b, byte(len(name)))
	return append(b, name...)
}

// maxNameLen is the longest wallet name "msas" and "stxn" take.
const maxNameLen = 32

// MiniscriptFirmware is the first firmware release the driver uses for
// miniscript and taproot wallets: USB enrolment and "show address by
// name" both exist from it on.
const MiniscriptFirmware = "6.2.2X (EDGE; 6.2.2QX on the Q)"

// usesDescriptors reports whether wallet d goes through the miniscript
// commands: miniscript and taproot wallets always, multisig ones on
// firmware that dropped the multisig setup file (6.4.0X+).
func (c *Coldcard) usesDescriptors(d *descriptor.Descriptor) bool {
	if d == nil {
		return false
	}
	return d.IsMiniscript() || d.Script == descriptor.ScriptTr || c.fw.atLeast(6, 4, 0)
}

// checkDescriptorWallet refuses, before the device is asked anything, a
// miniscript or taproot wallet this Coldcard's firmware cannot hold, naming
// the firmware it needs.
func (c *Coldcard) checkDescriptorWallet(op string, w *hw.Wallet) error {
	d := w.Descriptor
	unsupported := func(format string, a ...any) error {
		return c.failAs(op, hw.ErrUnsupported, fmt.Errorf(format, a...))
	}
	kind := "miniscript"
	if d.Script == descriptor.ScriptTr {
		kind = "taproot"
	}
	if !c.fw.atLeast(6, 2, 2) {
		have := "an unknown firmware version"
		if c.fw.text != "" {
			have = "firmware " + strconv.Quote(c.fw.text)
		}
		return unsupported("this Coldcard runs %s; a %s wallet needs Coldcard's EDGE firmware %s or later (mainline firmware has no miniscript or tapscript multisig)", have, kind, MiniscriptFirmware)
	}
	if d.Tap != nil && d.Tap.Raw {
		return unsupported("a rawtr() wallet cannot be enrolled on a Coldcard")
	}
	if d.Tap != nil {
		if n := strings.Count(d.StringNoChecksum(), "musig("); n > 0 {
			switch {
			case !c.fw.atLeast(6, 5, 0):
				return unsupported("the wallet's key path is MuSig2 (musig()); this Coldcard runs firmware %q, and Coldcard signs MuSig2 from EDGE firmware %s: update the firmware, or create the taproot wallet with --no-key-path to sign its script leaves on this Coldcard", c.fw.text, MuSigFirmware)
			case n > 1 || !d.Tap.Internal.IsMuSig():
				return unsupported("the wallet has musig() in a script leaf; countersign runs MuSig2 on the key path only")
			}
		}
		if d.Unspendable() && d.Keys[d.Tap.Internal.Key].PubKey != nil && c.fw.atLeast(6, 3, 5) {
			return unsupported("the wallet's internal key is BIP-341's static unspendable point; Coldcard firmware %s refuses static keys (since 6.3.5X every key must be a ranged xpub): use a Coldcard on 6.2.2X..6.3.4X, or a wallet whose internal key is an xpub", c.fw.text)
		}
	}
	if n := len(w.Name); n < 2 || n > maxNameLen {
		return unsupported("the wallet name %q has %d characters; a Coldcard names miniscript wallets with 2 to %d", w.Name, n, maxNameLen)
	}
	for _, r := range w.Name {
		if r < 0x20 || r > 0x7e {
			return unsupported("the wallet name %q has characters a Coldcard does not take (ASCII only)", w.Name)
		}
	}
	return nil
}

// listMiniscript returns the names of the wallets the device holds.
func (c *Coldcard) listMiniscript(ctx context.Context) ([]string, error) {
	rep, err := c.call(ctx, reqMiniscriptList())
	if err != nil {
		return nil, err
	}
	s, err := rep.ascii("msls")
	if err != nil {
		return nil, err
	}
	return decodeNames(s)
}

// decodeNames reads "msls"'s answer: a JSON list of wallet names.
func decodeNames(s string) ([]string, error) {
	var names []string
	if err := json.Unmarshal([]byte(s), &names); err != nil {
		return nil, fmt.Errorf("the wallet list %q does not parse: %w", printable([]byte(s)), err)
	}
	return names, nil
}

// decodeStored reads "msgt"'s answer, {"name": ..., "desc": ...}, and
// parses the descriptor; ok is false when countersign cannot read it.
func decodeStored(s string) (*descriptor.Descriptor, bool, error) {
	var got struct {
		Name string `json:"name"`
		Desc string `json:"desc"`
	}
	if err := json.Unmarshal([]byte(s), &got); err != nil {
		return nil, false, fmt.Errorf("the stored wallet %q does not parse: %w", printable([]byte(s)), err)
	}
	d, err := descriptor.Parse(got.Desc)
	return d, err == nil, nil
}

// storedMatches asks the device for the descriptor it holds under name and
// compares it with d, both parsed by countersign.
func (c *Coldcard) storedMatches(ctx context.Context, name string, d *descriptor.Descriptor) (bool, error) {
	rep, err := c.call(ctx, reqMiniscriptGet(name))
	if err != nil {
		return false, err
	}
	s, err := rep.ascii("msgt")
	if err != nil {
		return false, err
	}
	stored, ok, err := decodeStored(s)
	if err != nil || !ok {
		return false, err // a descriptor countersign cannot read is not this wallet
	}
	return stored.Multipath().StringNoChecksum() == d.Multipath().StringNoChecksum(), nil
}

// registerDescriptor enrols w with "mins": the upload is JSON naming the
// wallet, so that "msas" and "stxn" find it by the name countersign uses.
func (c *Coldcard) registerDescriptor(ctx context.Context, w *hw.Wallet) error {
	const op = "register wallet"
	names, err := c.listMiniscript(ctx)
	if err != nil {
		return c.fail(op, err)
	}
	if slices.Contains(names, w.Name) {
		same, err := c.storedMatches(ctx, w.Name, w.Descriptor)
		if err != nil {
			return c.fail(op, err)
		}
		if !same {
			return c.fail(op, fmt.Errorf("the Coldcard holds another wallet named %q: delete it on the device (Settings > Multisig/Miniscript) or register this wallet under another name", w.Name))
		}
		c.opts.Prompt.Prompt(fmt.Sprintf("The wallet %q is already registered on your %s.", w.Name, c.name()))
		return nil
	}
	file, err := json.Marshal(map[string]string{"name": w.Name, "desc": w.Descriptor.String()})
	if err != nil {
		return err
	}
	size, sum, err := c.upload(ctx, file)
	if err != nil {
		return c.fail("upload the wallet descriptor", err)
	}
	if _, err := c.call(ctx, reqMiniscriptEnroll(size, sum)); err != nil {
		return c.fail(op, err)
	}
	c.opts.Prompt.Prompt(fmt.Sprintf("Confirm the %s wallet %q on your %s: check the policy and every fingerprint and xpub, then press OK (X refuses).", w.Descriptor.Policy(), w.Name, c.name()))
	if err := c.awaitRequestEnd(ctx, op); err != nil {
		return err
	}
	names, err = c.listMiniscript(ctx)
	if err != nil {
		return c.fail(op, err)
	}
	if !slices.Contains(names, w.Name) {
		return c.failAs(op, hw.ErrRejected, errors.New("the Coldcard did not save the wallet: it was refused or failed on the device"))
	}
	return nil
}

// awaitRequestEnd polls until the device's pending request is over.
func (c *Coldcard) awaitRequestEnd(ctx context.Context, op string) error {
	for {
		_, err := c.poll(ctx, reqSignedTxn())
		var re *replyError
		if errors.As(err, &re) && re.code == "err_" && strings.Contains(re.text, "No active request") {
			return nil
		}
		if err != nil {
			return c.fail(op, err)
		}
		if err := sleep(ctx, c.opts.PollInterval); err != nil {
			return c.fail(op, err)
		}
	}
}

// showDescriptorAddress asks for the address at (branch, index) of the
// wallet named name ("msas") and checks it against countersign's.
func (c *Coldcard) showDescriptorAddress(ctx context.Context, w *hw.Wallet, net *chaincfg.Params, branch, index uint32) (string, error) {
	const op = "show address"
	if branch > 1 {
		return "", c.failAs(op, hw.ErrUnsupported, fmt.Errorf("branch %d: a Coldcard shows receive (0) and change (1) addresses only", branch))
	}
	der, err := w.Descriptor.Derive(branch, index, net)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", c.name(), op, err)
	}
	rep, err := c.call(ctx, reqMiniscriptAddress(branch, index, w.Name))
	if err != nil {
		return "", c.fail(op, err)
	}
	addr, err := rep.ascii("msas")
	if err != nil {
		return "", c.fail(op, err)
	}
	if addr != der.Address {
		return "", c.fail(op, fmt.Errorf("the Coldcard computed %s but the wallet derives %s at %d/%d: do not use either until you find out why", printable([]byte(addr)), der.Address, branch, index))
	}
	return addr, nil
}

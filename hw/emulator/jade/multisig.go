package jade

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// Multisig registrations (Blockstream/Jade@cfce08ce: docs/index.rst
// "register_multisig", main/process/register_multisig.c, main/signer.c,
// main/multisig.c, main/storage.c).

// Limits of the firmware.
const (
	maxSigners       = 15 // MAX_ALLOWED_SIGNERS (main/signer.h)
	maxRegistrations = 16 // MAX_MULTISIG_REGISTRATIONS (main/multisig.h)
	maxNameLen       = 15 // NVS_KEY_NAME_MAX_SIZE less its NUL
)

// Script variants of multisig records (main/wallet.c, get_script_variant).
const (
	variantSh    = "sh(multi(k))"
	variantWsh   = "wsh(multi(k))"
	variantShWsh = "sh(wsh(multi(k)))"
)

func validVariant(v string) bool {
	return v == variantSh || v == variantWsh || v == variantShWsh
}

// validName is storage_key_name_valid: 1 to 15 printable ASCII characters
// other than space (isgraph: 0x21..0x7e).
func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// signerRecord is one cosigner as registered.
type signerRecord struct {
	fingerprint [4]byte
	derivation  []uint32 // master to xpub; checked for this device's own key
	xpub        string   // as given
	path        []uint32 // fixed unhardened steps after the xpub
	node        *hdkeychain.ExtendedKey
	// base is xpub/path, the key the per-address path suffixes apply to
	// (multisig_data_from_bytes keeps these as the record's xpubs).
	base *hdkeychain.ExtendedKey
}

// record is a registered multisig wallet.
type record struct {
	name      string
	variant   string
	sorted    bool
	threshold int
	signers   []signerRecord
	blinding  []byte // a Liquid master blinding key, kept and returned only
}

// equal reports whether two registrations are the same record: the
// firmware compares the serialized records byte for byte.
func (r *record) equal(o *record) bool {
	if r.variant != o.variant || r.sorted != o.sorted || r.threshold != o.threshold ||
		!bytes.Equal(r.blinding, o.blinding) || len(r.signers) != len(o.signers) {
		return false
	}
	for i := range r.signers {
		a, b := &r.signers[i], &o.signers[i]
		if a.fingerprint != b.fingerprint || !slices.Equal(a.derivation, b.derivation) ||
			!slices.Equal(a.path, b.path) || a.xpub != b.xpub {
			return false
		}
	}
	return true
}

// wireSigner is a signer as register_multisig and get_registered_multisig
// carry it.
type wireSigner struct {
	Fingerprint []byte   `cbor:"fingerprint"`
	Derivation  []uint64 `cbor:"derivation"`
	Xpub        string   `cbor:"xpub"`
	Path        []uint64 `cbor:"path"`
}

// wireDescriptor is the "descriptor" of a registration.
type wireDescriptor struct {
	Variant           string       `cbor:"variant"`
	Sorted            *bool        `cbor:"sorted,omitempty"`
	Threshold         *uint64      `cbor:"threshold,omitempty"`
	MasterBlindingKey []byte       `cbor:"master_blinding_key"`
	Signers           []wireSigner `cbor:"signers"`
}

func toPath(p []uint64, max int) ([]uint32, bool) {
	if len(p) > max {
		return nil, false
	}
	out := make([]uint32, len(p))
	for i, v := range p {
		if v > 0xffffffff {
			return nil, false
		}
		out[i] = uint32(v)
	}
	return out, true
}

func fromPath(p []uint32) []uint64 {
	out := make([]uint64, len(p))
	for i, v := range p {
		out[i] = uint64(v)
	}
	return out
}

// newRecord validates a registration the way register_multisig_process
// and register_multisig do, in their order, with their messages.
func newRecord(name string, d *wireDescriptor, master *hdkeychain.ExtendedKey, ownFP [4]byte) (*record, *rpcError) {
	if !validName(name) {
		return nil, rpcErr(codeBadParams, "Missing or invalid multisig name parameter")
	}
	if !validVariant(d.Variant) {
		return nil, rpcErr(codeBadParams, "Invalid script variant parameter")
	}
	r := &record{name: name, variant: d.Variant}
	if d.Sorted != nil {
		r.sorted = *d.Sorted
	}
	if d.MasterBlindingKey != nil && len(d.MasterBlindingKey) != 32 {
		return nil, rpcErr(codeBadParams, "Invalid blinding key value")
	}
	if len(d.MasterBlindingKey) > 0 {
		r.blinding = bytes.Clone(d.MasterBlindingKey)
	}
	if d.Threshold == nil || *d.Threshold == 0 || *d.Threshold > maxSigners {
		return nil, rpcErr(codeBadParams, "Invalid multisig threshold value")
	}
	r.threshold = int(*d.Threshold)
	badSigners := rpcErr(codeBadParams, "Failed to extract valid co-signers from parameters")
	if len(d.Signers) == 0 {
		return nil, badSigners
	}
	for _, ws := range d.Signers {
		var s signerRecord
		if len(ws.Fingerprint) != 4 {
			return nil, badSigners
		}
		copy(s.fingerprint[:], ws.Fingerprint)
		var ok bool
		if s.derivation, ok = toPath(ws.Derivation, maxPathLen); !ok {
			return nil, badSigners
		}
		if ws.Xpub == "" || len(ws.Xpub) >= 120 {
			return nil, badSigners
		}
		s.xpub = ws.Xpub
		if s.path, ok = toPath(ws.Path, maxPathLen); !ok {
			return nil, badSigners
		}
		r.signers = append(r.signers, s)
	}
	if len(r.signers) > maxSigners {
		return nil, rpcErr(codeBadParams, "Invalid multisig co-signers")
	}
	if r.threshold > len(r.signers) {
		return nil, rpcErr(codeBadParams, "Invalid multisig threshold")
	}
	if !r.validateSigners(master, ownFP) {
		return nil, rpcErr(codeBadParams, "Failed to validate co-signers")
	}
	return r, nil
}

// validateSigners is validate_signers (main/signer.c): no hardened step
// after an xpub, every xpub parses, and at least one signer carries this
// device's fingerprint with the xpub its derivation gives (public key and
// chain code compared; another fingerprint match is a clash, not an error).
func (r *record) validateSigners(master *hdkeychain.ExtendedKey, ownFP [4]byte) bool {
	found := false
	for i := range r.signers {
		s := &r.signers[i]
		for _, step := range s.path {
			if step >= hdkeychain.HardenedKeyStart {
				return false
			}
		}
		k, err := parseXpub(s.xpub)
		if err != nil {
			return false
		}
		s.node = k
		if s.base, err = derive(k, s.path); err != nil {
			return false
		}
		if s.fingerprint != ownFP {
			continue
		}
		own, err := derive(master, s.derivation)
		if err != nil {
			return false
		}
		if own, err = own.Neuter(); err == nil && samePublicNode(own, k) {
			found = true
		}
	}
	return found
}

// wire is the record as get_registered_multisig returns it.
func (r *record) wire() wireDescriptor {
	sorted := r.sorted
	th := uint64(r.threshold)
	d := wireDescriptor{Variant: r.variant, Sorted: &sorted, Threshold: &th, MasterBlindingKey: r.blinding}
	if d.MasterBlindingKey == nil {
		d.MasterBlindingKey = []byte{}
	}
	for _, s := range r.signers {
		d.Signers = append(d.Signers, wireSigner{
			Fingerprint: bytes.Clone(s.fingerprint[:]), Derivation: fromPath(s.derivation),
			Xpub: s.xpub, Path: fromPath(s.path),
		})
	}
	return d
}

// pubkeys derives each signer's key at its path suffix (multisig_get_pubkeys):
// one unhardened suffix per signer, in registration order.
func (r *record) pubkeys(suffixes [][]uint32) ([][]byte, error) {
	if len(suffixes) != len(r.signers) {
		return nil, errors.New("one path per signer")
	}
	var out [][]byte
	for i, s := range r.signers {
		if len(suffixes[i]) == 0 {
			return nil, errors.New("empty path")
		}
		for _, step := range suffixes[i] {
			if step >= hdkeychain.HardenedKeyStart {
				return nil, errors.New("hardened path")
			}
		}
		k, err := derive(s.base, suffixes[i])
		if err != nil {
			return nil, err
		}
		pub, err := k.ECPubKey()
		if err != nil {
			return nil, err
		}
		out = append(out, pub.SerializeCompressed())
	}
	return out, nil
}

// multisigScript is OP_k <keys> OP_n OP_CHECKMULTISIG, with the keys in
// BIP-67 order when sorted (wallet_build_multisig_script).
func multisigScript(threshold int, keys [][]byte, sorted bool) ([]byte, error) {
	if threshold < 1 || threshold > len(keys) || len(keys) > maxSigners {
		return nil, errors.New("bad threshold or key count")
	}
	keys = slices.Clone(keys)
	if sorted {
		sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	}
	s := []byte{0x50 + byte(threshold)}
	for _, k := range keys {
		s = append(s, byte(len(k)))
		s = append(s, k...)
	}
	return append(s, 0x50+byte(len(keys)), 0xae), nil
}

func p2shScript(redeem []byte) []byte {
	return append(append([]byte{0xa9, 0x14}, btcutil.Hash160(redeem)...), 0x87)
}

func p2wshScript(witness []byte) []byte {
	h := sha256.Sum256(witness)
	return append([]byte{0x00, 0x20}, h[:]...)
}

// outputScript is the scriptPubKey of the variant over the multisig script.
func outputScript(variant string, ms []byte) []byte {
	switch variant {
	case variantSh:
		return p2shScript(ms)
	case variantWsh:
		return p2wshScript(ms)
	default:
		return p2shScript(p2wshScript(ms))
	}
}

// scriptFor builds the record's scriptPubKey at the suffixes.
func (r *record) scriptFor(suffixes [][]uint32) ([]byte, [][]byte, error) {
	keys, err := r.pubkeys(suffixes)
	if err != nil {
		return nil, nil, err
	}
	ms, err := multisigScript(r.threshold, keys, r.sorted)
	if err != nil {
		return nil, nil, err
	}
	return outputScript(r.variant, ms), keys, nil
}

// address renders a scriptPubKey for the network, as script_to_address
// does; scripts without an address form are shown as hex.
func address(spk []byte, params *chaincfg.Params) string {
	var a btcutil.Address
	var err error
	switch {
	case len(spk) == 23 && spk[0] == 0xa9 && spk[1] == 0x14 && spk[22] == 0x87:
		a, err = btcutil.NewAddressScriptHashFromHash(spk[2:22], params)
	case len(spk) == 34 && spk[0] == 0x00 && spk[1] == 0x20:
		a, err = btcutil.NewAddressWitnessScriptHash(spk[2:], params)
	case len(spk) == 22 && spk[0] == 0x00 && spk[1] == 0x14:
		a, err = btcutil.NewAddressWitnessPubKeyHash(spk[2:], params)
	case len(spk) == 25 && spk[0] == 0x76 && spk[1] == 0xa9 && spk[2] == 0x14 && spk[23] == 0x88 && spk[24] == 0xac:
		a, err = btcutil.NewAddressPubKeyHash(spk[3:23], params)
	case len(spk) == 34 && spk[0] == 0x51 && spk[1] == 0x20:
		a, err = btcutil.NewAddressTaproot(spk[2:], params)
	default:
		return "script " + hex.EncodeToString(spk)
	}
	if err != nil {
		return "script " + hex.EncodeToString(spk)
	}
	return a.EncodeAddress()
}

// expectedPath is wallet_is_expected_multisig_path: at most three
// unhardened steps, the change flag second to last, the cosigner index
// before it when there are three. Other paths are shown with a warning.
func expectedPath(cosigner int, change bool, p []uint32) bool {
	if len(p) == 0 || len(p) > 3 {
		return false
	}
	if len(p) > 1 && p[len(p)-2] != map[bool]uint32{false: 0, true: 1}[change] {
		return false
	}
	return len(p) < 3 || p[0] == uint32(cosigner)
}

func pathString(p []uint32) string {
	s := "m"
	for _, v := range p {
		if v >= hdkeychain.HardenedKeyStart {
			s += fmt.Sprintf("/%dh", v-hdkeychain.HardenedKeyStart)
		} else {
			s += fmt.Sprintf("/%d", v)
		}
	}
	return s
}

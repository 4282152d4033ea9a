package jade

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
)

// Multisig registration records (Blockstream/Jade@cfce08ce:
// docs/index.rst "register_multisig request"; main/process/
// register_multisig.c; main/signer.c validate_signers; main/storage.c
// storage_key_name_valid; main/multisig.h and main/signer.h limits).

// Limits of the firmware.
const (
	maxSigners  = 15 // MAX_ALLOWED_SIGNERS
	maxNameLen  = 15 // NVS_KEY_NAME_MAX_SIZE less the terminating NUL
	maxPathLen  = 16 // MAX_PATH_LEN
	hashNameLen = 10 // kept of a name that must be shortened, before "~" and 4 hex digits
)

// networkName is the firmware's name for a Bitcoin network
// (main/utils/network.c): its addresses' bech32 prefix decides, so signet
// and the testnets, which share tb1 addresses, are all "testnet", and
// regtest is "localtest".
func networkName(net *chaincfg.Params) (string, error) {
	switch net.Bech32HRPSegwit {
	case "bc":
		return "mainnet", nil
	case "tb":
		return "testnet", nil
	case "bcrt":
		return "localtest", nil
	}
	return "", fmt.Errorf("a Jade does not know the network %s", net.Name)
}

// xpubVersion is the serialization the firmware accepts for network
// (libwally's bip32_key_from_base58: xpub or tpub).
func xpubVersion(network string) []byte {
	if network == "mainnet" {
		return chaincfg.MainNetParams.HDPublicKeyID[:]
	}
	return chaincfg.TestNet3Params.HDPublicKeyID[:]
}

// validName is storage_key_name_valid: 1 to 15 characters, each printable
// ASCII other than space.
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

// RecordName is the name a wallet is registered under on a Jade. A name
// the firmware accepts (1 to 15 printable ASCII characters, no space) is
// kept; any other is shortened to its first 10 characters, each outside
// that set replaced by "_", followed by "~" and the first 4 hex digits of
// the SHA-256 of the full name. Truncating alone would be unsafe: the
// firmware overwrites a record of the same name, so "treasury-2024-ops"
// and "treasury-2024-opex" must not both become "treasury-2024-o".
func RecordName(name string) string {
	if validName(name) {
		return name
	}
	var b strings.Builder
	for _, r := range name {
		if b.Len() == hashNameLen {
			break
		}
		if r < 0x21 || r > 0x7e {
			r = '_'
		}
		b.WriteRune(r)
	}
	sum := sha256.Sum256([]byte(name))
	return b.String() + "~" + hex.EncodeToString(sum[:2])
}

// signer is one cosigner as register_multisig and get_registered_multisig
// carry it.
type signer struct {
	Fingerprint []byte   `cbor:"fingerprint"`
	Derivation  []uint32 `cbor:"derivation"`
	Xpub        string   `cbor:"xpub"`
	Path        []uint32 `cbor:"path"`
}

// multisigDescriptor is the "descriptor" of a registration.
type multisigDescriptor struct {
	Variant   string   `cbor:"variant"`
	Sorted    bool     `cbor:"sorted"`
	Threshold int      `cbor:"threshold"`
	Signers   []signer `cbor:"signers"`
}

// record is a countersign wallet as a Jade registration.
type record struct {
	name    string // on the device
	network string
	desc    multisigDescriptor
	origins []int // per key, the length of its origin path (its suffixes start there)
}

// newRecord maps a wallet to the firmware's multisig record. Every key is
// registered with its origin and xpub and no fixed path after it; the
// steps after the xpub (the branch and index) are sent with each address.
// That keeps the record as the firmware's change check reads it: each
// cosigner's key at the derivation's unhardened tail.
func newRecord(w *hw.Wallet) (*record, error) {
	network, err := networkName(w.Network)
	if err != nil {
		return nil, hw.Errorf(hw.ErrUnsupported, "%v", err)
	}
	d := w.Descriptor
	r := &record{name: RecordName(w.Name), network: network}
	switch d.Script {
	case descriptor.ScriptSh:
		r.desc.Variant = "sh(multi(k))"
	case descriptor.ScriptShWsh:
		r.desc.Variant = "sh(wsh(multi(k)))"
	case descriptor.ScriptWsh:
		r.desc.Variant = "wsh(multi(k))"
	default:
		return nil, hw.Errorf(hw.ErrUnsupported, "a Jade registers sh, sh(wsh) and wsh multisig wallets only")
	}
	if len(d.Keys) > maxSigners {
		return nil, hw.Errorf(hw.ErrUnsupported, "a Jade takes at most %d cosigners; this wallet has %d", maxSigners, len(d.Keys))
	}
	r.desc.Sorted, r.desc.Threshold = d.Sorted, d.Threshold
	for i, k := range d.Keys {
		if k.XPub == nil {
			return nil, hw.Errorf(hw.ErrUnsupported, "cosigner %d is a plain public key; a Jade registers extended public keys only", i+1)
		}
		if k.HardenedWildcard {
			return nil, hw.Errorf(hw.ErrUnsupported, "cosigner %d derives hardened addresses, which a Jade cannot", i+1)
		}
		for _, e := range k.Path {
			steps := e.Multi
			if steps == nil {
				steps = []uint32{e.Index}
			}
			for _, s := range steps {
				if s >= hdkeychain.HardenedKeyStart {
					return nil, hw.Errorf(hw.ErrUnsupported, "cosigner %d has a hardened step after its xpub, which a Jade cannot derive", i+1)
				}
			}
		}
		x, err := k.XPub.CloneWithVersion(xpubVersion(network))
		if err != nil {
			return nil, err
		}
		s := signer{Xpub: x.String(), Path: []uint32{}, Derivation: []uint32{}}
		if k.Origin != nil {
			s.Fingerprint = bytes.Clone(k.Origin.Fingerprint[:])
			s.Derivation = slices.Clone(k.Origin.Path)
		} else {
			// A key without an origin is its own master.
			pub, err := k.XPub.ECPubKey()
			if err != nil {
				return nil, err
			}
			s.Fingerprint = btcutil.Hash160(pub.SerializeCompressed())[:4]
		}
		if len(s.Derivation) > maxPathLen {
			return nil, hw.Errorf(hw.ErrUnsupported, "cosigner %d's origin path is deeper than a Jade's %d steps", i+1, maxPathLen)
		}
		r.desc.Signers = append(r.desc.Signers, s)
		r.origins = append(r.origins, len(s.Derivation))
	}
	return r, nil
}

// paths are the per-cosigner path suffixes of the address at (branch,
// index), in registration (descriptor) order, as get_receive_address takes
// them.
func (r *record) paths(w *hw.Wallet, branch, index uint32) ([][]uint32, error) {
	der, err := w.Descriptor.Multipath().Derive(branch, index, w.Network)
	if err != nil {
		return nil, err
	}
	out := make([][]uint32, len(der.Keys))
	for i, k := range der.Keys {
		if len(k.Path) <= r.origins[i] || len(k.Path)-r.origins[i] > maxPathLen {
			return nil, hw.Errorf(hw.ErrUnsupported, "cosigner %d's address path has no step after its xpub, or too many for a Jade", i+1)
		}
		out[i] = k.Path[r.origins[i]:]
	}
	return out, nil
}

// params is the register_multisig request.
func (r *record) params() map[string]any {
	return map[string]any{"network": r.network, "multisig_name": r.name, "descriptor": r.desc}
}

// registered is get_registered_multisig's result.
type registered struct {
	Name       string `cbor:"multisig_name"`
	Descriptor struct {
		Variant   string   `cbor:"variant"`
		Sorted    bool     `cbor:"sorted"`
		Threshold int      `cbor:"threshold"`
		Signers   []signer `cbor:"signers"`
	} `cbor:"descriptor"`
}

// sameXpub compares key material, as the firmware compares its own key:
// public key and chain code.
func sameXpub(a, b string) bool {
	ka, err1 := hdkeychain.NewKeyFromString(a)
	kb, err2 := hdkeychain.NewKeyFromString(b)
	if err1 != nil || err2 != nil {
		return false
	}
	pa, err1 := ka.ECPubKey()
	pb, err2 := kb.ECPubKey()
	return err1 == nil && err2 == nil && pa.IsEqual(pb) && bytes.Equal(ka.ChainCode(), kb.ChainCode())
}

// differs says how the registration on the device differs from r, or ""
// when it is the same wallet.
func (r *record) differs(got *registered) string {
	g, w := got.Descriptor, r.desc
	switch {
	case g.Variant != w.Variant:
		return fmt.Sprintf("script %q, not %q", g.Variant, w.Variant)
	case g.Sorted != w.Sorted:
		return fmt.Sprintf("sorted %v, not %v", g.Sorted, w.Sorted)
	case g.Threshold != w.Threshold || len(g.Signers) != len(w.Signers):
		return fmt.Sprintf("%d of %d, not %d of %d", g.Threshold, len(g.Signers), w.Threshold, len(w.Signers))
	}
	for i := range w.Signers {
		a, b := g.Signers[i], w.Signers[i]
		if !bytes.Equal(a.Fingerprint, b.Fingerprint) || !slices.Equal(a.Derivation, b.Derivation) ||
			len(a.Path) != 0 || !sameXpub(a.Xpub, b.Xpub) {
			return fmt.Sprintf("cosigner %d differs", i+1)
		}
	}
	return ""
}

// summary is one entry of get_registered_multisigs, what firmware older
// than 1.0.23 can tell about a registration.
type summary struct {
	Variant    string `cbor:"variant"`
	Sorted     bool   `cbor:"sorted"`
	Threshold  int    `cbor:"threshold"`
	NumSigners int    `cbor:"num_signers"`
}

func (r *record) differsSummary(s summary) string {
	if s.Variant != r.desc.Variant || s.Sorted != r.desc.Sorted || s.Threshold != r.desc.Threshold || s.NumSigners != len(r.desc.Signers) {
		return fmt.Sprintf("%s %d of %d (sorted %v)", s.Variant, s.Threshold, s.NumSigners, s.Sorted)
	}
	return ""
}

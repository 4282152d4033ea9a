package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
)

// policyVersion is the first byte of a serialized wallet policy: version 2
// of the policy language (descriptor templates with @i/**), the one the app
// speaks since 2.1.0.
const policyVersion = 0x02

// maxNameLen is the app's MAX_WALLET_NAME_LENGTH.
const maxNameLen = 64

// WalletPolicy is a multisig wallet as the Ledger Bitcoin app knows it
// (doc/wallet.md, BIP-388): a name shown on the device, a descriptor
// template with key placeholders, and the keys.
//
//	Name:     "treasury"
//	Template: "wsh(sortedmulti(2,@0/**,@1/**,@2/**))"
//	Keys:     ["[f5acc2fd/48'/1'/0'/2']tpubDF...", ...]
type WalletPolicy struct {
	Name     string
	Template string
	Keys     []string
}

// PolicyFromDescriptor expresses d as the wallet policy named name. Every
// key must be an xpub ending in /<0;1>/* (or /0/* and /1/*, the Core
// receive/change pair); the Ledger has no other form for multisig keys.
func PolicyFromDescriptor(d *descriptor.Descriptor, name string) (*WalletPolicy, error) {
	if d == nil {
		return nil, errors.New("no wallet descriptor")
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if d.Script == descriptor.ScriptTr {
		return nil, &hw.Error{Kind: hw.ErrUnsupported, Err: errors.New(TaprootLimit)}
	}
	m := d.Multipath()
	keys := make([]string, len(m.Keys))
	args := make([]string, 0, len(m.Keys)+1)
	args = append(args, strconv.Itoa(m.Threshold))
	for i, k := range m.Keys {
		info, err := keyInfo(k)
		if err != nil {
			return nil, fmt.Errorf("key %d of the wallet: %w", i+1, err)
		}
		keys[i] = info
		args = append(args, "@"+strconv.Itoa(i)+"/**")
	}
	fn := "multi"
	if m.Sorted {
		fn = "sortedmulti"
	}
	inner := fn + "(" + strings.Join(args, ",") + ")"
	var tmpl string
	switch m.Script {
	case descriptor.ScriptWsh:
		tmpl = "wsh(" + inner + ")"
	case descriptor.ScriptShWsh:
		tmpl = "sh(wsh(" + inner + "))"
	case descriptor.ScriptSh:
		tmpl = "sh(" + inner + ")"
	default:
		return nil, fmt.Errorf("script type %v is not one the Ledger registers", m.Script)
	}
	return &WalletPolicy{Name: name, Template: tmpl, Keys: keys}, nil
}

// checkName applies the app's rules for wallet names.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("wallet name %q: the Ledger takes names of 1 to %d characters", name, maxNameLen)
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("wallet name %q: the Ledger takes only printable ASCII characters", name)
		}
	}
	if name[0] == ' ' || name[len(name)-1] == ' ' {
		return fmt.Errorf("wallet name %q: the Ledger refuses names that start or end with a space", name)
	}
	return nil
}

// keyInfo writes one key as the app's key information: the origin in
// brackets with ' for hardened steps, then the xpub.
func keyInfo(k descriptor.Key) (string, error) {
	if k.XPub == nil {
		return "", errors.New("it is a plain public key; the Ledger needs an extended key (xpub/tpub)")
	}
	if len(k.Path) != 1 || k.Path[0].Multi == nil || len(k.Path[0].Multi) != 2 ||
		k.Path[0].Multi[0] != 0 || k.Path[0].Multi[1] != 1 || !k.Wildcard || k.HardenedWildcard {
		return "", fmt.Errorf("%s: the Ledger only takes keys that end in /<0;1>/* (receive /0/*, change /1/*)", k)
	}
	var b strings.Builder
	if k.Origin != nil {
		b.WriteByte('[')
		b.WriteString(hex.EncodeToString(k.Origin.Fingerprint[:]))
		for _, s := range k.Origin.Path {
			b.WriteString(descriptor.Path{s}.Steps())
		}
		b.WriteByte(']')
	}
	pub, err := k.XPub.Neuter()
	if err != nil {
		return "", err
	}
	b.WriteString(pub.String())
	return b.String(), nil
}

// Serialize returns the policy as the app hashes it:
//
//	0x02 | len(name)(1) | name | varint(len(template)) | sha256(template) |
//	varint(len(keys)) | Merkle root of the keys
func (p *WalletPolicy) Serialize() []byte {
	tmplHash := sha256.Sum256([]byte(p.Template))
	root := p.keyList().tree.root
	out := make([]byte, 0, 2+len(p.Name)+9+32+9+32)
	out = append(out, policyVersion, byte(len(p.Name)))
	out = append(out, p.Name...)
	out = appendVarint(out, uint64(len(p.Template)))
	out = append(out, tmplHash[:]...)
	out = appendVarint(out, uint64(len(p.Keys)))
	return append(out, root[:]...)
}

// ID is the wallet id: sha256 of the serialized policy. The device's HMAC
// is over this id.
func (p *WalletPolicy) ID() [32]byte { return sha256.Sum256(p.Serialize()) }

// keyList is the Merkle list of the key information strings.
func (p *WalletPolicy) keyList() *merkleList {
	keys := make([][]byte, len(p.Keys))
	for i, k := range p.Keys {
		keys[i] = []byte(k)
	}
	return newMerkleList(keys)
}

// addTo makes the policy available to the app's requests: the serialized
// policy, the template and the list of keys.
func (p *WalletPolicy) addTo(it *interpreter) {
	it.addPreimage(p.Serialize())
	it.addPreimage([]byte(p.Template))
	it.addList(p.keyList())
}

// String prints the policy for messages.
func (p *WalletPolicy) String() string {
	return fmt.Sprintf("%q %s with keys %s", p.Name, p.Template, strings.Join(p.Keys, ", "))
}

// TaprootLimit is why the Ledger driver refuses taproot (tr) wallets for
// now: BIP-388 wallet policies can describe tr() with multi_a leaves (and,
// in recent app versions, musig()), but countersign's Ledger driver builds,
// registers and signs sh/wsh multisig policies only.
const TaprootLimit = "countersign's Ledger driver does not register taproot (tr) wallet policies yet (only sh/wsh multisig); sign this wallet with another cosigner (software key, file)"

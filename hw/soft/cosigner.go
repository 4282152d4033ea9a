package soft

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/psbt"
)

// checkCosigner verifies that the key may act for the wallet d on net: same
// network family, and at least one of d's keys is this key. A key counts as
// ours when its origin fingerprint is ours and our key at the origin path is
// exactly that key: four bytes of fingerprint can collide, and a wallet built
// from another account path would otherwise pass here and then sign nothing.
func (s *Signer) checkCosigner(master *hdkeychain.ExtendedKey, d *descriptor.Descriptor, net *chaincfg.Params) error {
	if d == nil {
		return fmt.Errorf("%w: key %q was given no wallet descriptor", descriptor.ErrInvalid, s.name)
	}
	if net == nil {
		return fmt.Errorf("%w: key %q was given no network", descriptor.ErrInvalid, s.name)
	}
	if !bytes.Equal(s.net.HDPrivateKeyID[:], net.HDPrivateKeyID[:]) {
		return fmt.Errorf("%w: key %q is a %s key but the wallet is on %s; use a key made for %s",
			psbt.ErrRefused, s.name, descriptor.NetworkName(s.net), descriptor.NetworkName(net), descriptor.NetworkName(net))
	}
	found := false
	for i := range d.Keys {
		ok, err := s.isOurs(master, &d.Keys[i])
		if err != nil {
			return fmt.Errorf("%w: key #%d of the wallet: %v", psbt.ErrRefused, i+1, err)
		}
		found = found || ok
	}
	if !found {
		return fmt.Errorf("%w: key %q (fingerprint %s) is not a cosigner of this wallet; pick the signer of one of the wallet's keys",
			psbt.ErrRefused, s.name, s.fpHex())
	}
	return nil
}

// isOurs tells whether k is this master key or one of its descendants.
func (s *Signer) isOurs(master *hdkeychain.ExtendedKey, k *descriptor.Key) (bool, error) {
	var path []uint32
	switch {
	case k.Origin != nil && k.Origin.Fingerprint == s.fp:
		path = k.Origin.Path
	case k.Origin == nil && k.XPub != nil && k.XPub.Depth() == 0:
		path = nil // a bare master xpub: compare it with ours below
	default:
		return false, nil
	}
	pub, chainCode, err := derivePub(master, path)
	if err != nil {
		return false, err
	}
	if k.XPub != nil {
		kp, err := k.XPub.ECPubKey()
		if err != nil {
			return false, err
		}
		if bytes.Equal(kp.SerializeCompressed(), pub.SerializeCompressed()) && bytes.Equal(k.XPub.ChainCode(), chainCode) {
			return true, nil
		}
	} else if k.PubKey != nil && k.PubKey.IsEqual(pub) {
		return true, nil
	}
	if k.Origin == nil {
		return false, nil // another master key that merely sits at depth 0
	}
	return false, fmt.Errorf("it claims key %q's fingerprint %s at %s, but that is not the key found there; the wallet was made with a different key or account path",
		s.name, s.fpHex(), descriptor.Path(path))
}

// Package hw is countersign's signer layer. One adapter, Signer, is what the
// rest of countersign uses; under it each vendor package (hw/coldcard,
// hw/ledger, hw/trezor, ...) and the software and file signers (hw/soft,
// hw/file) implement the small Device interface, which only speaks the
// device's protocol. The adapter does everything that must be the same for
// every signer, once:
//
//   - exclusive use: one operation at a time per signer, waiting honours ctx;
//   - the wallet check (psbt.CheckWallet) before any device sees a PSBT;
//   - a private copy of the PSBT for the device (psbt.Clone);
//   - taking back only new signatures (ECDSA partial signatures, taproot
//     key- and script-path signatures, MuSig2 nonces and partial
//     signatures), each for a key the signer holds in the input's script,
//     each verified against the caller's own copy of the input (never the
//     device's);
//   - comparing the address a device shows with the one the wallet derives;
//   - classifying every failure into a kind (rejected, locked, app closed,
//     disconnected, timeout, unsupported, not registered) the CLI maps to an
//     exit code without reading messages.
//
// Drivers receive a PSBT and the wallet; they never touch the store or the
// chain: registration records and drafts are the caller's job.
package hw

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/psbt"
)

// Wallet is what a signer is told about the wallet it works for.
type Wallet struct {
	Name       string
	Descriptor *descriptor.Descriptor
	Network    *chaincfg.Params
	// Token is the device's proof of an earlier registration (Ledger's
	// HMAC), as Register returned it; nil when there is none.
	Token []byte
}

func (w *Wallet) info() psbt.WalletInfo {
	return psbt.WalletInfo{Descriptor: w.Descriptor, Network: w.Network}
}

// Device is one vendor driver's connection to one signer: the protocol and
// nothing else. The adapter (Signer) serialises calls, so implementations
// need no locking of their own; it also checks and verifies everything
// around them, so a Device reports what the device said and no more.
type Device interface {
	// Info describes the device without prompting the user.
	Info() DeviceInfo
	// Fingerprint is the BIP-32 fingerprint of the master key. A signer
	// that cannot tell (a file signer) returns an ErrUnsupported error.
	Fingerprint(ctx context.Context) ([4]byte, error)
	// Xpub returns the extended public key at path from the master.
	Xpub(ctx context.Context, path descriptor.Path) (*hdkeychain.ExtendedKey, error)
	// Register enrols the wallet on the device and returns its proof of
	// registration where it gives one (Ledger's HMAC), else nil.
	Register(ctx context.Context, w *Wallet) ([]byte, error)
	// DisplayAddress shows the wallet's address at (branch, index) on the
	// device and returns the address the device computed.
	DisplayAddress(ctx context.Context, w *Wallet, branch, index uint32) (string, error)
	// SignPSBT has the device sign p, a private copy it may change, and
	// returns what the device gave back: p with signatures added, or a
	// packet the device produced. Only new partial signatures are taken
	// from it, each verified.
	SignPSBT(ctx context.Context, p *bpsbt.Packet, w *Wallet) (*bpsbt.Packet, error)
	// Close releases the device.
	Close() error
}

// Signer is the adapter over one Device; see the package comment. Its
// methods are safe for concurrent use: they take turns on the device.
type Signer struct {
	dev  Device
	info DeviceInfo
	use  chan struct{} // one slot: whoever holds it owns the device

	closeOnce sync.Once
	closeErr  error
}

// NewSigner wraps an open Device.
func NewSigner(dev Device) *Signer {
	return &Signer{dev: dev, info: dev.Info(), use: make(chan struct{}, 1)}
}

// Info describes the signer as it was opened.
func (s *Signer) Info() DeviceInfo { return s.info }

// Device returns the driver under the adapter, for driver-specific extras
// (statistics in tests, a Trezor's features).
func (s *Signer) Device() Device { return s.dev }

// Name is how messages refer to the signer: "coldcard 0f056943",
// "software key office", "PSBT files in /media/SD".
func (s *Signer) Name() string {
	if s.info.Name != "" {
		return s.info.Name
	}
	if s.info.Fingerprint != "" {
		return s.info.Type + " " + s.info.Fingerprint
	}
	if s.info.Path != "" {
		return s.info.Type + " at " + s.info.Path
	}
	return s.info.Type
}

func (s *Signer) acquire(ctx context.Context) error {
	select {
	case s.use <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: waiting for the device: %w", s.Name(), ctx.Err())
	}
}

func (s *Signer) release() { <-s.use }

// Fingerprint is the signer's master key fingerprint.
func (s *Signer) Fingerprint(ctx context.Context) ([4]byte, error) {
	if err := s.acquire(ctx); err != nil {
		return [4]byte{}, err
	}
	defer s.release()
	fp, err := s.dev.Fingerprint(ctx)
	return fp, classify(s.Name(), "read the master fingerprint", err)
}

// fingerprint is Fingerprint under the caller's turn; known is false for a
// signer that cannot tell.
func (s *Signer) fingerprint(ctx context.Context) (fp [4]byte, known bool, err error) {
	fp, err = s.dev.Fingerprint(ctx)
	switch {
	case errors.Is(err, ErrUnsupported):
		return fp, false, nil
	case err != nil:
		return fp, false, classify(s.Name(), "read the master fingerprint", err)
	}
	return fp, true, nil
}

// Xpub returns the extended public key at path, checked to be a public key
// at the depth and child number the path asks for.
func (s *Signer) Xpub(ctx context.Context, path descriptor.Path) (*hdkeychain.ExtendedKey, error) {
	const op = "read an extended public key"
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	k, err := s.dev.Xpub(ctx, path)
	if err != nil {
		return nil, classify(s.Name(), op, err)
	}
	switch {
	case k.IsPrivate():
		return nil, classify(s.Name(), op, errors.New("the device returned a private key"))
	case int(k.Depth()) != len(path) || (len(path) > 0 && k.ChildIndex() != path[len(path)-1]):
		return nil, classify(s.Name(), op, fmt.Errorf("the device returned a key at depth %d, child %d for %s", k.Depth(), k.ChildIndex(), path))
	}
	return k, nil
}

// KeyExpression reads the xpub at path and returns it as a descriptor key
// with its origin, [fingerprint/path]xpub, ready for a multisig wallet.
func (s *Signer) KeyExpression(ctx context.Context, path descriptor.Path) (descriptor.Key, error) {
	fp, err := s.Fingerprint(ctx)
	if err != nil {
		return descriptor.Key{}, err
	}
	x, err := s.Xpub(ctx, path)
	if err != nil {
		return descriptor.Key{}, err
	}
	return descriptor.Key{Origin: &descriptor.Origin{Fingerprint: fp, Path: append([]uint32(nil), path...)}, XPub: x}, nil
}

// Register enrols the wallet on the signer. A signer whose fingerprint is
// none of the wallet's keys is refused first: registering would not let it
// sign, and a user who picked the wrong device should hear so.
func (s *Signer) Register(ctx context.Context, w *Wallet) ([]byte, error) {
	const op = "register wallet"
	if err := s.checkMiniscript(w); err != nil {
		return nil, err
	}
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	fp, known, err := s.fingerprint(ctx)
	if err != nil {
		return nil, err
	}
	if known && !holdsKey(w.Descriptor, fp) {
		return nil, fmt.Errorf("%w: %s (fingerprint %x) holds none of wallet %q's keys; registering it would not let it sign", ErrMismatch, s.Name(), fp, w.Name)
	}
	token, err := s.dev.Register(ctx, w)
	return token, classify(s.Name(), op, err)
}

// holdsKey reports whether some key of d has the master fingerprint fp.
func holdsKey(d *descriptor.Descriptor, fp [4]byte) bool {
	for _, k := range d.Keys {
		if k.Origin != nil && k.Origin.Fingerprint == fp {
			return true
		}
	}
	return false
}

// DisplayAddress shows the wallet's address at (branch, index) on the
// device and checks that the device computed the address the wallet
// derives. A different address is ErrMismatch (a safety refusal).
func (s *Signer) DisplayAddress(ctx context.Context, w *Wallet, branch, index uint32) (string, error) {
	const op = "show address"
	if err := s.checkMiniscript(w); err != nil {
		return "", err
	}
	der, err := w.Descriptor.Multipath().Derive(branch, index, w.Network)
	if err != nil {
		return "", err
	}
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	got, err := s.dev.DisplayAddress(ctx, w, branch, index)
	if err != nil {
		return "", classify(s.Name(), op, err)
	}
	if got != der.Address {
		return "", fmt.Errorf("%w: %s shows %q but wallet %q derives %s at %d/%d: do not use this address; check that the device holds this wallet's key and registration",
			ErrMismatch, s.Name(), got, w.Name, der.Address, branch, index)
	}
	return got, nil
}

// SignResult is what one signer added to a PSBT.
type SignResult struct {
	// PSBT is the caller's packet with the new signatures added; nothing
	// else of what the device returned is kept.
	PSBT *bpsbt.Packet
	// Added counts the new partial signatures, all verified.
	Added int
	// AlreadySigned is true when the signer had nothing left to sign: every
	// input it holds a key of already carries its signature. The device
	// was not asked.
	AlreadySigned bool
	// WaitingMuSig2 is set with AlreadySigned when the signer has given its
	// MuSig2 nonce and waits for the other participants' nonces before it
	// can add its partial signature.
	WaitingMuSig2 bool
}

// Sign has the signer sign p for wallet w. p is not changed. Before the
// device sees anything the PSBT must pass psbt.CheckWallet; afterwards only
// new partial signatures for the signer's own keys are taken back, each
// verified against p's own view of its input.
func (s *Signer) Sign(ctx context.Context, p *bpsbt.Packet, w *Wallet) (*SignResult, error) {
	const op = "sign transaction"
	if err := psbt.CheckWallet(p, w.info()); err != nil {
		return nil, fmt.Errorf("will not hand this PSBT to %s: %w", s.Name(), err)
	}
	if err := s.checkMiniscript(w); err != nil {
		return nil, err
	}
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	fp, known, err := s.fingerprint(ctx)
	if err != nil {
		return nil, err
	}
	if known {
		todo, holds, waiting := unsignedKeys(p, fp)
		if holds == 0 {
			return nil, fmt.Errorf("%w: %s (fingerprint %x) holds no key of any input of this PSBT: it is not a cosigner of wallet %q, or the PSBT lacks its BIP-32 derivations (run `countersign psbt update`)",
				ErrMismatch, s.Name(), fp, w.Name)
		}
		if todo == 0 {
			return &SignResult{PSBT: p, AlreadySigned: true, WaitingMuSig2: waiting > 0}, nil
		}
	}
	c, err := psbt.Clone(p)
	if err != nil {
		return nil, err
	}
	returned, err := s.dev.SignPSBT(ctx, c, w)
	if err != nil {
		return nil, classify(s.Name(), op, err)
	}
	out, added, err := takeSignatures(p, returned, fp, known)
	if err != nil {
		return nil, classify(s.Name(), op, err)
	}
	if added == 0 {
		return nil, classify(s.Name(), op, errors.New("the signer approved but returned no new signature"))
	}
	return &SignResult{PSBT: out, Added: added}, nil
}

// unsignedKeys counts, over p's inputs, the keys with fingerprint fp in the
// BIP-32 derivations (holds) and those of them without a signature yet.
func unsignedKeys(p *bpsbt.Packet, fp [4]byte) (todo, holds, waiting int) {
	v := binary.LittleEndian.Uint32(fp[:])
	for i := range p.Inputs {
		in := &p.Inputs[i]
		if len(in.FinalScriptSig) > 0 || len(in.FinalScriptWitness) > 0 {
			continue
		}
		for _, d := range in.Bip32Derivation {
			if d == nil || d.MasterKeyFingerprint != v {
				continue
			}
			holds++
			if !hasSig(in, d.PubKey) {
				todo++
			}
		}
		// MuSig2 (BIP-373): a participant has a step to take while its
		// partial signature is missing (a nonce, or the signature once all
		// nonces are in; the device reports when it is waiting).
		for _, u := range in.Unknowns {
			if u != nil && len(u.Key) == 34 && u.Key[0] == 0x1a {
				for _, d := range in.TaprootBip32Derivation {
					if d != nil && d.MasterKeyFingerprint == v && len(d.LeafHashes) == 0 && participates(u.Value, d.XOnlyPubKey) {
						holds++
						switch {
						case hasMuSigSig(in, d.XOnlyPubKey, u.Key[1:]):
						case hasMuSigRecord(in, 0x1b, d.XOnlyPubKey, u.Key[1:]) && !allNonces(in, u.Key[1:], u.Value):
							waiting++
						default:
							todo++
						}
					}
				}
			}
		}
		// Taproot key path by a single internal key (tr(KEY,...)): its
		// holder signs it.
		for _, d := range in.TaprootBip32Derivation {
			if d != nil && d.MasterKeyFingerprint == v && len(d.LeafHashes) == 0 && len(in.TaprootInternalKey) == 32 && bytes.Equal(d.XOnlyPubKey, in.TaprootInternalKey) {
				holds++
				if len(in.TaprootKeySpendSig) == 0 {
					todo++
				}
			}
		}
		// Taproot (BIP-371): a key signs each leaf it appears in.
		for _, d := range in.TaprootBip32Derivation {
			if d == nil || d.MasterKeyFingerprint != v || len(d.LeafHashes) == 0 {
				continue
			}
			holds++
			for _, h := range d.LeafHashes {
				if !hasTapSig(in, d.XOnlyPubKey, h) {
					todo++
				}
			}
		}
	}
	return todo, holds, waiting
}

// participates reports whether x-only key x is one of a BIP-373
// participants list (33-byte keys).
func participates(list, x []byte) bool {
	for off := 0; off+33 <= len(list); off += 33 {
		if bytes.Equal(list[off+1:off+33], x) {
			return true
		}
	}
	return false
}

// hasMuSigSig reports whether the input holds a MuSig2 partial signature
// by the participant with x-only key x for aggregate agg.
func hasMuSigSig(in *bpsbt.PInput, x, agg []byte) bool {
	return hasMuSigRecord(in, 0x1c, x, agg)
}

// hasMuSigRecord reports whether the input holds a BIP-373 record of the
// type (0x1b nonce, 0x1c partial signature) by x for aggregate agg.
func hasMuSigRecord(in *bpsbt.PInput, keyType byte, x, agg []byte) bool {
	for _, u := range in.Unknowns {
		if u != nil && len(u.Key) == 67 && u.Key[0] == keyType && bytes.Equal(u.Key[2:34], x) && bytes.Equal(u.Key[34:], agg) {
			return true
		}
	}
	return false
}

// allNonces reports whether every participant of the list has its public
// nonce for aggregate agg in the input.
func allNonces(in *bpsbt.PInput, agg, list []byte) bool {
	for off := 0; off+33 <= len(list); off += 33 {
		if !hasMuSigRecord(in, 0x1b, list[off+1:off+33], agg) {
			return false
		}
	}
	return true
}

// takeMuSigRecords takes back the new BIP-373 public nonces and partial
// signatures of input i for the signer's own participant keys, each
// checked by the verifier (a partial signature against the nonces in p).
func takeMuSigRecords(p, returned *bpsbt.Packet, out *bpsbt.PInput, v *psbt.SigVerifier, i int, fp [4]byte, known bool) (int, error) {
	fpv := binary.LittleEndian.Uint32(fp[:])
	added := 0
	for _, u := range returned.Inputs[i].Unknowns {
		if u == nil {
			continue
		}
		pub, ok := psbt.IsMuSig2Record(u.Key)
		if !ok || hasRecord(out, u.Key) {
			continue
		}
		var owner *bpsbt.TaprootBip32Derivation
		for _, d := range p.Inputs[i].TaprootBip32Derivation {
			if d != nil && bytes.Equal(d.XOnlyPubKey, pub[1:]) {
				owner = d
			}
		}
		switch {
		case owner == nil:
			return 0, fmt.Errorf("input %d: the signer added a MuSig2 record for key %x, which is not a key of this input", i, pub)
		case known && owner.MasterKeyFingerprint != fpv:
			return 0, fmt.Errorf("input %d: the signer (fingerprint %x) added a MuSig2 record for another cosigner's key %x", i, fp, pub)
		}
		if err := v.VerifyMuSig2(i, u.Key, u.Value); err != nil {
			return 0, fmt.Errorf("input %d: the signer's MuSig2 record for key %x is refused: %w", i, pub, err)
		}
		out.Unknowns = append(out.Unknowns, &bpsbt.Unknown{Key: bytes.Clone(u.Key), Value: bytes.Clone(u.Value)})
		added++
	}
	return added, nil
}

func hasRecord(in *bpsbt.PInput, key []byte) bool {
	for _, u := range in.Unknowns {
		if u != nil && bytes.Equal(u.Key, key) {
			return true
		}
	}
	return false
}

func hasTapSig(in *bpsbt.PInput, x, leafHash []byte) bool {
	for _, s := range in.TaprootScriptSpendSig {
		if s != nil && bytes.Equal(s.XOnlyPubKey, x) && bytes.Equal(s.LeafHash, leafHash) {
			return true
		}
	}
	return false
}

// takeTapSignatures takes back the new taproot script-path signatures of
// input i, under the same rules as takeSignatures: a key of the input
// derived from fp (when known), verified against p's own input.
func takeTapSignatures(p, returned *bpsbt.Packet, out *bpsbt.PInput, v *psbt.SigVerifier, i int, fp [4]byte, known bool) (int, error) {
	fpv := binary.LittleEndian.Uint32(fp[:])
	added := 0
	for _, s := range returned.Inputs[i].TaprootScriptSpendSig {
		if s == nil || hasTapSig(out, s.XOnlyPubKey, s.LeafHash) {
			continue
		}
		var owner *bpsbt.TaprootBip32Derivation
		for _, d := range p.Inputs[i].TaprootBip32Derivation {
			if d != nil && bytes.Equal(d.XOnlyPubKey, s.XOnlyPubKey) {
				owner = d
			}
		}
		switch {
		case owner == nil:
			return 0, fmt.Errorf("input %d: the signer signed for taproot key %x, which is not a key of this input", i, s.XOnlyPubKey)
		case known && owner.MasterKeyFingerprint != fpv:
			f := fingerprintBytes(owner.MasterKeyFingerprint)
			return 0, fmt.Errorf("input %d: the signer (fingerprint %x) returned a signature for cosigner %s's taproot key %x", i, fp, hex.EncodeToString(f[:]), s.XOnlyPubKey)
		case s.SigHash != txscript.SigHashDefault:
			return 0, fmt.Errorf("input %d: the signer's taproot signature uses sighash 0x%x; only SIGHASH_DEFAULT is accepted", i, uint32(s.SigHash))
		}
		if err := v.VerifyTap(i, s.XOnlyPubKey, s.LeafHash, s.Signature); err != nil {
			return 0, fmt.Errorf("input %d: the signer's taproot signature for key %x does not verify: %w", i, s.XOnlyPubKey, err)
		}
		c := *s
		c.XOnlyPubKey, c.LeafHash, c.Signature = bytes.Clone(s.XOnlyPubKey), bytes.Clone(s.LeafHash), bytes.Clone(s.Signature)
		out.TaprootScriptSpendSig = append(out.TaprootScriptSpendSig, &c)
		added++
	}
	return added, nil
}

// takeTapKeySignature takes back a new taproot key-path signature of
// input i, from a signer whose key is the input's internal key (by the
// input's own derivations, from fp when known), verified against p's own
// input by the output key.
func takeTapKeySignature(p, returned *bpsbt.Packet, out *bpsbt.PInput, v *psbt.SigVerifier, i int, fp [4]byte, known bool) (int, error) {
	sig := returned.Inputs[i].TaprootKeySpendSig
	if len(sig) == 0 || len(out.TaprootKeySpendSig) > 0 {
		return 0, nil
	}
	internal := p.Inputs[i].TaprootInternalKey
	var owner *bpsbt.TaprootBip32Derivation
	for _, d := range p.Inputs[i].TaprootBip32Derivation {
		if d != nil && len(internal) == 32 && bytes.Equal(d.XOnlyPubKey, internal) {
			owner = d
		}
	}
	switch {
	case owner == nil:
		return 0, fmt.Errorf("input %d: the signer returned a key-path signature, but the input's internal key is none of its derived keys", i)
	case known && owner.MasterKeyFingerprint != binary.LittleEndian.Uint32(fp[:]):
		f := fingerprintBytes(owner.MasterKeyFingerprint)
		return 0, fmt.Errorf("input %d: the signer (fingerprint %x) returned a key-path signature for cosigner %s's internal key %x", i, fp, hex.EncodeToString(f[:]), internal)
	}
	if err := v.VerifyTapKey(i, sig); err != nil {
		return 0, fmt.Errorf("input %d: the signer's key-path signature does not verify: %w", i, err)
	}
	out.TaprootKeySpendSig = bytes.Clone(sig)
	return 1, nil
}

func hasSig(in *bpsbt.PInput, pub []byte) bool {
	for _, ps := range in.PartialSigs {
		if ps != nil && bytes.Equal(ps.PubKey, pub) {
			return true
		}
	}
	return false
}

// takeSignatures returns a copy of p with the partial signatures in
// returned that p lacks. Each must be for a key that p's own input derives
// from fp (when the signer's fingerprint is known; a file signer may bring
// any cosigner's) and must verify against p's input. Anything else the
// device returned is ignored; a signature that fails is an error naming
// the input, never dropped silently.
func takeSignatures(p, returned *bpsbt.Packet, fp [4]byte, known bool) (*bpsbt.Packet, int, error) {
	if returned == nil || returned.UnsignedTx == nil || returned.UnsignedTx.TxHash() != p.UnsignedTx.TxHash() || len(returned.Inputs) != len(p.Inputs) {
		return nil, 0, errors.New("the signer returned a PSBT for a different transaction")
	}
	out, err := psbt.Clone(p)
	if err != nil {
		return nil, 0, err
	}
	v, err := psbt.NewSigVerifier(p)
	if err != nil {
		return nil, 0, err
	}
	fpv := binary.LittleEndian.Uint32(fp[:])
	added := 0
	for i := range returned.Inputs {
		in := &out.Inputs[i]
		n, err := takeTapSignatures(p, returned, in, v, i, fp, known)
		if err != nil {
			return nil, 0, err
		}
		added += n
		if n, err = takeTapKeySignature(p, returned, in, v, i, fp, known); err != nil {
			return nil, 0, err
		}
		added += n
		if n, err = takeMuSigRecords(p, returned, in, v, i, fp, known); err != nil {
			return nil, 0, err
		}
		added += n
		for _, ps := range returned.Inputs[i].PartialSigs {
			if ps == nil || hasSig(in, ps.PubKey) {
				continue
			}
			owner := derivationOf(&p.Inputs[i], ps.PubKey)
			switch {
			case owner == nil:
				return nil, 0, fmt.Errorf("input %d: the signer signed for key %x, which is not a key of this input", i, ps.PubKey)
			case known && owner.MasterKeyFingerprint != fpv:
				f := fingerprintBytes(owner.MasterKeyFingerprint)
				return nil, 0, fmt.Errorf("input %d: the signer (fingerprint %x) returned a signature for cosigner %s's key %x", i, fp, hex.EncodeToString(f[:]), ps.PubKey)
			}
			if err := v.Verify(i, ps.PubKey, ps.Signature); err != nil {
				return nil, 0, fmt.Errorf("input %d: the signer's signature for key %x does not verify: %w", i, ps.PubKey, err)
			}
			in.PartialSigs = append(in.PartialSigs, &bpsbt.PartialSig{PubKey: bytes.Clone(ps.PubKey), Signature: bytes.Clone(ps.Signature)})
			added++
		}
	}
	return out, added, nil
}

func derivationOf(in *bpsbt.PInput, pub []byte) *bpsbt.Bip32Derivation {
	for _, d := range in.Bip32Derivation {
		if d != nil && bytes.Equal(d.PubKey, pub) {
			return d
		}
	}
	return nil
}

func fingerprintBytes(v uint32) [4]byte {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return b
}

// Close releases the device; later calls fail.
func (s *Signer) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.dev.Close() })
	return s.closeErr
}

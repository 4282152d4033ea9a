package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/descriptor/formats"
	"github.com/countersign/countersign/descriptor/formats/paper"
)

// Backups and BIP-129 (BSMS) setups: the printable page, the encrypted
// descriptor record (round 2) and the signers' key records (round 1).
// The formats live in descriptor/formats and descriptor/formats/paper;
// these workflows tie them to the store.

// ExportPaper renders a stored wallet's one-page backup (see package
// paper): name, policy in words, cosigners, the descriptor as text and QR
// code(s), the first receive addresses and restore instructions.
func (c *Coordinator) ExportPaper(ctx context.Context, name string, opts paper.Options) (*paper.Result, error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	r, err := paper.RenderResult(w.Portable(), opts)
	if errors.Is(err, paper.ErrInvalid) {
		return nil, fmt.Errorf("%w: %w", descriptor.ErrInvalid, err)
	}
	return r, err
}

// ExportBSMS writes a stored wallet as a BIP-129 descriptor record (round
// 2), once per token: each token (hex, decimal or six words) gives that
// record encrypted for it (STANDARD: one token for every signer;
// EXTENDED: one token per signer, one file each). No token gives the plain
// record. Each encrypted record is decrypted and read back before it is
// returned.
func (c *Coordinator) ExportBSMS(ctx context.Context, name string, tokens []string) ([][]byte, error) {
	w, err := c.Wallet(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		tokens = []string{""}
	}
	out := make([][]byte, 0, len(tokens))
	for i, t := range tokens {
		hexToken, err := bsmsTokenHex(t)
		if err != nil {
			return nil, fmt.Errorf("token %d: %w", i+1, err)
		}
		b, err := formats.ExportBSMS(w.Portable(), hexToken)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// bsmsTokenHex reads a token as a user types it for encryption: it must
// name one token (a decimal number that could also be read as hex is
// refused as ambiguous), or be empty/"00" for none.
func bsmsTokenHex(t string) (string, error) {
	cands, err := formats.BSMSTokenCandidates(t)
	switch {
	case err != nil:
		return "", err
	case len(cands) == 0:
		return "", nil
	case len(cands) > 1:
		return "", fmt.Errorf("%w: token %q reads as hex %s and as decimal %s: give the 16 or 32 hex digits with a 0x prefix, or the words",
			formats.ErrBSMSToken, t, cands[0], cands[1])
	}
	return cands[0], nil
}

// NewBSMSTokens makes the tokens of a BIP-129 setup session: one 64-bit
// token (STANDARD) when signers is 0, else one 128-bit token per signer
// (EXTENDED).
func NewBSMSTokens(signers int) ([]string, error) {
	if signers < 0 || signers > 20 {
		return nil, fmt.Errorf("%w: %d signers: a multisig setup has 1 to 20", descriptor.ErrInvalid, signers)
	}
	bits, n := 64, 1
	if signers > 0 {
		bits, n = 128, signers
	}
	out := make([]string, 0, n)
	for range n {
		t, err := formats.NewBSMSToken(bits)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// BSMSKeyRecord is a signer's verified BIP-129 key record (round 1) as a
// cosigner of a new wallet.
type BSMSKeyRecord struct {
	Cosigner Cosigner
	Record   *formats.KeyRecord
	// Token is the hex token the record was sent with ("00" when not
	// encrypted).
	Token string
}

// ReadBSMSKeyRecord reads one signer's key record, plain (.bsms) or
// encrypted (.dat), trying each of the setup's tokens, and verifies it:
// its TOKEN line is one of the tokens (when any is given), its signature
// is made by the key it carries. The key becomes a cosigner labelled with
// the record's description (untrusted text), with the usual /<0;1>/*
// receive and change paths. A record carrying a plain public key is
// refused: a wallet needs an xpub to derive addresses.
func ReadBSMSKeyRecord(data []byte, tokens []string) (*BSMSKeyRecord, error) {
	// A blank token is no token; it must not stand beside real ones, where
	// trying it would accept a record of any session.
	try := nonBlank(tokens)
	if len(try) == 0 {
		try = []string{""}
	}
	var errs []error
	for _, t := range try {
		r, err := formats.ParseBSMSKeyRecord(data, t)
		if err != nil {
			if errors.Is(err, formats.ErrBSMSToken) {
				errs = append(errs, err)
				continue
			}
			return nil, err
		}
		if r.Key.XPub == nil {
			return nil, fmt.Errorf("%w: the key record of %q carries a plain public key; a wallet needs the signer's xpub (the record is valid and signed, but countersign cannot derive addresses from it)",
				descriptor.ErrInvalid, r.Description)
		}
		k := r.Key
		if len(k.Path) == 0 && !k.Wildcard {
			k.Path = []descriptor.PathElem{{Multi: []uint32{0, 1}}}
			k.Wildcard = true
		}
		return &BSMSKeyRecord{Cosigner: Cosigner{Label: r.Description, Key: k}, Record: r, Token: r.Token}, nil
	}
	return nil, tokensFailed("key record", errs)
}

// tokensFailed reports that none of several tokens worked.
func tokensFailed(what string, errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = fmt.Sprintf("token %d: %v", i+1, e)
	}
	return fmt.Errorf("%w: %w: none of the %d tokens opens the %s (%s)", descriptor.ErrInvalid, formats.ErrBSMSToken, len(errs), what, strings.Join(msgs, "; "))
}

// importFile reads a wallet file in any format; an encrypted BSMS
// descriptor record is decrypted with the first of tokens that opens it.
func importFile(data []byte, defNet *chaincfg.Params, tokens []string) (*formats.Wallet, formats.Format, error) {
	tokens = nonBlank(tokens)
	if len(tokens) == 0 {
		return formats.Import(data, defNet)
	}
	var errs []error
	for _, t := range tokens {
		w, f, err := formats.ImportWithOptions(data, formats.ImportOptions{DefaultNet: defNet, BSMSToken: t})
		if err == nil || !errors.Is(err, formats.ErrBSMSToken) {
			return w, f, err
		}
		errs = append(errs, err)
	}
	return nil, formats.FormatBSMS, tokensFailed("descriptor record", errs)
}

// nonBlank drops blank tokens.
func nonBlank(tokens []string) []string {
	var out []string
	for _, t := range tokens {
		if strings.TrimSpace(t) != "" {
			out = append(out, t)
		}
	}
	return out
}

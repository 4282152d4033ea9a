package coordinator

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/internal/bip329"
	"github.com/countersign/countersign/wallet"
)

// labelIndex answers "what is this labelled" for one wallet.
type labelIndex map[string]string // type + " " + ref -> label

func (c *Coordinator) labelIndex(ctx context.Context, name string) (labelIndex, error) {
	ls, err := c.Store.Labels(ctx, name)
	if err != nil {
		return nil, err
	}
	idx := make(labelIndex, len(ls))
	for _, l := range ls {
		if l.Label != nil && *l.Label != "" {
			idx[l.Type+" "+l.Ref] = *l.Label
		}
	}
	return idx, nil
}

func (x labelIndex) get(typ, ref string) string { return x[typ+" "+ref] }

func (x labelIndex) tx(id chainhash.Hash) string { return x.get(wallet.LabelTx, id.String()) }

// output is an output's label, else its address's.
func (x labelIndex) output(op wire.OutPoint, address string) string {
	if l := x.get(wallet.LabelOutput, op.String()); l != "" {
		return l
	}
	return x.get(wallet.LabelAddr, address)
}

// Labels are the labels a PSBT's parts carry in its wallet.
type Labels struct {
	Tx      string   // the transaction's
	Inputs  []string // each input's: the output it spends (or its address)
	Outputs []string // each output's address
}

// psbtLabels looks up the labels of a PSBT's transaction, inputs and
// outputs.
func (c *Coordinator) psbtLabels(ctx context.Context, w *Wallet, in *Inspection) (*Labels, error) {
	idx, err := c.labelIndex(ctx, w.Name)
	if err != nil {
		return nil, err
	}
	r := in.Report
	out := &Labels{Inputs: make([]string, len(r.Inputs)), Outputs: make([]string, len(r.Outputs))}
	if h, err := chainhash.NewHashFromStr(r.TxID); err == nil {
		out.Tx = idx.tx(*h)
	}
	for i, ir := range r.Inputs {
		if op, err := parseOutPoint(ir.OutPoint); err == nil {
			out.Inputs[i] = idx.output(op, ir.Address)
		}
	}
	for i, or := range r.Outputs {
		out.Outputs[i] = idx.get(wallet.LabelAddr, or.Address)
	}
	return out, nil
}

// parseOutPoint reads "txid:vout".
func parseOutPoint(s string) (wire.OutPoint, error) {
	id, vout, ok := strings.Cut(s, ":")
	h, err := chainhash.NewHashFromStr(id)
	n, err2 := strconv.ParseUint(vout, 10, 32)
	if !ok || err != nil || err2 != nil || len(id) != 64 {
		return wire.OutPoint{}, fmt.Errorf("%q: %w: expected TXID:VOUT", s, wallet.ErrInvalid)
	}
	return wire.OutPoint{Hash: *h, Index: uint32(n)}, nil
}

// LabelRef is a reference `label set` understood.
type LabelRef struct {
	Wallet string
	Type   string
	Ref    string
}

// ParseLabelRef reads what `label set` labels: "wallet" (the wallet
// itself), TXID:VOUT (an output), input:TXID:VOUT (an input), a txid, a
// public key, an xpub or an address of the wallet's network. typ, when not
// empty, says the type instead of guessing it.
func ParseLabelRef(w *Wallet, ref, typ string) (LabelRef, error) {
	ref = strings.TrimSpace(ref)
	out := LabelRef{Wallet: w.Name, Type: typ, Ref: ref}
	bad := func(format string, a ...any) (LabelRef, error) {
		return LabelRef{}, fmt.Errorf("label reference %q: %w: %s", ref, wallet.ErrInvalid, fmt.Sprintf(format, a...))
	}
	if ref == "" {
		return bad("empty")
	}
	if typ == "" {
		switch {
		case ref == "wallet" || ref == "wallet:"+w.Name:
			out.Type, out.Ref = wallet.LabelWallet, w.Name
		case strings.HasPrefix(ref, "input:"):
			out.Type, out.Ref = wallet.LabelInput, strings.TrimPrefix(ref, "input:")
		case strings.Contains(ref, ":"):
			out.Type = wallet.LabelOutput
		case len(ref) == 64 && isHex(strings.ToLower(ref)):
			out.Type, out.Ref = wallet.LabelTx, strings.ToLower(ref)
		case (len(ref) == 66 || len(ref) == 130) && isHex(strings.ToLower(ref)):
			out.Type, out.Ref = wallet.LabelPubkey, strings.ToLower(ref)
		case strings.HasPrefix(ref[1:min(len(ref), 4)], "pub"):
			out.Type = wallet.LabelXpub
		default:
			out.Type = wallet.LabelAddr
		}
	}
	switch out.Type {
	case wallet.LabelOutput, wallet.LabelInput:
		op, err := parseOutPoint(out.Ref)
		if err != nil {
			return bad("an output or input is TXID:VOUT")
		}
		out.Ref = op.String()
	case wallet.LabelTx:
		h, err := chainhash.NewHashFromStr(out.Ref)
		if err != nil || len(out.Ref) != 64 {
			return bad("a transaction is its 64-digit txid")
		}
		out.Ref = h.String()
	case wallet.LabelAddr:
		a, err := btcutil.DecodeAddress(out.Ref, w.Network)
		if err != nil || !a.IsForNet(w.Network) {
			return bad("not an address of the wallet's network (%s), a txid, TXID:VOUT or \"wallet\"", w.Network.Name)
		}
		out.Ref = a.EncodeAddress()
	case wallet.LabelPubkey:
		if b, err := hex.DecodeString(out.Ref); err != nil || (len(b) != 32 && len(b) != 33 && len(b) != 65) {
			return bad("a public key is 32, 33 or 65 bytes of hex")
		}
	case wallet.LabelXpub:
		if _, err := hdkeychain.NewKeyFromString(out.Ref); err != nil {
			return bad("not an extended public key: %v", err)
		}
	case wallet.LabelWallet:
		out.Ref = w.Name
	default:
		return bad("unknown type %q: use tx, addr, pubkey, input, output, xpub or wallet", out.Type)
	}
	return out, nil
}

// SetLabel labels ref (see ParseLabelRef) in the wallet called walletName;
// with walletName "" the wallet is the only one stored, or the one whose
// address, transaction, coin or draft ref is. An empty text removes the
// label.
func (c *Coordinator) SetLabel(ctx context.Context, walletName, ref, typ, text string) (*LabelRef, error) {
	w, err := c.labelWallet(ctx, walletName, ref)
	if err != nil {
		return nil, err
	}
	lr, err := ParseLabelRef(w, ref, typ)
	if err != nil {
		return nil, err
	}
	if err := c.Store.SetLabel(ctx, w.Name, wallet.Label{Type: lr.Type, Ref: lr.Ref, Label: &text}); err != nil {
		return nil, err
	}
	return &lr, nil
}

// labelWallet picks the wallet a label is for.
func (c *Coordinator) labelWallet(ctx context.Context, walletName, ref string) (*Wallet, error) {
	if walletName != "" {
		return c.Wallet(ctx, walletName)
	}
	ws, err := c.Store.Wallets(ctx)
	if err != nil {
		return nil, err
	}
	switch len(ws) {
	case 0:
		return nil, fmt.Errorf("no wallets stored: %w", wallet.ErrNotFound)
	case 1:
		return loaded(ws[0])
	}
	ref = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(ref, "input:")))
	var found []*Wallet
	for _, rec := range ws {
		w, err := loaded(rec)
		if err != nil {
			return nil, err
		}
		if ok, err := c.knows(ctx, w, ref); err != nil {
			return nil, err
		} else if ok {
			found = append(found, w)
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	return nil, fmt.Errorf("%w: %d stored wallets know %q; name the wallet with --wallet", wallet.ErrInvalid, len(found), ref)
}

// knows reports whether ref is an address, transaction, coin or spend of
// w.
func (c *Coordinator) knows(ctx context.Context, w *Wallet, ref string) (bool, error) {
	if ref == "wallet:"+strings.ToLower(w.Name) {
		return true, nil
	}
	addrs, err := c.Store.Addresses(ctx, w.Name)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if strings.ToLower(a.Address) == ref {
			return true, nil
		}
	}
	txid, _, _ := strings.Cut(ref, ":")
	txs, err := c.Store.Transactions(ctx, w.Name)
	if err != nil {
		return false, err
	}
	for _, t := range txs {
		if t.TxID.String() == txid {
			return true, nil
		}
	}
	ds, err := c.Store.Drafts(ctx, w.Name)
	if err != nil {
		return false, err
	}
	for _, d := range ds {
		if d.TxID.String() == txid || (d.BroadcastTxID != nil && d.BroadcastTxID.String() == txid) {
			return true, nil
		}
	}
	return false, nil
}

// LabelImport is what ImportLabels did.
type LabelImport struct {
	Wallet   string
	Imported int
	// Skipped counts records of types countersign does not keep, by type
	// (BIP-329 tells importers to ignore them).
	Skipped map[string]int
}

// ImportLabels merges a BIP-329 export into the wallet's labels (one store
// transaction): a record without a label or spendable leaves the stored
// one, other keys are kept for the next export.
func (c *Coordinator) ImportLabels(ctx context.Context, walletName string, data []byte) (*LabelImport, error) {
	w, err := c.labelWallet(ctx, walletName, "")
	if err != nil {
		return nil, err
	}
	rs, err := bip329.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", wallet.ErrInvalid, err)
	}
	res := &LabelImport{Wallet: w.Name, Skipped: map[string]int{}}
	var ls []wallet.Label
	for _, r := range rs {
		if !wallet.ValidLabelType(r.Type) {
			res.Skipped[r.Type]++
			continue
		}
		l := wallet.Label{Type: r.Type, Ref: r.Ref, Label: r.Label, Origin: r.Origin, Spendable: r.Spendable}
		if len(r.Extra) > 0 {
			if l.Extra, err = json.Marshal(r.Extra); err != nil {
				return nil, err
			}
		}
		ls = append(ls, l)
	}
	if err := c.Store.ImportLabels(ctx, w.Name, ls); err != nil {
		return nil, err
	}
	res.Imported = len(ls)
	return res, nil
}

// ExportLabels writes the wallet's labels as a BIP-329 export, in the
// order they were first stored.
func (c *Coordinator) ExportLabels(ctx context.Context, walletName string) ([]byte, int, error) {
	w, err := c.labelWallet(ctx, walletName, "")
	if err != nil {
		return nil, 0, err
	}
	ls, err := c.Store.Labels(ctx, w.Name)
	if err != nil {
		return nil, 0, err
	}
	rs := make([]bip329.Record, 0, len(ls))
	for _, l := range ls {
		r := bip329.Record{Type: l.Type, Ref: l.Ref, Label: l.Label, Origin: l.Origin, Spendable: l.Spendable}
		if len(l.Extra) > 0 {
			if err := json.Unmarshal(l.Extra, &r.Extra); err != nil {
				return nil, 0, fmt.Errorf("label %s %s: stored extra fields: %w", l.Type, l.Ref, err)
			}
		}
		rs = append(rs, r)
	}
	var b bytes.Buffer
	if err := bip329.Write(&b, rs); err != nil {
		return nil, 0, err
	}
	return b.Bytes(), len(rs), nil
}

// AddressLabels maps the wallet's labelled addresses to their labels; an
// empty map when it has none or they cannot be read.
func (c *Coordinator) AddressLabels(ctx context.Context, name string) map[string]string {
	out := map[string]string{}
	idx, err := c.labelIndex(ctx, name)
	if err != nil {
		return out
	}
	for k, v := range idx {
		if typ, ref, ok := strings.Cut(k, " "); ok && typ == wallet.LabelAddr {
			out[ref] = v
		}
	}
	return out
}

// Labels lists the label records of the wallet called walletName (the only
// wallet when "").
func (c *Coordinator) Labels(ctx context.Context, walletName string) ([]wallet.Label, error) {
	w, err := c.labelWallet(ctx, walletName, "")
	if err != nil {
		return nil, err
	}
	return c.Store.Labels(ctx, w.Name)
}

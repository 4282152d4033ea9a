package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

func newCmdPSBT(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "psbt",
		Short: "Inspect, combine, finalize and broadcast PSBTs",
	}
	cmd.AddCommand(newCmdPSBTInspect(f), newCmdPSBTCombine(f), newCmdPSBTFinalize(f), newCmdPSBTBroadcast(f))
	return cmd
}

// readPSBT decodes a PSBT file (binary, base64 or hex; "-" = stdin).
func readPSBT(s *Streams, path string) (*bpsbt.Packet, error) {
	data, err := readInput(s, path)
	if err != nil {
		return nil, err
	}
	p, err := psbt.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", displayName(path), err)
	}
	return p, nil
}

func displayName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

// writePSBT writes p to path as a binary PSBT, or base64 to stdout for "" or "-".
func writePSBT(s *Streams, path string, p *bpsbt.Packet) error {
	if path == "" || path == "-" {
		b64, err := psbt.Encode(p)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(s.Out, b64)
		return err
	}
	raw, err := psbt.Serialize(p)
	if err != nil {
		return err
	}
	return writeOutput(s, path, raw)
}

// walletFor finds the stored wallet a PSBT spends from: the named one, the
// only stored one, the only one whose cosigner fingerprints cover the
// PSBT's key derivations, or, failing those, the only one that recognises
// an input as its own. Detection verifies no signatures: the command that
// follows does that once.
func (f *Factory) walletFor(ctx context.Context, name string, p *bpsbt.Packet) (*loaded, error) {
	l, err := f.findWallet(ctx, name, p)
	if err != nil {
		return nil, err
	}
	f.fillLabels(l)
	return l, nil
}

// fillLabels names cosigners that have no label after the software key of
// this computer with the same fingerprint (a wallet recovered from a
// descriptor backup has no labels), so PSBT summaries say who signed.
func (f *Factory) fillLabels(l *loaded) {
	ks, err := f.KeyStore()
	if err != nil {
		return
	}
	keys, err := ks.List()
	if err != nil && len(keys) == 0 {
		return
	}
	byFP := map[[4]byte]string{}
	for _, k := range keys {
		byFP[k.Fingerprint] = "key " + k.Name
	}
	labels := make([]string, len(l.D.Keys))
	copy(labels, l.W.Labels)
	for i, k := range l.D.Keys {
		if labels[i] == "" && k.Origin != nil {
			labels[i] = byFP[k.Origin.Fingerprint]
		}
	}
	l.W.Labels = labels
}

func (f *Factory) findWallet(ctx context.Context, name string, p *bpsbt.Packet) (*loaded, error) {
	s, err := f.Store()
	if err != nil {
		return nil, err
	}
	if name != "" {
		return loadWallet(ctx, s, name)
	}
	ws, err := s.Wallets(ctx)
	if err != nil {
		return nil, err
	}
	if len(ws) == 1 {
		return loadWallet(ctx, s, ws[0].Name)
	}
	var byFP []*wallet.Wallet
	want := derivationFingerprints(p)
	if len(want) > 0 {
		for _, w := range ws {
			have := map[string]bool{}
			for _, fp := range w.Fingerprints {
				have[fp] = true
			}
			all := true
			for fp := range want {
				all = all && have[fp]
			}
			if all {
				byFP = append(byFP, w)
			}
		}
		if len(byFP) == 1 {
			return loadWallet(ctx, s, byFP[0].Name)
		}
	}
	var found []*loaded
	for _, w := range ws {
		l, err := loadWallet(ctx, s, w.Name)
		if err != nil {
			continue
		}
		rep, err := psbt.Inspect(p, walletInfo(l))
		if err != nil {
			return nil, err
		}
		for _, in := range rep.Inputs {
			if in.Ours {
				found = append(found, l)
				break
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, withHint(fmt.Errorf("%w: no stored wallet recognises any input of this PSBT", psbt.ErrRefused),
			"import the wallet it spends from (countersign wallet import), or name it with --wallet")
	}
	names := make([]string, len(found))
	for i, l := range found {
		names[i] = l.W.Name
	}
	return nil, usagef("several wallets recognise this PSBT (%s): name one with --wallet", strings.Join(names, ", "))
}

// derivationFingerprints collects the master fingerprints (hex) named by
// the first input's BIP-32 derivations.
func derivationFingerprints(p *bpsbt.Packet) map[string]bool {
	out := map[string]bool{}
	if len(p.Inputs) == 0 {
		return out
	}
	for _, d := range p.Inputs[0].Bip32Derivation {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], d.MasterKeyFingerprint)
		out[hex.EncodeToString(b[:])] = true
	}
	return out
}

func walletInfo(l *loaded) psbt.WalletInfo {
	return psbt.WalletInfo{Descriptor: l.D, Network: l.Net, Labels: l.W.Labels}
}

func newCmdPSBTInspect(f *Factory) *cobra.Command {
	var walletName string
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show what a PSBT pays, its fee, and who still has to sign",
		Long: `Show a PSBT as the wallet sees it: each input (ours or external) and who has
signed it, each output (change, re-derived from the wallet, or external), the
fee and fee rate, and whether it is ready to finalize. FILE may be binary,
base64 or hex; "-" reads stdin.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := readPSBT(f.IO, args[0])
			if err != nil {
				return err
			}
			l, err := f.walletFor(c.Context(), walletName, p)
			if err != nil {
				return err
			}
			rep, err := psbt.Inspect(p, walletInfo(l))
			if err != nil {
				return err
			}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, struct {
					Wallet string `json:"wallet"`
					*psbt.Report
				}{l.W.Name, rep})
			}
			renderReport(f.IO.Out, l.W.Name, rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&walletName, "wallet", "", "the wallet the PSBT spends from (default: detected)")
	return cmd
}

// renderReport prints a PSBT summary for people.
func renderReport(w io.Writer, walletName string, r *psbt.Report) {
	fmt.Fprintf(w, "PSBT spending from wallet %q (txid %s)\n", walletName, r.TxID)
	fmt.Fprintln(w, "Inputs:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for i, in := range r.Inputs {
		owner := "ours"
		if !in.Ours {
			owner = "EXTERNAL"
		}
		signed := make([]string, 0, len(in.Signatures))
		for _, s := range in.Signatures {
			signed = append(signed, signerName(s))
		}
		status := fmt.Sprintf("%d of %d signatures", len(in.Signatures), in.Required)
		if in.Finalized {
			status = "finalized"
		} else if len(signed) > 0 {
			status += " (" + strings.Join(signed, ", ") + ")"
		}
		fmt.Fprintf(tw, "  #%d\t%s\t%s BTC\t%s\t%s\n", i, in.OutPoint, btcNum(in.Amount), owner, status)
	}
	tw.Flush()
	fmt.Fprintln(w, "Outputs:")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for i, out := range r.Outputs {
		kind := "pays " + orDash(out.Address)
		if out.Kind == psbt.KindChange {
			kind = fmt.Sprintf("change to %s (wallet %d/%d)", out.Address, deref(out.Branch), deref(out.Index))
		}
		fmt.Fprintf(tw, "  #%d\t%s BTC\t%s\n", i, btcNum(out.Amount), kind)
	}
	tw.Flush()
	if r.FeeKnown {
		fmt.Fprintf(w, "Sending %s, fee %d sat (%.2f sat/vB, ~%d vB)%s\n", btcString(r.Sent), r.Fee, r.FeeRate, r.VSize, rbfNote(r.RBF))
	} else {
		fmt.Fprintf(w, "Sending %s; fee unknown (some input amounts are missing)\n", btcString(r.Sent))
	}
	need := map[string]bool{}
	var missing []string
	for _, in := range r.Inputs {
		if in.Missing == 0 || in.Finalized {
			continue
		}
		for _, s := range in.NotSigned {
			n := signerName(s)
			if !need[n] {
				need[n] = true
				missing = append(missing, n)
			}
		}
	}
	if r.ReadyToFinalize {
		fmt.Fprintln(w, "Ready to finalize: yes")
	} else {
		most := 0
		for _, in := range r.Inputs {
			most = max(most, in.Missing)
		}
		fmt.Fprintf(w, "Ready to finalize: no — %d more signature(s) needed, from any of: %s\n", most, strings.Join(missing, ", "))
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
}

// btcNum prints satoshis as a BTC number with all 8 decimals.
func btcNum(sat int64) string { return fmt.Sprintf("%.8f", btcutil.Amount(sat).ToBTC()) }

func rbfNote(rbf bool) string {
	if rbf {
		return ", replaceable (RBF)"
	}
	return ""
}

func signerName(s psbt.Cosigner) string {
	switch {
	case s.Label != "" && s.Fingerprint != "":
		return s.Label + " [" + s.Fingerprint + "]"
	case s.Fingerprint != "":
		return "[" + s.Fingerprint + "]"
	case s.Label != "":
		return s.Label
	}
	return s.PubKey
}

func deref(p *uint32) uint32 {
	if p == nil {
		return 0
	}
	return *p
}

func newCmdPSBTCombine(f *Factory) *cobra.Command {
	var (
		walletName, output string
	)
	cmd := &cobra.Command{
		Use:   "combine FILE FILE... [-o OUT]",
		Short: "Merge signed copies of one PSBT, verifying every signature",
		Long: `Merge copies of the same PSBT signed by different cosigners (BIP-174
combiner). Every partial signature is checked against its sighash and public
key; an invalid signature or conflicting data is refused (exit 4) and named.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			ps := make([]*bpsbt.Packet, len(args))
			for i, a := range args {
				p, err := readPSBT(f.IO, a)
				if err != nil {
					return err
				}
				ps[i] = p
			}
			l, err := f.walletFor(c.Context(), walletName, ps[0])
			if err != nil {
				return err
			}
			out, err := psbt.Combine(ps, walletInfo(l))
			if err != nil {
				return err
			}
			if err := f.saveDraft(c.Context(), l.W.Name, out, wallet.StateSigned); err != nil {
				return err
			}
			return f.finishPSBT(output, l, out)
		},
	}
	cmd.Flags().StringVar(&walletName, "wallet", "", "the wallet the PSBT spends from (default: detected)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the combined PSBT here (default: base64 on stdout)")
	return cmd
}

// finishPSBT writes p and prints its status.
func (f *Factory) finishPSBT(output string, l *loaded, p *bpsbt.Packet) error {
	rep, err := psbt.Inspect(p, walletInfo(l))
	if err != nil {
		return err
	}
	if f.Global.JSON {
		b64, err := psbt.Encode(p)
		if err != nil {
			return err
		}
		if output != "" && output != "-" {
			if err := writePSBT(f.IO, output, p); err != nil {
				return err
			}
		}
		return writeJSON(f.IO.Out, struct {
			Wallet string `json:"wallet"`
			File   string `json:"file,omitempty"`
			PSBT   string `json:"psbt"`
			*psbt.Report
		}{l.W.Name, output, b64, rep})
	}
	if err := writePSBT(f.IO, output, p); err != nil {
		return err
	}
	renderReport(f.IO.ErrOut, l.W.Name, rep)
	if output != "" && output != "-" {
		fmt.Fprintf(f.IO.ErrOut, "Wrote %s.\n", output)
	}
	return nil
}

// saveDraft records a PSBT version in the store; saving the same bytes twice
// is harmless.
func (f *Factory) saveDraft(ctx context.Context, name string, p *bpsbt.Packet, state wallet.DraftState) error {
	s, err := f.Store()
	if err != nil {
		return err
	}
	raw, err := psbt.Serialize(p)
	if err != nil {
		return err
	}
	return s.SaveDraft(ctx, name, &wallet.Draft{TxID: p.UnsignedTx.TxHash(), PSBT: raw, State: state})
}

func newCmdPSBTFinalize(f *Factory) *cobra.Command {
	var walletName, output, psbtOut string
	cmd := &cobra.Command{
		Use:   "finalize FILE [-o TX]",
		Short: "Build the final transaction once enough cosigners have signed",
		Long: `When every input holds enough valid signatures, build the final scriptSig and
witness (signatures in script key order), execute every input's script with
btcd's script engine against its previous output, and write the raw
transaction as hex (-o TX, default stdout). With too few signatures it exits
4 and says who is missing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := readPSBT(f.IO, args[0])
			if err != nil {
				return err
			}
			l, err := f.walletFor(c.Context(), walletName, p)
			if err != nil {
				return err
			}
			// FinalizePacket has executed every input's script against its
			// prevout; extracting again would run them twice.
			if err := psbt.FinalizePacket(p, walletInfo(l)); err != nil {
				return err
			}
			tx, err := bpsbt.Extract(p)
			if err != nil {
				return fmt.Errorf("%w: %v", psbt.ErrMalformed, err)
			}
			if err := f.saveDraft(c.Context(), l.W.Name, p, wallet.StateFinalized); err != nil {
				return err
			}
			if psbtOut != "" {
				if err := writePSBT(f.IO, psbtOut, p); err != nil {
					return err
				}
			}
			var buf bytes.Buffer
			if err := tx.Serialize(&buf); err != nil {
				return err
			}
			rawHex := hex.EncodeToString(buf.Bytes())
			if f.Global.JSON {
				if output != "" && output != "-" {
					if err := writeOutput(f.IO, output, []byte(rawHex+"\n")); err != nil {
						return err
					}
				}
				return writeJSON(f.IO.Out, map[string]any{"wallet": l.W.Name, "txid": tx.TxHash().String(), "hex": rawHex, "vsize": vsizeOf(tx)})
			}
			if err := writeOutput(f.IO, output, []byte(rawHex+"\n")); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.ErrOut, "Finalized %s (%d vB); every input verified by the script engine.\n", tx.TxHash(), vsizeOf(tx))
			return nil
		},
	}
	cmd.Flags().StringVar(&walletName, "wallet", "", "the wallet the PSBT spends from (default: detected)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the raw transaction hex here (default: stdout)")
	cmd.Flags().StringVar(&psbtOut, "psbt-output", "", "also write the finalized PSBT here")
	return cmd
}

func vsizeOf(tx *wire.MsgTx) int64 {
	w := int64(tx.SerializeSizeStripped())*3 + int64(tx.SerializeSize())
	return (w + 3) / 4
}

func newCmdPSBTBroadcast(f *Factory) *cobra.Command {
	var walletName string
	cmd := &cobra.Command{
		Use:   "broadcast FILE",
		Short: "Send a finalized PSBT or raw transaction to the network",
		Long: `Send a finalized PSBT (or a raw transaction in hex) through the wallet's
backend, print the txid and record it: the coins it spends stop counting in
the balance until the next sync confirms it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			data, err := readInput(f.IO, args[0])
			if err != nil {
				return err
			}
			tx, l, err := f.txToBroadcast(ctx, walletName, data)
			if err != nil {
				return err
			}
			b, err := f.Backend(ctx, l)
			if err != nil {
				return err
			}
			txid, err := b.Broadcast(ctx, tx)
			if err != nil {
				return err
			}
			s, err := f.Store()
			if err != nil {
				return err
			}
			if err := s.MarkBroadcast(ctx, tx); err != nil && !errors.Is(err, wallet.ErrNotFound) {
				return fmt.Errorf("broadcast %s succeeded but recording it failed: %w", txid, err)
			}
			if f.Global.JSON {
				return writeJSON(f.IO.Out, map[string]string{"wallet": l.W.Name, "txid": txid.String()})
			}
			fmt.Fprintln(f.IO.Out, txid)
			return nil
		},
	}
	cmd.Flags().StringVar(&walletName, "wallet", "", "the wallet the transaction spends from (default: detected)")
	return cmd
}

// txToBroadcast reads a finalized PSBT or raw hex transaction and finds its wallet.
func (f *Factory) txToBroadcast(ctx context.Context, walletName string, data []byte) (*wire.MsgTx, *loaded, error) {
	if p, err := psbt.Decode(data); err == nil {
		l, err := f.walletFor(ctx, walletName, p)
		if err != nil {
			return nil, nil, err
		}
		tx, err := psbt.Extract(p)
		if err != nil {
			return nil, nil, err
		}
		return tx, l, nil
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: neither a PSBT nor a hex transaction", psbt.ErrMalformed)
	}
	tx := &wire.MsgTx{}
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, nil, fmt.Errorf("%w: transaction does not decode: %v", psbt.ErrMalformed, err)
	}
	s, err := f.Store()
	if err != nil {
		return nil, nil, err
	}
	if walletName != "" {
		l, err := loadWallet(ctx, s, walletName)
		return tx, l, err
	}
	ws, err := s.Wallets(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range ws {
		us, err := s.UTXOs(ctx, w.Name)
		if err != nil {
			return nil, nil, err
		}
		for _, u := range us {
			for _, in := range tx.TxIn {
				if in.PreviousOutPoint == u.OutPoint {
					l, err := loadWallet(ctx, s, w.Name)
					return tx, l, err
				}
			}
		}
	}
	return nil, nil, usagef("no stored wallet owns an input of this transaction: name the wallet with --wallet")
}

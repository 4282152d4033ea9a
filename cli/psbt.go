package cli

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/btcsuite/btcd/btcutil"
	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/spf13/cobra"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/psbt"
)

func newCmdPSBT(f *Factory) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "psbt",
		Short: "Inspect, update, combine, finalize, convert and broadcast PSBTs; list, bump and cancel spends",
	})
	cmd.AddCommand(newCmdPSBTInspect(f, nil), newCmdPSBTUpdate(f, nil), newCmdPSBTCombine(f, nil), newCmdPSBTFinalize(f, nil),
		newCmdPSBTBroadcast(f, nil), newCmdPSBTConvert(f, nil),
		newCmdPSBTList(f, nil), newCmdPSBTShow(f, nil), newCmdPSBTAbandon(f, nil),
		newCmdPSBTBump(f, nil, false), newCmdPSBTBump(f, nil, true),
		newCmdPSBTSend(f, nil), newCmdPSBTReceive(f, nil))
	return cmd
}

// readPSBT decodes a PSBT file (binary, base64 or hex; version 0 or 2;
// "-" = stdin) and returns its version, so that the result can be written
// in the version it came in.
func readPSBT(s *Streams, path string) (*bpsbt.Packet, uint32, error) {
	data, err := readInput(s, path)
	if err != nil {
		return nil, 0, err
	}
	p, version, err := psbt.DecodeVersion(data)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", displayName(path), err)
	}
	return p, version, nil
}

// readPSBTs reads several PSBTs, one after another (stdin may be one of
// them), and decodes them at once: a sweep's copies are megabytes each,
// and decoding is most of reading them. The error is the one reading and
// decoding them in order would give first: a file that cannot be decoded
// comes before a later file that cannot be read.
func readPSBTs(s *Streams, paths []string) ([]*bpsbt.Packet, []uint32, error) {
	data := make([][]byte, 0, len(paths))
	var readErr error
	for _, path := range paths {
		b, err := readInput(s, path)
		if err != nil {
			readErr = err
			break
		}
		data = append(data, b)
	}
	ps := make([]*bpsbt.Packet, len(data))
	versions := make([]uint32, len(data))
	errs := make([]error, len(data))
	var wg sync.WaitGroup
	for i := range data {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ps[i], versions[i], errs[i] = psbt.DecodeVersion(data[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", displayName(paths[i]), err)
		}
	}
	if readErr != nil {
		return nil, nil, readErr
	}
	return ps, versions, nil
}

func displayName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

// Encodings a PSBT can be written in.
const (
	encodingBinary = "binary"
	encodingBase64 = "base64"
	encodingHex    = "hex"
)

// psbtOut says where and how a command writes a PSBT.
type psbtOut struct {
	Path     string // "" or "-": stdout
	Encoding string // "" for the default: binary for *.psbt files, base64 otherwise
	Version  uint32 // 0 or 2
}

// addEncodingFlag adds --encoding to a command that writes PSBTs.
func addEncodingFlag(cmd *cobra.Command, enc *string) {
	cmd.Flags().StringVar(enc, "encoding", "", "write the PSBT as binary, base64 or hex (default: binary for a .psbt file, base64 otherwise)")
}

// checkEncoding validates --encoding.
func checkEncoding(enc string) error {
	switch enc {
	case "", encodingBinary, encodingBase64, encodingHex:
		return nil
	}
	return usagef("--encoding %q: use binary, base64 or hex", enc)
}

// encoding is the encoding o is written in.
func (o psbtOut) encoding() string {
	switch {
	case o.Encoding != "":
		return o.Encoding
	case o.Path != "" && o.Path != "-" && strings.HasSuffix(strings.ToLower(o.Path), ".psbt"):
		// What Coldcard, Sparrow and Core's -stdin users expect of a .psbt file.
		return encodingBinary
	}
	return encodingBase64
}

// encodePSBT serializes p as o says; text forms end in a newline.
func encodePSBT(o psbtOut, p *bpsbt.Packet) ([]byte, error) {
	raw, err := psbt.SerializeVersion(p, o.Version)
	if err != nil {
		return nil, err
	}
	switch o.encoding() {
	case encodingBinary:
		return raw, nil
	case encodingHex:
		return []byte(hex.EncodeToString(raw) + "\n"), nil
	}
	return []byte(base64.StdEncoding.EncodeToString(raw) + "\n"), nil
}

// base64PSBT is p in base64, in version v, for JSON output.
func base64PSBT(p *bpsbt.Packet, v uint32) (string, error) {
	raw, err := psbt.SerializeVersion(p, v)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// writePSBT writes p as o says: to a file atomically, or to stdout.
func writePSBT(s *Streams, o psbtOut, p *bpsbt.Packet) error {
	data, err := encodePSBT(o, p)
	if err != nil {
		return err
	}
	return writeOutput(s, o.Path, data)
}

// renderReport prints a PSBT summary for people.
func renderReport(w io.Writer, walletName string, r *psbt.Report) {
	renderReportTo(w, walletName, r, nil)
}

// renderReportTo is renderReport that names the outputs paying the
// wallet's successor (a rotation's sweep) as such. It is buffered: a
// 500-input PSBT's summary is thousands of small writes, one system call
// each on an unbuffered stream.
func renderReportTo(out io.Writer, walletName string, r *psbt.Report, to *coordinator.SuccessorOutputs) {
	w := bufio.NewWriter(out)
	defer w.Flush()
	toSuccessor := map[int]bool{}
	if to != nil {
		for _, i := range to.Outputs {
			toSuccessor[i] = true
		}
	}
	if walletName == "" {
		fmt.Fprintf(w, "PSBT (txid %s)\n", r.TxID)
	} else {
		fmt.Fprintf(w, "PSBT spending from wallet %q (txid %s)\n", walletName, r.TxID)
	}
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
		switch {
		case in.Finalized:
			status = "finalized"
		case in.Required == 0:
			status = fmt.Sprintf("%d signature(s) present, not checked", len(in.Unchecked))
		case len(signed) > 0:
			status += " (" + safe(strings.Join(signed, ", ")) + ")"
		}
		if in.SighashType != "" && in.SighashType != "ALL" {
			status += ", asks for sighash " + in.SighashType
		}
		if m := in.MuSig2; m != nil && !in.Finalized {
			// The key path's two rounds: nonces, then partial signatures.
			status += fmt.Sprintf("; MuSig2 key path: %d of %d nonces, %d of %d partial signatures", m.Nonces, m.Participants, m.PartialSigs, m.Participants)
		}
		fmt.Fprintf(tw, "  #%d\t%s\t%s BTC\t%s\t%s\n", i, in.OutPoint, btcNum(in.Amount), owner, status)
	}
	tw.Flush()
	fmt.Fprintln(w, "Outputs:")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for i, out := range r.Outputs {
		kind := "pays " + safe(orDash(out.Address))
		if toSuccessor[i] {
			kind = fmt.Sprintf("to successor wallet %q: %s", safe(to.Successor), safe(out.Address))
		}
		switch out.Kind {
		case psbt.KindChange:
			kind = fmt.Sprintf("change to %s (wallet %d/%d)", safe(out.Address), deref(out.Branch), deref(out.Index))
		case psbt.KindReceive:
			kind = fmt.Sprintf("to this wallet's own receive address %s (%d/%d), not change", safe(out.Address), deref(out.Branch), deref(out.Index))
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
	gone := map[string]bool{}
	if to != nil {
		for _, fp := range to.RotatedOut {
			gone[fp] = true
		}
	}
	for _, in := range r.Inputs {
		if in.Missing == 0 || in.Finalized {
			continue
		}
		for _, s := range in.NotSigned {
			n := signerName(s)
			if gone[strings.ToLower(s.Fingerprint)] {
				n += " (rotated out)"
			}
			if !need[n] {
				need[n] = true
				missing = append(missing, n)
			}
		}
	}
	switch {
	case r.ReadyToFinalize:
		fmt.Fprintln(w, "Ready to finalize: yes")
	case r.Next == psbt.RoleUpdater:
		fmt.Fprintln(w, "Ready to finalize: no — some inputs lack their UTXO data or scripts (next: an updater; for a stored wallet's PSBT run `countersign psbt update`)")
	default:
		most := 0
		for _, in := range r.Inputs {
			most = max(most, in.Missing)
		}
		fmt.Fprintf(w, "Ready to finalize: no — %d more signature(s) needed, from any of: %s\n", most, safe(strings.Join(missing, ", ")))
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", safe(warn))
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

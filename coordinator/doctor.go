package coordinator

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	bpsbt "github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// The names of the checks Doctor adds to the store's own (wallet.Check*):
// those that need the wallet's descriptor, PSBTs or key files.
const (
	CheckDescriptor = "wallet.descriptor"
	CheckAddresses  = "wallet.addresses"
	CheckPSBTs      = "wallet.psbts"
	CheckChange     = "wallet.change"
	CheckKeys       = "keys.files"
)

// ErrChecksFailed means Doctor found something wrong; the report says what.
var ErrChecksFailed = errors.New("integrity checks failed")

// DoctorReport is what Doctor found, check by check: the store-wide checks
// first, then each wallet's by name, then the key files.
type DoctorReport struct {
	Dir    string
	Checks []wallet.Check
}

// Failed returns the checks that did not pass.
func (r *DoctorReport) Failed() []wallet.Check {
	var out []wallet.Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Doctor checks the data directory's integrity without changing anything.
// The store is read in one transaction (see wallet.Snapshot) and checked by
// the store's rules; on the same snapshot each wallet's descriptor must
// parse for its network and agree with the stored record, every address
// handed out and every coin must derive where it is recorded, every draft
// must parse as a PSBT of its txid (and, while unsigned or signed, pass the
// safety gate), and every change index a spend reserved must be below the
// change counter, reserved once, and paid to by its draft. keys, when not
// nil, is the software key store whose files are checked (not decrypted:
// that needs their passphrases).
func (c *Coordinator) Doctor(ctx context.Context, keys *soft.Store) (*DoctorReport, error) {
	sn, err := c.Store.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	r := &DoctorReport{Dir: sn.Dir, Checks: sn.Check()}
	for _, ws := range sn.Wallets {
		r.Checks = append(r.Checks, sn.CheckWallet(ws)...)
		r.Checks = append(r.Checks, doctorWallet(sn, ws)...)
	}
	if keys != nil {
		ch, err := checkKeys(keys)
		if err != nil {
			return nil, err
		}
		r.Checks = append(r.Checks, ch)
	}
	return r, nil
}

// doctorWallet runs the checks that need the wallet's descriptor. When the
// descriptor does not load, the others cannot run and say so.
func doctorWallet(sn *wallet.Snapshot, ws *wallet.WalletState) []wallet.Check {
	w, desc := checkDescriptor(ws)
	if w == nil {
		out := []wallet.Check{desc}
		for _, name := range []string{CheckAddresses, CheckPSBTs, CheckChange} {
			ch := wallet.NewCheck(name, ws.Name)
			ch.Problem("not checked: the wallet's descriptor does not load")
			out = append(out, ch.Done("skipped"))
		}
		return out
	}
	packets := map[string]*bpsbt.Packet{}
	return []wallet.Check{desc, checkAddresses(w, ws), checkPSBTs(w, ws, packets), checkChange(w, sn, ws, packets)}
}

// checkDescriptor: the stored descriptor parses, is the canonical
// multipath form CreateWallet stores, fits the stored network, derives
// both branches, and agrees with the stored script type, threshold, key
// count and fingerprints.
func checkDescriptor(ws *wallet.WalletState) (*Wallet, wallet.Check) {
	ch := wallet.NewCheck(CheckDescriptor, ws.Name)
	w, err := loaded(ws.Wallet)
	if err != nil {
		ch.Problem("%v", err)
		return nil, ch.Done("the stored descriptor")
	}
	d := w.Descriptor
	if s := d.Multipath().String(); s != ws.Wallet.Descriptor {
		ch.Problem("stored descriptor is not in its canonical form %s", s)
	}
	if err := d.CheckNetwork(w.Network); err != nil {
		ch.Problem("its keys are not for the stored network %s: %v", ws.Network, err)
	}
	if d.Branches() != 2 {
		ch.Problem("%d branches, want a receive and a change branch", d.Branches())
	}
	for branch := uint32(0); branch < 2; branch++ {
		if _, err := d.Derive(branch, 0, w.Network); err != nil {
			ch.Problem("branch %d does not derive: %v", branch, err)
		}
	}
	if ws.Script != d.Script.String() || ws.Threshold != d.Threshold || ws.N != d.N() {
		ch.Problem("stored as %s %d of %d, the descriptor is %s %d of %d", ws.Script, ws.Threshold, ws.N, d.Script, d.Threshold, d.N())
	}
	for i, k := range d.Cosigners() {
		want := ""
		if k.Origin != nil {
			want = hex.EncodeToString(k.Origin.Fingerprint[:])
		}
		if i < len(ws.Fingerprints) && ws.Fingerprints[i] != want {
			ch.Problem("cosigner %d stored with fingerprint %q, the descriptor says %q", i, ws.Fingerprints[i], want)
		}
	}
	return w, ch.Done(fmt.Sprintf("%s %s on %s", d.Script, d.Policy(), ws.Network))
}

// checkAddresses: every address handed out is the one the descriptor
// derives at its branch and index, and every coin's script derives where
// the coin is recorded.
func checkAddresses(w *Wallet, ws *wallet.WalletState) wallet.Check {
	ch := wallet.NewCheck(CheckAddresses, ws.Name)
	for _, a := range ws.Addresses {
		d, err := w.Descriptor.Derive(a.Branch, a.Index, w.Network)
		switch {
		case err != nil:
			ch.Problem("address %d/%d does not derive: %v", a.Branch, a.Index, err)
		case d.Address != a.Address:
			ch.Problem("address %d/%d was handed out as %s but the descriptor derives %s there", a.Branch, a.Index, a.Address, d.Address)
		}
	}
	for _, u := range ws.UTXOs {
		d, err := w.Descriptor.Derive(u.Branch, u.Index, w.Network)
		switch {
		case err != nil:
			ch.Problem("coin %s: %d/%d does not derive: %v", u.OutPoint, u.Branch, u.Index, err)
		case !bytes.Equal(d.ScriptPubKey, u.PkScript):
			ch.Problem("coin %s pays %x, not the script %x the descriptor derives at %d/%d", u.OutPoint, u.PkScript, d.ScriptPubKey, u.Branch, u.Index)
		}
	}
	return ch.Done(fmt.Sprintf("%d addresses and %d coins re-derived", len(ws.Addresses), len(ws.UTXOs)))
}

// checkPSBTs: every draft parses as a PSBT whose unsigned transaction has
// the stored txid; a finalized draft has every input finalized; an
// unsigned or signed draft of the wallet's own inputs passes the safety
// gate every signer is shown it through (it is complete: previous
// transactions, scripts and derivations are all there). Signatures are not
// verified again: they were when the draft was saved, and its bytes still
// hash to its id. It keeps each draft's packet in packets, by draft id, for
// checkChange.
func checkPSBTs(w *Wallet, ws *wallet.WalletState, packets map[string]*bpsbt.Packet) wallet.Check {
	ch := wallet.NewCheck(CheckPSBTs, ws.Name)
	gated, foreign := 0, 0
	for _, d := range ws.Drafts {
		p, err := psbt.Decode(d.PSBT)
		if err != nil {
			ch.Problem("draft %s does not parse as a PSBT: %v", d.ID, err)
			continue
		}
		packets[d.ID] = p
		if h := p.UnsignedTx.TxHash(); h != d.TxID {
			ch.Problem("draft %s is stored with txid %s but its transaction is %s", d.ID, d.TxID, h)
		}
		finalized := 0
		for _, in := range p.Inputs {
			if len(in.FinalScriptSig) > 0 || len(in.FinalScriptWitness) > 0 {
				finalized++
			}
		}
		switch d.State {
		case wallet.StateFinalized:
			if finalized != len(p.Inputs) {
				ch.Problem("draft %s is recorded as finalized but %d of its %d inputs are not", d.ID, len(p.Inputs)-finalized, len(p.Inputs))
			}
		case wallet.StateDraft, wallet.StateSigned:
			if finalized > 0 {
				continue // a finalized input has no derivations left to check
			}
			err := psbt.CheckWallet(p, w.Info())
			if err == nil {
				gated++
				continue
			}
			// The gate refuses inputs of other wallets by design (a joint
			// spend); only a draft of the wallet's own inputs must pass.
			rep, ierr := psbt.Inspect(p, w.Info())
			if ierr != nil {
				ch.Problem("draft %s: %v", d.ID, ierr)
				continue
			}
			ours := 0
			for _, in := range rep.Inputs {
				if in.Ours {
					ours++
				}
			}
			if ours < len(rep.Inputs) {
				foreign++
				continue
			}
			gated++
			ch.Problem("draft %s (%s) fails the safety checks: %v", d.ID, d.State, err)
		}
	}
	detail := fmt.Sprintf("%d drafts parsed, %d through the safety checks", len(ws.Drafts), gated)
	if foreign > 0 {
		detail += fmt.Sprintf(", %d with other wallets' inputs not", foreign)
	}
	return ch.Done(detail)
}

// checkChange: each change index a spend reserved (journaled by
// CreateDraft) is below the change counter, so no later spend gets it; no
// two spends reserved the same index; and the spend's draft pays change
// there (packets are the drafts by id, from checkPSBTs).
func checkChange(w *Wallet, sn *wallet.Snapshot, ws *wallet.WalletState, packets map[string]*bpsbt.Packet) wallet.Check {
	ch := wallet.NewCheck(CheckChange, ws.Name)
	stored := map[string]bool{}
	for _, d := range ws.Drafts {
		stored[d.ID] = true
	}
	owner := map[uint32]wallet.JournalDraft{}
	reserved := 0
	for _, j := range sn.JournalDrafts(ws.ID) {
		if !j.Created || j.ChangeIndex == nil {
			continue
		}
		reserved++
		idx := *j.ChangeIndex
		if idx >= ws.NextChange {
			ch.Problem("draft %s reserved change index %d but the change counter is at %d: the next spend would reuse it", j.ID, idx, ws.NextChange)
		}
		if prev, dup := owner[idx]; dup && prev.TxID != j.TxID {
			ch.Problem("change index %d was reserved twice: by draft %s (entry %d) and draft %s (entry %d)", idx, prev.ID, prev.Entry, j.ID, j.Entry)
		}
		owner[idx] = j
		if !stored[j.ID] {
			continue // wallet.journal reports a journaled draft that is gone
		}
		if p := packets[j.ID]; p != nil && !paysChange(w, p, idx) {
			ch.Problem("draft %s reserved change index %d but pays no change there", j.ID, idx)
		}
	}
	return ch.Done(fmt.Sprintf("%d change indexes reserved by spends, next change %d", reserved, ws.NextChange))
}

// paysChange reports whether p has an output paying the script the
// wallet derives at change index idx.
func paysChange(w *Wallet, p *bpsbt.Packet, idx uint32) bool {
	d, err := w.Descriptor.Derive(1, idx, w.Network)
	if err != nil {
		return false
	}
	for _, o := range p.UnsignedTx.TxOut {
		if bytes.Equal(o.PkScript, d.ScriptPubKey) {
			return true
		}
	}
	return false
}

// checkKeys reports the software key store's files.
func checkKeys(keys *soft.Store) (wallet.Check, error) {
	a, err := keys.Audit()
	if err != nil {
		return wallet.Check{}, err
	}
	ch := wallet.NewCheck(CheckKeys, "")
	for _, p := range a.Problems {
		ch.Problem("%s", p)
	}
	detail := fmt.Sprintf("%d keys in %s", a.Keys, keys.Dir())
	if len(a.Leftovers) > 0 {
		detail += fmt.Sprintf("; %d temporary files of interrupted writes (safe to delete)", len(a.Leftovers))
	}
	return ch.Done(detail), nil
}

package wallet

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// The check names of the store's own checks (see Check.Name).
const (
	CheckFiles          = "store.files"
	CheckIntegrity      = "sqlite.integrity"
	CheckForeignKeys    = "sqlite.foreign_keys"
	CheckSchema         = "schema.version"
	CheckRows           = "store.rows"
	CheckJournalAppend  = "journal.append_only"
	CheckJournalSeq     = "journal.sequence"
	CheckJournalWallets = "journal.wallets"
	CheckJournalChain   = "journal.hash_chain"
	CheckRecord         = "wallet.record"
	CheckCounters       = "wallet.counters"
	CheckTransactions   = "wallet.transactions"
	CheckUTXOs          = "wallet.utxos"
	CheckDrafts         = "wallet.drafts"
	CheckJournalState   = "wallet.journal"
)

// Check runs the store-wide checks on the snapshot: file modes, SQLite's
// integrity and foreign key checks, the schema version, rows that do not
// read back, and the audit journal's rules (journalRules).
func (sn *Snapshot) Check() []Check {
	out := []Check{sn.checkFiles(), sn.checkIntegrity(), sn.checkForeignKeys(), sn.checkSchema(), sn.checkRows()}
	return append(out, sn.checkJournal()...)
}

func (sn *Snapshot) checkFiles() Check {
	c := NewCheck(CheckFiles, "")
	for _, p := range sn.FileProblems {
		c.Problem("%s", p)
	}
	return c.Done(fmt.Sprintf("%d database files in %s", sn.FilesChecked, sn.Dir))
}

func (sn *Snapshot) checkIntegrity() Check {
	c := NewCheck(CheckIntegrity, "")
	if len(sn.Integrity) != 1 || sn.Integrity[0] != "ok" {
		for _, line := range sn.Integrity {
			c.Problem("%s", line)
		}
		if !c.Failed() {
			c.Problem("PRAGMA integrity_check returned nothing")
		}
	}
	if sn.Engine == EnginePostgres {
		return c.Done("PostgreSQL: the server checks its own pages")
	}
	return c.Done("PRAGMA integrity_check")
}

func (sn *Snapshot) checkForeignKeys() Check {
	c := NewCheck(CheckForeignKeys, "")
	for _, line := range sn.ForeignKeys {
		c.Problem("%s", line)
	}
	if sn.Engine == EnginePostgres {
		return c.Done("PostgreSQL: foreign keys are always enforced")
	}
	return c.Done("PRAGMA foreign_key_check")
}

func (sn *Snapshot) checkSchema() Check {
	c := NewCheck(CheckSchema, "")
	if sn.SchemaVersion != sn.SchemaCurrent {
		c.Problem("schema version %d, this countersign writes %d", sn.SchemaVersion, sn.SchemaCurrent)
	}
	// WAL is what makes a committed write survive a crash while readers
	// run; another mode means something outside countersign changed it.
	if sn.Engine != EnginePostgres && !strings.EqualFold(sn.JournalMode, "wal") {
		c.Problem("journal mode %q, want wal", sn.JournalMode)
	}
	return c.Done(fmt.Sprintf("version %d, journal mode %s", sn.SchemaVersion, sn.JournalMode))
}

func (sn *Snapshot) checkRows() Check {
	c := NewCheck(CheckRows, "")
	for _, line := range sn.Unreadable {
		c.Problem("%s", line)
	}
	return c.Done("every stored value reads back")
}

// journalRule is one invariant of the audit journal. checkJournal feeds
// every entry to each rule in id order, then calls end. To verify what the
// journal gains later (a hash chain once entries carry hashes: each entry's
// hash over its content and the previous hash), add a rule to journalRules;
// the doctor command and its JSON report it without change.
type journalRule interface {
	// check is the Check the rule reports into.
	check() *Check
	// entry sees one entry; prev is the one before it, nil for the first.
	entry(e, prev *JournalEntry)
	// end runs after the last entry and returns the check's detail line.
	end(sn *Snapshot) string
}

// journalRules are the journal's invariants, in report order.
func journalRules() []journalRule {
	return []journalRule{
		&appendOnlyRule{c: NewCheck(CheckJournalAppend, "")},
		&sequenceRule{c: NewCheck(CheckJournalSeq, "")},
		&walletsRule{c: NewCheck(CheckJournalWallets, ""), live: map[int64]string{}, created: map[int64]int64{}},
		&hashChainRule{c: NewCheck(CheckJournalChain, "")},
	}
}

func (sn *Snapshot) checkJournal() []Check {
	rules := journalRules()
	for i := range sn.Journal {
		var prev *JournalEntry
		if i > 0 {
			prev = &sn.Journal[i-1]
		}
		for _, r := range rules {
			r.entry(&sn.Journal[i], prev)
		}
	}
	out := make([]Check, len(rules))
	for i, r := range rules {
		detail := r.end(sn)
		out[i] = r.check().Done(detail)
	}
	return out
}

// appendOnlyRule: the triggers that refuse UPDATE and DELETE are in place,
// and SQLite's sequence counter has not handed out ids beyond the last
// entry (it would have if the newest entries had been deleted with the
// triggers dropped).
type appendOnlyRule struct {
	c    *Check
	last int64
}

func (r *appendOnlyRule) check() *Check            { return r.c }
func (r *appendOnlyRule) entry(e, _ *JournalEntry) { r.last = e.ID }
func (r *appendOnlyRule) end(sn *Snapshot) string {
	for _, name := range []string{"journal_no_delete", "journal_no_update"} {
		if !slices.Contains(sn.Triggers, name) {
			r.c.Problem("trigger %s is missing: the journal can be changed", name)
		}
	}
	if sn.JournalSeq != r.last {
		r.c.Problem("SQLite handed out journal ids up to %d but the last entry is %d: entries were removed", sn.JournalSeq, r.last)
	}
	return fmt.Sprintf("triggers %s; last id %d", strings.Join(sn.Triggers, ", "), sn.JournalSeq)
}

// sequenceRule: ids run 1, 2, 3, ... without a gap (a transaction that
// rolls back takes its id back with it, so a gap is a deleted entry), each
// entry's detail is a JSON object, and an entry names a wallet exactly
// when it has a wallet id.
type sequenceRule struct {
	c     *Check
	count int
}

func (r *sequenceRule) check() *Check { return r.c }

func (r *sequenceRule) entry(e, prev *JournalEntry) {
	r.count++
	want := int64(1)
	if prev != nil {
		want = prev.ID + 1
	}
	if e.ID != want {
		r.c.Problem("entry %d follows entry %d: ids %d to %d are missing", e.ID, want-1, want, e.ID-1)
	}
	var obj map[string]any
	if err := json.Unmarshal(e.Detail, &obj); err != nil || obj == nil {
		r.c.Problem("entry %d (%s): detail is not a JSON object", e.ID, e.Action)
	}
	if e.Action == "" {
		r.c.Problem("entry %d has no action", e.ID)
	}
	if (e.WalletID == 0) != (e.Wallet == "") {
		r.c.Problem("entry %d (%s): wallet id %d with wallet name %q", e.ID, e.Action, e.WalletID, e.Wallet)
	}
}

func (r *sequenceRule) end(sn *Snapshot) string {
	if r.count == 0 {
		return "no entries"
	}
	return fmt.Sprintf("%d entries, ids %d to %d", r.count, sn.Journal[0].ID, sn.Journal[len(sn.Journal)-1].ID)
}

// walletsRule: every wallet an entry mentions was created by an earlier
// entry and not deleted since, under the same name; wallet ids are never
// reused; the stored wallets are exactly those created and not deleted.
type walletsRule struct {
	c       *Check
	live    map[int64]string // created and not deleted: id -> name
	created map[int64]int64  // wallet id -> the entry that created it
	lastID  int64            // the newest wallet id created
}

func (r *walletsRule) check() *Check { return r.c }

func (r *walletsRule) entry(e, _ *JournalEntry) {
	if e.WalletID == 0 {
		return
	}
	if e.Action == ActionWalletCreate {
		if at, dup := r.created[e.WalletID]; dup {
			r.c.Problem("entry %d creates wallet id %d again (entry %d created it)", e.ID, e.WalletID, at)
			return
		}
		if e.WalletID <= r.lastID {
			r.c.Problem("entry %d creates wallet id %d after id %d: ids must only grow", e.ID, e.WalletID, r.lastID)
		}
		r.created[e.WalletID], r.live[e.WalletID], r.lastID = e.ID, e.Wallet, max(r.lastID, e.WalletID)
		return
	}
	name, live := r.live[e.WalletID]
	switch _, ever := r.created[e.WalletID]; {
	case !ever:
		r.c.Problem("entry %d (%s) mentions wallet %q (id %d), which no earlier entry created", e.ID, e.Action, e.Wallet, e.WalletID)
	case !live:
		r.c.Problem("entry %d (%s) mentions wallet %q (id %d) after its deletion", e.ID, e.Action, e.Wallet, e.WalletID)
	case name != e.Wallet:
		r.c.Problem("entry %d (%s) names wallet id %d %q, created as %q", e.ID, e.Action, e.WalletID, e.Wallet, name)
	}
	if e.Action == ActionWalletDelete {
		delete(r.live, e.WalletID)
	}
}

func (r *walletsRule) end(sn *Snapshot) string {
	stored := map[int64]bool{}
	for _, ws := range sn.Wallets {
		stored[ws.ID] = true
		name, live := r.live[ws.ID]
		switch _, ever := r.created[ws.ID]; {
		case !ever:
			r.c.Problem("wallet %q (id %d) is stored but the journal never recorded its creation", ws.Name, ws.ID)
		case !live:
			r.c.Problem("wallet %q (id %d) is stored but the journal recorded its deletion", ws.Name, ws.ID)
		case name != ws.Name:
			r.c.Problem("wallet id %d is stored as %q but was created as %q", ws.ID, ws.Name, name)
		}
	}
	for _, id := range sortedKeys(r.live, cmp.Compare[int64]) {
		if !stored[id] {
			r.c.Problem("wallet %q (id %d) is gone from the store but the journal never recorded its deletion", r.live[id], id)
		}
	}
	return fmt.Sprintf("%d wallets created, %d stored", len(r.created), len(sn.Wallets))
}

// hashChainRule: every entry's stored hash follows from the entry before it
// and its own fields (VerifyChain), so an entry edited by hand, with the
// triggers dropped or the file written by another program, is named.
type hashChainRule struct {
	c       *Check
	entries []JournalEntry
}

func (r *hashChainRule) check() *Check            { return r.c }
func (r *hashChainRule) entry(e, _ *JournalEntry) { r.entries = append(r.entries, *e) }
func (r *hashChainRule) end(*Snapshot) string {
	st := VerifyChain(r.entries)
	if st.Break != nil {
		r.c.Problem("entry %d does not chain: %s", st.Break.Entry, st.Break.Reason)
	}
	if st.Entries == 0 {
		return "no entries"
	}
	return fmt.Sprintf("%d entries (%d before the chain), head %x at entry %d", st.Entries, st.Unchained, st.Head, st.HeadID)
}

// CheckWallet runs the store's checks of one wallet: its record, its
// address counters, its transactions and coins, its drafts, and whether the
// journal and the stored addresses and drafts agree.
func (sn *Snapshot) CheckWallet(ws *WalletState) []Check {
	return []Check{ws.checkRecord(), ws.checkCounters(), ws.checkTransactions(), ws.checkUTXOs(), ws.checkDrafts(), sn.checkJournalState(ws)}
}

// checkRecord: the cosigners are stored at positions 0..N-1, and every
// device registration is for one of them.
func (ws *WalletState) checkRecord() Check {
	c := NewCheck(CheckRecord, ws.Name)
	if ws.Threshold < 1 || ws.Threshold > ws.N {
		c.Problem("threshold %d of %d cosigners", ws.Threshold, ws.N)
	}
	if len(ws.Positions) != ws.N {
		c.Problem("%d cosigners stored for n=%d", len(ws.Positions), ws.N)
	}
	for i, p := range ws.Positions {
		if p != i {
			c.Problem("cosigner positions %v, want 0 to %d", ws.Positions, ws.N-1)
			break
		}
	}
	for _, r := range ws.Registrations {
		if !slices.Contains(ws.Fingerprints, r.Fingerprint) {
			c.Problem("a %s registration is for fingerprint %s, which is not a cosigner", r.DeviceType, r.Fingerprint)
		}
	}
	return c.Done(fmt.Sprintf("%d of %d, %d registrations", ws.Threshold, ws.N, len(ws.Registrations)))
}

// counter is the next index NextAddress hands out on branch.
func (ws *WalletState) counter(branch uint32) uint32 {
	if branch == 1 {
		return ws.NextChange
	}
	return ws.NextReceive
}

// checkCounters: an address counter is past every address handed out on
// its branch, every coin found on it, and the sync's high-water mark; so
// NextAddress can never hand out an index again.
func (ws *WalletState) checkCounters() Check {
	c := NewCheck(CheckCounters, ws.Name)
	if ws.NextReceive < ws.Scan.ReceiveHighWater {
		c.Problem("next receive index %d is below the receive high-water mark %d", ws.NextReceive, ws.Scan.ReceiveHighWater)
	}
	if ws.NextChange < ws.Scan.ChangeHighWater {
		c.Problem("next change index %d is below the change high-water mark %d", ws.NextChange, ws.Scan.ChangeHighWater)
	}
	for _, a := range ws.Addresses {
		if a.Index >= ws.counter(a.Branch) {
			c.Problem("address %d/%d (%s) was handed out but the counter is at %d: it would be handed out again", a.Branch, a.Index, a.Address, ws.counter(a.Branch))
		}
	}
	for _, u := range ws.UTXOs {
		if u.Index >= ws.counter(u.Branch) {
			c.Problem("coin %s is at %d/%d but the counter is at %d: its address would be handed out again", u.OutPoint, u.Branch, u.Index, ws.counter(u.Branch))
		}
	}
	return c.Done(fmt.Sprintf("next receive %d, next change %d; %d addresses handed out", ws.NextReceive, ws.NextChange, len(ws.Addresses)))
}

// decodeTx reads a stored raw transaction, refusing trailing bytes.
func decodeTx(raw []byte) (*wire.MsgTx, error) {
	tx := &wire.MsgTx{}
	r := bytes.NewReader(raw)
	if err := tx.Deserialize(r); err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the transaction", r.Len())
	}
	return tx, nil
}

// checkTransactions: every stored transaction decodes and hashes to its
// txid.
func (ws *WalletState) checkTransactions() Check {
	c := NewCheck(CheckTransactions, ws.Name)
	raw := 0
	for _, t := range ws.Txs {
		if len(t.Raw) == 0 {
			continue
		}
		raw++
		tx, err := decodeTx(t.Raw)
		if err != nil {
			c.Problem("transaction %s does not decode: %v", t.TxID, err)
			continue
		}
		if h := tx.TxHash(); h != t.TxID {
			c.Problem("transaction stored as %s hashes to %s", t.TxID, h)
		}
	}
	return c.Done(fmt.Sprintf("%d transactions, %d with raw bytes", len(ws.Txs), raw))
}

// checkUTXOs: every coin's funding transaction is stored with its bytes,
// and its output at the coin's vout has the coin's value and script
// (spend builds the PSBT's previous transactions from there).
func (ws *WalletState) checkUTXOs() Check {
	c := NewCheck(CheckUTXOs, ws.Name)
	byID := make(map[chainhash.Hash][]byte, len(ws.Txs))
	for _, t := range ws.Txs {
		byID[t.TxID] = t.Raw
	}
	for _, u := range ws.UTXOs {
		raw, ok := byID[u.OutPoint.Hash]
		switch {
		case !ok:
			c.Problem("coin %s: its transaction is not stored", u.OutPoint)
			continue
		case len(raw) == 0:
			c.Problem("coin %s: its transaction is stored without its bytes", u.OutPoint)
			continue
		}
		tx, err := decodeTx(raw)
		if err != nil {
			continue // checkTransactions reports it
		}
		if int(u.OutPoint.Index) >= len(tx.TxOut) {
			c.Problem("coin %s: its transaction has only %d outputs", u.OutPoint, len(tx.TxOut))
			continue
		}
		out := tx.TxOut[u.OutPoint.Index]
		if out.Value != u.Value || !bytes.Equal(out.PkScript, u.PkScript) {
			c.Problem("coin %s: stored as %d sat to %x, its transaction says %d sat to %x", u.OutPoint, u.Value, u.PkScript, out.Value, out.PkScript)
		}
	}
	return c.Done(fmt.Sprintf("%d coins", len(ws.UTXOs)))
}

// checkDrafts: every draft's id is the hash of its bytes (a torn or
// altered PSBT does not hash to its id), its state is known, and it carries
// a broadcast txid and time exactly when it was broadcast.
func (ws *WalletState) checkDrafts() Check {
	c := NewCheck(CheckDrafts, ws.Name)
	for _, d := range ws.Drafts {
		if id := DraftID(d.PSBT); id != d.ID {
			c.Problem("draft %s: its %d bytes hash to %s", d.ID, len(d.PSBT), id)
		}
		if !d.State.valid() {
			c.Problem("draft %s: unknown state %q", d.ID, d.State)
		}
		broadcast := d.State == StateBroadcast
		if broadcast != (d.BroadcastTxID != nil) || broadcast == d.BroadcastAt.IsZero() {
			c.Problem("draft %s: state %s with broadcast txid %v and time %v", d.ID, d.State, d.BroadcastTxID, d.BroadcastAt)
		}
	}
	return c.Done(fmt.Sprintf("%d drafts", len(ws.Drafts)))
}

// JournalDraft is a draft.save journal entry as the checks read it.
type JournalDraft struct {
	Entry int64
	ID    string
	TxID  string
	// ChangeIndex is the change index the draft reserved, for a draft
	// made by CreateDraft that uses change; nil otherwise.
	ChangeIndex *uint32
	// Created is true for CreateDraft's entries (a spend built here),
	// false for SaveDraft's (a PSBT recorded as it came).
	Created bool
}

// JournalDrafts returns the draft.save entries of the wallet with id, in
// journal order.
func (sn *Snapshot) JournalDrafts(id int64) []JournalDraft {
	var out []JournalDraft
	for _, e := range sn.Journal {
		if e.WalletID != id || e.Action != ActionDraftSave {
			continue
		}
		// A detail that does not parse leaves the fields empty: the
		// sequence rule reports it, and the draft then looks unjournaled.
		var d struct {
			ID          string  `json:"id"`
			TxID        string  `json:"txid"`
			ChangeIndex *uint32 `json:"change_index"`
		}
		_ = json.Unmarshal(e.Detail, &d)
		var keys map[string]json.RawMessage
		_ = json.Unmarshal(e.Detail, &keys)
		_, created := keys["change_index"]
		out = append(out, JournalDraft{Entry: e.ID, ID: d.ID, TxID: d.TxID, ChangeIndex: d.ChangeIndex, Created: created})
	}
	return out
}

// checkJournalState: the journal and the stored rows agree. Each address
// handed out has its address.issue entry and each such entry its address;
// each draft has its draft.save entry and each such entry its draft. Both
// are written in one transaction, so a crash can never leave one without
// the other.
func (sn *Snapshot) checkJournalState(ws *WalletState) Check {
	c := NewCheck(CheckJournalState, ws.Name)
	type key struct{ branch, index uint32 }
	issued := map[key]string{}
	for _, e := range sn.Journal {
		if e.WalletID != ws.ID || e.Action != ActionAddressIssue {
			continue
		}
		var d struct {
			Branch  uint32 `json:"branch"`
			Index   uint32 `json:"index"`
			Address string `json:"address"`
		}
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			c.Problem("entry %d (%s): %v", e.ID, e.Action, err)
			continue
		}
		k := key{d.Branch, d.Index}
		if _, dup := issued[k]; dup {
			c.Problem("entry %d hands out %d/%d a second time", e.ID, d.Branch, d.Index)
		}
		issued[k] = d.Address
	}
	for _, a := range ws.Addresses {
		k := key{a.Branch, a.Index}
		addr, ok := issued[k]
		switch {
		case !ok:
			c.Problem("address %d/%d (%s) is stored but was never journaled", a.Branch, a.Index, a.Address)
		case addr != a.Address:
			c.Problem("address %d/%d is stored as %s but was journaled as %s", a.Branch, a.Index, a.Address, addr)
		}
		delete(issued, k)
	}
	for _, k := range sortedKeys(issued, func(a, b key) int { return cmp.Or(cmp.Compare(a.branch, b.branch), cmp.Compare(a.index, b.index)) }) {
		c.Problem("address %d/%d (%s) was journaled as handed out but is not stored", k.branch, k.index, issued[k])
	}

	journaled := map[string]JournalDraft{}
	for _, d := range sn.JournalDrafts(ws.ID) {
		journaled[d.ID] = d
	}
	for _, d := range ws.Drafts {
		j, ok := journaled[d.ID]
		switch {
		case !ok:
			c.Problem("draft %s is stored but was never journaled", d.ID)
		case j.TxID != d.TxID.String():
			c.Problem("draft %s has txid %s but was journaled with %s", d.ID, d.TxID, j.TxID)
		}
		delete(journaled, d.ID)
	}
	for _, id := range sortedKeys(journaled, strings.Compare) {
		c.Problem("draft %s was journaled (entry %d) but is not stored", id, journaled[id].Entry)
	}
	return c.Done(fmt.Sprintf("%d addresses and %d drafts against the journal", len(ws.Addresses), len(ws.Drafts)))
}

// sortedKeys returns m's keys in order, so problems print in a stable
// order.
func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, compare)
	return out
}

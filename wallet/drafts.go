package wallet

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// DraftState is how far a saved PSBT has got.
type DraftState string

// The draft states, in the order a spend goes through them.
const (
	StateDraft     DraftState = "draft"     // built, no signatures yet
	StateSigned    DraftState = "signed"    // carries some partial signatures
	StateFinalized DraftState = "finalized" // every input finalized; ready to extract
	StateBroadcast DraftState = "broadcast" // its transaction was sent (see MarkBroadcast)
)

// valid reports whether st is one of the four states.
func (st DraftState) valid() bool {
	switch st {
	case StateDraft, StateSigned, StateFinalized, StateBroadcast:
		return true
	}
	return false
}

// minDraftPrefix is the shortest id prefix Draft accepts; shorter ones would
// too often match several drafts.
const minDraftPrefix = 8

// Draft is a saved PSBT. Every version of one spend (unsigned, signed by A,
// signed by A and B, finalized) is its own Draft with its own ID; they share
// the TxID of the unsigned transaction.
type Draft struct {
	ID        string         // hex SHA-256 of PSBT: the same bytes always get the same ID
	Wallet    string         // the wallet's name
	TxID      chainhash.Hash // txid of the PSBT's unsigned transaction
	State     DraftState
	PSBT      []byte // the serialized PSBT (binary BIP-174)
	Note      string
	CreatedAt time.Time
	// BroadcastTxID is the txid of the final transaction once MarkBroadcast
	// saw it (it differs from TxID for legacy P2SH inputs, whose signatures
	// change the txid); nil before.
	BroadcastTxID *chainhash.Hash
	BroadcastAt   time.Time // zero before broadcast

	// Kind is what built the spend: KindSpend (also for a PSBT recorded
	// as it came), KindBump, KindCancel or KindCPFP.
	Kind DraftKind
	// Related is, for a bump or a cancel, the unsigned txid of the spend it
	// replaces; for a CPFP child, the txid of the parent it pays for; nil
	// otherwise.
	Related *chainhash.Hash
	// AbandonedAt is when the spend was abandoned (AbandonDraft); zero
	// while it is not.
	AbandonedAt time.Time
	// Seq orders versions saved in the same millisecond: it grows with
	// every draft stored.
	Seq int64

	// Event says, for the journal, what produced this version; it is not
	// stored with the draft.
	Event *DraftEvent

	// SeenUpTo, given to CreateDraft, is the newest Seq of the wallet's
	// drafts when the builder read which coins live drafts spend
	// (NewestDraftSeq). CreateDraft refuses with ErrStale when a draft was
	// saved after it: that draft's coins were not known to the builder,
	// which may have picked them too. Nil skips the check.
	SeenUpTo *int64
}

// DraftKind is what built a spend.
type DraftKind string

// The draft kinds.
const (
	KindSpend  DraftKind = "spend"
	KindBump   DraftKind = "bump"
	KindCancel DraftKind = "cancel"
	KindCPFP   DraftKind = "cpfp"
)

func (k DraftKind) valid() bool {
	switch k {
	case KindSpend, KindBump, KindCancel, KindCPFP:
		return true
	}
	return false
}

// DraftEvent is what the journal records with a draft version: the step
// that produced it (spend, sign, combine, finalize, bump, cancel, cpfp,
// import), the fingerprints that signed in this step, and further entries
// written in the same transaction (a policy overridden at this step).
type DraftEvent struct {
	Step    string
	Signers []string
	Notes   []JournalNote
}

// JournalNote is one more journal entry written with a change.
type JournalNote struct {
	Action string
	Detail map[string]any
}

// journalDraft writes a draft version's journal entries inside tx: the
// draft.save entry with extra in its detail, then the event's notes.
func (s *Store) journalDraft(ctx context.Context, tx *dbTx, w journalKey, d *Draft, extra map[string]any, saved bool) error {
	detail := map[string]any{"id": d.ID, "txid": d.TxID.String(), "state": d.State, "note": d.Note}
	for k, v := range extra {
		detail[k] = v
	}
	if d.Kind != "" && d.Kind != KindSpend {
		detail["kind"] = d.Kind
	}
	if d.Related != nil {
		detail["related_txid"] = d.Related.String()
	}
	if d.Event != nil {
		if d.Event.Step != "" {
			detail["step"] = d.Event.Step
		}
		if len(d.Event.Signers) > 0 {
			detail["signed_by"] = d.Event.Signers
		}
	}
	if saved {
		if err := s.appendJournal(ctx, tx, w, ActionDraftSave, detail); err != nil {
			return err
		}
	}
	if d.Event != nil {
		for _, n := range d.Event.Notes {
			if err := s.appendJournal(ctx, tx, w, n.Action, n.Detail); err != nil {
				return err
			}
		}
	}
	return nil
}

// relatedArg is d.Related as a column value.
func relatedArg(d *Draft) any {
	if d.Related == nil {
		return nil
	}
	return d.Related.String()
}

// MaxDraftBytes is the largest PSBT the store keeps as a draft: above the
// CLI's default input limit (50 MiB), so that only a PSBT no real wallet
// makes is refused, and a hostile one cannot bloat the database.
const MaxDraftBytes = 64 << 20

func checkDraftSize(name string, psbt []byte) error {
	if len(psbt) > MaxDraftBytes {
		return fmt.Errorf("save draft for wallet %q: the PSBT is %d bytes, above the %d the store keeps: %w", name, len(psbt), MaxDraftBytes, ErrInvalid)
	}
	return nil
}

// DraftID is the ID SaveDraft gives a PSBT: the hex SHA-256 of its bytes.
func DraftID(psbt []byte) string {
	sum := sha256.Sum256(psbt)
	return hex.EncodeToString(sum[:])
}

// SaveDraft stores d.PSBT, with d.TxID (required), d.State ("" means
// StateDraft; StateBroadcast is refused, see MarkBroadcast) and
// d.Note, for the wallet called name, and fills d.ID, d.Wallet and
// d.CreatedAt. Saving bytes that are already stored for the same wallet
// changes nothing and fills d from the stored draft, so importing a file
// twice is harmless; the same bytes under another wallet wrap ErrExists.
func (s *Store) SaveDraft(ctx context.Context, name string, d *Draft) error {
	if err := checkSaveDraft(name, d); err != nil {
		return err
	}
	var stored *Draft
	err := s.write(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		stored, err = s.saveDraftTx(ctx, tx, journalKey{wid, name}, d)
		return err
	})
	if err != nil {
		return err
	}
	*d = *stored
	return nil
}

// MergeDraft saves a new version of the wallet's spend txid made from its
// newest stored version, in one write transaction: it reads the newest
// version (nil when the spend has none), calls merge with it, and saves
// what merge returns as SaveDraft does. Two operators adding signatures to
// one spend at once each merge into what the other saved, so the newest
// version carries both; a SaveDraft after reading Drafts could lose one.
// merge runs while the store's write lock is held: it must be quick and
// must not use the store. Its error is returned as is, nothing saved.
func (s *Store) MergeDraft(ctx context.Context, name string, txid chainhash.Hash, merge func(newest *Draft) (*Draft, error)) (*Draft, error) {
	var stored *Draft
	err := s.write(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		newest, err := scanDraft(tx.QueryRowContext(ctx, draftSelect+` WHERE d.wallet_id = ? AND d.txid = ? ORDER BY d.rowid DESC LIMIT 1`, wid, txid.String()))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			newest = nil
		case err != nil:
			return fmt.Errorf("read the newest draft of %s: %w", txid, err)
		}
		d, err := merge(newest)
		if err != nil {
			return err
		}
		if d == nil {
			return fmt.Errorf("merge into draft of %s: nothing to save: %w", txid, ErrInvalid)
		}
		if d.TxID != txid {
			return fmt.Errorf("merge into draft of %s: the result is transaction %s: %w", txid, d.TxID, ErrInvalid)
		}
		if err := checkSaveDraft(name, d); err != nil {
			return err
		}
		stored, err = s.saveDraftTx(ctx, tx, journalKey{wid, name}, d)
		return err
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// checkSaveDraft checks and completes a draft about to be saved.
func checkSaveDraft(name string, d *Draft) error {
	if len(d.PSBT) == 0 {
		return fmt.Errorf("save draft for wallet %q: empty PSBT: %w", name, ErrInvalid)
	}
	if d.TxID == (chainhash.Hash{}) {
		return fmt.Errorf("save draft for wallet %q: no unsigned txid: %w", name, ErrInvalid)
	}
	if err := checkDraftSize(name, d.PSBT); err != nil {
		return err
	}
	if d.State == "" {
		d.State = StateDraft
	}
	if d.Kind == "" {
		d.Kind = KindSpend
	}
	if !d.Kind.valid() {
		return fmt.Errorf("save draft for wallet %q: unknown kind %q: %w", name, d.Kind, ErrInvalid)
	}
	if !d.State.valid() {
		return fmt.Errorf("save draft for wallet %q: unknown state %q: %w; use draft, signed or finalized", name, d.State, ErrInvalid)
	}
	if d.State == StateBroadcast {
		// A broadcast draft carries the final txid and the time it was
		// sent; only MarkBroadcast knows them.
		return fmt.Errorf("save draft for wallet %q: a draft becomes broadcast through MarkBroadcast, not SaveDraft: %w", name, ErrInvalid)
	}
	return nil
}

// saveDraftTx saves the checked draft d inside tx and returns it as stored.
func (s *Store) saveDraftTx(ctx context.Context, tx *dbTx, w journalKey, d *Draft) (*Draft, error) {
	name, wid := w.name, w.id
	id := DraftID(d.PSBT)
	// The id is the hash of the bytes: a stored draft with it holds d.PSBT,
	// which is not read back.
	stored, err := scanDraft(tx.QueryRowContext(ctx, draftRecordSelect+` WHERE d.id = ?`, id))
	switch {
	case err == nil && stored.Wallet != name:
		return nil, fmt.Errorf("draft %s is already saved for wallet %q: %w", id, stored.Wallet, ErrExists)
	case err == nil:
		// Same bytes, same wallet: nothing to save; what happened at
		// this step (a policy overridden) is still on record.
		stored.PSBT = d.PSBT
		stored.Event = d.Event
		return stored, s.journalDraft(ctx, tx, w, stored, nil, false)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("save draft for wallet %q: %w", name, err)
	}
	created := s.stamp()
	var seq int64
	err = tx.QueryRowContext(ctx, `INSERT INTO drafts (id, wallet_id, txid, state, psbt, note, created_at, kind, related_txid)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING rowid`, id, wid, d.TxID.String(), string(d.State), d.PSBT, d.Note, created, string(d.Kind), relatedArg(d)).Scan(&seq)
	if err != nil {
		return nil, fmt.Errorf("save draft for wallet %q: %w", name, err)
	}
	stored = &Draft{ID: id, Wallet: name, TxID: d.TxID, State: d.State, PSBT: d.PSBT, Note: d.Note, CreatedAt: fromStamp(created),
		Kind: d.Kind, Related: d.Related, Seq: seq, Event: d.Event}
	return stored, s.journalDraft(ctx, tx, w, stored, nil, true)
}

// draftSelect is the query scanDraft reads.
const draftSelect = `SELECT d.id, w.name, d.txid, d.state, d.psbt, d.note, d.created_at, d.broadcast_txid, d.broadcast_at,
	d.kind, d.related_txid, d.abandoned_at, d.rowid
	FROM drafts d JOIN wallets w ON w.id = d.wallet_id`

// draftRecordSelect is draftSelect without the PSBT (scanned as nil): a
// draft's record, for steps that need its state or kind but not its
// megabytes.
const draftRecordSelect = `SELECT d.id, w.name, d.txid, d.state, NULL, d.note, d.created_at, d.broadcast_txid, d.broadcast_at,
	d.kind, d.related_txid, d.abandoned_at, d.rowid
	FROM drafts d JOIN wallets w ON w.id = d.wallet_id`

// scanDraft reads one draftSelect or draftRecordSelect row.
func scanDraft(row interface{ Scan(...any) error }) (*Draft, error) {
	d := &Draft{}
	var txid, state string
	var created int64
	var bTxid, related sql.NullString
	var bAt, abandoned sql.NullInt64
	var kind string
	if err := row.Scan(&d.ID, &d.Wallet, &txid, &state, &d.PSBT, &d.Note, &created, &bTxid, &bAt,
		&kind, &related, &abandoned, &d.Seq); err != nil {
		return nil, err
	}
	d.Kind = DraftKind(kind)
	if related.Valid {
		h, err := parseHash(related.String)
		if err != nil {
			return nil, err
		}
		d.Related = &h
	}
	if abandoned.Valid {
		d.AbandonedAt = fromStamp(abandoned.Int64)
	}
	var err error
	if d.TxID, err = parseHash(txid); err != nil {
		return nil, err
	}
	d.State = DraftState(state)
	d.CreatedAt = fromStamp(created)
	if bTxid.Valid {
		h, err := parseHash(bTxid.String)
		if err != nil {
			return nil, err
		}
		d.BroadcastTxID = &h
	}
	if bAt.Valid {
		d.BroadcastAt = fromStamp(bAt.Int64)
	}
	return d, nil
}

// Draft returns the draft with the given ID, or with the only ID starting
// with it (at least 8 hex digits, as `psbt` commands print them).
func (s *Store) Draft(ctx context.Context, id string) (*Draft, error) {
	id = strings.ToLower(id)
	if len(id) < minDraftPrefix || len(id) > sha256.Size*2 {
		return nil, fmt.Errorf("draft id %q: %w; give %d to %d hex digits", id, ErrInvalid, minDraftPrefix, sha256.Size*2)
	}
	if _, err := hex.DecodeString(id[:len(id)&^1]); err != nil {
		return nil, fmt.Errorf("draft id %q is not hex: %w", id, ErrInvalid)
	}
	var found []*Draft
	err := s.read(ctx, func(tx *dbTx) error {
		rows, err := tx.QueryContext(ctx, draftSelect+` WHERE substr(d.id, 1, ?) = ? ORDER BY d.id LIMIT 2`, len(id), id)
		if err != nil {
			return fmt.Errorf("read draft %s: %w", id, err)
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDraft(rows)
			if err != nil {
				return fmt.Errorf("read draft %s: %w", id, err)
			}
			found = append(found, d)
		}
		return rows.Err()
	})
	switch {
	case err != nil:
		return nil, err
	case len(found) == 0:
		return nil, fmt.Errorf("draft %q %w", id, ErrNotFound)
	case len(found) > 1:
		return nil, fmt.Errorf("draft id %q matches several drafts: %w; give more digits", id, ErrInvalid)
	}
	return found[0], nil
}

// Drafts returns the wallet's drafts, oldest first (in the order they were
// saved).
func (s *Store) Drafts(ctx context.Context, name string) ([]*Draft, error) {
	var out []*Draft
	err := s.read(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, draftSelect+` WHERE d.wallet_id = ? ORDER BY d.created_at, d.rowid`, wid)
		if err != nil {
			return fmt.Errorf("list drafts of wallet %q: %w", name, err)
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDraft(rows)
			if err != nil {
				return fmt.Errorf("list drafts of wallet %q: %w", name, err)
			}
			out = append(out, d)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list drafts of wallet %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SpendDrafts returns the versions of one spend of the wallet (the drafts
// whose unsigned transaction is txid), oldest first: what a step that
// merges or compares with the newest version needs, without reading every
// draft the wallet ever had (each holds a PSBT of up to megabytes).
func (s *Store) SpendDrafts(ctx context.Context, name string, txid chainhash.Hash) ([]*Draft, error) {
	return s.spendDrafts(ctx, name, txid, draftSelect)
}

// SpendDraftRecords is SpendDrafts without the PSBTs (Draft.PSBT is nil).
func (s *Store) SpendDraftRecords(ctx context.Context, name string, txid chainhash.Hash) ([]*Draft, error) {
	return s.spendDrafts(ctx, name, txid, draftRecordSelect)
}

func (s *Store) spendDrafts(ctx context.Context, name string, txid chainhash.Hash, selectDrafts string) ([]*Draft, error) {
	var out []*Draft
	err := s.read(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, selectDrafts+` WHERE d.wallet_id = ? AND d.txid = ? ORDER BY d.created_at, d.rowid`, wid, txid.String())
		if err != nil {
			return fmt.Errorf("list drafts of spend %s of wallet %q: %w", txid, name, err)
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDraft(rows)
			if err != nil {
				return fmt.Errorf("list drafts of spend %s of wallet %q: %w", txid, name, err)
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Broadcasts maps the unsigned txid of each of the wallet's spends that
// countersign broadcast to the txid it was sent under (they differ for
// legacy sh spends), read without the drafts' PSBTs.
func (s *Store) Broadcasts(ctx context.Context, name string) (map[chainhash.Hash]chainhash.Hash, error) {
	out := map[chainhash.Hash]chainhash.Hash{}
	err := s.read(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT txid, broadcast_txid FROM drafts WHERE wallet_id = ? AND broadcast_txid IS NOT NULL`, wid)
		if err != nil {
			return fmt.Errorf("list broadcasts of wallet %q: %w", name, err)
		}
		defer rows.Close()
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				return fmt.Errorf("list broadcasts of wallet %q: %w", name, err)
			}
			u, err := parseHash(a)
			if err != nil {
				return err
			}
			f, err := parseHash(b)
			if err != nil {
				return err
			}
			out[u] = f
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkBroadcast records that final, a fully signed transaction, was sent:
// every draft of the same spend (drafts whose unsigned TxID matches final
// with its signatures stripped) moves to StateBroadcast with final's txid,
// and every stored UTXO it spends gets final's txid as SpentBy, so balance
// and coin selection stop counting them before the next sync. ErrNotFound
// when neither a draft nor a UTXO in the store matches.
func (s *Store) MarkBroadcast(ctx context.Context, final *wire.MsgTx) error {
	if final == nil || len(final.TxIn) == 0 {
		return fmt.Errorf("mark broadcast: no transaction or no inputs: %w", ErrInvalid)
	}
	finalID := final.TxHash()
	unsignedID := unsignedTxID(final)
	return s.write(ctx, func(tx *dbTx) error {
		// Counts per wallet, for one journal row each.
		drafts, spent := map[journalKey]int{}, map[journalKey]int{}
		err := queryKeys(ctx, tx, func(w journalKey) { drafts[w]++ },
			`SELECT w.id, w.name FROM drafts d JOIN wallets w ON w.id = d.wallet_id WHERE d.txid = ?`, unsignedID.String())
		if err != nil {
			return fmt.Errorf("mark %s broadcast: %w", finalID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE drafts SET state = 'broadcast', broadcast_txid = ?, broadcast_at = ? WHERE txid = ?`,
			finalID.String(), s.stamp(), unsignedID.String()); err != nil {
			return fmt.Errorf("mark %s broadcast: %w", finalID, err)
		}
		for _, in := range final.TxIn {
			op := in.PreviousOutPoint
			// The same outpoint is in several wallets only when they share a
			// descriptor; each gets the mark.
			err := queryKeys(ctx, tx, func(w journalKey) { spent[w]++ },
				`SELECT w.id, w.name FROM utxos u JOIN wallets w ON w.id = u.wallet_id WHERE u.txid = ? AND u.vout = ?`,
				op.Hash.String(), op.Index)
			if err != nil {
				return fmt.Errorf("mark %s broadcast: find spent output %s: %w", finalID, op, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE utxos SET spent_by = ? WHERE txid = ? AND vout = ?`,
				finalID.String(), op.Hash.String(), op.Index); err != nil {
				return fmt.Errorf("mark %s broadcast: record spent output %s: %w", finalID, op, err)
			}
		}
		// A note given to the unsigned transaction labels the one sent
		// (their txids differ when legacy P2SH signatures are in them).
		if finalID != unsignedID {
			if _, err := tx.ExecContext(ctx, `INSERT INTO labels (wallet_id, type, ref, label, updated_at)
				SELECT wallet_id, 'tx', CAST(? AS TEXT), label, CAST(? AS BIGINT) FROM labels WHERE type = 'tx' AND ref = ? AND label IS NOT NULL
				ON CONFLICT (wallet_id, type, ref) DO NOTHING`, finalID.String(), s.stamp(), unsignedID.String()); err != nil {
				return fmt.Errorf("mark %s broadcast: carry its label: %w", finalID, err)
			}
		}
		if len(drafts) == 0 && len(spent) == 0 {
			return fmt.Errorf("transaction %s matches no draft and spends no stored UTXO: %w; is it from one of this store's wallets?", finalID, ErrNotFound)
		}
		for _, w := range merge(drafts, spent) {
			if err := s.appendJournal(ctx, tx, w, ActionDraftBroadcast, map[string]any{
				"txid": finalID.String(), "unsigned_txid": unsignedID.String(),
				"drafts": drafts[w], "spent": spent[w],
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

// queryKeys runs a query selecting (wallet id, wallet name) rows and calls
// each for every row.
func queryKeys(ctx context.Context, tx *dbTx, each func(journalKey), query string, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var w journalKey
		if err := rows.Scan(&w.id, &w.name); err != nil {
			return err
		}
		each(w)
	}
	return rows.Err()
}

// merge returns the wallets in either count, by id, so journal rows come out
// in a stable order.
func merge(a, b map[journalKey]int) []journalKey {
	var out []journalKey
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, dup := a[k]; !dup {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(x, y journalKey) int { return cmp.Compare(x.id, y.id) })
	return out
}

// unsignedTxID is the txid a PSBT's unsigned transaction had before final
// was signed: BIP-174 requires empty scriptSigs and witnesses there, and
// signing only fills those in.
func unsignedTxID(final *wire.MsgTx) chainhash.Hash {
	bare := final.Copy()
	for _, in := range bare.TxIn {
		in.SignatureScript = nil
		in.Witness = nil
	}
	return bare.TxHash()
}

// CreateDraft builds and saves a new spend in one IMMEDIATE transaction: it
// reads the wallet's next change index, calls build with it, saves the
// draft build returns (its PSBT, TxID, Note) and, when build says it used
// the change index, advances the counter past it. Two spends, in this
// process or another, never get the same change index, and a crash leaves
// either no draft and the old counter or both. build runs while the store's
// write lock is held: it must be quick (coin selection is) and must not
// write to the store. It may read it (on another connection: it sees every
// write committed, none can commit meanwhile), which is how the spending
// policy's view of what is in flight stays true until the draft is saved. When it fails nothing changes and its error is returned as is.
func (s *Store) CreateDraft(ctx context.Context, name string, build func(changeIndex uint32) (d *Draft, usedChange bool, err error)) (*Draft, error) {
	var out *Draft
	err := s.write(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		var next uint32
		if err := tx.QueryRowContext(ctx, `SELECT next_change FROM wallets WHERE id = ?`, wid).Scan(&next); err != nil {
			return fmt.Errorf("new draft for wallet %q: read the change counter: %w", name, err)
		}
		if next >= maxIndex {
			return fmt.Errorf("wallet %q has used every non-hardened change index: %w; create a new wallet", name, ErrInvalid)
		}
		d, used, err := build(next)
		if err != nil {
			return err
		}
		if d == nil || len(d.PSBT) == 0 || d.TxID == (chainhash.Hash{}) {
			return fmt.Errorf("new draft for wallet %q: no PSBT or txid: %w", name, ErrInvalid)
		}
		if d.SeenUpTo != nil {
			newest, err := newestDraftSeq(ctx, tx, wid)
			if err != nil {
				return err
			}
			if newest > *d.SeenUpTo {
				return fmt.Errorf("new draft for wallet %q: another draft was saved while this one was built: %w", name, ErrStale)
			}
		}
		if err := checkDraftSize(name, d.PSBT); err != nil {
			return err
		}
		if d.Kind == "" {
			d.Kind = KindSpend
		}
		if !d.Kind.valid() {
			return fmt.Errorf("new draft for wallet %q: unknown kind %q: %w", name, d.Kind, ErrInvalid)
		}
		id := DraftID(d.PSBT)
		created := s.stamp()
		var seq int64
		err = tx.QueryRowContext(ctx, `INSERT INTO drafts (id, wallet_id, txid, state, psbt, note, created_at, kind, related_txid)
			VALUES (?, ?, ?, 'draft', ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING rowid`, id, wid, d.TxID.String(), d.PSBT, d.Note, created, string(d.Kind), relatedArg(d)).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("draft %s is already saved: %w", id, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("save draft for wallet %q: %w", name, err)
		}
		if used {
			if _, err := s.advance(ctx, tx, journalKey{wid, name}, 1, next+1); err != nil {
				return err
			}
		}
		out = &Draft{ID: id, Wallet: name, TxID: d.TxID, State: StateDraft, PSBT: d.PSBT, Note: d.Note, CreatedAt: fromStamp(created),
			Kind: d.Kind, Related: d.Related, Seq: seq, Event: d.Event}
		return s.journalDraft(ctx, tx, journalKey{wid, name}, out, map[string]any{"change_index": changeDetail(used, next)}, true)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ErrStale means a draft was built from a view of the store that another
// writer changed before it was saved; building it again sees the change.
var ErrStale = errors.New("the store changed while the draft was built")

// NewestDraftSeq returns the highest Seq among the wallet's drafts (every
// version, whatever its state), 0 when it has none. See Draft.SeenUpTo.
func (s *Store) NewestDraftSeq(ctx context.Context, name string) (int64, error) {
	var out int64
	err := s.read(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		out, err = newestDraftSeq(ctx, tx, wid)
		return err
	})
	return out, err
}

func newestDraftSeq(ctx context.Context, tx *dbTx, wid int64) (int64, error) {
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(rowid), 0) FROM drafts WHERE wallet_id = ?`, wid).Scan(&n); err != nil {
		return 0, fmt.Errorf("read the newest draft: %w", err)
	}
	return n, nil
}

// changeDetail is the journal's record of the change index a draft took.
func changeDetail(used bool, index uint32) any {
	if !used {
		return nil
	}
	return index
}

// AbandonDraft marks every version of the wallet's spend with unsigned txid
// as abandoned: `psbt list` shows it so, and its coins are free for new
// spends. Journaled as draft.abandon; ErrNotFound when the wallet has no
// such spend, ErrInvalid when it was abandoned already.
func (s *Store) AbandonDraft(ctx context.Context, name string, txid chainhash.Hash) error {
	return s.write(ctx, func(tx *dbTx) error {
		wid, err := walletID(ctx, tx, name)
		if err != nil {
			return err
		}
		var total, open int
		if err := tx.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE abandoned_at IS NULL) FROM drafts WHERE wallet_id = ? AND txid = ?`,
			wid, txid.String()).Scan(&total, &open); err != nil {
			return fmt.Errorf("abandon spend %s: %w", txid, err)
		}
		switch {
		case total == 0:
			return fmt.Errorf("wallet %q has no draft of transaction %s: %w", name, txid, ErrNotFound)
		case open == 0:
			return fmt.Errorf("the spend %s of wallet %q is abandoned already: %w", txid, name, ErrInvalid)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE drafts SET abandoned_at = ? WHERE wallet_id = ? AND txid = ? AND abandoned_at IS NULL`,
			s.stamp(), wid, txid.String()); err != nil {
			return fmt.Errorf("abandon spend %s: %w", txid, err)
		}
		return s.appendJournal(ctx, tx, journalKey{wid, name}, ActionDraftAbandon, map[string]any{"txid": txid.String(), "drafts": open})
	})
}

package wallet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/wire"
)

// spendTx is a signed-looking transaction spending op: signatures in the
// witness, or in the scriptSig when legacy (then its txid differs from the
// unsigned one).
func spendTx(op wire.OutPoint, legacy bool) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&op, nil, nil)
	if legacy {
		in.SignatureScript = []byte{0x00, 0x47, 0x30, 0x44}
	} else {
		in.Witness = wire.TxWitness{nil, []byte{0x30, 0x44}, []byte{0x52}}
	}
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(1000, []byte{0x00, 0x14}))
	return tx
}

// unsigned strips the signatures spendTx added.
func unsigned(tx *wire.MsgTx) *wire.MsgTx {
	u := tx.Copy()
	for _, in := range u.TxIn {
		in.SignatureScript, in.Witness = nil, nil
	}
	return u
}

func TestSaveDraft(t *testing.T) {
	for _, c := range []struct {
		name   string
		wallet string
		draft  Draft
		want   error
	}{
		{"new", "w", Draft{PSBT: []byte("psbt-1"), TxID: hashOf(1, 1), Note: "rent"}, nil},
		{"signed", "w", Draft{PSBT: []byte("psbt-2"), TxID: hashOf(1, 2), State: StateSigned}, nil},
		{"same bytes again", "w", Draft{PSBT: []byte("stored"), TxID: hashOf(1, 3), Note: "ignored"}, nil},
		{"same bytes other wallet", "v", Draft{PSBT: []byte("stored"), TxID: hashOf(1, 3)}, ErrExists},
		{"empty", "w", Draft{TxID: hashOf(1, 4)}, ErrInvalid},
		{"no txid", "w", Draft{PSBT: []byte("x")}, ErrInvalid},
		{"bad state", "w", Draft{PSBT: []byte("x"), TxID: hashOf(1, 5), State: "pending"}, ErrInvalid},
		{"broadcast without MarkBroadcast", "w", Draft{PSBT: []byte("x"), TxID: hashOf(1, 5), State: StateBroadcast}, ErrInvalid},
		{"unknown wallet", "nope", Draft{PSBT: []byte("x"), TxID: hashOf(1, 6)}, ErrNotFound},
		{"too large", "w", Draft{PSBT: make([]byte, MaxDraftBytes+1), TxID: hashOf(1, 7)}, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			mustCreate(t, s, "w")
			mustCreate(t, s, "v")
			first := &Draft{PSBT: []byte("stored"), TxID: hashOf(1, 3), Note: "first"}
			if err := s.SaveDraft(ctx, "w", first); err != nil {
				t.Fatal(err)
			}
			before := journalLen(t, s)
			d := c.draft
			err := s.SaveDraft(ctx, c.wallet, &d)
			wantErr(t, err, c.want)
			drafts, err2 := s.Drafts(ctx, "w")
			if err2 != nil {
				t.Fatal(err2)
			}
			sum := sha256.Sum256(c.draft.PSBT)
			switch {
			case c.want != nil || c.name == "same bytes again":
				if len(drafts) != 1 || journalLen(t, s) != before {
					t.Fatalf("store changed: %d drafts, journal %d -> %d", len(drafts), before, journalLen(t, s))
				}
				if c.want == nil && (d.ID != first.ID || d.Note != "first" || !d.CreatedAt.Equal(first.CreatedAt)) {
					t.Fatalf("re-save did not return the stored draft: %+v", d)
				}
			default:
				if d.ID != hex.EncodeToString(sum[:]) || d.Wallet != "w" || d.CreatedAt.IsZero() {
					t.Fatalf("draft not filled: %+v", d)
				}
				got, err := s.Draft(ctx, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				want := c.draft.State
				if want == "" {
					want = StateDraft
				}
				if got.State != want || string(got.PSBT) != string(c.draft.PSBT) || got.Note != c.draft.Note {
					t.Fatalf("stored %+v", got)
				}
				if len(drafts) != 2 || journalLen(t, s) != before+1 {
					t.Fatalf("%d drafts, journal %d -> %d", len(drafts), before, journalLen(t, s))
				}
			}
		})
	}
}

func TestDraftLookup(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	d := &Draft{PSBT: []byte("lookup"), TxID: hashOf(1, 7)}
	if err := s.SaveDraft(ctx, "w", d); err != nil {
		t.Fatal(err)
	}
	// Two drafts sharing a prefix cannot be made by hashing in a test's
	// time, so plant them.
	for _, id := range []string{"abcdef01" + d.ID[8:], "abcdef01" + d.ID[:56]} {
		if _, err := s.rawExec(`INSERT INTO drafts (id, wallet_id, txid, state, psbt, created_at)
			SELECT ?, wallet_id, txid, state, psbt, created_at FROM drafts WHERE id = ?`, id, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name, id string
		want     error
	}{
		{"full", d.ID, nil},
		{"upper case", strings.ToUpper(d.ID), nil},
		{"prefix", d.ID[:8], nil},
		{"too short", d.ID[:7], ErrInvalid},
		{"too long", d.ID + "00", ErrInvalid},
		{"not hex", "zzzzzzzzzz", ErrInvalid},
		{"ambiguous", "abcdef01", ErrInvalid},
		{"unknown", "0000000000", ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Draft(ctx, c.id)
			wantErr(t, err, c.want)
			if c.want == nil && (got.ID != d.ID || string(got.PSBT) != "lookup" || got.Wallet != "w") {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestDraftsUnknownWallet(t *testing.T) {
	s := newStore(t)
	_, err := s.Drafts(context.Background(), "nope")
	wantErr(t, err, ErrNotFound)
}

func TestMarkBroadcast(t *testing.T) {
	for _, c := range []struct {
		name   string
		legacy bool // legacy P2SH: the final txid differs from the unsigned one
	}{
		{"segwit", false},
		{"legacy", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			mustCreate(t, s, "w")
			u := generation(1)
			u.UTXOs = u.UTXOs[:2]
			if err := s.ApplySync(ctx, "w", u); err != nil {
				t.Fatal(err)
			}
			final := spendTx(u.UTXOs[0].OutPoint, c.legacy)
			txid := unsigned(final).TxHash()
			// Two versions of the spend (unsigned, then signed) and an
			// unrelated draft.
			for _, d := range []*Draft{
				{PSBT: []byte("v1"), TxID: txid},
				{PSBT: []byte("v2"), TxID: txid, State: StateSigned},
				{PSBT: []byte("other"), TxID: hashOf('o', 1)},
			} {
				if err := s.SaveDraft(ctx, "w", d); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.MarkBroadcast(ctx, final); err != nil {
				t.Fatal(err)
			}
			drafts, err := s.Drafts(ctx, "w")
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range drafts {
				mine := d.TxID == txid
				if mine != (d.State == StateBroadcast) || mine != (d.BroadcastTxID != nil) || mine == d.BroadcastAt.IsZero() {
					t.Fatalf("draft %s: state %s, broadcast %v at %v", d.PSBT, d.State, d.BroadcastTxID, d.BroadcastAt)
				}
				if mine && *d.BroadcastTxID != final.TxHash() {
					t.Fatalf("broadcast txid %s, want the final %s", d.BroadcastTxID, final.TxHash())
				}
			}
			// SpendDrafts reads the two versions of this spend only;
			// Broadcasts maps its unsigned txid to the final one.
			versions, err := s.SpendDrafts(ctx, "w", txid)
			if err != nil || len(versions) != 2 || string(versions[0].PSBT) != "v1" || string(versions[1].PSBT) != "v2" {
				t.Fatalf("spend drafts: %d %v", len(versions), err)
			}
			if none, err := s.SpendDrafts(ctx, "w", hashOf('n', 1)); err != nil || len(none) != 0 {
				t.Fatalf("drafts of no spend: %d %v", len(none), err)
			}
			sent, err := s.Broadcasts(ctx, "w")
			if err != nil || len(sent) != 1 || sent[txid] != final.TxHash() {
				t.Fatalf("broadcasts %v, %v; want %s -> %s", sent, err, txid, final.TxHash())
			}
			conf, _, err := s.Balance(ctx, "w")
			if err != nil || conf != 1 {
				t.Fatalf("confirmed balance %d, %v; want 1 (one of two outputs spent)", conf, err)
			}
			j, err := s.Journal(ctx, "w", 1)
			if err != nil || j[0].Action != ActionDraftBroadcast {
				t.Fatalf("journal %+v, %v", j, err)
			}
		})
	}
}

func TestMarkBroadcastRefuses(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	wantErr(t, s.MarkBroadcast(ctx, nil), ErrInvalid)
	wantErr(t, s.MarkBroadcast(ctx, wire.NewMsgTx(2)), ErrInvalid)
	before := journalLen(t, s)
	wantErr(t, s.MarkBroadcast(ctx, spendTx(wire.OutPoint{Hash: hashOf('z', 1)}, false)), ErrNotFound)
	if journalLen(t, s) != before {
		t.Fatal("journal grew for a transaction that matched nothing")
	}
}

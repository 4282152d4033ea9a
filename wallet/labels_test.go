package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

func strp(s string) *string { return &s }

// TestLabels: set, merge on import (a record without a label or spendable
// leaves the stored one, BIP-329), order kept, removal, refusals, and an
// address handed out with a label is a label record at once.
func TestLabels(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustCreate(t, s, "w")
	if _, _, err := s.NextAddress(ctx, "w", 0, deriveFake, "invoice 7"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabel(ctx, "w", Label{Type: LabelTx, Ref: "aa", Label: strp("rent")}); err != nil {
		t.Fatal(err)
	}
	no := false
	if err := s.ImportLabels(ctx, "w", []Label{
		{Type: LabelOutput, Ref: "aa:1", Label: strp("change"), Spendable: &no, Extra: json.RawMessage(`{"value":1000}`)},
		{Type: LabelTx, Ref: "aa", Origin: strp("wsh([d34db33f/48h/1h/0h/2h])")}, // no label: keeps "rent"
	}); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Labels(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 3 || ls[0].Type != LabelAddr || *ls[0].Label != "invoice 7" || ls[0].Ref != fakeAddr(0, 0) ||
		ls[1].Type != LabelTx || *ls[1].Label != "rent" || ls[1].Origin == nil ||
		ls[2].Spendable == nil || *ls[2].Spendable || string(ls[2].Extra) != `{"value":1000}` {
		t.Fatalf("labels: %+v", ls)
	}
	// Removing the text keeps a record that holds something else.
	if err := s.SetLabel(ctx, "w", Label{Type: LabelTx, Ref: "aa", Label: strp("")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabel(ctx, "w", Label{Type: LabelAddr, Ref: fakeAddr(0, 0), Label: strp("")}); err != nil {
		t.Fatal(err)
	}
	if ls, _ = s.Labels(ctx, "w"); len(ls) != 2 || ls[0].Type != LabelTx || ls[0].Label != nil {
		t.Fatalf("after removals: %+v", ls)
	}
	for _, bad := range []Label{
		{Type: "coin", Ref: "x", Label: strp("y")},
		{Type: LabelTx, Ref: "", Label: strp("y")},
		{Type: LabelTx, Ref: "x", Label: strp("y"), Spendable: &no},
		{Type: LabelTx, Ref: "x", Label: strp(string(make([]byte, MaxLabelBytes+1)))},
	} {
		wantErr(t, s.SetLabel(ctx, "w", bad), ErrInvalid)
	}
	wantErr(t, s.SetLabel(ctx, "nope", Label{Type: LabelTx, Ref: "x", Label: strp("y")}), ErrNotFound)
}

// TestAbandonDraft marks every version of one spend, journals it once and
// refuses a second time and an unknown spend.
func TestAbandonDraft(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustCreate(t, s, "w")
	for _, b := range []string{"v1", "v2"} {
		if err := s.SaveDraft(ctx, "w", &Draft{PSBT: []byte(b), TxID: hashOf(1, 1), Kind: KindBump, Related: ptrHash(hashOf(1, 9))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AbandonDraft(ctx, "w", hashOf(1, 1)); err != nil {
		t.Fatal(err)
	}
	ds, _ := s.Drafts(ctx, "w")
	if len(ds) != 2 || ds[0].AbandonedAt.IsZero() || ds[1].AbandonedAt.IsZero() || ds[0].Kind != KindBump || *ds[1].Related != hashOf(1, 9) || ds[0].Seq >= ds[1].Seq {
		t.Fatalf("drafts: %+v %+v", ds[0], ds[1])
	}
	wantErr(t, s.AbandonDraft(ctx, "w", hashOf(1, 1)), ErrInvalid)
	wantErr(t, s.AbandonDraft(ctx, "w", hashOf(1, 2)), ErrNotFound)
	j, _ := s.Journal(ctx, "w", 1)
	if j[0].Action != ActionDraftAbandon {
		t.Fatalf("last entry %+v", j[0])
	}
}

// TestDraftEventJournaled: a version's step, signers and notes are
// journaled with it, the notes even when the bytes were saved before.
func TestDraftEventJournaled(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustCreate(t, s, "w")
	ev := &DraftEvent{Step: "sign", Signers: []string{"d34db33f"}, Notes: []JournalNote{{ActionPolicyOverride, map[string]any{"reason": "ok"}}}}
	d := &Draft{PSBT: []byte("p"), TxID: hashOf(1, 1), State: StateSigned, Event: ev}
	if err := s.SaveDraft(ctx, "w", d); err != nil {
		t.Fatal(err)
	}
	again := &Draft{PSBT: []byte("p"), TxID: hashOf(1, 1), State: StateSigned, Event: ev}
	if err := s.SaveDraft(ctx, "w", again); err != nil {
		t.Fatal(err)
	}
	j, _ := s.Journal(ctx, "w", 3)
	var detail map[string]any
	json.Unmarshal(j[2].Detail, &detail)
	if j[2].Action != ActionDraftSave || detail["step"] != "sign" || detail["signed_by"] == nil ||
		j[1].Action != ActionPolicyOverride || j[0].Action != ActionPolicyOverride {
		t.Fatalf("journal: %+v", j)
	}
}

// TestPolicyStore keeps one JSON object per wallet, journals each change
// and removes it when set empty.
func TestPolicyStore(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustCreate(t, s, "w")
	if _, _, err := s.Policy(ctx, "w"); !isNotFoundErr(err) {
		t.Fatalf("no policy yet: %v", err)
	}
	if err := s.SetPolicy(ctx, "w", json.RawMessage(`{"per_tx_limit_sat":5}`)); err != nil {
		t.Fatal(err)
	}
	p, at, err := s.Policy(ctx, "w")
	if err != nil || string(p) != `{"per_tx_limit_sat":5}` || at.IsZero() {
		t.Fatalf("policy %s %v %v", p, at, err)
	}
	wantErr(t, s.SetPolicy(ctx, "w", json.RawMessage(`[1]`)), ErrInvalid)
	if err := s.SetPolicy(ctx, "w", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Policy(ctx, "w"); !isNotFoundErr(err) {
		t.Fatalf("policy removed: %v", err)
	}
	j, _ := s.Journal(ctx, "w", 2)
	if j[0].Action != ActionPolicySet || j[1].Action != ActionPolicySet {
		t.Fatalf("journal %+v", j)
	}
}

func ptrHash(h chainhash.Hash) *chainhash.Hash { return &h }

func isNotFoundErr(err error) bool { return errors.Is(err, ErrNotFound) }

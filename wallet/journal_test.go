package wallet

import (
	"context"
	"encoding/json"
	"testing"
)

// TestEveryWriteIsJournaled runs each mutating method once and checks the
// row it appended, in the same store, in order.
func TestEveryWriteIsJournaled(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	u := generation(1)
	u.UTXOs, u.ReceiveHighWater, u.ChangeHighWater = u.UTXOs[:2], 0, 0
	for _, c := range []struct {
		action, wallet string
		run            func() error
		detailKey      string // a key the detail object must have
	}{
		{ActionWalletCreate, "w", func() error { return s.CreateWallet(ctx, testWallet("w")) }, "descriptor"},
		{ActionCosignerLabel, "w", func() error { return s.SetCosignerLabel(ctx, "w", 1, "Bob") }, "position"},
		{ActionWalletBackend, "w", func() error { return s.SetWalletBackend(ctx, "w", "core://h") }, "new"},
		{ActionAddressIssue, "w", func() error { _, _, err := s.NextAddress(ctx, "w", 0, deriveFake, "l"); return err }, "address"},
		{ActionAddressAdvance, "w", func() error { return s.AdvanceIndex(ctx, "w", 1, 3) }, "new"},
		{ActionSyncApply, "w", func() error { return s.ApplySync(ctx, "w", u) }, "height"},
		{ActionDraftSave, "w", func() error { return s.SaveDraft(ctx, "w", &Draft{PSBT: []byte("p"), TxID: hashOf(1, 1)}) }, "id"},
		{ActionDraftBroadcast, "w", func() error { return s.MarkBroadcast(ctx, spendTx(u.UTXOs[0].OutPoint, false)) }, "txid"},
		{ActionDeviceRegister, "w", func() error {
			return s.SetRegistration(ctx, "w", &Registration{Fingerprint: "c0ffee00", DeviceType: "trezor"})
		}, "fingerprint"},
		{ActionSettingSet, "", func() error { return s.SetSetting(ctx, "", SettingBackend, "core://g") }, "key"},
		{ActionSettingSet, "w", func() error { return s.SetSetting(ctx, "w", "gap", "40") }, "key"},
		{ActionDraftAbandon, "w", func() error { return s.AbandonDraft(ctx, "w", hashOf(1, 1)) }, "txid"},
		{ActionLabelSet, "w", func() error { l := "rent"; return s.SetLabel(ctx, "w", Label{Type: LabelTx, Ref: "ab", Label: &l}) }, "label"},
		{ActionLabelImport, "w", func() error { return s.ImportLabels(ctx, "w", []Label{{Type: LabelXpub, Ref: "xpub1"}}) }, "records"},
		{ActionPolicySet, "w", func() error { return s.SetPolicy(ctx, "w", []byte(`{"per_tx_limit_sat":1}`)) }, "policy"},
		{ActionPolicyOverride, "w", func() error { return s.Record(ctx, "w", ActionPolicyOverride, map[string]any{"reason": "x"}) }, "reason"},
		{ActionWalletDelete, "w", func() error { return s.DeleteWallet(ctx, "w") }, "descriptor"},
	} {
		t.Run(c.action, func(t *testing.T) {
			before := journalLen(t, s)
			if err := c.run(); err != nil {
				t.Fatal(err)
			}
			if n := journalLen(t, s); n != before+1 {
				t.Fatalf("%d journal rows appended, want 1", n-before)
			}
			j, err := s.Journal(ctx, "", 1)
			if err != nil {
				t.Fatal(err)
			}
			e := j[0]
			var detail map[string]any
			if err := json.Unmarshal(e.Detail, &detail); err != nil {
				t.Fatalf("detail %s: %v", e.Detail, err)
			}
			if _, ok := detail[c.detailKey]; !ok || e.Action != c.action || e.Wallet != c.wallet || (e.WalletID == 0) != (c.wallet == "") {
				t.Fatalf("entry %+v (detail %s), want action %s on %q with %q", e, e.Detail, c.action, c.wallet, c.detailKey)
			}
		})
	}
}

func TestJournalReading(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "a")
	mustCreate(t, s, "b")
	for range 3 {
		if _, _, err := s.NextAddress(ctx, "a", 0, deriveFake, ""); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Journal(ctx, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 || all[0].Action != ActionAddressIssue || all[3].Action != ActionWalletCreate {
		t.Fatalf("journal of a: %+v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID || all[i].Time.After(all[i-1].Time) {
			t.Fatalf("not newest first: %+v", all)
		}
	}
	two, err := s.Journal(ctx, "a", 2)
	if err != nil || len(two) != 2 || two[0].ID != all[0].ID {
		t.Fatalf("limit 2: %+v, %v", two, err)
	}
	everything, err := s.Journal(ctx, "", 0)
	if err != nil || len(everything) != 5 {
		t.Fatalf("whole journal: %d entries, %v; want 5", len(everything), err)
	}
	_, err = s.Journal(ctx, "nope", 0)
	wantErr(t, err, ErrNotFound)
}

func TestJournalIsAppendOnly(t *testing.T) {
	s := newStore(t)
	mustCreate(t, s, "w")
	for _, q := range []string{
		`UPDATE journal SET action = 'forged'`,
		`DELETE FROM journal`,
	} {
		if _, err := s.rawExec(q); err == nil {
			t.Errorf("%s succeeded on the journal", q)
		}
	}
	if n := journalLen(t, s); n != 1 {
		t.Fatalf("journal has %d rows, want the 1 it had", n)
	}
}

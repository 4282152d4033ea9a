package wallet

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func TestCreateWallet(t *testing.T) {
	for _, c := range []struct {
		name   string
		modify func(w *Wallet)
		want   error
	}{
		{"valid", func(w *Wallet) {}, nil},
		{"no labels or fingerprints", func(w *Wallet) { w.Labels, w.Fingerprints = nil, nil }, nil},
		{"duplicate name", func(w *Wallet) { w.Name = "taken" }, ErrExists},
		{"empty name", func(w *Wallet) { w.Name = "" }, ErrInvalid},
		{"name with newline", func(w *Wallet) { w.Name = "a\nb" }, ErrInvalid},
		{"name with outer space", func(w *Wallet) { w.Name = " a" }, ErrInvalid},
		{"name too long", func(w *Wallet) { w.Name = strings.Repeat("x", 65) }, ErrInvalid},
		{"no descriptor", func(w *Wallet) { w.Descriptor = "" }, ErrInvalid},
		{"no network", func(w *Wallet) { w.Network = "" }, ErrInvalid},
		{"no script", func(w *Wallet) { w.Script = "" }, ErrInvalid},
		{"threshold zero", func(w *Wallet) { w.Threshold = 0 }, ErrInvalid},
		{"threshold above n", func(w *Wallet) { w.Threshold = 4 }, ErrInvalid},
		{"labels short", func(w *Wallet) { w.Labels = []string{"a"} }, ErrInvalid},
		{"fingerprints long", func(w *Wallet) { w.Fingerprints = append(w.Fingerprints, "00000000") }, ErrInvalid},
		{"fingerprint not hex", func(w *Wallet) { w.Fingerprints[1] = "zzzzzzzz" }, ErrInvalid},
		{"fingerprint short", func(w *Wallet) { w.Fingerprints[1] = "abc" }, ErrInvalid},
		{"negative birth", func(w *Wallet) { w.BirthHeight = -1 }, ErrInvalid},
		{"counter beyond range", func(w *Wallet) { w.NextChange = maxIndex + 1 }, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			taken := mustCreate(t, s, "taken")
			before, beforeJournal := mustWallets(t, s), journalLen(t, s)

			w := testWallet("new")
			w.Descriptor = "other"
			c.modify(w)
			err := s.CreateWallet(ctx, w)
			wantErr(t, err, c.want)
			if c.want != nil {
				// A refused create leaves the store exactly as it was.
				if after := mustWallets(t, s); !reflect.DeepEqual(before, after) {
					t.Fatalf("store changed by a failed create:\n%+v\n%+v", before, after)
				}
				if n := journalLen(t, s); n != beforeJournal {
					t.Fatalf("journal grew from %d to %d", beforeJournal, n)
				}
				if got, _ := s.Wallet(ctx, "taken"); got.Descriptor != taken.Descriptor {
					t.Fatalf("existing wallet overwritten: %q", got.Descriptor)
				}
				return
			}
			got, err := s.Wallet(ctx, w.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, w) {
				t.Fatalf("read back\n%+v\nwant\n%+v", got, w)
			}
		})
	}
}

// mustWallets lists the store's wallets.
func mustWallets(t testing.TB, s *Store) []*Wallet {
	t.Helper()
	ws, err := s.Wallets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestWalletRoundTrip(t *testing.T) {
	s := newStore(t)
	w := testWallet("family")
	w.Backend = "esplora+https://blockstream.info/api"
	w.NextReceive, w.NextChange = 5, 2
	if err := s.CreateWallet(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	if w.ID == 0 || !w.CreatedAt.Equal(testBase.Add(1e9)) {
		t.Fatalf("ID %d, CreatedAt %v not filled from the clock", w.ID, w.CreatedAt)
	}
	got, err := s.Wallet(context.Background(), "family")
	if err != nil {
		t.Fatal(err)
	}
	want := &Wallet{
		ID: w.ID, Name: "family", Descriptor: w.Descriptor, Network: "regtest", Script: "wsh",
		Threshold: 2, N: 3, Labels: []string{"alice", "bob", ""},
		Fingerprints: []string{"d34db33f", "0badf00d", "c0ffee00"}, // lower-cased
		BirthHeight:  100, NextReceive: 5, NextChange: 2, CreatedAt: w.CreatedAt,
		Backend: "esplora+https://blockstream.info/api",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestWalletNotFound(t *testing.T) {
	s := newStore(t)
	_, err := s.Wallet(context.Background(), "x")
	wantErr(t, err, ErrNotFound)
	if err.Error() != `wallet "x" not found` {
		t.Errorf("message %q", err)
	}
}

func TestWalletsSortedByName(t *testing.T) {
	s := newStore(t)
	if got := mustWallets(t, s); len(got) != 0 {
		t.Fatalf("empty store lists %d wallets", len(got))
	}
	for _, n := range []string{"zeta", "alpha", "Mid"} {
		mustCreate(t, s, n)
	}
	var names []string
	for _, w := range mustWallets(t, s) {
		names = append(names, w.Name)
		if len(w.Labels) != 3 || w.Labels[0] != "alice" || w.Fingerprints[2] != "c0ffee00" {
			t.Errorf("%s: cosigners not filled: %v %v", w.Name, w.Labels, w.Fingerprints)
		}
	}
	if want := []string{"Mid", "alpha", "zeta"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
}

// perWalletTables are every table holding rows for one wallet.
var perWalletTables = []string{"cosigners", "addresses", "utxos", "transactions", "scan_state", "drafts", "registrations", "settings"}

func TestDeleteWallet(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	w := mustCreate(t, s, "doomed")
	other := mustCreate(t, s, "other")
	fillWallet(t, s, "doomed")
	fillWallet(t, s, "other")

	wantErr(t, s.DeleteWallet(ctx, "nope"), ErrNotFound)
	if err := s.DeleteWallet(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	for _, table := range perWalletTables {
		var left, kept int
		if err := s.rawQueryRow(`SELECT count(*) FROM `+table+` WHERE wallet_id = ?`, w.ID).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if err := s.rawQueryRow(`SELECT count(*) FROM `+table+` WHERE wallet_id = ?`, other.ID).Scan(&kept); err != nil {
			t.Fatal(err)
		}
		if left != 0 || kept == 0 {
			t.Errorf("%s: %d rows left for the deleted wallet, %d for the other (want 0 and >0)", table, left, kept)
		}
	}
	wantErr(t, s.DeleteWallet(ctx, "doomed"), ErrNotFound)

	// The journal keeps the history, with the descriptor.
	j, err := s.Journal(ctx, "doomed", 1)
	if err != nil {
		t.Fatal(err)
	}
	if j[0].Action != ActionWalletDelete || !strings.Contains(string(j[0].Detail), "sortedmulti") {
		t.Fatalf("last journal entry %+v", j[0])
	}

	// A new wallet of the same name starts from nothing, with a new id.
	again := mustCreate(t, s, "doomed")
	if again.ID == w.ID {
		t.Fatal("wallet id reused")
	}
	addrs, err := s.Addresses(ctx, "doomed")
	if err != nil || len(addrs) != 0 {
		t.Fatalf("re-created wallet has addresses %v, %v", addrs, err)
	}
}

// fillWallet puts at least one row in every per-wallet table for name.
func fillWallet(t *testing.T, s *Store, name string) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.NextAddress(ctx, name, 0, deriveFake, "x"); err != nil {
		t.Fatal(err)
	}
	u := generation(1)
	u.UTXOs = u.UTXOs[:2]
	if err := s.ApplySync(ctx, name, u); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveDraft(ctx, name, &Draft{PSBT: []byte("psbt of " + name), TxID: hashOf(1, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRegistration(ctx, name, &Registration{Fingerprint: "d34db33f", DeviceType: "coldcard"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(ctx, name, "gap", "30"); err != nil {
		t.Fatal(err)
	}
}

func TestSetCosignerLabel(t *testing.T) {
	for _, c := range []struct {
		name     string
		wallet   string
		position int
		want     error
	}{
		{"first", "w", 0, nil},
		{"last", "w", 2, nil},
		{"negative", "w", -1, ErrNotFound},
		{"past n", "w", 3, ErrNotFound},
		{"unknown wallet", "nope", 0, ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			mustCreate(t, s, "w")
			wantErr(t, s.SetCosignerLabel(ctx, c.wallet, c.position, "Carol's Coldcard"), c.want)
			w, err := s.Wallet(ctx, "w")
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"alice", "bob", ""}
			if c.want == nil {
				want[c.position] = "Carol's Coldcard"
			}
			if !reflect.DeepEqual(w.Labels, want) {
				t.Fatalf("labels %q, want %q", w.Labels, want)
			}
		})
	}
}

func TestSetWalletBackend(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	for _, c := range []struct {
		name, wallet, url string
		want              error
	}{
		{"set", "w", "core://user:hunter2@127.0.0.1:8332", nil},
		{"clear", "w", "", nil},
		{"unknown wallet", "nope", "core://x", ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, s.SetWalletBackend(ctx, c.wallet, c.url), c.want)
			if c.want != nil {
				return
			}
			w, err := s.Wallet(ctx, c.wallet)
			if err != nil {
				t.Fatal(err)
			}
			if w.Backend != c.url {
				t.Fatalf("backend %q, want %q", w.Backend, c.url)
			}
		})
	}
	j, err := s.Journal(ctx, "w", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range j {
		if strings.Contains(string(e.Detail), "hunter2") {
			t.Fatalf("journal holds the backend password: %s", e.Detail)
		}
	}
}

package wallet

import (
	"context"
	"strings"
	"testing"
)

func TestSettings(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "w")
	// Steps run in order against one store; each checks what Setting
	// returns afterwards.
	for _, c := range []struct {
		name              string
		wallet, key, val  string
		want              error
		readWallet        string
		readKey, readWant string
		readErr           error
	}{
		{"unset global", "", "", "", nil, "", SettingBackend, "", ErrNotFound},
		{"set global", "", SettingBackend, "btcd://u:secret@localhost:18334", nil, "", SettingBackend, "btcd://u:secret@localhost:18334", nil},
		{"wallet does not inherit", "", "", "", nil, "w", SettingBackend, "", ErrNotFound},
		{"set wallet", "w", SettingBackend, "esplora+http://127.0.0.1:3002", nil, "w", SettingBackend, "esplora+http://127.0.0.1:3002", nil},
		{"global untouched", "", "", "", nil, "", SettingBackend, "btcd://u:secret@localhost:18334", nil},
		{"overwrite global", "", SettingBackend, "core://h", nil, "", SettingBackend, "core://h", nil},
		{"remove global", "", SettingBackend, "", nil, "", SettingBackend, "", ErrNotFound},
		{"wallet untouched", "", "", "", nil, "w", SettingBackend, "esplora+http://127.0.0.1:3002", nil},
		{"empty key", "", "", "x", ErrInvalid, "", SettingBackend, "", ErrNotFound},
		{"unknown wallet write", "nope", "k", "v", ErrNotFound, "", "k", "", ErrNotFound},
		{"unknown wallet read", "", "", "", nil, "nope", "k", "", ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.key != "" || c.val != "" || c.wallet != "" {
				wantErr(t, s.SetSetting(ctx, c.wallet, c.key, c.val), c.want)
			}
			got, err := s.Setting(ctx, c.readWallet, c.readKey)
			wantErr(t, err, c.readErr)
			if got != c.readWant {
				t.Fatalf("Setting(%q, %q) = %q, want %q", c.readWallet, c.readKey, got, c.readWant)
			}
		})
	}
	j, err := s.Journal(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range j {
		if strings.Contains(string(e.Detail), "secret") {
			t.Fatalf("journal holds a password: %s", e.Detail)
		}
	}
}

func TestRemovingUnsetSettingIsNotJournaled(t *testing.T) {
	s := newStore(t)
	before := journalLen(t, s)
	if err := s.SetSetting(context.Background(), "", "gap", ""); err != nil {
		t.Fatal(err)
	}
	if journalLen(t, s) != before {
		t.Fatal("a no-op was journaled")
	}
}

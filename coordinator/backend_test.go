package coordinator_test

import (
	"context"
	"errors"
	"testing"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/wallet"
)

// TestBackendInsecureOptIn: a backend URL that would cross the network in
// clear is refused when saved and when used, unless --insecure is given
// for the run or was given when that very URL was saved; replacing the
// URL drops the saved permission.
func TestBackendInsecureOptIn(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	var opened []chain.OpenOptions
	fake := r.c.OpenBackend
	r.c.OpenBackend = func(url string, opt chain.OpenOptions) (chain.Backend, error) {
		opened = append(opened, opt)
		if _, err := chain.OpenWith(url, opt); err != nil {
			return nil, err // the real refusal, then the fake chain
		}
		return fake(url, opt)
	}
	const remote = "core://alice:hunter2@10.0.0.2:8332"
	const local = "btcd://u:p@127.0.0.1:18334"

	if _, err := r.c.SetBackend(ctx, "family", remote, false); !errors.Is(err, chain.ErrInsecure) {
		t.Fatalf("SetBackend of a cleartext remote URL = %v, want chain.ErrInsecure", err)
	}
	if w, _ := r.c.Store.Wallet(ctx, "family"); w.Backend != "" {
		t.Fatalf("a refused URL was saved: %q", w.Backend)
	}
	saved, err := r.c.SetBackend(ctx, "family", remote, true)
	if err != nil || !saved {
		t.Fatalf("SetBackend --insecure = %v, %v; want the permission saved", saved, err)
	}
	if _, err := r.c.Backend(ctx, r.wallet); err != nil {
		t.Fatalf("Backend with the saved permission: %v", err)
	}
	if len(opened) != 1 || !opened[0].Insecure {
		t.Fatalf("the backend was opened with %+v, want Insecure", opened)
	}
	// The permission is the wallet's: the global URL, or another wallet's
	// use, does not get it.
	if saved, err := r.c.SetBackend(ctx, "", remote, false); !errors.Is(err, chain.ErrInsecure) || saved {
		t.Errorf("global SetBackend without --insecure = %v, %v", saved, err)
	}

	// A local URL needs no permission and drops the saved one.
	if saved, err := r.c.SetBackend(ctx, "family", local, true); err != nil || saved {
		t.Fatalf("SetBackend of a loopback URL with --insecure = %v, %v; want nothing to save", saved, err)
	}
	if v, err := r.c.Store.Setting(ctx, "family", "backend_insecure"); !errors.Is(err, wallet.ErrNotFound) {
		t.Errorf("the permission outlived its URL: %q, %v", v, err)
	}
	// The remote URL put back by other means (here the store directly)
	// does not revive it.
	if err := r.c.Store.SetWalletBackend(ctx, "family", remote); err != nil {
		t.Fatal(err)
	}
	opened = nil
	if _, err := r.c.Backend(ctx, r.wallet); !errors.Is(err, chain.ErrInsecure) {
		t.Fatalf("Backend of a remote URL saved without permission = %v, want chain.ErrInsecure", err)
	}
	// --insecure for the run allows it, for any source of the URL.
	r.c.Insecure = true
	if _, err := r.c.Backend(ctx, r.wallet); err != nil {
		t.Fatalf("Backend with --insecure: %v", err)
	}
	if st, err := r.c.CheckBackend(ctx, "family"); err != nil || !st.Insecure {
		t.Errorf("CheckBackend with --insecure = %+v, %v; want it marked insecure", st, err)
	}
	r.c.Insecure = false
	override := &coordinator.Coordinator{Store: r.c.Store, BackendOverride: "esplora+http://electrs.lan:3000", OpenBackend: r.c.OpenBackend}
	if _, err := override.Backend(ctx, r.wallet); !errors.Is(err, chain.ErrInsecure) {
		t.Errorf("a cleartext --backend without --insecure = %v, want chain.ErrInsecure", err)
	}
}

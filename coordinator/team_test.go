package coordinator_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/countersign/countersign/chain"
	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/internal/pgtest"
	"github.com/countersign/countersign/psbt"
	"github.com/countersign/countersign/wallet"
)

// TestDailyLimitTwoOperators: two operators, each with their own
// connection to one store, draft a spend at the same moment; each alone
// fits under the daily limit, the two together do not. Exactly one draft
// is saved, the other is refused by the daily limit: the policy is read
// inside the store's write transaction and counts spends in flight. On
// SQLite (two Stores on one file) and on a real PostgreSQL server (the same
// wallet copied there with store migrate's CopyStore).
func TestDailyLimitTwoOperators(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 300_000, 300_000, 300_000)
	if err := r.c.SetPolicy(ctx, "family", coordinator.Policy{DailyLimit: 100_000}); err != nil {
		t.Fatal(err)
	}
	engines := map[string]func(t *testing.T) (string, string){
		"sqlite": func(t *testing.T) (string, string) { return r.c.Store.Dir(), "" },
		"postgres": func(t *testing.T) (string, string) {
			srv := pgtest.ForTest(t)
			url, err := srv.CreateDB(ctx, "limit")
			if err != nil {
				t.Fatal(err)
			}
			dst, err := wallet.OpenStore(ctx, t.TempDir(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			if _, err := wallet.CopyStore(ctx, dst, r.c.Store); err != nil {
				t.Fatal(err)
			}
			return t.TempDir(), url
		},
	}
	// PostgreSQL first: its copy must be taken before the SQLite run adds
	// a draft.
	for _, name := range []string{"postgres", "sqlite"} {
		t.Run(name, func(t *testing.T) {
			dir, loc := engines[name](t)
			var ops []*coordinator.Coordinator
			for _, who := range []string{"alice", "bob"} {
				st, err := wallet.OpenStore(ctx, dir, loc)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				st.SetOperator(who)
				ops = append(ops, &coordinator.Coordinator{Store: st, BackendDefault: "fake://",
					OpenBackend: func(string, chain.OpenOptions) (chain.Backend, error) { return r.b, nil }})
			}
			before, err := ops[0].Store.Drafts(ctx, "family")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, len(ops))
			start := make(chan struct{})
			for i, op := range ops {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = op.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 60_000)}, FeeRate: 2, AllowConflict: true})
				}()
			}
			close(start)
			wg.Wait()
			var pe *coordinator.PolicyError
			ok, refused := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.As(err, &pe) && pe.Rule == coordinator.RuleDailyLimit:
					refused++
				default:
					t.Fatalf("spend: %v", err)
				}
			}
			if ok != 1 || refused != 1 {
				t.Fatalf("%d spends saved, %d refused by the daily limit; want 1 and 1 (errors %v)", ok, refused, errs)
			}
			after, err := ops[1].Store.Drafts(ctx, "family")
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before)+1 {
				t.Errorf("%d drafts saved, want 1", len(after)-len(before))
			}
		})
	}
}

// TestSentLast24hCountsDraftsInFlight: policy show's figures are the ones
// the daily limit adds up: a draft not yet sent is in flight, an
// abandoned one is not.
func TestSentLast24hCountsDraftsInFlight(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 300_000)
	sp, err := r.c.Spend(ctx, coordinator.SpendRequest{Wallet: "family", Outputs: []psbt.Output{outside(t, 60_000)}, FeeRate: 2})
	if err != nil {
		t.Fatal(err)
	}
	sent, inFlight, err := r.c.SentLast24h(ctx, "family")
	if err != nil || sent != 0 || inFlight != 60_000 {
		t.Fatalf("after a draft: sent %d, in flight %d, %v; want 0 and 60000", sent, inFlight, err)
	}
	if _, err := r.c.Abandon(ctx, "family", sp.Draft.ID); err != nil {
		t.Fatal(err)
	}
	if sent, inFlight, err = r.c.SentLast24h(ctx, "family"); err != nil || sent != 0 || inFlight != 0 {
		t.Fatalf("after abandoning it: sent %d, in flight %d, %v; want 0 and 0", sent, inFlight, err)
	}
}

package cli

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/countersign/countersign/hw/soft"
	"github.com/countersign/countersign/internal/regtest"
)

// TestUnlockedKeyRegtest: key unlock starts a real agent process (this
// test binary as countersign); sign then needs no passphrase at all, and
// its signature is one the wallet verifies; a second unlock is refused;
// key lock wipes the key and sign asks for the passphrase again; a wrong
// passphrase leaves no agent behind.
func TestUnlockedKeyRegtest(t *testing.T) {
	node := regtest.Start(t)
	a := newAfterWallet(t, node, 170, 20_000_000)
	pay := a.file("pay.psbt")
	a.spend(pay, "--to", node.Address().EncodeAddress()+":0.01", "--fee-rate", "2")

	var u keyUnlockJSON
	mustJSON(t, a.run("--json", "key", "unlock", "k1", "--for", "5m"), &u)
	if u.PID > 1 && u.PID != os.Getpid() {
		// Stopped by its PID whatever happens below (a zero or negative
		// PID would signal a whole process group, or every process).
		t.Cleanup(func() { _ = syscall.Kill(u.PID, syscall.SIGTERM) })
	}
	if u.Name != "k1" || u.PID <= 0 || u.PID == os.Getpid() || time.Until(u.Until) < 4*time.Minute || len(u.Fingerprint) != 8 {
		t.Fatalf("unlock: %+v", u)
	}
	if info, err := os.Stat(a.dir + "/keys/k1.agent"); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("agent socket: %v %v", info, err)
	}

	// No passphrase anywhere: the agent signs.
	extraEnv = map[string]string{"COUNTERSIGN_PASSPHRASE": ""}
	defer func() { extraEnv = nil }()
	k1 := a.file("k1.psbt")
	a.run("sign", pay, "--with", "key:k1", "--yes", "-o", k1)
	r := inspectFile(t, a.dir, k1)
	if len(r.Inputs) == 0 || len(r.Inputs[0].Signatures) != 1 || r.Inputs[0].Signatures[0].Fingerprint != u.Fingerprint {
		t.Fatalf("after signing through the agent: %+v", r.Inputs)
	}
	// journal sign and bsms record ask the agent too: no passphrase, and
	// what they write verifies.
	sigFile := a.file("head.sig.json")
	var sig struct {
		Address string `json:"address"`
		Entry   int64  `json:"entry"`
	}
	mustJSON(t, a.run("--json", "journal", "sign", "--with", "key:k1", "--yes", "-o", sigFile), &sig)
	var chk struct {
		OK     bool `json:"ok"`
		Signed struct {
			Signer string `json:"signer"`
		} `json:"signed"`
	}
	mustJSON(t, a.run("--json", "journal", "verify", "--signature", sigFile), &chk)
	if !chk.OK || sig.Entry == 0 {
		t.Fatalf("journal signed through the agent: %+v, verify %+v", sig, chk)
	}
	var rec bsmsRecordJSON
	mustJSON(t, a.run("--json", "bsms", "record", "--with", "key:k1", "--token", "00", "--description", "hot laptop", "-o", a.file("k1.bsms")), &rec)
	if !strings.HasPrefix(rec.Key, "["+u.Fingerprint+"/48h/1h/0h/2h]tpub") && !strings.HasPrefix(rec.Key, "["+u.Fingerprint+"/48'/1'/0'/2']tpub") {
		t.Fatalf("bsms record through the agent: key %s", rec.Key)
	}
	a.fails(1, "already unlocked", "key", "unlock", "k1")
	var keys []keyListJSON
	mustJSON(t, a.run("--json", "key", "list"), &keys)
	for _, k := range keys {
		if (k.Name == "k1") != (k.UnlockedUntil != nil) || (k.UnlockedUntil != nil && !k.UnlockedUntil.Equal(u.Until)) {
			t.Fatalf("key list: %s unlocked until %v (unlock said %s)", k.Name, k.UnlockedUntil, u.Until)
		}
	}

	var l keyLockJSON
	mustJSON(t, a.run("--json", "key", "lock", "k1"), &l)
	if !l.Locked {
		t.Fatal("key lock did not find the agent")
	}
	waitLocked(t, a.dir, "k1")
	a.fails(2, "passphrase is needed", "sign", pay, "--with", "key:k1", "--yes", "-o", a.file("k1b.psbt"))
	mustJSON(t, a.run("--json", "key", "lock", "k1"), &l)
	if l.Locked {
		t.Fatal("a second key lock found an agent")
	}

	// A wrong passphrase: refused with the wrong-passphrase exit code, and
	// no agent is left.
	extraEnv = map[string]string{"COUNTERSIGN_PASSPHRASE": "not the passphrase at all"}
	a.fails(ExitDevice, "wrong passphrase", "key", "unlock", "k1")
	if _, err := os.Lstat(a.dir + "/keys/k1.agent"); !os.IsNotExist(err) {
		t.Fatalf("a failed unlock left its socket: %v", err)
	}
	a.fails(2, "--for", "key", "unlock", "k1", "--for", "48h")
}

// waitLocked waits until key name has no agent answering.
func waitLocked(t *testing.T, dir, name string) {
	t.Helper()
	ks := soft.NewStore(dir + "/keys")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, ok, err := ks.DialAgent(context.Background(), name)
		if !ok && err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key %s still unlocked: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

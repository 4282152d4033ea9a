package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/descriptor"
)

// envRequireInterop makes the JS cross-checks fail, instead of skipping,
// when Node.js or the npm packages are missing (CI sets it).
const envRequireInterop = "COUNTERSIGN_REQUIRE_INTEROP"

// jsDir is the folder of the Ledger JS client the emulator's interop test
// installs (hw/emulator/ledger/testdata/js).
func jsDir(t *testing.T) (node, dir string) {
	t.Helper()
	skip := func(why string) {
		if os.Getenv(envRequireInterop) == "1" {
			t.Fatalf("%s (%s=1 requires this test)", why, envRequireInterop)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed: install Node.js 18 or later to run the Ledger JS client cross-check")
	}
	dir, _ = filepath.Abs(filepath.Join("..", "emulator", "ledger", "testdata", "js"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ledger-bitcoin", "package.json")); err != nil {
		skip("the Ledger JS client is not installed: run (cd hw/emulator/ledger/testdata/js && npm ci)")
	}
	return node, dir
}

// TestPolicyMatchesLedgerJS cross-checks the wallet policies countersign
// writes for taproot, miniscript and multisig wallets with Ledger's own JS
// client (npm ledger-bitcoin 0.3.0): the serialized policy and the wallet
// id must be byte for byte the client's, and for the scripts the client
// checks addresses of (sh/wsh, miniscript included), the addresses it
// derives from the template and keys (with @bitcoinerlab/descriptors)
// must be those countersign derives from the descriptor.
func TestPolicyMatchesLedgerJS(t *testing.T) {
	node, dir := jsDir(t)
	keys, _ := policyKeys(t)
	k := func(i int) string { return keys[i].String() }
	alt := func(i int) string { return strings.Replace(k(i), "<0;1>", "<2;3>", 1) }
	descs := []*descriptor.Descriptor{
		mustTaproot(t, keys, descriptor.TaprootOptions{}),
		mustTaproot(t, keys, descriptor.TaprootOptions{Unsorted: true}),
		mustParse(t, "tr("+k(0)+",{pk("+alt(0)+"),multi_a(1,"+k(1)+","+k(2)+")})"),
		mustParse(t, "tr("+k(1)+",{pk("+k(0)+"),pk("+k(2)+")})"),
		mustParse(t, fmt.Sprintf("wsh(or_d(multi(2,%s,%s),and_v(v:pkh(%s),older(52560))))", k(0), k(1), k(2))),
		mustParse(t, fmt.Sprintf("wsh(or_d(multi(2,%s,%s),and_v(v:multi(1,%s,%s),older(100))))", k(1), k(0), alt(0), k(2))),
		mustParse(t, fmt.Sprintf("wsh(thresh(3,pk(%s),s:pk(%s),s:pk(%s),sln:older(144)))", k(0), k(1), k(2))),
		mustParse(t, fmt.Sprintf("wsh(andor(pk(%s),older(1000),and_v(v:pk(%s),after(800000))))", k(2), k(1))),
		mustParse(t, fmt.Sprintf("wsh(multi(2,%s,%s,%s))", k(0), k(1), k(2))),
	}
	type in struct {
		Name     string   `json:"name"`
		Template string   `json:"template"`
		Keys     []string `json:"keys"`
		Network  string   `json:"network"`
	}
	var ins []in
	var pols []*WalletPolicy
	for i, d := range descs {
		p, err := PolicyFromDescriptor(d, fmt.Sprintf("wallet %d", i))
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		pols = append(pols, p)
		ins = append(ins, in{p.Name, p.Template, p.Keys, "testnet"})
	}
	body, _ := json.Marshal(ins)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "policy.js"))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node policy.js: %v\n%s", err, stderr.String())
	}
	var js []struct {
		ID         string `json:"id"`
		Serialized string `json:"serialized"`
		Receive0   string `json:"receive0"`
		Change3    string `json:"change3"`
	}
	if err := json.Unmarshal(out, &js); err != nil || len(js) != len(pols) {
		t.Fatalf("node output %q: %v", out, err)
	}
	addresses := 0
	for i, p := range pols {
		id := p.ID()
		if js[i].ID != hex.EncodeToString(id[:]) || js[i].Serialized != hex.EncodeToString(p.Serialize()) {
			t.Errorf("%s: id %x, serialized %x; ledger-bitcoin: %s, %s", p.Template, id, p.Serialize(), js[i].ID, js[i].Serialized)
		}
		if strings.HasPrefix(p.Template, "tr(") {
			continue
		}
		for _, c := range []struct {
			branch, index uint32
			js            string
		}{{0, 0, js[i].Receive0}, {1, 3, js[i].Change3}} {
			der, err := descs[i].Multipath().Derive(c.branch, c.index, testNet)
			if err != nil {
				t.Fatal(err)
			}
			if der.Address != c.js {
				t.Errorf("%s at %d/%d: countersign derives %s, ledger-bitcoin %s", p.Template, c.branch, c.index, der.Address, c.js)
			}
			addresses++
		}
	}
	if addresses != 10 {
		t.Errorf("checked %d addresses, want 10", addresses)
	}
}

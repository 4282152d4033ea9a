package formats

import (
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
)

// A 2-of-2 taproot wallet of the default shape (MuSig2 key path, one
// sortedmulti_a leaf), on testnet.
const tapWallet = "tr(musig([00000001/48h/1h/0h/3h]tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B,[00000002/48h/1h/0h/3h]tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp)/<0;1>/*," +
	"sortedmulti_a(1,[00000001/48h/1h/0h/3h]tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B/<0;1>/*,[00000002/48h/1h/0h/3h]tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/<0;1>/*))"

// TestTaprootFormats: the descriptor, Core (importdescriptors JSON) and
// BSMS formats carry tr() and read back the same wallet; Coldcard's
// multisig file, Caravan and Specter have no taproot multisig and refuse
// by name rather than writing a file that would describe another wallet.
func TestTaprootFormats(t *testing.T) {
	d, err := descriptor.Parse(tapWallet)
	if err != nil {
		t.Fatal(err)
	}
	w := &Wallet{Name: "tap", Descriptor: d, Network: &chaincfg.TestNet3Params}
	for _, f := range []Format{FormatDescriptor, FormatCore, FormatBSMS} {
		b, err := Export(w, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		back, got, err := Import(b, &chaincfg.TestNet3Params)
		if err != nil || got != f {
			t.Fatalf("%s: import as %s: %v", f, got, err)
		}
		if back.Descriptor.String() != d.String() {
			t.Errorf("%s: round trip gives %s", f, back.Descriptor)
		}
		if f == FormatBSMS && strings.Contains(string(b), "/**") {
			t.Error("BSMS record uses the /** template for musig()")
		}
	}
	for _, f := range []Format{FormatColdcard, FormatCaravan, FormatSpecter} {
		_, err := Export(w, f)
		if err == nil || !errors.Is(err, descriptor.ErrInvalid) || !strings.Contains(err.Error(), "cannot describe a taproot (tr) wallet") {
			t.Errorf("%s: %v", f, err)
		}
	}
}

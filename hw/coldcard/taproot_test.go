package coldcard

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
)

// tapWallet is a 2-of-2 taproot wallet of countersign's default shape.
func tapWallet(t *testing.T) *hw.Wallet {
	t.Helper()
	const a = "[00000001/48h/1h/0h/3h]tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B"
	const b = "[00000002/48h/1h/0h/3h]tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp"
	d, err := descriptor.Parse("tr(musig(" + a + "," + b + ")/<0;1>/*,sortedmulti_a(2," + a + "/<0;1>/*," + b + "/<0;1>/*))")
	if err != nil {
		t.Fatal(err)
	}
	return &hw.Wallet{Name: "tap", Descriptor: d, Network: &chaincfg.TestNet3Params}
}

// checkTaprootRefusal: a taproot wallet is refused as unsupported, with a
// message naming the limit, before any protocol exchange.
func checkTaprootRefusal(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || !errors.Is(err, hw.ErrUnsupported) || !strings.Contains(err.Error(), "taproot (tr)") {
		t.Fatalf("%s: %v, want an unsupported refusal naming taproot", what, err)
	}
}

func TestTaprootRefused(t *testing.T) {
	w := tapWallet(t)
	c := &Coldcard{}
	_, err := c.Register(context.Background(), w)
	checkTaprootRefusal(t, "register", err)
	_, err = c.DisplayAddress(context.Background(), w, 0, 0)
	checkTaprootRefusal(t, "display address", err)
	_, err = c.SignPSBT(context.Background(), nil, w)
	checkTaprootRefusal(t, "sign", err)
}

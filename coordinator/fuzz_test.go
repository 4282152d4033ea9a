package coordinator_test

import (
	"errors"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/coordinator"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/wallet"
)

// FuzzParseJournalSignature: any file is a signature or a wallet.ErrInvalid
// error, never a panic; what parses names a 64-hex head and an entry.
func FuzzParseJournalSignature(f *testing.F) {
	f.Add([]byte(`{"address":"mhedVaAaw9ZbbNqMnLEcpuaZJTzaqKzmxT","message":"countersign journal head fb6af0061032f4ee4846550c644646e465bc5b09b2dd6f9b1ec140236e4e2dd2 at entry 22","signature":"H9Ey0XJQeF2kXJD/7DG6IzUtIjzz1l6539rt7N3x1v8dUw6D09aQsqfLtIJHHKmcVGC/DDBWZFui78yKc6Nti4M="}`))
	f.Add([]byte(`{"address":"x","message":"countersign journal head 00 at entry 0","signature":"y"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		js, err := coordinator.ParseJournalSignature(data)
		if err != nil {
			if !errors.Is(err, wallet.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if len(js.Head) != 64 || js.Entry < 1 {
			t.Fatalf("parsed %+v", js)
		}
	})
}

// FuzzParseLabelRef: any reference and type is a label reference or a
// wallet.ErrInvalid error, never a panic.
func FuzzParseLabelRef(f *testing.F) {
	d, err := descriptor.Parse("wsh(sortedmulti(1,[d34db33f/48h/1h/0h/2h]tpubDFH9dgzveyD8zTbPUFuLrGmCydNvxehyNdUXKJAQN8x4aZ4j6UZqGfnqFrD4NqyaTVGKbvEW54tsvPTK2UoSbCC1PJY8iCNiwTL3RWZEheQ/<0;1>/*))")
	if err != nil {
		f.Fatal(err)
	}
	w := &coordinator.Wallet{Wallet: &wallet.Wallet{Name: "w"}, Descriptor: d, Network: &chaincfg.RegressionNetParams}
	for _, seed := range [][2]string{
		{"wallet", ""}, {"input:" + zeros64 + ":1", ""}, {zeros64 + ":0", ""}, {zeros64, ""},
		{"bcrt1qjhhv0sm5euy78xtnle2snzc0fzj9atvta7fxtn", ""}, {"02" + zeros64, ""}, {"tpubx", ""}, {"x", "coin"}, {"", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, ref, typ string) {
		lr, err := coordinator.ParseLabelRef(w, ref, typ)
		if err != nil {
			if !errors.Is(err, wallet.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if !wallet.ValidLabelType(lr.Type) || lr.Ref == "" {
			t.Fatalf("parsed %q %q as %+v", ref, typ, lr)
		}
	})
}

const zeros64 = "0000000000000000000000000000000000000000000000000000000000000000"

package secp

import (
	_ "embed"
	"encoding/binary"
	"sync"
)

// baseTableData is NewBaseTable's result, written by
// `go test -run TestEmbeddedBaseTable -write-base-table ./internal/secp`:
// for each window w and byte b, the X and Y of b·2^(8w)·G, 32 bytes each,
// big-endian. Building the table costs about 7 ms of point arithmetic,
// paid by every command that derives a wallet's addresses (inspect,
// combine, finalize); reading it from the binary costs a fraction of a
// millisecond. TestEmbeddedBaseTable holds it equal to NewBaseTable, and
// descriptor's verifyRound checks every batch derived with it against
// btcec, so a damaged copy could only slow derivation down, never give a
// wrong key.
//
//go:embed basetable.bin
var baseTableData string

// baseTableBytes is the size of the embedded table.
const baseTableBytes = windows * 255 * 64

// SharedBaseTable returns the process's fixed-base table, read once from
// the embedded copy (or built, if that copy is not the right size).
var SharedBaseTable = sync.OnceValue(func() *BaseTable {
	if t := loadBaseTable(baseTableData); t != nil {
		return t
	}
	return NewBaseTable()
})

// loadBaseTable reads a table in baseTableData's layout; nil if data is
// not one.
func loadBaseTable(data string) *BaseTable {
	if len(data) != baseTableBytes {
		return nil
	}
	t := new(BaseTable)
	off := 0
	limbs := func(z *Field) {
		for i := range 4 {
			z[3-i] = binary.BigEndian.Uint64([]byte(data[off : off+8]))
			off += 8
		}
	}
	for w := range windows {
		for b := range 255 {
			limbs(&t[w][b].X)
			limbs(&t[w][b].Y)
		}
	}
	return t
}

package scan

import (
	"bytes"
	"io"

	"github.com/btcsuite/btcd/wire"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func serialize(tx *wire.MsgTx) []byte {
	var buf bytes.Buffer
	buf.Grow(tx.SerializeSize())
	_ = tx.Serialize(&buf) // writing to a bytes.Buffer cannot fail
	return buf.Bytes()
}

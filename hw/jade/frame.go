package jade

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// Framing (Blockstream/Jade@cfce08ce, docs/index.rst; jadepy/jade.py,
// JadeInterface.read_cbor_message and write_request): requests and replies
// are CBOR maps written back to back on the byte stream, with no length
// prefix. The host reads one complete CBOR data item at a time; a map with
// an "id" is a reply, a map with only a "log" is a debug line the firmware
// may interleave, to be skipped.
//
// readItem finds an item's end by walking its structure (RFC 8949 section
// 3) before anything is decoded, with a bound on its size and nesting, so a
// device (or anything else on the port) cannot make the host allocate
// without limit or recurse deeply.

// MaxReply bounds one reply. The firmware's largest is MAX_OUTPUT_MSG_SIZE,
// 3 KiB (90 KiB in camera debug builds); a signed PSBT comes in pieces.
const MaxReply = 1 << 20

const maxNesting = 16

var errMalformed = errors.New("malformed CBOR from the device")

// itemReader reads whole CBOR items from a byte stream.
type itemReader struct {
	r   *bufio.Reader
	buf []byte
	max int
}

func newItemReader(r io.Reader, max int) *itemReader {
	return &itemReader{r: bufio.NewReaderSize(r, 4096), max: max}
}

// next returns the encoding of the next data item. An error leaves the
// stream at an unknown position: the caller must give up on it.
func (ir *itemReader) next() ([]byte, error) {
	ir.buf = ir.buf[:0]
	if err := ir.item(0); err != nil {
		return nil, err
	}
	return append([]byte(nil), ir.buf...), nil
}

func (ir *itemReader) take(n uint64) ([]byte, error) {
	if n > uint64(ir.max-len(ir.buf)) {
		return nil, fmt.Errorf("a message from the device exceeds %d bytes", ir.max)
	}
	start := len(ir.buf)
	ir.buf = append(ir.buf, make([]byte, n)...)
	if _, err := io.ReadFull(ir.r, ir.buf[start:]); err != nil {
		if err == io.EOF && start > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return ir.buf[start:], nil
}

// head reads an item's initial byte and argument.
func (ir *itemReader) head() (major, ai byte, arg uint64, err error) {
	b, err := ir.take(1)
	if err != nil {
		return 0, 0, 0, err
	}
	major, ai = b[0]>>5, b[0]&0x1f
	var n uint64
	switch {
	case ai < 24:
		return major, ai, uint64(ai), nil
	case ai >= 24 && ai <= 27:
		n = 1 << (ai - 24)
	case ai == 31:
		return major, ai, 0, nil
	default:
		return 0, 0, 0, errMalformed
	}
	b, err = ir.take(n)
	if err != nil {
		return 0, 0, 0, noEOF(err)
	}
	switch n {
	case 1:
		arg = uint64(b[0])
	case 2:
		arg = uint64(binary.BigEndian.Uint16(b))
	case 4:
		arg = uint64(binary.BigEndian.Uint32(b))
	default:
		arg = binary.BigEndian.Uint64(b)
	}
	return major, ai, arg, nil
}

// noEOF turns a clean end of stream inside an item into an unexpected one.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// isBreak peeks for the 0xff that ends an indefinite-length item.
func (ir *itemReader) isBreak() (bool, error) {
	b, err := ir.r.Peek(1)
	if err != nil {
		return false, noEOF(err)
	}
	if b[0] != 0xff {
		return false, nil
	}
	_, err = ir.take(1)
	return true, err
}

func (ir *itemReader) item(depth int) error {
	if depth > maxNesting {
		return errMalformed
	}
	major, ai, arg, err := ir.head()
	if err != nil {
		if depth > 0 {
			return noEOF(err)
		}
		return err
	}
	indefinite := ai == 31
	switch major {
	case 0, 1:
		if indefinite {
			return errMalformed
		}
	case 2, 3:
		if !indefinite {
			_, err := ir.take(arg)
			return noEOF(err)
		}
		for {
			brk, err := ir.isBreak()
			if err != nil || brk {
				return err
			}
			cm, cai, carg, err := ir.head()
			if err != nil {
				return noEOF(err)
			}
			if cm != major || cai == 31 {
				return errMalformed
			}
			if _, err := ir.take(carg); err != nil {
				return noEOF(err)
			}
		}
	case 4, 5:
		per := uint64(1)
		if major == 5 {
			per = 2
		}
		if indefinite {
			for {
				brk, err := ir.isBreak()
				if err != nil || brk {
					return err
				}
				for i := uint64(0); i < per; i++ {
					if err := ir.item(depth + 1); err != nil {
						return err
					}
				}
			}
		}
		if arg > uint64(ir.max) { // each item is at least one byte
			return fmt.Errorf("a message from the device exceeds %d bytes", ir.max)
		}
		for i := uint64(0); i < arg*per; i++ {
			if err := ir.item(depth + 1); err != nil {
				return noEOF(err)
			}
		}
	case 6:
		if indefinite {
			return errMalformed
		}
		return noEOF(ir.item(depth + 1))
	case 7:
		if indefinite || ai == 24 && arg < 32 {
			return errMalformed
		}
	}
	return nil
}

// decMode decodes replies with bounds on what a reply can make the host
// allocate.
var decMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  maxNesting + 1,
		MaxArrayElements: 65536,
		MaxMapPairs:      4096,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

var encMode = func() cbor.EncMode {
	em, err := cbor.EncOptions{Sort: cbor.SortCoreDeterministic}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// reply is one message from the device.
type reply struct {
	ID     string
	Result cbor.RawMessage // nil for an error
	Error  *RPCError
	// SeqNum and SeqLen number the pieces of a long result
	// (get_extended_data); both are 0 for a whole result.
	SeqNum, SeqLen uint64
	Log            bool // a debug log line, not a reply
}

// decodeReply checks one CBOR item as a message from the device, as
// jadepy's read_cbor_message and validate_reply do: a map with a text id
// and exactly one of result and error, or a log line.
func decodeReply(item []byte) (*reply, error) {
	var m map[string]cbor.RawMessage
	if err := decMode.Unmarshal(item, &m); err != nil {
		return nil, fmt.Errorf("the device sent something other than a CBOR map: %w", err)
	}
	idRaw, hasID := m["id"]
	if !hasID {
		if _, ok := m["log"]; ok {
			return &reply{Log: true}, nil
		}
		return nil, errors.New("the device sent a message without an id")
	}
	r := &reply{}
	if err := decMode.Unmarshal(idRaw, &r.ID); err != nil {
		return nil, errors.New("the device sent a message whose id is not text")
	}
	res, hasRes := m["result"]
	errRaw, hasErr := m["error"]
	if hasRes == hasErr {
		return nil, fmt.Errorf("reply %q has both or neither of result and error", r.ID)
	}
	if hasErr {
		var e struct {
			Code    *int            `cbor:"code"`
			Message string          `cbor:"message"`
			Data    cbor.RawMessage `cbor:"data"`
		}
		if err := decMode.Unmarshal(errRaw, &e); err != nil || e.Code == nil {
			return nil, fmt.Errorf("reply %q has a malformed error", r.ID)
		}
		r.Error = &RPCError{Code: *e.Code, Message: e.Message}
		var data []byte
		if len(e.Data) > 0 && decMode.Unmarshal(e.Data, &data) == nil {
			r.Error.Data = data
		}
		return r, nil
	}
	r.Result = res
	for _, f := range []struct {
		key string
		v   *uint64
	}{{"seqnum", &r.SeqNum}, {"seqlen", &r.SeqLen}} {
		if raw, ok := m[f.key]; ok {
			if err := decMode.Unmarshal(raw, f.v); err != nil {
				return nil, fmt.Errorf("reply %q has a malformed %s", r.ID, f.key)
			}
		}
	}
	if r.SeqLen > 0 && (r.SeqNum == 0 || r.SeqNum > r.SeqLen) || r.SeqLen == 0 && r.SeqNum != 0 {
		return nil, fmt.Errorf("reply %q is piece %d of %d", r.ID, r.SeqNum, r.SeqLen)
	}
	return r, nil
}

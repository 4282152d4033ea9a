package jade

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// The wire format (Blockstream/Jade@cfce08ce, docs/index.rst and
// main/wire.c): CBOR maps written back to back on a byte stream, with no
// length prefix and no delimiter. The firmware keeps what it has received
// in a buffer and, each time bytes arrive, tries to parse one complete CBOR
// item from the start of it (get_msg_len); an incomplete item waits for
// more bytes, anything that cannot become a valid message is rejected with
// an error whose id is "00" (reject_data). This file does the same with its
// own scanner of CBOR item boundaries (RFC 8949 section 3), then hands the
// item to fxamacker/cbor for the values.

// Limits of the firmware (main/process.h, main/utils/cbor_rpc.c).
const (
	// MaxInputMessage is MAX_INPUT_MSG_SIZE on a Jade with SPIRAM (every
	// Blockstream Jade): a request larger than this can never complete.
	MaxInputMessage = 401 * 1024
	// maxOutputMessage is MAX_OUTPUT_MSG_SIZE, the largest reply; a signed
	// PSBT is cut into chunks of maxOutputMessage-64 bytes
	// (sign_psbt.c, PSBT_OUT_CHUNK_SIZE).
	maxOutputMessage = 3 * 1024
	// DefaultOutputChunk is the PSBT_OUT_CHUNK_SIZE of release firmware.
	DefaultOutputChunk = maxOutputMessage - 64
	maxIDLen           = 16 // MAXLEN_ID
	maxMethodLen       = 32 // MAXLEN_METHOD
	maxPathLen         = 16 // MAX_PATH_LEN
	maxNesting         = 16 // deeper than any request of the protocol
)

var (
	errIncomplete = errors.New("incomplete CBOR item")
	errMalformed  = errors.New("malformed CBOR item")
)

// itemLen returns the length of the CBOR data item at the start of b,
// errIncomplete when b ends inside it, or errMalformed. It checks
// well-formedness only (RFC 8949 appendix C); values are decoded later.
func itemLen(b []byte) (int, error) {
	return scanItem(b, 0, 0)
}

// head reads the initial byte and argument of the item at off: major type,
// additional information, the argument and the offset after the head.
func head(b []byte, off int) (major, ai byte, arg uint64, next int, err error) {
	if off >= len(b) {
		return 0, 0, 0, 0, errIncomplete
	}
	major, ai = b[off]>>5, b[off]&0x1f
	off++
	var n int
	switch {
	case ai < 24:
		return major, ai, uint64(ai), off, nil
	case ai == 24:
		n = 1
	case ai == 25:
		n = 2
	case ai == 26:
		n = 4
	case ai == 27:
		n = 8
	case ai == 31:
		return major, ai, 0, off, nil
	default: // 28..30 are reserved
		return 0, 0, 0, 0, errMalformed
	}
	if off+n > len(b) {
		return 0, 0, 0, 0, errIncomplete
	}
	switch n {
	case 1:
		arg = uint64(b[off])
	case 2:
		arg = uint64(binary.BigEndian.Uint16(b[off:]))
	case 4:
		arg = uint64(binary.BigEndian.Uint32(b[off:]))
	case 8:
		arg = binary.BigEndian.Uint64(b[off:])
	}
	return major, ai, arg, off + n, nil
}

// scanItem returns the offset just after the item starting at off.
func scanItem(b []byte, off, depth int) (int, error) {
	if depth > maxNesting {
		return 0, errMalformed
	}
	major, ai, arg, off, err := head(b, off)
	if err != nil {
		return 0, err
	}
	indefinite := ai == 31
	switch major {
	case 0, 1: // unsigned and negative integers
		if indefinite {
			return 0, errMalformed
		}
		return off, nil
	case 2, 3: // byte and text strings
		if !indefinite {
			return skipBytes(b, off, arg)
		}
		for { // chunks of the same major type, definite length, until break
			if off >= len(b) {
				return 0, errIncomplete
			}
			if b[off] == 0xff {
				return off + 1, nil
			}
			cm, cai, carg, coff, err := head(b, off)
			if err != nil {
				return 0, err
			}
			if cm != major || cai == 31 {
				return 0, errMalformed
			}
			if off, err = skipBytes(b, coff, carg); err != nil {
				return 0, err
			}
		}
	case 4, 5: // arrays and maps
		per := uint64(1)
		if major == 5 {
			per = 2
		}
		if indefinite {
			for {
				if off >= len(b) {
					return 0, errIncomplete
				}
				if b[off] == 0xff {
					return off + 1, nil
				}
				for i := uint64(0); i < per; i++ {
					if off, err = scanItem(b, off, depth+1); err != nil {
						return 0, err
					}
				}
			}
		}
		// Every item takes at least one byte: a count beyond what any
		// message can hold is refused before it is walked.
		if arg > MaxInputMessage {
			return 0, errMalformed
		}
		for i := uint64(0); i < arg*per; i++ {
			if off, err = scanItem(b, off, depth+1); err != nil {
				return 0, err
			}
		}
		return off, nil
	case 6: // tag: one item follows
		if indefinite {
			return 0, errMalformed
		}
		return scanItem(b, off, depth+1)
	default: // 7: simple values and floats
		// A break outside an indefinite-length item, or a one-byte simple
		// value below 32 (RFC 8949 section 3.3), is not well-formed.
		if indefinite || ai == 24 && arg < 32 {
			return 0, errMalformed
		}
		return off, nil
	}
}

func skipBytes(b []byte, off int, n uint64) (int, error) {
	if n > MaxInputMessage {
		return 0, errMalformed
	}
	if uint64(len(b)-off) < n {
		return 0, errIncomplete
	}
	return off + int(n), nil
}

// decMode decodes requests. The limits bound what a hostile host can make
// the emulator allocate; the scanner has already bounded the size.
var decMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  maxNesting + 1,
		MaxArrayElements: 4096,
		MaxMapPairs:      256,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthAllowed,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// encMode encodes replies as the firmware does (definite lengths).
var encMode = func() cbor.EncMode {
	em, err := cbor.EncOptions{IndefLength: cbor.IndefLengthForbidden}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// request is one RPC request.
type request struct {
	ID     string          `cbor:"id"`
	Method string          `cbor:"method"`
	Params cbor.RawMessage `cbor:"params"`
}

// decodeRequest parses one complete CBOR item as a request, with the
// firmware's checks (rpc_request_valid): a map with a text id of 1 to 16
// characters and a text method of 1 to 32.
func decodeRequest(item []byte) (*request, error) {
	var raw map[string]cbor.RawMessage
	if err := decMode.Unmarshal(item, &raw); err != nil {
		return nil, fmt.Errorf("not a CBOR map: %w", err)
	}
	var r request
	if err := decMode.Unmarshal(raw["id"], &r.ID); err != nil || r.ID == "" || len(r.ID) > maxIDLen {
		return nil, errors.New("missing or invalid id")
	}
	if err := decMode.Unmarshal(raw["method"], &r.Method); err != nil || r.Method == "" || len(r.Method) > maxMethodLen {
		return &r, errors.New("missing or invalid method")
	}
	r.Params = raw["params"]
	return &r, nil
}

// params decodes the request's parameters into v; a missing or non-map
// params is the firmware's GET_MSG_PARAMS failure.
func (r *request) params(v any) *rpcError {
	if len(r.Params) == 0 || r.Params[0]>>5 != 5 {
		return rpcErr(codeBadParams, "Expecting parameters map")
	}
	if err := decMode.Unmarshal(r.Params, v); err != nil {
		return rpcErr(codeBadParams, "Expecting parameters map")
	}
	return nil
}

// RPC error codes (main/utils/cbor_rpc.h).
const (
	codeInvalidRequest  = -32600
	codeUnknownMethod   = -32601
	codeBadParams       = -32602
	codeInternal        = -32603
	codeUserCancelled   = -32000
	codeProtocol        = -32001
	codeHWLocked        = -32002
	codeNetworkMismatch = -32003
)

// rpcError is an error reply.
type rpcError struct {
	Code    int    `cbor:"code"`
	Message string `cbor:"message"`
	Data    []byte `cbor:"data,omitempty"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("%s (%d)", e.Message, e.Code) }

func rpcErr(code int, msg string) *rpcError { return &rpcError{Code: code, Message: msg} }

type resultReply struct {
	ID     string `cbor:"id"`
	Result any    `cbor:"result"`
}

type seqReply struct {
	ID     string `cbor:"id"`
	SeqNum int    `cbor:"seqnum"`
	SeqLen int    `cbor:"seqlen"`
	Result []byte `cbor:"result"`
}

type errorReply struct {
	ID    string    `cbor:"id"`
	Error *rpcError `cbor:"error"`
}

package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/descriptor"
	"github.com/countersign/countersign/hw"
)

// APDU classes (doc/bitcoin.md of LedgerHQ/app-bitcoin-new).
const (
	claBitcoin   = 0xE1 // the Bitcoin app's commands
	claFramework = 0xF8 // CONTINUE after an interruption
	claOS        = 0xB0 // GET_VERSION, answered by the running app or the dashboard
)

// Instruction codes. Every APDU is
//
//	CLA | INS | P1 | P2 | Lc | data (Lc bytes, at most 255)
//
// with P1 = 0 and, for CLA 0xE1, P2 = protocolVersion.
type ins byte

const (
	insGetExtendedPubkey    ins = 0x00 // data: display(1) n(1) path(4*n, BE); reply: xpub (ASCII)
	insRegisterWallet       ins = 0x02 // data: varint(len) policy; reply: wallet_id(32) hmac(32)
	insGetWalletAddress     ins = 0x03 // data: display(1) wallet_id(32) hmac(32) change(1) index(4, BE); reply: address (ASCII)
	insSignPSBT             ins = 0x04 // data: see signPSBTRequest; reply: none (signatures come by YIELD)
	insGetMasterFingerprint ins = 0x05 // data: none; reply: fingerprint(4)
	insContinue             ins = 0x01 // CLA 0xF8: the answer to a client command
	insGetVersion           ins = 0x01 // CLA 0xB0: reply: format(1)=1 len name len version len flags
)

func (i ins) String() string {
	switch i {
	case insGetExtendedPubkey:
		return "GET_EXTENDED_PUBKEY"
	case insRegisterWallet:
		return "REGISTER_WALLET"
	case insGetWalletAddress:
		return "GET_WALLET_ADDRESS"
	case insSignPSBT:
		return "SIGN_PSBT"
	case insGetMasterFingerprint:
		return "GET_MASTER_FINGERPRINT"
	}
	return fmt.Sprintf("INS %#02x", byte(i))
}

// protocolVersion is the P2 of every Bitcoin command: version 1 of the
// protocol, spoken by the app since 2.1.0.
const protocolVersion = 1

// maxAPDUData is the most data one APDU carries (Lc is one byte).
const maxAPDUData = 255

// maxPathLen is the app's MAX_BIP32_PATH_STEPS.
const maxPathLen = 8

// Status words (src/boilerplate/sw.h, and the OS's for a locked device or
// another app).
const (
	swOK                  = 0x9000
	swInterrupted         = 0xE000 // SW_INTERRUPTED_EXECUTION: the data is a client command
	swDeny                = 0x6985 // SW_DENY: the user refused
	swSecurityStatus      = 0x6982 // SW_SECURITY_STATUS_NOT_SATISFIED
	swIncorrectData       = 0x6A80 // SW_INCORRECT_DATA
	swNotSupported        = 0x6A82 // SW_NOT_SUPPORTED
	swWrongP1P2           = 0x6A86 // SW_WRONG_P1P2
	swWrongDataLength     = 0x6A87 // SW_WRONG_DATA_LENGTH
	swInsNotSupported     = 0x6D00 // SW_INS_NOT_SUPPORTED
	swClaNotSupported     = 0x6E00 // SW_CLA_NOT_SUPPORTED
	swWrongResponseLength = 0xB000 // SW_WRONG_RESPONSE_LENGTH
	swBadState            = 0xB007 // SW_BAD_STATE
	swSignatureFail       = 0xB008 // SW_SIGNATURE_FAIL: a wrong wallet HMAC among others
	swLocked              = 0x5515 // the device is locked (OS)
	swAppNotOpen1         = 0x6E01 // no app open (dashboard), newer OS versions
	swAppNotOpen2         = 0x6D02
	swAppNotOpen3         = 0x6511
	swTechnical           = 0x6F00 // technical problem in the app or the OS
)

// Error codes the app appends as 2 data bytes to some refusals
// (src/error_codes.h).
const (
	ecSignPSBTMissingHMAC        = 0x0000 // SIGN_PSBT, with 0x6A80
	ecRegisterUnacceptableName   = 0x0000 // REGISTER_WALLET, with 0x6A80
	ecRegisterPolicyNotSane      = 0x0001 // REGISTER_WALLET, with 0x6A82
	ecRegisterNoInternalKey      = 0x0002 // REGISTER_WALLET, with 0x6A80
	ecSignPSBTNoInternalKey      = 0x0002 // SIGN_PSBT, with 0x6A80
	ecSignPSBTTooManyChange      = 0x0009
	ecSignPSBTMismatchingWScript = 0x000a
	ecSignPSBTMismatchingRScript = 0x000b
)

// StatusError is a status word other than success from the device, with
// the error code some refusals carry.
type StatusError struct {
	Ins     string // the command that failed, "SIGN_PSBT"
	SW      uint16
	Code    uint16 // app error code (src/error_codes.h) when HasCode
	HasCode bool
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s failed with status %#04x (%s)", e.Ins, e.SW, statusText(e.SW))
	if e.HasCode {
		s += fmt.Sprintf(", error code %#04x", e.Code)
		if d := errorCodeText(e.Ins, e.SW, e.Code); d != "" {
			s += ": " + d
		}
	}
	return s
}

func statusText(sw uint16) string {
	switch sw {
	case swDeny:
		return "refused on the device"
	case swSecurityStatus:
		return "security status not satisfied: unlock the device"
	case swIncorrectData:
		return "incorrect data"
	case swNotSupported:
		return "not supported by this app version"
	case swWrongP1P2:
		return "wrong P1/P2"
	case swWrongDataLength:
		return "wrong data length"
	case swInsNotSupported:
		return "instruction not supported: the Bitcoin app is not open"
	case swClaNotSupported:
		return "class not supported: the Bitcoin app is not open"
	case swWrongResponseLength:
		return "wrong response length"
	case swBadState:
		return "unexpected state in the app"
	case swSignatureFail:
		return "invalid signature or wallet HMAC"
	case swLocked:
		return "the device is locked"
	case swAppNotOpen1, swAppNotOpen2, swAppNotOpen3:
		return "no app is open"
	case swTechnical:
		return "technical problem in the device"
	case swInterrupted:
		return "interrupted"
	}
	return "unknown status"
}

func errorCodeText(insName string, sw, code uint16) string {
	switch insName {
	case insRegisterWallet.String():
		switch {
		case sw == swIncorrectData && code == ecRegisterUnacceptableName:
			return "the wallet name is not acceptable (1 to 64 printable ASCII characters, no space at either end)"
		case sw == swNotSupported && code == ecRegisterPolicyNotSane:
			return "the wallet policy is not one the app accepts"
		case sw == swIncorrectData && code == ecRegisterNoInternalKey:
			return "none of the wallet's keys belongs to this device"
		}
	case insSignPSBT.String():
		switch code {
		case ecSignPSBTMissingHMAC:
			return "the wallet is not registered (no HMAC)"
		case ecSignPSBTNoInternalKey:
			return "none of the wallet's keys belongs to this device"
		case 0x0003:
			return "an input has neither non_witness_utxo nor witness_utxo"
		case 0x0004:
			return "a non_witness_utxo does not hash to the txid the input spends"
		case 0x0005:
			return "non_witness_utxo and witness_utxo disagree"
		case 0x0006:
			return "a legacy input lacks its non_witness_utxo or carries a witness_utxo"
		case 0x0007:
			return "a segwit input lacks its witness_utxo"
		case 0x0008:
			return "SIGHASH_SINGLE on an input without matching output"
		case ecSignPSBTTooManyChange:
			return "too many change outputs"
		case ecSignPSBTMismatchingWScript:
			return "an input's witness script does not match the wallet"
		case ecSignPSBTMismatchingRScript:
			return "an input's redeem script does not match the wallet"
		case 0x000c:
			return "the wallet has too many keys of this device"
		}
	}
	return ""
}

// newStatusError builds the error for a final status word: a 2-byte reply
// to a refusal is the app's error code.
func newStatusError(in ins, sw uint16, data []byte) *StatusError {
	e := &StatusError{Ins: in.String(), SW: sw}
	if len(data) == 2 {
		e.Code, e.HasCode = binary.BigEndian.Uint16(data), true
	}
	return e
}

// apdu encodes one command. len(data) must be at most maxAPDUData.
func apdu(cla byte, in ins, p2 byte, data []byte) []byte {
	out := make([]byte, 0, 5+len(data))
	out = append(out, cla, byte(in), 0, p2, byte(len(data)))
	return append(out, data...)
}

// reqGetVersion is GET_VERSION (CLA 0xB0, INS 0x01), answered by whatever
// runs on the device.
func reqGetVersion() []byte { return apdu(claOS, insGetVersion, 0, nil) }

// reqGetMasterFingerprint is GET_MASTER_FINGERPRINT.
func reqGetMasterFingerprint() []byte {
	return apdu(claBitcoin, insGetMasterFingerprint, protocolVersion, nil)
}

// reqGetExtendedPubkey is GET_EXTENDED_PUBKEY:
//
//	display(1) | n(1) | path[0](4, BE) | ... | path[n-1](4, BE)
func reqGetExtendedPubkey(path []uint32, display bool) ([]byte, error) {
	if len(path) > maxPathLen {
		return nil, fmt.Errorf("path %s has %d steps; the Bitcoin app takes at most %d", descriptor.Path(path), len(path), maxPathLen)
	}
	data := []byte{boolByte(display), byte(len(path))}
	for _, s := range path {
		data = binary.BigEndian.AppendUint32(data, s)
	}
	return apdu(claBitcoin, insGetExtendedPubkey, protocolVersion, data), nil
}

// reqRegisterWallet is REGISTER_WALLET: varint(len) | serialized policy.
func reqRegisterWallet(policy []byte) ([]byte, error) {
	data := appendVarint(nil, uint64(len(policy)))
	data = append(data, policy...)
	if len(data) > maxAPDUData {
		return nil, fmt.Errorf("serialized wallet policy of %d bytes does not fit one APDU", len(policy))
	}
	return apdu(claBitcoin, insRegisterWallet, protocolVersion, data), nil
}

// reqGetWalletAddress is GET_WALLET_ADDRESS:
//
//	display(1) | wallet_id(32) | wallet_hmac(32) | change(1) | address_index(4, BE)
func reqGetWalletAddress(id, hmac [32]byte, change, index uint32, display bool) []byte {
	data := make([]byte, 0, 70)
	data = append(data, boolByte(display))
	data = append(data, id[:]...)
	data = append(data, hmac[:]...)
	data = append(data, byte(change))
	data = binary.BigEndian.AppendUint32(data, index)
	return apdu(claBitcoin, insGetWalletAddress, protocolVersion, data)
}

// mapCommitment is a merkleized map commitment (doc/merkle.md):
// varint(size) | keys_root(32) | values_root(32).
type mapCommitment struct {
	size       uint64
	keysRoot   [32]byte
	valuesRoot [32]byte
}

func (c mapCommitment) bytes() []byte {
	out := appendVarint(make([]byte, 0, 73), c.size)
	out = append(out, c.keysRoot[:]...)
	return append(out, c.valuesRoot[:]...)
}

// signPSBTRequest is SIGN_PSBT's data:
//
//	global map commitment (varint size | keys root | values root)
//	varint(n_inputs)  | inputs_maps_root(32)
//	varint(n_outputs) | outputs_maps_root(32)
//	wallet_id(32) | wallet_hmac(32)
type signPSBTRequest struct {
	global      mapCommitment
	nInputs     uint64
	inputsRoot  [32]byte
	nOutputs    uint64
	outputsRoot [32]byte
	walletID    [32]byte
	hmac        [32]byte
}

func reqSignPSBT(r signPSBTRequest) []byte {
	data := r.global.bytes()
	data = appendVarint(data, r.nInputs)
	data = append(data, r.inputsRoot[:]...)
	data = appendVarint(data, r.nOutputs)
	data = append(data, r.outputsRoot[:]...)
	data = append(data, r.walletID[:]...)
	data = append(data, r.hmac[:]...)
	return apdu(claBitcoin, insSignPSBT, protocolVersion, data)
}

// reqContinue answers a client command (P2 as for the Bitcoin commands, as
// Ledger's own clients send it).
func reqContinue(data []byte) []byte {
	return apdu(claFramework, insContinue, protocolVersion, data)
}

// appVersion is GET_VERSION's reply.
type appVersion struct {
	Name    string // "Bitcoin", "Bitcoin Test", "BOLOS" on the dashboard
	Version string // "2.1.3"
	Flags   []byte
}

// parseAppVersion decodes format(1)=1 | len | name | len | version | len | flags.
func parseAppVersion(data []byte) (appVersion, error) {
	r := bytes.NewReader(data)
	format, err := r.ReadByte()
	if err != nil {
		return appVersion{}, errors.New("empty GET_VERSION reply")
	}
	if format != 1 {
		return appVersion{}, fmt.Errorf("GET_VERSION reply in format %d, want 1", format)
	}
	var fields [3][]byte
	for i := range fields {
		n, err := r.ReadByte()
		if err != nil {
			if i == 2 { // some OS versions send no flags
				break
			}
			return appVersion{}, errors.New("truncated GET_VERSION reply")
		}
		fields[i] = make([]byte, n)
		if _, err := io.ReadFull(r, fields[i]); err != nil {
			return appVersion{}, errors.New("truncated GET_VERSION reply")
		}
	}
	return appVersion{Name: string(fields[0]), Version: string(fields[1]), Flags: fields[2]}, nil
}

// semver is a major.minor.patch triple (hw.Version); any suffix
// ("-rc1") is ignored.
type semver = hw.Version

func parseSemver(s string) (semver, error) { return hw.ParseVersion(s) }

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// appendVarint appends n as a Bitcoin compact size.
func appendVarint(b []byte, n uint64) []byte {
	var buf bytes.Buffer
	_ = wire.WriteVarInt(&buf, 0, n)
	return append(b, buf.Bytes()...)
}

// readVarint reads a canonical Bitcoin compact size from r.
func readVarint(r *bytes.Reader) (uint64, error) {
	return wire.ReadVarInt(r, 0)
}

const hardened = 0x80000000

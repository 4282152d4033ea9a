package trezorproto

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// MessageType is the wire id of a message (messages.proto, enum MessageType).
type MessageType uint16

// The message types countersign uses.
const (
	TypeInitialize        MessageType = 0
	TypeSuccess           MessageType = 2
	TypeFailure           MessageType = 3
	TypeGetPublicKey      MessageType = 11
	TypePublicKey         MessageType = 12
	TypeSignTx            MessageType = 15
	TypeFeatures          MessageType = 17
	TypePinMatrixRequest  MessageType = 18
	TypePinMatrixAck      MessageType = 19
	TypeCancel            MessageType = 20
	TypeTxRequest         MessageType = 21
	TypeTxAck             MessageType = 22
	TypeButtonRequest     MessageType = 26
	TypeButtonAck         MessageType = 27
	TypeGetAddress        MessageType = 29
	TypeAddress           MessageType = 30
	TypePassphraseRequest MessageType = 41
	TypePassphraseAck     MessageType = 42
	TypeGetFeatures       MessageType = 55
)

var typeNames = map[MessageType]string{
	TypeInitialize: "Initialize", TypeSuccess: "Success", TypeFailure: "Failure",
	TypeGetPublicKey: "GetPublicKey", TypePublicKey: "PublicKey", TypeSignTx: "SignTx",
	TypeFeatures: "Features", TypePinMatrixRequest: "PinMatrixRequest", TypePinMatrixAck: "PinMatrixAck",
	TypeCancel: "Cancel", TypeTxRequest: "TxRequest", TypeTxAck: "TxAck",
	TypeButtonRequest: "ButtonRequest", TypeButtonAck: "ButtonAck", TypeGetAddress: "GetAddress",
	TypeAddress: "Address", TypePassphraseRequest: "PassphraseRequest", TypePassphraseAck: "PassphraseAck",
	TypeGetFeatures: "GetFeatures",
}

func (t MessageType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("message type %d", uint16(t))
}

// Message is one protobuf message with its wire type.
type Message interface {
	Type() MessageType
	Marshal() []byte
	Unmarshal([]byte) error
}

// FailureType values (messages-common.proto, Failure.FailureType).
const (
	FailureUnexpectedMessage = 1
	FailureButtonExpected    = 2
	FailureDataError         = 3
	FailureActionCancelled   = 4
	FailurePinExpected       = 5
	FailurePinCancelled      = 6
	FailurePinInvalid        = 7
	FailureInvalidSignature  = 8
	FailureProcessError      = 9
	FailureNotEnoughFunds    = 10
	FailureNotInitialized    = 11
	FailurePinMismatch       = 12
	FailureWipeCodeMismatch  = 13
	FailureInvalidProtocol   = 17 // a THP-only device refusing the v1 codec
	FailureFirmwareError     = 99
)

// ButtonRequestType values (messages-common.proto, ButtonRequest.ButtonRequestType).
const (
	ButtonRequestOther            = 1
	ButtonRequestFeeOverThreshold = 2
	ButtonRequestConfirmOutput    = 3
	ButtonRequestProtectCall      = 7
	ButtonRequestSignTx           = 8
	ButtonRequestAddress          = 10
	ButtonRequestPublicKey        = 11
)

// PinMatrixRequestType values.
const (
	PinMatrixRequestCurrent   = 1
	PinMatrixRequestNewFirst  = 2
	PinMatrixRequestNewSecond = 3
)

// CapabilityBitcoin and CapabilityPassphraseEntry are Features.capabilities
// values.
const (
	CapabilityBitcoin         = 1
	CapabilityPassphraseEntry = 17
)

// Initialize resets the device's workflow and asks for Features.
type Initialize struct {
	SessionID []byte // 1: session to resume; nil for a new one
}

func (*Initialize) Type() MessageType { return TypeInitialize }
func (m *Initialize) Marshal() []byte { return m.appendTo(nil) }
func (m *Initialize) appendTo(b []byte) []byte {
	if m.SessionID != nil {
		b = putBytes(b, 1, m.SessionID)
	}
	return b
}
func (m *Initialize) Unmarshal(b []byte) error {
	*m = Initialize{}
	return walk("Initialize", b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if num == 1 {
			v, n, err := getBytes(typ, b)
			m.SessionID = v
			return n, err
		}
		return -1, nil
	})
}

// GetFeatures asks for Features without resetting anything.
type GetFeatures struct{}

func (*GetFeatures) Type() MessageType { return TypeGetFeatures }
func (*GetFeatures) Marshal() []byte   { return nil }
func (m *GetFeatures) Unmarshal(b []byte) error {
	return walk("GetFeatures", b, func(protowire.Number, protowire.Type, []byte) (int, error) { return -1, nil })
}

// Features describes the device (messages-management.proto).
type Features struct {
	Vendor               string   // 1
	MajorVersion         uint32   // 2
	MinorVersion         uint32   // 3
	PatchVersion         uint32   // 4
	BootloaderMode       bool     // 5
	DeviceID             string   // 6
	PinProtection        bool     // 7
	PassphraseProtection bool     // 8
	Language             string   // 9
	Label                string   // 10
	Initialized          bool     // 12
	Revision             []byte   // 13
	Unlocked             bool     // 16 (pin_cached before firmware 2.3.2/1.9.2)
	FirmwarePresent      bool     // 18
	NeedsBackup          bool     // 19
	Model                string   // 21: "1", "T", "Safe 3", ...
	FwMajor              uint32   // 22: firmware version, in bootloader mode
	FwMinor              uint32   // 23
	FwPatch              uint32   // 24
	Capabilities         []uint32 // 30
	SessionID            []byte   // 35
}

func (*Features) Type() MessageType { return TypeFeatures }
func (m *Features) Marshal() []byte { return m.appendTo(nil) }
func (m *Features) appendTo(b []byte) []byte {
	if m.Vendor != "" {
		b = putString(b, 1, m.Vendor)
	}
	b = putVarint(b, 2, uint64(m.MajorVersion))
	b = putVarint(b, 3, uint64(m.MinorVersion))
	b = putVarint(b, 4, uint64(m.PatchVersion))
	if m.BootloaderMode {
		b = putBool(b, 5, true)
	}
	if m.DeviceID != "" {
		b = putString(b, 6, m.DeviceID)
	}
	b = putBool(b, 7, m.PinProtection)
	b = putBool(b, 8, m.PassphraseProtection)
	if m.Language != "" {
		b = putString(b, 9, m.Language)
	}
	if m.Label != "" {
		b = putString(b, 10, m.Label)
	}
	b = putBool(b, 12, m.Initialized)
	if m.Revision != nil {
		b = putBytes(b, 13, m.Revision)
	}
	b = putBool(b, 16, m.Unlocked)
	if m.FirmwarePresent {
		b = putBool(b, 18, true)
	}
	if m.NeedsBackup {
		b = putBool(b, 19, true)
	}
	if m.Model != "" {
		b = putString(b, 21, m.Model)
	}
	if m.BootloaderMode {
		b = putVarint(b, 22, uint64(m.FwMajor))
		b = putVarint(b, 23, uint64(m.FwMinor))
		b = putVarint(b, 24, uint64(m.FwPatch))
	}
	b = putUint32s(b, 30, m.Capabilities)
	if m.SessionID != nil {
		b = putBytes(b, 35, m.SessionID)
	}
	return b
}
func (m *Features) Unmarshal(b []byte) error {
	*m = Features{}
	return walk("Features", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			m.Vendor, n, err = getString(typ, b)
		case 2:
			m.MajorVersion, n, err = getUint32(typ, b)
		case 3:
			m.MinorVersion, n, err = getUint32(typ, b)
		case 4:
			m.PatchVersion, n, err = getUint32(typ, b)
		case 5:
			m.BootloaderMode, n, err = getBool(typ, b)
		case 6:
			m.DeviceID, n, err = getString(typ, b)
		case 7:
			m.PinProtection, n, err = getBool(typ, b)
		case 8:
			m.PassphraseProtection, n, err = getBool(typ, b)
		case 9:
			m.Language, n, err = getString(typ, b)
		case 10:
			m.Label, n, err = getString(typ, b)
		case 12:
			m.Initialized, n, err = getBool(typ, b)
		case 13:
			m.Revision, n, err = getBytes(typ, b)
		case 16:
			m.Unlocked, n, err = getBool(typ, b)
		case 18:
			m.FirmwarePresent, n, err = getBool(typ, b)
		case 19:
			m.NeedsBackup, n, err = getBool(typ, b)
		case 21:
			m.Model, n, err = getString(typ, b)
		case 22:
			m.FwMajor, n, err = getUint32(typ, b)
		case 23:
			m.FwMinor, n, err = getUint32(typ, b)
		case 24:
			m.FwPatch, n, err = getUint32(typ, b)
		case 30:
			m.Capabilities, n, err = getUint32s(m.Capabilities, typ, b)
		case 35:
			m.SessionID, n, err = getBytes(typ, b)
		default:
			return -1, nil
		}
		return n, err
	})
}

// HasCapability reports whether the device lists capability c.
func (m *Features) HasCapability(c uint32) bool {
	for _, x := range m.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// Success is the device's "done" reply.
type Success struct {
	Message string // 1
}

func (*Success) Type() MessageType { return TypeSuccess }
func (m *Success) Marshal() []byte { return m.appendTo(nil) }
func (m *Success) appendTo(b []byte) []byte {
	if m.Message != "" {
		b = putString(b, 1, m.Message)
	}
	return b
}
func (m *Success) Unmarshal(b []byte) error {
	*m = Success{}
	return walk("Success", b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if num == 1 {
			v, n, err := getString(typ, b)
			m.Message = v
			return n, err
		}
		return -1, nil
	})
}

// Failure is the device's error reply.
type Failure struct {
	Code    uint32 // 1: FailureType
	Message string // 2
}

func (*Failure) Type() MessageType { return TypeFailure }
func (m *Failure) Marshal() []byte { return m.appendTo(nil) }
func (m *Failure) appendTo(b []byte) []byte {
	if m.Code != 0 {
		b = putVarint(b, 1, uint64(m.Code))
	}
	if m.Message != "" {
		b = putString(b, 2, m.Message)
	}
	return b
}
func (m *Failure) Unmarshal(b []byte) error {
	*m = Failure{}
	return walk("Failure", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			m.Code, n, err = getUint32(typ, b)
		case 2:
			m.Message, n, err = getString(typ, b)
		default:
			return -1, nil
		}
		return n, err
	})
}

// IsInvalidProtocol reports whether payload is the fixed Failure a device
// that speaks only the Trezor-Host Protocol sends back to a v1 message: code
// Failure_InvalidProtocol, announced as 20 bytes and padded with zeros, so
// it does not decode as a Failure.
func IsInvalidProtocol(t MessageType, payload []byte) bool {
	return t == TypeFailure && len(payload) >= 2 && payload[0] == 0x08 && payload[1] == FailureInvalidProtocol
}

// ButtonRequest asks the host to acknowledge that the user must press a
// button.
type ButtonRequest struct {
	Code uint32 // 1: ButtonRequestType
}

func (*ButtonRequest) Type() MessageType { return TypeButtonRequest }
func (m *ButtonRequest) Marshal() []byte { return m.appendTo(nil) }
func (m *ButtonRequest) appendTo(b []byte) []byte {
	if m.Code != 0 {
		b = putVarint(b, 1, uint64(m.Code))
	}
	return b
}
func (m *ButtonRequest) Unmarshal(b []byte) error {
	*m = ButtonRequest{}
	return walk("ButtonRequest", b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if num == 1 {
			v, n, err := getUint32(typ, b)
			m.Code = v
			return n, err
		}
		return -1, nil
	})
}

// ButtonAck lets the device wait for the button.
type ButtonAck struct{}

func (*ButtonAck) Type() MessageType { return TypeButtonAck }
func (*ButtonAck) Marshal() []byte   { return nil }
func (m *ButtonAck) Unmarshal(b []byte) error {
	return walk("ButtonAck", b, func(protowire.Number, protowire.Type, []byte) (int, error) { return -1, nil })
}

// Cancel aborts the workflow waiting for the user.
type Cancel struct{}

func (*Cancel) Type() MessageType { return TypeCancel }
func (*Cancel) Marshal() []byte   { return nil }
func (m *Cancel) Unmarshal(b []byte) error {
	return walk("Cancel", b, func(protowire.Number, protowire.Type, []byte) (int, error) { return -1, nil })
}

// PinMatrixRequest asks for the PIN, entered as positions on a matrix of
// scrambled digits that only the device shows.
type PinMatrixRequest struct {
	Kind uint32 // 1: PinMatrixRequestType
}

func (*PinMatrixRequest) Type() MessageType { return TypePinMatrixRequest }
func (m *PinMatrixRequest) Marshal() []byte { return m.appendTo(nil) }
func (m *PinMatrixRequest) appendTo(b []byte) []byte {
	if m.Kind != 0 {
		b = putVarint(b, 1, uint64(m.Kind))
	}
	return b
}
func (m *PinMatrixRequest) Unmarshal(b []byte) error {
	*m = PinMatrixRequest{}
	return walk("PinMatrixRequest", b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if num == 1 {
			v, n, err := getUint32(typ, b)
			m.Kind = v
			return n, err
		}
		return -1, nil
	})
}

// PinMatrixAck carries the matrix-encoded PIN: digits 1-9 naming positions.
type PinMatrixAck struct {
	Pin string // 1 (required)
}

func (*PinMatrixAck) Type() MessageType { return TypePinMatrixAck }
func (m *PinMatrixAck) Marshal() []byte { return m.appendTo(nil) }
func (m *PinMatrixAck) appendTo(b []byte) []byte {
	return putString(b, 1, m.Pin)
}
func (m *PinMatrixAck) Unmarshal(b []byte) error {
	*m = PinMatrixAck{}
	seen := false
	err := walk("PinMatrixAck", b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if num == 1 {
			v, n, err := getString(typ, b)
			m.Pin, seen = v, true
			return n, err
		}
		return -1, nil
	})
	if err == nil && !seen {
		err = decodeErr("PinMatrixAck: missing pin")
	}
	return err
}

// PassphraseRequest asks for the BIP-39 passphrase.
type PassphraseRequest struct {
	OnDevice bool // 1 (deprecated, firmware < 2.3.0): the user types it on the device
}

func (*PassphraseRequest) Type() MessageType { return TypePassphraseRequest }
func (m *PassphraseRequest) Marshal() []byte { return m.appendTo(nil) }
func (m *PassphraseRequest) appendTo(b []byte) []byte {
	if m.OnDevice {
		b = putBool(b, 1, true)
	}
	return b
}
func (m *PassphraseRequest) Unmarshal(b []byte) error {
	*m = PassphraseRequest{}
	return walk("PassphraseRequest", b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if num == 1 {
			v, n, err := getBool(typ, b)
			m.OnDevice = v
			return n, err
		}
		return -1, nil
	})
}

// PassphraseAck answers a PassphraseRequest: the passphrase, or a request to
// enter it on the device.
type PassphraseAck struct {
	Passphrase *string // 1; nil when OnDevice
	OnDevice   bool    // 3
}

func (*PassphraseAck) Type() MessageType { return TypePassphraseAck }
func (m *PassphraseAck) Marshal() []byte { return m.appendTo(nil) }
func (m *PassphraseAck) appendTo(b []byte) []byte {
	if m.Passphrase != nil {
		b = putString(b, 1, *m.Passphrase)
	}
	if m.OnDevice {
		b = putBool(b, 3, true)
	}
	return b
}
func (m *PassphraseAck) Unmarshal(b []byte) error {
	*m = PassphraseAck{}
	return walk("PassphraseAck", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			var s string
			s, n, err = getString(typ, b)
			m.Passphrase = &s
		case 3:
			m.OnDevice, n, err = getBool(typ, b)
		default:
			return -1, nil
		}
		return n, err
	})
}

// HDNodeType is a BIP-32 node in deserialized form (messages-common.proto).
type HDNodeType struct {
	Depth       uint32 // 1
	Fingerprint uint32 // 2: the parent's fingerprint, big-endian as in BIP-32 serialization
	ChildNum    uint32 // 3
	ChainCode   []byte // 4
	PrivateKey  []byte // 5: never sent by countersign
	PublicKey   []byte // 6
}

func (m *HDNodeType) appendTo(b []byte) []byte {
	b = putVarint(b, 1, uint64(m.Depth))
	b = putVarint(b, 2, uint64(m.Fingerprint))
	b = putVarint(b, 3, uint64(m.ChildNum))
	b = putBytes(b, 4, m.ChainCode)
	if m.PrivateKey != nil {
		b = putBytes(b, 5, m.PrivateKey)
	}
	if m.PublicKey != nil {
		b = putBytes(b, 6, m.PublicKey)
	}
	return b
}

// Unmarshal decodes an HDNodeType; chain_code must be present.
func (m *HDNodeType) Unmarshal(b []byte) error {
	*m = HDNodeType{}
	seen := 0
	err := walk("HDNodeType", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			m.Depth, n, err = getUint32(typ, b)
		case 2:
			m.Fingerprint, n, err = getUint32(typ, b)
		case 3:
			m.ChildNum, n, err = getUint32(typ, b)
		case 4:
			m.ChainCode, n, err = getBytes(typ, b)
			seen++
		case 5:
			m.PrivateKey, n, err = getBytes(typ, b)
		case 6:
			m.PublicKey, n, err = getBytes(typ, b)
		default:
			return -1, nil
		}
		return n, err
	})
	if err == nil && seen == 0 {
		err = decodeErr("HDNodeType: missing chain_code")
	}
	return err
}

// Marshal encodes the node on its own (it is only ever embedded).
func (m *HDNodeType) Marshal() []byte { return m.appendTo(nil) }

package trezorproto

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// InputScriptType values (messages-bitcoin.proto).
const (
	SpendAddress     = 0 // P2PKH
	SpendMultisig    = 1 // P2SH multisig
	External         = 2
	SpendWitness     = 3 // native segwit (P2WPKH, P2WSH)
	SpendP2SHWitness = 4 // segwit nested in P2SH
)

// OutputScriptType values (messages-bitcoin.proto).
const (
	PayToAddress     = 0
	PayToScriptHash  = 1
	PayToMultisig    = 2 // change only
	PayToOpReturn    = 3
	PayToWitness     = 4 // change only
	PayToP2SHWitness = 5 // change only
)

// MultisigPubkeysOrder values: how the device orders the keys of the script.
const (
	PubkeysOrderPreserved     = 0 // the order of pubkeys (descriptor multi)
	PubkeysOrderLexicographic = 1 // BIP-67 (descriptor sortedmulti)
)

// RequestType values of TxRequest.
const (
	TxInput      = 0
	TxOutput     = 1
	TxMeta       = 2
	TxFinished   = 3
	TxExtraData  = 4
	TxOrigInput  = 5
	TxOrigOutput = 6
)

// HDNodePathType is one cosigner of a multisig: an xpub node and the path
// from it to the key.
type HDNodePathType struct {
	Node     HDNodeType // 1 (required)
	AddressN []uint32   // 2
}

func (m *HDNodePathType) appendTo(b []byte) []byte {
	b = putMessage(b, 1, &m.Node)
	return putUint32s(b, 2, m.AddressN)
}

// Unmarshal decodes an HDNodePathType.
func (m *HDNodePathType) Unmarshal(b []byte) error {
	*m = HDNodePathType{}
	seen := false
	err := walk("HDNodePathType", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			n, err = getMessage(typ, b, &m.Node)
			seen = true
		case 2:
			m.AddressN, n, err = getUint32s(m.AddressN, typ, b)
		default:
			return -1, nil
		}
		return n, err
	})
	if err == nil && !seen {
		err = decodeErr("HDNodePathType: missing node")
	}
	return err
}

// MultisigRedeemScriptType describes a multisig script: its keys (as xpub
// nodes and paths), m, and signatures known so far.
type MultisigRedeemScriptType struct {
	Pubkeys      []HDNodePathType // 1
	Signatures   [][]byte         // 2: one per key, empty when unknown
	M            uint32           // 3 (required)
	Nodes        []HDNodeType     // 4: alternative to Pubkeys when all share AddressN
	AddressN     []uint32         // 5: with Nodes
	PubkeysOrder *uint32          // 6: MultisigPubkeysOrder; nil is PRESERVED
}

func (m *MultisigRedeemScriptType) appendTo(b []byte) []byte {
	for i := range m.Pubkeys {
		b = putMessage(b, 1, &m.Pubkeys[i])
	}
	for _, s := range m.Signatures {
		b = putBytes(b, 2, s)
	}
	b = putVarint(b, 3, uint64(m.M))
	for i := range m.Nodes {
		b = putMessage(b, 4, &m.Nodes[i])
	}
	b = putUint32s(b, 5, m.AddressN)
	if m.PubkeysOrder != nil {
		b = putVarint(b, 6, uint64(*m.PubkeysOrder))
	}
	return b
}

// Unmarshal decodes a MultisigRedeemScriptType.
func (m *MultisigRedeemScriptType) Unmarshal(b []byte) error {
	*m = MultisigRedeemScriptType{}
	seen := false
	err := walk("MultisigRedeemScriptType", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			if len(m.Pubkeys) >= maxRepeated {
				return 0, decodeErr("too many pubkeys")
			}
			var p HDNodePathType
			n, err = getMessage(typ, b, &p)
			m.Pubkeys = append(m.Pubkeys, p)
		case 2:
			if len(m.Signatures) >= maxRepeated {
				return 0, decodeErr("too many signatures")
			}
			var s []byte
			s, n, err = getBytes(typ, b)
			m.Signatures = append(m.Signatures, s)
		case 3:
			m.M, n, err = getUint32(typ, b)
			seen = true
		case 4:
			if len(m.Nodes) >= maxRepeated {
				return 0, decodeErr("too many nodes")
			}
			var node HDNodeType
			n, err = getMessage(typ, b, &node)
			m.Nodes = append(m.Nodes, node)
		case 5:
			m.AddressN, n, err = getUint32s(m.AddressN, typ, b)
		case 6:
			var v uint32
			v, n, err = getUint32(typ, b)
			m.PubkeysOrder = &v
		default:
			return -1, nil
		}
		return n, err
	})
	if err == nil && !seen {
		err = decodeErr("MultisigRedeemScriptType: missing m")
	}
	return err
}

// Marshal encodes the description on its own (tests and hashing).
func (m *MultisigRedeemScriptType) Marshal() []byte { return m.appendTo(nil) }

// GetPublicKey asks for the extended public key at AddressN.
type GetPublicKey struct {
	AddressN        []uint32 // 1
	EcdsaCurveName  string   // 2
	ShowDisplay     bool     // 3
	CoinName        string   // 4; "" means Bitcoin
	ScriptType      *uint32  // 5: InputScriptType; nil is SPENDADDRESS
	IgnoreXpubMagic bool     // 6
}

func (*GetPublicKey) Type() MessageType { return TypeGetPublicKey }
func (m *GetPublicKey) Marshal() []byte { return m.appendTo(nil) }
func (m *GetPublicKey) appendTo(b []byte) []byte {
	b = putUint32s(b, 1, m.AddressN)
	if m.EcdsaCurveName != "" {
		b = putString(b, 2, m.EcdsaCurveName)
	}
	if m.ShowDisplay {
		b = putBool(b, 3, true)
	}
	if m.CoinName != "" {
		b = putString(b, 4, m.CoinName)
	}
	if m.ScriptType != nil {
		b = putVarint(b, 5, uint64(*m.ScriptType))
	}
	if m.IgnoreXpubMagic {
		b = putBool(b, 6, true)
	}
	return b
}
func (m *GetPublicKey) Unmarshal(b []byte) error {
	*m = GetPublicKey{}
	return walk("GetPublicKey", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			m.AddressN, n, err = getUint32s(m.AddressN, typ, b)
		case 2:
			m.EcdsaCurveName, n, err = getString(typ, b)
		case 3:
			m.ShowDisplay, n, err = getBool(typ, b)
		case 4:
			m.CoinName, n, err = getString(typ, b)
		case 5:
			var v uint32
			v, n, err = getUint32(typ, b)
			m.ScriptType = &v
		case 6:
			m.IgnoreXpubMagic, n, err = getBool(typ, b)
		default:
			return -1, nil
		}
		return n, err
	})
}

// PublicKey is the reply to GetPublicKey.
type PublicKey struct {
	Node            HDNodeType // 1
	HasNode         bool
	Xpub            string  // 2
	RootFingerprint *uint32 // 3: the master key's fingerprint (firmware 2.3.0+/1.9.0+... when present)
}

func (*PublicKey) Type() MessageType { return TypePublicKey }
func (m *PublicKey) Marshal() []byte { return m.appendTo(nil) }
func (m *PublicKey) appendTo(b []byte) []byte {
	if m.HasNode {
		b = putMessage(b, 1, &m.Node)
	}
	if m.Xpub != "" {
		b = putString(b, 2, m.Xpub)
	}
	if m.RootFingerprint != nil {
		b = putVarint(b, 3, uint64(*m.RootFingerprint))
	}
	return b
}
func (m *PublicKey) Unmarshal(b []byte) error {
	*m = PublicKey{}
	return walk("PublicKey", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			n, err = getMessage(typ, b, &m.Node)
			m.HasNode = true
		case 2:
			m.Xpub, n, err = getString(typ, b)
		case 3:
			var v uint32
			v, n, err = getUint32(typ, b)
			m.RootFingerprint = &v
		default:
			return -1, nil
		}
		return n, err
	})
}

// GetAddress asks for (and optionally shows) the address at AddressN.
type GetAddress struct {
	AddressN    []uint32                  // 1
	CoinName    string                    // 2; "" means Bitcoin
	ShowDisplay bool                      // 3
	Multisig    *MultisigRedeemScriptType // 4
	ScriptType  uint32                    // 5: InputScriptType
}

func (*GetAddress) Type() MessageType { return TypeGetAddress }
func (m *GetAddress) Marshal() []byte { return m.appendTo(nil) }
func (m *GetAddress) appendTo(b []byte) []byte {
	b = putUint32s(b, 1, m.AddressN)
	if m.CoinName != "" {
		b = putString(b, 2, m.CoinName)
	}
	if m.ShowDisplay {
		b = putBool(b, 3, true)
	}
	if m.Multisig != nil {
		b = putMessage(b, 4, m.Multisig)
	}
	if m.ScriptType != SpendAddress {
		b = putVarint(b, 5, uint64(m.ScriptType))
	}
	return b
}
func (m *GetAddress) Unmarshal(b []byte) error {
	*m = GetAddress{}
	return walk("GetAddress", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			m.AddressN, n, err = getUint32s(m.AddressN, typ, b)
		case 2:
			m.CoinName, n, err = getString(typ, b)
		case 3:
			m.ShowDisplay, n, err = getBool(typ, b)
		case 4:
			m.Multisig = &MultisigRedeemScriptType{}
			n, err = getMessage(typ, b, m.Multisig)
		case 5:
			m.ScriptType, n, err = getUint32(typ, b)
		default:
			return -1, nil
		}
		return n, err
	})
}

// Address is the reply to GetAddress.
type Address struct {
	Address string // 1 (required)
}

func (*Address) Type() MessageType { return TypeAddress }
func (m *Address) Marshal() []byte { return m.appendTo(nil) }
func (m *Address) appendTo(b []byte) []byte {
	return putString(b, 1, m.Address)
}
func (m *Address) Unmarshal(b []byte) error {
	*m = Address{}
	seen := false
	err := walk("Address", b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if num == 1 {
			v, n, err := getString(typ, b)
			m.Address, seen = v, true
			return n, err
		}
		return -1, nil
	})
	if err == nil && !seen {
		err = decodeErr("Address: missing address")
	}
	return err
}

// SignTx starts signing; the device then asks for the transaction piece by
// piece with TxRequest.
type SignTx struct {
	OutputsCount uint32  // 1 (required)
	InputsCount  uint32  // 2 (required)
	CoinName     string  // 3; "" means Bitcoin
	Version      *uint32 // 4; nil means 1
	LockTime     *uint32 // 5; nil means 0
}

func (*SignTx) Type() MessageType { return TypeSignTx }
func (m *SignTx) Marshal() []byte { return m.appendTo(nil) }
func (m *SignTx) appendTo(b []byte) []byte {
	b = putVarint(b, 1, uint64(m.OutputsCount))
	b = putVarint(b, 2, uint64(m.InputsCount))
	if m.CoinName != "" {
		b = putString(b, 3, m.CoinName)
	}
	if m.Version != nil {
		b = putVarint(b, 4, uint64(*m.Version))
	}
	if m.LockTime != nil {
		b = putVarint(b, 5, uint64(*m.LockTime))
	}
	return b
}
func (m *SignTx) Unmarshal(b []byte) error {
	*m = SignTx{}
	seen := 0
	err := walk("SignTx", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			m.OutputsCount, n, err = getUint32(typ, b)
			seen |= 1
		case 2:
			m.InputsCount, n, err = getUint32(typ, b)
			seen |= 2
		case 3:
			m.CoinName, n, err = getString(typ, b)
		case 4:
			var v uint32
			v, n, err = getUint32(typ, b)
			m.Version = &v
		case 5:
			var v uint32
			v, n, err = getUint32(typ, b)
			m.LockTime = &v
		default:
			return -1, nil
		}
		return n, err
	})
	if err == nil && seen != 3 {
		err = decodeErr("SignTx: missing inputs_count or outputs_count")
	}
	return err
}

// TxRequestDetailsType says which piece the device wants.
type TxRequestDetailsType struct {
	RequestIndex    *uint32 // 1
	TxHash          []byte  // 2: a previous transaction's txid (display byte order); nil for the one being signed
	ExtraDataLen    *uint32 // 3
	ExtraDataOffset *uint32 // 4
}

func (m *TxRequestDetailsType) appendTo(b []byte) []byte {
	if m.RequestIndex != nil {
		b = putVarint(b, 1, uint64(*m.RequestIndex))
	}
	if m.TxHash != nil {
		b = putBytes(b, 2, m.TxHash)
	}
	if m.ExtraDataLen != nil {
		b = putVarint(b, 3, uint64(*m.ExtraDataLen))
	}
	if m.ExtraDataOffset != nil {
		b = putVarint(b, 4, uint64(*m.ExtraDataOffset))
	}
	return b
}

// Unmarshal decodes the details.
func (m *TxRequestDetailsType) Unmarshal(b []byte) error {
	*m = TxRequestDetailsType{}
	return walk("TxRequestDetailsType", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		var v uint32
		switch num {
		case 1:
			v, n, err = getUint32(typ, b)
			m.RequestIndex = &v
		case 2:
			m.TxHash, n, err = getBytes(typ, b)
		case 3:
			v, n, err = getUint32(typ, b)
			m.ExtraDataLen = &v
		case 4:
			v, n, err = getUint32(typ, b)
			m.ExtraDataOffset = &v
		default:
			return -1, nil
		}
		return n, err
	})
}

// TxRequestSerializedType carries a signature and a piece of the signed
// transaction.
type TxRequestSerializedType struct {
	SignatureIndex *uint32 // 1
	Signature      []byte  // 2: DER, without the sighash byte
	SerializedTx   []byte  // 3
}

func (m *TxRequestSerializedType) appendTo(b []byte) []byte {
	if m.SignatureIndex != nil {
		b = putVarint(b, 1, uint64(*m.SignatureIndex))
	}
	if m.Signature != nil {
		b = putBytes(b, 2, m.Signature)
	}
	if m.SerializedTx != nil {
		b = putBytes(b, 3, m.SerializedTx)
	}
	return b
}

// Unmarshal decodes the serialized part.
func (m *TxRequestSerializedType) Unmarshal(b []byte) error {
	*m = TxRequestSerializedType{}
	return walk("TxRequestSerializedType", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			var v uint32
			v, n, err = getUint32(typ, b)
			m.SignatureIndex = &v
		case 2:
			m.Signature, n, err = getBytes(typ, b)
		case 3:
			m.SerializedTx, n, err = getBytes(typ, b)
		default:
			return -1, nil
		}
		return n, err
	})
}

// TxRequest is the device asking for the next piece of a transaction, or
// saying it has finished (TXFINISHED).
type TxRequest struct {
	RequestType *uint32                  // 1: RequestType
	Details     *TxRequestDetailsType    // 2
	Serialized  *TxRequestSerializedType // 3
}

func (*TxRequest) Type() MessageType { return TypeTxRequest }
func (m *TxRequest) Marshal() []byte { return m.appendTo(nil) }
func (m *TxRequest) appendTo(b []byte) []byte {
	if m.RequestType != nil {
		b = putVarint(b, 1, uint64(*m.RequestType))
	}
	if m.Details != nil {
		b = putMessage(b, 2, m.Details)
	}
	if m.Serialized != nil {
		b = putMessage(b, 3, m.Serialized)
	}
	return b
}
func (m *TxRequest) Unmarshal(b []byte) error {
	*m = TxRequest{}
	return walk("TxRequest", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			var v uint32
			v, n, err = getUint32(typ, b)
			m.RequestType = &v
		case 2:
			m.Details = &TxRequestDetailsType{}
			n, err = getMessage(typ, b, m.Details)
		case 3:
			m.Serialized = &TxRequestSerializedType{}
			n, err = getMessage(typ, b, m.Serialized)
		default:
			return -1, nil
		}
		return n, err
	})
}

// TxInputType is an input of the transaction being signed, or (PrevInput
// fields only) of a previous transaction.
type TxInputType struct {
	AddressN   []uint32                  // 1
	PrevHash   []byte                    // 2 (required): txid in display byte order
	PrevIndex  uint32                    // 3 (required)
	ScriptSig  []byte                    // 4: previous transactions only
	Sequence   *uint32                   // 5; nil means 0xffffffff
	ScriptType *uint32                   // 6: InputScriptType; nil means SPENDADDRESS
	Multisig   *MultisigRedeemScriptType // 7
	Amount     *uint64                   // 8
}

func (m *TxInputType) appendTo(b []byte) []byte {
	b = putUint32s(b, 1, m.AddressN)
	b = putBytes(b, 2, m.PrevHash)
	b = putVarint(b, 3, uint64(m.PrevIndex))
	if m.ScriptSig != nil {
		b = putBytes(b, 4, m.ScriptSig)
	}
	if m.Sequence != nil {
		b = putVarint(b, 5, uint64(*m.Sequence))
	}
	if m.ScriptType != nil {
		b = putVarint(b, 6, uint64(*m.ScriptType))
	}
	if m.Multisig != nil {
		b = putMessage(b, 7, m.Multisig)
	}
	if m.Amount != nil {
		b = putVarint(b, 8, *m.Amount)
	}
	return b
}

// Unmarshal decodes an input; prev_hash and prev_index must be present.
func (m *TxInputType) Unmarshal(b []byte) error {
	*m = TxInputType{}
	seen := 0
	err := walk("TxInputType", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			m.AddressN, n, err = getUint32s(m.AddressN, typ, b)
		case 2:
			m.PrevHash, n, err = getBytes(typ, b)
			seen |= 1
		case 3:
			m.PrevIndex, n, err = getUint32(typ, b)
			seen |= 2
		case 4:
			m.ScriptSig, n, err = getBytes(typ, b)
		case 5:
			var v uint32
			v, n, err = getUint32(typ, b)
			m.Sequence = &v
		case 6:
			var v uint32
			v, n, err = getUint32(typ, b)
			m.ScriptType = &v
		case 7:
			m.Multisig = &MultisigRedeemScriptType{}
			n, err = getMessage(typ, b, m.Multisig)
		case 8:
			var v uint64
			v, n, err = getVarint(typ, b)
			m.Amount = &v
		default:
			return -1, nil
		}
		return n, err
	})
	if err == nil && seen != 3 {
		err = decodeErr("TxInputType: missing prev_hash or prev_index")
	}
	return err
}

// TxOutputBinType is an output of a previous transaction.
type TxOutputBinType struct {
	Amount       uint64 // 1 (required)
	ScriptPubkey []byte // 2 (required)
}

func (m *TxOutputBinType) appendTo(b []byte) []byte {
	b = putVarint(b, 1, m.Amount)
	return putBytes(b, 2, m.ScriptPubkey)
}

// Unmarshal decodes a previous output.
func (m *TxOutputBinType) Unmarshal(b []byte) error {
	*m = TxOutputBinType{}
	seen := 0
	err := walk("TxOutputBinType", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			m.Amount, n, err = getVarint(typ, b)
			seen |= 1
		case 2:
			m.ScriptPubkey, n, err = getBytes(typ, b)
			seen |= 2
		default:
			return -1, nil
		}
		return n, err
	})
	if err == nil && seen != 3 {
		err = decodeErr("TxOutputBinType: missing amount or script_pubkey")
	}
	return err
}

// TxOutputType is an output of the transaction being signed: an address, a
// change output (AddressN + Multisig) or OP_RETURN data.
type TxOutputType struct {
	Address      string                    // 1
	AddressN     []uint32                  // 2
	Amount       uint64                    // 3 (required)
	ScriptType   uint32                    // 4: OutputScriptType
	Multisig     *MultisigRedeemScriptType // 5
	OpReturnData []byte                    // 6
}

func (m *TxOutputType) appendTo(b []byte) []byte {
	if m.Address != "" {
		b = putString(b, 1, m.Address)
	}
	b = putUint32s(b, 2, m.AddressN)
	b = putVarint(b, 3, m.Amount)
	b = putVarint(b, 4, uint64(m.ScriptType))
	if m.Multisig != nil {
		b = putMessage(b, 5, m.Multisig)
	}
	if m.OpReturnData != nil {
		b = putBytes(b, 6, m.OpReturnData)
	}
	return b
}

// Unmarshal decodes an output; amount must be present.
func (m *TxOutputType) Unmarshal(b []byte) error {
	*m = TxOutputType{}
	seen := false
	err := walk("TxOutputType", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		switch num {
		case 1:
			m.Address, n, err = getString(typ, b)
		case 2:
			m.AddressN, n, err = getUint32s(m.AddressN, typ, b)
		case 3:
			m.Amount, n, err = getVarint(typ, b)
			seen = true
		case 4:
			m.ScriptType, n, err = getUint32(typ, b)
		case 5:
			m.Multisig = &MultisigRedeemScriptType{}
			n, err = getMessage(typ, b, m.Multisig)
		case 6:
			m.OpReturnData, n, err = getBytes(typ, b)
		default:
			return -1, nil
		}
		return n, err
	})
	if err == nil && !seen {
		err = decodeErr("TxOutputType: missing amount")
	}
	return err
}

// TransactionType is the legacy TxAck body. The specialised acks of newer
// firmware (TxAckInput, TxAckOutput, TxAckPrevMeta, TxAckPrevInput,
// TxAckPrevOutput) are wire aliases of TxAck: each sets one field of this
// message (inputs, outputs, the metadata fields, inputs, bin_outputs), so a
// TxAck carrying exactly one of them is what both generations exchange.
type TransactionType struct {
	Version      *uint32           // 1
	Inputs       []TxInputType     // 2
	BinOutputs   []TxOutputBinType // 3
	LockTime     *uint32           // 4
	Outputs      []TxOutputType    // 5
	InputsCnt    *uint32           // 6
	OutputsCnt   *uint32           // 7
	ExtraData    []byte            // 8
	ExtraDataLen *uint32           // 9
}

func (m *TransactionType) appendTo(b []byte) []byte {
	if m.Version != nil {
		b = putVarint(b, 1, uint64(*m.Version))
	}
	for i := range m.Inputs {
		b = putMessage(b, 2, &m.Inputs[i])
	}
	for i := range m.BinOutputs {
		b = putMessage(b, 3, &m.BinOutputs[i])
	}
	if m.LockTime != nil {
		b = putVarint(b, 4, uint64(*m.LockTime))
	}
	for i := range m.Outputs {
		b = putMessage(b, 5, &m.Outputs[i])
	}
	if m.InputsCnt != nil {
		b = putVarint(b, 6, uint64(*m.InputsCnt))
	}
	if m.OutputsCnt != nil {
		b = putVarint(b, 7, uint64(*m.OutputsCnt))
	}
	if m.ExtraData != nil {
		b = putBytes(b, 8, m.ExtraData)
	}
	if m.ExtraDataLen != nil {
		b = putVarint(b, 9, uint64(*m.ExtraDataLen))
	}
	return b
}

// Unmarshal decodes a TransactionType.
func (m *TransactionType) Unmarshal(b []byte) error {
	*m = TransactionType{}
	return walk("TransactionType", b, func(num protowire.Number, typ protowire.Type, b []byte) (n int, err error) {
		var v uint32
		switch num {
		case 1:
			v, n, err = getUint32(typ, b)
			m.Version = &v
		case 2:
			if len(m.Inputs) >= maxRepeated {
				return 0, decodeErr("too many inputs")
			}
			var in TxInputType
			n, err = getMessage(typ, b, &in)
			m.Inputs = append(m.Inputs, in)
		case 3:
			if len(m.BinOutputs) >= maxRepeated {
				return 0, decodeErr("too many outputs")
			}
			var o TxOutputBinType
			n, err = getMessage(typ, b, &o)
			m.BinOutputs = append(m.BinOutputs, o)
		case 4:
			v, n, err = getUint32(typ, b)
			m.LockTime = &v
		case 5:
			if len(m.Outputs) >= maxRepeated {
				return 0, decodeErr("too many outputs")
			}
			var o TxOutputType
			n, err = getMessage(typ, b, &o)
			m.Outputs = append(m.Outputs, o)
		case 6:
			v, n, err = getUint32(typ, b)
			m.InputsCnt = &v
		case 7:
			v, n, err = getUint32(typ, b)
			m.OutputsCnt = &v
		case 8:
			m.ExtraData, n, err = getBytes(typ, b)
		case 9:
			v, n, err = getUint32(typ, b)
			m.ExtraDataLen = &v
		default:
			return -1, nil
		}
		return n, err
	})
}

// TxAck answers a TxRequest.
type TxAck struct {
	Tx *TransactionType // 1
}

func (*TxAck) Type() MessageType { return TypeTxAck }
func (m *TxAck) Marshal() []byte { return m.appendTo(nil) }
func (m *TxAck) appendTo(b []byte) []byte {
	if m.Tx != nil {
		b = putMessage(b, 1, m.Tx)
	}
	return b
}
func (m *TxAck) Unmarshal(b []byte) error {
	*m = TxAck{}
	return walk("TxAck", b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if num == 1 {
			m.Tx = &TransactionType{}
			return getMessage(typ, b, m.Tx)
		}
		return -1, nil
	})
}

// New returns an empty message of type t, or nil for a type this package
// does not know.
func New(t MessageType) Message {
	switch t {
	case TypeInitialize:
		return &Initialize{}
	case TypeSuccess:
		return &Success{}
	case TypeFailure:
		return &Failure{}
	case TypeGetPublicKey:
		return &GetPublicKey{}
	case TypePublicKey:
		return &PublicKey{}
	case TypeSignTx:
		return &SignTx{}
	case TypeFeatures:
		return &Features{}
	case TypePinMatrixRequest:
		return &PinMatrixRequest{}
	case TypePinMatrixAck:
		return &PinMatrixAck{}
	case TypeCancel:
		return &Cancel{}
	case TypeTxRequest:
		return &TxRequest{}
	case TypeTxAck:
		return &TxAck{}
	case TypeButtonRequest:
		return &ButtonRequest{}
	case TypeButtonAck:
		return &ButtonAck{}
	case TypeGetAddress:
		return &GetAddress{}
	case TypeAddress:
		return &Address{}
	case TypePassphraseRequest:
		return &PassphraseRequest{}
	case TypePassphraseAck:
		return &PassphraseAck{}
	case TypeGetFeatures:
		return &GetFeatures{}
	}
	return nil
}

// Marshal encodes the input on its own (used to compare an input sent twice).
func (m *TxInputType) Marshal() []byte { return m.appendTo(nil) }

// Marshal encodes the output on its own.
func (m *TxOutputType) Marshal() []byte { return m.appendTo(nil) }

// Marshal encodes the previous output on its own.
func (m *TxOutputBinType) Marshal() []byte { return m.appendTo(nil) }

// Marshal encodes the transaction data on its own.
func (m *TransactionType) Marshal() []byte { return m.appendTo(nil) }

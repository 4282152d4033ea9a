package bbproto

// btc.proto.

// BTCCoin values.
const (
	CoinBTC  = 0
	CoinTBTC = 1
	CoinRBTC = 4 // regtest
)

// BTCPubRequest.XPubType values.
const (
	XPubTypeTPUB = 0
	XPubTypeXPUB = 1
)

// BTCScriptConfig.Multisig.ScriptType values.
const (
	MultisigP2WSH     = 0
	MultisigP2WSHP2SH = 1
)

// BTCRegisterScriptConfigRequest.XPubType values.
const (
	RegisterXPubAutoElectrum = 0
	RegisterXPubAutoXpubTpub = 1
)

// BTCOutputType values.
const (
	OutputUnknown  = 0
	OutputP2PKH    = 1
	OutputP2SH     = 2
	OutputP2WPKH   = 3
	OutputP2WSH    = 4
	OutputP2TR     = 5
	OutputOpReturn = 6
)

// BTCSignNextResponse.Type values.
const (
	NextInput        = 0
	NextOutput       = 1
	NextDone         = 2
	NextPrevTxInit   = 3
	NextPrevTxInput  = 4
	NextPrevTxOutput = 5
	NextHostNonce    = 6
	NextPaymentReq   = 7
)

// Multisig is BTCScriptConfig.Multisig: account-level xpubs below which
// addresses are derived at m/<change>/<index>; the script always sorts the
// derived keys (firmware multisig.rs, pkscript).
type Multisig struct {
	Threshold    uint32
	Xpubs        []*XPub
	OurXpubIndex uint32
	ScriptType   uint32 // MultisigP2WSH or MultisigP2WSHP2SH
}

func (m *Multisig) marshal() []byte {
	var e enc
	e.uint(1, uint64(m.Threshold))
	for _, x := range m.Xpubs {
		e.bytesAlways(2, x.Marshal())
	}
	e.uint(3, uint64(m.OurXpubIndex))
	e.uint(4, uint64(m.ScriptType))
	return e
}

// Policy is BTCScriptConfig.Policy, a BIP-388 wallet policy.
type Policy struct {
	Policy string
	Keys   []*KeyOriginInfo
}

func (p *Policy) marshal() []byte {
	var e enc
	e.str(1, p.Policy)
	for _, k := range p.Keys {
		e.bytesAlways(2, k.Marshal())
	}
	return e
}

// ScriptConfig is BTCScriptConfig; exactly one of Multisig and Policy is
// set (the simple single-key types are not used by countersign).
type ScriptConfig struct {
	Multisig *Multisig
	Policy   *Policy
}

// Marshal encodes the oneof.
func (s *ScriptConfig) Marshal() []byte {
	var e enc
	switch {
	case s.Multisig != nil:
		e.bytesAlways(2, s.Multisig.marshal())
	case s.Policy != nil:
		e.bytesAlways(3, s.Policy.marshal())
	}
	return e
}

// ScriptConfigWithKeypath is BTCScriptConfigWithKeypath.
type ScriptConfigWithKeypath struct {
	ScriptConfig *ScriptConfig
	Keypath      []uint32 // account-level keypath
}

func (s *ScriptConfigWithKeypath) marshal() []byte {
	var e enc
	if s.ScriptConfig != nil {
		e.bytesAlways(2, s.ScriptConfig.Marshal())
	}
	e.packed(3, s.Keypath)
	return e
}

// BTCPubRequest asks for an xpub (XPubType set) or an address (Script set).
type BTCPubRequest struct {
	Coin     uint32
	Keypath  []uint32
	XPubType uint32        // used when Script is nil
	Script   *ScriptConfig // address of this script config at Keypath
	Display  bool
}

func (r *BTCPubRequest) marshal() []byte {
	var e enc
	e.uint(1, uint64(r.Coin))
	e.packed(2, r.Keypath)
	if r.Script != nil {
		e.bytesAlways(4, r.Script.Marshal())
	} else {
		e.uintAlways(3, uint64(r.XPubType))
	}
	e.boolean(5, r.Display)
	return e
}

// Registration is BTCScriptConfigRegistration.
type Registration struct {
	Coin    uint32
	Script  *ScriptConfig
	Keypath []uint32 // account-level keypath; unused for policies
}

func (r *Registration) marshal() []byte {
	var e enc
	e.uint(1, uint64(r.Coin))
	if r.Script != nil {
		e.bytesAlways(2, r.Script.Marshal())
	}
	e.packed(3, r.Keypath)
	return e
}

// BTCSignInitRequest starts a signing session.
type BTCSignInitRequest struct {
	Coin          uint32
	ScriptConfigs []*ScriptConfigWithKeypath
	Version       uint32
	NumInputs     uint32
	NumOutputs    uint32
	Locktime      uint32
	FormatUnit    uint32
}

func (r *BTCSignInitRequest) marshal() []byte {
	var e enc
	e.uint(1, uint64(r.Coin))
	for _, s := range r.ScriptConfigs {
		e.bytesAlways(2, s.marshal())
	}
	e.uint(4, uint64(r.Version))
	e.uint(5, uint64(r.NumInputs))
	e.uint(6, uint64(r.NumOutputs))
	e.uint(7, uint64(r.Locktime))
	e.uint(8, uint64(r.FormatUnit))
	return e
}

// BTCSignInputRequest describes one input of the transaction being signed.
type BTCSignInputRequest struct {
	PrevOutHash       []byte // 32 bytes, internal byte order (as in the serialized tx)
	PrevOutIndex      uint32
	PrevOutValue      uint64
	Sequence          uint32
	Keypath           []uint32 // full keypath of the device's key
	ScriptConfigIndex uint32
	// HostNonceCommitment starts the anti-klepto exchange for this input
	// (btc.proto host_nonce_commitment = 8, AntiKleptoHostNonceCommitment
	// in antiklepto.proto): 32 bytes, or nil to leave it out.
	HostNonceCommitment []byte
}

func (r *BTCSignInputRequest) marshal() []byte {
	var e enc
	e.bytes(1, r.PrevOutHash)
	e.uint(2, uint64(r.PrevOutIndex))
	e.uint(3, r.PrevOutValue)
	e.uint(4, uint64(r.Sequence))
	e.packed(6, r.Keypath)
	e.uint(7, uint64(r.ScriptConfigIndex))
	if r.HostNonceCommitment != nil {
		var c enc
		c.bytes(1, r.HostNonceCommitment)
		e.bytesAlways(8, c)
	}
	return e
}

// BTCSignOutputRequest describes one output: an outside payload, or one of
// the wallet's own (Ours with Keypath and ScriptConfigIndex).
type BTCSignOutputRequest struct {
	Ours              bool
	Type              uint32 // BTCOutputType, when not Ours
	Value             uint64
	Payload           []byte // hash or program, when not Ours
	Keypath           []uint32
	ScriptConfigIndex uint32
}

func (r *BTCSignOutputRequest) marshal() []byte {
	var e enc
	e.boolean(1, r.Ours)
	e.uint(2, uint64(r.Type))
	e.uint(3, r.Value)
	e.bytes(4, r.Payload)
	e.packed(5, r.Keypath)
	e.uint(6, uint64(r.ScriptConfigIndex))
	return e
}

// BTCSignNextResponse is the device's answer during signing: what it wants
// next, and a signature after an input of the second pass.
type BTCSignNextResponse struct {
	Type         uint32
	Index        uint32
	HasSignature bool
	Signature    []byte // 64 bytes: R || S, big-endian
	PrevIndex    uint32
	// SignerCommitment is the device's anti-klepto commitment (its
	// original nonce point R0, compressed) sent with a HOST_NONCE request
	// (anti_klepto_signer_commitment = 6).
	SignerCommitment []byte
}

// Unmarshal decodes b into n.
func (n *BTCSignNextResponse) Unmarshal(b []byte) error {
	fs, err := parse("BTCSignNextResponse", b)
	if err != nil {
		return err
	}
	*n = BTCSignNextResponse{}
	for _, f := range fs {
		switch f.num {
		case 1:
			n.Type, err = f.u32()
		case 2:
			n.Index, err = f.u32()
		case 3:
			n.HasSignature, err = f.boolean()
		case 4:
			n.Signature, err = f.bytes()
		case 5:
			n.PrevIndex, err = f.u32()
		case 6:
			var sub []byte
			if sub, err = f.bytes(); err == nil {
				n.SignerCommitment, err = singleBytes("AntiKleptoSignerCommitment", sub, 1)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// BTCPrevTxInitRequest starts streaming a previous transaction.
type BTCPrevTxInitRequest struct {
	Version, NumInputs, NumOutputs, Locktime uint32
}

func (r *BTCPrevTxInitRequest) marshal() []byte {
	var e enc
	e.uint(1, uint64(r.Version))
	e.uint(2, uint64(r.NumInputs))
	e.uint(3, uint64(r.NumOutputs))
	e.uint(4, uint64(r.Locktime))
	return e
}

// BTCPrevTxInputRequest is one input of a previous transaction.
type BTCPrevTxInputRequest struct {
	PrevOutHash     []byte
	PrevOutIndex    uint32
	SignatureScript []byte
	Sequence        uint32
}

func (r *BTCPrevTxInputRequest) marshal() []byte {
	var e enc
	e.bytes(1, r.PrevOutHash)
	e.uint(2, uint64(r.PrevOutIndex))
	e.bytes(3, r.SignatureScript)
	e.uint(4, uint64(r.Sequence))
	return e
}

// BTCPrevTxOutputRequest is one output of a previous transaction.
type BTCPrevTxOutputRequest struct {
	Value        uint64
	PubkeyScript []byte
}

func (r *BTCPrevTxOutputRequest) marshal() []byte {
	var e enc
	e.uint(1, r.Value)
	e.bytes(2, r.PubkeyScript)
	return e
}

// BTCIsScriptConfigRegisteredRequest asks whether a config is registered.
type BTCIsScriptConfigRegisteredRequest struct {
	Registration *Registration
}

// BTCRegisterScriptConfigRequest registers a config under a name.
type BTCRegisterScriptConfigRequest struct {
	Registration *Registration
	Name         string
	XPubType     uint32
}

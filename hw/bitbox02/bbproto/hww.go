package bbproto

// hww.proto Request and Response, and the BTCRequest/BTCResponse wrappers
// of btc.proto.

// Request is one API request. Exactly one member is set.
type Request struct {
	DeviceInfo  bool // DeviceInfoRequest (field 4)
	Fingerprint bool // RootFingerprintRequest (field 24)
	BTCPub      *BTCPubRequest
	SignInit    *BTCSignInitRequest
	SignInput   *BTCSignInputRequest
	SignOutput  *BTCSignOutputRequest
	BTC         *BTCRequest
}

// BTCRequest is the btc.proto BTCRequest oneof. Exactly one member is set.
type BTCRequest struct {
	IsRegistered *BTCIsScriptConfigRegisteredRequest
	Register     *BTCRegisterScriptConfigRequest
	PrevTxInit   *BTCPrevTxInitRequest
	PrevTxInput  *BTCPrevTxInputRequest
	PrevTxOutput *BTCPrevTxOutputRequest
	// HostNonce answers a HOST_NONCE request: the nonce the host committed
	// to (antiklepto_signature = 7, AntiKleptoSignatureRequest.host_nonce).
	HostNonce []byte
}

// Marshal encodes the request.
func (r *Request) Marshal() []byte {
	var e enc
	switch {
	case r.DeviceInfo:
		e.bytesAlways(4, nil)
	case r.Fingerprint:
		e.bytesAlways(24, nil)
	case r.BTCPub != nil:
		e.bytesAlways(8, r.BTCPub.marshal())
	case r.SignInit != nil:
		e.bytesAlways(9, r.SignInit.marshal())
	case r.SignInput != nil:
		e.bytesAlways(10, r.SignInput.marshal())
	case r.SignOutput != nil:
		e.bytesAlways(11, r.SignOutput.marshal())
	case r.BTC != nil:
		e.bytesAlways(25, r.BTC.marshal())
	}
	return e
}

func (r *BTCRequest) marshal() []byte {
	var e enc
	switch {
	case r.IsRegistered != nil:
		var m enc
		if r.IsRegistered.Registration != nil {
			m.bytesAlways(1, r.IsRegistered.Registration.marshal())
		}
		e.bytesAlways(1, m)
	case r.Register != nil:
		var m enc
		if r.Register.Registration != nil {
			m.bytesAlways(1, r.Register.Registration.marshal())
		}
		m.str(2, r.Register.Name)
		m.uint(3, uint64(r.Register.XPubType))
		e.bytesAlways(2, m)
	case r.PrevTxInit != nil:
		e.bytesAlways(3, r.PrevTxInit.marshal())
	case r.PrevTxInput != nil:
		e.bytesAlways(4, r.PrevTxInput.marshal())
	case r.PrevTxOutput != nil:
		e.bytesAlways(5, r.PrevTxOutput.marshal())
	case r.HostNonce != nil:
		var m enc
		m.bytes(1, r.HostNonce)
		e.bytesAlways(7, m)
	}
	return e
}

// Response is one API response. Kind names the member that was set (for
// messages about unexpected replies); the matching field holds it.
type Response struct {
	Kind        string
	Error       *Error
	DeviceInfo  *DeviceInfoResponse
	Pub         *PubResponse
	Fingerprint *RootFingerprintResponse
	// SignNext is set whether the device sent it directly (Response field
	// 6) or wrapped in BTCResponse.sign_next: the firmware picks by the
	// kind of the request it answers (signtx.rs, NextResponse.wrap).
	SignNext *BTCSignNextResponse
	// IsRegistered is BTCResponse.is_script_config_registered.
	IsRegistered *bool
}

// Response kinds.
const (
	KindSuccess      = "success"
	KindError        = "error"
	KindDeviceInfo   = "device_info"
	KindPub          = "pub"
	KindSignNext     = "btc_sign_next"
	KindFingerprint  = "fingerprint"
	KindBTCSuccess   = "btc.success"
	KindIsRegistered = "btc.is_script_config_registered"
	KindBTCSignNext  = "btc.sign_next"
	KindBTCOther     = "btc.(other)"
	KindOther        = "(other)"
)

// Unmarshal decodes b into r. A response with no member set, or one
// countersign does not use, decodes with Kind "(other)".
func (r *Response) Unmarshal(b []byte) error {
	fs, err := parse("Response", b)
	if err != nil {
		return err
	}
	*r = Response{Kind: KindOther}
	for _, f := range fs {
		if f.num > 18 || f.num < 1 {
			continue
		}
		v, err := f.bytes()
		if err != nil {
			return err
		}
		*r = Response{Kind: KindOther} // oneof: the last member wins
		switch f.num {
		case 1:
			r.Kind = KindSuccess
		case 2:
			r.Kind, r.Error = KindError, &Error{}
			err = r.Error.unmarshal(v)
		case 4:
			r.Kind, r.DeviceInfo = KindDeviceInfo, &DeviceInfoResponse{}
			err = r.DeviceInfo.Unmarshal(v)
		case 5:
			r.Kind, r.Pub = KindPub, &PubResponse{}
			err = r.Pub.Unmarshal(v)
		case 6:
			r.Kind, r.SignNext = KindSignNext, &BTCSignNextResponse{}
			err = r.SignNext.Unmarshal(v)
		case 12:
			r.Kind, r.Fingerprint = KindFingerprint, &RootFingerprintResponse{}
			err = r.Fingerprint.Unmarshal(v)
		case 13:
			err = r.unmarshalBTC(v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *Response) unmarshalBTC(b []byte) error {
	fs, err := parse("BTCResponse", b)
	if err != nil {
		return err
	}
	r.Kind = KindBTCOther
	for _, f := range fs {
		if f.num < 1 || f.num > 6 {
			continue
		}
		v, err := f.bytes()
		if err != nil {
			return err
		}
		r.SignNext, r.IsRegistered, r.Kind = nil, nil, KindBTCOther
		switch f.num {
		case 1:
			r.Kind = KindBTCSuccess
		case 2:
			fs2, err := parse("BTCIsScriptConfigRegisteredResponse", v)
			if err != nil {
				return err
			}
			reg := false
			for _, g := range fs2 {
				if g.num == 1 {
					if reg, err = g.boolean(); err != nil {
						return err
					}
				}
			}
			r.Kind, r.IsRegistered = KindIsRegistered, &reg
		case 3:
			r.Kind, r.SignNext = KindBTCSignNext, &BTCSignNextResponse{}
			if err := r.SignNext.Unmarshal(v); err != nil {
				return err
			}
		}
	}
	return nil
}

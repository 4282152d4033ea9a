package bbproto

// common.proto and bitbox02_system.proto.

// XPub is an extended public key in parts (common.proto XPub).
type XPub struct {
	Depth             byte
	ParentFingerprint [4]byte
	ChildNum          uint32
	ChainCode         []byte // 32 bytes
	PublicKey         []byte // 33 bytes, compressed
}

// Marshal encodes x. depth is a one-byte bytes field in the schema, so it is
// written even when zero (the firmware reads it as a 1-byte array).
func (x *XPub) Marshal() []byte {
	var e enc
	e.bytesAlways(1, []byte{x.Depth})
	e.bytesAlways(2, x.ParentFingerprint[:])
	e.uint(3, uint64(x.ChildNum))
	e.bytes(4, x.ChainCode)
	e.bytes(5, x.PublicKey)
	return e
}

// Unmarshal decodes b into x.
func (x *XPub) Unmarshal(b []byte) error {
	fs, err := parse("XPub", b)
	if err != nil {
		return err
	}
	*x = XPub{}
	for _, f := range fs {
		switch f.num {
		case 1:
			v, err := f.bytes()
			if err != nil {
				return err
			}
			if len(v) != 1 {
				return decodeErr("XPub.depth of %d bytes", len(v))
			}
			x.Depth = v[0]
		case 2:
			v, err := f.bytes()
			if err != nil {
				return err
			}
			if len(v) != 4 {
				return decodeErr("XPub.parent_fingerprint of %d bytes", len(v))
			}
			copy(x.ParentFingerprint[:], v)
		case 3:
			if x.ChildNum, err = f.u32(); err != nil {
				return err
			}
		case 4:
			if x.ChainCode, err = f.bytes(); err != nil {
				return err
			}
		case 5:
			if x.PublicKey, err = f.bytes(); err != nil {
				return err
			}
		}
	}
	return nil
}

// KeyOriginInfo is a policy key with its origin (common.proto).
type KeyOriginInfo struct {
	RootFingerprint []byte // 4 bytes, or empty when unknown
	Keypath         []uint32
	Xpub            *XPub
}

// Marshal encodes k.
func (k *KeyOriginInfo) Marshal() []byte {
	var e enc
	e.bytes(1, k.RootFingerprint)
	e.packed(2, k.Keypath)
	if k.Xpub != nil {
		e.bytesAlways(3, k.Xpub.Marshal())
	}
	return e
}

// Unmarshal decodes b into k.
func (k *KeyOriginInfo) Unmarshal(b []byte) error {
	fs, err := parse("KeyOriginInfo", b)
	if err != nil {
		return err
	}
	*k = KeyOriginInfo{}
	for _, f := range fs {
		switch f.num {
		case 1:
			if k.RootFingerprint, err = f.bytes(); err != nil {
				return err
			}
		case 2:
			if k.Keypath, err = f.appendU32s(k.Keypath); err != nil {
				return err
			}
		case 3:
			v, err := f.bytes()
			if err != nil {
				return err
			}
			k.Xpub = &XPub{}
			if err := k.Xpub.Unmarshal(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// PubResponse carries an xpub or an address (common.proto).
type PubResponse struct {
	Pub string
}

// Unmarshal decodes b into p.
func (p *PubResponse) Unmarshal(b []byte) error {
	fs, err := parse("PubResponse", b)
	if err != nil {
		return err
	}
	*p = PubResponse{}
	for _, f := range fs {
		if f.num == 1 {
			if p.Pub, err = f.str(); err != nil {
				return err
			}
		}
	}
	return nil
}

// RootFingerprintResponse carries the master key fingerprint (common.proto).
type RootFingerprintResponse struct {
	Fingerprint []byte
}

// Unmarshal decodes b into r.
func (r *RootFingerprintResponse) Unmarshal(b []byte) error {
	fs, err := parse("RootFingerprintResponse", b)
	if err != nil {
		return err
	}
	*r = RootFingerprintResponse{}
	for _, f := range fs {
		if f.num == 1 {
			if r.Fingerprint, err = f.bytes(); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeviceInfoResponse describes the device (bitbox02_system.proto).
type DeviceInfoResponse struct {
	Name                         string
	Initialized                  bool
	Version                      string
	MnemonicPassphraseEnabled    bool
	MonotonicIncrementsRemaining uint32
	SecurechipModel              string
}

// Unmarshal decodes b into d.
func (d *DeviceInfoResponse) Unmarshal(b []byte) error {
	fs, err := parse("DeviceInfoResponse", b)
	if err != nil {
		return err
	}
	*d = DeviceInfoResponse{}
	for _, f := range fs {
		switch f.num {
		case 1:
			d.Name, err = f.str()
		case 2:
			d.Initialized, err = f.boolean()
		case 3:
			d.Version, err = f.str()
		case 4:
			d.MnemonicPassphraseEnabled, err = f.boolean()
		case 5:
			d.MonotonicIncrementsRemaining, err = f.u32()
		case 6:
			d.SecurechipModel, err = f.str()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Error is the device's failure reply (hww.proto Error).
type Error struct {
	Code    int32
	Message string
}

// Error codes the firmware sends (src/rust/bitbox02-rust/src/hww/api/error.rs,
// make_error).
const (
	ErrCodeInvalidInput = 101
	ErrCodeMemory       = 102
	ErrCodeGeneric      = 103
	ErrCodeUserAbort    = 104
	ErrCodeInvalidState = 105
	ErrCodeDisabled     = 106
	ErrCodeDuplicate    = 107
	ErrCodeNoiseEncrypt = 108
	ErrCodeNoiseDecrypt = 109
)

func (e *Error) unmarshal(b []byte) error {
	fs, err := parse("Error", b)
	if err != nil {
		return err
	}
	*e = Error{}
	for _, f := range fs {
		switch f.num {
		case 1:
			e.Code, err = f.i32()
		case 2:
			e.Message, err = f.str()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

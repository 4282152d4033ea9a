package ur

import (
	"bytes"
	"fmt"
)

// psbtMagic starts every BIP-174 PSBT.
var psbtMagic = []byte("psbt\xff")

// EncodePSBT returns the CBOR message of a crypto-psbt (or psbt) UR: the
// raw PSBT as one byte string (BCR-2020-006, "psbt"). Pass it to
// NewEncoder with TypeCryptoPSBT, the type signers read today.
func EncodePSBT(raw []byte) ([]byte, error) {
	if !bytes.HasPrefix(raw, psbtMagic) {
		return nil, fmt.Errorf("%w: not a binary PSBT (no psbt magic)", ErrInvalid)
	}
	return marshal(raw), nil
}

// DecodePSBT returns the raw PSBT carried by a crypto-psbt or psbt UR
// message. Parsing the PSBT itself is the psbt package's job; only the
// magic is checked here.
func DecodePSBT(msg []byte) ([]byte, error) {
	var raw []byte
	if err := decMode.Unmarshal(msg, &raw); err != nil {
		return nil, fmt.Errorf("%w: crypto-psbt message is not a byte string: %v", ErrInvalid, err)
	}
	if !bytes.HasPrefix(raw, psbtMagic) {
		return nil, fmt.Errorf("%w: crypto-psbt does not hold a PSBT (no psbt magic)", ErrInvalid)
	}
	return raw, nil
}

// PSBTFromUR checks the UR type (crypto-psbt or psbt) and returns the raw
// PSBT.
func PSBTFromUR(u UR) ([]byte, error) {
	if u.Type != TypeCryptoPSBT && u.Type != TypePSBT {
		return nil, fmt.Errorf("%w: got ur:%s, want ur:crypto-psbt or ur:psbt", ErrType, u.Type)
	}
	return DecodePSBT(u.CBOR)
}

package bitbox02

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"

	"github.com/flynn/noise"
)

// The encrypted channel: Noise_XX_25519_ChaChaPoly_SHA256 with the app as
// initiator, prologue "Noise_XX_25519_ChaChaPoly_SHA256". Written from
// bitbox02-firmware at commit a3467ad11daee7081cc041ba9217c81e471022e6:
// src/rust/bitbox02-rust/src/hww/noise.rs and src/rust/bitbox-noise/src/
// noise_xx.rs (device), py/bitbox02/bitbox02/communication/
// bitbox_api_protocol.py, _create_noise_channel (host):
//
//	'h'           -> [0]                          start a handshake
//	'H' | msg1    -> [0] | msg2                   -> e / <- e, ee, s, es
//	'H' | msg3    -> [0] | verification_required  -> s, se
//	'v'           -> [0] confirmed / [1] refused  pairing code shown on the device
//	'n' | cipher  -> [0] | cipher / [1]           one API request and its response
//
// The pairing code is the handshake hash in base32, its first 20
// characters in four groups (workflow/pairing.rs, format_hash). Until the
// user confirms it (or the device remembers the app's static key) the
// device refuses 'n' messages.
const (
	opHandshakeStart = 'h'
	opHandshake      = 'H'
	opVerifyPairing  = 'v'
	opNoiseMsg       = 'n'
	opUnlock         = 'u'

	opStatusSuccess = 0
	opStatusFailure = 1
	// opStatusUninitialized answers 'u' on a device without a seed.
	opStatusUninitialized = 2
)

var noisePrologue = []byte("Noise_XX_25519_ChaChaPoly_SHA256")

func cipherSuite() noise.CipherSuite {
	return noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)
}

// channel is an established Noise session.
type channel struct {
	send, recv   *noise.CipherState
	hash         []byte // handshake hash, the pairing code's source
	deviceStatic []byte
	// needsPairing is true until the user confirmed the pairing code, when
	// the device or this host does not know the other side yet.
	needsPairing bool
	// broken is set when a message may have been lost half way: the
	// nonces of both sides may disagree, so the next call starts over.
	broken bool
}

// PairingCode formats a handshake hash as the device shows it: the first
// 20 base32 characters in groups of five, two groups per line.
func PairingCode(hash []byte) string {
	s := base32.StdEncoding.EncodeToString(hash)
	if len(s) < 20 {
		return s
	}
	return s[0:5] + " " + s[5:10] + "\n" + s[10:15] + " " + s[15:20]
}

// appKey returns the app's static keypair, creating and saving one on
// first use.
func appKey(store PairingStore, rnd io.Reader) (noise.DHKey, *Pairings, error) {
	p, err := store.Load()
	if err != nil {
		return noise.DHKey{}, nil, err
	}
	if k := p.AppStaticKey; k != nil {
		return noise.DHKey{Private: k.Private, Public: k.Public}, p, nil
	}
	key, err := noise.DH25519.GenerateKeypair(rnd)
	if err != nil {
		return noise.DHKey{}, nil, err
	}
	p.AppStaticKey = &StaticKey{Private: key.Private, Public: key.Public}
	if err := store.Save(p); err != nil {
		return noise.DHKey{}, nil, err
	}
	return key, p, nil
}

// handshake runs the XX handshake. rnd supplies the ephemeral key (nil:
// crypto/rand); tests pass a fixed one.
func handshake(ctx context.Context, l *link, store PairingStore, rnd io.Reader) (*channel, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	key, known, err := appKey(store, rnd)
	if err != nil {
		return nil, err
	}
	rsp, err := l.query(ctx, []byte{opHandshakeStart}, nil)
	if err != nil {
		return nil, fmt.Errorf("start the handshake: %w", err)
	}
	if len(rsp) != 1 || rsp[0] != opStatusSuccess {
		return nil, fmt.Errorf("the device refused to start a handshake (reply %x)", rsp)
	}
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   cipherSuite(),
		Random:        rnd,
		Pattern:       noise.HandshakeXX,
		Initiator:     true,
		Prologue:      noisePrologue,
		StaticKeypair: key,
	})
	if err != nil {
		return nil, err
	}
	msg1, _, _, err := hs.WriteMessage(nil, nil)
	if err != nil {
		return nil, err
	}
	rsp, err = l.query(ctx, append([]byte{opHandshake}, msg1...), nil)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if len(rsp) < 1 || rsp[0] != opStatusSuccess {
		return nil, errors.New("the device failed the first handshake message")
	}
	if _, _, _, err := hs.ReadMessage(nil, rsp[1:]); err != nil {
		return nil, fmt.Errorf("the device's handshake message does not verify: %w", err)
	}
	msg3, send, recv, err := hs.WriteMessage(nil, nil)
	if err != nil {
		return nil, err
	}
	if send == nil || recv == nil {
		return nil, errors.New("handshake did not complete after three messages")
	}
	ch := &channel{send: send, recv: recv, hash: append([]byte(nil), hs.ChannelBinding()...), deviceStatic: append([]byte(nil), hs.PeerStatic()...)}
	rsp, err = l.query(ctx, append([]byte{opHandshake}, msg3...), nil)
	if err != nil {
		return nil, fmt.Errorf("finish the handshake: %w", err)
	}
	if len(rsp) != 2 || rsp[0] != opStatusSuccess || rsp[1] > 1 {
		return nil, fmt.Errorf("the device failed the last handshake message (reply %x)", rsp)
	}
	// Either side may ask for the pairing code: the device when it does not
	// know our key, we when we do not know the device's.
	ch.needsPairing = rsp[1] == 1 || !known.Knows(ch.deviceStatic)
	return ch, nil
}

// errPairingRefused is the device's answer when the user rejects the code.
var errPairingRefused = errors.New("the pairing was not confirmed on the device")

// confirmPairing shows the pairing code on the device ('v') and waits for
// the user; on success the device's key is remembered.
func (c *channel) confirmPairing(ctx context.Context, l *link, store PairingStore, onWait waitFunc) error {
	rsp, err := l.query(ctx, []byte{opVerifyPairing}, onWait)
	if err != nil {
		return err
	}
	if len(rsp) != 1 {
		return fmt.Errorf("unexpected pairing reply %x", rsp)
	}
	switch rsp[0] {
	case opStatusSuccess:
	case opStatusFailure:
		// The device dropped its side of the session.
		c.broken = true
		return errPairingRefused
	default:
		return fmt.Errorf("unexpected pairing reply %x", rsp)
	}
	c.needsPairing = false
	p, err := store.Load()
	if err != nil {
		return err
	}
	if !p.Knows(c.deviceStatic) {
		p.DeviceStaticPubkeys = append(p.DeviceStaticPubkeys, c.deviceStatic)
		if err := store.Save(p); err != nil {
			return err
		}
	}
	return nil
}

// errNoiseFailed is the device's OP_STATUS_FAILURE for an 'n' message: it
// could not decrypt it, or the channel is not paired.
var errNoiseFailed = errors.New("the device rejected the encrypted message (channel out of step or not paired)")

// call sends one encrypted API request and returns the decrypted response.
func (c *channel) call(ctx context.Context, l *link, req []byte, onWait waitFunc) ([]byte, error) {
	ct, err := c.send.Encrypt(nil, nil, req)
	if err != nil {
		c.broken = true
		return nil, err
	}
	// From here on, the nonces move in step only if the exchange
	// completes.
	c.broken = true
	l.stats.APICalls++
	rsp, err := l.query(ctx, append([]byte{opNoiseMsg}, ct...), onWait)
	if err != nil {
		return nil, err
	}
	if len(rsp) < 1 || rsp[0] != opStatusSuccess {
		return nil, errNoiseFailed
	}
	pt, err := c.recv.Decrypt(nil, nil, rsp[1:])
	if err != nil {
		return nil, fmt.Errorf("the device's reply does not decrypt: %w", err)
	}
	c.broken = false
	return pt, nil
}

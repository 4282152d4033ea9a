#!/usr/bin/env python3
"""Generate noise_golden.json: a Noise_XX_25519_ChaChaPoly_SHA256 handshake
with fixed keys, computed from the Noise specification (revision 34,
sections 4-7 and the XX pattern) with the primitives of the Python
`cryptography` package (Debian: python3-cryptography), independently of
github.com/flynn/noise, which countersign's driver and emulator use.

The prologue is the protocol name, as the BitBox02 firmware and its host
library set it (bitbox-noise noise_xx.rs; bitbox_api_protocol.py).

Run: python3 noise_golden.py > noise_golden.json
"""
import hashlib
import hmac
import json

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

NAME = b"Noise_XX_25519_ChaChaPoly_SHA256"
PROLOGUE = NAME


def pub(priv):
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def dh(priv, peer):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    return X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(peer))


def H(data):
    return hashlib.sha256(data).digest()


def hkdf(ck, ikm, n):
    temp = hmac.new(ck, ikm, hashlib.sha256).digest()
    out1 = hmac.new(temp, b"\x01", hashlib.sha256).digest()
    out2 = hmac.new(temp, out1 + b"\x02", hashlib.sha256).digest()
    return (out1, out2)


class Cipher:
    def __init__(self, k):
        self.k, self.n = k, 0

    def enc(self, ad, pt):
        if self.k is None:
            return pt
        nonce = b"\x00" * 4 + self.n.to_bytes(8, "little")
        self.n += 1
        return ChaCha20Poly1305(self.k).encrypt(nonce, pt, ad)

    def dec(self, ad, ct):
        if self.k is None:
            return ct
        nonce = b"\x00" * 4 + self.n.to_bytes(8, "little")
        self.n += 1
        return ChaCha20Poly1305(self.k).decrypt(nonce, ct, ad)


class Symmetric:
    def __init__(self):
        self.h = NAME if len(NAME) == 32 else H(NAME)
        self.ck = self.h
        self.c = Cipher(None)
        self.mix_hash(PROLOGUE)

    def mix_hash(self, d):
        self.h = H(self.h + d)

    def mix_key(self, ikm):
        self.ck, k = hkdf(self.ck, ikm, 2)
        self.c = Cipher(k)

    def enc_hash(self, pt):
        ct = self.c.enc(self.h, pt)
        self.mix_hash(ct)
        return ct

    def dec_hash(self, ct):
        pt = self.c.dec(self.h, ct)
        self.mix_hash(ct)
        return pt

    def split(self):
        k1, k2 = hkdf(self.ck, b"", 2)
        return Cipher(k1), Cipher(k2)


def main():
    host_s = bytes([0x11] * 32)
    host_e = bytes([0x22] * 32)
    dev_s = bytes([0x33] * 32)
    dev_e = bytes([0x44] * 32)
    i, r = Symmetric(), Symmetric()
    # -> e
    msg1 = pub(host_e)
    i.mix_hash(pub(host_e))
    msg1 += i.enc_hash(b"")
    r.mix_hash(msg1[:32])
    r.dec_hash(msg1[32:])
    # <- e, ee, s, es
    msg2 = pub(dev_e)
    r.mix_hash(pub(dev_e))
    r.mix_key(dh(dev_e, pub(host_e)))
    msg2 += r.enc_hash(pub(dev_s))
    r.mix_key(dh(dev_s, pub(host_e)))
    msg2 += r.enc_hash(b"")
    i.mix_hash(msg2[:32])
    i.mix_key(dh(host_e, msg2[:32]))
    rs = i.dec_hash(msg2[32:80])
    i.mix_key(dh(host_e, rs))
    i.dec_hash(msg2[80:])
    # -> s, se
    msg3 = i.enc_hash(pub(host_s))
    i.mix_key(dh(host_s, pub(dev_e)))
    msg3 += i.enc_hash(b"")
    hs = r.dec_hash(msg3[:48])
    r.mix_key(dh(dev_e, hs))
    r.dec_hash(msg3[48:])
    assert i.h == r.h
    i_send, i_recv = i.split()
    request = bytes.fromhex("c20100")  # hww.proto Request{fingerprint: {}}
    ct = i_send.enc(b"", request)
    print(json.dumps({
        "source": "noise_golden.py: the Noise specification with python3-cryptography",
        "host_static_private": host_s.hex(),
        "host_ephemeral_private": host_e.hex(),
        "device_static_private": dev_s.hex(),
        "device_ephemeral_private": dev_e.hex(),
        "host_static_public": pub(host_s).hex(),
        "device_static_public": pub(dev_s).hex(),
        "msg1": msg1.hex(),
        "msg2": msg2.hex(),
        "msg3": msg3.hex(),
        "handshake_hash": i.h.hex(),
        "first_request_plaintext": request.hex(),
        "first_request_ciphertext": ct.hex(),
    }, indent=2))


if __name__ == "__main__":
    main()

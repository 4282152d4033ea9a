"""Sign a transaction with trezorlib's btc.sign_tx (the vendor's host library).

Used by hw/trezor's interop test: it reads a JSON request on stdin (device
path, coin, inputs, outputs, previous transactions, all built by the Go test
from a PSBT) and prints {"signatures": [hex DER, ...]} on stdout. Written for
Debian's python3-trezor (trezorlib 0.12), which sends the legacy TxAck.
"""

import json
import sys

from trezorlib import btc, messages
from trezorlib.client import TrezorClient
from trezorlib.transport import get_transport


class UI:
    """No human here: buttons are the emulator's business, and the test
    device has no PIN or passphrase."""

    def button_request(self, code):
        pass

    def get_pin(self, code=None):
        raise RuntimeError("the test device should not ask for a PIN")

    def get_passphrase(self, available_on_device=False):
        raise RuntimeError("the test device should not ask for a passphrase")


def node(d):
    return messages.HDNodeType(
        depth=d["depth"],
        fingerprint=d["fingerprint"],
        child_num=d["child_num"],
        chain_code=bytes.fromhex(d["chain_code"]),
        public_key=bytes.fromhex(d["public_key"]),
    )


def multisig(m):
    if m is None:
        return None
    return messages.MultisigRedeemScriptType(
        pubkeys=[
            messages.HDNodePathType(node=node(p["node"]), address_n=p["address_n"])
            for p in m["pubkeys"]
        ],
        signatures=[b""] * len(m["pubkeys"]),
        m=m["m"],
    )


def main():
    req = json.load(sys.stdin)
    client = TrezorClient(get_transport(req["path"]), ui=UI())
    inputs = [
        messages.TxInputType(
            address_n=i["address_n"],
            prev_hash=bytes.fromhex(i["prev_hash"]),
            prev_index=i["prev_index"],
            amount=i["amount"],
            sequence=i["sequence"],
            script_type=i["script_type"],
            multisig=multisig(i["multisig"]),
        )
        for i in req["inputs"]
    ]
    outputs = []
    for o in req["outputs"]:
        if o.get("address"):
            outputs.append(
                messages.TxOutputType(
                    address=o["address"], amount=o["amount"], script_type=o["script_type"]
                )
            )
        else:
            outputs.append(
                messages.TxOutputType(
                    address_n=o["address_n"],
                    amount=o["amount"],
                    script_type=o["script_type"],
                    multisig=multisig(o["multisig"]),
                )
            )
    prev_txes = {}
    for txid, t in req["prev_txes"].items():
        prev_txes[bytes.fromhex(txid)] = messages.TransactionType(
            version=t["version"],
            lock_time=t["lock_time"],
            inputs=[
                messages.TxInputType(
                    prev_hash=bytes.fromhex(i["prev_hash"]),
                    prev_index=i["prev_index"],
                    script_sig=bytes.fromhex(i["script_sig"]),
                    sequence=i["sequence"],
                )
                for i in t["inputs"]
            ],
            bin_outputs=[
                messages.TxOutputBinType(
                    amount=o["amount"], script_pubkey=bytes.fromhex(o["script_pubkey"])
                )
                for o in t["bin_outputs"]
            ],
        )
    details = messages.SignTx(version=req["version"], lock_time=req["lock_time"])
    signatures, _ = btc.sign_tx(
        client, req["coin"], inputs, outputs, details=details, prev_txes=prev_txes
    )
    json.dump({"signatures": [s.hex() for s in signatures]}, sys.stdout)


if __name__ == "__main__":
    main()

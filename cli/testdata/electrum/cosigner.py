#!/usr/bin/python3
"""An Electrum multisig cosigner set up the way Electrum sets one up.

Used by TestElectrumDefaultSetup* (cli/electrum_default_regtest_test.go).
Runs fully offline with Debian's python3-electrum (4.3.x): it never creates
a Network or a Daemon.

Electrum's install wizard builds a multisig wallet from this cosigner's own
seed (so its own keystore knows its root fingerprint and derivation path)
and the other cosigners' master public keys as the user types or pastes
them: a SLIP-132 Vpub/Zpub string and nothing else. Electrum does not know
those cosigners' key origins, so in the PSBTs it writes their BIP-32
derivations are rooted at the typed xpub itself ([fingerprint of the
xpub]/0/5) and their global xpub records claim a master key. This script
writes such a wallet file (encrypted, as the wizard does), loads it back
and then either

  sign    signs a PSBT with wallet.sign_transaction (what Electrum's GUI
          and its signtransaction command do) and writes the result, or
  create  builds an unsigned PSBT from coins and payments the way Electrum's
          send tab does: make_unsigned_transaction picks the change address
          from Electrum's own wallet, sorts inputs and outputs (BIP-69) and
          adds what Electrum knows (no previous transactions offline).

Key arguments: --own-xprv-file holds [fp/path]tprv (the cosigner's account
key, as its seed and the wizard's derivation give it); --xpub is a typed
master public key (repeat). A JSON report goes to --report.
Exit codes: 0 done, 2 bad usage or input, 3 Electrum did not sign.
"""

import argparse
import base64
import json
import os
import re
import sys
import tempfile

try:
    from electrum import constants, keystore, util
    from electrum.bip32 import BIP32Node
    from electrum.simple_config import SimpleConfig
    from electrum.storage import WalletStorage
    from electrum.transaction import PartialTransaction, PartialTxInput, PartialTxOutput, TxOutpoint, tx_from_any
    from electrum.version import ELECTRUM_VERSION
    from electrum.wallet import Multisig_Wallet, Wallet
    from electrum.wallet_db import WalletDB
except ImportError as e:  # the Go test checks for this before running us
    print(f"electrum library not importable: {e}", file=sys.stderr)
    sys.exit(2)

XTYPES = {"wsh": "p2wsh", "sh-wsh": "p2wsh-p2sh", "sh": "standard"}
WALLET_PASSWORD = "countersign interop"
KEY_EXPR = re.compile(r"^\[([0-9a-fA-F]{8})((?:/[0-9]+['h]?)*)\]([1-9A-HJ-NP-Za-km-z]+)$")


class Usage(Exception):
    pass


def own_keystore(expr, xtype):
    """The cosigner's own keystore: from its seed, so Electrum knows its origin."""
    m = KEY_EXPR.match(expr.strip())
    if not m:
        raise Usage("--own-xprv-file: not [fp/path]tprv...")
    fp, path, xkey = m.group(1).lower(), "m" + m.group(2), m.group(3)
    node = BIP32Node.from_xkey(xkey)._replace(xtype=xtype)
    ks = keystore.from_xprv(node.to_xprv())
    ks.add_key_origin(derivation_prefix=path, root_fingerprint=fp)
    return ks


def typed_keystore(xpub, xtype):
    """A cosigner's keystore from a typed master public key: no origin."""
    node = BIP32Node.from_xkey(xpub.strip())
    if node.xtype != xtype:
        raise Usage(f"typed key is a {node.xtype} key; an Electrum {xtype} multisig wallet needs a {xtype} key (a Vpub/Zpub)")
    ks = keystore.from_master_key(xpub.strip())
    if ks.get_root_fingerprint() is not None or ks.get_derivation_prefix() is not None:
        raise Usage("Electrum gave a typed key an origin; this script assumes it does not")
    return ks


def load_wallet(wallet_dir, m, keystores, config):
    path = os.path.join(wallet_dir, "electrum-cosigner")
    db = WalletDB("", manual_upgrades=False)
    db.put("wallet_type", "%dof%d" % (m, len(keystores)))
    for i, ks in enumerate(keystores):
        db.put("x%d/" % (i + 1), ks.dump())
    wallet = Wallet(db, WalletStorage(path), config=config)
    wallet.update_password(old_pw=None, new_pw=WALLET_PASSWORD, encrypt_storage=True)
    wallet.save_db()
    del wallet
    storage = WalletStorage(path)
    storage.decrypt(WALLET_PASSWORD)
    db = WalletDB(storage.read(), manual_upgrades=True)
    if db.requires_upgrade():
        db.upgrade()
    wallet = Wallet(db, storage, config=config)
    if not isinstance(wallet, Multisig_Wallet):
        raise Usage(f"Electrum loaded a {type(wallet).__name__}, want a multisig wallet")
    return wallet


def path_str(fp, path):
    s = fp.hex()
    for c in path:
        s += "/%d%s" % (c & 0x7FFFFFFF, "h" if c & 0x80000000 else "")
    return s


def derivations(bip32_paths):
    return {pk.hex(): path_str(fp, path) for pk, (fp, path) in bip32_paths.items()}


def write_psbt(tx, path):
    with open(path, "w") as f:
        f.write(base64.b64encode(tx.serialize_as_bytes(force_psbt=True)).decode("ascii") + "\n")


def do_sign(args, wallet, own):
    with open(args.inp, "rb") as f:
        raw = f.read()
    if raw.startswith(b"psbt\xff"):
        raw = base64.b64encode(raw)
    tx = tx_from_any(raw.decode("ascii").strip())
    if not isinstance(tx, PartialTransaction):
        raise Usage("input is not a PSBT")
    before = [dict(txin.part_sigs) for txin in tx.inputs()]
    wallet.sign_transaction(tx, WALLET_PASSWORD)
    inputs, problems = [], []
    for i, txin in enumerate(tx.inputs()):
        new = {pk: sig for pk, sig in txin.part_sigs.items() if pk not in before[i]}
        d = derivations(txin.bip32_paths)
        inputs.append({"prevout": txin.prevout.to_str(), "new_signatures": [{"pubkey": pk.hex(), "origin": d.get(pk.hex())} for pk in sorted(new)],
                       "derivations": d})
        if len(new) != 1:
            problems.append(f"input {i}: Electrum added {len(new)} signatures, want 1")
    report = {"electrum_version": ELECTRUM_VERSION, "inputs": inputs, "problems": problems, "complete": tx.is_complete(),
              "global_xpubs": {node.to_xpub(): path_str(fp, p) for node, (fp, p) in tx.xpubs.items()}}
    if problems:
        return report, 3
    write_psbt(tx, args.out)
    return report, 0


def do_create(args, wallet):
    with open(args.spec) as f:
        spec = json.load(f)
    coins = []
    for c in spec["inputs"]:
        txin = PartialTxInput(prevout=TxOutpoint.from_str("%s:%d" % (c["txid"], c["vout"])))
        txin._trusted_value_sats = c["value"]
        txin._trusted_address = c["address"]
        coins.append(txin)
    outputs = [PartialTxOutput.from_address_and_value(o["address"], o["value"]) for o in spec["outputs"]]
    tx = wallet.make_unsigned_transaction(coins=coins, outputs=outputs, fee=spec["fee"], rbf=True)
    tx.add_info_from_wallet(wallet, include_xpubs=True)
    write_psbt(tx, args.out)
    report = {"electrum_version": ELECTRUM_VERSION, "txid": tx.txid(), "fee": tx.get_fee(),
              "inputs": [{"prevout": i.prevout.to_str(), "derivations": derivations(i.bip32_paths), "has_utxo": i.utxo is not None,
                          "has_witness_utxo": i.witness_utxo is not None} for i in tx.inputs()],
              "outputs": [{"address": o.address, "value": o.value, "is_change": o.is_change} for o in tx.outputs()]}
    return report, 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["sign", "create"])
    ap.add_argument("--threshold", "-m", type=int, required=True)
    ap.add_argument("--script", choices=sorted(XTYPES), default="wsh")
    ap.add_argument("--own-xprv-file", required=True)
    ap.add_argument("--xpub", action="append", default=[], help="a typed master public key (repeat)")
    ap.add_argument("--in", dest="inp", help="sign: the PSBT to sign")
    ap.add_argument("--spec", help="create: JSON with inputs [{txid, vout, value, address}], outputs [{address, value}], fee")
    ap.add_argument("--out", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--wallet-dir", required=True)
    args = ap.parse_args()
    constants.set_regtest()
    xtype = XTYPES[args.script]
    with tempfile.TemporaryDirectory(prefix="electrum-cosigner-") as tmp:
        config = SimpleConfig({"electrum_path": os.path.join(tmp, "electrum"), "regtest": True,
                               "offline": True, "auto_connect": False, "oneserver": True})
        with open(args.own_xprv_file) as f:
            own = own_keystore(f.read(), xtype)
        keystores = [own] + [typed_keystore(x, xtype) for x in args.xpub]
        wallet = load_wallet(args.wallet_dir, args.threshold, keystores, config)
        if args.command == "sign":
            if not args.inp:
                raise Usage("sign needs --in")
            report, code = do_sign(args, wallet, own)
        else:
            if not args.spec:
                raise Usage("create needs --spec")
            report, code = do_create(args, wallet)
        report["receive_addresses"] = wallet.get_receiving_addresses()[:3]
        with open(args.report, "w") as f:
            f.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
        return code


def run():
    loop, stop_loop, loop_thread = util.create_and_start_event_loop()
    try:
        return main()
    except Usage as e:
        print(f"cosigner.py: {e}", file=sys.stderr)
        return 2
    finally:
        loop.call_soon_threadsafe(stop_loop.set_result, 1)
        loop_thread.join(timeout=10)


if __name__ == "__main__":
    sys.exit(run())

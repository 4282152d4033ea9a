#!/usr/bin/python3
"""Sign a countersign PSBT as one cosigner of an Electrum multisig wallet.

Used by TestElectrumCosigner (cli/electrum_interop_test.go). Runs fully
offline with Debian's python3-electrum (4.3.x): it never creates a Network
or a Daemon, and the config says offline.

Electrum has no command line for multisig wallet files, so this script
writes one the way Electrum's install wizard does (wallet_type "MofN",
keystores x1/ .. xN/, x1/ being the cosigner that holds a private key,
password-encrypted), saves it in --wallet-dir, loads it back from disk,
and then:

 1. audits the PSBT: every field Electrum itself would put in a PSBT for
    this wallet (global xpubs with key origins, each input's witness/redeem
    script and all cosigners' BIP-32 derivations, the same for change
    outputs, and the UTXOs) must be present and equal in the given PSBT;
    each difference is listed in the report's "problems". The reference is
    an in-memory Electrum wallet with the default gap limit (20);
 2. signs with wallet.sign_transaction(tx, password) (what Electrum's GUI
    and its `signtransaction` command do) on the wallet file, whose gap
    limit --gap-limit can lower so that inputs beyond it are found only
    through the PSBT's BIP-32 derivations (report: known_before_signing);
 3. checks that exactly this cosigner's key signed each input, writes the
    partially signed PSBT (base64) and a JSON report.

Key expressions use descriptor syntax: [fingerprint/48h/1h/0h/2h]tprv...
or ...tpub.... Exit codes: 0 signed, 2 bad usage or input, 3 the PSBT
lacks something Electrum needs (--strict) or Electrum did not sign.
"""

import argparse
import base64
import copy
import json
import os
import re
import sys
import tempfile

try:
    import electrum
    from electrum import constants, keystore, util
    from electrum.bip32 import BIP32Node, convert_bip32_path_to_list_of_uint32
    from electrum.simple_config import SimpleConfig
    from electrum.storage import WalletStorage
    from electrum.transaction import PartialTransaction, tx_from_any
    from electrum.version import ELECTRUM_VERSION
    from electrum.wallet import Multisig_Wallet, Wallet
    from electrum.wallet_db import WalletDB
except ImportError as e:  # the Go test checks for this before running us
    print(f"electrum library not importable: {e}", file=sys.stderr)
    sys.exit(2)

# Electrum's xtype for each countersign script type (Electrum multisig
# keystores carry the script type in their xpub version bytes).
XTYPES = {"wsh": "p2wsh", "sh-wsh": "p2wsh-p2sh", "sh": "standard"}

# The throwaway wallet file's password (test keys only).
WALLET_PASSWORD = "countersign interop"

KEY_EXPR = re.compile(r"^\[([0-9a-fA-F]{8})((?:/[0-9]+['h]?)*)\]([1-9A-HJ-NP-Za-km-z]+)$")


class Usage(Exception):
    pass


def parse_key_expr(expr, xtype):
    """[fp/path]xkey -> (xkey re-encoded with Electrum's xtype, fp, path)."""
    m = KEY_EXPR.match(expr.strip())
    if not m:
        raise Usage(f"not a key expression with origin: {expr[:30]}...")
    fp, path, xkey = m.group(1).lower(), "m" + m.group(2), m.group(3)
    node = BIP32Node.from_xkey(xkey)
    node = node._replace(xtype=xtype)
    xkey = node.to_xprv() if node.is_private() else node.to_xpub()
    return xkey, fp, path


def make_keystore(expr, xtype):
    xkey, fp, path = parse_key_expr(expr, xtype)
    ks = keystore.from_xprv(xkey) if keystore.is_xprv(xkey) else keystore.from_xpub(xkey)
    # Raises if the origin contradicts the key (depth, child number).
    ks.add_key_origin(derivation_prefix=path, root_fingerprint=fp)
    return ks


def new_db(m, keystores, gap_limit):
    """A wallet database as Electrum's install wizard writes it."""
    db = WalletDB("", manual_upgrades=False)
    db.put("wallet_type", "%dof%d" % (m, len(keystores)))
    for i, ks in enumerate(keystores):
        db.put("x%d/" % (i + 1), ks.dump())
    if gap_limit is not None:
        db.put("gap_limit", gap_limit)
    return db


def build_wallet(wallet_dir, m, keystores, gap_limit, config):
    """Writes the wallet file, then loads it back as Electrum would."""
    path = os.path.join(wallet_dir, "countersign-cosigner")
    storage = WalletStorage(path)
    if storage.file_exists():
        raise Usage(f"wallet file already exists: {path}")
    wallet = Wallet(new_db(m, keystores, gap_limit), storage, config=config)
    # As the wizard does with a password: keystore and file encrypted.
    wallet.update_password(old_pw=None, new_pw=WALLET_PASSWORD, encrypt_storage=True)
    wallet.save_db()
    del wallet

    storage = WalletStorage(path)
    if not storage.is_encrypted():
        raise Usage(f"Electrum wrote an unencrypted wallet file: {path}")
    storage.decrypt(WALLET_PASSWORD)
    db = WalletDB(storage.read(), manual_upgrades=True)
    if db.requires_upgrade():
        db.upgrade()
    wallet = Wallet(db, storage, config=config)
    if not isinstance(wallet, Multisig_Wallet):
        raise Usage(f"Electrum loaded a {type(wallet).__name__}, want a multisig wallet")
    return wallet, path


def path_str(fp, path):
    s = fp.hex()
    for c in path:
        s += "/%d%s" % (c & 0x7FFFFFFF, "h" if c & 0x80000000 else "")
    return s


def derivations(bip32_paths):
    return {pk.hex(): path_str(fp, path) for pk, (fp, path) in bip32_paths.items()}


def global_xpubs(tx):
    return {node.to_xpub(): path_str(fp, path) for node, (fp, path) in tx.xpubs.items()}


def hexof(b):
    return b.hex() if b else None


def audit(tx, wallet):
    """Compares tx with what Electrum would write for this wallet."""
    problems = []
    ref = copy.deepcopy(tx)
    ref.xpubs.clear()
    for txio in list(ref.inputs()) + list(ref.outputs()):
        txio.bip32_paths.clear()
        txio.redeem_script = None
        txio.witness_script = None
    ref.add_info_from_wallet(wallet, include_xpubs=True)

    got, want = global_xpubs(tx), global_xpubs(ref)
    for x, origin in sorted(want.items()):
        if x not in got:
            problems.append(f"global: no PSBT_GLOBAL_XPUB for {x} [{origin}]")
        elif got[x] != origin:
            problems.append(f"global: xpub {x} has origin [{got[x]}], Electrum expects [{origin}]")
    for x in sorted(set(got) - set(want)):
        problems.append(f"global: xpub {x} [{got[x]}] is not one of the wallet's keystores")

    for i, (a, b) in enumerate(zip(tx.inputs(), ref.inputs())):
        where = f"input {i} ({a.prevout.to_str()})"
        if not wallet.is_mine(b.address):
            problems.append(f"{where}: address {b.address} is not in the Electrum wallet")
            continue
        if a.witness_utxo is None and a.is_segwit():
            problems.append(f"{where}: no PSBT_IN_WITNESS_UTXO")
        if a.utxo is None:
            problems.append(f"{where}: no PSBT_IN_NON_WITNESS_UTXO")
        for name in ("redeem_script", "witness_script"):
            if hexof(getattr(a, name)) != hexof(getattr(b, name)):
                problems.append(f"{where}: {name} is {hexof(getattr(a, name))}, Electrum expects {hexof(getattr(b, name))}")
        problems += compare_paths(where, a.bip32_paths, b.bip32_paths)

    outputs = []
    for i, (a, b) in enumerate(zip(tx.outputs(), ref.outputs())):
        where = f"output {i} ({b.address})"
        outputs.append({"address": b.address, "value": b.value, "is_mine": b.is_mine, "is_change": b.is_change})
        if not b.is_mine:
            if a.bip32_paths:
                problems.append(f"{where}: not in the Electrum wallet but carries derivations {derivations(a.bip32_paths)}")
            continue
        for name in ("redeem_script", "witness_script"):
            if hexof(getattr(a, name)) != hexof(getattr(b, name)):
                problems.append(f"{where}: {name} is {hexof(getattr(a, name))}, Electrum expects {hexof(getattr(b, name))}")
        problems += compare_paths(where, a.bip32_paths, b.bip32_paths)
    return problems, outputs


def compare_paths(where, got, want):
    problems = []
    got, want = derivations(got), derivations(want)
    for pk, origin in sorted(want.items()):
        if pk not in got:
            problems.append(f"{where}: no PSBT BIP-32 derivation for {pk} (Electrum expects [{origin}])")
        elif got[pk] != origin:
            problems.append(f"{where}: derivation of {pk} is [{got[pk]}], Electrum expects [{origin}]")
    for pk in sorted(set(got) - set(want)):
        problems.append(f"{where}: derivation for a key not in the script: {pk} [{got[pk]}]")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threshold", "-m", type=int, required=True)
    ap.add_argument("--script", choices=sorted(XTYPES), default="wsh")
    ap.add_argument("--xprv-file", required=True, help="file holding [fp/path]tprv... of this cosigner")
    ap.add_argument("--xpub", action="append", default=[], help="[fp/path]tpub... of another cosigner (repeat)")
    ap.add_argument("--in", dest="inp", required=True, help="PSBT to sign (base64, or raw binary)")
    ap.add_argument("--out", required=True, help="where to write the signed PSBT (base64)")
    ap.add_argument("--report", help="where to write the JSON report (default stdout)")
    ap.add_argument("--wallet-dir", help="where the Electrum wallet file is written (default: a temp dir)")
    ap.add_argument("--gap-limit", type=int,
                    help="gap limit of the signing wallet (default Electrum's, 20); with 1 it derives only "
                         "receive address 0, so inputs on later addresses are recognised only from the "
                         "PSBT's BIP-32 derivations")
    ap.add_argument("--strict", action="store_true", help="refuse to sign if the PSBT lacks anything Electrum writes")
    args = ap.parse_args()

    constants.set_regtest()
    xtype = XTYPES[args.script]

    with tempfile.TemporaryDirectory(prefix="electrum-cosigner-") as tmp:
        wallet_dir = args.wallet_dir or tmp
        config = SimpleConfig({"electrum_path": os.path.join(tmp, "electrum"), "regtest": True,
                               "offline": True, "auto_connect": False, "oneserver": True})
        with open(args.xprv_file) as f:
            own = make_keystore(f.read(), xtype)
        if own.is_watching_only():
            raise Usage("--xprv-file holds no private key")
        keystores = [own] + [make_keystore(x, xtype) for x in args.xpub]
        if not 1 <= args.threshold <= len(keystores):
            raise Usage(f"threshold {args.threshold} of {len(keystores)} keys")
        wallet, wallet_path = build_wallet(wallet_dir, args.threshold, keystores, args.gap_limit, config)
        # The audit compares with what a default Electrum wallet (gap limit
        # 20, in memory) would write; signing uses the wallet file.
        auditor = Wallet(new_db(args.threshold, keystores, None), None, config=config)

        with open(args.inp, "rb") as f:
            raw = f.read()
        if raw.startswith(b"psbt\xff"):
            raw = base64.b64encode(raw)
        tx = tx_from_any(raw.decode("ascii").strip())
        if not isinstance(tx, PartialTransaction):
            raise Usage("input is not a PSBT")

        problems, outputs = audit(tx, auditor)
        report = {
            "electrum_version": ELECTRUM_VERSION,
            "wallet_file": wallet_path if args.wallet_dir else None,
            "wallet_type": wallet.wallet_type,
            "txin_type": wallet.txin_type,
            "receive_addresses": auditor.get_receiving_addresses()[:5],
            "change_addresses": auditor.get_change_addresses()[:5],
            "signer_gap_limit": wallet.gap_limit,
            "signer_receive_addresses": len(wallet.get_receiving_addresses()),
            "fee": tx.get_fee(),
            "outputs": outputs,
            "problems": problems,
        }
        if problems and args.strict:
            emit(report, args.report)
            for p in problems:
                print("electrum: " + p, file=sys.stderr)
            return 3

        before = [dict(txin.part_sigs) for txin in tx.inputs()]
        known = [wallet.is_mine(txin.address) for txin in tx.inputs()]
        wallet.sign_transaction(tx, WALLET_PASSWORD)
        inputs = []
        for i, txin in enumerate(tx.inputs()):
            new = {pk: sig for pk, sig in txin.part_sigs.items() if pk not in before[i]}
            d = derivations(txin.bip32_paths)
            inputs.append({
                "prevout": txin.prevout.to_str(),
                "address": txin.address,
                # False: Electrum learnt this input only from the PSBT.
                "known_before_signing": known[i],
                "new_signatures": [{"pubkey": pk.hex(), "origin": d.get(pk.hex())} for pk in sorted(new)],
            })
        report["inputs"] = inputs
        report["complete"] = tx.is_complete()

        bad = []
        for i, inp in enumerate(inputs):
            sigs = inp["new_signatures"]
            if len(sigs) != 1:
                bad.append(f"input {i}: Electrum added {len(sigs)} signatures, want 1")
                continue
            want = own.get_root_fingerprint()
            if sigs[0]["origin"] is None or not sigs[0]["origin"].startswith(want + "/"):
                bad.append(f"input {i}: signature by {sigs[0]['pubkey']} [{sigs[0]['origin']}], not by cosigner {want}")
        report["signing_problems"] = bad
        emit(report, args.report)
        if bad:
            for p in bad:
                print("electrum: " + p, file=sys.stderr)
            return 3

        out = base64.b64encode(tx.serialize_as_bytes()).decode("ascii")
        with open(args.out, "w") as f:
            f.write(out + "\n")
    return 0


def emit(report, path):
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    if path:
        with open(path, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def run():
    # Electrum's wallet code posts callbacks to its event loop even offline
    # (as Electrum itself does at startup); no network is ever started.
    loop, stop_loop, loop_thread = util.create_and_start_event_loop()
    try:
        return main()
    except Usage as e:
        print(f"sign.py: {e}", file=sys.stderr)
        return 2
    finally:
        loop.call_soon_threadsafe(stop_loop.set_result, 1)
        loop_thread.join(timeout=10)


if __name__ == "__main__":
    sys.exit(run())

// Cross-check peer for spending wsh(MINISCRIPT) (psbt/miniscript_js_test.go).
// Reads a JSON array on stdin; for each case it builds its own PSBT with
// @bitcoinerlab/descriptors spending one coin of a single-branch
// descriptor at an index, with the signers named (signersPubKeys choose the
// spending path, as the library's satisfier does), signs with the given
// BIP-32 master keys, finalizes, and prints the final transaction with the
// nSequence and nLockTime the library chose.
// Case: {descriptor, index, network, prevTx, vout, address, value, lockTime,
// signers: [hex pubkey], masters: [xprv]}.
'use strict';
const { Output, Psbt, networks, ecc, signers } = require('@bitcoinerlab/descriptors');
const { BIP32Factory } = require('bip32');

const BIP32 = BIP32Factory(ecc);
const nets = { mainnet: networks.bitcoin, testnet: networks.testnet, signet: networks.testnet, regtest: networks.regtest };

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((c) => {
    const r = {};
    try {
      const network = nets[c.network];
      // bip32's derivePath (which signBIP32 uses on the PSBT's derivation
      // paths, written as the descriptor writes its origins) reads only '
      // for hardened steps: give the peer the descriptor in that spelling.
      const descriptor = c.descriptor.replace(/#.*$/, '').replace(/(\d)h/g, "$1'");
      const coin = new Output({
        descriptor,
        index: c.index,
        network,
        signersPubKeys: c.signers.map((h) => Buffer.from(h, 'hex')),
      });
      const psbt = new Psbt({ network });
      psbt.setVersion(2);
      psbt.setLocktime(c.lockTime);
      const finalize = coin.updatePsbtAsInput({ psbt, txHex: c.prevTx, vout: c.vout });
      new Output({ descriptor: `addr(${c.address})`, network }).updatePsbtAsOutput({ psbt, value: BigInt(c.value) });
      for (const m of c.masters) {
        signers.signBIP32({ psbt, masterNode: BIP32.fromBase58(m, network) });
      }
      finalize({ psbt });
      const tx = psbt.extractTransaction();
      r.tx = tx.toHex();
      r.sequence = tx.ins[0].sequence;
      r.lockTime = tx.locktime;
    } catch (e) {
      r.error = String(e.message || e);
    }
    return r;
  });
  process.stdout.write(JSON.stringify(out));
});

// Cross-check peer for taproot descriptors without MuSig2
// (unspendable_test.go). Reads a JSON array of {descriptor, network,
// change, index} on stdin and prints, for each, the address that
// @bitcoinerlab/descriptors derives, or the error it raises.
'use strict';
const { Output, networks } = require('@bitcoinerlab/descriptors');

const nets = { mainnet: networks.bitcoin, testnet: networks.testnet, signet: networks.testnet, regtest: networks.regtest };

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map(({ descriptor, network, change, index }) => {
    const r = { descriptor, network, change, index };
    try {
      r.address = new Output({ descriptor, network: nets[network], index, change }).getAddress();
    } catch (e) {
      r.error = String(e.message || e);
    }
    return r;
  });
  process.stdout.write(JSON.stringify(out));
});

// Cross-check peer for descriptor wsh(MINISCRIPT) (miniscript_js_test.go).
// Reads a JSON array of {descriptor, network, change, index} on stdin and
// prints, for each, the address and witness script that
// @bitcoinerlab/descriptors derives, or the error it raises.
// network is mainnet, testnet, signet or regtest; signet addresses and keys
// are encoded as testnet's, so the peer derives them with its testnet.
'use strict';
const { Output, networks } = require('@bitcoinerlab/descriptors');

const nets = { mainnet: networks.bitcoin, testnet: networks.testnet, signet: networks.testnet, regtest: networks.regtest };
const hex = (b) => Buffer.from(b).toString('hex');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map(({ descriptor, network, change, index }) => {
    const r = { descriptor, network, change, index };
    try {
      const args = { descriptor, network: nets[network] };
      if (descriptor.includes('*')) args.index = index;
      if (descriptor.includes('<0;1>')) args.change = change;
      const o = new Output(args);
      r.address = o.getAddress();
      r.witnessScript = hex(o.getWitnessScript());
    } catch (e) {
      r.error = String(e.message || e);
    }
    return r;
  });
  process.stdout.write(JSON.stringify(out));
});

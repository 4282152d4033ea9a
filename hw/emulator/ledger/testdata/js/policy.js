// Computes, with Ledger's own JS client (npm ledger-bitcoin), the wallet
// policy id and serialization of each policy it is given, and for policies
// the client's address check covers (sh/wsh, miniscript included; its
// @bitcoinerlab/descriptors has no tapscript) the addresses the client
// would expect from the device, expanding the template the way
// ledger-bitcoin's AppClient.validateAddress does. No device is needed.
// Input (stdin, JSON): [{name, template, keys, network}] with network
// "testnet" or "bitcoin". Output: [{id, serialized, receive0, change3}].
'use strict';

const fs = require('fs');
const path = require('path');
const { WalletPolicy } = require('ledger-bitcoin');
const ledgerDir = path.dirname(require.resolve('ledger-bitcoin/package.json'));
const req = (name) => require(require.resolve(name, { paths: [ledgerDir] }));
const descriptors = req('@bitcoinerlab/descriptors');
const secp256k1 = req('@bitcoinerlab/secp256k1');
const { networks } = req('bitcoinjs-lib');
const { Descriptor } = descriptors.DescriptorsFactory(secp256k1);

// expand writes the template as a descriptor for one address, as
// ledger-bitcoin does before it checks a device's address.
function expand(policy, change, index) {
  let e = policy.descriptorTemplate.replace(/\/\*\*/g, '/<0;1>/*');
  e = e.replace(/\/<(\d+);(\d+)>/g, (_, m, n) => '/' + (change ? n : m));
  e = e.replace(/\/\*/g, '/' + index);
  for (let i = policy.keys.length - 1; i >= 0; i--) {
    e = e.replace(new RegExp('@' + i, 'g'), policy.keys[i]);
  }
  return e;
}

function main() {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = input.map((p) => {
    const policy = new WalletPolicy(p.name, p.template, p.keys);
    const r = { id: policy.getId().toString('hex'), serialized: policy.serialize().toString('hex') };
    if (!p.template.startsWith('tr(')) {
      const network = networks[p.network];
      r.receive0 = new Descriptor({ expression: expand(policy, false, 0), network }).getAddress();
      r.change3 = new Descriptor({ expression: expand(policy, true, 3), network }).getAddress();
    }
    return r;
  });
  process.stdout.write(JSON.stringify(out) + '\n');
}

try {
  main();
} catch (e) {
  process.stderr.write(`policy: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
}

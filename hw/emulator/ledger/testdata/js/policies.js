// Registers wallet policies with countersign's Ledger emulator through
// Ledger's own JS client (ledger-bitcoin over
// @ledgerhq/hw-transport-node-speculos), asks for addresses and signs a PSBT
// for each, and prints what the client got, as JSON, for the Go test to
// check independently. Input (stdin, JSON):
//   {port, cases: [{name, template, keys, psbt, positions: [[change, index], ...]}]}
// Output: [{id, hmac, addresses, sigs: [{input, pubkey, signature, tapleafHash}]}]
'use strict';

const fs = require('fs');
const { AppClient, WalletPolicy } = require('ledger-bitcoin');
const SpeculosTransport = require('@ledgerhq/hw-transport-node-speculos').default;

async function main() {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const transport = await SpeculosTransport.open({ apduPort: input.port, host: '127.0.0.1' });
  try {
    const app = new AppClient(transport);
    const out = [];
    for (const c of input.cases) {
      const policy = new WalletPolicy(c.name, c.template, c.keys);
      // registerWallet also checks the first receive address against
      // @bitcoinerlab/descriptors where that library knows the script
      // (wsh miniscript; not tr()).
      const [id, hmac] = await app.registerWallet(policy);
      const r = { id: id.toString('hex'), policyId: policy.getId().toString('hex'), hmac: hmac.toString('hex'), addresses: [], sigs: [] };
      for (const [change, index] of c.positions) {
        r.addresses.push(await app.getWalletAddress(policy, hmac, change, index, false));
      }
      const sigs = await app.signPsbt(c.psbt, policy, hmac);
      r.sigs = sigs.map(([i, s]) => ({
        input: i,
        pubkey: s.pubkey.toString('hex'),
        signature: s.signature.toString('hex'),
        tapleafHash: s.tapleafHash ? s.tapleafHash.toString('hex') : '',
      }));
      out.push(r);
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await transport.close();
  }
}

main().catch((e) => {
  process.stderr.write(`policies: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});

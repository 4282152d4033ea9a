// Drives countersign's Ledger emulator with Ledger's own JS client
// (ledger-bitcoin over @ledgerhq/hw-transport-node-speculos) and prints what
// the client got, as JSON, for the Go test to compare with countersign's
// driver. Input (stdin, JSON): {port, path, name, template, keys, psbt}.
'use strict';

const fs = require('fs');
const { AppClient, WalletPolicy } = require('ledger-bitcoin');
const SpeculosTransport = require('@ledgerhq/hw-transport-node-speculos').default;

async function main() {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const transport = await SpeculosTransport.open({ apduPort: input.port, host: '127.0.0.1' });
  try {
    const app = new AppClient(transport);
    const out = {};
    const ver = await app.getAppAndVersion();
    out.app = { name: ver.name, version: ver.version };
    out.fingerprint = await app.getMasterFingerprint();
    out.xpub = await app.getExtendedPubkey(input.path, false);
    const policy = new WalletPolicy(input.name, input.template, input.keys);
    out.policyId = policy.getId().toString('hex');
    // registerWallet also derives the first receive address with
    // @bitcoinerlab/descriptors and checks the device's against it.
    const [id, hmac] = await app.registerWallet(policy);
    out.id = id.toString('hex');
    out.hmac = hmac.toString('hex');
    out.receive0 = await app.getWalletAddress(policy, hmac, 0, 0, false);
    out.change3 = await app.getWalletAddress(policy, hmac, 1, 3, true);
    const sigs = await app.signPsbt(input.psbt, policy, hmac);
    out.sigs = sigs.map(([i, s]) => ({
      input: i,
      pubkey: s.pubkey.toString('hex'),
      signature: s.signature.toString('hex'),
    }));
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await transport.close();
  }
}

main().catch((e) => {
  process.stderr.write(`interop: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});

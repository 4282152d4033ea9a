// Registers wallet policies with countersign's Ledger emulator through
// Ledger's own JS client (ledger-bitcoin over
// @ledgerhq/hw-transport-node-speculos), asks for addresses and signs a PSBT
// for each, and prints what the client got, as JSON, for the Go test to
// check independently. Input (stdin, JSON):
//   {port, cases: [{name, template, keys, psbt, raw, positions: [[change, index], ...]}]}
// Output: [{id, policyId, hmac, addresses, sigs: [{input, pubkey, signature, tapleafHash}], yields: [hex, ...]}]
//
// SIGN_PSBT goes through AppClient.signPsbt, which decodes each YIELD as
// a signature (sigs); with raw, through the same merkleized-PSBT machinery
// (the body of signPsbt in ledger-bitcoin 0.3.0) but with the YIELDed
// payloads returned undecoded (yields): 0.3.0 throws on the MuSig2
// pubnonce and partial-signature YIELDs (tags 0xFFFFFFFF and 0xFFFFFFFE)
// of app 2.4, which the Go test decodes itself.
'use strict';

const fs = require('fs');
const { AppClient, WalletPolicy } = require('ledger-bitcoin');
const { PsbtV2 } = require('ledger-bitcoin/build/main/lib/psbtv2');
const { MerkelizedPsbt } = require('ledger-bitcoin/build/main/lib/merkelizedPsbt');
const { ClientCommandInterpreter } = require('ledger-bitcoin/build/main/lib/clientCommands');
const { Merkle, hashLeaf } = require('ledger-bitcoin/build/main/lib/merkle');
const { createVarint } = require('ledger-bitcoin/build/main/lib/varint');
const SpeculosTransport = require('@ledgerhq/hw-transport-node-speculos').default;

const SIGN_PSBT = 0x04;

// signPsbtRaw is AppClient.signPsbt without its YIELD parsing.
async function signPsbtRaw(app, b64, policy, hmac) {
  const psbt = new PsbtV2();
  psbt.deserialize(Buffer.from(b64, 'base64'));
  const m = new MerkelizedPsbt(psbt);
  const cci = new ClientCommandInterpreter();
  cci.addKnownWalletPolicy(policy);
  cci.addKnownMapping(m.globalMerkleMap);
  for (const map of m.inputMerkleMaps) cci.addKnownMapping(map);
  for (const map of m.outputMerkleMaps) cci.addKnownMapping(map);
  cci.addKnownList(m.inputMapCommitments);
  const inRoot = new Merkle(m.inputMapCommitments.map((c) => hashLeaf(c))).getRoot();
  cci.addKnownList(m.outputMapCommitments);
  const outRoot = new Merkle(m.outputMapCommitments.map((c) => hashLeaf(c))).getRoot();
  await app.makeRequest(SIGN_PSBT, Buffer.concat([
    m.getGlobalKeysValuesRoot(),
    createVarint(m.getGlobalInputCount()),
    inRoot,
    createVarint(m.getGlobalOutputCount()),
    outRoot,
    policy.getId(),
    hmac,
  ]), cci);
  return cci.getYielded().map((y) => Buffer.from(y).toString('hex'));
}

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
      const r = { id: id.toString('hex'), policyId: policy.getId().toString('hex'), hmac: hmac.toString('hex'), addresses: [], sigs: [], yields: [] };
      for (const [change, index] of c.positions) {
        r.addresses.push(await app.getWalletAddress(policy, hmac, change, index, false));
      }
      if (c.raw) {
        r.yields = await signPsbtRaw(app, c.psbt, policy, hmac);
      } else {
        const sigs = await app.signPsbt(c.psbt, policy, hmac);
        r.sigs = sigs.map(([i, s]) => ({
          input: i,
          pubkey: s.pubkey.toString('hex'),
          signature: s.signature.toString('hex'),
          tapleafHash: s.tapleafHash ? s.tapleafHash.toString('hex') : '',
        }));
      }
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

// Cross-check peer for countersign's hw/qr packages. Reads one JSON request
// on stdin, answers one JSON object on stdout. Uses the packages exactly as
// their users do: bbqr's splitQRs/joinQRs, @ngraveio/bc-ur's UREncoder and
// URDecoder, @keystonehq/bc-ur-registry's registry classes.
import { splitQRs, joinQRs } from 'bbqr';
import bcur from '@ngraveio/bc-ur';
import registry from '@keystonehq/bc-ur-registry';

const { UR, UREncoder, URDecoder } = bcur;
const {
  CryptoPSBT, CryptoOutput, CryptoAccount, CryptoHDKey, CryptoKeypath, CryptoCoinInfo,
  PathComponent, MultiKey, ScriptExpressions, URRegistryDecoder,
} = registry;

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => Buffer.from(s, 'hex');

function keypath(p) {
  if (!p) return undefined;
  const comps = p.components.map((c) =>
    c.wildcard ? new PathComponent({ hardened: c.hardened }) : new PathComponent({ index: c.index, hardened: c.hardened }));
  return new CryptoKeypath(comps, p.fingerprint ? unhex(p.fingerprint) : undefined, p.depth);
}

function hdkey(k) {
  return new CryptoHDKey({
    isMaster: false,
    key: unhex(k.key),
    chainCode: unhex(k.chainCode),
    useInfo: k.testnet ? new CryptoCoinInfo(0, 1) : undefined,
    origin: keypath(k.origin),
    children: keypath(k.children),
    parentFingerprint: k.parentFingerprint ? unhex(k.parentFingerprint) : undefined,
  });
}

function describeKeypath(kp) {
  if (!kp) return null;
  return {
    path: kp.getPath() ?? '',
    fingerprint: kp.getSourceFingerprint() ? hex(kp.getSourceFingerprint()) : '',
    depth: kp.getDepth() ?? null,
  };
}

function describeHDKey(k) {
  return {
    key: hex(k.getKey()),
    chainCode: hex(k.getChainCode()),
    testnet: k.getUseInfo() ? k.getUseInfo().getNetwork() === 1 : false,
    origin: describeKeypath(k.getOrigin()),
    children: describeKeypath(k.getChildren()),
    parentFingerprint: k.getParentFingerprint() ? hex(k.getParentFingerprint()) : '',
  };
}

const scripts = {
  sh: ScriptExpressions.SCRIPT_HASH, wsh: ScriptExpressions.WITNESS_SCRIPT_HASH,
  multi: ScriptExpressions.MULTISIG, sortedmulti: ScriptExpressions.SORTED_MULTISIG,
};

function run(req) {
  switch (req.op) {
    case 'batch':
      return req.requests.map(run);
    case 'bbqr-split': {
      const opts = {};
      if (req.encoding) opts.encoding = req.encoding;
      if (req.maxVersion) opts.maxVersion = req.maxVersion;
      if (req.minVersion) opts.minVersion = req.minVersion;
      const r = splitQRs(unhex(req.data), req.fileType, opts);
      return { parts: r.parts, version: r.version, encoding: r.encoding };
    }
    case 'bbqr-join': {
      const r = joinQRs(req.parts);
      return { fileType: r.fileType, encoding: r.encoding, data: hex(r.raw) };
    }
    case 'ur-decode': {
      const d = new URDecoder();
      let fed = 0;
      for (const p of req.parts) {
        d.receivePart(p);
        fed++;
        if (d.isComplete()) break;
      }
      if (!d.isComplete()) return { complete: false, fed, progress: d.getProgress() };
      if (!d.isSuccess()) return { complete: true, error: d.resultError(), fed };
      const ur = d.resultUR();
      return { complete: true, fed, type: ur.type, cbor: hex(ur.cbor) };
    }
    case 'ur-encode': {
      const e = new UREncoder(new UR(unhex(req.cbor), req.type), req.maxFragmentLength, req.firstSeqNum ?? 0, req.minFragmentLength ?? 10);
      const parts = [];
      for (let i = 0; i < req.count; i++) parts.push(e.nextPart());
      return { parts, seqLen: e.fragmentsLength };
    }
    case 'psbt': {
      // Decode ours, and encode the same PSBT as Keystone would, as a
      // multi-part UR.
      const mine = CryptoPSBT.fromCBOR(unhex(req.cbor));
      const theirs = new CryptoPSBT(unhex(req.psbt));
      const enc = theirs.toUREncoder(req.maxFragmentLength);
      const parts = [];
      for (let i = 0; i < req.count; i++) parts.push(enc.nextPart());
      return { psbt: hex(mine.getPSBT()), cbor: hex(theirs.toCBOR()), parts };
    }
    case 'output-decode': {
      const o = CryptoOutput.fromCBOR(unhex(req.cbor));
      const mk = o.getMultiKey();
      return {
        scripts: o.getScriptExpressions().map((s) => s.getExpression()),
        threshold: mk ? mk.getThreshold() : 0,
        keys: mk ? mk.getKeys().map(describeHDKey) : [],
      };
    }
    case 'output-encode': {
      const mk = new MultiKey(req.threshold, req.keys.map(hdkey));
      const o = new CryptoOutput(req.scripts.map((s) => scripts[s]), mk);
      return { cbor: hex(o.toCBOR()), ur: o.toUREncoder(1000).nextPart() };
    }
    case 'account-encode': {
      // As Keystone's devices build a multisig export: the account keys
      // under sh, sh(wsh) and wsh, without the 308/410 tags.
      const outs = req.entries.map((e) => new CryptoOutput(e.scripts.map((s) => scripts[s]), hdkey(e.key)));
      const a = new CryptoAccount(unhex(req.masterFingerprint), outs);
      return { cbor: hex(a.toCBOR()) };
    }
    case 'account-decode': {
      const a = CryptoAccount.fromCBOR(unhex(req.cbor));
      return {
        masterFingerprint: hex(a.getMasterFingerprint()),
        entries: a.getOutputDescriptors().map((o) => ({
          scripts: o.getScriptExpressions().map((s) => s.getExpression()),
          key: describeHDKey(o.getHDKey()),
        })),
      };
    }
    case 'registry-decode': {
      const d = new URRegistryDecoder();
      for (const p of req.parts) {
        d.receivePart(p);
        if (d.isComplete()) break;
      }
      if (!d.isSuccess()) return { error: d.isError() ? d.resultError() : 'incomplete' };
      const item = d.resultRegistryType();
      if (item instanceof CryptoPSBT) return { type: 'crypto-psbt', psbt: hex(item.getPSBT()) };
      if (item instanceof CryptoOutput) return { type: 'crypto-output', text: item.toString() };
      return { type: 'other' };
    }
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  try {
    process.stdout.write(JSON.stringify(run(JSON.parse(input))));
  } catch (err) {
    process.stdout.write(JSON.stringify({ exception: String(err && err.stack || err) }));
  }
});

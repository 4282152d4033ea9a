// Drives countersign's BitBox02 emulator with the vendor's JS library,
// bitbox02-api (its protocol code is bitbox02-api-go compiled with
// GopherJS). The library only runs in a browser, talking either WebHID or
// BitBoxBridge's WebSocket; this script gives it stand-ins for both that
// carry the device's 64-byte USB reports to the emulator's TCP port:
//
//   webhid  navigator.hid: the library frames reports itself (bitbox02-api-go
//           communication/u2fhid) and sends/receives 64-byte reports.
//   bridge  WebSocket to BitBoxBridge: the library sends ONE message of
//           header (CID, CMD, length) + the whole payload and expects the
//           reply the same way (bitbox02-api-js gowrapper/main.go
//           newJSDeviceBridge, which strips the 7-byte header and keeps
//           every byte after it). The stand-in does what the bridge does
//           (bitbox-bridge commit f56bdeabf7bbe94f83357de2daec4bea3a87eff8,
//           bitbox-bridge/src/usb.rs handle_msg and u2fframing/src/lib.rs
//           U2fWs/U2fHid): cut the payload into reports on its own CID
//           (0xff00ff00), reassemble the device's reply by its length, and
//           send back header + exactly that many bytes.
//
// The job comes as JSON on stdin (see interop_test.go); the result goes to
// stdout as one JSON line. The library's own logging is sent to stderr.

'use strict';
require('regenerator-runtime/runtime');
const net = require('net');

console.log = console.error; // GopherJS's log package writes to console.log

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', c => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

// reportSocket reads 64-byte reports from a TCP connection, one at a time.
class ReportSocket {
  constructor(addr, onOpen, onError) {
    const [host, port] = addr.split(':');
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    this.listeners = [];
    this.sock = net.connect(Number(port), host, onOpen);
    this.sock.on('error', onError);
    this.sock.on('data', d => { this.buf = Buffer.concat([this.buf, d]); this.pump(); });
  }
  pump() {
    while (this.buf.length >= 64 && (this.waiters.length || this.listeners.length)) {
      const r = Buffer.from(this.buf.subarray(0, 64));
      this.buf = this.buf.subarray(64);
      if (this.waiters.length) this.waiters.shift()(r);
      else for (const l of this.listeners) l(r);
    }
  }
  next() { return new Promise(resolve => { this.waiters.push(resolve); this.pump(); }); }
  write(r) {
    if (r.length !== 64) throw new Error(`report of ${r.length} bytes`);
    this.sock.write(r);
  }
  close() { this.sock.end(); }
}

// FakeHIDDevice is the HIDDevice the library gets from
// navigator.hid.requestDevice.
class FakeHIDDevice {
  constructor(addr) { this.addr = addr; this.opened = false; this.productName = 'BitBox02'; this.handlers = []; }
  open() {
    return new Promise((resolve, reject) => {
      this.sock = new ReportSocket(this.addr, () => { this.opened = true; resolve(); }, reject);
      this.sock.listeners.push(r => {
        const copy = Uint8Array.from(r);
        for (const h of this.handlers) h({ data: new DataView(copy.buffer) });
      });
    });
  }
  async sendReport(reportId, bytes) {
    if (reportId !== 0) throw new Error(`report id ${reportId}`);
    this.sock.write(Buffer.from(bytes));
  }
  addEventListener(ev, fn) { if (ev === 'inputreport') this.handlers.push(fn); }
  removeEventListener(ev, fn) { this.handlers = this.handlers.filter(h => h !== fn); }
  async close() { this.opened = false; this.sock.close(); }
}

// makeBridgeWebSocket returns a WebSocket class that plays BitBoxBridge.
function makeBridgeWebSocket(addr) {
  const bridgeCID = 0xff00ff00;
  class BridgeWebSocket {
    constructor(url) {
      if (!/^ws:\/\/127\.0\.0\.1:8178\/api\/v1\/socket\//.test(url)) throw new Error(`unexpected bridge URL ${url}`);
      this.readyState = 0;
      this.queue = Promise.resolve();
      this.sock = new ReportSocket(addr, () => { this.readyState = 1; this.onopen && this.onopen({}); },
        e => { this.onerror && this.onerror(e); });
    }
    send(bytes) {
      const msg = Buffer.from(bytes);
      this.queue = this.queue.then(() => this.relay(msg)).catch(e => {
        console.error('bridge stand-in:', e);
        this.close();
      });
    }
    async relay(msg) {
      if (msg.length < 7) throw new Error('WebSocket message shorter than its header');
      const wsCID = msg.readUInt32BE(0), cmd = msg[4], len = msg.readUInt16BE(5);
      if (msg.length < 7 + len) throw new Error('WebSocket message shorter than its length');
      const payload = msg.subarray(7, 7 + len);
      const first = Buffer.alloc(64);
      first.writeUInt32BE(bridgeCID, 0); first[4] = cmd; first.writeUInt16BE(len, 5);
      let off = payload.copy(first, 7, 0, 57);
      this.sock.write(first);
      for (let seq = 0; off < len; seq++) {
        const r = Buffer.alloc(64);
        r.writeUInt32BE(bridgeCID, 0); r[4] = seq;
        off += payload.copy(r, 5, off, off + 59);
        this.sock.write(r);
      }
      let r = await this.sock.next();
      if (r.readUInt32BE(0) !== bridgeCID || r[4] !== cmd) throw new Error(`reply header ${r.subarray(0, 7).toString('hex')}`);
      const want = r.readUInt16BE(5);
      const parts = [r.subarray(7, 7 + Math.min(57, want))];
      let got = parts[0].length;
      for (let seq = 0; got < want; seq++) {
        r = await this.sock.next();
        if (r.readUInt32BE(0) !== bridgeCID || r[4] !== seq) throw new Error(`continuation header ${r.subarray(0, 5).toString('hex')}`);
        const p = r.subarray(5, 5 + Math.min(59, want - got));
        parts.push(p); got += p.length;
      }
      const head = Buffer.alloc(7);
      head.writeUInt32BE(wsCID, 0); head[4] = cmd; head.writeUInt16BE(want, 5);
      const out = Buffer.concat([head, ...parts]);
      this.onmessage && this.onmessage({ data: out.buffer.slice(out.byteOffset, out.byteOffset + out.length) });
    }
    close() { this.readyState = 3; this.sock.close(); this.onclose && this.onclose({}); }
  }
  BridgeWebSocket.OPEN = 1;
  return BridgeWebSocket;
}

const hex = h => Uint8Array.from(Buffer.from(h, 'hex'));
const toHex = b => Buffer.from(b).toString('hex');

function convertTx(sign) {
  const inputs = sign.inputs.map(i => ({
    prevOutHash: hex(i.prevOutHash),
    prevOutIndex: i.prevOutIndex,
    prevOutValue: i.prevOutValue,
    sequence: i.sequence,
    keypath: i.keypath,
    prevTx: {
      version: i.prevTx.version,
      locktime: i.prevTx.locktime,
      inputs: i.prevTx.inputs.map(p => ({
        prevOutHash: hex(p.prevOutHash),
        prevOutIndex: p.prevOutIndex,
        signatureScript: hex(p.signatureScript),
        sequence: p.sequence,
      })),
      outputs: i.prevTx.outputs.map(o => ({ value: o.value, pubkeyScript: hex(o.pubkeyScript) })),
    },
  }));
  const outputs = sign.outputs.map(o => o.ours
    ? { ours: true, keypath: o.keypath, value: o.value }
    : { ours: false, type: o.type, payload: hex(o.payload), value: o.value });
  return { inputs, outputs };
}

async function main() {
  const job = JSON.parse(await readStdin());
  const store = new Map();
  global.localStorage = {
    getItem: k => (store.has(k) ? store.get(k) : null),
    setItem: (k, v) => store.set(k, String(v)),
    removeItem: k => store.delete(k),
  };
  global.window = global;
  let devicePath;
  if (job.transport === 'webhid') {
    global.navigator = { hid: { requestDevice: async () => [new FakeHIDDevice(job.addr)], addEventListener() {} } };
    devicePath = 'WEBHID';
  } else if (job.transport === 'bridge') {
    global.navigator = {};
    global.WebSocket = makeBridgeWebSocket(job.addr);
    devicePath = 'emulator';
  } else {
    throw new Error(`unknown transport ${job.transport}`);
  }
  const { BitBox02API, constants, isErrorAbort } = require('bitbox02-api');

  const out = { statuses: [] };
  const api = new BitBox02API(devicePath);
  await api.connect(
    code => { out.pairingCode = code; },
    async () => {},
    ok => { out.attestation = ok; },
    () => {},
    status => out.statuses.push(status),
  );
  out.version = api.version();
  out.product = api.firmware().Product();

  const coin = constants.messages.BTCCoin[job.coin];
  out.xpub = await api.btcXPub(coin, job.keypathAccount, constants.messages.BTCXPubType.TPUB, false);

  const account = {
    coin,
    keypathAccount: job.keypathAccount,
    threshold: job.threshold,
    xpubs: job.xpubs,
    ourXPubIndex: job.ourXPubIndex,
  };
  out.namesAsked = 0;
  const getName = async () => { out.namesAsked++; return job.name; };
  await api.btcMaybeRegisterScriptConfig(account, getName);
  // Registered now: a second call must not ask for a name.
  await api.btcMaybeRegisterScriptConfig(account, getName);

  out.address = await api.btcDisplayAddressMultisig(account, job.receiveKeypath);
  try {
    await api.btcDisplayAddressMultisig(account, job.refusedKeypath);
    out.refused = 'no error';
  } catch (e) {
    out.refused = isErrorAbort(e) ? 'abort' : `other error: ${JSON.stringify(e)}`;
  }

  const { inputs, outputs } = convertTx(job.sign);
  const sigs = await api.btcSignMultisig(account, inputs, outputs, job.sign.version, job.sign.locktime);
  out.signatures = sigs.map(toHex);

  api.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().then(() => process.exit(0), e => {
  console.error('crosscheck failed:', e && e.stack ? e.stack : JSON.stringify(e));
  process.exit(1);
});

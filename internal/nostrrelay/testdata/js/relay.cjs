// A Nostr relay for countersign's tests, from the registry: the relay's
// protocol work (EVENT, REQ, CLOSE, OK, EOSE, live subscriptions, event id
// and signature checks) is @nostr-relay/core and @nostr-relay/validator;
// this file only puts a ws server on loopback in front of it and keeps the
// events in memory (the package's own stores need a native sqlite build).
// It prints "listening PORT" once it accepts connections; the test stops
// it by its PID.
'use strict';
const { WebSocketServer } = require('ws');
const { NostrRelay } = require('@nostr-relay/core');
const { Validator } = require('@nostr-relay/validator');
const { EventRepository, EventUtils } = require('@nostr-relay/common');

class MemoryRepository extends EventRepository {
  constructor() { super(); this.events = new Map(); }
  isSearchSupported() { return false; }
  upsert(event) {
    if (this.events.has(event.id)) return { isDuplicate: true };
    this.events.set(event.id, event);
    return { isDuplicate: false };
  }
  // EventUtils.isMatchingFilter checks ids, authors, kinds and times but
  // not tag filters ("#p"), which the package's SQL stores apply in their
  // queries; here they are applied the same way. (Live events are still
  // sent to every subscription of their kind, tags unchecked: that is
  // @nostr-relay/core's behaviour, and the client drops what it did not
  // ask for.)
  find(filter) {
    const tagsMatch = (e) => Object.keys(filter)
      .filter((k) => k.startsWith('#'))
      .every((k) => e.tags.some((t) => t[0] === k.slice(1) && filter[k].includes(t[1])));
    const out = [...this.events.values()]
      .filter((e) => EventUtils.isMatchingFilter(e, filter) && tagsMatch(e))
      .sort((a, b) => b.created_at - a.created_at);
    return filter.limit ? out.slice(0, filter.limit) : out;
  }
  async destroy() {}
}

const relay = new NostrRelay(new MemoryRepository());
const validator = new Validator();
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('connection', (ws) => {
  relay.handleConnection(ws);
  ws.on('message', async (data) => {
    try {
      const msg = await validator.validateIncomingMessage(data);
      await relay.handleMessage(ws, msg);
    } catch (e) {
      ws.send(JSON.stringify(['NOTICE', String(e && e.message ? e.message : e)]));
    }
  });
  ws.on('close', () => relay.handleDisconnect(ws));
  ws.on('error', () => relay.handleDisconnect(ws));
});
wss.on('listening', () => {
  process.stdout.write(`listening ${wss.address().port}\n`);
});

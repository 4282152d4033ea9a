// One NIP-44 v2 exchange with nostr-tools: read {js_secret, go_public,
// go_payload, reply} as JSON on stdin; print {js_public, conversation_key,
// received (go_payload decrypted), payload (reply encrypted to go_public)}.
import { getConversationKey, encrypt, decrypt } from 'nostr-tools/nip44'
import { getPublicKey } from 'nostr-tools/pure'
const hexToBytes = (h) => Uint8Array.from(Buffer.from(h, 'hex'))
const bytesToHex = (b) => Buffer.from(b).toString('hex')

let input = ''
for await (const chunk of process.stdin) input += chunk
const req = JSON.parse(input)
const sk = hexToBytes(req.js_secret)
const ck = getConversationKey(sk, req.go_public)
process.stdout.write(JSON.stringify({
  js_public: getPublicKey(sk),
  conversation_key: bytesToHex(ck),
  received: decrypt(req.go_payload, ck),
  payload: encrypt(req.reply, ck),
}))

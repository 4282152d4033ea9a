// Package chain is countersign's view of the blockchain: the Backend
// interface and its implementations for Bitcoin Core (JSON-RPC), btcd
// (JSON-RPC) and Esplora (REST).
//
// # Choosing a backend
//
// Open takes a URL:
//
//	core://USER:PASS@HOST:PORT[/wallet/NAME]        Bitcoin Core, rpcuser/rpcpassword or rpcauth
//	core+cookie://HOST:PORT[/wallet/NAME]?cookie=PATH Bitcoin Core, cookie authentication
//	btcd://USER:PASS@HOST:PORT[?cert=PATH]           btcd (--notls on loopback, or TLS with its rpc.cert)
//	esplora+https://HOST[/PATH]                      an Esplora API, e.g. esplora+https://blockstream.info/api
//	esplora+http://HOST:PORT[/PATH]                  a local Esplora (electrs --http-addr)
//
// Every form also takes ?timeout=DURATION (default 30s, 1s to 10m): each
// call to the backend ends with ErrUnavailable when it passes; and
// ?max_txs=N (default 10,000, up to 10,000,000), the most transactions one
// script may have before History and ListUnspent give up (see "Servers
// are not believed"). Two Core
// calls that legitimately run long get more: importdescriptors (a rescan,
// 2 hours) and scantxoutset (15 minutes). The port is
// required for the node forms: a default would silently pick a network.
// Credentials with reserved characters are percent-encoded (@ is %40).
//
// For cookie authentication the cookie file is a query parameter because it
// is a local path, not part of the server's address; bitcoind rewrites it at
// each start, so it is read again for every request. The form
// core+cookie:///path/to/.cookie@HOST:PORT is accepted too. Core URLs also
// take ?rescan_since=UNIX_TIME|now, see below.
//
// # Nothing in clear over a network
//
// Open refuses (ErrInsecure) a URL that would send RPC credentials or the
// wallet's addresses unencrypted to another computer: core://,
// core+cookie:// (Core's RPC has no TLS), btcd:// without ?cert= and
// esplora+http:// to a host that is not loopback (127.0.0.0/8, ::1,
// localhost). Addresses count as much as passwords: they tell an onlooker
// every coin of the wallet. The message offers the ways out: HTTPS, btcd's
// TLS certificate, an SSH tunnel to a local port. A Tor onion service
// (.onion) is allowed over plain HTTP, since Tor encrypts and
// authenticates the connection end to end. OpenWith with Insecure allows
// the rest; it is the caller's option, never a URL parameter, so a URL
// pasted elsewhere does not carry the permission. Redirects to plain HTTP
// on another computer are refused likewise.
//
// # How each backend finds a wallet's coins
//
// ListUnspent and History take output scripts, not addresses: a multisig
// wallet knows its scripts, and a script is what the chain records.
//
// Bitcoin Core keeps no address index. countersign watches scripts with a
// watch-only descriptor wallet in Core (created on first use, private keys
// disabled, named by /wallet/NAME, "countersign" by default): each script
// is imported once as a raw(HEX) descriptor, which matches that exact
// script whatever its type. The import rescans the chain from
// ?rescan_since (default 0, the whole chain: slow on mainnet the first time,
// but complete; "now" skips the rescan and suits fresh addresses only).
// listunspent and listtransactions then answer from the wallet, mempool
// included. A bitcoind without wallet support (-disablewallet) still serves
// ListUnspent through scantxoutset over the same descriptors (confirmed
// outputs only, one UTXO-set scan per call); History then needs the wallet.
// Bitcoin Core 22 or newer is needed. Tx finds confirmed transactions
// through -txindex or the watch-only wallet.
//
// btcd keeps an address index (--addrindex, which needs --txindex).
// Scripts are converted to addresses and looked up with
// searchrawtransactions; a script without an address (bare multisig) is
// ErrUnsupported there. All addresses of a sync go in one JSON-RPC batch,
// the candidate outputs are confirmed with gettxout in a second, so a sync
// of 40 addresses costs 2 round trips (3 on first use, which also asks for
// the network).
//
// Esplora indexes by script hash (the hex SHA-256 of the script, not
// byte-reversed as in Electrum's protocol). It has no batching: one request
// per script, four in flight at a time; history pages back 25 confirmed
// transactions per request, and Esplora lists at most 50 unconfirmed ones
// per script. The tip is read as /blocks/tip/hash then /block/:hash, so
// height and hash always belong together.
//
// Heights come from confirmation counts taken between two reads of the
// tip in the same batch; when a block arrives in between, the batch is
// sent again.
//
// # Servers are not believed
//
// A backend may be someone else's server, broken or hostile. What it can
// prove is checked; what it cannot is bounded:
//
//   - Transactions are checked against the txid asked for, blocks against
//     their hash and merkle root (ErrLying otherwise).
//   - ListUnspent's values and scripts are the server's word (Esplora's
//     /utxo and Core's listunspent are summaries); ProveUTXO checks one
//     against its funding transaction, and wallet/scan stores nothing
//     else. Heights stay the server's word: proving them needs headers.
//   - Every answer is read up to a limit sized to its request (1 MiB for a
//     hash or fee table, 8 MB for one transaction or block as hex, 64 MiB
//     for a list or a JSON-RPC request); past it, ErrTooLarge, having read
//     no more than the limit. A JSON-RPC batch over 64 MiB is sent again in
//     halves, at most 64 extra requests.
//   - Paging ends: past max_txs transactions for one script (Esplora's
//     /txs/chain, btcd's searchrawtransactions; for Core's
//     listtransactions, max_txs per script asked about) it stops with
//     ErrTooLarge, and a page that ends where an earlier one ended (a
//     server repeating itself) is ErrLying.
//
// # Errors
//
// Errors wrap one of the sentinels: ErrUnavailable (cannot reach, timeout,
// busy, starting: retrying may help), ErrAuth (credentials or client
// refused), ErrBadURL, ErrInsecure (a URL that would send credentials or
// addresses in clear), ErrNotFound, ErrRejected (a transaction refused by
// the node, with its reason), ErrUnsupported, ErrLying (the answer
// contradicts a transaction or block it proved, or repeats a page),
// ErrTooLarge (past a size or count limit), and ErrWrongNetwork from
// CheckNetwork. A node's JSON-RPC error that maps to none of them is
// returned with its code and message. Only ErrUnavailable is retried by
// WithRetry.
//
// # Blocks, the mempool and batches of transactions
//
// Every backend also implements BlockSource (block hash by height, whole
// blocks, the mempool's txids) and TxBatcher (many transactions at once),
// so a sync can walk the blocks since its last tip instead of asking about
// every script again. Each block is checked before it is returned: its
// header must hash to the hash asked for and its transactions must match
// the header's merkle root (a repeated transaction is refused too), so a
// server cannot pass off other transactions under a real header.
//
// Both nodes use getblockhash, getblock with verbosity 0 (the serialized
// block; btcd needs v0.24 or newer for that form), getrawmempool and
// getrawtransaction. The blocks of a Blocks call go in JSON-RPC batches of
// 20: 20 blocks cost one round trip, unless their answer passes the 64 MiB
// a request may read (twenty full mainnet blocks as hex), when the batch is
// sent again in halves.
// Txs asks for all transactions in one batch; without a transaction index
// the nodes know mempool transactions only, and Core then asks its
// watch-only wallet for the rest in a second batch. A pruned Core answers
// ErrUnsupported for the blocks it dropped.
//
// Esplora has no batches: /block-height/:height, /block/:hash/raw per
// block, /mempool/txids, and /tx/:txid/hex per transaction, four requests
// in flight at a time as for scripts.
//
// A height above the tip, a block or transaction the backend does not
// know are ErrNotFound, naming what was missing.
//
// # Median time past
//
// Time locks counted in seconds are judged by the median time past of the
// chain (BIP-113), which no answer of all three backends carries for any
// block (btcd's getblockheader has no mediantime). Every backend
// implements HeaderSource: the nodes answer getblockhash and
// getblockheader (verbose false) for 11 heights in two batches, Esplora
// /block-height/:h then /block/:hash/header back along the chain. Each
// header must hash to its block (else ErrLying) and link to the one before
// (else ErrUnavailable: the chain moved while it was read), and
// MedianTimePast takes the median of their timestamps as Core does. A
// backend without headers is ErrUnsupported: callers refuse a time lock
// rather than guess.
//
// # Wrappers and extras
//
// WithRetry retries reads on ErrUnavailable, never Broadcast; Blocks and
// Txs are retried whole. Backends implement Counter (HTTP round trips, for
// sync tests and benchmarks) and FeeEstimator (a fee rate together with
// whether it is a real estimate or the minimum-relay fallback used on
// regtest and by fresh nodes), and the wrapper passes both on. It has
// BlockSource and TxBatcher only when the wrapped backend has them, so a
// type assertion on it answers as one on the backend would; Headers it
// always has, answering ErrUnsupported as MedianTimePast would.
package chain

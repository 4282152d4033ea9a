// Package miniscript implements Miniscript (BIP-379) for P2WSH and Tapscript:
// parsing the text form, the type system (correctness, malleability and
// timelock-mixing properties), script encoding and decoding, the static
// resource analysis (script size, op count, stack and witness sizes), a
// non-malleable satisfier and a spending-path planner.
//
// Keys are abstract: Parse takes a KeyParser that turns each key expression
// into a Key, and every function that needs the serialized public key takes a
// KeyBytes that produces it. A descriptor with xpubs supplies a KeyBytes that
// derives the child key for the address index at hand, so one parsed Node
// serves every index.
//
// Written from the BIP-379 text (bitcoin/bips bip-0379.md at
// 0294062616be9d44bc3fa5bdc3739ec5056eecae). Where the BIP leaves an
// algorithm open (script decoding, the static resource analysis) the
// behaviour follows Bitcoin Core's src/script/miniscript.h, which was read,
// not copied.
package miniscript

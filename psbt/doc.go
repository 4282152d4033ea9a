// Package psbt builds, checks, signs, combines and finalizes the Partially
// Signed Bitcoin Transactions (BIP-174, version 0) that spend from a
// countersign multisig wallet. It is built on btcd's btcutil/psbt Packet,
// imported as bpsbt, and holds every safety check countersign makes before
// anything is signed or broadcast.
//
// # Roles
//
// One file per BIP-174 role:
//
//   - creator.go: Build chooses coins (branch-and-bound, then single random
//     draw or largest-first with change), sets RBF and the anti-fee-sniping
//     lock time, and refuses absurd fees.
//   - updater.go: Build fills what signers need: global xpubs, both
//     non_witness_utxo and witness_utxo, redeem and witness scripts, and
//     every cosigner's BIP-32 derivation on inputs and change.
//   - signer.go: Sign adds SIGHASH_ALL partial signatures for one master key.
//   - combiner.go: Combine merges copies of one PSBT and verifies every
//     partial signature before keeping it.
//   - finalizer.go: FinalizePacket and Finalize build the final scriptSig and
//     witness and check each input's spend as btcd's script engine would.
//   - extractor.go: Extract returns the network transaction of a finalized
//     PSBT.
//
// Inspect (inspect.go) reports what a PSBT does for a wallet; CheckWallet
// (wallet.go) is the gate run before signing and combining.
//
// wsh(MINISCRIPT) wallets (miniscript.go): an input's witness script is
// decoded back into its miniscript, whose keys play the multisig's part
// for signing, combining and inspecting; the signatures required are those
// of the cheapest path the input's nSequence and the nLockTime open, and
// the finalizer builds the witness with the miniscript satisfier.
// BuildRequest.Sequence sets the nSequence an older() path needs.
//
// # API
//
//	var ErrMalformed, ErrRefused, ErrInsufficientFunds error
//
//	func Decode(data []byte) (*bpsbt.Packet, error)   // base64, hex or binary; ErrMalformed
//	func Encode(p *bpsbt.Packet) (string, error)       // canonical base64
//	func Serialize(p *bpsbt.Packet) ([]byte, error)    // binary, for files and hashing
//	func Validate(p *bpsbt.Packet) error               // BIP-174 rules on an in-memory packet
//
//	type WalletInfo struct { Descriptor *descriptor.Descriptor; Network *chaincfg.Params; Labels []string; Memo *Memo }
//	func NewMemo() *Memo
//	func (m *Memo) VerifyAhead(p *bpsbt.Packet)        // verify its signatures in the background; checks wait for it
//
//	type UTXO struct { OutPoint wire.OutPoint; Value int64; Branch, Index uint32; PrevTx *wire.MsgTx; Confirmations int32 }
//	type Output struct { Script []byte; Value int64; Address string }
//	type BuildRequest struct { Wallet; UTXOs; Outputs; SendAll; Preselected; AddInputs; FeeRate;
//	        LongTermFeeRate; MinConfirmations; ChangeBranch, ChangeIndex; LockTime; DisableRBF;
//	        AllowHighFee; Rand *rand.Rand }
//	type BuildSummary struct { Inputs; TotalIn; Sent; Fee; VSize; FeeRate; ChangeUsed; ChangeValue;
//	        ChangeOutput; ChangeAddress; DroppedChange; Algorithm; Waste }
//	func Build(req BuildRequest) (*bpsbt.Packet, *BuildSummary, error)
//	func EstimateVSize(d *descriptor.Descriptor, nIn int, outputScripts [][]byte) (int64, error)
//	func DustThreshold(pkScript []byte) int64
//	const SequenceRBF, SequenceNoRBF
//
//	type Report struct { ...; Inputs []InputReport; Outputs []OutputReport; ... } // JSON, snake_case
//	type InputReport, OutputReport, Cosigner struct
//	const KindChange, KindExternal = "change", "external"
//	func Inspect(p *bpsbt.Packet, w WalletInfo) (*Report, error)
//	func CheckWallet(p *bpsbt.Packet, w WalletInfo) error
//
//	func Sign(p *bpsbt.Packet, master *hdkeychain.ExtendedKey) (int, error)
//	func Combine(ps []*bpsbt.Packet, w WalletInfo) (*bpsbt.Packet, error)
//	func FinalizePacket(p *bpsbt.Packet, w WalletInfo) error
//	func Finalize(p *bpsbt.Packet, w WalletInfo) (*wire.MsgTx, error)
//	func Extract(p *bpsbt.Packet) (*wire.MsgTx, error)
//
// A typical spend: Build, Encode and hand the PSBT to each cosigner; on
// every copy that comes back Decode and CheckWallet; Combine the copies;
// Inspect to show who has signed; Finalize once ReadyToFinalize; broadcast
// the transaction. Signers (hw/soft and the device emulators) run
// CheckWallet and then Sign.
//
// # Errors
//
// ErrMalformed (exit code 2) wraps every decoding or validation failure and
// every invalid request (a negative amount, an unknown address). ErrRefused
// (exit code 4) wraps every safety refusal: an input or change output that
// does not derive from the wallet, an invalid or missing signature, an
// absurd fee, a sighash type other than ALL, UTXO data that does not match
// the transaction. ErrInsufficientFunds is a plain failure (exit code 1):
// the message says how much is available and how much is needed. Messages
// name the input or output index and, where one is involved, the cosigner
// by fingerprint and label.
//
// # What the wallet trusts
//
// Nothing in a PSBT is trusted because it is there. An input is "ours" only
// when the scripts the descriptor derives, at the (branch, index) the BIP-32
// derivations point to, equal the input's scripts and its prevout; a change
// output likewise. A non_witness_utxo must hash to the txid it claims and
// agree with the witness_utxo. Every partial signature is checked against
// its sighash and a key of the input's script before it is combined or
// finalized; the inputs the finalizer builds are checked for everything
// else btcd's script engine checks with the standard verification flags
// (finalizer_engine_test.go requires the engine's verdict on thousands of
// random inputs), and inputs that come finalized, and every input when a
// transaction is extracted for broadcast, run through the engine itself.
//
// # Costly checks, made once
//
// A WalletInfo may carry a Memo (the coordinator keeps one per process):
// it remembers which signatures verified, which public keys are points and
// what the wallet derives at each position, so that a command whose steps
// each run the gate verifies every signature and derives every address
// once. Decode checks every record but leaves the curve check of partial
// signature and BIP-32 keys to the first function that reads the packet,
// after the wallet has derived its own keys (see Decode).
//
// # Fees and sizes
//
// Fee rates are in sat/vB. Sizes are estimated for m signatures of the
// worst-case 73 bytes (72-byte DER plus the sighash byte), so the rate a
// transaction finally pays is never below the rate asked for. A change
// output is added only when it is worth more than Bitcoin Core's minimum
// viable change (the dust threshold at 3 sat/vB, or the cost of spending it
// at that rate if higher); otherwise the remainder goes to the fee.
package psbt

import "errors"

var (
	// ErrMalformed is wrapped by every error about a PSBT that cannot be
	// decoded or breaks BIP-174, and by invalid requests to Build. The CLI
	// maps it to exit code 2 (bad input).
	ErrMalformed = errors.New("malformed PSBT")

	// ErrRefused is wrapped by every safety refusal. The CLI maps it to exit
	// code 4 (refused by a safety check).
	ErrRefused = errors.New("refused")

	// ErrInsufficientFunds means the wallet's spendable coins do not cover
	// the outputs and the fee. It is not a safety refusal.
	ErrInsufficientFunds = errors.New("insufficient funds")
)

package miniscript

// This file holds the static resource analysis of BIP-379 "Resource
// Limits": script size, op count, witness stack size, execution stack size
// and witness byte size. The quantities and their composition follow Bitcoin
// Core's src/script/miniscript.h (Ops, SatInfo/StackSize, WitnessSize), read
// at commit 016c68cf6b8983718de22c3c0f5e1989d212b18e.

// maxInt is an integer that may be absent (no such satisfaction exists).
type maxInt struct {
	ok bool
	v  int
}

func some(v int) maxInt { return maxInt{true, v} }

var none = maxInt{}

func (a maxInt) add(b maxInt) maxInt {
	if !a.ok || !b.ok {
		return none
	}
	return some(a.v + b.v)
}

func (a maxInt) or(b maxInt) maxInt {
	if !a.ok {
		return b
	}
	if !b.ok {
		return a
	}
	if b.v > a.v {
		return b
	}
	return a
}

// opsInfo counts non-push opcodes: count is every opcode in the script
// (executed or not, as the consensus counter sees them), sat and dsat the
// extra ones charged for keys of executed CHECKMULTISIGs.
type opsInfo struct {
	count     int
	sat, dsat maxInt
}

// satInfo describes a set of execution traces: netdiff is how much higher
// the stack is at the start than at the end, exec how much higher it gets
// during execution than at the end.
type satInfo struct {
	ok      bool
	netdiff int
	exec    int
}

func si(netdiff, exec int) satInfo { return satInfo{true, netdiff, exec} }

// then is a followed by b.
func (a satInfo) then(b satInfo) satInfo {
	if !a.ok || !b.ok {
		return satInfo{}
	}
	return si(a.netdiff+b.netdiff, max(b.exec, b.netdiff+a.exec))
}

func (a satInfo) or(b satInfo) satInfo {
	if !a.ok {
		return b
	}
	if !b.ok {
		return a
	}
	return si(max(a.netdiff, b.netdiff), max(a.exec, b.exec))
}

// Stack effects of the opcodes the fragments use.
var (
	siEmpty   = si(0, 0)
	siPush    = si(-1, 0)
	siNop     = si(0, 0)
	siHash    = si(0, 0)
	siIf      = si(1, 1) // IF/NOTIF pop their condition
	siBinary  = si(1, 1) // ADD, BOOLAND, BOOLOR
	siDup     = si(-1, 0)
	siSize    = si(-1, 0)
	siEqVfy   = si(2, 2)
	siEqual   = si(1, 1)
	siCheck   = si(1, 1)
	siNotEq0  = si(0, 0)
	siVerify  = si(1, 1)
	siIfDupNZ = si(-1, 0) // IFDUP on a nonzero top duplicates it
	siIfDupZ  = si(0, 0)
)

type stackInfo struct{ sat, dsat satInfo }

// witnessInfo is the largest witness in bytes (each element with its
// length prefix, without the element count) for satisfaction and
// dissatisfaction.
type witnessInfo struct{ sat, dsat maxInt }

func (n *Node) sub(i int) *Node { return n.Subs[i] }

func (n *Node) computeScriptSize() int {
	switch n.Frag {
	case Just0, Just1:
		return 1
	case PkK:
		if n.ctx == Tapscript {
			return 33
		}
		return 34
	case PkH:
		return 3 + 21
	case Older, After:
		return 1 + scriptNumPushSize(int64(n.K))
	case Sha256, Hash256:
		return 4 + 2 + 33
	case Ripemd160, Hash160:
		return 4 + 2 + 21
	case Multi:
		return 1 + scriptNumPushSize(int64(len(n.Keys))) + scriptNumPushSize(int64(n.K)) + 34*len(n.Keys)
	case MultiA:
		return (1+32+1)*len(n.Keys) + scriptNumPushSize(int64(n.K)) + 1
	case AndV:
		return n.sub(0).size + n.sub(1).size
	case WrapV:
		if n.sub(0).typ.Has(propX) {
			return n.sub(0).size + 1
		}
		return n.sub(0).size
	case WrapS, WrapC, WrapN, AndB, OrB:
		s := 1
		for _, c := range n.Subs {
			s += c.size
		}
		return s
	case WrapA:
		return n.sub(0).size + 2
	case OrC:
		return n.sub(0).size + n.sub(1).size + 2
	case WrapD, OrD, OrI:
		s := 3
		for _, c := range n.Subs {
			s += c.size
		}
		return s
	case WrapJ:
		return n.sub(0).size + 4
	case AndOr:
		return n.sub(0).size + n.sub(1).size + n.sub(2).size + 3
	case Thresh:
		s := len(n.Subs) + scriptNumPushSize(int64(n.K)) // ADDs, k, EQUAL
		for _, c := range n.Subs {
			s += c.size
		}
		return s
	}
	return 0
}

func (n *Node) computeOps() opsInfo {
	switch n.Frag {
	case Just0:
		return opsInfo{0, none, some(0)}
	case Just1:
		return opsInfo{0, some(0), none}
	case PkK:
		return opsInfo{0, some(0), some(0)}
	case PkH:
		return opsInfo{3, some(0), some(0)}
	case Older, After:
		return opsInfo{1, some(0), none}
	case Sha256, Hash256, Ripemd160, Hash160:
		// The dissatisfaction (any other 32-byte value) is malleable,
		// so no non-malleable witness uses it: like Core, leave it out
		// (rust-miniscript counts it and gets larger bounds).
		return opsInfo{4, some(0), none}
	case AndV:
		x, y := n.sub(0).ops, n.sub(1).ops
		return opsInfo{x.count + y.count, x.sat.add(y.sat), none}
	case AndB:
		x, y := n.sub(0).ops, n.sub(1).ops
		return opsInfo{1 + x.count + y.count, x.sat.add(y.sat), x.dsat.add(y.dsat)}
	case OrB:
		x, y := n.sub(0).ops, n.sub(1).ops
		return opsInfo{1 + x.count + y.count, x.sat.add(y.dsat).or(x.dsat.add(y.sat)), x.dsat.add(y.dsat)}
	case OrD:
		x, y := n.sub(0).ops, n.sub(1).ops
		return opsInfo{3 + x.count + y.count, x.sat.or(x.dsat.add(y.sat)), x.dsat.add(y.dsat)}
	case OrC:
		x, y := n.sub(0).ops, n.sub(1).ops
		return opsInfo{2 + x.count + y.count, x.sat.or(x.dsat.add(y.sat)), none}
	case OrI:
		x, y := n.sub(0).ops, n.sub(1).ops
		return opsInfo{3 + x.count + y.count, x.sat.or(y.sat), x.dsat.or(y.dsat)}
	case AndOr:
		x, y, z := n.sub(0).ops, n.sub(1).ops, n.sub(2).ops
		return opsInfo{3 + x.count + y.count + z.count, y.sat.add(x.sat).or(x.dsat.add(z.sat)), x.dsat.add(z.dsat)}
	case Multi:
		return opsInfo{1, some(len(n.Keys)), some(len(n.Keys))}
	case MultiA:
		return opsInfo{len(n.Keys) + 1, some(0), some(0)}
	case WrapS, WrapC, WrapN:
		x := n.sub(0).ops
		return opsInfo{1 + x.count, x.sat, x.dsat}
	case WrapA:
		x := n.sub(0).ops
		return opsInfo{2 + x.count, x.sat, x.dsat}
	case WrapD:
		x := n.sub(0).ops
		return opsInfo{3 + x.count, x.sat, some(0)}
	case WrapJ:
		x := n.sub(0).ops
		return opsInfo{4 + x.count, x.sat, some(0)}
	case WrapV:
		x := n.sub(0).ops
		c := x.count
		if n.sub(0).typ.Has(propX) {
			c++
		}
		return opsInfo{c, x.sat, none}
	case Thresh:
		count := 0
		sats := []maxInt{some(0)}
		for i, c := range n.Subs {
			count += c.ops.count
			if i > 0 {
				count++ // OP_ADD
			}
			next := []maxInt{sats[0].add(c.ops.dsat)}
			for j := 1; j < len(sats); j++ {
				next = append(next, sats[j].add(c.ops.dsat).or(sats[j-1].add(c.ops.sat)))
			}
			next = append(next, sats[len(sats)-1].add(c.ops.sat))
			sats = next
		}
		return opsInfo{count + 1, sats[n.K], sats[0]} // + OP_EQUAL
	}
	return opsInfo{}
}

func (n *Node) computeStack() stackInfo {
	switch n.Frag {
	case Just0:
		return stackInfo{satInfo{}, siPush}
	case Just1:
		return stackInfo{siPush, satInfo{}}
	case Older, After:
		return stackInfo{siPush.then(siNop), satInfo{}}
	case PkK:
		return stackInfo{siPush, siPush}
	case PkH:
		s := siDup.then(siHash).then(siPush).then(siEqVfy)
		return stackInfo{s, s}
	case Sha256, Hash256, Ripemd160, Hash160:
		return stackInfo{siSize.then(siPush).then(siEqVfy).then(siHash).then(siPush).then(siEqual), satInfo{}}
	case AndOr:
		x, y, z := n.sub(0).ss, n.sub(1).ss, n.sub(2).ss
		return stackInfo{
			x.sat.then(siIf).then(y.sat).or(x.dsat.then(siIf).then(z.sat)),
			x.dsat.then(siIf).then(z.dsat),
		}
	case AndV:
		x, y := n.sub(0).ss, n.sub(1).ss
		return stackInfo{x.sat.then(y.sat), satInfo{}}
	case AndB:
		x, y := n.sub(0).ss, n.sub(1).ss
		return stackInfo{x.sat.then(y.sat).then(siBinary), x.dsat.then(y.dsat).then(siBinary)}
	case OrB:
		x, y := n.sub(0).ss, n.sub(1).ss
		return stackInfo{
			x.sat.then(y.dsat).or(x.dsat.then(y.sat)).then(siBinary),
			x.dsat.then(y.dsat).then(siBinary),
		}
	case OrC:
		x, z := n.sub(0).ss, n.sub(1).ss
		return stackInfo{x.sat.then(siIf).or(x.dsat.then(siIf).then(z.sat)), satInfo{}}
	case OrD:
		x, z := n.sub(0).ss, n.sub(1).ss
		return stackInfo{
			x.sat.then(siIfDupNZ).then(siIf).or(x.dsat.then(siIfDupZ).then(siIf).then(z.sat)),
			x.dsat.then(siIfDupZ).then(siIf).then(z.dsat),
		}
	case OrI:
		x, z := n.sub(0).ss, n.sub(1).ss
		return stackInfo{
			siIf.then(x.sat).or(siIf.then(z.sat)),
			siIf.then(x.dsat).or(siIf.then(z.dsat)),
		}
	case Multi:
		// k+1 inputs, then n+k+3 elements after pushing k, the keys and
		// n, ending with one.
		s := si(int(n.K), int(n.K)+len(n.Keys)+2)
		return stackInfo{s, s}
	case MultiA:
		// n inputs, one more after the first key push, ending with one.
		s := si(len(n.Keys)-1, len(n.Keys))
		return stackInfo{s, s}
	case WrapA, WrapN, WrapS:
		return n.sub(0).ss
	case WrapC:
		x := n.sub(0).ss
		return stackInfo{x.sat.then(siCheck), x.dsat.then(siCheck)}
	case WrapD:
		x := n.sub(0).ss
		return stackInfo{siDup.then(siIf).then(x.sat), siDup.then(siIf)}
	case WrapV:
		x := n.sub(0).ss
		return stackInfo{x.sat.then(siVerify), satInfo{}}
	case WrapJ:
		x := n.sub(0).ss
		pre := siSize.then(siNotEq0).then(siIf)
		return stackInfo{pre.then(x.sat), pre}
	case Thresh:
		sats := []satInfo{siEmpty}
		for i, c := range n.Subs {
			add := siEmpty
			if i > 0 {
				add = siBinary
			}
			next := []satInfo{sats[0].then(c.ss.dsat).then(add)}
			for j := 1; j < len(sats); j++ {
				next = append(next, sats[j].then(c.ss.dsat).or(sats[j-1].then(c.ss.sat)).then(add))
			}
			next = append(next, sats[len(sats)-1].then(c.ss.sat).then(add))
			sats = next
		}
		tail := siPush.then(siEqual)
		return stackInfo{sats[n.K].then(tail), sats[0].then(tail)}
	}
	return stackInfo{}
}

func (n *Node) sigSize() int {
	if n.ctx == Tapscript {
		return sigSizeSchnorr
	}
	return sigSizeECDSA
}

func (n *Node) pubKeySize() int {
	if n.ctx == Tapscript {
		return 1 + 32
	}
	return 1 + 33
}

func (n *Node) computeWitness() witnessInfo {
	sig, pub := n.sigSize(), n.pubKeySize()
	switch n.Frag {
	case Just0:
		return witnessInfo{none, some(0)}
	case Just1, Older, After:
		return witnessInfo{some(0), none}
	case PkK:
		return witnessInfo{some(sig), some(1)}
	case PkH:
		return witnessInfo{some(sig + pub), some(1 + pub)}
	case Sha256, Hash256, Ripemd160, Hash160:
		return witnessInfo{some(1 + 32), none}
	case AndOr:
		x, y, z := n.sub(0).ws, n.sub(1).ws, n.sub(2).ws
		return witnessInfo{x.sat.add(y.sat).or(x.dsat.add(z.sat)), x.dsat.add(z.dsat)}
	case AndV:
		x, y := n.sub(0).ws, n.sub(1).ws
		return witnessInfo{x.sat.add(y.sat), none}
	case AndB:
		x, y := n.sub(0).ws, n.sub(1).ws
		return witnessInfo{x.sat.add(y.sat), x.dsat.add(y.dsat)}
	case OrB:
		x, y := n.sub(0).ws, n.sub(1).ws
		return witnessInfo{x.dsat.add(y.sat).or(x.sat.add(y.dsat)), x.dsat.add(y.dsat)}
	case OrC:
		x, y := n.sub(0).ws, n.sub(1).ws
		return witnessInfo{x.sat.or(x.dsat.add(y.sat)), none}
	case OrD:
		x, y := n.sub(0).ws, n.sub(1).ws
		return witnessInfo{x.sat.or(x.dsat.add(y.sat)), x.dsat.add(y.dsat)}
	case OrI:
		// The branch selector: "1" is two bytes, "0" (empty) one.
		x, y := n.sub(0).ws, n.sub(1).ws
		return witnessInfo{x.sat.add(some(2)).or(y.sat.add(some(1))), x.dsat.add(some(2)).or(y.dsat.add(some(1)))}
	case Multi:
		return witnessInfo{some(int(n.K)*sig + 1), some(int(n.K) + 1)}
	case MultiA:
		return witnessInfo{some(int(n.K)*sig + len(n.Keys) - int(n.K)), some(len(n.Keys))}
	case WrapA, WrapN, WrapS, WrapC:
		return n.sub(0).ws
	case WrapD:
		return witnessInfo{n.sub(0).ws.sat.add(some(2)), some(1)}
	case WrapV:
		return witnessInfo{n.sub(0).ws.sat, none}
	case WrapJ:
		return witnessInfo{n.sub(0).ws.sat, some(1)}
	case Thresh:
		sats := []maxInt{some(0)}
		for _, c := range n.Subs {
			next := []maxInt{sats[0].add(c.ws.dsat)}
			for j := 1; j < len(sats); j++ {
				next = append(next, sats[j].add(c.ws.dsat).or(sats[j-1].add(c.ws.sat)))
			}
			next = append(next, sats[len(sats)-1].add(c.ws.sat))
			sats = next
		}
		return witnessInfo{sats[n.K], sats[0]}
	}
	return witnessInfo{}
}

// isBKW is 1 for expressions that leave one element on the stack.
func (n *Node) isBKW() int {
	if n.typ.Has(TypeV) {
		return 0
	}
	return 1
}

// MaxOps returns the most non-push opcodes a satisfaction executes
// (counted as the consensus 201-op limit counts them), or false if the node
// cannot be satisfied.
func (n *Node) MaxOps() (int, bool) {
	if !n.ops.sat.ok {
		return 0, false
	}
	return n.ops.count + n.ops.sat.v, true
}

// MaxWitnessElements returns the most witness stack elements a
// satisfaction needs, not counting the script (and control block), or
// false if the node cannot be satisfied.
func (n *Node) MaxWitnessElements() (int, bool) {
	if !n.ss.sat.ok {
		return 0, false
	}
	return n.ss.sat.netdiff + n.isBKW(), true
}

// MaxExecStackSize returns the largest stack a satisfaction reaches while
// the script runs, or false if the node cannot be satisfied.
func (n *Node) MaxExecStackSize() (int, bool) {
	if !n.ss.sat.ok {
		return 0, false
	}
	return n.ss.sat.exec + n.isBKW(), true
}

// MaxWitnessSize returns the largest satisfaction in bytes: the sum of the
// witness elements with their length prefixes, without the element count,
// the script and the control block. Signatures count as 73 bytes (ECDSA)
// or 66 (Schnorr) with their prefix. False if the node cannot be
// satisfied. Use it for fee estimation of the worst-case spending path;
// Path.WitnessSize gives the size of one path.
func (n *Node) MaxWitnessSize() (int, bool) {
	if !n.ws.sat.ok {
		return 0, false
	}
	return n.ws.sat.v, true
}

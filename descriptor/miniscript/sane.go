package miniscript

import (
	"errors"
	"fmt"
)

// Reasons a valid miniscript is not sane. Each is wrapped together with
// ErrNotSane.
var (
	ErrNotSane       = errors.New("miniscript: not sane")
	ErrMalleable     = errors.New("some spending path can be satisfied malleably")
	ErrNoSignature   = errors.New("some spending path needs no signature")
	ErrTimelockMix   = errors.New("a spending path mixes height and time locks of one kind")
	ErrResourceLimit = errors.New("a satisfaction exceeds a consensus or standardness limit")
	ErrDuplicateKey  = errors.New("a key appears more than once")
)

func notSane(reason error, format string, args ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{ErrNotSane, reason}, args...)...)
}

// IsSane returns nil when the miniscript is safe to use as a wallet's
// spending policy, as Bitcoin Core's IsSane: a valid top level of type B,
// non-malleable (m), every satisfaction signed (s), no timelock mix on any
// path (k), within the resource limits of its context, and no repeated
// key. Otherwise the error wraps ErrNotSane and the specific reason.
func (n *Node) IsSane() error {
	if err := n.checkValidTopLevel(); err != nil {
		return err
	}
	if !n.typ.Has(PropM) {
		return notSane(ErrMalleable, "%s", n.typ)
	}
	if !n.typ.Has(PropS) {
		return notSane(ErrNoSignature, "%s", n.typ)
	}
	if !n.typ.Has(PropK) {
		return notSane(ErrTimelockMix, "%s", n.typ)
	}
	if err := n.CheckResourceLimits(); err != nil {
		return err
	}
	seen := map[string]bool{}
	var dup error
	n.walk(func(m *Node) {
		for _, k := range m.Keys {
			s := k.String()
			if seen[s] && dup == nil {
				dup = notSane(ErrDuplicateKey, "%s", s)
			}
			seen[s] = true
		}
	})
	return dup
}

// CheckResourceLimits checks BIP-379's resource limits for the worst-case
// satisfaction: in P2WSH at most 201 non-push opcodes (counting the keys of
// executed CHECKMULTISIGs) and 100 witness elements; in both contexts at
// most 1000 stack elements while the script runs.
func (n *Node) CheckResourceLimits() error {
	if n.ctx == P2WSH {
		if ops, ok := n.MaxOps(); ok && ops > MaxOpsPerScript {
			return notSane(ErrResourceLimit, "%d opcodes, over %d", ops, MaxOpsPerScript)
		}
		if el, ok := n.MaxWitnessElements(); ok && el > MaxP2WSHStackItems {
			return notSane(ErrResourceLimit, "%d witness elements, over %d", el, MaxP2WSHStackItems)
		}
	}
	if ex, ok := n.MaxExecStackSize(); ok && ex > MaxStackSize {
		return notSane(ErrResourceLimit, "%d stack elements during execution, over %d", ex, MaxStackSize)
	}
	return nil
}

// walk calls f on n and every subexpression, parents first.
func (n *Node) walk(f func(*Node)) {
	f(n)
	for _, s := range n.Subs {
		s.walk(f)
	}
}

// AllKeys returns every key of the miniscript in the order they appear.
func (n *Node) AllKeys() []Key {
	var out []Key
	n.walk(func(m *Node) { out = append(out, m.Keys...) })
	return out
}

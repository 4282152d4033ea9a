package descriptor

import "fmt"

// clone returns a deep copy with its own, empty derivation cache.
func (d *Descriptor) clone() *Descriptor {
	c := &Descriptor{
		Script:    d.Script,
		Threshold: d.Threshold,
		Sorted:    d.Sorted,
		Keys:      make([]Key, len(d.Keys)),
		Tap:       d.Tap.clone(),
		cache:     newNodeCache(),
	}
	for i := range d.Keys {
		c.Keys[i] = d.Keys[i].clone()
	}
	c.Miniscript = d.Miniscript
	return c
}

// rebind brings a clone's miniscript in line with its (changed) keys.
func (c *Descriptor) rebind() error {
	if c.Miniscript == nil {
		return nil
	}
	if err := c.rebindMiniscript(c.Miniscript); err != nil {
		return invalid(fmt.Errorf("rewriting the miniscript's keys: %w", err))
	}
	return nil
}

// Multipath returns the wallet form of d: when every extended key ends in the
// same /0/* or /1/* (a Core-style receive or change descriptor), that step
// becomes /<0;1>/*. Any other descriptor, including one already using
// multipath, comes back as an unchanged copy.
func (d *Descriptor) Multipath() *Descriptor {
	c := d.multipath()
	if err := c.rebind(); err != nil {
		// Only a hand-built miniscript over foreign keys fails here;
		// keep d's form rather than one whose text disagrees.
		return d.clone()
	}
	return c
}

func (d *Descriptor) multipath() *Descriptor {
	c := d.clone()
	if d.Branches() > 1 {
		return c
	}
	last, found := uint32(0), false
	for i := range c.Keys {
		k := &c.Keys[i]
		if k.XPub == nil {
			continue
		}
		if c.Tap != nil && !k.Wildcard && len(k.Path) == 0 {
			// A musig() participant: the aggregate carries the steps.
			continue
		}
		if !k.Wildcard || k.HardenedWildcard || len(k.Path) == 0 {
			return c
		}
		v := k.Path[len(k.Path)-1].Index
		if v > 1 || (found && v != last) {
			return c
		}
		last, found = v, true
	}
	if c.Tap != nil {
		ok := true
		c.Tap.tapKeys(func(t *TapKey) {
			if !t.IsMuSig() || (len(t.Path) == 0 && !t.Wildcard) {
				return
			}
			if !t.Wildcard || len(t.Path) == 0 {
				ok = false
				return
			}
			v := t.Path[len(t.Path)-1].Index
			if v > 1 || (found && v != last) {
				ok = false
				return
			}
			last, found = v, true
		})
		if !ok {
			return d.clone()
		}
	}
	if !found {
		return c
	}
	if c.Tap != nil {
		c.Tap.tapKeys(func(t *TapKey) {
			if t.IsMuSig() && t.Wildcard && len(t.Path) > 0 {
				t.Path[len(t.Path)-1] = PathElem{Multi: []uint32{0, 1}}
			}
		})
	}
	for i := range c.Keys {
		if k := &c.Keys[i]; k.XPub != nil && k.Wildcard && len(k.Path) > 0 {
			k.Path[len(k.Path)-1] = PathElem{Multi: []uint32{0, 1}}
		}
	}
	return c
}

// Single returns alternative branch of a multipath descriptor as a plain
// descriptor (Bitcoin Core imports receive and change this way). Without
// multipath only branch 0 exists and a copy is returned. Errors wrap
// ErrInvalid.
func (d *Descriptor) Single(branch uint32) (*Descriptor, error) {
	if n := d.Branches(); int64(branch) >= int64(n) {
		return nil, invalid(fmt.Errorf("branch %d does not exist: this descriptor has %d (0 = receive, 1 = change)", branch, n))
	}
	c := d.clone()
	for i := range c.Keys {
		k := &c.Keys[i]
		for j, e := range k.Path {
			if e.Multi != nil {
				k.Path[j] = PathElem{Index: e.Multi[branch]}
			}
		}
	}
	if err := c.rebind(); err != nil {
		return nil, err
	}
	if c.Tap != nil {
		c.Tap.tapKeys(func(t *TapKey) {
			for j, e := range t.Path {
				if e.Multi != nil {
					t.Path[j] = PathElem{Index: e.Multi[branch]}
				}
			}
		})
	}
	return c, nil
}

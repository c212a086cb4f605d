package netfault

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ErrForeignQdisc is returned (wrapped) when a link carries something Firedrill cannot put back
// exactly after the fault (a classful root qdisc, an ingress qdisc of someone else's). Firedrill
// refuses rather than destroy it.
var ErrForeignQdisc = errors.New("the link has a qdisc Firedrill cannot restore")

// Apply makes the Firedrill tree on link (in the namespace of h) equal to faults: faults that
// stay are left in place, new ones are added, gone ones removed. An empty set is Clear. The
// link's own root qdisc is kept as the leaf of the default class while faults are on (so
// unmatched traffic is queued as before, and the kernel itself remembers it) and is put back by
// Clear.
func Apply(h *netlink.Handle, linkName string, faults []Fault) error {
	link, err := h.LinkByName(linkName)
	if err != nil {
		return fmt.Errorf("finding link %s: %w", linkName, err)
	}
	return ApplyLink(h, link, faults)
}

// ApplyLink is Apply for a link already looked up (a lookup is a netlink round trip).
func ApplyLink(h *netlink.Handle, link netlink.Link, faults []Fault) error {
	if len(faults) == 0 {
		return ClearLink(h, link)
	}
	linkName := link.Attrs().Name
	egress, ingress, err := Build(faults)
	if err != nil {
		return err
	}
	// The common case, one fault on all of a pod's egress, is one qdisc at the root. Added with
	// the exclusive flag it only lands on the kernel's default root: then nothing else is needed.
	fast := singleRoot(link, egress, ingress)
	if fast != nil {
		err := h.QdiscAdd(fast)
		if err == nil {
			// The root was the kernel's default, so there is no ingress state to remove either:
			// Firedrill never has ingress state without an egress root of its own (below).
			return nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return leafError(egress.Classes[0], fast, err)
		}
	}
	// One dump of the link's qdiscs serves every decision below: each netlink round trip costs
	// tens of microseconds.
	qs, err := qdiscs(h, link)
	if err != nil {
		return err
	}
	root := qs.root()
	var maj uint16 // the egress root's major: KeptMajor when the pod's own root is kept inside
	switch {
	case root == nil || root.Attrs().Handle == 0 || major(root.Attrs().Handle) == EgressMajor:
		maj = EgressMajor
	default: // KeptMajor already, or the pod's own root, which the tree will keep
		maj = KeptMajor
	}
	if fast != nil && maj == EgressMajor {
		// Firedrill's own root already: changed in place when of the same kind; a kernel cannot
		// change a qdisc's kind under one handle, so another kind is swapped (delete, add).
		if err := swapRoot(h, root, fast); err != nil {
			return leafError(egress.Classes[0], fast, err)
		}
		if qs.ingress() == nil {
			return nil
		}
		return removeIngress(h, link, qs)
	}
	var reserved []uint16
	if maj == KeptMajor && major(root.Attrs().Handle) != KeptMajor {
		reserved = append(reserved, major(root.Attrs().Handle))
	}
	if kept := qs.under(handle(KeptMajor, defaultMinor)); kept != nil {
		reserved = append(reserved, major(kept.Attrs().Handle))
	}
	if egress, ingress, err = Build(faults, reserved...); err != nil {
		return err
	}
	// With ingress faults only, the egress tree is empty but still planted: an egress root of
	// Firedrill's marks every link with ingress state, which lets the single-root fast path and
	// ClearLink skip looking for it.
	if err := applyTree(h, link, maj, egress, qs); err != nil {
		return fmt.Errorf("egress on %s: %w", linkName, err)
	}
	if ingress.Empty() {
		if qs.ingress() == nil {
			return nil // no ingress qdisc: no redirect of Firedrill's either
		}
		return removeIngress(h, link, qs)
	}
	ifb, err := ensureIngress(h, link, qs)
	if err != nil {
		return fmt.Errorf("ingress on %s: %w", linkName, err)
	}
	ifbQs, err := qdiscs(h, ifb)
	if err != nil {
		return err
	}
	if err := applyTree(h, ifb, IngressMajor, ingress, ifbQs); err != nil {
		return fmt.Errorf("ingress on %s (through %s): %w", linkName, IFBName, err)
	}
	return nil
}

// qdiscList is one dump of a link's qdiscs.
type qdiscList []netlink.Qdisc

func qdiscs(h *netlink.Handle, link netlink.Link) (qdiscList, error) {
	qs, err := h.QdiscList(link)
	if err != nil {
		return nil, fmt.Errorf("listing qdiscs of %s: %w", link.Attrs().Name, err)
	}
	return qs, nil
}

// under is the qdisc whose parent is parent (netlink.HANDLE_ROOT: the root qdisc).
func (qs qdiscList) under(parent uint32) netlink.Qdisc {
	for _, q := range qs {
		if q.Attrs().Parent == parent {
			return q
		}
	}
	return nil
}

func (qs qdiscList) root() netlink.Qdisc { return qs.under(netlink.HANDLE_ROOT) }

func (qs qdiscList) ingress() netlink.Qdisc {
	if q := qs.under(netlink.HANDLE_INGRESS); q != nil {
		return q
	}
	return qs.under(netlink.HANDLE_CLSACT)
}

// Clear removes everything Firedrill put on link and its namespace's IFB, and restores the
// link's original root qdisc. Clearing a clean link is a no-op.
func Clear(h *netlink.Handle, linkName string) error {
	link, err := h.LinkByName(linkName)
	if err != nil {
		return fmt.Errorf("finding link %s: %w", linkName, err)
	}
	return ClearLink(h, link)
}

// ClearLink is Clear for a link already looked up.
func ClearLink(h *netlink.Handle, link netlink.Link) error {
	// Ingress first: the egress root is the mark that ingress state may exist (see ApplyLink), so
	// it goes last.
	ifb, err := findIFB(h)
	if err != nil {
		return err
	}
	if ifb == nil {
		// fd00: at the root holds nothing of the pod's (see KeptMajor): delete it outright. The
		// kernel refuses the handle (EINVAL) when the root is anything else; the full path decides.
		del := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: handle(EgressMajor, 0)}}
		if err := h.QdiscDel(del); err == nil {
			return nil
		} else if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("removing Firedrill's root qdisc from %s: %w", link.Attrs().Name, err)
		}
	}
	qs, err := qdiscs(h, link)
	if err != nil {
		return err
	}
	if err := removeIngress(h, link, qs); err != nil {
		return err
	}
	return restoreRoot(h, link, qs)
}

// singleRoot is the one qdisc that can stand for the egress tree at the root, when it is a
// single fault on all traffic and there is nothing on ingress: tbf for a rate limit, netem, or
// blackhole for a partition. Nil when a tree is needed.
func singleRoot(link netlink.Link, egress, ingress Tree) netlink.Qdisc {
	if !ingress.Empty() || len(egress.Classes) != 1 {
		return nil
	}
	c := egress.Classes[0]
	if len(c.Filters) != 1 || len(c.Filters[0]) != 1 || c.Filters[0][0] != (Key{}) || (c.RateBits > 0 && len(c.Netem) > 0) || len(c.Netem) > 1 {
		return nil
	}
	attrs := netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: handle(EgressMajor, 0), Parent: netlink.HANDLE_ROOT}
	switch {
	case c.Drop:
		return &netlink.GenericQdisc{QdiscAttrs: attrs, QdiscType: "blackhole"}
	case len(c.Netem) == 1:
		return netlink.NewNetem(attrs, c.Netem[0])
	default:
		// A bucket of 10 ms of traffic (at least two full frames) and 50 ms of queue behind it.
		bytesPerSec := c.RateBits / 8
		burst := max(bytesPerSec/100, 2*1514)
		// tbf takes its bucket as the time to send it at the rate, in scheduler ticks.
		return &netlink.Tbf{QdiscAttrs: attrs, Rate: bytesPerSec, Buffer: netlink.Xmittime(bytesPerSec, uint32(burst)),
			Limit: uint32(bytesPerSec/20 + burst)}
	}
}

// swapRoot puts q at the root in place of old: a replace, except over a qdisc of another kind
// under the same handle (Firedrill's single-fault root becoming its tree, or back), which the
// kernel cannot change in place and which is deleted first.
func swapRoot(h *netlink.Handle, old, q netlink.Qdisc) error {
	if old != nil && old.Attrs().Handle == q.Attrs().Handle && old.Type() != q.Type() {
		if err := h.QdiscDel(old); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return h.QdiscReplace(q)
}

func leafError(c Class, q netlink.Qdisc, err error) error {
	if len(c.Netem) > 0 && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP)) {
		return fmt.Errorf("fault %s: %w (the kernel refused netem: %v)", c.Name(), ErrNetemUnsupported, err)
	}
	return fmt.Errorf("fault %s: %s: %w", c.Name(), q.Type(), err)
}

// Present reports whether link (or its namespace) carries anything of Firedrill's.
func Present(h *netlink.Handle, linkName string) (bool, error) {
	link, err := h.LinkByName(linkName)
	if err != nil {
		return false, fmt.Errorf("finding link %s: %w", linkName, err)
	}
	return PresentLink(h, link)
}

// PresentLink is Present for a link already looked up.
func PresentLink(h *netlink.Handle, link netlink.Link) (bool, error) {
	qs, err := qdiscs(h, link)
	if err != nil {
		return false, err
	}
	if root := qs.root(); root != nil && (root.Attrs().Handle == handle(EgressMajor, 0) || root.Attrs().Handle == handle(KeptMajor, 0)) {
		return true, nil
	}
	ifb, err := findIFB(h)
	return ifb != nil, err
}

func major(handle uint32) uint16 { return uint16(handle >> 16) }

func handle(maj, min uint16) uint32 { return netlink.MakeHandle(maj, min) }

// restorable copies a classless qdisc so it can be put back with the same kind, handle and
// parameters; classful or unknown kinds cannot be, and are refused.
func restorable(q netlink.Qdisc, parent uint32) (netlink.Qdisc, error) {
	attrs := netlink.QdiscAttrs{LinkIndex: q.Attrs().LinkIndex, Handle: q.Attrs().Handle, Parent: parent}
	switch q := q.(type) {
	case *netlink.Tbf:
		c := *q
		c.QdiscAttrs = attrs
		return &c, nil
	case *netlink.FqCodel:
		c := *q
		c.QdiscAttrs = attrs
		return &c, nil
	case *netlink.Sfq:
		c := *q
		c.QdiscAttrs = attrs
		return &c, nil
	case *netlink.Fq:
		c := *q
		c.QdiscAttrs = attrs
		return &c, nil
	}
	return nil, fmt.Errorf("%w: root qdisc %s %x: is not one Firedrill can copy back (tbf, fq_codel, sfq, fq, or the kernel's default)",
		ErrForeignQdisc, q.Type(), major(q.Attrs().Handle))
}

// applyTree puts tree on link under the root major maj: the HTB root (replacing, and keeping a
// root of the pod's own, the first time), one class per fault with its leaf, and the filters. qs
// is the link's qdiscs as they were.
func applyTree(h *netlink.Handle, link netlink.Link, maj uint16, tree Tree, qs qdiscList) error {
	idx := link.Attrs().Index
	rootHandle := handle(maj, 0)
	fresh := false
	if root := qs.root(); root == nil || root.Attrs().Handle != rootHandle || root.Type() != "htb" {
		if err := plantRoot(h, link, maj, root); err != nil {
			return err
		}
		fresh, qs = true, nil // nothing of the old tree is left to compare with
	}

	want := map[uint16]Class{}
	for _, c := range tree.Classes {
		want[c.Prio] = c
	}
	have := map[uint16][]netlink.Filter{}
	stale := map[uint16]bool{}
	if !fresh {
		// Filters first out, last in: a class is never removed while a filter still points at it.
		filters, err := h.FilterList(link, rootHandle)
		if err != nil {
			return fmt.Errorf("listing filters: %w", err)
		}
		for _, f := range filters {
			have[f.Attrs().Priority] = append(have[f.Attrs().Priority], f)
		}
		for prio, fs := range have {
			c, ok := want[prio]
			if !ok || !sameFilters(fs, c, maj) {
				if err := deletePrio(h, idx, rootHandle, prio); err != nil {
					return err
				}
				stale[prio] = true
			}
		}
		classes, err := h.ClassList(link, rootHandle)
		if err != nil {
			return fmt.Errorf("listing classes: %w", err)
		}
		wantMinor := map[uint16]bool{defaultMinor: true}
		for _, c := range tree.Classes {
			wantMinor[c.Minor] = true
		}
		for _, cl := range classes {
			if m := uint16(cl.Attrs().Handle & 0xFFFF); major(cl.Attrs().Handle) == maj && !wantMinor[m] {
				if err := h.ClassDel(cl); err != nil && !errors.Is(err, unix.ENOENT) {
					return fmt.Errorf("removing class %x:%x: %w", maj, m, err)
				}
			}
		}
	}

	for _, c := range tree.Classes {
		if err := h.ClassReplace(htbClass(idx, maj, c.Minor, c.RateBits)); err != nil {
			return fmt.Errorf("fault %s: class %x:%x: %w", c.Name(), maj, c.Minor, err)
		}
		if err := applyLeaf(h, link, maj, c, qs); err != nil {
			return err
		}
		if _, ok := have[c.Prio]; ok && !stale[c.Prio] {
			continue // its filters are already what they should be
		}
		for i, sel := range c.Filters {
			if err := h.FilterAdd(u32(idx, rootHandle, maj, c, sel)); err != nil {
				return fmt.Errorf("fault %s: filter %d: %w", c.Name(), i, err)
			}
		}
	}
	return nil
}

// plantRoot replaces link's root with Firedrill's HTB. A root the pod set itself (handle not 0)
// is kept, copied, as the leaf of the default class: unmatched traffic is queued as before, and
// the kernel itself holds what to restore. With the kernel's default root there is no default
// class at all: HTB then sends unmatched packets straight through, unshaped.
func plantRoot(h *netlink.Handle, link netlink.Link, maj uint16, root netlink.Qdisc) error {
	var keep netlink.Qdisc
	if root != nil && root.Attrs().Handle != 0 && major(root.Attrs().Handle) != EgressMajor && major(root.Attrs().Handle) != IngressMajor {
		var err error
		if keep, err = restorable(root, handle(maj, defaultMinor)); err != nil {
			return err
		}
	}
	htb := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: handle(maj, 0), Parent: netlink.HANDLE_ROOT})
	htb.Defcls = defaultMinor
	if err := swapRoot(h, root, htb); err != nil {
		return fmt.Errorf("adding root htb %x: %w", maj, err)
	}
	if keep == nil {
		return nil
	}
	if err := h.ClassReplace(htbClass(link.Attrs().Index, maj, defaultMinor, 0)); err != nil {
		return fmt.Errorf("adding default class: %w", err)
	}
	if err := h.QdiscAdd(keep); err != nil {
		return fmt.Errorf("keeping the original root %s as the default class's leaf: %w", keep.Type(), err)
	}
	return nil
}

// applyLeaf puts the qdiscs under a class: netem for delay/loss/… (a second one chained under the
// first when two faults share the class), blackhole for a partition (the drop action, act_gact,
// is a module many kernels, this machine's included, lack; the blackhole qdisc is built into
// every kernel with tc), none for a pure rate limit. qs is what the link held before.
func applyLeaf(h *netlink.Handle, link netlink.Link, maj uint16, c Class, qs qdiscList) error {
	var want []netlink.Qdisc
	parent := handle(maj, c.Minor)
	for i := range max(len(c.Netem), 1) {
		attrs := netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: handle(c.Minor|uint16(i)*chainBit, 0), Parent: parent}
		switch {
		case c.Drop:
			want = append(want, &netlink.GenericQdisc{QdiscAttrs: attrs, QdiscType: "blackhole"})
		case len(c.Netem) > 0:
			want = append(want, netlink.NewNetem(attrs, c.Netem[i]))
		}
		parent = handle(uint16(attrs.Handle>>16), 1) // a netem's one child hangs from its class 1
	}
	// Top down: what is there but no longer wanted, or of another kind, goes (with what hangs
	// under it); then each level is put in place.
	parent = handle(maj, c.Minor)
	for i := 0; ; i++ {
		have := qs.under(parent)
		if have == nil {
			break
		}
		if i >= len(want) || have.Type() != want[i].Type() || have.Attrs().Handle != want[i].Attrs().Handle {
			if err := h.QdiscDel(have); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("fault %s: removing its old %s: %w", c.Name(), have.Type(), err)
			}
			break
		}
		parent = handle(major(have.Attrs().Handle), 1)
	}
	for _, q := range want {
		if q.Type() == "blackhole" && qs.under(q.Attrs().Parent) != nil && qs.under(q.Attrs().Parent).Type() == "blackhole" {
			continue // already there (it has no parameters)
		}
		if err := h.QdiscReplace(q); err != nil {
			return leafError(c, q, err)
		}
	}
	return nil
}

func htbClass(idx int, maj, min uint16, rateBits uint64) *netlink.HtbClass {
	if rateBits == 0 {
		rateBits = unlimitedBits
	}
	// An explicit quantum: the default (rate / r2q) is far too big at 10 Gbit and the kernel warns.
	return netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: idx, Parent: handle(maj, 0), Handle: handle(maj, min)},
		netlink.HtbClassAttrs{Rate: rateBits, Ceil: rateBits, Quantum: 60000})
}

func u32(idx int, parent uint32, maj uint16, c Class, sel Selector) *netlink.U32 {
	keys := make([]netlink.TcU32Key, len(sel))
	for i, k := range sel {
		keys[i] = netlink.TcU32Key{Off: k.Off, Val: k.Val, Mask: k.Mask}
	}
	f := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: parent, Priority: c.Prio, Protocol: unix.ETH_P_IP},
		Sel:         &netlink.TcU32Sel{Flags: nl.TC_U32_TERMINAL, Keys: keys},
	}
	f.ClassId = handle(maj, c.Minor)
	return f
}

// sameFilters compares the filters the kernel holds at one priority with a class's: same target
// and the same key sets, in any order.
func sameFilters(have []netlink.Filter, c Class, maj uint16) bool {
	var got []string
	for _, f := range have {
		u, ok := f.(*netlink.U32)
		if !ok {
			return false
		}
		if u.Sel == nil {
			continue // the priority's hash table node, not a rule
		}
		if u.ClassId != handle(maj, c.Minor) {
			return false
		}
		var ks Selector
		for _, k := range u.Sel.Keys {
			ks = append(ks, Key{Off: k.Off, Val: k.Val, Mask: k.Mask})
		}
		got = append(got, selectorString(ks))
	}
	var want []string
	for _, s := range c.Filters {
		want = append(want, selectorString(s))
	}
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

func selectorString(s Selector) string {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b Key) int {
		if a.Off != b.Off {
			return int(a.Off - b.Off)
		}
		return int(int64(a.Mask) - int64(b.Mask))
	})
	return fmt.Sprint(s)
}

func deletePrio(h *netlink.Handle, idx int, parent uint32, prio uint16) error {
	// No handle: the kernel removes the whole priority with every filter in it.
	f := &netlink.U32{FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: parent, Priority: prio, Protocol: unix.ETH_P_IP}}
	if err := h.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("removing filters at priority %d: %w", prio, err)
	}
	return nil
}

// restoreRoot takes Firedrill's root off link and puts the original back: the kept leaf of the
// default class when there is one, or the kernel's default otherwise.
func restoreRoot(h *netlink.Handle, link netlink.Link, qs qdiscList) error {
	root := qs.root()
	if root == nil {
		return nil
	}
	switch root.Attrs().Handle {
	case handle(EgressMajor, 0): // nothing of the pod's inside: the kernel's default comes back
		if err := h.QdiscDel(root); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("removing Firedrill's root qdisc from %s: %w", link.Attrs().Name, err)
		}
		return nil
	case handle(KeptMajor, 0):
	default:
		return nil
	}
	kept := qs.under(handle(KeptMajor, defaultMinor))
	if kept == nil {
		if err := h.QdiscDel(root); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("removing Firedrill's root qdisc from %s: %w", link.Attrs().Name, err)
		}
		return nil
	}
	orig, err := restorable(kept, netlink.HANDLE_ROOT)
	if err != nil {
		return err
	}
	// The kept copy holds the original's handle: free it before the original takes it back.
	if err := h.QdiscDel(kept); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("taking the original %s out of Firedrill's tree: %w", kept.Type(), err)
	}
	if err := h.QdiscReplace(orig); err != nil {
		return fmt.Errorf("restoring the original root %s %x: on %s: %w", orig.Type(), major(orig.Attrs().Handle), link.Attrs().Name, err)
	}
	return nil
}

func findIFB(h *netlink.Handle) (netlink.Link, error) {
	l, err := h.LinkByName(IFBName)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking for %s: %w", IFBName, err)
	}
	return l, nil
}

// ensureIngress redirects link's ingress into Firedrill's IFB (created in the same namespace) so
// the ingress tree can shape it like egress. The IFB is created before the ingress qdisc, so an
// ingress qdisc with the IFB present is always Firedrill's; one without it is someone else's and
// is refused.
func ensureIngress(h *netlink.Handle, link netlink.Link, qs qdiscList) (netlink.Link, error) {
	ifb, err := findIFB(h)
	if err != nil {
		return nil, err
	}
	ingress := qs.ingress()
	if ingress != nil && ifb == nil {
		return nil, fmt.Errorf("%w: %s already has a %s qdisc", ErrForeignQdisc, link.Attrs().Name, ingress.Type())
	}
	if ifb == nil {
		if err := h.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: IFBName, TxQLen: 1000}}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("creating %s: %w", IFBName, err)
		}
		if ifb, err = h.LinkByName(IFBName); err != nil {
			return nil, fmt.Errorf("finding %s: %w", IFBName, err)
		}
	}
	if err := h.LinkSetUp(ifb); err != nil {
		return nil, fmt.Errorf("setting %s up: %w", IFBName, err)
	}
	if ingress == nil {
		q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}
		if err := h.QdiscAdd(q); err != nil {
			return nil, fmt.Errorf("adding ingress qdisc: %w", err)
		}
	}
	parent := netlink.MakeHandle(0xffff, 0)
	fs, err := h.FilterList(link, parent)
	if err != nil {
		return nil, fmt.Errorf("listing ingress filters: %w", err)
	}
	redirected := slices.ContainsFunc(fs, func(f netlink.Filter) bool {
		u, ok := f.(*netlink.U32)
		return ok && slices.ContainsFunc(u.Actions, func(a netlink.Action) bool {
			m, ok := a.(*netlink.MirredAction)
			return ok && m.Ifindex == ifb.Attrs().Index
		})
	})
	if !redirected {
		f := &netlink.U32{
			FilterAttrs: netlink.FilterAttrs{LinkIndex: link.Attrs().Index, Parent: parent, Priority: 1, Protocol: unix.ETH_P_IP},
			Sel:         &netlink.TcU32Sel{Flags: nl.TC_U32_TERMINAL, Keys: []netlink.TcU32Key{{}}},
			Actions:     []netlink.Action{netlink.NewMirredAction(ifb.Attrs().Index)},
		}
		if err := h.FilterAdd(f); err != nil {
			return nil, fmt.Errorf("redirecting ingress to %s: %w", IFBName, err)
		}
	}
	return ifb, nil
}

// removeIngress removes the ingress qdisc and IFB Firedrill added (and nothing when it added none).
func removeIngress(h *netlink.Handle, link netlink.Link, qs qdiscList) error {
	ifb, err := findIFB(h)
	if err != nil || ifb == nil {
		return err
	}
	if q := qs.under(netlink.HANDLE_INGRESS); q != nil {
		if err := h.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("removing the ingress qdisc from %s: %w", link.Attrs().Name, err)
		}
	}
	if err := h.LinkDel(ifb); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("removing %s: %w", IFBName, err)
	}
	return nil
}

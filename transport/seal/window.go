package seal

const (
	windowWords = 64
	// ReplayWindow is how far below the newest packet number a packet is
	// still accepted. One word of the bitmap is shared with the newest
	// block, hence the 64.
	ReplayWindow = windowWords*64 - 64
)

// window is a sliding bitmap of recently opened packet numbers: a ring of
// 64-bit words indexed by number/64, cleared lazily as the top advances.
type window struct {
	top  uint64
	any  bool
	bits [windowWords]uint64
}

type verdict uint8

const (
	fresh verdict = iota
	replayed
	tooOld
)

func (w *window) check(n uint64) verdict {
	if !w.any || n > w.top {
		return fresh
	}
	if w.top-n >= ReplayWindow {
		return tooOld
	}
	if w.bits[(n/64)%windowWords]&(1<<(n%64)) != 0 {
		return replayed
	}
	return fresh
}

// mark records n; it must follow a check that returned fresh and a
// successful authentication, so forged numbers never move the window.
func (w *window) mark(n uint64) {
	if !w.any || n > w.top {
		nb := n / 64
		if !w.any || nb-w.top/64 >= windowWords {
			w.bits = [windowWords]uint64{}
		} else {
			for b := w.top/64 + 1; b <= nb; b++ {
				w.bits[b%windowWords] = 0
			}
		}
		w.top, w.any = n, true
	}
	w.bits[(n/64)%windowWords] |= 1 << (n % 64)
}

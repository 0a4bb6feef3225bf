package tree

import "strings"

// Compare orders paths component by component, so that a directory is
// immediately followed by everything below it: "a", "a/b", "a.txt".
// Plain byte order would put "a.txt" between "a" and "a/b", because '.' sorts
// before '/'. Every listing ferry produces or consumes is in this order.
func Compare(a, b string) int {
	for {
		ai := strings.IndexByte(a, '/')
		bi := strings.IndexByte(b, '/')
		ac, bc := a, b
		if ai >= 0 {
			ac = a[:ai]
		}
		if bi >= 0 {
			bc = b[:bi]
		}
		if c := strings.Compare(ac, bc); c != 0 {
			return c
		}
		switch {
		case ai < 0 && bi < 0:
			return 0
		case ai < 0:
			return -1
		case bi < 0:
			return 1
		}
		a, b = a[ai+1:], b[bi+1:]
	}
}

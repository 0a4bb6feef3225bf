// Package procio reads this process's I/O counters from /proc/self/io, for
// tests that count how often files are read.
package procio

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ReadCalls is this process's count of read system calls so far (syscr:
// read, pread, readv and the like; not getdents). It fails where the
// kernel keeps no such counter (not Linux, or no task I/O accounting).
func ReadCalls() (int64, error) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0, fmt.Errorf("unable to read the read counter: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "syscr: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("unable to parse syscr %q in /proc/self/io: %w", v, err)
			}
			return n, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("unable to read /proc/self/io: %w", err)
	}
	return 0, fmt.Errorf("no syscr in /proc/self/io")
}

// Command gentree writes a benchmark workload: gentree -workload tree -seed 1 DIR.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ferry-sync/ferry/internal/gentree"
)

func main() {
	workload := flag.String("workload", "tree", "tree | small | flat")
	seed := flag.Uint64("seed", 1, "random seed")
	files := flag.Int("files", 10000, "with -workload flat: number of files")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gentree [-workload tree|small|flat] [-seed N] [-files N] DIR")
		os.Exit(2)
	}
	var spec gentree.Spec
	if *workload == "flat" {
		spec = gentree.Spec{Files: *files, Dirs: max(*files/1000, 1), MinSize: 100, MaxSize: 4000}
	} else {
		var err error
		if spec, err = gentree.Workload(*workload); err != nil {
			fmt.Fprintln(os.Stderr, "gentree:", err)
			os.Exit(2)
		}
	}
	n, b, err := gentree.Generate(flag.Arg(0), spec, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gentree:", err)
		os.Exit(1)
	}
	fmt.Printf("%d files, %d bytes in %s (seed %d)\n", n, b, flag.Arg(0), *seed)
}

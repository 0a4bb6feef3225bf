package main

import (
	"os"
	"testing"
)

// TestDevNullIsNotATerminal: output sent to /dev/null (a character
// device) is not drawn for a terminal. The mode check it replaced took
// every character device for one.
func TestDevNullIsNotATerminal(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Fatalf("%s is taken for a terminal", os.DevNull)
	}
}

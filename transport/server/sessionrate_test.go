package server

import (
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/transport/cc"
)

// TestUploadKeepsClientPolicy: on an upload the server's rate settings are
// sent to the client's sender as a request that overrides its policy, so
// the server must name none; naming fair turned every fixed or low upload
// into fair (bench-fair measured fixed at 8 Mbit/s against a 50 target).
func TestUploadKeepsClientPolicy(t *testing.T) {
	up := sessionRate(false, config.Rate(20e6), 1)
	if up.Policy != "" {
		t.Errorf("upload session requests policy %q; it must leave the client's policy alone", up.Policy)
	}
	if up.MaxRate != 20e6 {
		t.Errorf("upload cap = %v, want the server's 20e6", up.MaxRate)
	}
	down := sessionRate(true, 0, 1)
	if down.Policy != cc.Fair || down.MaxRate != 0 {
		t.Errorf("download session = %+v, want fair until the client names a policy, uncapped", down)
	}
}

// TestDownloadLaneIsPartOfOneFlow: the sender of one of a download's four
// lanes runs as a quarter of the transfer, so the four keep one flow's
// queue; a single session is a flow of its own.
func TestDownloadLaneIsPartOfOneFlow(t *testing.T) {
	if got := sessionRate(true, 0, 4).Share; got != 0.25 {
		t.Errorf("download lane of 4: share %v, want 0.25", got)
	}
	if got := sessionRate(true, 0, 1).Share; got != 0 {
		t.Errorf("download of one session: share %v, want 0 (a flow of its own)", got)
	}
}

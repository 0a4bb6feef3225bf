package render

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ferry-sync/ferry/agent"
)

const sparkWidth = 24

// History keeps the recent rate of every transfer in flight, one sample per
// Add, for Monitor's sparklines. It is not safe for concurrent use.
type History struct {
	n     int
	rates map[transferKey][]float64
}

type transferKey struct{ job, path string }

// NewHistory keeps up to n samples per transfer.
func NewHistory(n int) *History {
	return &History{n: max(n, 1), rates: map[transferKey][]float64{}}
}

// Add records one sample for each transfer in jobs and forgets transfers
// that are no longer there.
func (h *History) Add(jobs []agent.JobStatus) {
	seen := map[transferKey]bool{}
	for _, j := range jobs {
		for _, t := range j.Transfers {
			k := transferKey{j.Name, t.Path}
			seen[k] = true
			r := append(h.rates[k], t.Rate)
			if len(r) > h.n {
				r = r[len(r)-h.n:]
			}
			h.rates[k] = r
		}
	}
	for k := range h.rates {
		if !seen[k] {
			delete(h.rates, k)
		}
	}
}

// Rates returns the samples of one transfer, oldest first.
func (h *History) Rates(job, path string) []float64 { return h.rates[transferKey{job, path}] }

// Monitor writes the `ferry monitor` view: per job its state and totals,
// and per transfer a rate sparkline, the current, target and minimum rate,
// policy, retransmissions, round-trip time and ETA. h may be nil.
func Monitor(w io.Writer, jobs []agent.JobStatus, h *History, now time.Time) error {
	if h == nil {
		h = NewHistory(1)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, j := range jobs {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		p := j.Progress
		fmt.Fprintf(tw, "%s  %s", Clean(j.Name), StateText(j))
		switch j.State {
		case agent.Queued:
			fmt.Fprintf(tw, "  waiting for a transfer slot (max_concurrent_transfers); %s files, %s to send", Files(p), Size(p.BytesTotal-p.BytesDone))
		case agent.Scanning, agent.Transferring:
			if j.State == agent.Scanning && p.FilesTotal == 0 {
				fmt.Fprint(tw, "  scanning…")
				break
			}
			fmt.Fprintf(tw, "  %s files  %s / %s  %s", Files(p), Size(p.BytesDone), Size(p.BytesTotal), Rate(p.Rate))
			if p.ETA > 0 {
				fmt.Fprintf(tw, "  ETA %s", Duration(p.ETA))
			}
			if p.BytesReused > 0 {
				fmt.Fprintf(tw, "  (%s already there)", Size(p.BytesReused))
			}
			if j.Sessions > 1 {
				fmt.Fprintf(tw, "  %d sessions", j.Sessions)
			}
		case agent.Halted:
			fmt.Fprintf(tw, ": %s", Clean(j.Halted))
		default:
			fmt.Fprintf(tw, "  %s", next(j, now))
		}
		fmt.Fprintln(tw)
		if len(j.Transfers) == 0 {
			continue
		}
		fmt.Fprintln(tw, "  FILE\tRECENT RATE\tNOW\tTARGET\tMIN\tPOLICY\tRETX\tRTT\tDONE\tETA")
		for _, t := range j.Transfers {
			spark := Sparkline(h.Rates(j.Name, t.Path), sparkWidth)
			pct := 0
			if t.Size > 0 {
				pct = int(min(max(float64(t.Done)/float64(t.Size), 0), 1) * 100)
			}
			rtt := "-"
			if t.RTT > 0 {
				rtt = t.RTT.Round(time.Millisecond / 10).String()
			}
			eta := "-"
			if t.ETA > 0 {
				eta = Duration(t.ETA)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%.1f%%\t%s\t%d%% of %s\t%s\n",
				Clean(t.Path), spark, Rate(t.Rate), limit(t.TargetRate), limit(t.MinRate), orDash(Clean(t.Policy)),
				t.RetransmitPct, rtt, pct, Size(t.Size), eta)
		}
	}
	return tw.Flush()
}

func limit(bps float64) string {
	if bps <= 0 {
		return "-"
	}
	return Rate(bps)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

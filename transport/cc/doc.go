// Package cc is the rate control of ferry's UDP transport: a delay-based
// controller in FASP's manner (queueing delay, not loss, is the congestion
// signal) and the token-bucket pacer that spreads its rate over time.
//
// # Caveats
//
// The queueing delay is one-way delay minus the smallest one-way delay ever
// seen, so clock drift between sender and receiver over a very long session,
// or a route change to a longer path, reads as queueing and slows the flow;
// start a new Controller when the path may have changed.
//
// The loop needs to know its round trip to be both fast and stable: fill in
// Feedback.RTT. Without it DefaultRTT (200 ms) is assumed, which is stable
// on paths up to about that round trip but slower than it needs to be on a
// LAN.
//
// On a round trip under ShortRTT (20 ms, tapering off by 40 ms) up to
// JitterMax (4 ms) of every queueing-delay reading is taken for host
// jitter, which on a fast LAN dwarfs the law's own equilibrium queue
// (0.5 ms at 1 Gbit/s). Such a flow keeps that much more queue, and a real
// queue shorter than that does not slow it; flows on similar short paths
// still share fairly, as they take the same allowance off the same delay.
// A flow on a short path sharing a bottleneck with one on a long path
// (which takes no allowance) gets somewhat more than its share.
//
// A buffer shallower than that allowance (a TUN queue, a switch port), or a
// forwarder that stops for a few milliseconds, overflows before the delay
// law sees its equilibrium. So on those short paths only, an interval that
// loses at least OverflowLoss (2 %) of its packets and twice the usual
// share cuts the rate to the goodput and halves the allowance, which grows
// back over AllowanceRecover (30 s). Loss that persists at one level reads
// as the path's own, and long paths never take the rule; a host so short
// of CPU that its forwarder overflows at every level of loss still loses
// packets (lan-1g with four sessions on a loaded two-core machine).
//
// An application-limited sender (nothing to send) sees an empty queue and
// lets the rate climb to its cap; the first burst after that is paced at the
// cap until the delay law catches up.
//
// Next to a loss-based TCP, which keeps the buffer full whatever the delay,
// Fair and High switch to the Compete phase and aim for a share (a half,
// two thirds) of the capacity they measured. That estimate is the best
// goodput seen, so a flow that starts while TCP already holds the link only
// knows the part it got and competes for half of that. The switch is
// triggered by a queue several times what this flow alone would keep at
// that capacity: on a slow link, or with five or more ferry flows
// starting together at 100 Mbit/s, other ferry flows can be taken for TCP
// and the first one keeps more than its share.
//
// A transfer split over N sessions runs N controllers, one per session,
// each told by Config.Share that it is 1/N of the transfer: each keeps
// 1/N of the queue budget, so together they keep the queue one flow keeps
// and take one flow's share next to other flows. FAST's equilibrium
// queue is the sum of the flows' budgets, so splitting the budget is
// enough, and each session keeps its own controller, fed by its own
// feedback on its own loop. The split is only as
// good as the sessions' feedback is alike; a controller left without its
// Share (1) takes a whole flow's part, and N of them take N parts.
//
// Neither Pacer nor Controller is safe for concurrent use: one goroutine,
// the data sender's loop, owns both.
package cc

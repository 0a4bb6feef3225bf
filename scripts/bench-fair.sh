#!/usr/bin/env bash
# How ferry's rate policies share a link with one TCP flow, on wan-100 without
# loss (../shared/BENCH.md: -delay 50ms -loss 0 -rate 100). For each policy a
# ferry upload of one large file ramps up alone for RAMP seconds, then an
# iperf3 TCP flow in the same direction runs for WINDOW seconds beside it.
# Targets: fair gives each 40–60 % of the link; low leaves TCP >= 80 %;
# fixed (50 Mbit/s) holds its target within ±5 %. Needs root.
#   POLICIES="fair low fixed" TCP_CC=cubic scripts/bench-fair.sh
# SESSIONS=4 runs the upload as `sessions: 4`, the file split across the
# sessions (multi_session_threshold SPLIT_AT, 64MiB): the targets are the
# same, as the sessions of one transfer take one flow's share.
# FERRY_BIN=/path/to/ferry measures that build instead of building this tree.
#
# ferry's goodput is the growth of the server's .partial file, counted in
# allocated blocks (it is written at offsets, so its size can run ahead of
# what has arrived); its wire rates are bytes: UDP payload to ferry's port,
# what the pacer is charged for, sent (the client namespace's output hook)
# and arrived (the server namespace's input hook), counted by nftables
# counters (IP bytes less 28 bytes of IP and UDP header per packet the hook
# saw). A UDP_SEGMENT send is one packet of many datagrams' payload at the
# output hook, so its payload is counted whole (the kernel's datagram
# count took it for one, which under-read a batching sender). TCP's is
# iperf3's sum_received. The queueing delay
# column is iperf3's mean TCP RTT minus the link's 100 ms, the queue ferry's
# delay-based controller reacts to.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-fair needs root (it creates network namespaces)"; exit 1; }
POLICIES=${POLICIES:-"fair low fixed"}
W=${BENCH_DIR:-/tmp/ferry-bench-fair}
SHARED=${SHARED:-../shared}
NS=${NS:-fair}               # wanem name: namespaces NS-a and NS-b
RAMP=${RAMP:-8}              # seconds ferry runs alone before TCP starts
WINDOW=${WINDOW:-20}         # seconds both run
SIZE_MB=${SIZE_MB:-600}      # size of the uploaded file
LINK_MBPS=100
FIXED_MBPS=${FIXED_MBPS:-50}
TCP_CC=${TCP_CC:-}           # empty: the namespace's default congestion control
SESSIONS=${SESSIONS:-1}      # data sessions of the upload (job key sessions)
SPLIT_AT=${SPLIT_AT:-64MiB}  # files from this size are split across them
PORT=33011

need=()
for c in iperf3 bc jq nft; do command -v $c >/dev/null 2>&1 || need+=($c); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 120 apt-get install -y -qq iperf3 bc jq nftables >/dev/null
fi

mkdir -p "$W"
if [ -n "${FERRY_BIN:-}" ]; then
  cp "$FERRY_BIN" "$W/ferry.new" && mv -f "$W/ferry.new" "$W/ferry"
else
  timeout 180 go build -o "$W/ferry" ./cmd/ferry
fi
(cd "$SHARED/tools/wanem" && timeout 120 go build -o "$W/wanem" .)
[ -f "$W/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/id_ed25519"
cp "$W/id_ed25519.pub" "$W/authorized_keys"; chmod 600 "$W/authorized_keys"
mkdir -p "$W/src"
if [ "$(stat -c %s "$W/src/big.dat" 2>/dev/null || echo 0)" != $((SIZE_MB * 1048576)) ]; then
  head -c $((SIZE_MB * 1048576)) /dev/urandom >"$W/src/big.dat"
fi

pids=()
spid= smp=
stop="$W/stop"
cleanup() {
  # Only our own children that are still running: spid and smp are cleared
  # once reaped, so a recycled pid is never signalled.
  for p in "${pids[@]}" $spid $smp; do kill "$p" 2>/dev/null || true; done
  touch "$stop"
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

rm -f "$stop"
"$W/wanem" -name "$NS" -delay 50ms -loss 0 -rate $LINK_MBPS -for 290s -stopfile "$stop" >"$W/wanem.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  ip netns exec "$NS-b" true 2>/dev/null && ip netns exec "$NS-a" ip -br addr 2>/dev/null | grep -q 10.199.0.1 && break
  sleep 0.2
done
sleep 1
A() { ip netns exec "$NS-a" "$@"; }
B() { ip netns exec "$NS-b" "$@"; }
# nftables counters of the UDP to ferry's port: leaving NS-b (output hook)
# and reaching NS-a (input hook). The namespaces go with wanem.
for side in a b; do
  hook=input; [ $side = b ] && hook=output
  ip netns exec "$NS-$side" nft -f - <<NFT
table inet ferrybench {
  counter ferry {}
  chain c { type filter hook $hook priority 0; udp dport $PORT counter name ferry; }
}
NFT
done

cc_b=$(B sysctl -n net.ipv4.tcp_congestion_control)
ccflag=()
[ -n "$TCP_CC" ] && ccflag=(-C "$TCP_CC")
echo "link: wan-100 without loss (one-way 50 ms, $LINK_MBPS Mbit/s, drop-tail queue 100 ms); TCP congestion control: ${TCP_CC:-$cc_b} (namespace default $cc_b)"
echo "ferry: sessions $SESSIONS$([ "$SESSIONS" -gt 1 ] && echo ", files from $SPLIT_AT split across them")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

ip netns exec "$NS-a" timeout 280 iperf3 -s -B 10.199.0.1 >"$W/iperf3-server.log" 2>&1 &
pids+=($!)
rm -rf "$W/srv" "$W/srv-state"; mkdir -p "$W/srv"
ip netns exec "$NS-a" timeout 280 "$W/ferry" serve --listen 10.199.0.1:$PORT --root "$W/srv" \
  --authorized-keys "$W/authorized_keys" --host-key "$W/ferry_host_key" --state-dir "$W/srv-state" \
  >"$W/serve.log" 2>&1 &
pids+=($!)
sleep 1

mbps() { echo "scale=1; $1 / 1000000" | bc -l; }

# TCP alone, so the link's capacity for TCP is known in the same run.
B timeout 25 iperf3 -c 10.199.0.1 -t 8 -J "${ccflag[@]}" >"$W/tcp-alone.json" 2>/dev/null || true
tcp_alone=$(jq -r '.end.sum_received.bits_per_second // 0' "$W/tcp-alone.json")
rtt_alone=$(jq -r '[.end.streams[].sender.mean_rtt // 0] | add / length / 1000' "$W/tcp-alone.json" 2>/dev/null || echo 0)
printf 'TCP alone: %.1f Mbit/s, mean RTT %.0f ms\n' "$(mbps "$tcp_alone")" "$rtt_alone"
echo "Mbit/s: ferry = goodput (server's partial file); sent, arrived = ferry's UDP payload bytes leaving NS-b, reaching NS-a while TCP runs (nftables counters on its port);"
echo "TCP = iperf3 received; alone = ferry's goodput in the 3 s before TCP joins; shares are of the $LINK_MBPS Mbit/s link;"
echo "2nd half = ferry%/TCP% over the last half of the window; queue = TCP's mean RTT - 100 ms. Verdicts use the whole window."
echo

# received prints the bytes of the upload on the server's disk.
received() {
  local d=$1
  if [ -f "$d/big.dat.partial" ]; then
    echo $(( $(stat -c %b "$d/big.dat.partial" 2>/dev/null || echo 0) * 512 ))
  elif [ -f "$d/big.dat" ]; then
    stat -c %s "$d/big.dat"
  else
    echo 0
  fi
}
# counters SIDE prints the packets and bytes of ferry's UDP counted in
# NS-SIDE so far.
counters() {
  ip netns exec "$NS-$1" nft list counter inet ferrybench ferry 2>/dev/null | awk '/packets/ { print $2, $4; found = 1 } END { if (!found) print 0, 0 }'
}
# at FILE T [COL] prints column COL (default 2: bytes) at time T,
# interpolated from the samples in FILE.
at() {
  awk -v t="$2" -v c="${3:-2}" '{ if ($1 <= t) { t0 = $1; b0 = $c } else if (!done) { t1 = $1; b1 = $c; done = 1 } }
    END { if (!done || t1 == t0) print b0; else printf "%.0f\n", b0 + (b1 - b0) * (t - t0) / (t1 - t0) }' "$1"
}

printf '%-6s %6s %6s %6s %7s %6s %7s %6s %9s %6s  %s\n' policy "alone" "ferry" "sent" "arrived" "TCP" "ferry%" "TCP%" "2nd half" "queue" verdict
rows=()
for pol in $POLICIES; do
  case "$pol" in
    fixed) target=${FIXED_MBPS}Mbps ;;
    fair | low | high) target=${LINK_MBPS}Mbps ;;
    *) echo "unknown policy $pol" >&2; exit 1 ;;
  esac
  dst="$W/srv/dst-$pol"
  rm -rf "$dst" "$W/state-$pol"; mkdir -p "$dst"
  cat >"$W/job-$pol.yaml" <<YAML
state_dir: $W/state-$pol
jobs:
  - name: fair-$pol
    local: $W/src
    remote: ferry://root@10.199.0.1:$PORT/dst-$pol
    direction: local-to-remote
    identity: $W/id_ed25519
    bandwidth: {policy: $pol, target_rate: $target}
    sessions: $SESSIONS
    multi_session_threshold: $SPLIT_AT
YAML
  # Backgrounded directly, not through B, so that $! is timeout itself
  # (ip netns exec execs it) and a kill reaches ferry.
  ip netns exec "$NS-b" timeout $((RAMP + WINDOW + 30)) "$W/ferry" sync --accept-new-host-key --config "$W/job-$pol.yaml" "fair-$pol" \
    >"$W/ferry-$pol.log" 2>&1 &
  spid=$!
  # Sample the partial every 0.25 s until told to stop.
  samples="$W/samples-$pol.txt"; : >"$samples"
  rm -f "$W/stop-sampler"
  (
    for _ in $(seq 400); do
      [ -f "$W/stop-sampler" ] && break
      echo "$(date +%s.%N) $(received "$dst")" >>"$samples"
      sleep 0.25
    done
  ) &
  smp=$!
  # The ramp counts from the first byte on the server, not from the scan.
  for _ in $(seq 100); do [ "$(received "$dst")" -gt 0 ] && break; sleep 0.2; done
  sleep "$RAMP"
  # ferry's UDP counters around the TCP run (read outside the 0.25 s
  # sampler: an nft process per read is too slow for it on a busy host).
  read -r pa0 ba0 <<<"$(counters a)"; read -r pb0 bb0 <<<"$(counters b)"
  t0=$(date +%s.%N)
  B timeout $((WINDOW + 15)) iperf3 -c 10.199.0.1 -t "$WINDOW" -J "${ccflag[@]}" >"$W/tcp-$pol.json" 2>/dev/null || true
  t1=$(date +%s.%N)
  read -r pa1 ba1 <<<"$(counters a)"; read -r pb1 bb1 <<<"$(counters b)"
  touch "$W/stop-sampler"; wait "$smp" 2>/dev/null || true; smp=; rm -f "$W/stop-sampler"
  kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; spid=

  tcp=$(jq -r '.end.sum_received.bits_per_second // 0' "$W/tcp-$pol.json")
  secs=$(jq -r '.end.sum_received.seconds // 0' "$W/tcp-$pol.json")
  rtt=$(jq -r '[.end.streams[].sender.mean_rtt // 0] | add / length / 1000' "$W/tcp-$pol.json" 2>/dev/null || echo 0)
  # The test's data phase ends about one RTT before iperf3 exits.
  we=$(echo "$t1 - 0.1" | bc -l)
  ws=$(echo "$we - $secs" | bc -l)
  [ "$secs" = 0 ] && ws=$t0
  fb=$(( $(at "$samples" "$we") - $(at "$samples" "$ws") ))
  ferry=$(echo "$fb * 8 / ($we - $ws)" | bc -l)
  # ferry's UDP payload bytes (its packets' headers, DATA and
  # retransmissions: what the pacer is held to) while TCP ran, in and out:
  # IP bytes less 28 header bytes a packet.
  fb_in=$(( ba1 - ba0 - 28 * (pa1 - pa0) ))
  fb_out=$(( bb1 - bb0 - 28 * (pb1 - pb0) ))
  wire=$(echo "$fb_in * 8 / ($t1 - $t0)" | bc -l)
  sent=$(echo "$fb_out * 8 / ($t1 - $t0)" | bc -l)
  ab=$(( $(at "$samples" "$t0") - $(at "$samples" "$(echo "$t0 - 3" | bc -l)") ))
  alone=$(echo "$ab * 8 / 3" | bc -l)
  # The second half of the window, where the flows have had time to settle.
  wm=$(echo "($ws + $we) / 2" | bc -l)
  f2=$(( $(at "$samples" "$we") - $(at "$samples" "$wm") ))
  fs2=$(echo "$f2 * 8 / ($we - $wm) / ($LINK_MBPS * 10000)" | bc -l)
  ts2=$(jq -r --argjson h "$(echo "$secs / 2" | bc -l)" \
    '[.intervals[] | select(.sum.start >= $h - 0.01) | .sum.bits_per_second] | if length > 0 then add / length else 0 end' \
    "$W/tcp-$pol.json" 2>/dev/null || echo 0)
  ts2=$(echo "$ts2 / ($LINK_MBPS * 10000)" | bc -l)
  fs=$(echo "$ferry / ($LINK_MBPS * 10000)" | bc -l)
  ts=$(echo "$tcp / ($LINK_MBPS * 10000)" | bc -l)
  q=$(echo "$rtt - 100" | bc -l)
  case "$pol" in
    fair) ok=$(echo "$fs >= 40 && $fs <= 60 && $ts >= 40 && $ts <= 60" | bc -l); want="each 40-60 %" ;;
    low) ok=$(echo "$ts >= 80" | bc -l); want="TCP >= 80 %" ;;
    # The target is a pacing rate, so it is judged on what arrives, in
    # UDP payload bytes (what the pacer is charged for): ferry's headers
    # count, packets the queue drops do not.
    fixed) ok=$(echo "$wire >= $FIXED_MBPS * 950000 && $wire <= $FIXED_MBPS * 1050000" | bc -l); want="arrived $FIXED_MBPS Mbit/s ±5 %" ;;
    high) ok=1; want="(no target)" ;;
  esac
  verdict=$([ "$ok" = 1 ] && echo "PASS" || echo "FAIL")
  printf '%-6s %6.1f %6.1f %6.1f %7.1f %6.1f %7.1f %6.1f %4.0f/%-4.0f %3.0f ms  %s (%s)\n' "$pol" "$(mbps "$alone")" "$(mbps "$ferry")" \
    "$(mbps "$sent")" "$(mbps "$wire")" "$(mbps "$tcp")" "$fs" "$ts" "$fs2" "$ts2" "$q" "$verdict" "$want"
  # Per-second detail for diagnosis: TCP's and ferry's rate and TCP's RTT.
  jq -r '.intervals[] | .sum.end as $e | [$e, .sum.bits_per_second, (.streams[0].rtt // 0)] | @tsv' \
    "$W/tcp-$pol.json" 2>/dev/null | while IFS=$'\t' read -r e bps r; do
      e1=$(echo "$ws + $e" | bc -l); e0=$(echo "$e1 - 1" | bc -l)
      f=$(( $(at "$samples" "$e1") - $(at "$samples" "$e0") ))
      printf '%5.0f s  ferry %6.1f  TCP %6.1f Mbit/s  TCP rtt %4.0f ms\n' "$e" "$(echo "$f * 8 / 1000000" | bc -l)" "$(mbps "$bps")" "$(echo "$r / 1000" | bc -l)"
    done >"$W/detail-$pol.txt"
  rm -rf "$dst"
done
echo
echo "per-second detail: $W/detail-POLICY.txt; logs in $W"

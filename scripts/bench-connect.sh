#!/usr/bin/env bash
# What loss costs a connection (issue 14, section 3): on each link of
# ../shared/BENCH.md, RUNS times, the time `ferry sync` takes to be connected
# to `ferry serve` (TCP, SSH key exchange and authentication, the Hello; from
# the process start to its debug line "connected") and to finish a no-change
# pass of one small file. wan-0 is wan-100 without its loss: the reference.
# Prints the median, the 90th percentile and the worst of each, and the
# share of runs that took more than 1.5 times wan-0's median (the cost of
# at least one retransmission timeout). Needs root (network namespaces).
#   LINKS="wan-0 wan-100 wan-lossy" RUNS=20 scripts/bench-connect.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-connect needs root (it creates network namespaces)"; exit 1; }
LINKS=${LINKS:-"wan-0 wan-100 wan-lossy"}
RUNS=${RUNS:-20}
W=${BENCH_DIR:-/tmp/ferry-bench-connect}
SHARED=${SHARED:-../shared}
TIMEOUT=${TIMEOUT:-60}

command -v ssh-keygen >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-client bc >/dev/null
}
mkdir -p "$W"
go build -o "$W/ferry" ./cmd/ferry
(cd "$SHARED/tools/wanem" && go build -o "$W/wanem" .)
[ -f "$W/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/id_ed25519"
cp "$W/id_ed25519.pub" "$W/authorized_keys"; chmod 600 "$W/authorized_keys"
mkdir -p "$W/src" && echo "one small file" >"$W/src/a.txt"

flags_for() {
  case "$1" in
    wan-0) echo "-delay 50ms -loss 0 -rate 100" ;;
    wan-100) echo "-delay 50ms -loss 0.01 -rate 100" ;;
    wan-200) echo "-delay 100ms -loss 0.02 -rate 100" ;;
    wan-lossy) echo "-delay 50ms -loss 0.10 -rate 100" ;;
    lan-1g) echo "-delay 5ms -loss 0 -rate 1000" ;;
    *) echo "unknown link $1" >&2; exit 1 ;;
  esac
}
now() { date +%s.%N; }
# stats: median, p90, max of the numbers on stdin, and the share above $1.
stats() {
  sort -g | awk -v slow="$1" '{ v[NR] = $1; if ($1 > slow) s++ }
    END { if (NR == 0) { print "-"; exit }
          m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.9 + 0.999)]; if (p == "") p = v[NR]
          printf "%6.2f %6.2f %6.2f %5.0f%%", m, p, v[NR], 100 * s / NR }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'; }

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %-22s %6s %6s %6s %6s\n' link what median p90 worst slow
for link in $LINKS; do
  stop="$W/stop-$link"; rm -f "$stop"
  "$W/wanem" -name fc $(flags_for "$link") -for "$((RUNS * TIMEOUT))s" -stopfile "$stop" >"$W/wanem-$link.log" 2>&1 &
  wpid=$!
  for _ in $(seq 50); do ip netns exec fc-b true 2>/dev/null && ip netns exec fc-a ip -br addr 2>/dev/null | grep -q 10.199.0.1 && break; sleep 0.2; done
  sleep 1
  rm -rf "$W/srv" "$W/state"; mkdir -p "$W/srv/dst"
  ip netns exec fc-a "$W/ferry" serve --listen 10.199.0.1:33001 --root "$W/srv" \
     --authorized-keys "$W/authorized_keys" --host-key "$W/ferry_host_key" --state-dir "$W/srv-state" \
     >"$W/serve-$link.log" 2>&1 &
  fpid=$!
  sleep 1
  cat >"$W/job.yaml" <<YAML
state_dir: $W/state
jobs:
  - name: c
    local: $W/src
    remote: ferry://root@10.199.0.1:33001/dst
    direction: local-to-remote
    identity: $W/id_ed25519
YAML
  # The first pass copies the file and learns the host key; not measured.
  ip netns exec fc-b timeout "$TIMEOUT" "$W/ferry" sync --accept-new-host-key --config "$W/job.yaml" c >/dev/null 2>&1 || true
  : >"$W/conn-$link.txt"; : >"$W/pass-$link.txt"
  for i in $(seq "$RUNS"); do
    t0=$(now)
    ip netns exec fc-b timeout "$TIMEOUT" "$W/ferry" sync --log-level debug --config "$W/job.yaml" c >/dev/null 2>"$W/debug-$link-$i.log" || true
    t1=$(now)
    c=$(grep -m1 'msg=connected' "$W/debug-$link-$i.log" | sed -n 's/^time=\([^ ]*\).*/\1/p')
    [ -n "$c" ] && echo "$(date -d "$c" +%s.%N) - $t0" | bc -l >>"$W/conn-$link.txt"
    echo "$t1 - $t0" | bc -l >>"$W/pass-$link.txt"
  done
  if [ -z "${ref_conn:-}" ]; then # the first link is the reference
    ref_conn=$(median <"$W/conn-$link.txt"); ref_pass=$(median <"$W/pass-$link.txt")
  fi
  printf '%-10s %-22s %s\n' "$link" "ferry connected" "$(stats "$(echo "1.5 * $ref_conn" | bc -l)" <"$W/conn-$link.txt")"
  printf '%-10s %-22s %s\n' "$link" "ferry no-change pass" "$(stats "$(echo "1.5 * $ref_pass" | bc -l)" <"$W/pass-$link.txt")"
  kill $fpid 2>/dev/null || true
  wait $fpid 2>/dev/null || true
  touch "$stop"; wait $wpid 2>/dev/null || true
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# ferry against rsync over ssh on the emulated WAN of ../shared/BENCH.md, in
# the same run, on the same link. Needs root (network namespaces).
#   LINKS="wan-100 wan-200 wan-lossy lan-1g" WORKLOADS="tree small" scripts/bench-wan.sh
#   FERRY=/tmp/ferry-old scripts/bench-wan.sh   # benchmark a given binary
#   NS=fb2 BENCH_DIR=/tmp/ferry-bench2 scripts/bench-wan.sh   # beside another run
# On wan-lossy rsync is stopped after RSYNC_LOSSY_MAX seconds (150) and
# its row says ">150 s".
# SESSIONS="1 4" (the default) adds a ferry row with `sessions: 4`, files
# from SPLIT_AT (16MiB) split across the sessions.
# Each link first gets "ceiling" rows: what iperf3 moves through the same
# wanem link in the same run (TCP one flow, TCP -P 4, UDP at the link's rate
# in 1,472-byte datagrams: received rate and loss), with the CPU wanem itself
# used meanwhile (% of one core). CEILING=0 leaves them out.
# Every ferry row is followed by the CPU of ferry sync (the agent) and of
# ferry serve during that run (user+sys), and CPU seconds per GB moved.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-wan needs root (it creates network namespaces)"; exit 1; }
LINKS=${LINKS:-"wan-100 wan-200 wan-lossy lan-1g"}
RSYNC_LOSSY_MAX=${RSYNC_LOSSY_MAX:-150}
WORKLOADS=${WORKLOADS:-"tree small"}
POLICY=${POLICY:-fair}
W=${BENCH_DIR:-/tmp/ferry-bench}
SHARED=${SHARED:-../shared}
TIMEOUT=${TIMEOUT:-600}
SESSIONS=${SESSIONS:-"1 4"}
SPLIT_AT=${SPLIT_AT:-16MiB}
# NS names the wanem link (namespaces NS-a, NS-b); give two runs that overlap
# different NS and BENCH_DIR.
NS=${NS:-fb}
CEILING=${CEILING:-1}
CEIL_SECS=${CEIL_SECS:-5}

need=()
for c in rsync sshd iperf3 bc; do command -v $c >/dev/null 2>&1 || [ -x /usr/sbin/$c ] || need+=($c); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync openssh-server iperf3 bc >/dev/null
fi

mkdir -p "$W"
# FERRY=path/to/ferry benchmarks that binary (an older build, for a
# comparison at the same load) instead of building this tree's.
if [ -n "${FERRY:-}" ]; then cp "$FERRY" "$W/ferry"; else go build -o "$W/ferry" ./cmd/ferry; fi
go build -o "$W/gentree" ./cmd/gentree
go build -o "$W/wirebound" ./cmd/wirebound
(cd "$SHARED/tools/wanem" && go build -o "$W/wanem" .)

for wl in $WORKLOADS; do
  [ -d "$W/src-$wl" ] || "$W/gentree" -workload "$wl" -seed 1 "$W/src-$wl" >/dev/null
done

# Keys: one client key for both sshd (rsync) and ferry serve.
[ -f "$W/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/id_ed25519"
cp "$W/id_ed25519.pub" "$W/authorized_keys"; chmod 600 "$W/authorized_keys"
[ -f "$W/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/ssh_host_ed25519_key"
mkdir -p /run/sshd

flags_for() {
  case "$1" in
    wan-100) echo "-delay 50ms -loss 0.01 -rate 100" ;;
    wan-200) echo "-delay 100ms -loss 0.02 -rate 100" ;;
    wan-lossy) echo "-delay 50ms -loss 0.10 -rate 100" ;;
    lan-1g)  echo "-delay 5ms -loss 0 -rate 1000" ;;
    *) echo "unknown link $1" >&2; exit 1 ;;
  esac
}
rate_for() { case "$1" in lan-1g) echo 1000Mbps ;; *) echo 100Mbps ;; esac; }
rtt_for() { case "$1" in wan-100|wan-lossy) echo 0.1 ;; wan-200) echo 0.2 ;; *) echo 0.01 ;; esac; }
mbit_for() { case "$1" in lan-1g) echo 1000 ;; *) echo 100 ;; esac; }
loss_for() { case "$1" in wan-100) echo 0.01 ;; wan-200) echo 0.02 ;; wan-lossy) echo 0.10 ;; *) echo 0 ;; esac; }

# bound_of SRC LINK: the best goodput any run can reach on LINK with
# ferry's packets and SSH, computed by cmd/wirebound from ferry's own
# packet format (the header, DATA fields and seal overhead the sender
# sizes its packets with, and each file's FILE packet as package wire
# encodes it) in 1,472-byte datagrams (1,500 on the wire, wanem's TUN
# MTU), with the IP and UDP bytes wanem counts, plus 9 round trips no run
# avoids. No ramp, mkdir wave, tail or loss recovery is counted. The
# link's loss is (-loss): ferry paces at target_rate, the link's rate,
# and wanem drops before its bottleneck, so at 10 % loss only 91.7 % of
# the link's rate arrives.
bound_of() {
  "$W/wirebound" -dir "$1" -mbit "$(mbit_for "$2")" -rtt "$(rtt_for "$2")s" -loss "$(loss_for "$2")"
}

bytes_of() { du -sb --apparent-size "$1" | cut -f1; }
now() { date +%s.%N; }

# ferry's debug log times its phases: SSH connected, data session agreed,
# last trace line of the session; printed as seconds from the start.
at() { # ISO timestamp of the first log line matching $2 in $1 (last with -l)
  local pick=head; [ "${3:-}" = -l ] && pick=tail
  grep "$2" "$1" | $pick -1 | sed -n 's/^time=\([^ ]*\).*/\1/p' | xargs -r -I{} date -d {} +%s.%N
}
# drops: where datagrams were dropped on the host rather than by the
# emulated link: the receiving UDP sockets' buffers in NS-a (the server
# side) and NS-b, the TUN queues wanem reads from (TX dropped), and the
# kernel's input backlog (softnet, all namespaces). wanem's own queue and
# loss counts are in $W/wanem-LINK.log.
drops() {
  local a b ta tb bl
  a=$(ip netns exec "$NS-a" awk '/^Udp:/ && $2 ~ /^[0-9]/ {print $6}' /proc/net/snmp)
  b=$(ip netns exec "$NS-b" awk '/^Udp:/ && $2 ~ /^[0-9]/ {print $6}' /proc/net/snmp)
  ta=$(ip netns exec "$NS-a" cat /sys/class/net/${NS}a0/statistics/tx_dropped 2>/dev/null || echo 0)
  tb=$(ip netns exec "$NS-b" cat /sys/class/net/${NS}b0/statistics/tx_dropped 2>/dev/null || echo 0)
  bl=0; while read -r _ d _; do bl=$((bl + 16#$d)); done </proc/net/softnet_stat
  echo "$a $b $ta $tb $bl"
}
# cpu_of PID: user+sys clock ticks PID has used so far (0 once it is gone).
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# times_cpu FILE: user+sys seconds of this shell's waited-for children, from
# the output of `times` (run in the shell itself, not in a $(...) subshell,
# whose counters start at zero).
times_cpu() { tail -1 "$1" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.3f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }'; }
HZ=$(getconf CLK_TCK)
# ceiling LINK WPID: iperf3 through the link, TCP (one flow, four flows) and
# UDP at the link's rate, each CEIL_SECS seconds, with wanem's CPU meanwhile.
ceiling() {
  local link=$1 wpid=$2 ipid j c0 c1 t0 t1 mb loss
  ip netns exec "$NS-a" timeout $((CEIL_SECS * 3 + 60)) iperf3 -s -B 10.199.0.1 -p 5299 >"$W/iperf3-$link.log" 2>&1 &
  ipid=$!
  sleep 0.5
  for kind in tcp tcp-P4 udp; do
    case $kind in
      tcp) args=() ;;
      tcp-P4) args=(-P 4) ;;
      udp) args=(-u -b "$(mbit_for "$link")M" -l 1472) ;;
    esac
    j="$W/ceiling-$link-$kind.json"
    c0=$(cpu_of "$wpid"); t0=$(now)
    ip netns exec "$NS-b" timeout $((CEIL_SECS + 20)) iperf3 -c 10.199.0.1 -p 5299 -t "$CEIL_SECS" -J "${args[@]}" >"$j" 2>/dev/null || true
    c1=$(cpu_of "$wpid"); t1=$(now)
    if [ "$kind" = udp ]; then
      # Received rate: what arrived (bytes the server counted), and loss.
      mb=$(jq -r '(.end.sum_received.bits_per_second // (.end.sum.bits_per_second * (1 - .end.sum.lost_percent / 100))) / 1e6' "$j" 2>/dev/null || echo 0)
      loss=$(jq -r '.end.sum.lost_percent // .end.sum_received.lost_percent // 0' "$j" 2>/dev/null || echo 0)
      loss=$(printf 'loss %.1f %%' "$loss")
    else
      mb=$(jq -r '.end.sum_received.bits_per_second / 1e6' "$j" 2>/dev/null || echo 0)
      loss="retrans $(jq -r '.end.sum_sent.retransmits // 0' "$j" 2>/dev/null || echo 0)"
    fi
    printf '%-8s %-6s %-8s %9s %10.1f %9s %8s %7s  %s; wanem CPU %.0f %% of a core\n' "$link" ceiling "iperf3" "$CEIL_SECS" "$mb" "-" "-" "-" \
      "$kind, $loss" "$(echo "($c1 - $c0) * 100 / $HZ / ($t1 - $t0)" | bc -l)"
  done
  kill "$ipid" 2>/dev/null || true; wait "$ipid" 2>/dev/null || true
}
since() { [ -n "$2" ] && printf '%.2f' "$(echo "$2 - $1" | bc -l)" || printf -- '-'; }
printf '%-8s %-6s %-8s %9s %10s %9s %8s %7s  %s\n' link workload peer seconds "Mbit/s" "x rsync" retrans bound "ferry phases: connected / data starts / data ends (s)"
for link in $LINKS; do
  stop="$W/stop-$link"; rm -f "$stop"
  "$W/wanem" -name "$NS" $(flags_for "$link") -for "${TIMEOUT}s" -stopfile "$stop" >"$W/wanem-$link.log" 2>&1 &
  wpid=$!
  for _ in $(seq 50); do ip netns exec "$NS-b" true 2>/dev/null && ip netns exec "$NS-a" ip -br addr 2>/dev/null | grep -q 10.199.0.1 && break; sleep 0.2; done
  sleep 1
  ip netns exec "$NS-a" /usr/sbin/sshd -D -p 22 -o ListenAddress=10.199.0.1 -h "$W/ssh_host_ed25519_key" \
     -o PidFile="$W/sshd.pid" -o AuthorizedKeysFile="$W/authorized_keys" -o StrictModes=no -o PermitRootLogin=prohibit-password &
  spid=$!
  rm -rf "$W/srv"; mkdir -p "$W/srv"
  # PROFILE=1: CPU profiles of ferry serve (per link) and ferry sync (per
  # link and workload), summarised after the table.
  prof() { [ -n "${PROFILE:-}" ] && echo "FERRY_CPUPROFILE=$W/prof-$1.prof" || echo "FERRY_CPUPROFILE="; }
  ip netns exec "$NS-a" env "$(prof "$link-serve")" "$W/ferry" serve --listen 10.199.0.1:33001 --root "$W/srv" \
     --authorized-keys "$W/authorized_keys" --host-key "$W/ferry_host_key" --state-dir "$W/srv-state" \
     >"$W/serve-$link.log" 2>&1 &
  fpid=$!
  sleep 1
  [ "$CEILING" = 0 ] || ceiling "$link" "$wpid"
  for wl in $WORKLOADS; do
    src="$W/src-$wl"; bytes=$(bytes_of "$src"); bound=$(bound_of "$src" "$link")
    # rsync over ssh
    rm -rf "$W/srv/rsync-$wl"
    rmax=$TIMEOUT; [ "$link" = wan-lossy ] && rmax=$RSYNC_LOSSY_MAX
    t0=$(now)
    rdone=1
    ip netns exec "$NS-b" timeout "$rmax" rsync -a -e "ssh -p 22 -i $W/id_ed25519 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR" \
       "$src/" "root@10.199.0.1:$W/srv/rsync-$wl/" || rdone=0
    t1=$(now)
    rs=$(echo "$t1 - $t0" | bc -l)
    if [ "$rdone" = 1 ]; then
      rmbps=$(echo "$bytes * 8 / $rs / 1000000" | bc -l)
      printf '%-8s %-6s %-8s %9.1f %10.1f %9s %8s %7s\n' "$link" "$wl" rsync "$rs" "$rmbps" "1.00" "-" "-"
    else
      # Unfinished: ferry's ratio is against the time rsync was given.
      printf '%-8s %-6s %-8s %9s %10s %9s %8s %7s\n' "$link" "$wl" rsync ">$rmax s" "-" "-" "-" "-"
      rs=$rmax
    fi
    rm -rf "$W/srv/rsync-$wl"
    # ferry, once per session count (not indented, to keep the diff small)
    for ns in $SESSIONS; do
    peer=ferry; [ "$ns" = 1 ] || peer="ferry-s$ns"
    rm -rf "$W/srv/ferry-$wl" "$W/state-$wl"; mkdir -p "$W/srv/ferry-$wl"
    cat >"$W/job-$wl.yaml" <<YAML
state_dir: $W/state-$wl
jobs:
  - name: bench-$wl
    local: $src
    remote: ferry://root@10.199.0.1:33001/ferry-$wl
    direction: local-to-remote
    identity: $W/id_ed25519
    max_delete: 100%
    bandwidth: {policy: $POLICY, target_rate: $(rate_for "$link")}
    sessions: $ns
    multi_session_threshold: $SPLIT_AT
YAML
    d0=$(drops)
    times >"$W/times0"; vc0=$(cpu_of "$fpid"); wc0=$(cpu_of "$wpid")
    t0=$(now)
    ip netns exec "$NS-b" env "$(prof "$link-$wl-sync")" timeout "$TIMEOUT" "$W/ferry" sync --log-level debug --accept-new-host-key --config "$W/job-$wl.yaml" "bench-$wl" >"$W/ferry-$link-$wl.log" 2>"$W/ferry-$link-$wl.debug" || { echo "ferry failed, see $W/ferry-$link-$wl.log"; tail -5 "$W/ferry-$link-$wl.log"; grep -v level=DEBUG "$W/ferry-$link-$wl.debug" | tail -5; }
    t1=$(now)
    times >"$W/times1"; vc1=$(cpu_of "$fpid"); wc1=$(cpu_of "$wpid")
    fs=$(echo "$t1 - $t0" | bc -l)
    fmbps=$(echo "$bytes * 8 / $fs / 1000000" | bc -l)
    ratio=$(printf '%.2f' "$(echo "$rs / $fs" | bc -l)"); [ "$rdone" = 1 ] || ratio=">$ratio"
    retr=$(grep -o 'retransmitted [0-9.]*%' "$W/ferry-$link-$wl.log" | tail -1 | awk '{print $2}')
    ok=$(diff -rq "$src" "$W/srv/ferry-$wl" >/dev/null 2>&1 && echo "" || echo " MISMATCH")
    dbg="$W/ferry-$link-$wl.debug"
    phases="$(since "$t0" "$(at "$dbg" 'msg=connected')") / $(since "$t0" "$(at "$dbg" 'msg="data session".*download=')") / $(since "$t0" "$(at "$dbg" 'msg="data session"' -l)")"
    printf '%-8s %-6s %-8s %9.1f %10.1f %9s %8s %7s  %s%s\n' "$link" "$wl" "$peer" "$fs" "$fmbps" "$ratio" "${retr:--}" "$bound" "$phases" "$ok"
    read -r a0 b0 ta0 tb0 bl0 <<<"$d0"; read -r a1 b1 ta1 tb1 bl1 <<<"$(drops)"
    lost=$(grep -o 'lost packets [0-9]*' "$W/ferry-$link-$wl.log" | tail -1 | awk '{print $3}')
    scpu=$(echo "$(times_cpu "$W/times1") - $(times_cpu "$W/times0")" | bc -l); vcpu=$(echo "($vc1 - $vc0) / $HZ" | bc -l); wcpu=$(echo "($wc1 - $wc0) / $HZ" | bc -l)
    printf '         CPU: sync %.2f s, serve %.2f s, together %.1f s/GB; wanem %.2f s (%.0f %% of a core)\n' "$scpu" "$vcpu" \
      "$(echo "($scpu + $vcpu) * 1000000000 / $bytes" | bc -l)" "$wcpu" "$(echo "$wcpu * 100 / $fs" | bc -l)"
    echo "         host drops during the run: server socket $((a1-a0)), agent socket $((b1-b0)), TUN queue a $((ta1-ta0)) b $((tb1-tb0)), input backlog $((bl1-bl0)); ferry declared ${lost:-0} packets lost"
    rm -rf "$W/srv/ferry-$wl"
    done
  done
  kill $fpid $spid 2>/dev/null || true
  wait $fpid $spid 2>/dev/null || true
  touch "$stop"; wait $wpid 2>/dev/null || true
done
if [ -n "${PROFILE:-}" ]; then
  for f in "$W"/prof-*.prof; do
    [ -s "$f" ] || continue
    echo; echo "== $(basename "$f" .prof): top of the CPU profile"
    go tool pprof -top -nodecount=15 "$W/ferry" "$f" 2>/dev/null | sed -n '4,22p'
  done
fi

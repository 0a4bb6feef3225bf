#!/usr/bin/env bash
# Goodput of an encrypted job against a plain one on the emulated WAN of
# ../shared/BENCH.md (wan-100 by default), the tree workload, in the same
# run on the same link. Needs root (network namespaces).
#   SHARED=/path/to/shared LINK=wan-100 scripts/bench-crypt-wan.sh
# The encrypted run includes making the key header (scrypt, once).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-crypt-wan needs root (it creates network namespaces)"; exit 1; }
LINK=${LINK:-wan-100}
W=${BENCH_DIR:-/tmp/ferry-bench-crypt}
SHARED=${SHARED:-../shared}
TIMEOUT=${TIMEOUT:-300}
WL=${WORKLOAD:-tree}
case "$LINK" in
  wan-100) flags="-delay 50ms -loss 0.01 -rate 100"; rate=100Mbps ;;
  lan-1g) flags="-delay 5ms -loss 0 -rate 1000"; rate=1000Mbps ;;
  *) echo "unknown link $LINK" >&2; exit 1 ;;
esac
mkdir -p "$W"
go build -o "$W/ferry" ./cmd/ferry
go build -o "$W/gentree" ./cmd/gentree
(cd "$SHARED/tools/wanem" && go build -o "$W/wanem" .)
[ -d "$W/src-$WL" ] || "$W/gentree" -workload "$WL" -seed 1 "$W/src-$WL" >/dev/null
[ -f "$W/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/id_ed25519"
cp "$W/id_ed25519.pub" "$W/authorized_keys"; chmod 600 "$W/authorized_keys"
printf 'bench passphrase\n' >"$W/pass"; chmod 600 "$W/pass"
now() { date +%s.%N; }
bytes=$(du -sb "$W/src-$WL" | awk '{print $1}')

stop="$W/stop"; rm -f "$stop"
"$W/wanem" -name fcw $flags -for "${TIMEOUT}s" -stopfile "$stop" >"$W/wanem.log" 2>&1 &
wpid=$!
for _ in $(seq 50); do ip netns exec fcw-b true 2>/dev/null && ip netns exec fcw-a ip -br addr 2>/dev/null | grep -q 10.199.0.1 && break; sleep 0.2; done
sleep 1
rm -rf "$W/srv"; mkdir -p "$W/srv"
ip netns exec fcw-a "$W/ferry" serve --listen 10.199.0.1:33001 --root "$W/srv" \
   --authorized-keys "$W/authorized_keys" --host-key "$W/ferry_host_key" --state-dir "$W/srv-state" >"$W/serve.log" 2>&1 &
fpid=$!
sleep 1
printf '%-8s %-6s %-10s %9s %10s %12s\n' link workload job seconds "Mbit/s" "cpu-s (agent)"
for kind in plain encrypted; do
  rm -rf "$W/srv/$kind" "$W/state-$kind"; mkdir -p "$W/srv/$kind"
  enc=""; [ "$kind" = encrypted ] && enc=$'    encryption:\n      passphrase_file: '"$W/pass"
  cat >"$W/job-$kind.yaml" <<YAML
state_dir: $W/state-$kind
jobs:
  - name: bench
    local: $W/src-$WL
    remote: ferry://root@10.199.0.1:33001/$kind
    direction: local-to-remote
    identity: $W/id_ed25519
    max_delete: 100%
    bandwidth: {target_rate: $rate}
$enc
YAML
  t0=$(now)
  /usr/bin/time -f '%U %S' -o "$W/time-$kind" ip netns exec fcw-b timeout "$TIMEOUT" "$W/ferry" sync --accept-new-host-key --config "$W/job-$kind.yaml" bench >"$W/sync-$kind.log" 2>&1 \
    || { echo "$kind failed:"; tail -5 "$W/sync-$kind.log"; }
  t1=$(now)
  s=$(echo "$t1 - $t0" | bc -l)
  cpu=$(awk '{print $1 + $2}' "$W/time-$kind")
  printf '%-8s %-6s %-10s %9.1f %10.1f %12s\n' "$LINK" "$WL" "$kind" "$s" "$(echo "$bytes * 8 / $s / 1000000" | bc -l)" "$cpu"
done
kill $fpid 2>/dev/null || true; wait $fpid 2>/dev/null || true
touch "$stop"; wait $wpid 2>/dev/null || true

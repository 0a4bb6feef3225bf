#!/usr/bin/env bash
# The edits benchmark of ../shared/BENCH.md (issue 12, section 5): after a
# first full sync of the `tree` workload, ferry and `rsync -a` over ssh each
# sync six edits on wan-100 (-delay 50ms -loss 0.01 -rate 100), in the same
# run, on the same link. Needs root (network namespaces).
#   scripts/bench-delta.sh
#   FERRY_BIN=/path/to/ferry scripts/bench-delta.sh   # measure that build
#   RSYNC_FLAGS="-a --delete" scripts/bench-delta.sh  # default: -a
#   FERRY_LOG_LEVEL=debug scripts/bench-delta.sh      # timings in ferry.log
#
# Steps, each applied to the source and then synced by ferry and by rsync,
# once each:
#   (a) append 1 byte to the 200 MiB file   (b) insert 1 KiB at its middle
#   (c) overwrite 1 MiB at its middle        (d) rename it
#   (e) move the directory of 2,000 small files to a new name
#   (f) copy the 200 MiB file to a new name
# gentree writes the small files into d000..d049 beside big-0.bin, with no
# common parent but the root; the script gathers those 50 directories under
# small/ before the first sync, so (e) is one directory move, small/ ->
# small-moved/, of all 2,000 files.
#
# Bytes are counted at the link, not from either tool's figures: wanem's
# -statsfile holds the IP bytes offered in each direction (before loss, so
# retransmissions count), read before and after each run; a row's bytes are
# both directions together. Seconds are wall time of the whole command:
# connect, scan, transfer and commit.
#
# Targets (issue 12): (a)-(c) ferry finishes in <= 1.5 s and sends <= 1 % of
# the file; (d)-(f) ferry sends no file content and finishes in <= 1.5 s;
# ferry is at least as fast as rsync on every row. The link cannot tell
# content from metadata, so "no file content" is judged as a byte budget:
# <= 1 % of the content moved or copied, far below any file's worth of the
# 200 MiB file and below 1 % of the 2,000 small files.
#
# The ferry job has max_delete: 100%: ferry without rename detection counts
# a move as deletions, and (e) deletes 2,051 of the 2,052 entries on the
# remote, over the default limit (50 %, by count); the pass would halt
# instead of being measured. (d) alone, one of 2,052, stays under it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-delta needs root (it creates network namespaces)"; exit 1; }
W=${BENCH_DIR:-/tmp/ferry-bench-delta}
SHARED=${SHARED:-../shared}
# From a worktree elsewhere, ../shared is beside the main checkout.
[ -d "$SHARED/tools/wanem" ] || SHARED="$(git rev-parse --path-format=absolute --git-common-dir)/../../shared"
NS=${NS:-fdelta}               # wanem name: namespaces NS-a (server) and NS-b (client)
FLAGS="-delay 50ms -loss 0.01 -rate 100"   # wan-100
LINK_FOR=${LINK_FOR:-1500}     # seconds the link lives at most
FULL_TIMEOUT=${FULL_TIMEOUT:-600}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
RSYNC_FLAGS=${RSYNC_FLAGS:--a}
CHECK=${CHECK:-1}              # 0: skip the diff of both destinations after each step
PORT=33001

need=()
for c in rsync bc; do command -v $c >/dev/null 2>&1 || need+=($c); done
[ -x /usr/sbin/sshd ] || need+=(sshd)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq rsync openssh-server bc >/dev/null
fi

if ip netns list | grep -q "^$NS-[ab]\b"; then
  echo "namespaces $NS-a/$NS-b exist already (another run?); set NS= or remove them"; exit 1
fi

mkdir -p "$W"
if [ -n "${FERRY_BIN:-}" ]; then
  cp "$FERRY_BIN" "$W/ferry.new" && mv -f "$W/ferry.new" "$W/ferry"
else
  timeout 300 go build -o "$W/ferry" ./cmd/ferry
fi
timeout 300 go build -o "$W/gentree" ./cmd/gentree
(cd "$SHARED/tools/wanem" && timeout 300 go build -o "$W/wanem" .)

# Keys: one client key for both sshd (rsync) and ferry serve.
[ -f "$W/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/id_ed25519"
cp "$W/id_ed25519.pub" "$W/authorized_keys"; chmod 600 "$W/authorized_keys"
[ -f "$W/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$W/ssh_host_ed25519_key"
mkdir -p /run/sshd

# A fresh source every run: the steps edit it.
src="$W/src"; fdst="$W/srv/ferry"; rdst="$W/rsync"
rm -rf "$src" "$W/srv" "$W/srv-state" "$W/state" "$rdst" "$W/edit.tmp"
"$W/gentree" -workload tree -seed 1 "$src" >/dev/null
mkdir "$src/small" && mv "$src"/d0?? "$src/small/"
mkdir -p "$fdst" "$rdst"
big="big-0.bin"
size_of() { stat -c %s "$1"; }
bigsize=$(size_of "$src/$big")
smallbytes=$(du -sb --apparent-size "$src/small" | cut -f1)
smallfiles=$(find "$src/small" -type f | wc -l)

wpid= spid= fpid=
stop="$W/stop"; stats="$W/stats"
cleanup() {
  # Only our own children, cleared once reaped so a recycled pid is never
  # signalled; the stop file ends wanem, which removes both namespaces.
  for p in $fpid $spid; do kill "$p" 2>/dev/null || true; done
  for p in $fpid $spid; do wait "$p" 2>/dev/null || true; done
  touch "$stop"
  [ -n "$wpid" ] && { wait "$wpid" 2>/dev/null || true; }
  rm -f "$W/edit.tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -f "$stop" "$stats"
"$W/wanem" -name "$NS" $FLAGS -for "${LINK_FOR}s" -stopfile "$stop" -statsfile "$stats" >"$W/wanem.log" 2>&1 &
wpid=$!
for _ in $(seq 50); do
  ip netns exec "$NS-b" true 2>/dev/null && ip netns exec "$NS-a" ip -br addr 2>/dev/null | grep -q 10.199.0.1 && [ -s "$stats" ] && break
  sleep 0.2
done
[ -s "$stats" ] || { echo "wanem did not come up:"; cat "$W/wanem.log"; exit 1; }

ip netns exec "$NS-a" /usr/sbin/sshd -D -e -p 22 -o ListenAddress=10.199.0.1 -h "$W/ssh_host_ed25519_key" \
  -o AuthorizedKeysFile="$W/authorized_keys" -o StrictModes=no -o PermitRootLogin=prohibit-password \
  -o PasswordAuthentication=no >"$W/sshd.log" 2>&1 &
spid=$!
ip netns exec "$NS-a" "$W/ferry" serve --listen 10.199.0.1:$PORT --root "$W/srv" \
  --authorized-keys "$W/authorized_keys" --host-key "$W/ferry_host_key" --state-dir "$W/srv-state" \
  >"$W/serve.log" 2>&1 &
fpid=$!
for _ in $(seq 50); do
  l=$(ip netns exec "$NS-a" ss -Hltn 2>/dev/null || true)
  grep -q "10.199.0.1:22 " <<<"$l" && grep -q "10.199.0.1:$PORT " <<<"$l" && break
  sleep 0.2
done

cat >"$W/job.yaml" <<YAML
state_dir: $W/state
jobs:
  - name: delta
    local: $src
    remote: ferry://root@10.199.0.1:$PORT/ferry
    direction: local-to-remote
    identity: $W/id_ed25519
    max_delete: 100%
    bandwidth: {policy: fair, target_rate: 100Mbps}
YAML

ssh_cmd="ssh -p 22 -i $W/id_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
run_ferry() {
  ip netns exec "$NS-b" timeout "$1" "$W/ferry" sync --log-level "${FERRY_LOG_LEVEL:-warn}" --accept-new-host-key --config "$W/job.yaml" delta
}
run_rsync() {
  # shellcheck disable=SC2086
  ip netns exec "$NS-b" timeout "$1" rsync $RSYNC_FLAGS -e "$ssh_cmd" "$src/" "root@10.199.0.1:$rdst/"
}

now() { date +%s.%N; }
# link_bytes prints the bytes offered to the link so far, both directions.
link_bytes() { awk '{printf "%.0f\n", $2 + $6}' "$stats"; }
# measure TOOL TIMEOUT LOG runs one sync and sets secs, bytes and rc. The
# stats file is rewritten every 200 ms: wait past two rewrites before each
# read, so the last packets of the run (and nothing of the next) are in.
measure() {
  sleep 0.5
  local b0 t0 t1
  b0=$(link_bytes)
  t0=$(now)
  rc=0
  "run_$1" "$2" >>"$3" 2>&1 || rc=$?
  t1=$(now)
  sleep 0.5
  bytes=$(( $(link_bytes) - b0 ))
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

# check prints ok when both destinations hold the source: ferry's exactly,
# rsync's as well as leftovers under old names (rsync -a deletes nothing).
check() {
  [ "$CHECK" = 1 ] || { echo "-"; return; }
  local f r
  f=$(timeout 300 diff -rq "$src" "$fdst" 2>&1 | head -3 || true)
  r=$(timeout 300 diff -rq "$src" "$rdst" 2>&1 | grep -v "^Only in $rdst" | head -3 || true)
  if [ -z "$f" ] && [ -z "$r" ]; then echo ok; return; fi
  [ -n "$f" ] && echo "ferry: $f" >>"$W/mismatch.txt"
  [ -n "$r" ] && echo "rsync: $r" >>"$W/mismatch.txt"
  echo "$([ -n "$f" ] && echo ferry) $([ -n "$r" ] && echo rsync) differ" | xargs
}

hb() { awk -v b="$1" 'BEGIN { if (b < 1e3) printf "%d B", b; else if (b < 1e6) printf "%.1f kB", b / 1e3; else if (b < 1e9) printf "%.1f MB", b / 1e6; else printf "%.2f GB", b / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }
pf() { [ "$1" = 1 ] && echo PASS || echo FAIL; }

echo "link: wan-100 ($FLAGS), namespaces $NS-a (server) / $NS-b (client); rsync flags: $RSYNC_FLAGS"
echo "workload: tree, seed 1: $big $(hb "$bigsize"), $smallfiles small files ($(hb "$smallbytes")) in small/d000..d049"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bytes: IP bytes offered to the link, both directions, counted by wanem; seconds: wall time of the command"
echo
printf '%-32s %8s %11s %8s %11s %8s %8s  %-34s %-5s %-5s %-5s %s\n' \
  step "ferry s" "ferry B" "rsync s" "rsync B" "rs/fe s" "fe/rs B" "target (ferry)" time bytes speed "check, ferry's summary"
printf '%s\n' "$(printf '%.0s-' $(seq 170))"
printf 'step\tferry_s\tferry_bytes\tferry_rc\trsync_s\trsync_bytes\trsync_rc\tbudget_bytes\ttime\tbytes\tspeed\n' >"$W/results.tsv"
rm -f "$W/mismatch.txt"

# row LABEL BUDGET: measures ferry then rsync and prints one row. BUDGET is
# the byte target for ferry; empty for rows without a target.
row() {
  local label=$1 budget=$2 tmo=$STEP_TIMEOUT fs fb frc rs rb rrc said target tp bp sp
  [ "$label" = "full sync (first)" ] && tmo=$FULL_TIMEOUT
  echo "== $label" >>"$W/ferry.log"; echo "== $label" >>"$W/rsync.log"
  measure ferry "$tmo" "$W/ferry.log"; fs=$secs fb=$bytes frc=$rc
  # ferry's own summary, without the zero counts: "created 1, deleted 1".
  said=$(sed -n '/^== /h; /^created [0-9]/h; ${x;p}' "$W/ferry.log" | grep '^created' | sed 's/, bytes.*//; s/[a-z]* 0\(, \)\?//g; s/, $//') || true
  [ "$frc" = 0 ] || said="exit $frc: $(grep -v '^==' "$W/ferry.log" | tail -1 | cut -c1-80)"
  measure rsync "$tmo" "$W/rsync.log"; rs=$secs rb=$bytes rrc=$rc
  [ "$rrc" = 0 ] || said="$said; rsync exit $rrc"
  if [ -n "$budget" ]; then
    target="<=1.5 s, <=$(hb "$budget"), <=rsync s"
    tp=$(pf "$(awk -v s="$fs" -v rc="$frc" 'BEGIN { print (rc == 0 && s <= 1.5) }')")
    bp=$(pf "$(awk -v b="$fb" -v m="$budget" -v rc="$frc" 'BEGIN { print (rc == 0 && b <= m) }')")
    sp=$(pf "$(awk -v f="$fs" -v r="$rs" -v rc="$frc" 'BEGIN { print (rc == 0 && f <= r) }')")
  else
    target="-"; tp="-"; bp="-"; sp="-"
  fi
  printf '%-32s %8s %11s %8s %11s %8s %8s  %-34s %-5s %-5s %-5s %s, %s\n' "$label" "$fs" "$(hb "$fb")" "$rs" "$(hb "$rb")" \
    "$(ratio "$rs" "$fs")" "$(ratio "$fb" "$rb")" "$target" "$tp" "$bp" "$sp" "$(check)" "${said:--}"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$fs" "$fb" "$frc" "$rs" "$rb" "$rrc" "${budget:--}" "$tp" "$bp" "$sp" >>"$W/results.tsv"
}

pct1() { echo $(( $1 / 100 )); }

row "full sync (first)" ""
row "no change" ""

# (a) append 1 byte
printf 'x' >>"$src/$big"
row "(a) append 1 byte" "$(pct1 "$(size_of "$src/$big")")"

# (b) insert 1 KiB at the middle: the rest of the file shifts by 1 KiB.
# Written beside and renamed over, as an editor saves.
s=$(size_of "$src/$big"); mid=$((s / 2))
{ head -c "$mid" "$src/$big"; head -c 1024 /dev/urandom; tail -c +$((mid + 1)) "$src/$big"; } >"$W/edit.tmp"
mv -f "$W/edit.tmp" "$src/$big"
row "(b) insert 1 KiB at the middle" "$(pct1 "$(size_of "$src/$big")")"

# (c) overwrite 1 MiB at the middle, in place.
s=$(size_of "$src/$big"); mid=$((s / 2))
dd if=/dev/urandom of="$src/$big" bs=1M count=1 seek="$mid" oflag=seek_bytes iflag=fullblock conv=notrunc status=none
row "(c) overwrite 1 MiB at middle" "$(pct1 "$(size_of "$src/$big")")"

# (d) rename the 200 MiB file.
mv "$src/$big" "$src/big-renamed.bin"
row "(d) rename the 200 MiB file" "$(pct1 "$(size_of "$src/big-renamed.bin")")"

# (e) move the directory of the 2,000 small files.
mv "$src/small" "$src/small-moved"
row "(e) move dir of $smallfiles small files" "$(pct1 "$smallbytes")"

# (f) copy the 200 MiB file to a new name.
cp "$src/big-renamed.bin" "$src/big-copy.bin"
row "(f) copy the 200 MiB file" "$(pct1 "$(size_of "$src/big-copy.bin")")"

echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rs/fe s: rsync seconds / ferry seconds (above 1: ferry faster); fe/rs B: ferry bytes / rsync bytes"
echo "byte budget for (d)-(f) stands for \"no file content\": 1 % of the content renamed, moved or copied"
[ -f "$W/mismatch.txt" ] && echo "destination mismatches: $W/mismatch.txt"
echo "raw figures: $W/results.tsv; logs: $W/ferry.log $W/rsync.log $W/serve.log $W/wanem.log"

#!/usr/bin/env bash
# Whole-system scan benchmark: the real ferry binary syncing two equal local
# folders of N files, beside `rsync -an --delete` on the same two folders.
# For each N it measures
#   initial  - `ferry sync` with an empty state dir: both sides scanned and
#              hashed, everything recorded as equal, nothing transferred;
#   rescan   - a second `ferry sync`: both sides lstat'ed, hashes reused
#              from the scan cache (the no-change pass);
#   rsync    - `rsync -an --delete SRC/ DST/`, the same no-change comparison;
# with the peak RSS of each process from /usr/bin/time -v. bytes/file is
# the rescan's peak RSS divided by N (the whole process, runtime included).
#
#   SIZES="10000 100000 1000000" BENCH_DIR=/tmp/ferry-bench-scan scripts/bench-scan.sh
#   GOBENCH=1 also runs the in-process localfs scan benchmarks (go test
#   -bench) for every N up to GOBENCH_MAX (default 100000).
#
# Generated trees (gentree -workload flat -seed 1) are cached in BENCH_DIR
# and reused by later runs; delete the directory to start over. Each N
# needs about 2 x N x 6 KiB of disk (1M files: ~12 GB, 2M inodes).
# Targets (issue): a no-change rescan of 100k files <= 1 s; <= 250 B/file.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"10000 100000 1000000"}
W=${BENCH_DIR:-/tmp/ferry-bench-scan}
TIMEOUT=${TIMEOUT:-900}     # seconds, per command
RUNS=${RUNS:-3}             # rescans and rsync runs per N; the median is reported
GOBENCH=${GOBENCH:-1}
GOBENCH_MAX=${GOBENCH_MAX:-100000}

need=()
command -v rsync >/dev/null 2>&1 || need+=(rsync)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p "$W"
go build -o "$W/ferry" ./cmd/ferry
go build -o "$W/gentree" ./cmd/gentree

# Caches: dropped before the initial pass only if the kernel lets us.
cold=no
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }
if drop_caches; then cold=yes; fi

now() { date +%s.%N; }
# timed NAME CMD...: runs CMD under timeout and /usr/bin/time -v; sets
# SECS (wall, from date) and RSS_KB (peak resident set, KiB).
timed() {
  local name=$1; shift
  local t0 t1 rc=0
  t0=$(now)
  /usr/bin/time -v -o "$W/$name.time" timeout "$TIMEOUT" "$@" >"$W/$name.out" 2>&1 || rc=$?
  t1=$(now)
  if [ $rc -ne 0 ]; then
    echo "$name failed (exit $rc; 124 is the ${TIMEOUT}s timeout):" >&2
    tail -5 "$W/$name.out" >&2
    return 1
  fi
  SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
  RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/$name.time")
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# write_jobs N: the jobs file of tree N, a two-way job between its folders.
write_jobs() {
  cat >"$W/jobs-$1.yaml" <<YAML
state_dir: $W/state-$1
jobs:
  - name: bench
    local: $W/src-$1
    remote: $W/dst-$1
    direction: two-way
    max_delete: 100%
YAML
}

# Baseline: the peak RSS of a no-change pass over one file, i.e. what the
# process costs before any per-file state; "net B/file" subtracts it.
mkdir -p "$W/src-1" "$W/dst-1"
echo x >"$W/src-1/f"; cp -a "$W/src-1/f" "$W/dst-1/f"
write_jobs 1; rm -rf "$W/state-1"
timed base-1 "$W/ferry" sync --config "$W/jobs-1.yaml" bench
timed base-2 "$W/ferry" sync --config "$W/jobs-1.yaml" bench
base_rss=$RSS_KB

rows=()
: >"$W/gobench.txt"
for n in $SIZES; do
  src="$W/src-$n" dst="$W/dst-$n"
  if [ ! -f "$W/tree-$n.done" ]; then
    rm -rf "$src" "$dst"
    echo "generating $n files in $src" >&2
    timeout "$TIMEOUT" "$W/gentree" -workload flat -files "$n" -seed 1 "$src" >&2
    timeout "$TIMEOUT" cp -a "$src" "$dst"
    touch "$W/tree-$n.done"
  fi
  state="$W/state-$n" cfg="$W/jobs-$n.yaml"
  write_jobs "$n"
  rm -rf "$state"

  echo "N=$n: initial ferry sync (caches cold: $cold)" >&2
  [ $cold = yes ] && drop_caches
  timed "initial-$n" "$W/ferry" sync --config "$cfg" bench
  init_s=$SECS init_rss=$RSS_KB
  grep -q 'created 0, updated 0, deleted 0, conflicts 0, bytes 0' "$W/initial-$n.out" ||
    { echo "initial pass of equal trees was not a no-op:" >&2; tail -3 "$W/initial-$n.out" >&2; exit 1; }

  rs=() rr=() ys=() yr=()
  for i in $(seq "$RUNS"); do
    echo "N=$n: no-change ferry sync, run $i" >&2
    timed "rescan-$n-$i" "$W/ferry" sync --config "$cfg" bench
    grep -q 'created 0, updated 0, deleted 0, conflicts 0, bytes 0' "$W/rescan-$n-$i.out" ||
      { echo "rescan was not a no-op:" >&2; tail -3 "$W/rescan-$n-$i.out" >&2; exit 1; }
    rs+=("$SECS") rr+=("$RSS_KB")
    echo "N=$n: rsync -an --delete, run $i" >&2
    timed "rsync-$n-$i" rsync -an --delete "$src/" "$dst/"
    ys+=("$SECS") yr+=("$RSS_KB")
  done
  re_s=$(printf '%s\n' "${rs[@]}" | median)
  re_rss=$(printf '%s\n' "${rr[@]}" | sort -n | tail -1)
  ry_s=$(printf '%s\n' "${ys[@]}" | median)
  ry_rss=$(printf '%s\n' "${yr[@]}" | sort -n | tail -1)
  rows+=("$(awk -v n="$n" -v is="$init_s" -v ir="$init_rss" -v rs="$re_s" -v rr="$re_rss" -v ys="$ry_s" -v yr="$ry_rss" -v br="$base_rss" 'BEGIN {
    printf "%9d %9.2f %9.1f %9.3f %10.0f %9.1f %8.0f %8.0f %8.3f %9.1f %7.2f",
      n, is, ir/1024, rs, n/rs, rr/1024, rr*1024/n, (rr-br)*1024/n, ys, yr/1024, ys/rs }')")
  echo "N=$n: initial ${init_s}s; rescans ${rs[*]}; rsync ${ys[*]}" >&2

  if [ "$GOBENCH" = 1 ] && [ "$n" -le "$GOBENCH_MAX" ]; then
    echo "N=$n: in-process localfs scan benchmarks" >&2
    # BenchmarkScan* build their own tree of N files; BenchmarkScale* use
    # this one and the state dir of the passes above.
    timeout "$TIMEOUT" go test -run '^$' -bench 'BenchmarkScan|BenchmarkScale' -benchtime 3x -benchmem ./localfs/ \
      -args -ferry.files="$n" -ferry.local="$src" -ferry.remote="$dst" -ferry.statedir="$state" 2>&1 |
      grep -E '^(Benchmark|FAIL|---)' | sed "s/^/  [go test, $n files] /" | tee -a "$W/gobench.txt" >&2 || true
  fi
done

echo
echo "caches: $( [ $cold = yes ] && echo 'dropped before each initial pass' || echo 'warm (drop_caches not permitted here)' ); rescan/rsync: median of $RUNS, RSS: max of $RUNS; $(nproc) cores"
printf '%9s %9s %9s %9s %10s %9s %8s %8s %8s %9s %7s\n' \
  files "initial s" "init MiB" "rescan s" "files/s" "resc MiB" "B/file" "net B/f" "rsync s" "rsync MiB" "ratio"
for r in "${rows[@]}"; do echo "$r"; done
echo "baseline: a no-change pass over 1 file peaks at $(awk -v b="$base_rss" 'BEGIN {printf "%.1f", b/1024}') MiB; net B/file = (rescan RSS - baseline) / files"
echo "ratio = rsync -an s / ferry rescan s (above 1: ferry is faster)"
[ -s "$W/gobench.txt" ] && { echo "in-process (go test -bench ./localfs/):"; cat "$W/gobench.txt"; }
echo "targets: 100k-file rescan <= 1 s; <= 250 B/file (peak RSS of the rescan / files)"

#!/usr/bin/env bash
# Whole-system scan benchmark (issue 13, section 4; ../shared/BENCH.md
# `scan-N`): the real ferry binary beside rsync and Unison on generated trees
# of N small files, local to local, in the same run. For each N it measures
#   first     - into an empty folder: `ferry sync` (a two-way job, empty
#               state dir), `rsync -a SRC/ DST/`, `unison SRC DST -batch
#               -auto` (empty archive), each to its own destination;
#   no-change - the same three again with nothing changed: `ferry sync`
#               (both sides lstat'ed, hashes from the scan cache), `rsync -an
#               --delete SRC/ DST/`, and Unison's rerun;
#   ferry://  - the no-change `ferry sync` with a `ferry://` remote on
#               loopback: a real `ferry serve` (ed25519 keys, 127.0.0.1 only,
#               no namespaces) whose root holds ferry's destination. Its
#               first pass (equal trees, both sides hashed, nothing moved) is
#               timed too, then the server is restarted with its state dir
#               kept so that its peak RSS (VmHWM from /proc) covers only the
#               no-change passes;
# with the peak RSS of every command from /usr/bin/time -v, RSS per file,
# the load average at the start and end, and the ratios ferry/rsync and
# ferry/unison (below 1: ferry is faster or smaller).
#
#   SIZES="100000 1000000" GOBENCH=0 scripts/bench-scan.sh
#   SIZES="10000 100000 1000000" BENCH_DIR=/tmp/ferry-bench-scan scripts/bench-scan.sh   # the default
#   FERRY_COPY_MAX=100000  for larger N, ferry's first pass is not a copy
#               into an empty folder but the first pass over two equal trees
#               (rsync's copy: both sides hashed, nothing moved), and ferry's
#               no-change passes use that copy too. A 1M copy by ferry would
#               take some 10-16 min more here (100k: 62-94 s). Default: no
#               limit, every N is a copy.
#   WARMUP=1    unmeasured no-change runs per tool before the measured ones
#               (the first runs drop the caches; 0: none)
#   FIRST=0     reuse the destinations, archives and state dirs of an earlier
#               run and measure only the no-change passes (a 1M rerun then
#               takes minutes instead of most of an hour)
#   UNISON=0    skip Unison; REMOTE=0 skip the ferry:// passes
#   RUNS=3      no-change runs per tool and N; the median is reported
#   PORT=33471  loopback TCP+UDP port of `ferry serve`
#   GOBENCH=1 also runs the in-process localfs scan benchmarks (go test
#   -bench) for every N up to GOBENCH_MAX (default 100000).
#   FERRY_BIN=PATH  measure this ferry binary instead of building this
#               checkout's (to compare builds in one BENCH_DIR, alternated)
#   FSYNC=1     also time `rsync -a --fsync` into an empty folder (rsync
#               3.2.4+), beside plain `rsync -a`: the same durability as
#               ferry's (every file on disk before it is reported), so the
#               note can say how much of the gap is the fsync (0: skip)
#
# The first runs' CPU time (user+sys from /usr/bin/time -v) is printed
# after the table: on a shared machine it is less noisy than wall time.
#
# Unison: `apt-get install -y unison` (Debian). If it is missing the script
# tries that, and skips Unison with a line saying so if it still is.
#
# Generated trees (gentree -workload flat -seed 1: N files of 100-4000 bytes
# in N/1000 directories) are cached in BENCH_DIR as src-N and reused by later
# runs; delete the directory to start over. The destinations (fdst-N for
# ferry, rdst-N for rsync, udst-N for Unison) are emptied before each first
# run. Each N needs about 4 x N x 4 KiB of disk and 4 x N inodes (1M files:
# ~17 GB, 4M inodes). Time on this 2-core machine (load 2-7, RUNS=3): 100k
# about 3 min; 1M with FERRY_COPY_MAX=100000 about 31 min the first time
# (generating the tree 4 min, rsync -a 1.5 min, ferry 3 min, Unison's first
# run 14.5 min, the ferry:// first pass 3 min, no-change passes 5 min);
# with FIRST=0 the no-change passes only, about 5 min.
# Targets (issue 13): no-change at 100k <= 0.5 s, at 1M no slower than rsync
# -an; first sync at 1M within 1.2x rsync -a; peak RSS <= 250 B/file (agent
# and ferry serve).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"10000 100000 1000000"}
W=${BENCH_DIR:-/tmp/ferry-bench-scan}
TIMEOUT=${TIMEOUT:-1800}    # seconds, per command
RUNS=${RUNS:-3}             # no-change runs per tool and N; the median is reported
GOBENCH=${GOBENCH:-1}
GOBENCH_MAX=${GOBENCH_MAX:-100000}
FIRST=${FIRST:-1}
UNISON=${UNISON:-1}
REMOTE=${REMOTE:-1}
PORT=${PORT:-33471}
FERRY_COPY_MAX=${FERRY_COPY_MAX:-}
WARMUP=${WARMUP:-1}
FERRY_BIN=${FERRY_BIN:-}
FSYNC=${FSYNC:-1}

need=()
command -v rsync >/dev/null 2>&1 || need+=(rsync)
[ -x /usr/bin/time ] || need+=(time)
[ "$UNISON" = 1 ] && ! command -v unison >/dev/null 2>&1 && need+=(unison)
[ "$REMOTE" = 1 ] && ! command -v ssh-keygen >/dev/null 2>&1 && need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${need[@]}" >/dev/null; } ||
    echo "could not install ${need[*]} (apt-get install -y ${need[*]})" >&2
fi
for c in rsync /usr/bin/time; do command -v $c >/dev/null 2>&1 || { echo "$c is missing: apt-get install -y ${c##*/}" >&2; exit 1; }; done
unison_note=""
if [ "$UNISON" = 1 ] && ! command -v unison >/dev/null 2>&1; then
  unison_note="Unison skipped: not installed (apt-get install -y unison)"
  echo "$unison_note" >&2
  UNISON=0
fi
[ "$UNISON" = 1 ] && unison_version=$(unison -version 2>/dev/null | head -1)

mkdir -p "$W"
if [ -n "$FERRY_BIN" ]; then
  cp "$FERRY_BIN" "$W/ferry"
  commit="binary $FERRY_BIN" dirty=""
else
  go build -o "$W/ferry" ./cmd/ferry
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q '\.go$' && echo " (with uncommitted Go changes)" || true)
fi
go build -o "$W/gentree" ./cmd/gentree

# Caches: dropped before each first run only if the kernel lets us.
cold=no
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }
if drop_caches; then cold=yes; fi

now() { date +%s.%N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(loadavg) t_start=$(now)

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
# cpu NAME: user+sys seconds of the timed command NAME.
cpu() { awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u + s}' "$W/$1.time"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
maxof() { sort -g | tail -1; }
noop() { grep -q 'created 0, updated 0, deleted 0, conflicts 0, bytes 0' "$1" ||
  { echo "$2 was not a no-op:" >&2; tail -3 "$1" >&2; exit 1; }; }

# write_jobs N NAME REMOTE STATE: a two-way job between src-N and REMOTE.
write_jobs() {
  cat >"$W/jobs-$2-$1.yaml" <<YAML
state_dir: $4
jobs:
  - name: bench
    local: $W/src-$1
    remote: $3
    direction: two-way
    max_delete: 100%
YAML
  case $3 in ferry://*) echo "    identity: $W/id_ed25519" >>"$W/jobs-$2-$1.yaml" ;; esac
}

# ferry serve on loopback, for the ferry:// passes.
spid=
stop_serve() {
  # SIGINT, as `ferry demo` stops it; KILL after 15 s. Only our own child.
  [ -n "$spid" ] || return 0
  kill -INT "$spid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  spid=
}
trap stop_serve EXIT
trap 'exit 130' INT TERM
# start_serve STATEDIR LOG: starts `ferry serve` with root W and waits until
# it accepts TCP connections.
start_serve() {
  "$W/ferry" serve --listen "127.0.0.1:$PORT" --root "$W" --authorized-keys "$W/authorized_keys" \
    --host-key "$W/ferry_host_key" --state-dir "$1" >"$2" 2>&1 &
  spid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  echo "ferry serve did not come up on 127.0.0.1:$PORT:" >&2; tail -5 "$2" >&2; exit 1
}
# serve_hwm: peak RSS (KiB) of the running ferry serve so far.
serve_hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$spid/status"; }
if [ "$REMOTE" = 1 ]; then
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "127.0.0.1:$PORT is taken (another run?); set PORT=" >&2; exit 1
  fi
  [ -f "$W/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C ferry-bench -f "$W/id_ed25519"
  cp "$W/id_ed25519.pub" "$W/authorized_keys"; chmod 600 "$W/authorized_keys"
fi

# Baseline: the peak RSS of a no-change pass over one file, i.e. what the
# process costs before any per-file state; "net B/file" subtracts it.
mkdir -p "$W/src-1" "$W/fdst-1"
echo x >"$W/src-1/f"; cp -a "$W/src-1/f" "$W/fdst-1/f"
write_jobs 1 local "$W/fdst-1" "$W/state-1"; rm -rf "$W/state-1"
timed base-1 "$W/ferry" sync --config "$W/jobs-local-1.yaml" bench
timed base-2 "$W/ferry" sync --config "$W/jobs-local-1.yaml" bench
base_rss=$RSS_KB

# row TOOL N FIRST_S FIRST_KB NOCH_S NOCH_KB [FERRY_FIRST_S FERRY_NOCH_S FERRY_KB]
# A markdown row; "-" where there is nothing to show. The last three give
# the ratios ferry/TOOL.
row() {
  awk -v eq="$([ "${FERRY_FIRST:-copy}" = equal ] && echo 1 || echo 0)" -v tool="$1" -v n="$2" -v fs="$3" -v fk="$4" -v ns="$5" -v nk="$6" -v xf="${7:--}" -v xn="${8:--}" -v xk="${9:--}" '
    function s(v) { return v == "-" ? "-" : sprintf("%.2f s", v) }
    function m(v) { return v == "-" ? "-" : sprintf("%.0f MiB", v / 1024) }
    function b(v) { return v == "-" ? "-" : sprintf("%.0f", v * 1024 / n) }
    function r(a, c) { return (a == "-" || c == "-" || c == 0) ? "-" : sprintf("%.2f", a / c) }
    function rf(a, c) { return r(a, c) (eq && r(a, c) != "-" ? " (equal trees)" : "") }
    BEGIN {
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, tool, s(fs), m(fk), s(ns), m(nk), b(nk),
        rf(xf, fs), r(xn, ns), r(xk, nk)
    }'
}

rows=() secs_n=() cpus=()
: >"$W/gobench.txt"
for n in $SIZES; do
  t_n=$(now)
  src="$W/src-$n" fdst="$W/fdst-$n" rdst="$W/rdst-$n" udst="$W/udst-$n" fname="fdst-$n"
  # Above FERRY_COPY_MAX, ferry syncs src with rsync's copy.
  FERRY_FIRST=copy
  [ -n "$FERRY_COPY_MAX" ] && [ "$n" -gt "$FERRY_COPY_MAX" ] && FERRY_FIRST=equal
  [ "$FERRY_FIRST" = equal ] && { fdst=$rdst fname="rdst-$n"; }
  fsync_row=""
  state="$W/state-$n" rstate="$W/state-remote-$n" sstate="$W/srvstate-$n" uhome="$W/unison-$n"
  if [ ! -f "$W/tree-$n.done" ]; then
    rm -rf "$src" "$W/dst-$n"
    echo "generating $n files in $src" >&2
    timeout "$TIMEOUT" "$W/gentree" -workload flat -files "$n" -seed 1 "$src" >&2
    touch "$W/tree-$n.done"
  fi
  # The destination of older runs of this script (a cp -a copy) is not used.
  [ -d "$W/dst-$n" ] && rm -rf "$W/dst-$n"
  write_jobs "$n" local "$fdst" "$state"
  write_jobs "$n" remote "ferry://root@127.0.0.1:$PORT/$fname" "$rstate"
  # first-N.done holds the FERRY_FIRST mode of the run it marks.
  reuse=no
  if [ "$FIRST" != 1 ]; then
    if [ "$(cat "$W/first-$n.done" 2>/dev/null)" = "$FERRY_FIRST" ]; then reuse=yes
    else echo "N=$n: no earlier first run with FERRY_FIRST=$FERRY_FIRST to reuse; running it (FIRST=0 ignored)" >&2
    fi
  fi
  if [ $reuse = no ]; then
    rm -f "$W/first-$n.done"
    echo "N=$n: emptying the destinations" >&2
    rm -rf "$W/fdst-$n" "$rdst" "$udst" "$state" "$rstate" "$sstate" "$uhome"
    mkdir -p "$fdst" "$rdst" "$udst" "$uhome"

    if [ "$FERRY_FIRST" = equal ]; then
      echo "N=$n: rsync -a into an empty folder" >&2
      [ $cold = yes ] && drop_caches
      timed "rsync-first-$n" rsync -a "$src/" "$rdst/"
      r_first_s=$SECS r_first_kb=$RSS_KB
      echo "N=$n: first ferry sync of two equal trees (N > FERRY_COPY_MAX)" >&2
      [ $cold = yes ] && drop_caches
      timed "ferry-first-$n" "$W/ferry" sync --config "$W/jobs-local-$n.yaml" bench
      f_first_s=$SECS f_first_kb=$RSS_KB
      noop "$W/ferry-first-$n.out" "the first ferry pass of equal trees"
    else
      echo "N=$n: first ferry sync into an empty folder (caches cold: $cold)" >&2
      [ $cold = yes ] && drop_caches
      timed "ferry-first-$n" "$W/ferry" sync --config "$W/jobs-local-$n.yaml" bench
      f_first_s=$SECS f_first_kb=$RSS_KB
      # N files and their directories.
      created=$(sed -n 's/^created \([0-9]*\), updated 0, deleted 0, conflicts 0, .*/\1/p' "$W/ferry-first-$n.out")
      [ "${created:-0}" -ge "$n" ] ||
        { echo "first pass did not create $n files:" >&2; tail -3 "$W/ferry-first-$n.out" >&2; exit 1; }

      echo "N=$n: rsync -a into an empty folder" >&2
      [ $cold = yes ] && drop_caches
      timed "rsync-first-$n" rsync -a "$src/" "$rdst/"
      r_first_s=$SECS r_first_kb=$RSS_KB
    fi
    cpus+=("N=$n first-run CPU (user+sys): ferry $(cpu "ferry-first-$n") s, rsync -a $(cpu "rsync-first-$n") s")
    if [ "$FSYNC" = 1 ]; then
      echo "N=$n: rsync -a --fsync into an empty folder" >&2
      rm -rf "$W/rfdst-$n"; mkdir -p "$W/rfdst-$n"
      [ $cold = yes ] && drop_caches
      timed "rsyncf-first-$n" rsync -a --fsync "$src/" "$W/rfdst-$n/"
      fsync_row=$(row "rsync -a --fsync (first only)" "$n" "$SECS" "$RSS_KB" - - "$f_first_s")
      cpus[-1]+=", rsync -a --fsync $(cpu "rsyncf-first-$n") s"
      rm -rf "$W/rfdst-$n"
    fi

    u_first_s=- u_first_kb=-
    if [ "$UNISON" = 1 ]; then
      echo "N=$n: unison -batch -auto into an empty folder" >&2
      [ $cold = yes ] && drop_caches
      timed "unison-first-$n" env UNISON="$uhome" unison "$src" "$udst" -batch -auto
      u_first_s=$SECS u_first_kb=$RSS_KB
    fi

    rf_first_s=- rf_first_kb=- sv_first_kb=-
    if [ "$REMOTE" = 1 ]; then
      echo "N=$n: first ferry sync with a ferry:// remote on loopback (equal trees)" >&2
      start_serve "$sstate" "$W/serve-first-$n.log"
      timed "remote-first-$n" "$W/ferry" sync --accept-new-host-key --config "$W/jobs-remote-$n.yaml" bench
      rf_first_s=$SECS rf_first_kb=$RSS_KB
      noop "$W/remote-first-$n.out" "the first ferry:// pass of equal trees"
      sv_first_kb=$(serve_hwm)
      stop_serve
    fi
    printf '%s\n' "$f_first_s $f_first_kb $r_first_s $r_first_kb $u_first_s $u_first_kb $rf_first_s $rf_first_kb $sv_first_kb" >"$W/first-$n.txt"
    echo "$FERRY_FIRST" >"$W/first-$n.done"
  else
    echo "N=$n: reusing the first run of $(date -r "$W/first-$n.done" -u '+%F %H:%M UTC') (FIRST=0)" >&2
    read -r f_first_s f_first_kb r_first_s r_first_kb u_first_s u_first_kb rf_first_s rf_first_kb sv_first_kb <"$W/first-$n.txt"
    [ "$UNISON" = 1 ] || { u_first_s=- u_first_kb=-; }
    [ "$REMOTE" = 1 ] || { rf_first_s=- rf_first_kb=- sv_first_kb=-; }
  fi

  fs=() fr=() ys=() yr=() us=() ur=() rs=() rr=()
  for i in $(seq "$WARMUP"); do
    echo "N=$n: warm-up no-change runs, not measured" >&2
    timed "ferry-warm-$n-$i" "$W/ferry" sync --config "$W/jobs-local-$n.yaml" bench
    timed "rsync-warm-$n-$i" rsync -an --delete "$src/" "$rdst/"
    [ "$UNISON" = 1 ] && timed "unison-warm-$n-$i" env UNISON="$uhome" unison "$src" "$udst" -batch -auto
  done
  for i in $(seq "$RUNS"); do
    echo "N=$n: no-change ferry sync, run $i" >&2
    timed "ferry-noch-$n-$i" "$W/ferry" sync --config "$W/jobs-local-$n.yaml" bench
    noop "$W/ferry-noch-$n-$i.out" "the no-change ferry sync"
    fs+=("$SECS") fr+=("$RSS_KB")
    echo "N=$n: rsync -an --delete, run $i" >&2
    timed "rsync-noch-$n-$i" rsync -an --delete "$src/" "$rdst/"
    ys+=("$SECS") yr+=("$RSS_KB")
    if [ "$UNISON" = 1 ]; then
      echo "N=$n: unison no-change rerun, run $i" >&2
      timed "unison-noch-$n-$i" env UNISON="$uhome" unison "$src" "$udst" -batch -auto
      grep -q 'Nothing to do' "$W/unison-noch-$n-$i.out" ||
        { echo "unison's rerun was not a no-op:" >&2; tail -3 "$W/unison-noch-$n-$i.out" >&2; exit 1; }
      us+=("$SECS") ur+=("$RSS_KB")
    fi
  done
  sv_kb=-
  if [ "$REMOTE" = 1 ]; then
    # A fresh server (its scan cache kept in its state dir), so that its
    # peak covers only the no-change passes.
    start_serve "$sstate" "$W/serve-$n.log"
    for i in $(seq "$WARMUP"); do
      timed "remote-warm-$n-$i" "$W/ferry" sync --accept-new-host-key --config "$W/jobs-remote-$n.yaml" bench
    done
    for i in $(seq "$RUNS"); do
      echo "N=$n: no-change ferry sync with a ferry:// remote, run $i" >&2
      timed "remote-noch-$n-$i" "$W/ferry" sync --accept-new-host-key --config "$W/jobs-remote-$n.yaml" bench
      noop "$W/remote-noch-$n-$i.out" "the no-change ferry:// pass"
      rs+=("$SECS") rr+=("$RSS_KB")
    done
    sv_kb=$(serve_hwm)
    stop_serve
  fi

  f_s=$(printf '%s\n' "${fs[@]}" | median) f_kb=$(printf '%s\n' "${fr[@]}" | maxof)
  y_s=$(printf '%s\n' "${ys[@]}" | median) y_kb=$(printf '%s\n' "${yr[@]}" | maxof)
  u_s=- u_kb=- r_s=- r_kb=-
  [ "$UNISON" = 1 ] && { u_s=$(printf '%s\n' "${us[@]}" | median); u_kb=$(printf '%s\n' "${ur[@]}" | maxof); }
  [ "$REMOTE" = 1 ] && { r_s=$(printf '%s\n' "${rs[@]}" | median); r_kb=$(printf '%s\n' "${rr[@]}" | maxof); }
  flabel="ferry sync (local)"
  [ "$FERRY_FIRST" = equal ] && flabel="ferry sync (local; first: equal trees)"
  rows+=("$(row "$flabel" "$n" "$f_first_s" "$f_first_kb" "$f_s" "$f_kb")")
  rows+=("$(row "rsync -a / -an --delete" "$n" "$r_first_s" "$r_first_kb" "$y_s" "$y_kb" "$f_first_s" "$f_s" "$f_kb")")
  [ -n "$fsync_row" ] && rows+=("$fsync_row")
  [ "$UNISON" = 1 ] && rows+=("$(row "unison -batch -auto" "$n" "$u_first_s" "$u_first_kb" "$u_s" "$u_kb" "$f_first_s" "$f_s" "$f_kb")")
  if [ "$REMOTE" = 1 ]; then
    rows+=("$(row "ferry sync, ferry:// agent (first: equal trees)" "$n" "$rf_first_s" "$rf_first_kb" "$r_s" "$r_kb")")
    rows+=("$(row "ferry serve (server process)" "$n" - "$sv_first_kb" - "$sv_kb")")
  fi
  t_done=$(awk -v a="$t_n" -v b="$(now)" 'BEGIN {printf "%.0f", b - a}')
  echo "N=$n: done in ${t_done}s; ferry no-change ${fs[*]}; rsync -an ${ys[*]}; unison ${us[*]:-}; ferry:// ${rs[*]:-}" >&2
  secs_n+=("N=$n: ${t_done} s")

  if [ "$GOBENCH" = 1 ] && [ "$n" -le "$GOBENCH_MAX" ]; then
    echo "N=$n: in-process localfs scan benchmarks" >&2
    # BenchmarkScan* build their own tree of N files; BenchmarkScale* use
    # this one, ferry's destination and the state dir of the passes above.
    timeout "$TIMEOUT" go test -run '^$' -bench 'BenchmarkScan|BenchmarkScale' -benchtime 3x -benchmem ./localfs/ \
      -args -ferry.files="$n" -ferry.local="$src" -ferry.remote="$fdst" -ferry.statedir="$state" 2>&1 |
      grep -E '^(Benchmark|FAIL|---)' | sed "s/^/  [go test, $n files] /" | tee -a "$W/gobench.txt" >&2 || true
  fi
done
load_end=$(loadavg)
t_all=$(awk -v a="$t_start" -v b="$(now)" 'BEGIN {printf "%.0f", b - a}')

echo
echo "ferry $commit$dirty; $(nproc) cores; load average at start $load_start, at end $load_end; whole run ${t_all} s (${secs_n[*]})"
echo "first runs: into empty folders$( [ -n "$FERRY_COPY_MAX" ] && echo " (ferry's, above $FERRY_COPY_MAX files: over rsync's copy, equal trees)"), caches $( [ $cold = yes ] && echo 'dropped before each' || echo 'warm (drop_caches not permitted here)' )$( [ "$FIRST" = 1 ] || echo '; FIRST=0: first-run figures reused from an earlier run' )"
echo "no-change: median of $RUNS after $WARMUP unmeasured, warm cache; peak RSS: max of $RUNS (/usr/bin/time -v: the largest process; ferry serve: VmHWM of the server over its $((WARMUP + RUNS)) passes)"
[ "$UNISON" = 1 ] && echo "unison: $unison_version"
[ -n "$unison_note" ] && echo "$unison_note"
echo
echo "| files | tool | first | first peak RSS | no-change | no-change peak RSS | B/file | ferry ÷ it, first | ferry ÷ it, no-change | ferry ÷ it, RSS |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do echo "$r"; done
echo
echo "B/file: no-change peak RSS / files. ferry ÷ it: ferry's local figure over this tool's (below 1: ferry is faster or smaller);"
echo "(equal trees): ferry's first pass there was over rsync's copy (N > FERRY_COPY_MAX), not a copy like the others'."
[ ${#cpus[@]} -gt 0 ] && printf '%s\n' "${cpus[@]}"
echo "baseline: a no-change pass over 1 file peaks at $(awk -v b="$base_rss" 'BEGIN {printf "%.1f", b/1024}') MiB"
[ -s "$W/gobench.txt" ] && { echo "in-process (go test -bench ./localfs/):"; cat "$W/gobench.txt"; }
echo "targets (issue 13): no-change at 100k <= 0.5 s, at 1M <= rsync -an; first sync at 1M <= 1.2 x rsync -a; <= 250 B/file (agent and ferry serve)"

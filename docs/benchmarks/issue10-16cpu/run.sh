#!/usr/bin/env bash
# The device measurement for issue 10: one script, results under $OUT, partial results kept.
# SMOKE=1: tiny durations, to check the script itself on the development machine.
set -u
OUT=${OUT:-/tmp/devout}
mkdir -p "$OUT"
cd "$(dirname "$0")"
here=$PWD
chmod +x ./* 2>/dev/null
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "${SMOKE:-0}" = 1 ]; then
  R1=2 D1=0.5 RU=2 DU=0.5 RC=1 DC=0.3 CT="--warm-up-time 0.1 --measurement-time 0.1" UCPU="--server-cpus 0 --client-cpus 1" CCT=1
else
  R1=7 D1=3 RU=5 DU=3 RC=3 DC=1 CT="--warm-up-time 0.5 --measurement-time 1" UCPU="--server-cpus 0 --client-cpus 8-15" CCT=4
fi
log() { echo "== $(date +%T) $*" | tee -a "$OUT/steps.txt"; }
{
  echo "cpus: $(nproc)"; lscpu | grep -E "Model name|Thread|Core|Socket|NUMA node\(s\)"; uname -r
  echo "load: $(cat /proc/loadavg)"; echo "nofile: $(ulimit -n)"
} >"$OUT/machine.txt" 2>&1
log start
# 1. One core against tokio current-thread, paired rounds (c76be1d as the baseline too).
log one-core
timeout 170 ./reactord compare --one-core --tokio ./tokio_echo --baseline ./reactord-c76be1d \
    --rounds $R1 --duration $D1 --client-threads $CCT --out "$OUT/one-core" >"$OUT/one-core.txt" 2>&1
echo "rc=$?" >>"$OUT/one-core.txt"
# 2. UDP: batches against one datagram per call (fe1fc42), one server core.
log udp-fe1fc42
timeout 90 ../scripts/udp_ab.sh --before "$here/reactord-fe1fc42" --after "$here/reactord" --rounds $RU \
    --duration $DU --conns 512 --threads 8 $UCPU >"$OUT/udp-fe1fc42.txt" 2>&1
echo "rc=$?" >>"$OUT/udp-fe1fc42.txt"
# 3. compare before/after: c76be1d as the baseline, quick preset.
log compare-baseline
timeout 200 ./reactord compare --quick --baseline ./reactord-c76be1d --tokio ./tokio_echo --rounds $RC \
    --duration $DC --out "$OUT/compare-baseline" >"$OUT/compare-baseline.txt" 2>&1
echo "rc=$?" >>"$OUT/compare-baseline.txt"
# 4. criterion, before (c76be1d) then after, the same benchmarks.
log criterion
rm -rf /tmp/crit && mkdir -p /tmp/crit && cd /tmp/crit
timeout 70 "$here/protocol-bench-c76be1d" --bench $CT --noplot --save-baseline before \
    >"$OUT/criterion-before.txt" 2>&1
timeout 70 "$here/protocol-bench-new" --bench $CT --noplot --baseline before \
    >"$OUT/criterion-after.txt" 2>&1
cd "$here"
log done
echo "load: $(cat /proc/loadavg)" >>"$OUT/machine.txt"

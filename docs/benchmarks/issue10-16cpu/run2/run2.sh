#!/usr/bin/env bash
# Second device run for issue 10: compare before/after with enough load-generator
# loops, UDP batches without receive-buffer drops, criterion's two slower benchmarks.
set -u
OUT=${OUT:-/tmp/devout2}
mkdir -p "$OUT"
cd "$(dirname "$0")"
here=$PWD
chmod +x ./* 2>/dev/null
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "${SMOKE:-0}" = 1 ]; then
  RC=1 DC=0.3 CT=1 RU=2 DU=0.5 UCPU="--server-cpus 0 --client-cpus 1" MT=0.2
else
  RC=3 DC=2 CT=4 RU=5 DU=3 UCPU="--server-cpus 0 --client-cpus 8-15" MT=3
fi
log() { echo "== $(date +%T) $*" | tee -a "$OUT/steps.txt"; }
{ echo "cpus: $(nproc)"; uname -r; echo "load: $(cat /proc/loadavg)"; } >"$OUT/machine.txt"
log compare-baseline
timeout 240 ./reactord compare --quick --baseline ./reactord-c76be1d --tokio ./tokio_echo --rounds $RC \
    --duration $DC --client-threads $CT --out "$OUT/compare" >"$OUT/compare-baseline.txt" 2>&1
echo "rc=$?" >>"$OUT/compare-baseline.txt"
log udp-128
timeout 90 ../scripts/udp_ab.sh --before "$here/reactord-fe1fc42" --after "$here/reactord" --rounds $RU \
    --duration $DU --conns 128 --threads 8 $UCPU >"$OUT/udp-128.txt" 2>&1
echo "rc=$?" >>"$OUT/udp-128.txt"
log criterion
rm -rf /tmp/crit && mkdir -p /tmp/crit && cd /tmp/crit
for round in 1 2; do
  for which in c76be1d new; do
    echo "## round $round: $which" >>"$OUT/criterion.txt"
    timeout 40 "$here/protocol-bench-$which" --bench 'session/(chat|discard)/256' --warm-up-time 1 \
        --measurement-time $MT --noplot 2>&1 | grep -E "^session|time:" >>"$OUT/criterion.txt"
  done
done
cd "$here"
log done
echo "load: $(cat /proc/loadavg)" >>"$OUT/machine.txt"

#!/usr/bin/env bash
# UDP echo, two builds of reactord side by side: datagrams per second and the
# server's CPU per datagram, in alternating rounds on the same machine.
#
#   scripts/udp_ab.sh --before PATH [--after PATH] [--rounds N] [--duration SECS]
#                     [--conns N] [--threads N] [--size BYTES]
#                     [--server-cpus LIST] [--client-cpus LIST]
#
# --after defaults to target/release/reactord (built if missing); the load
# generator is always the --after build, so both servers face the same client.
# With --server-cpus (e.g. 0) each server is pinned there with taskset, and
# the load generator to --client-cpus: on a machine with enough cores this
# measures what one server core can do. Rounds alternate before/after so a
# change in the machine's load hits both. Prints one line per round and the
# median with min-max of each, and the ratio after/before of the medians.
# Datagrams lost under saturation are counted in each round's errors (the
# load generator waits its loss timeout and sends the next), not fatal.
# Loopback only; each server is stopped by its own pid, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

before="" after="" rounds=5 duration=3 conns=256 threads=1 size=64
server_cpus="" client_cpus=""
while [ $# -gt 0 ]; do
    case "$1" in
        --before) before="$2"; shift 2 ;;
        --after) after="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --conns) conns="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --server-cpus) server_cpus="$2"; shift 2 ;;
        --client-cpus) client_cpus="$2"; shift 2 ;;
        *) sed -n '2,16p' "$0" >&2; exit 2 ;;
    esac
done
if [ -z "$before" ]; then
    echo "--before PATH is required (a reactord binary built from the older commit)" >&2
    exit 2
fi
if [ -z "$after" ]; then
    cargo build --release --quiet --bin reactord
    after=target/release/reactord
fi
for bin in "$before" "$after"; do
    [ -x "$bin" ] || { echo "$bin: not an executable" >&2; exit 2; }
done
pin_server=() pin_client=()
[ -n "$server_cpus" ] && pin_server=(taskset -c "$server_cpus")
[ -n "$client_cpus" ] && pin_client=(taskset -c "$client_cpus")

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# CPU ticks (user + system) the process has used so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

echo "machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "udp echo $size B, $conns sockets, $threads client threads, ${duration}s x $rounds rounds;" \
     "server cpus: ${server_cpus:-any}, client cpus: ${client_cpus:-any}"
: >"$work/rounds"
for round in $(seq "$rounds"); do
    order="before after"
    [ $((round % 2)) -eq 0 ] && order="after before"
    for which in $order; do
        bin="$before"
        [ "$which" = after ] && bin="$after"
        "${pin_server[@]}" "$bin" serve --udp echo=127.0.0.1:0 --udp-budget 0 -q \
            >"$work/listening" 2>&1 &
        server_pid=$!
        for _ in $(seq 100); do
            grep -q "listening udp" "$work/listening" 2>/dev/null && break
            sleep 0.05
        done
        addr="$(awk '$1 == "listening" && $2 == "udp" { print $4; exit }' "$work/listening")"
        [ -n "$addr" ] || { echo "$bin did not start:" >&2; cat "$work/listening" >&2; exit 1; }
        start="$(ticks "$server_pid")"
        "${pin_client[@]}" "$after" bench udp "$addr" --conns "$conns" --threads "$threads" \
            --size "$size" --duration "$duration" --json --allow-errors >"$work/bench.json"
        used=$(( $(ticks "$server_pid") - start ))
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
        python3 - "$work/bench.json" "$which" "$round" "$used" "$(getconf CLK_TCK)" \
            >>"$work/rounds" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
which, round_, used, hz = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ops = max(report["ops"], 1)
print(which, round_, f'{report["rate"]:.0f}', f"{used / hz * 1e6 / ops:.3f}",
      report["errors_total"], f'{report["client_cpu"]["busy"]:.2f}')
EOF
        tail -1 "$work/rounds" | awk '{ printf "round %s %-6s %9s datagrams/s  server %s us CPU/datagram  errors %s  client busy %s\n", $2, $1, $3, $4, $5, $6 }'
    done
done
python3 - "$work/rounds" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
def column(which, index):
    return [float(r[index]) for r in rows if r[0] == which]
for label, index, unit in (("rate", 2, "datagrams/s"), ("server CPU", 3, "us/datagram")):
    b, a = column("before", index), column("after", index)
    mb, ma = statistics.median(b), statistics.median(a)
    print(f"{label:10}  before {mb:,.3f} ({min(b):,.3f}-{max(b):,.3f})  "
          f"after {ma:,.3f} ({min(a):,.3f}-{max(a):,.3f})  after/before {ma / mb:.2f}x {unit}")
EOF
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Syscalls per operation: the release server under strace -c while
# `reactord bench` runs a fixed number of requests against it.
#
#   scripts/syscalls.sh [--tool strace|perf] [--bin PATH] [--design serve|threaded]
#                       [--scenario echo|udp] [--conns N] [--requests N] [--size BYTES]
#
# Defaults: strace, the reactor (serve), TCP echo, 100 connections, 200,000
# requests of 64 B. Prints the tool's table (every thread of the server) and
# one line: syscalls per operation, total and per kind (recv, send, epoll_wait...).
#
# --tool strace (Debian/Ubuntu: `apt-get install -y strace`) counts every
# syscall by name, but slows the server down a lot: a slower server finds
# more ready sockets per epoll_wait, so its epoll_wait share is a lower bound.
# --tool perf (`apt-get install -y linux-perf`; needs kernel tracepoints, i.e.
# root or kernel.perf_event_paranoid <= -1) counts through tracepoints at
# full speed, so its epoll_wait share is the real one. Rates measured under
# either tool mean nothing; counts per operation do. Loopback only; every
# process is stopped by its own pid.
set -euo pipefail
cd "$(dirname "$0")/.."

tool=strace
bin=""
design=serve
scenario=echo
conns=100
requests=200000
size=64
while [ $# -gt 0 ]; do
    case "$1" in
        --tool) tool="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        --design) design="$2"; shift 2 ;;
        --scenario) scenario="$2"; shift 2 ;;
        --conns) conns="$2"; shift 2 ;;
        --requests) requests="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        *) echo "usage: $0 [--design serve|threaded] [--scenario echo|udp] [--conns N] [--requests N] [--size B]" >&2
           exit 2 ;;
    esac
done
if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$tool is not installed (Debian/Ubuntu: apt-get install -y strace, or linux-perf)" >&2
    exit 1
fi

# --bin: measure another build (e.g. the one before a change) with this script.
if [ -z "$bin" ]; then
    cargo build --release --quiet --bin reactord
    bin=target/release/reactord
fi
work="$(mktemp -d)"
strace_pid=""
perf_pid=""
server_pid=""
cleanup() {
    # Stop only what this script started, by pid.
    for pid in "$perf_pid" "$server_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
        fi
    done
    if [ -n "$strace_pid" ]; then
        wait "$strace_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

server=("$bin" "$design" --tcp echo=127.0.0.1:0 --udp echo=127.0.0.1:0 --max-conns-per-ip 0
        --conn-rate-per-ip 0 --udp-budget 0 --idle-timeout 0 -q)
if [ "$tool" = strace ]; then
    strace -f -c -o "$work/counts.txt" "${server[@]}" >"$work/listening" 2>&1 &
    strace_pid=$!
else
    "${server[@]}" >"$work/listening" 2>&1 &
    server_pid=$!
fi
for _ in $(seq 100); do
    grep -q "listening udp" "$work/listening" 2>/dev/null && break
    sleep 0.1
done
if [ "$tool" = strace ]; then
    server_pid="$(pgrep -P "$strace_pid" | head -1)"
else
    events=raw_syscalls:sys_enter
    for name in epoll_wait epoll_pwait epoll_ctl recvfrom sendto read write recvmmsg sendmmsg; do
        events="$events,syscalls:sys_enter_$name"
    done
    perf stat -e "$events" -p "$server_pid" -o "$work/counts.txt" &
    perf_pid=$!
    sleep 0.5
fi
transport=tcp
[ "$scenario" = udp ] && transport=udp
addr="$(awk -v t="$transport" '$1 == "listening" && $2 == t { print $4; exit }' "$work/listening")"
if [ -z "$addr" ] || [ -z "$server_pid" ]; then
    echo "the server did not start:" >&2
    cat "$work/listening" >&2
    exit 1
fi

# UDP may lose a datagram on a busy machine (the load generator counts it and
# sends the next); the syscall counts stay meaningful, so losses do not fail the run.
allow=()
[ "$scenario" = udp ] && allow=(--allow-errors)
"$bin" bench "$scenario" "$addr" --conns "$conns" --size "$size" \
    --requests "$requests" --duration 600 --json "${allow[@]}" >"$work/bench.json"
if [ "$tool" = perf ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    perf_pid=""
fi
kill -INT "$server_pid"
if [ -n "$strace_pid" ]; then
    wait "$strace_pid" || true
    strace_pid=""
else
    wait "$server_pid" || true
fi
server_pid=""

ops="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ops"])' "$work/bench.json")"
cat "$work/counts.txt"
python3 - "$work/counts.txt" "$ops" "$tool" "$design" "$scenario" "$conns" "$size" <<'EOF'
import sys
path, ops, tool, design, scenario, conns, size = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
counts, total = {}, 0
for line in open(path):
    fields = line.split()
    if tool == "strace":
        # "% time seconds usecs/call calls [errors] syscall"
        if len(fields) >= 5 and fields[0][0].isdigit() and not line.startswith("100.00"):
            counts[fields[-1]] = int(fields[3])
    elif len(fields) >= 2 and fields[1].startswith(("raw_syscalls:", "syscalls:")):
        # "  123,456      syscalls:sys_enter_recvfrom"
        n = int(fields[0].replace(",", "")) if fields[0][0].isdigit() else 0
        if fields[1] == "raw_syscalls:sys_enter":
            total = n
        elif n:
            counts[fields[1].removeprefix("syscalls:sys_enter_")] = n
if tool == "strace":
    total = sum(counts.values())
top = sorted(counts.items(), key=lambda kv: -kv[1])[:6]
per = ", ".join(f"{name} {n / ops:.3f}" for name, n in top)
print(f"{tool}: {design} {scenario} {size} B x {conns} conns: {ops} ops, "
      f"{total / ops:.3f} syscalls/op ({per})")
EOF

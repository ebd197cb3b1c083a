#!/usr/bin/env bash
# What one held connection costs a server design, user space and kernel, at one size.
#
#   scripts/conn_cost.sh serve|threaded [CONNS]       (default 10000)
#
# Starts one server process of the design (the event loop, or the thread-per-
# connection baseline) on an echo port, opens CONNS connections to it with
# `reactord mass-hold` (each verified by one echo), waits 10 s, and prints the
# growth per connection of the server's RSS and of the kernel's Slab,
# SUnreclaim, KernelStack and PageTables (/proc/meminfo), then re-verifies
# 1,000 of them and stops both processes by their pids. Slab counts both ends
# of each loopback connection (client and server socket); KernelStack and
# PageTables are the server's own (the client is one thread). The machine's
# other work moves these figures a little: run it twice.
set -euo pipefail
cd "$(dirname "$0")/.."
design="${1:-}" conns="${2:-10000}"
case "$design" in serve|threaded) ;; *) echo "usage: $0 serve|threaded [CONNS]" >&2; exit 2 ;; esac
[[ "$conns" =~ ^[0-9]+$ ]] && [ "$conns" -ge 1 ] || { echo "conn_cost: CONNS must be a whole number" >&2; exit 2; }
bin="${REACTORD:-target/release/reactord}"
[ -n "${REACTORD:-}" ] || cargo build --release --locked --quiet --bin reactord
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
status() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
work="$(mktemp -d)" server="" client=""
cleanup() {
    for pid in $client $server; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin" "$design" --tcp echo=127.0.0.1:0 --max-conns-per-ip 0 --conn-rate-per-ip 0 --idle-timeout 0 -q \
    >"$work/server" &
server=$!
for _ in $(seq 100); do grep -q '^listening' "$work/server" && break; sleep 0.05; done
port="$(awk '{ n = split($4, a, ":"); print a[n]; exit }' "$work/server")"
[ -n "$port" ] || { echo "conn_cost: the server did not start" >&2; exit 1; }
read -r rss0 slab0 unrec0 stack0 pt0 <<<"$(status "$server" VmRSS) $(meminfo Slab) $(meminfo SUnreclaim) $(meminfo KernelStack) $(meminfo PageTables)"
"$bin" mass-hold "127.0.0.1:$port" --conns "$conns" --first-source 127.1.0.1 \
    --sources $(( conns / 7000 + 1 )) --until-signal --sample 1000 >"$work/client" &
client=$!
until grep -q '^ESTABLISHED' "$work/client"; do
    kill -0 "$client" 2>/dev/null || { echo "conn_cost: the client failed" >&2; exit 1; }
    sleep 0.2
done
sleep 10
read -r rss1 slab1 unrec1 stack1 pt1 <<<"$(status "$server" VmRSS) $(meminfo Slab) $(meminfo SUnreclaim) $(meminfo KernelStack) $(meminfo PageTables)"
threads="$(status "$server" Threads)"
kill -USR1 "$client"
wait "$client"
client=""
per() { echo $(( ($2 - $1) * 1024 / conns )); }
cat "$work/client"
echo "COST design=$design conns=$conns server_threads=$threads rss_bytes_per_conn=$(per "$rss0" "$rss1")" \
    "slab_bytes_per_conn=$(per "$slab0" "$slab1") sunreclaim_bytes_per_conn=$(per "$unrec0" "$unrec1")" \
    "kernel_stack_bytes_per_conn=$(per "$stack0" "$stack1") page_table_bytes_per_conn=$(per "$pt0" "$pt1")"
grep -q '^ESTABLISHED conns=\([0-9]*\) established=\1 verified=\1 ' "$work/client"

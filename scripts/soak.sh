#!/usr/bin/env bash
# Soak test: the release server under mixed load, churn and misbehaving
# clients for a chosen time, sampling its RSS and open descriptors every 5 s.
#
#   scripts/soak.sh [--minutes N]     (default 10)
#
# Fails (exit 1) if any reply was wrong, if memory kept climbing after the
# warm-up, or if the server did not drain and exit 0 on SIGTERM. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=10
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        *) echo "usage: $0 [--minutes N]" >&2; exit 2 ;;
    esac
done

cargo build --release --quiet --bin reactord --example soak
work="$(mktemp -d)"
server_pid=""
cleanup() {
    # Stop only the server this script started, by its own pid.
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Every protocol on TCP and UDP; the load all comes from 127.0.0.1, so the
# per-source limits are off, and a short idle timeout keeps the reaper busy.
./target/release/reactord \
    --tcp echo=127.0.0.1:0 --tcp hello=127.0.0.1:0 --tcp timestamp=127.0.0.1:0 \
    --udp echo=127.0.0.1:0 --udp hello=127.0.0.1:0 \
    --max-conns-per-ip 0 --conn-rate-per-ip 0 --udp-budget 0 \
    --max-pending 65536 --idle-timeout 5 \
    >"$work/listening" 2>"$work/stderr" &
server_pid=$!
for _ in $(seq 100); do
    [ "$(wc -l <"$work/listening")" -ge 5 ] && break
    sleep 0.1
done
echo "soak: server pid $server_pid, $minutes minutes"

status=0
./target/release/examples/soak --listening "$work/listening" --pid "$server_pid" \
    --minutes "$minutes" || status=1

kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=""
summary="$(grep 'summary:' "$work/stderr" || true)"
echo "server: exit $server_status; ${summary#*summary: }"
if [ "$server_status" -ne 0 ] || [ -z "$summary" ]; then
    echo "soak: FAIL: the server did not shut down cleanly" >&2
    tail -5 "$work/stderr" >&2
    status=1
fi
if grep -qE 'ERROR|panicked' "$work/stderr"; then
    echo "soak: FAIL: errors in the server log" >&2
    grep -E 'ERROR|panicked' "$work/stderr" | head -5 >&2
    status=1
fi
exit "$status"

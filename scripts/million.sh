#!/usr/bin/env bash
# A million concurrent connections (or CONNS), verified, with the memory bill.
#
#   scripts/million.sh [OPTIONS] [CONNS]          (default 1000000)
#
# Starts enough `reactord serve --reuse-port` processes on one echo port, and
# enough `reactord mass-hold` client processes, to keep every process under
# its open-file limit; the clients spread their source addresses over
# 127.0.0.0/8 (IP_BIND_ADDRESS_NO_PORT). Every connection is verified with
# one echo, all are held idle, a random sample is verified again, then
# everything is closed and every process started here is stopped by its pid
# (also on Ctrl-C). Prints a table and, as the LAST line of stdout:
#   RESULT conns=N established=N verified=N sample=N sample_verified=N user_bytes_per_conn=N kernel_bytes_per_conn=N ...
# Exit 0 only when every connection was established and verified (and the
# sample too); 1 when not; 2 when a kernel setting would stop the run.
#
# Options:
#   --tune              raise what the checks name (root), restore it on exit
#   --check             run the kernel checks only
#   --hold SECS         idle time before the sample (default 60)
#   --sample N          connections verified again after the hold (default 10000)
#   --per-process N     connections per server and per client process
#                       (default: 4/5 of the open-file hard limit)
#   --reactord PATH     the binary (default: target/release/reactord, built if missing)
#   --min-available-mib N   abort when MemAvailable drops below this (default 2048)
set -euo pipefail
cd "$(dirname "$0")/.."

conns=1000000 hold=60 sample=10000 per_process="" tune=0 check_only=0
bin="${REACTORD:-}" min_avail_mib=2048
while [ $# -gt 0 ]; do
    case "$1" in
        --tune) tune=1; shift ;;
        --check) check_only=1; shift ;;
        --hold) hold="$2"; shift 2 ;;
        --sample) sample="$2"; shift 2 ;;
        --per-process) per_process="$2"; shift 2 ;;
        --reactord) bin="$2"; shift 2 ;;
        --min-available-mib) min_avail_mib="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        [0-9]*) conns="$1"; shift ;;
        *) echo "million: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for value in "$conns" "$hold" "$sample" "$min_avail_mib" ${per_process:+"$per_process"}; do
    [[ "$value" =~ ^[0-9]+$ ]] || { echo "million: '$value' is not a whole number" >&2; exit 2; }
done
[ "$conns" -ge 1 ] || { echo "million: CONNS must be at least 1" >&2; exit 2; }

progress() { if [ -t 2 ]; then printf '\r\033[K%s' "$*" >&2; fi; }
progress_end() { if [ -t 2 ]; then printf '\r\033[K' >&2; fi; }
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }        # kB
tcp_mem_pages() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }
tcp_inuse() { awk '$1 == "TCP:" { print $3 }' /proc/net/sockstat; }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# Byte counts pass through awk with %.0f: its default format turns numbers past
# 2^31 into 4.7e+09, which `sort -n` then ranks as 4.7.
slab_bytes() { awk 'NR > 2 { printf "%s %.0f\n", $1, $2 * $4 }' /proc/slabinfo 2>/dev/null || true; }
slab_top() {  # slab_top BEFORE AFTER CONNS: the caches that grew most, in bytes per connection
    awk -v n="$3" 'FNR == NR { before[$1] = $2; next } { d = $2 - before[$1]; if (d > 0) printf "%.0f %s\n", d, $1 }' "$1" "$2" \
        | sort -rn | head -6 | awk -v n="$3" '{ printf "%s%s %.0f B", (NR > 1 ? ", " : ""), $2, $1 / n }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }    # utime + stime

# ---- sizing: processes under the open-file limit, sources under the port range
hard_limit="$(ulimit -Hn)"
[ "$hard_limit" = unlimited ] && hard_limit=1048576
if [ -z "$per_process" ]; then
    # 1/5 headroom: SO_REUSEPORT spreads connections by a hash, not evenly.
    per_process=$(( hard_limit * 4 / 5 ))
fi
if [ "$per_process" -lt 1 ] || [ $(( per_process + 64 )) -gt "$hard_limit" ]; then
    echo "million: --per-process $per_process does not fit under the open-file limit $hard_limit (less 64)" >&2
    exit 2
fi
procs=$(( (conns + per_process - 1) / per_process ))
read -r port_lo port_hi </proc/sys/net/ipv4/ip_local_port_range
port_range=$(( port_hi - port_lo + 1 ))
# A source address keeps to a quarter of the port range: connect() searches
# for a free port, and that search slows down as the range fills up.
per_source=$(( port_range / 4 )); [ "$per_source" -ge 1 ] || per_source=1
sources_per_client=$(( (per_process + per_source - 1) / per_source ))
# Measured on the reference machine: about 10 KiB of kernel memory for the two
# sockets of one loopback connection (see docs/BENCHMARKS.md); 12 KiB assumed.
kernel_estimate_kb=12

# ---- processes: every pid started here is stopped here, also when interrupted
work="$(mktemp -d)"
declare -a server_pids=() client_pids=() tuned_revert=()
cleanup() {
    local pid
    for pid in "${client_pids[@]}" "${server_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${client_pids[@]}" "${server_pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for cmd in "${tuned_revert[@]}"; do eval "$cmd" >/dev/null && echo "million: restored: $cmd" >&2; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "million: interrupted" >&2; exit 130' INT TERM
abort() { progress_end; echo "million: aborting: $*" >&2; exit 1; }

# ---- kernel checks: name what would stop the run before it starts
declare -a limiting=() tune_cmds=() revert_cmds=()
check() {  # check NAME CURRENT NEEDED [VALUE-TO-SET]
    local name="$1" current="$2" needed="$3" set_to="${4:-$3}"
    if [ "$current" -ge "$needed" ]; then
        printf '  %-32s %12s  (needs %s) ok\n' "$name" "$current" "$needed" >>"$work/checks"
    else
        printf '  %-32s %12s  (needs %s) WOULD STOP THE RUN\n' "$name" "$current" "$needed" >>"$work/checks"
        limiting+=("$name")
        tune_cmds+=("sysctl -w $name=$set_to")
        revert_cmds+=("sysctl -w $name=\"$(tr -s '\t ' '  ' <"/proc/sys/${name//.//}")\"")
    fi
}
run_checks() {
    limiting=() tune_cmds=() revert_cmds=()
    echo "million: $conns connections: $procs server and $procs client processes of at most $per_process," \
        "$(( procs * sources_per_client )) source addresses" >"$work/checks"
    local file_nr file_max sockets procs_fds
    read -r file_nr _ file_max </proc/sys/fs/file-nr
    sockets=$(( 2 * conns ))
    procs_fds=$(( 2 * procs * 64 ))
    check fs.file-max "$file_max" $(( file_nr + sockets + procs_fds + 10000 ))
    check fs.nr_open "$(cat /proc/sys/fs/nr_open)" $(( per_process + 64 ))
    # Sources come from 127.1.0.1 up to 127.255.255.254.
    local sources_max=$(( (255 - 1) * 65536 + 65534 ))
    if [ $(( procs * sources_per_client )) -gt "$sources_max" ]; then
        printf '  %-32s %12s  (needs %s) WOULD STOP THE RUN: use fewer connections\n' \
            "source addresses" "$sources_max" "$(( procs * sources_per_client ))" >>"$work/checks"
        limiting+=("source-addresses")
    fi
    # Ports: each source address gives port_range ports per server address and port.
    local have=$(( procs * sources_per_client * port_range )) lo_needed
    lo_needed=$(( port_hi - (conns * 4 / (procs * sources_per_client) + 1) + 1 ))
    if [ "$have" -ge $(( conns * 4 )) ]; then
        printf '  %-32s %12s  (%s ports x %s sources) ok\n' net.ipv4.ip_local_port_range \
            "$port_lo-$port_hi" "$port_range" "$(( procs * sources_per_client ))" >>"$work/checks"
    else
        check net.ipv4.ip_local_port_range "$port_range" $(( conns * 4 / (procs * sources_per_client) )) \
            "\"$(( lo_needed < 1024 ? 1024 : lo_needed )) $port_hi\""
    fi
    if [ -r /proc/sys/net/netfilter/nf_conntrack_max ]; then
        local count max
        count="$(cat /proc/sys/net/netfilter/nf_conntrack_count)"
        max="$(cat /proc/sys/net/netfilter/nf_conntrack_max)"
        if [ "$count" -eq 0 ] && [ "$(tcp_inuse)" -gt 0 ]; then
            printf '  %-32s %12s  conntrack is loaded but tracks nothing here (count 0 with TCP sockets open): ok\n' \
                net.netfilter.nf_conntrack_max "$max" >>"$work/checks"
        else
            check net.netfilter.nf_conntrack_max "$max" $(( count + conns + 10000 ))
        fi
    fi
    # tcp_mem (pages): idle sockets with empty queues are charged almost nothing;
    # what must fit is the in-flight echoes plus what is charged already.
    local tcp_max needed_pages
    tcp_max="$(awk '{ print $3 }' /proc/sys/net/ipv4/tcp_mem)"
    needed_pages=$(( $(tcp_mem_pages) + procs * 256 * 2 + conns / 64 + 1000 ))
    check net.ipv4.tcp_mem "$tcp_max" "$needed_pages" \
        "\"$(awk '{ print $1, $2 }' /proc/sys/net/ipv4/tcp_mem) $needed_pages\""
    # Memory: not a sysctl, but the most likely limit on a smaller machine.
    local avail_mib need_mib
    avail_mib=$(( $(meminfo MemAvailable) / 1024 ))
    need_mib=$(( conns * kernel_estimate_kb / 1024 + procs * 6 + min_avail_mib ))
    if [ "$avail_mib" -lt "$need_mib" ]; then
        printf '  %-32s %12s  (needs about %s MiB) WOULD STOP THE RUN: use fewer connections\n' \
            MemAvailable "$avail_mib MiB" "$need_mib" >>"$work/checks"
        limiting+=("memory")
    else
        printf '  %-32s %12s  (needs about %s MiB) ok\n' MemAvailable "$avail_mib MiB" "$need_mib" >>"$work/checks"
    fi
}
show_checks() {  # on a terminal, with --check, or when something would stop the run
    if [ -t 2 ] || [ "$check_only" -eq 1 ] || [ "${#limiting[@]}" -gt 0 ]; then cat "$work/checks" >&2; fi
}
run_checks
if [ "${#limiting[@]}" -gt 0 ]; then
    if [ "$tune" -eq 1 ] && [ "${#tune_cmds[@]}" -gt 0 ] && [ "$(id -u)" -eq 0 ] \
        && [[ ! " ${limiting[*]} " =~ " memory "|" source-addresses " ]]; then
        show_checks
        for cmd in "${tune_cmds[@]}"; do echo "million: tune: $cmd" >&2; eval "$cmd" >/dev/null; done
        echo "million: these are restored on exit; by hand: ${revert_cmds[*]}" >&2
        tuned_revert=("${revert_cmds[@]}")
        run_checks
    fi
fi
show_checks
if [ "${#limiting[@]}" -gt 0 ]; then
    echo "million: would stop the run: ${limiting[*]}" >&2
    for cmd in "${tune_cmds[@]}"; do echo "  fix (as root): $cmd" >&2; done
    [ "${#tune_cmds[@]}" -gt 0 ] && echo "  or rerun with --tune, which also restores them on exit" >&2
    exit 2
fi
[ "$check_only" -eq 1 ] && exit 0
if [ -z "$bin" ]; then
    bin=target/release/reactord
    cargo build --release --locked --quiet --bin reactord
fi
[ -x "$bin" ] || { echo "million: $bin is not an executable" >&2; exit 2; }


slab0="$(meminfo Slab)" tcpmem0="$(tcp_mem_pages)" unreclaim0="$(meminfo SUnreclaim)"
slab_bytes >"$work/slab0"
avail0=$(( $(meminfo MemAvailable) / 1024 ))
# The idle timeout stays on (each connection keeps its timer entry) but outlasts the run.
idle_timeout=$(( hold + 3600 ))
start_server() {  # start_server PORT INDEX
    "$bin" serve --reuse-port --tcp "echo=127.0.0.1:$1" --max-conns-per-ip 0 --conn-rate-per-ip 0 \
        --idle-timeout "$idle_timeout" -q >"$work/server-$2.out" 2>"$work/server-$2.err" &
    server_pids+=($!)
    for _ in $(seq 200); do
        grep -q '^listening tcp echo' "$work/server-$2.out" 2>/dev/null && return 0
        kill -0 "$!" 2>/dev/null || break
        sleep 0.05
    done
    abort "server $2 did not start: $(tail -2 "$work/server-$2.err")"
}
start_server 0 0
port="$(awk '/^listening tcp echo/ { n = split($4, a, ":"); print a[n]; exit }' "$work/server-0.out")"
for s in $(seq 1 $(( procs - 1 ))); do start_server "$port" "$s"; done
rss0=0; for pid in "${server_pids[@]}"; do rss0=$(( rss0 + $(rss_kb "$pid") )); done

seed="${MILLION_SEED:-$(( $(date +%s) ))}"
# About 4096 connects in flight in all: enough to keep both cores busy, few
# enough that a slow, shared machine answers each within the 30 s timeout.
window=$(( 4096 / procs )); [ "$window" -le 256 ] || window=256; [ "$window" -ge 16 ] || window=16
first=0 first_source=$(( (127 << 24) + (1 << 16) + 1 ))   # 127.1.0.1 onwards
started="$(date +%s.%N)"
for c in $(seq 0 $(( procs - 1 ))); do
    n=$(( conns / procs + (c < conns % procs ? 1 : 0) ))
    share=$(( (sample * n + conns - 1) / conns ))
    src=$(( first_source + c * sources_per_client ))
    "$bin" mass-hold "127.0.0.1:$port" --conns "$n" --first-id "$first" --until-signal \
        --first-source "$(( src >> 24 & 255 )).$(( src >> 16 & 255 )).$(( src >> 8 & 255 )).$(( src & 255 ))" \
        --sources "$sources_per_client" --sample "$share" --seed $(( seed + c )) \
        --window "$window" --timeout-ms 30000 \
        >"$work/client-$c.out" 2>"$work/client-$c.err" &
    client_pids+=($!)
    first=$(( first + n ))
done

# ---- establish: wait for every client's ESTABLISHED line, watching memory
lowest_avail_mib=$(( $(meminfo MemAvailable) / 1024 ))
watch_memory() {
    local avail=$(( $(meminfo MemAvailable) / 1024 ))
    [ "$avail" -lt "$lowest_avail_mib" ] && lowest_avail_mib="$avail"
    [ "$avail" -ge "$min_avail_mib" ] || abort "MemAvailable $avail MiB is under $min_avail_mib MiB"
}
inuse0="$(tcp_inuse)"
deadline=$(( $(date +%s) + 120 + conns / 1000 ))
while :; do
    reported=0
    for c in $(seq 0 $(( procs - 1 ))); do
        if grep -q '^ESTABLISHED' "$work/client-$c.out" 2>/dev/null; then
            reported=$(( reported + 1 ))
        elif ! kill -0 "${client_pids[$c]}" 2>/dev/null; then
            abort "client $c exited early: $(tail -2 "$work/client-$c.err")"
        fi
    done
    [ "$reported" -eq "$procs" ] && break
    [ "$(date +%s)" -lt "$deadline" ] || abort "clients still connecting after $(( 120 + conns / 1000 )) s"
    watch_memory
    progress "establishing: ~$(( ($(tcp_inuse) - inuse0) / 2 )) of $conns connections open," \
        "$reported of $procs clients done, $(( $(meminfo MemAvailable) / 1024 )) MiB available"
    sleep 0.5
done
establish_s="$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
sum_field() {  # sum_field LINE-PREFIX KEY: adds KEY=N over every client's line
    cat "$work"/client-*.out | awk -v p="$1" -v k="$2" \
        '$1 == p { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) s += kv[2] } } END { printf "%.0f\n", s }'
}
established="$(sum_field ESTABLISHED established)" verified="$(sum_field ESTABLISHED verified)"
grep -h '^ESTABLISHED.*top_error' "$work"/client-*.out | sed 's/.*top_error=/million: client error: /' | sort | uniq -c | head -5 >&2 || true

# ---- hold: idle for HOLD seconds, measuring the servers' CPU; then the memory bill
ticks0=0; for pid in "${server_pids[@]}"; do ticks0=$(( ticks0 + $(cpu_ticks "$pid") )); done
cticks0=0; for pid in "${client_pids[@]}"; do cticks0=$(( cticks0 + $(cpu_ticks "$pid") )); done
avail_before_hold=$(( $(meminfo MemAvailable) / 1024 ))
hold_started="$(date +%s.%N)"
hold_end=$(( $(date +%s) + hold ))
while [ "$(date +%s)" -lt "$hold_end" ]; do
    watch_memory
    progress "holding $established connections idle: $(( hold_end - $(date +%s) )) s left"
    sleep 1
done
ticks1=0; for pid in "${server_pids[@]}"; do ticks1=$(( ticks1 + $(cpu_ticks "$pid") )); done
cticks1=0; for pid in "${client_pids[@]}"; do cticks1=$(( cticks1 + $(cpu_ticks "$pid") )); done
held_s="$(awk -v a="$hold_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
pct() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v s="$held_s" 'BEGIN { printf "%.2f", 100 * t / hz / s }'; }
cpu_pct="$(pct $(( ticks1 - ticks0 )))" client_cpu_pct="$(pct $(( cticks1 - cticks0 )))"
rss1=0; for pid in "${server_pids[@]}"; do rss1=$(( rss1 + $(rss_kb "$pid") )); done
client_rss=0; for pid in "${client_pids[@]}"; do client_rss=$(( client_rss + $(rss_kb "$pid") )); done
slab1="$(meminfo Slab)" tcpmem1="$(tcp_mem_pages)" unreclaim1="$(meminfo SUnreclaim)"
slab_bytes >"$work/slab1"
avail1=$(( $(meminfo MemAvailable) / 1024 ))
page=$(getconf PAGESIZE)

# ---- sample: every client re-verifies its share, reports, and closes
progress "verifying the sample"
for pid in "${client_pids[@]}"; do kill -USR1 "$pid"; done
for c in $(seq 0 $(( procs - 1 ))); do
    wait "${client_pids[$c]}" || abort "client $c failed: $(tail -2 "$work/client-$c.err")"
done
client_pids=()
progress_end
lost="$(sum_field DONE lost_while_idle)"
sampled="$(sum_field DONE sample)" sample_ok="$(sum_field DONE sample_verified)"
server_exit=0
for pid in "${server_pids[@]}"; do kill -TERM "$pid"; done
for pid in "${server_pids[@]}"; do wait "$pid" || server_exit=$?; done
server_pids=()

# ---- the bill
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", a / b; else print 0 }'; }
base=$(( established > 0 ? established : 1 ))
user_bpc="$(div $(( (rss1 - rss0) * 1024 )) "$base")"
slab_b=$(( (slab1 - slab0) * 1024 )) tcpmem_b=$(( (tcpmem1 - tcpmem0) * page ))
kernel_bpc="$(div $(( slab_b + tcpmem_b )) "$base")"
# What this run added: both sides' user space and the kernel's growth (MemAvailable
# alone would hide it: it counts reclaimable slab as available, and other work moves it).
run_kib=$(( rss1 - rss0 + client_rss + (slab_b + tcpmem_b) / 1024 ))
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
cat <<EOF
| measure | value |
| --- | --- |
| connections asked | $conns |
| established | $established |
| verified at start (one echo each) | $verified |
| time to establish and verify | $establish_s s ($(div "$verified" "$establish_s") connections/s) |
| held idle | $held_s s |
| lost while idle | $lost |
| sample re-verified after the hold | $sample_ok of $sampled |
| processes | $procs servers (\`serve --reuse-port\`, one port), $procs clients, $(( procs * sources_per_client )) source addresses |
| server RSS, all processes | $(mib "$rss0") before, $(mib "$rss1") holding |
| **server user space per connection** | **$user_bpc B** |
| kernel Slab growth | $(mib $(( slab_b / 1024 ))), of which unreclaimable $(mib $(( unreclaim1 - unreclaim0 ))) ($(div $(( (unreclaim1 - unreclaim0) * 1024 )) "$base") B per connection) |
| Slab growth per connection, largest caches (/proc/slabinfo) | $(slab_top "$work/slab0" "$work/slab1" "$base") |
| kernel TCP memory growth (sockstat mem) | $(( tcpmem1 - tcpmem0 )) pages |
| **kernel per connection (both ends' sockets)** | **$kernel_bpc B** |
| client RSS, all processes | $(mib "$client_rss") |
| memory this run added (server and client RSS growth + kernel growth) | $(mib "$run_kib") of $(mib "$(meminfo MemTotal)") |
| MemAvailable | $avail0 MiB before, $avail_before_hold MiB at the start of the hold, $avail1 MiB at its end; lowest $lowest_avail_mib MiB |
| **server CPU while holding, all processes** | **$cpu_pct % of one core** (clients: $client_cpu_pct %) |
EOF
status=0
grep -h 'mass-hold:' "$work"/client-*.err 2>/dev/null | sort | uniq -c | sort -rn | head -10 >&2 || true
if [ "$established" -ne "$conns" ] || [ "$verified" -ne "$conns" ] || [ "$lost" -ne 0 ] \
    || [ "$sample_ok" -ne "$sampled" ] || [ "$server_exit" -ne 0 ]; then
    status=1
fi
echo "RESULT conns=$conns established=$established verified=$verified sample=$sampled" \
    "sample_verified=$sample_ok user_bytes_per_conn=$user_bpc kernel_bytes_per_conn=$kernel_bpc" \
    "lost_while_idle=$lost establish_s=$establish_s hold_s=$held_s server_cpu_pct=$cpu_pct" \
    "run_memory_mib=$(( run_kib / 1024 )) servers=$procs clients=$procs"
exit "$status"

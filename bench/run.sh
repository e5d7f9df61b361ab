#!/usr/bin/env bash
# bench/run.sh — compare wasmhttpd with a net/http file server (bench/refserver)
# on the same files, under the same load, on the same CPU.
#
# Usage (from the repo root, after `make` built bin/wasmhttpd):
#   bench/run.sh                 # or: make bench
#   DURATION=30s bench/run.sh    # longer runs, steadier numbers
#   REPEAT=3 bench/run.sh        # medians of 3 runs, for a noisy (shared) machine
#
# Environment:
#   DURATION  wrk duration of each measured run (default 10s)
#   WARMUP    unmeasured wrk run before each measured one (default 1s; 0 = none)
#   REPEAT    measured runs per row and server; the table shows medians (default 1)
#   WASMHTTPD the binary under test (default bin/wasmhttpd), e.g. an older build
#   ROWS      space-separated subset of rows to run (default: all, see ALL_ROWS)
#
# Each server is pinned to CPU 0 and wrk to CPU 1, so the server never shares
# a core with the load generator and its CPU time is its own. The table is
# printed and saved to bench/results/latest.txt. The script always exits 0 once
# the measurements ran: it is a report, not a gate.
set -euo pipefail
export LC_ALL=C # wrk, awk and printf agree on "." as the decimal point

cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
REPEAT=${REPEAT:-1}
WASMHTTPD=${WASMHTTPD:-bin/wasmhttpd}
RESULTS=bench/results/latest.txt
RAW=bench/results/wrk # wrk's full output per row and server, for a closer look

# The targets, checked on the "1k keep-alive" row.
TARGET_ROW=1k-keepalive
TARGET_RATIO=2.0
TARGET_CPU_US=12

# The rows, in table order. A row is a function row_<name> (see "Rows" below)
# plus a label; add a row by writing the function and appending it here.
ALL_ROWS=(1k-keepalive 100k-keepalive 10m-keepalive 1k-close)
declare -A ROW_LABEL=(
	[1k-keepalive]="1k keep-alive"
	[100k-keepalive]="100k keep-alive"
	[10m-keepalive]="10m keep-alive"
	[1k-close]="1k conn/request"
)

# The servers compared, in column order; the first is the one under test and
# the ratio is first/second. start_servers fills SERVER_PID and SERVER_URL.
SERVERS=(wasmhttpd ref)
declare -A SERVER_PID=() SERVER_URL=()

die() {
	echo "bench: $*" >&2
	exit 1
}

# ---------------------------------------------------------------- prerequisites

ensure_tools() {
	if ! command -v wrk >/dev/null; then
		echo "bench: wrk not found, installing it with apt-get" >&2
		if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
			die "wrk is missing and cannot be installed here (needs root and apt-get); install wrk and rerun"
		fi
		if ! { apt-get update -qq && apt-get install -y -qq wrk; } >&2; then
			die "installing wrk with apt-get failed; install wrk by hand and rerun"
		fi
		command -v wrk >/dev/null || die "wrk still not on PATH after apt-get install"
	fi
	command -v taskset >/dev/null || die "taskset not found (it is part of util-linux); install it and rerun"
	command -v go >/dev/null || die "go not found; it builds bench/refserver"
	[[ -x $WASMHTTPD ]] || die "$WASMHTTPD not found; run 'make' first"
	local ncpu
	ncpu=$(getconf _NPROCESSORS_ONLN)
	((ncpu >= 2)) || die "needs at least 2 CPUs (server on CPU 0, wrk on CPU 1); this machine has $ncpu"
}

# ---------------------------------------------------------------- setup

# make_fixtures DIR: the files every row fetches. Random bytes, so neither
# server is tempted to compress them and the sizes on the wire are exact.
make_fixtures() {
	local dir=$1
	head -c 1024 /dev/urandom >"$dir/1k.bin"
	head -c $((100 * 1024)) /dev/urandom >"$dir/100k.bin"
	head -c $((10 * 1024 * 1024)) /dev/urandom >"$dir/10m.bin"
}

# write_config FILE PORT ROOT: a wasmhttpd config that serves ROOT with
# nothing extra — no listings, no compression, no access log — so that it
# does the same work as the reference file server.
write_config() {
	cat >"$1" <<EOF
[origin]
listen = "127.0.0.1:$2"
root = "bench"

[roots.bench]
path = "$3"
listing = false
compress = false

[log.access]
path = "off"
EOF
}

# wait_listening NAME PID PORT: block until the server accepts connections,
# failing early if it died (a bad config, a port taken) instead of hanging.
wait_listening() {
	local name=$1 pid=$2 port=$3 i
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || die "$name exited before listening; its output:
$(tail -n 20 "$TMP/$name.log" 2>/dev/null)"
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	die "$name did not listen on port $port within 10s"
}

# check_serves NAME URL SIZE: one HEAD request by hand, so a server answering
# 404 (wrong root) cannot pass for a fast one.
check_serves() {
	local name=$1 url=$2 size=$3 hostport path reply
	hostport=${url#http://}
	hostport=${hostport%%/*}
	path=/${url#http://*/}
	reply=$(
		exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
		printf 'HEAD %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hostport" >&3
		timeout 5 cat <&3
	) || true
	reply=${reply//$'\r'/}
	if ! grep -q '^HTTP/1\.1 200' <<<"$reply" || ! grep -qi "^content-length: $size\$" <<<"$reply"; then
		die "$name does not serve $path as 200 with $size bytes; it answered:
$reply"
	fi
}

# start_server NAME PORT COMMAND...: run COMMAND pinned to CPU 0. taskset
# execs the command, so $! is the server's own pid, whose /proc stat we read.
start_server() {
	local name=$1 port=$2
	shift 2
	taskset -c 0 "$@" >"$TMP/$name.log" 2>&1 &
	SERVER_PID[$name]=$!
	SERVER_URL[$name]="http://127.0.0.1:$port"
	wait_listening "$name" "${SERVER_PID[$name]}" "$port"
	check_serves "$name" "${SERVER_URL[$name]}/1k.bin" 1024
}

start_servers() {
	local ports
	read -r -a ports <<<"$("$TMP/freeport" 2)"
	write_config "$TMP/wasmhttpd.toml" "${ports[0]}" "$TMP/root"
	start_server wasmhttpd "${ports[0]}" "$WASMHTTPD" -config "$TMP/wasmhttpd.toml"
	start_server ref "${ports[1]}" "$TMP/refserver" -addr "127.0.0.1:${ports[1]}" -root "$TMP/root"
}

# cleanup runs on every exit, normal or not: stop the servers we started (by
# pid, nothing else) and remove the temp dir.
cleanup() {
	local pid
	for pid in "${SERVER_PID[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${SERVER_PID[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n ${TMP:-} ]]; then
		rm -rf "$TMP"
	fi
}

# ---------------------------------------------------------------- measuring

# cpu_ticks PID: user+system CPU time of the whole process (all threads) in
# clock ticks, fields 14 and 15 of /proc/PID/stat. The comm field (2) may
# contain spaces, so split after its closing parenthesis.
cpu_ticks() {
	local stat rest
	stat=$(<"/proc/$1/stat") || die "cannot read /proc/$1/stat (did the server die?)"
	rest=${stat##*) }
	# rest starts at field 3 (state); utime and stime are fields 14 and 15.
	local -a f
	read -r -a f <<<"$rest"
	echo $((f[11] + f[12]))
}

# wrk_run URL WRK-ARGS...: the one way every row drives load: a single wrk
# thread pinned to CPU 1, latency distribution on.
wrk_run() {
	local url=$1
	shift
	taskset -c 1 wrk -t1 --latency "$@" "$url"
}

# to_ms VALUE: wrk's durations ("812.00us", "1.23ms", "2.00s", "1.00m") in ms.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000
		else if (u == "m") n *= 60000; else if (u == "h") n *= 3600000
		printf "%.2f", n }'
}

# measure SERVER ROW RUN: run row_ROW against SERVER (after a warmup), and
# append its req/s, p99 (ms) and CPU µs/request to the RES_* lists keyed
# "ROW/SERVER" (one value per run, space-separated).
declare -A RES_RPS=() RES_P99=() RES_CPU=() RES_NOTE=()
measure() {
	local server=$1 row=$2 run=$3 pid=${SERVER_PID[$1]} url=${SERVER_URL[$1]}
	local key="$row/$server" out before after reqs rps p99 cpu errs
	if [[ $WARMUP != 0 ]]; then
		DUR=$WARMUP "row_$row" "$url" >/dev/null
	fi
	before=$(cpu_ticks "$pid")
	out=$(DUR=$DURATION "row_$row" "$url")
	after=$(cpu_ticks "$pid")
	echo "$out" >"$RAW/$row-$server-$run.txt"

	# "  123456 requests in 10.00s, 1.20GB read"
	reqs=$(awk '/ requests in / {print $1; exit}' <<<"$out")
	# "Requests/sec:  12345.67"
	rps=$(awk '/^Requests\/sec:/ {print $2; exit}' <<<"$out")
	# under "Latency Distribution": "     99%    2.34ms"
	p99=$(awk '/Latency Distribution/ {d = 1} d && $1 == "99%" {print $2; exit}' <<<"$out")
	[[ -n $reqs && -n $rps && -n $p99 ]] || die "cannot parse wrk output for $row on $server:
$out"

	# CPU ticks are coarse (usually 10 ms), which is why runs last seconds.
	cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$reqs" \
		'BEGIN {printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0)}')
	RES_RPS[$key]+="$rps "
	RES_P99[$key]+="$(to_ms "$p99") "
	RES_CPU[$key]+="$cpu "
	# Errors make the numbers suspect; keep wrk's own words for the report.
	errs=$(grep -E '^ *(Socket errors|Non-2xx)' <<<"$out" | sed 's/^ *//' | paste -sd ';' -) || true
	if [[ -n $errs ]]; then
		RES_NOTE[$key]+="run $run: $errs "
	fi
	kill -0 "$pid" 2>/dev/null || die "$server died during row $row; its output:
$(tail -n 20 "$TMP/$server.log" 2>/dev/null)"
	return 0
}

# ---------------------------------------------------------------- rows
#
# row_<name> BASEURL: drive one kind of load against one server and print
# wrk's output. $DUR is the duration (set by measure: warmup or measured).
# A new row kind (proxy-cache, policy chain, ...) is one more function here
# plus an entry in ALL_ROWS and ROW_LABEL; if it needs its own servers or
# fixtures, set them up in start_servers / make_fixtures.

# Small file, 50 persistent connections: per-request overhead (parse,
# headers, open/stat, write) dominates.
row_1k-keepalive() { wrk_run "$1/1k.bin" -c50 -d"$DUR"; }

# Medium file: the body copy starts to matter (sendfile vs. read+write).
row_100k-keepalive() { wrk_run "$1/100k.bin" -c50 -d"$DUR"; }

# Large file, few connections: pure throughput of the body path.
row_10m-keepalive() { wrk_run "$1/10m.bin" -c4 -d"$DUR"; }

# Small file, a new connection per request: accept, connection setup and
# teardown dominate.
row_1k-close() { wrk_run "$1/1k.bin" -c50 -d"$DUR" -H "Connection: close"; }

# ---------------------------------------------------------------- report

# median VALUES...: the median of the numbers (the lower middle one for an
# even count, so it is always a value that was actually measured).
median() {
	printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

report() {
	local row a b ratio key s
	local -A med=()
	for key in "${!RES_RPS[@]}"; do
		# shellcheck disable=SC2086 # the lists are meant to split
		med[rps/$key]=$(median ${RES_RPS[$key]})
		# shellcheck disable=SC2086
		med[p99/$key]=$(median ${RES_P99[$key]})
		# shellcheck disable=SC2086
		med[cpu/$key]=$(median ${RES_CPU[$key]})
	done
	printf '# wasmhttpd benchmark — %s\n' "$(date -u '+%Y-%m-%d %H:%M:%SZ')"
	printf '# commit %s; %s; %s CPUs; server on CPU 0, wrk -t1 on CPU 1; %s per run\n' \
		"$(git describe --always --dirty 2>/dev/null || echo unknown)" \
		"$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
		"$(getconf _NPROCESSORS_ONLN)" "$DURATION"
	printf '# runs per cell: %s (the table shows medians); load average before the runs: %s\n' \
		"$REPEAT" "$LOADAVG"
	# "µ" is two bytes and printf pads bytes, hence 11 for a 10-column header.
	printf '\n%-18s %12s %12s %7s %10s %10s %11s %11s\n' \
		row "wasmhttpd/s" "ref/s" ratio "p99 wh" "p99 ref" "µs/req wh" "µs/req ref"
	for row in "${ROWS_RUN[@]}"; do
		a=${med[rps/$row/wasmhttpd]} b=${med[rps/$row/ref]}
		ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {printf (b > 0 ? "%.2f" : "-"), a / (b > 0 ? b : 1)}')
		med[ratio/$row]=$ratio
		printf '%-18s %12.0f %12.0f %7s %8sms %8sms %10s %10s\n' "${ROW_LABEL[$row]}" \
			"$a" "$b" "$ratio" "${med[p99/$row/wasmhttpd]}" "${med[p99/$row/ref]}" \
			"${med[cpu/$row/wasmhttpd]}" "${med[cpu/$row/ref]}"
	done
	if ((REPEAT > 1)); then
		echo
		for row in "${ROWS_RUN[@]}"; do
			printf '%-18s req/s per run:' "${ROW_LABEL[$row]}"
			for s in "${SERVERS[@]}"; do
				# shellcheck disable=SC2086 # the list is meant to split
				printf ' %s %s;' "$s" "$(printf '%.0f ' ${RES_RPS[$row/$s]})"
			done
			echo
		done
	fi
	for row in "${ROWS_RUN[@]}"; do
		for s in "${SERVERS[@]}"; do
			key="$row/$s"
			if [[ -n ${RES_NOTE[$key]:-} ]]; then
				printf 'warning: %s on %s: %s\n' "${ROW_LABEL[$row]}" "$s" "${RES_NOTE[$key]}"
			fi
		done
	done
	if [[ -n ${med[ratio/$TARGET_ROW]:-} ]]; then
		echo
		check "${ROW_LABEL[$TARGET_ROW]}: req/s ratio >= $TARGET_RATIO" \
			"${med[ratio/$TARGET_ROW]}" ">=" "$TARGET_RATIO"
		check "${ROW_LABEL[$TARGET_ROW]}: wasmhttpd CPU <= $TARGET_CPU_US µs/req" \
			"${med[cpu/$TARGET_ROW/wasmhttpd]}" "<=" "$TARGET_CPU_US"
	fi
}

# check LABEL VALUE OP LIMIT: print PASS or MISS for one target.
check() {
	local verdict
	verdict=$(awk -v v="$2" -v op="$3" -v l="$4" 'BEGIN {
		if (v == "-") { print "MISS"; exit }
		ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 <= l + 0)
		print (ok ? "PASS" : "MISS") }')
	printf '%s  target %s (got %s)\n' "$verdict" "$1" "$2"
}

# ---------------------------------------------------------------- main

main() {
	ensure_tools
	CLK_TCK=$(getconf CLK_TCK)

	TMP=$(mktemp -d "${TMPDIR:-/tmp}/wasmhttpd-bench.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM

	read -r -a ROWS_RUN <<<"${ROWS:-${ALL_ROWS[*]}}"
	local row s run
	[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive integer, not '$REPEAT'"
	for row in "${ROWS_RUN[@]}"; do
		declare -F "row_$row" >/dev/null || die "unknown row '$row' (known: ${ALL_ROWS[*]})"
	done

	mkdir -p "$TMP/root" "$RAW"
	rm -f "$RAW"/*.txt
	make_fixtures "$TMP/root"
	go build -o "$TMP/refserver" ./bench/refserver
	go build -o "$TMP/freeport" ./bench/freeport
	start_servers
	LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)

	# Runs are interleaved (all rows, then all rows again) and the server
	# order rotates each run, so a burst of noise from elsewhere on the
	# machine, or a slow drift, does not always land on the same cell.
	local -a order=("${SERVERS[@]}")
	for ((run = 1; run <= REPEAT; run++)); do
		for row in "${ROWS_RUN[@]}"; do
			for s in "${order[@]}"; do
				echo "bench: run $run/$REPEAT: ${ROW_LABEL[$row]} on $s ..." >&2
				measure "$s" "$row" "$run"
			done
		done
		order=("${order[@]:1}" "${order[0]}")
	done

	report | tee "$RESULTS"
	echo "bench: saved to $RESULTS" >&2
}

main "$@"

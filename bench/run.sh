#!/usr/bin/env bash
# bench/run.sh — compare wasmhttpd with a net/http file server (bench/refserver),
# wasmhttpd behind a policy chain with the same binary without one, and
# wasmhttpd's caching forward proxy serving hits with the origin it caches, on
# the same files, under the same load, on the same CPU; then time policy swaps
# and check memory across swaps.
#
# Usage (from the repo root, after `make` built bin/wasmhttpd and policies/*.wasm):
#   bench/run.sh                 # or: make bench
#   DURATION=30s bench/run.sh    # longer runs, steadier numbers
#   REPEAT=3 bench/run.sh        # medians of 3 runs, for a noisy (shared) machine
#
# Environment:
#   DURATION  wrk duration of each measured run (default 10s)
#   WARMUP    unmeasured wrk run before each measured one (default 1s; 0 = none)
#   REPEAT    measured runs per row and server; the table shows medians (default 1)
#   WASMHTTPD the binary under test (default bin/wasmhttpd), e.g. an older build
#   ROWS      space-separated subset of rows and probes to run (default: all,
#             see ALL_ROWS and ALL_PROBES)
#   SWAPS     timed swaps of the policy-swap probe (default 20)
#
# Each server is pinned to CPU 0 and wrk to CPU 1, so the server never shares
# a core with the load generator and its CPU time is its own (a proxy's origin
# is on CPU 0 too, idle while the proxy serves hits). The report is
# printed and saved to bench/results/latest.txt. The script always exits 0 once
# the measurements ran: it is a report, not a gate.
set -euo pipefail
export LC_ALL=C # wrk, awk and printf agree on "." as the decimal point

cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
REPEAT=${REPEAT:-1}
SWAPS=${SWAPS:-20}
WASMHTTPD=${WASMHTTPD:-bin/wasmhttpd}
RESULTS=bench/results/latest.txt
RAW=bench/results/wrk # wrk's full output per row and server, for a closer look
LOGS=bench/results     # and each server's log, NAME.log

# The servers a row can compare. SERVER_SHORT heads the table's columns;
# start_<name> PORT starts one (see "Servers" below); SERVER_EXPECT is a
# response field the check request must carry, proof that the server is the
# one meant. Only the servers the chosen rows and probes need are started.
declare -A SERVER_SHORT=([wasmhttpd]=wh [ref]=ref [chain]=chain [cache]=cache)
declare -A SERVER_EXPECT=([chain]='^set-cookie: session=' [cache]='^cache-status: ')
# SERVER_URL is the base of the URLs a row fetches. A proxy's is the URL of
# the server it fronts (SERVER_FRONTS, started before it and needed with it);
# SERVER_PROXY is then the proxy's own host:port, which the requests go to in
# absolute form (see wrk_run and send_request).
declare -A SERVER_FRONTS=([cache]=wasmhttpd)
declare -A SERVER_PID=() SERVER_URL=() SERVER_PROXY=()
# The order servers start in: a proxy after the origin it fronts.
SERVER_ORDER=(wasmhttpd ref chain cache)
# SERVER_PORTS: how many ports start_NAME is given, if more than one.
declare -A SERVER_PORTS=([cache]=2)
# SERVER_CALLS: for a server with policies, the guest calls of a request all
# of them pass on, "HANDLE_REQUEST HANDLE_RESPONSE" (from bench/guestcalls).
declare -A SERVER_CALLS=()

# The policy chain of the "chain" server: the standard policies with their
# default configurations, from policies/NAME.wasm (built by make); and the
# one of them the policy-swap probe replaces.
CHAIN_POLICIES=(redirects basicauth cookie)
SWAP_POLICY=cookie

# The cookie the client sends to the policy rows: the steady state, a
# client that has its session already (the cookie policy then only looks).
SESSION_COOKIE="session=Zm9yIHRoZSBiZW5jaG1hcms"

# The rows, in table order: add_row NAME LABEL SERVERS. A row is a function
# row_<name> (see "Rows" below), a label, and the two servers it compares:
# the first is the one under test, the ratio is first/second.
ALL_ROWS=()
declare -A ROW_LABEL=() ROW_SERVERS=()
add_row() {
	ALL_ROWS+=("$1")
	ROW_LABEL[$1]=$2
	ROW_SERVERS[$1]=$3
}
add_row 1k-keepalive "1k keep-alive" "wasmhttpd ref"
add_row 100k-keepalive "100k keep-alive" "wasmhttpd ref"
add_row 10m-keepalive "10m keep-alive" "wasmhttpd ref"
add_row 1k-close "1k conn/request" "wasmhttpd ref"
add_row 1k-chain "1k policy chain" "chain wasmhttpd"
add_row 1k-chain-nocookie "1k chain, no cookie" "chain wasmhttpd"
add_row 1k-cache-hit "1k proxy cache hit" "cache wasmhttpd"
add_row 100k-cache-hit "100k proxy cache hit" "cache wasmhttpd"

# The probes: measurements that are not wrk rows, run after them. A probe
# is a function probe_<name> that prints its report lines, plus the servers
# it needs.
ALL_PROBES=(policy-swap swap-memory cache-sendfile)
declare -A PROBE_SERVERS=([policy-swap]=chain [swap-memory]="" [cache-sendfile]=cache)

# The targets, checked after the table when their row ran: "VALUE OP LIMIT
# LABEL", where VALUE is ratio/ROW, rps/ROW/SERVER (req/s), cpu/ROW/SERVER
# (µs per request) or percall/ROW (µs per guest call).
# The 100k cache hit's absolute target is 6× the ~4.8k req/s Squid serves
# such hits at on this kind of machine.
TARGETS=(
	"ratio/1k-keepalive >= 2.0 req/s ratio wasmhttpd/ref"
	"cpu/1k-keepalive/wasmhttpd <= 12 wasmhttpd CPU µs/req"
	"ratio/1k-chain >= 0.85 req/s ratio chain/no policy"
	"percall/1k-chain <= 0.5 CPU µs per guest call"
	"ratio/1k-cache-hit >= 0.90 req/s ratio cache hit/origin"
	"rps/100k-cache-hit/cache >= 28800 cache hits req/s"
)

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
	local name ncpu
	local -a modules=()
	if [[ -n ${NEEDED[chain]:-} ]]; then
		modules+=("${CHAIN_POLICIES[@]}")
	fi
	if [[ -n ${NEEDED[cache]:-} ]]; then
		modules+=(cache)
	fi
	for name in "${modules[@]}"; do
		[[ -f policies/$name.wasm ]] || die "policies/$name.wasm not found; run 'make' first"
	done
	ncpu=$(getconf _NPROCESSORS_ONLN)
	((ncpu >= 2)) || die "needs at least 2 CPUs (server on CPU 0, wrk on CPU 1); this machine has $ncpu"
}

# ---------------------------------------------------------------- setup

# make_fixtures DIR: the files every row fetches. Random bytes, so neither
# server is tempted to compress them and the sizes on the wire are exact.
# They are dated a day back: the origin sends no Cache-Control, so the cache
# policy's freshness is the heuristic one, 10% of the Last-Modified age; for
# a file written a second ago that is a tenth of a second, after which every
# "hit" would be a revalidation with the origin. A day old, they stay fresh
# for 2.4 hours.
make_fixtures() {
	local dir=$1
	head -c 1024 /dev/urandom >"$dir/1k.bin"
	head -c $((100 * 1024)) /dev/urandom >"$dir/100k.bin"
	head -c $((10 * 1024 * 1024)) /dev/urandom >"$dir/10m.bin"
	touch -d '1 day ago' "$dir"/*.bin
}

# write_config FILE PORT ROOT [POLICY...]: a wasmhttpd config that serves
# ROOT with nothing extra — no listings, no compression, no access log, no
# forward proxy or admin listener (on by default, on fixed ports) — so that it does the same
# work as the reference file server; with POLICYs, the same config with that
# chain in front.
write_config() {
	local file=$1
	shift
	{
		origin_tables "$@"
		printf '\n[proxy]\nlisten = ""\n'
		policy_tables "${@:3}"
	} >"$file"
}

# write_cache_config FILE PORT PROXYPORT ROOT: write_config's origin on PORT
# (which the rows do not use), plus the forward proxy on PROXYPORT with its
# disk cache under $TMP, decided by the standard cache policy.
write_cache_config() {
	local file=$1 port=$2 proxyport=$3 root=$4
	{
		origin_tables "$port" "$root"
		printf '\n[proxy]\nlisten = "127.0.0.1:%s"\n' "$proxyport"
		printf '\n[cache]\npolicy = "cache"\ndir = "%s"\n' "$TMP/cache"
		policy_tables cache
	} >"$file"
}

# origin_tables PORT ROOT [POLICY...]: the origin listener on PORT serving
# ROOT, with no listings, no compression and no access log, behind the
# chain of POLICYs if any.
origin_tables() {
	local port=$1 root=$2
	shift 2
	printf '[origin]\nlisten = "127.0.0.1:%s"\nroot = "bench"\n' "$port"
	if (($# > 0)); then
		printf 'policies = [%s]\n' "$(printf '"%s", ' "$@" | sed 's/, $//')"
	fi
	printf '\n[roots.bench]\npath = "%s"\nlisting = false\ncompress = false\n' "$root"
	printf '\n[log.access]\npath = "off"\n'
	printf '\n[admin]\nlisten = ""\n'
}

# policy_tables [POLICY...]: a [policies.NAME] table for each POLICY, its
# module from $TMP/policies with its default configuration, compiled into a
# cache under $TMP.
policy_tables() {
	local name
	(($# > 0)) || return 0
	printf '\n[wasm]\ncache_dir = "%s"\n' "$TMP/wasmcache"
	for name in "$@"; do
		printf '\n[policies.%s]\nwasm = "%s"\n' "$name" "$TMP/policies/$name.wasm"
	done
}

# wait_listening NAME PID PORT: block until the server accepts connections,
# failing early if it died (a bad config, a port taken) instead of hanging.
# The wait is long for a server that compiles its policies before it opens
# its socket; wasmhttpd opens it first, and send_request waits out the
# compiles instead.
wait_listening() {
	local name=$1 pid=$2 port=$3 i
	for ((i = 0; i < 600; i++)); do
		kill -0 "$pid" 2>/dev/null || die "$name exited before listening; its output:
$(tail -n 20 "$TMP/$name.log" 2>/dev/null)"
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	die "$name did not listen on port $port within 30s"
}

# send_request NAME METHOD PATH: one request by hand to server NAME for
# SERVER_URL[NAME]PATH (in absolute form through its proxy, if it is one),
# printing the response head, CRs removed. The whole response is read (a
# proxy may stop storing a body its client did not take) into $TMP/reply.
# wasmhttpd listens before it builds its site, so the first request may wait
# in the kernel's backlog while the policies compile (seconds each, cold, on
# one busy core): hence as long a wait as wait_listening's.
send_request() {
	local name=$1 method=$2 path=$3 url=${SERVER_URL[$1]} hostport target connect
	hostport=${url#http://}
	target=$path connect=$hostport
	if [[ -n ${SERVER_PROXY[$name]:-} ]]; then
		target=$url$path connect=${SERVER_PROXY[$name]}
	fi
	(
		exec 3<>"/dev/tcp/${connect%:*}/${connect#*:}"
		printf '%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$method" "$target" "$hostport" >&3
		timeout 30 cat <&3 >"$TMP/reply"
	) 2>/dev/null || true
	sed -n '/^\r$/q; s/\r$//; p' "$TMP/reply"
}

# check_serves NAME PATH SIZE [FIELD]: one HEAD request by hand, so a server
# answering 404 (wrong root) cannot pass for a fast one; FIELD, a pattern for a
# lower-cased response field line, must match one too.
check_serves() {
	local name=$1 path=$2 size=$3 field=${4:-} reply
	reply=$(send_request "$name" HEAD "$path")
	if ! grep -q '^HTTP/1\.1 200' <<<"$reply" || ! grep -qi "^content-length: $size\$" <<<"$reply"; then
		die "$name does not serve $path as 200 with $size bytes; it answered:
$reply
(its log's end: $(tail -n 5 "$TMP/$name.log"))"
	fi
	if [[ -n $field ]] && ! tr 'A-Z' 'a-z' <<<"$reply" | grep -q "$field"; then
		die "$name answered HEAD $path without a field matching '$field'; it answered:
$reply"
	fi
}

# start_server NAME PORT COMMAND...: run COMMAND pinned to CPU 0, listening on
# PORT. taskset execs the command, so $! is the server's own pid, whose /proc
# stat we read.
start_server() {
	local name=$1 port=$2
	shift 2
	taskset -c 0 "$@" >"$TMP/$name.log" 2>&1 &
	SERVER_PID[$name]=$!
	SERVER_URL[$name]=${SERVER_URL[$name]:-http://127.0.0.1:$port}
	wait_listening "$name" "${SERVER_PID[$name]}" "$port"
	check_serves "$name" /1k.bin 1024 "${SERVER_EXPECT[$name]:-}"
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

# ---------------------------------------------------------------- servers
#
# start_<name> PORT...: start one server of SERVER_SHORT (the first PORT is
# the one the rows use).

# wasmhttpd as it serves files, no policies.
start_wasmhttpd() {
	write_config "$TMP/wasmhttpd.toml" "$1" "$TMP/root"
	start_server wasmhttpd "$1" "$WASMHTTPD" -config "$TMP/wasmhttpd.toml"
}

# The reference: net/http's file server.
start_ref() {
	go build -o "$TMP/refserver" ./bench/refserver
	start_server ref "$1" "$TMP/refserver" -addr "127.0.0.1:$1" -root "$TMP/root"
}

# The same binary and config as wasmhttpd, plus the policy chain. The
# modules are copies, so that the swap probe replaces files of its own.
start_chain() {
	local name
	local -a modules=()
	mkdir -p "$TMP/policies"
	for name in "${CHAIN_POLICIES[@]}"; do
		cp "policies/$name.wasm" "$TMP/policies/$name.wasm"
		modules+=("$TMP/policies/$name.wasm")
	done
	go build -o "$TMP/guestcalls" ./bench/guestcalls
	SERVER_CALLS[chain]=$("$TMP/guestcalls" "${modules[@]}")
	write_config "$TMP/chain.toml" "$1" "$TMP/root" "${CHAIN_POLICIES[@]}"
	start_server chain "$1" "$WASMHTTPD" -config "$TMP/chain.toml"
}

# The caching forward proxy in front of the wasmhttpd server (which runs on
# CPU 0 too, and is idle while the proxy serves hits), its cache warmed with
# the objects the cache-hit rows fetch: one GET each, then a HEAD that must
# be answered from the cache. Its own origin listener (PORT2), required by
# the config, serves the same files and goes unused.
start_cache() {
	local path
	mkdir -p "$TMP/policies"
	cp policies/cache.wasm "$TMP/policies/cache.wasm"
	write_cache_config "$TMP/cache.toml" "$2" "$1" "$TMP/root"
	SERVER_URL[cache]=${SERVER_URL[${SERVER_FRONTS[cache]}]}
	SERVER_PROXY[cache]=127.0.0.1:$1
	start_server cache "$1" "$WASMHTTPD" -config "$TMP/cache.toml"
	for path in /1k.bin /100k.bin; do
		send_request cache GET "$path" >/dev/null
		if ! send_request cache HEAD "$path" | tr 'A-Z' 'a-z' | grep -q '^cache-status: .*; hit'; then
			die "the cache does not answer $path from its store after a GET warmed it (no 'Cache-Status: ...; hit'); it answered:
$(send_request cache HEAD "$path")"
		fi
	done
}

# start_servers: the servers in NEEDED, in SERVER_ORDER, each on free ports
# (SERVER_PORTS of them, default 1), all drawn at once so they differ.
start_servers() {
	local -a names=() ports
	local name n total=0 next=0
	for name in "${SERVER_ORDER[@]}"; do
		if [[ -n ${NEEDED[$name]:-} ]]; then
			names+=("$name")
			total=$((total + ${SERVER_PORTS[$name]:-1}))
		fi
	done
	((total > 0)) || return 0
	read -r -a ports <<<"$("$TMP/freeport" "$total")"
	for name in "${names[@]}"; do
		n=${SERVER_PORTS[$name]:-1}
		"start_$name" "${ports[@]:next:n}"
		next=$((next + n))
	done
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
# thread pinned to CPU 1, latency distribution on. With $VIA (a proxy's
# host:port, set by measure) the requests for URL go to the proxy in
# absolute form, and the same bytes go out for every request either way.
wrk_run() {
	local url=$1
	shift
	if [[ -n ${VIA:-} ]]; then
		taskset -c 1 wrk -t1 --latency "$@" -s bench/absolute-form.lua "http://$VIA" -- "$url"
	else
		taskset -c 1 wrk -t1 --latency "$@" "$url"
	fi
}

# to_ms VALUE: a duration of one unit in ms: wrk's ("812.00us", "1.23ms",
# "2.00s", "1.00m") and Go's under a minute ("950ns", "812.5µs", "1.2s").
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "ns") n /= 1e6; else if (u == "us" || u == "µs") n /= 1000; else if (u == "s") n *= 1000
		else if (u == "m") n *= 60000; else if (u == "h") n *= 3600000
		printf "%.2f", n }'
}

# measure SERVER ROW RUN: run row_ROW against SERVER (after a warmup), and
# append its req/s, p99 (ms) and CPU µs/request to the RES_* lists keyed
# "ROW/SERVER" (one value per run, space-separated).
declare -A RES_RPS=() RES_P99=() RES_CPU=() RES_NOTE=()
measure() {
	local server=$1 row=$2 run=$3 pid=${SERVER_PID[$1]} url=${SERVER_URL[$1]} via=${SERVER_PROXY[$1]:-}
	local key="$row/$server" out before after reqs rps p99 cpu errs origin="" obefore oafter
	if [[ $WARMUP != 0 ]]; then
		DUR=$WARMUP VIA=$via "row_$row" "$url" >/dev/null
	fi
	if [[ -n $via ]]; then
		origin=${SERVER_FRONTS[$server]}
		obefore=$(cpu_ticks "${SERVER_PID[$origin]}")
	fi
	before=$(cpu_ticks "$pid")
	out=$(DUR=$DURATION VIA=$via "row_$row" "$url")
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
	# A proxy's origin idles while the proxy serves hits; if it worked more
	# than 1% of the proxy's CPU, requests were misses or revalidations.
	if [[ -n $origin ]]; then
		oafter=$(cpu_ticks "${SERVER_PID[$origin]}")
		if ((100 * (oafter - obefore) > after - before)); then
			RES_NOTE[$key]+="run $run: $origin, the origin, used $((oafter - obefore)) CPU ticks to the proxy's $((after - before)): not all hits "
		fi
	fi
	kill -0 "$pid" 2>/dev/null || die "$server died during row $row; its output:
$(tail -n 20 "$TMP/$server.log" 2>/dev/null)"
	return 0
}

# ---------------------------------------------------------------- rows
#
# row_<name> BASEURL: drive one kind of load against one server and print
# wrk's output. $DUR is the duration (set by measure: warmup or measured).
# A new row kind (proxy-cache, ...) is one more function here plus an
# add_row line at the top; if it needs its own server, add a start_<name>
# and a SERVER_SHORT entry.

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

# The policy chain in the steady state: the client sends the session cookie
# it was given, so every guest looks and passes the request on. Both servers
# get the same request, cookie included.
row_1k-chain() { wrk_run "$1/1k.bin" -c50 -d"$DUR" -H "Cookie: $SESSION_COOKIE"; }

# Every request a new client: the cookie policy mints a session id (128
# bits of the host's entropy) and adds Set-Cookie to every response.
row_1k-chain-nocookie() { row_1k-keepalive "$1"; }

# The keep-alive loads once more, for the cache: on the proxy (via $VIA)
# every request is a fresh hit — two cache policy calls (cache_request,
# cache_lookup), the stored head plus Age, Via and Cache-Status, the stored
# body (by sendfile at 100k; 1k goes out with the head) — against the origin
# serving the same file itself.
row_1k-cache-hit() { row_1k-keepalive "$1"; }
row_100k-cache-hit() { row_100k-keepalive "$1"; }

# ---------------------------------------------------------------- probes
#
# probe_<name>: measure something that is not a wrk row and print its
# report lines. Probes run after the rows, on idle servers. A probe that
# disturbs a server on purpose sets LOG_CHECKED[SERVER], the lines of its log
# before the disturbance, the only ones the report looks at for failures.
declare -A LOG_CHECKED=()

# probe_policy-swap: SWAPS live swaps of one module of the chain between two
# builds the compilation cache already holds, each installed the way an
# operator should (a rename over the file). The swap's own cost is the
# server's "policy module loaded … took=" (compile from the cache, then the
# pre-warmed instances); rename-to-loaded adds the watcher's wait, by design
# 250–500 ms (a poll every 250 ms, and a change loads once two polls in a row
# saw the same size and mtime).
probe_policy-swap() {
	local live=$TMP/policies/$SWAP_POLICY.wasm a=$TMP/swap-a.wasm b=$TMP/swap-b.wasm
	local gen=1 i cold
	local -a took=() e2e=()
	cp "$live" "$a"
	# b is a plus a custom section named "b" (id 0, size 3; one byte of
	# payload, as wazero 1.12 refuses an empty one): the same code under
	# another hash, which the cache compiles and keeps apart, as it would
	# a rebuild.
	{
		cat "$a"
		printf '\x00\x03\x01b\x00'
	} >"$b"
	swap_policy "$b" $((++gen)) # b's first appearance: a cold compile
	cold=$SWAP_TOOK
	swap_policy "$a" $((++gen)) # a: in the cache since the server started
	for ((i = 0; i < SWAPS; i++)); do
		if ((i % 2 == 0)); then
			swap_policy "$b" $((++gen))
		else
			swap_policy "$a" $((++gen))
		fi
		took+=("$SWAP_TOOK")
		e2e+=("$SWAP_E2E")
	done
	printf 'policy swap (%s, %d swaps between two cached builds, idle server on one core):\n' "$SWAP_POLICY" "$SWAPS"
	printf '  swap (log took=: cached compile + pre-warmed instances): median %s ms, max %s ms\n' \
		"$(median "${took[@]}")" "$(maximum "${took[@]}")"
	printf "  rename to serving the new module: median %s ms, max %s ms (includes the watcher's 250-500 ms)\n" \
		"$(median "${e2e[@]}")" "$(maximum "${e2e[@]}")"
	printf '  first swap to a module not yet compiled (cold compile): %s ms\n' "$cold"
}

# swap_policy FILE GEN: install FILE as SWAP_POLICY's module of the chain
# server and wait for generation GEN to load; set SWAP_TOOK (the swap's own
# time, from the log) and SWAP_E2E (rename to the log line), in ms.
swap_policy() {
	local file=$1 gen=$2 dst=$TMP/policies/$SWAP_POLICY.wasm log=$TMP/chain.log t0 line ts
	local deadline=$((SECONDS + 10))
	cp "$file" "$dst.tmp"
	t0=$EPOCHREALTIME
	mv "$dst.tmp" "$dst"
	until line=$(grep -m1 "msg=\"policy module loaded\" policy=$SWAP_POLICY generation=$gen " "$log"); do
		if grep -q 'msg="policy module rejected"' "$log"; then
			die "the chain server rejected a swapped module: $(grep -m1 'policy module rejected' "$log")"
		fi
		((SECONDS < deadline)) || die "generation $gen of $SWAP_POLICY did not load within 10s; the server's log:
$(tail -n 5 "$log")"
		sleep 0.01
	done
	[[ $line =~ took=([^ ]+) ]] || die "no took= in: $line"
	SWAP_TOOK=$(to_ms "${BASH_REMATCH[1]}")
	[[ $line =~ ^time=([^ ]+) ]] || die "no time= in: $line"
	ts=$(date -d "${BASH_REMATCH[1]}" +%s.%N)
	SWAP_E2E=$(awk -v a="$t0" -v b="$ts" 'BEGIN {printf "%.0f", (b - a) * 1000}')
}

# probe_swap-memory: host/policy's TestSwapMemory, 200 swaps between two
# modules while a client loops through the chain. It fails when the
# instances or the heap in use are not back near where they started, and
# logs the figures, which this prints.
probe_swap-memory() {
	local out verdict=PASS figures
	out=$(go test -count=1 -run '^TestSwapMemory$' -v ./host/policy 2>&1) || verdict=FAIL
	figures=$(grep -o 'swap memory: .*' <<<"$out") || figures="no figures; go test said:
$(tail -n 20 <<<"$out")"
	printf '%s  %s\n' "$verdict" "$figures"
}

# probe_cache-sendfile: the system calls of 100k cache hits, counted by
# strace (which slows the server a lot, hence a probe and not a row): every
# hit should be one write (the head) and one sendfile (the stored body).
# strace stops the server's threads, sometimes for longer than the 50 ms a
# guest call may take, so calls time out; the probe counts those apart from
# the report's policy failures.
probe_cache-sendfile() {
	local out reqs strace_pid log=$TMP/cache.log timeouts
	if ! command -v strace >/dev/null; then
		echo "cache sendfile: skipped, strace is not installed"
		return 0
	fi
	LOG_CHECKED[cache]=$(wc -l <"$log")
	strace -f -c -e trace=sendfile,write,read,pread64 -o "$TMP/strace.txt" -p "${SERVER_PID[cache]}" 2>/dev/null &
	strace_pid=$!
	sleep 1 # attaching to every thread
	out=$(DUR=2s VIA=${SERVER_PROXY[cache]} row_100k-cache-hit "${SERVER_URL[cache]}")
	kill -INT "$strace_pid"
	wait "$strace_pid" || true
	timeouts=$(sed -n "$((LOG_CHECKED[cache] + 1)),\$p" "$log" | grep -c 'msg="policy failed".*timeout') || true
	if ((timeouts > 0)); then
		echo "cache sendfile: guest calls timed out under strace: $timeouts (its stops outlast the 50 ms call deadline)"
	fi
	reqs=$(awk '/ requests in / {print $1; exit}' <<<"$out")
	if [[ ! ${reqs:-0} -gt 0 ]]; then
		printf 'cache sendfile: no responses under strace; wrk said:\n%s\n' "$out"
		return 0
	fi
	# strace -c: "% time  seconds  usecs/call  calls  [errors]  syscall";
	# failed calls (EAGAIN on a full socket) are retried, so count successes.
	awk -v n="$reqs" '
		$NF ~ /^(sendfile|write|read|pread64)$/ && $1 ~ /^[0-9.]+$/ {
			errs = (NF == 6) ? $5 : 0; ok[$NF] = $4 - errs }
		END {
			printf "cache sendfile (strace -c, 100k hits, 2s): %d responses; per response: %.2f sendfile, %.2f write, %.2f read, %.2f pread64\n",
				n, ok["sendfile"] / n, ok["write"] / n, ok["read"] / n, ok["pread64"] / n }' "$TMP/strace.txt"
}

# ---------------------------------------------------------------- report

# median VALUES...: the median of the numbers (the lower middle one for an
# even count, so it is always a value that was actually measured).
median() {
	printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

# maximum VALUES...: the largest of the numbers.
maximum() {
	printf '%s\n' "$@" | sort -g | tail -n 1
}

report() {
	local row a b ratio key s group="" calls t op limit label failures percall="" checks=""
	local -a pair nc
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
	if [[ -n ${SERVER_PID[chain]:-} ]]; then
		printf '# chain: wasmhttpd with policies [%s], default configurations; wh: the same without\n' \
			"${CHAIN_POLICIES[*]}"
	fi
	if [[ -n ${SERVER_PID[cache]:-} ]]; then
		printf '# cache: wasmhttpd forward proxy, disk cache + cache policy, serving hits for wh (idle, CPU 0)\n'
	fi
	for row in "${ROWS_RUN[@]}"; do
		read -r -a pair <<<"${ROW_SERVERS[$row]}"
		# A header for every run of rows comparing the same two servers.
		# "µ" is two bytes and printf pads bytes, hence a byte more for it.
		if [[ ${ROW_SERVERS[$row]} != "$group" ]]; then
			group=${ROW_SERVERS[$row]}
			printf '\n%-20s %12s %12s %7s %10s %10s %14s %14s\n' row "${pair[0]}/s" "${pair[1]}/s" ratio \
				"p99 ${SERVER_SHORT[${pair[0]}]}" "p99 ${SERVER_SHORT[${pair[1]}]}" \
				"µs/req ${SERVER_SHORT[${pair[0]}]}" "µs/req ${SERVER_SHORT[${pair[1]}]}"
		fi
		a=${med[rps/$row/${pair[0]}]} b=${med[rps/$row/${pair[1]}]}
		ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {printf (b > 0 ? "%.2f" : "-"), a / (b > 0 ? b : 1)}')
		med[ratio/$row]=$ratio
		printf '%-20s %12.0f %12.0f %7s %8sms %8sms %13s %13s\n' "${ROW_LABEL[$row]}" \
			"$a" "$b" "$ratio" "${med[p99/$row/${pair[0]}]}" "${med[p99/$row/${pair[1]}]}" \
			"${med[cpu/$row/${pair[0]}]}" "${med[cpu/$row/${pair[1]}]}"
	done
	# The chain's extra CPU per request, shared out over its guest calls.
	for row in "${ROWS_RUN[@]}"; do
		read -r -a pair <<<"${ROW_SERVERS[$row]}"
		[[ -n ${SERVER_CALLS[${pair[0]}]:-} && -z ${SERVER_CALLS[${pair[1]}]:-} ]] || continue
		read -r -a nc <<<"${SERVER_CALLS[${pair[0]}]}"
		calls=$((nc[0] + nc[1]))
		a=${med[cpu/$row/${pair[0]}]} b=${med[cpu/$row/${pair[1]}]}
		med[percall/$row]=$(awk -v a="$a" -v b="$b" -v n="$calls" 'BEGIN {printf "%.2f", (a - b) / n}')
		percall+=$(printf '%-20s (%s - %s) µs/req / %d guest calls (%d handle_request + %d handle_response) = %s µs per call' \
			"${ROW_LABEL[$row]}:" "$a" "$b" "$calls" "${nc[0]}" "${nc[1]}" "${med[percall/$row]}")$'\n'
	done
	if [[ -n $percall ]]; then
		printf '\n%s' "$percall"
	fi
	if ((REPEAT > 1)); then
		echo
		for row in "${ROWS_RUN[@]}"; do
			printf '%-20s req/s per run:' "${ROW_LABEL[$row]}"
			for s in ${ROW_SERVERS[$row]}; do
				# shellcheck disable=SC2086 # the list is meant to split
				printf ' %s %s;' "$s" "$(printf '%.0f ' ${RES_RPS[$row/$s]})"
			done
			echo
		done
	fi
	for row in "${ROWS_RUN[@]}"; do
		for s in ${ROW_SERVERS[$row]}; do
			key="$row/$s"
			if [[ -n ${RES_NOTE[$key]:-} ]]; then
				printf 'warning: %s on %s: %s\n' "${ROW_LABEL[$row]}" "$s" "${RES_NOTE[$key]}"
			fi
		done
	done
	# A failed guest call answers 500 (the policies fail closed); the
	# server's log says why, which wrk's non-2xx count does not.
	for s in "${!SERVER_PID[@]}"; do
		failures=$(sed -n "1,${LOG_CHECKED[$s]:-\$}p" "$LOGS/$s.log" | grep -c 'msg="policy failed"') || true
		if ((failures > 0)); then
			printf 'warning: %s logged %d policy failures (see %s), the first: %s\n' "$s" "$failures" \
				"$LOGS/$s.log" "$(grep -m1 -o 'policy=[^ ]* .*cause=.*mode=[^ ]*' "$LOGS/$s.log")"
		fi
	done
	if [[ -s $TMP/probes.txt ]]; then
		echo
		cat "$TMP/probes.txt"
	fi
	for t in "${TARGETS[@]}"; do
		read -r key op limit label <<<"$t"
		row=${key#*/}
		row=${row%%/*}
		[[ -n ${med[$key]:-} ]] || continue
		checks+=$(check "${ROW_LABEL[$row]}: $label $op $limit" "${med[$key]}" "$op" "$limit")$'\n'
	done
	if [[ -n $checks ]]; then
		printf '\n%s' "$checks"
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
	local name s run
	local -a pair
	read -r -a SELECTED <<<"${ROWS:-${ALL_ROWS[*]} ${ALL_PROBES[*]}}"
	ROWS_RUN=() PROBES_RUN=()
	declare -gA NEEDED=() # the servers the chosen rows and probes use
	for name in "${SELECTED[@]}"; do
		if declare -F "row_$name" >/dev/null; then
			ROWS_RUN+=("$name")
			for s in ${ROW_SERVERS[$name]}; do NEEDED[$s]=1; done
		elif declare -F "probe_$name" >/dev/null; then
			PROBES_RUN+=("$name")
			for s in ${PROBE_SERVERS[$name]}; do NEEDED[$s]=1; done
		else
			die "unknown row or probe '$name' (rows: ${ALL_ROWS[*]}; probes: ${ALL_PROBES[*]})"
		fi
	done
	for s in "${!NEEDED[@]}"; do
		if [[ -n ${SERVER_FRONTS[$s]:-} ]]; then
			NEEDED[${SERVER_FRONTS[$s]}]=1
		fi
	done
	[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive integer, not '$REPEAT'"
	[[ $SWAPS =~ ^[1-9][0-9]*$ ]] || die "SWAPS must be a positive integer, not '$SWAPS'"
	ensure_tools
	CLK_TCK=$(getconf CLK_TCK)

	TMP=$(mktemp -d "${TMPDIR:-/tmp}/wasmhttpd-bench.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM

	mkdir -p "$TMP/root" "$RAW"
	rm -f "$RAW"/*.txt "$LOGS"/*.log
	make_fixtures "$TMP/root"
	go build -o "$TMP/freeport" ./bench/freeport
	start_servers
	LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)

	# Runs are interleaved (all rows, then all rows again) and each row's
	# server order alternates, so a burst of noise from elsewhere on the
	# machine, or a slow drift, does not always land on the same cell.
	for ((run = 1; run <= REPEAT; run++)); do
		for name in "${ROWS_RUN[@]}"; do
			read -r -a pair <<<"${ROW_SERVERS[$name]}"
			if ((run % 2 == 0)); then
				pair=("${pair[1]}" "${pair[0]}")
			fi
			for s in "${pair[@]}"; do
				echo "bench: run $run/$REPEAT: ${ROW_LABEL[$name]} on $s ..." >&2
				measure "$s" "$name" "$run"
			done
		done
	done
	for name in "${PROBES_RUN[@]}"; do
		echo "bench: probe $name ..." >&2
		"probe_$name" >>"$TMP/probes.txt"
	done

	for name in "${!SERVER_PID[@]}"; do
		cp "$TMP/$name.log" "$LOGS/$name.log"
	done
	report | tee "$RESULTS"
	echo "bench: saved to $RESULTS" >&2
}

main "$@"

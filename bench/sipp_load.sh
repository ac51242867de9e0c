#!/usr/bin/env bash
# SIPp load measurements against a release build of the switch, on loopback.
#
# Starts `switchboard serve` with a generated config (free ports, log level
# warn, N agents with passwords, MD5 digest only, 127.0.0.1 trusted as a
# trunk), runs one measurement, prints the figures, and stops everything it
# started. Logs, configs and SIPp statistics go to $OUT (default under /tmp).
#
#   bench/sipp_load.sh options  RATE SECS [PROCS]
#       OPTIONS transactions/s, PROCS SIPp processes sharing RATE.
#   bench/sipp_load.sh register RATE SECS [PROCS] [USERS]
#       REGISTER/401/REGISTER(MD5)/200 per second, users from an -inf CSV.
#   bench/sipp_load.sh calls    RATE SECS [PROCS] [AGENTS] [HOLD_MS]
#       Call setups/s through the B2BUA: AGENTS SIPp UAS agents register
#       (digest) as extensions, PROCS SIPp UAC trunk callers call them
#       (INVITE/100/180/200/ACK/hold/BYE/200).
#   bench/sipp_load.sh mem-contacts N [RATE] [u1|t1]
#       RSS per registered contact: register N distinct users, wait for the
#       transactions to drain (UDP: Timer J, 32 s), RSS delta / N.
#   bench/sipp_load.sh mem-dialogs  N [RATE]
#       RSS per established call: hold N calls up, wait for transactions to
#       drain, RSS delta / N; then a second batch of N the same way.
#
# Environment: OUT (output dir), SWITCHBOARD (binary, default
# target/release/switchboard), PERF=1 (record a perf profile of the switch
# during the run: $OUT/perf.data and $OUT/perf.txt), SIPP_BUFF (SIPp socket
# buffers, default 4 MB), SIPP_EXTRA (more SIPp arguments, e.g. -trace_msg).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SWITCHBOARD:-$ROOT/target/release/switchboard}
SCEN=$ROOT/bench/sipp
MODE=${1:?mode: options|register|calls|mem-contacts|mem-dialogs}
shift
OUT=${OUT:-/tmp/switchboard-bench/$MODE-$(date -u +%Y%m%dT%H%M%S)-$$}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# SIPp writes some traces to its working directory: keep them out of the tree.
cd "$OUT"
HZ=$(getconf CLK_TCK)

PIDS=()
SWITCH_PID=
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_ports() { # N distinct free ports (UDP and TCP both free)
    python3 - "$1" <<'EOF'
import socket, sys
n, out, held = int(sys.argv[1]), [], []
while len(out) < n:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p))
    except OSError:
        t.close(); continue
    held += [t, u]; out.append(p)
print(" ".join(map(str, out)))
EOF
}

ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1==m{print $2}'; }
now() { date +%s.%N; }
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }

# start_switch AGENTS MAX_CALLS
start_switch() {
    local agents=$1 max_calls=${2:-10000}
    read -r SIP_PORT HTTP_PORT < <(free_ports 2)
    local cfg=$OUT/switchboard.toml
    {
        echo "[sip]"
        echo "listen_udp = [\"127.0.0.1:$SIP_PORT\"]"
        echo "listen_tcp = [\"127.0.0.1:$SIP_PORT\"]"
        echo "domain = \"127.0.0.1\""
        echo "max_calls = $max_calls"
        echo "[registrar]"
        echo "max_expires = 7200"
        echo "algorithms = [\"MD5\"]"
        echo "[http]"
        echo "listen = \"127.0.0.1:$HTTP_PORT\""
        echo "[[trunks]]"
        echo "name = \"loopback\""
        echo "addresses = [\"127.0.0.1\"]"
        echo "[log]"
        echo "level = \"warn\""
    } >"$cfg"
    : >"$OUT/users.csv"
    echo "SEQUENTIAL" >"$OUT/users.csv"
    python3 - "$agents" "$cfg" "$OUT/users.csv" <<'EOF'
import sys
n, cfg, csv = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(cfg, "a") as c, open(csv, "a") as u:
    for i in range(n):
        ext = str(20000 + i)
        c.write(f'[[agents]]\nextension = "{ext}"\nname = "Load {ext}"\npassword = "pw{ext}x"\n')
        u.write(f"{ext};[authentication username={ext} password=pw{ext}x]\n")
EOF
    "$BIN" serve --config "$cfg" >"$OUT/switch.log" 2>&1 &
    SWITCH_PID=$!
    PIDS+=("$SWITCH_PID")
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$HTTP_PORT/health" >/dev/null 2>&1 && break
        kill -0 "$SWITCH_PID" 2>/dev/null || { cat "$OUT/switch.log"; exit 1; }
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:$HTTP_PORT/health" >/dev/null || { echo "switch not up"; exit 1; }
    echo "switch pid $SWITCH_PID sip 127.0.0.1:$SIP_PORT http $HTTP_PORT agents $agents out $OUT"
    # SIP ports for the SIPp processes, picked in one go so they are distinct
    # (bind to port 0 hands out a just-released port again).
    read -r -a PORT_POOL < <(free_ports 64)
    POOL_NEXT=0
}

# take_port: next port of the pool, in $PORT.
take_port() {
    PORT=${PORT_POOL[POOL_NEXT]}
    POOL_NEXT=$((POOL_NEXT + 1))
}

# sipp_cmd NAME ARGS...: runs SIPp in the background under /usr/bin/time,
# statistics in $OUT/NAME.*; appends the pid to SIPP_PIDS.
SIPP_PIDS=()
AGENT_PIDS=()
# Blocks of 8 consecutive free ports (UDP and TCP) between 12000 and 32000,
# for SIPp's media and control ports; in $BLOCK.
BLOCKS=()
take_block() {
    if [[ ${#BLOCKS[@]} == 0 ]]; then
        read -r -a BLOCKS < <(python3 -c '
import random, socket
out, held = [], []
bases = list(range(12000, 32000, 8))
random.shuffle(bases)
for b in bases:
    socks = []
    try:
        for p in range(b, b + 8):
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind(("127.0.0.1", p))
    except OSError:
        for s in socks:
            s.close()
        continue
    held += socks
    out.append(b)
    if len(out) == 32:
        break
print(" ".join(map(str, out)))
')
    fi
    BLOCK=${BLOCKS[0]}
    BLOCKS=("${BLOCKS[@]:1}")
}
sipp_bg() {
    local name=$1
    shift
    # Media (-mp: SIPp binds mp..mp+3) and control (-cp) ports: a block of 8
    # free ports below the ephemeral range.
    # Other programs on the machine may grab one of those ports between our
    # check and SIPp's bind: start again on another block then.
    local mp cp try pid
    for try in 1 2 3 4 5; do
        take_block
        mp=$BLOCK cp=$((BLOCK + 6))
        /usr/bin/time -f "%U %S %e" -o "$OUT/$name.time" \
            sipp -i 127.0.0.1 -mi 127.0.0.1 -mp "$mp" -cp "$cp" -nostdin -buff_size "${SIPP_BUFF:-4194304}" \
            -trace_err -error_file "$OUT/$name.errors.log" \
            -trace_screen -screen_file "$OUT/$name.screen.log" \
            -trace_stat -stf "$OUT/$name.stat.csv" -fd 1 \
            ${SIPP_EXTRA:-} "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" &
        pid=$!
        sleep 0.2
        if ! kill -0 "$pid" 2>/dev/null && grep -q "Unable to bind" "$OUT/$name.stderr"; then
            wait "$pid" || true
            continue
        fi
        break
    done
    SIPP_PIDS+=("$pid")
    PIDS+=("$pid")
}

# register_agent EXT NAME: registers EXT (digest) from a free port, which is
# left in AGENT_PORT for the agent scenario to answer on. Retries on a port clash.
register_agent() {
    local ext=$1 name=$2 try
    printf 'SEQUENTIAL\n%s;[authentication username=%s password=pw%sx]\n' "$ext" "$ext" "$ext" >"$OUT/$name.csv"
    for try in 1 2 3; do
        take_port; AGENT_PORT=$PORT
        take_block
        if sipp "127.0.0.1:$SIP_PORT" -sf "$SCEN/register_load.xml" -t u1 -p "$AGENT_PORT" -i 127.0.0.1 \
            -mp "$BLOCK" -cp $((BLOCK + 6)) \
            -inf "$OUT/$name.csv" -key domain 127.0.0.1 -key expires 3600 -m 1 -timeout 10s -timeout_error \
            -nostdin -trace_err -error_file "$OUT/$name.register.errors.log" >"$OUT/$name.register.stdout" 2>&1; then
            return 0
        fi
    done
    echo "agent $ext did not register: $OUT/$name.register.*"
    exit 1
}

# Last line of a SIPp statistics CSV, selected columns.
sipp_stats() { # file -> "created success failed retrans elapsed_s unexpected maxudp rtd_avg_ms"
    python3 - "$1" <<'EOF'
import sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
h, v = lines[0].split(";"), lines[-1].split(";")
d = dict(zip(h, v))
def g(k, default="0"): return d.get(k, default)
def secs(t):
    hh, mm, ss = t.split(":"); return int(hh)*3600+int(mm)*60+float(ss)
# Response-time repartition (ms buckets with a count), e.g. "<1:962,<5:35".
r = ",".join(k.split("_", 1)[1] + ":" + d[k] for k in h
             if k.startswith("ResponseTimeRepartition") and "_" in k and d.get(k, "0") not in ("", "0")) or "-"
print(g("TotalCallCreated"), g("SuccessfulCall(C)"), g("FailedCall(C)"), g("Retransmissions(C)"),
      g("ElapsedTime(C)"), g("FailedUnexpectedMessage(C)"), g("FailedMaxUDPRetrans(C)"), r,
      g("CurrentCall"), g("FailedCallRejected(C)"), g("OutOfCallMsgs(C)"), g("DeadCallMsgs(C)"))
EOF
}

# Background sampler of the switch: per-second CPU% and RSS.
start_sampler() {
    (
        local t0 t1 n=0
        t0=$(ticks "$SWITCH_PID")
        while kill -0 "$SWITCH_PID" 2>/dev/null; do
            sleep 1
            t1=$(ticks "$SWITCH_PID")
            echo "$(date +%s) cpu% $(((t1 - t0) * 100 / HZ)) rss_kb $(rss_kb "$SWITCH_PID")"
            t0=$t1
            n=$((n + 1))
            if [[ $n == 8 ]]; then top -b -n 2 -d 2 -w 200 >"$OUT/top.txt" 2>/dev/null & fi
            ss -uanmH 2>/dev/null | paste - - | awk -v t="$(date +%s)" '{print t, $4, $NF}' >>"$OUT/udp.samples"
        done
    ) >"$OUT/switch.samples" 2>/dev/null &
    SAMPLER=$!
    PIDS+=("$SAMPLER")
}

start_perf() {
    if [[ ${PERF:-0} == 1 ]]; then
        perf record -e cpu-clock -F 199 --call-graph dwarf,8192 -p "$SWITCH_PID" -o "$OUT/perf.data" \
            >"$OUT/perf.record.log" 2>&1 &
        PERF_PID=$!
        PIDS+=("$PERF_PID")
        sleep 1
    fi
}
stop_perf() {
    if [[ ${PERF:-0} == 1 ]]; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -v '^$' | head -150 >"$OUT/perf.txt" || true
        perf report -i "$OUT/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -v '^$' | head -40 >"$OUT/perf.dso.txt" || true
        perf report -i "$OUT/perf.data" --no-children --sort tid --stdio 2>/dev/null | grep -v '^$' | head -40 >"$OUT/perf.tid.txt" || true
        echo "perf profile: $OUT/perf.txt"
    fi
}

# Runs the SIPp load processes already started (SIPP_PIDS), waits for them,
# reports the switch's CPU and RSS over the run and the SIPp totals.
measure_and_report() { # label names...
    local label=$1
    shift
    local c0 c1 s0 s1 wall
    local b0 b1 sipp_cpu=0
    c0=$(ticks "$SWITCH_PID")
    b0=$(busy_ticks)
    local a0=0 a1=0 p
    for p in "${AGENT_PIDS[@]}"; do a0=$((a0 + $(ticks "$p"))); done
    s0=$(now)
    for p in "${SIPP_PIDS[@]}"; do wait "$p" || true; done
    s1=$(now)
    c1=$(ticks "$SWITCH_PID")
    b1=$(busy_ticks)
    for p in "${AGENT_PIDS[@]}"; do a1=$((a1 + $(ticks "$p"))); done
    sipp_cpu=$(echo "($a1 - $a0) / $HZ" | bc -l)
    wall=$(echo "$s1 - $s0" | bc -l)
    local total_ok=0 total_fail=0 total_retr=0 total_created=0 line
    printf '%-10s %9s %9s %7s %8s %9s %7s %7s %9s %s\n' sipp created success failed retrans elapsed unexp maxudp "cpu_s/wall" "response time (ms bucket:count)"
    for n in "$@"; do
        read -r created ok fail retr el unexp maxudp rtd cur rej ooc dead < <(sipp_stats "$OUT/$n.stat.csv")
        read -r u s e < <(tail -1 "$OUT/$n.time") || true
        printf '%-10s %9s %9s %7s %8s %9s %7s %7s %9s %s\n' "$n" "$created" "$ok" "$fail" "$retr" "$el" "$unexp" "$maxudp" "$(echo "${u:-0} + ${s:-0}" | bc)/${e:-?}" "$rtd"
        sipp_cpu=$(echo "$sipp_cpu + ${u:-0} + ${s:-0}" | bc)
        total_ok=$((total_ok + ok))
        total_fail=$((total_fail + fail))
        total_retr=$((total_retr + retr))
        total_created=$((total_created + created))
    done
    local cpu
    cpu=$(echo "($c1 - $c0) * 100 / $HZ / $wall" | bc -l)
    local peak
    peak=$(awk '{print $3}' "$OUT/switch.samples" | sort -n | tail -1)
    printf 'RESULT %s: created=%d ok=%d failed=%d retrans=%d wall=%.1fs ok/s=%.0f switch_cpu=%.0f%% (peak 1s %s%%) switch_rss_end=%dMB switch_rss_peak=%dMB\n' \
        "$label" "$total_created" "$total_ok" "$total_fail" "$total_retr" "$wall" \
        "$(echo "$total_ok / $wall" | bc -l)" "$cpu" "${peak:-?}" \
        "$(($(rss_kb "$SWITCH_PID") / 1024))" "$(($(hwm_kb "$SWITCH_PID") / 1024))"
    echo "uptime: $(uptime)"
    # Other work on the machine: a 2 s top taken 8 s into the run.
    if [[ -s $OUT/top.txt ]]; then
        echo "top 8 s into the run (CPU%, 100% = one core):"
        awk '/^top -/{n++} n==2' "$OUT/top.txt" | awk '/^ *PID/{p=1; next} p && $9+0 >= 5 {printf "  %5s%% %s\n", $9, $12}' | head -8
    fi
    # UDP receive-buffer drops per local socket (ss skmem d<N>), last sample.
    if [[ -s $OUT/udp.samples ]]; then
        echo "udp drops (local addr: dropped datagrams; switch is :$SIP_PORT):"
        awk '{match($3, /,d[0-9]+/); d=substr($3, RSTART+2, RLENGTH-2)+0; if (!($2 in min)) min[$2]=d; if (d > max[$2]) max[$2]=d} END {for (a in max) if (max[a] > min[a]) print "  " a ": " max[a] - min[a]}' "$OUT/udp.samples"
    fi
}

case $MODE in
options)
    RATE=${1:?rate}
    SECS=${2:?secs}
    PROCS=${3:-1}
    start_switch 1
    start_sampler
    start_perf
    names=()
    per=$((RATE / PROCS))
    for i in $(seq "$PROCS"); do
        take_port; lp=$PORT
        sipp_bg "options$i" "127.0.0.1:$SIP_PORT" -sf "$SCEN/options_load.xml" -t u1 -p "$lp" \
            -r "$per" -rp 1000 -m $((per * SECS)) -l $((per * 5)) -timeout "$((SECS + 40))s"
        names+=("options$i")
    done
    measure_and_report "options rate=$RATE/s x ${SECS}s procs=$PROCS" "${names[@]}"
    stop_perf
    ;;
register)
    RATE=${1:?rate}
    SECS=${2:?secs}
    PROCS=${3:-1}
    USERS=${4:-10000}
    start_switch "$USERS"
    start_sampler
    start_perf
    names=()
    per=$((RATE / PROCS))
    for i in $(seq "$PROCS"); do
        take_port; lp=$PORT
        sipp_bg "register$i" "127.0.0.1:$SIP_PORT" -sf "$SCEN/register_load.xml" -t u1 -p "$lp" \
            -inf "$OUT/users.csv" -key domain 127.0.0.1 -key expires 3600 \
            -r "$per" -rp 1000 -m $((per * SECS)) -l $((per * 5)) -timeout "$((SECS + 40))s"
        names+=("register$i")
    done
    measure_and_report "register rate=$RATE/s x ${SECS}s procs=$PROCS users=$USERS" "${names[@]}"
    echo "registrations: $(metric sip_registrations)"
    stop_perf
    ;;
calls)
    RATE=${1:?rate}
    SECS=${2:?secs}
    PROCS=${3:-1}
    AGENTS=${4:-1}
    HOLD=${5:-1000}
    start_switch "$AGENTS" 100000
    # Register each agent from its own port, then answer calls on that port.
    agent_ports=()
    for a in $(seq 0 $((AGENTS - 1))); do
        ext=$((20000 + a))
        register_agent "$ext" "agent$a"
        agent_ports+=("$AGENT_PORT")
    done
    echo "registrations: $(metric sip_registrations)"
    per=$((RATE / PROCS))
    total_per_agent=()
    for a in $(seq 0 $((AGENTS - 1))); do total_per_agent+=(0); done
    for i in $(seq 0 $((PROCS - 1))); do
        a=$((i % AGENTS))
        total_per_agent[a]=$((total_per_agent[a] + per * SECS))
    done
    anames=()
    for a in $(seq 0 $((AGENTS - 1))); do
        # Agents: -m so that they end once every expected call is done.
        sipp_bg "agent$a" -sf "$SCEN/agent_load.xml" -t u1 -p "${agent_ports[a]}" -key ext $((20000 + a)) \
            -m "${total_per_agent[a]}" -timeout "$((SECS + HOLD / 1000 + 60))s"
        anames+=("agent$a")
    done
    AGENT_PIDS=("${SIPP_PIDS[@]}")
    SIPP_PIDS=()
    sleep 0.5
    start_sampler
    start_perf
    names=()
    for i in $(seq 0 $((PROCS - 1))); do
        take_port; lp=$PORT
        sipp_bg "caller$i" "127.0.0.1:$SIP_PORT" -sf "$SCEN/caller_load.xml" -t u1 -p "$lp" \
            -s $((20000 + i % AGENTS)) -d "$HOLD" \
            -r "$per" -rp 1000 -m $((per * SECS)) -l $((per * (HOLD / 1000 + 10))) -timeout "$((SECS + HOLD / 1000 + 50))s"
        names+=("caller$i")
    done
    measure_and_report "calls rate=$RATE/s x ${SECS}s callers=$PROCS agents=$AGENTS hold=${HOLD}ms" "${names[@]}"
    stop_perf
    # Give the agents a moment to finish their last calls, then report them.
    for _ in $(seq 20); do
        alive=0
        for p in "${AGENT_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.5
    done
    for p in "${AGENT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for a in "${anames[@]}"; do
        read -r created ok fail retr el unexp maxudp rtd cur rej ooc dead < <(sipp_stats "$OUT/$a.stat.csv")
        echo "agent $a: calls=$created ok=$ok failed=$fail retrans=$retr unexpected=$unexp current=$cur out_of_call=$ooc"
    done
    echo "calls_active: $(metric calls_active) transactions: $(metric sip_transactions)"
    ;;
mem-contacts)
    N=${1:?n}
    RATE=${2:-1000}
    T=${3:-u1}
    start_switch "$N"
    sleep 2
    r0=$(rss_kb "$SWITCH_PID")
    echo "rss before: $r0 kB (N=$N agents configured, none registered)"
    take_port; lp=$PORT
    sipp_bg "register" "127.0.0.1:$SIP_PORT" -sf "$SCEN/register_load.xml" -t "$T" -p "$lp" \
        -inf "$OUT/users.csv" -key domain 127.0.0.1 -key expires 3600 \
        -r "$RATE" -m "$N" -timeout 120s
    wait "${SIPP_PIDS[@]}" || true
    read -r created ok fail retr _ < <(sipp_stats "$OUT/register.stat.csv")
    echo "registered: ok=$ok failed=$fail retrans=$retr; rss right after: $(rss_kb "$SWITCH_PID") kB; transactions $(metric sip_transactions)"
    [[ $T == u1 ]] && sleep 40 || sleep 3
    r1=$(rss_kb "$SWITCH_PID")
    regs=$(metric sip_registrations)
    echo "after drain: rss $r1 kB registrations $regs transactions $(metric sip_transactions)"
    printf 'RESULT mem-contacts N=%d transport=%s: rss %d -> %d kB, delta %d kB, %.0f bytes per contact\n' \
        "$N" "$T" "$r0" "$r1" $((r1 - r0)) "$(echo "($r1 - $r0) * 1024 / $regs" | bc -l)"
    ;;
mem-dialogs)
    # Two batches of N held calls. The first batch's RSS delta includes the
    # allocator's high-water mark from the INVITE/ACK transactions (freed after
    # Timer J/L etc. but not returned to the OS); the second batch reuses that
    # freed memory for its transactions, so its delta is closer to the memory
    # that established calls keep.
    N=${1:?n}
    RATE=${2:-250}
    start_switch 1 $((2 * N + 1000))
    register_agent 20000 agent
    ap=$AGENT_PORT
    sleep 2
    r0=$(rss_kb "$SWITCH_PID")
    echo "rss before: $r0 kB (agent registered, no calls)"
    sipp_bg agent -sf "$SCEN/agent_load.xml" -t u1 -p "$ap" -key ext 20000 -m $((2 * N)) -timeout 600s
    rs=("$r0")
    for batch in 1 2; do
        take_port; lp=$PORT
        sipp_bg "caller$batch" "127.0.0.1:$SIP_PORT" -sf "$SCEN/caller_load.xml" -t u1 -p "$lp" -s 20000 -d 600000 \
            -r "$RATE" -m "$N" -l "$N" -timeout 600s
        for _ in $(seq 300); do
            a=$(metric calls_active)
            [[ ${a%.*} -ge $((batch * N)) ]] && break
            sleep 1
        done
        echo "batch $batch: calls_active $(metric calls_active); rss $(rss_kb "$SWITCH_PID") kB transactions $(metric sip_transactions)"
        sleep 40
        r=$(rss_kb "$SWITCH_PID")
        rs+=("$r")
        echo "batch $batch after drain: rss $r kB calls_active $(metric calls_active) transactions $(metric sip_transactions)"
        read -r created ok fail retr el unexp maxudp rtd cur _ < <(sipp_stats "$OUT/caller$batch.stat.csv")
        echo "caller$batch: created=$created current=$cur failed=$fail retrans=$retr"
    done
    printf 'RESULT mem-dialogs N=%d: rss %d -> %d -> %d kB; first batch %.0f bytes per call, second batch %.0f bytes per call (a call = 2 dialogs)\n' \
        "$N" "${rs[0]}" "${rs[1]}" "${rs[2]}" "$(echo "(${rs[1]} - ${rs[0]}) * 1024 / $N" | bc -l)" \
        "$(echo "(${rs[2]} - ${rs[1]}) * 1024 / $N" | bc -l)"
    ;;
*)
    echo "unknown mode $MODE" >&2
    exit 2
    ;;
esac

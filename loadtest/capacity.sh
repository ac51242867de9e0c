#!/usr/bin/env bash
# One capacity run against a release build of the switch, on this machine:
# starts `switchboard serve --config CONFIG`, runs the tester with the rest of
# the arguments, samples both processes' CPU (utime+stime from /proc/PID/stat)
# and memory (VmRSS, VmHWM) every second, and afterwards compares the
# tester's answer time with the switch's call records (first_agent_audio
# minus enqueued, or minus the IVR's end the tester saw for calls without a
# queue), then stops the switch. Recordings older than a minute are deleted
# during the run so long runs do not fill the disk (their bytes are counted).
#
#   loadtest/capacity.sh CONFIG TESTER_ARGS...
#   loadtest/capacity.sh loadtest/scenarios/capacity_switch.toml \
#       loadtest/scenarios/capacity.toml --rate 20 --duration 30 --max-failed 0.1%
#
# BIN: where the release binaries are (default target/release);
# OUT: results (default target/capacity-out/<time>). Run from the repository root.
set -euo pipefail
CONFIG=${1:?switch config}
shift
BIN=${BIN:-target/release}
OUT=${OUT:-target/capacity-out/$(date +%H%M%S)}
mkdir -p "$OUT"
RECDIR=$(sed -n 's/^dir = "\(.*\)"/\1/p' "$CONFIG" | head -1)
DB=$(sed -n 's/^path = "\(.*\)"/\1/p' "$CONFIG" | head -1)
HTTP=$(sed -n 's/^listen = "\(.*\)"/\1/p' "$CONFIG" | head -1)
TOKEN=$(sed -n 's/^token = "\(.*\)"/\1/p' "$CONFIG" | head -1)
# Only what lives under target/ is ours to clear.
for p in "$RECDIR" "$DB"; do
    [[ $p == target/* ]] || { echo "$CONFIG: recordings and database must be under target/ (got '$p')" >&2; exit 2; }
done
rm -rf "${RECDIR:?}" "${DB:?}" "$DB"-*
echo "date: $(date -u)" | tee "$OUT/run.txt"
echo "before: $(uptime)" | tee -a "$OUT/run.txt"

"$BIN/switchboard" serve --config "$CONFIG" >"$OUT/switch.log" 2>&1 &
SW=$!
cleanup() { kill "$SW" 2>/dev/null || true; [[ -n ${LT:-} ]] && kill "$LT" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do
    curl -sf "http://$HTTP/health" >/dev/null && break
    sleep 0.2
done

"$BIN/switchboard-loadtest" "$@" --json "$OUT/results.json" --html "$OUT/report.html" >"$OUT/tester.txt" 2>"$OUT/progress.txt" &
LT=$!
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Busy ticks of the whole machine (user, nice, system, irq, softirq, steal).
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
mem() { awk '/VmRSS|VmHWM/ {printf "%s ", $2}' "/proc/$1/status" 2>/dev/null; }
echo "t switch_cpu_ticks tester_cpu_ticks switch_hwm_kb switch_rss_kb tester_hwm_kb tester_rss_kb rec_bytes_deleted machine_busy_ticks" >"$OUT/samples.txt"
t=0
deleted=0
while kill -0 "$LT" 2>/dev/null; do
    if [[ -n $RECDIR && -d $RECDIR ]] && (( t % 10 == 0 )); then
        # Files come and go meanwhile: find's complaints are not failures.
        b=$( (find "$RECDIR" -type f -mmin +1 -printf '%s\n' 2>/dev/null || true) | awk '{s += $1} END {print s + 0}')
        find "$RECDIR" -type f -mmin +1 -delete 2>/dev/null || true
        deleted=$((deleted + b))
    fi
    echo "$t $(cpu "$SW") $(cpu "$LT") $(mem "$SW")$(mem "$LT")$deleted $(busy)" >>"$OUT/samples.txt"
    sleep 1
    t=$((t + 1))
done
wait "$LT" && code=0 || code=$?
LT=
echo "tester exit code: $code" | tee -a "$OUT/run.txt"
echo "after: $(uptime)" | tee -a "$OUT/run.txt"
left=$( [[ -n $RECDIR && -d $RECDIR ]] && du -sb "$RECDIR" | cut -f1 || echo 0)
echo "recordings: $((deleted + left)) bytes written ($(find "$RECDIR" -name '*.wav' 2>/dev/null | wc -l) wav files left)" | tee -a "$OUT/run.txt"
curl -sf -H "Authorization: Bearer $TOKEN" "http://$HTTP/api/calls?window=1h" >"$OUT/calls.json" || echo '{"calls": []}' >"$OUT/calls.json"
python3 - "$OUT" "$ticks" <<'PY' | tee -a "$OUT/run.txt"
import json, sys
out, ticks = sys.argv[1], int(sys.argv[2])
res = json.load(open(f"{out}/results.json"))
s = res["summary"]
rows = [l.split() for l in open(f"{out}/samples.txt").read().splitlines()[1:]]
rows = [r for r in rows if len(r) >= 9]
def col(i): return [int(r[i]) for r in rows]
t = len(rows)
sw, lt = col(1), col(2)
def peak(c): return max((b - a for a, b in zip(c, c[1:])), default=0) / ticks * 100
started = s.get("started", 0)
print(f"samples: {t} s; calls started {started}, completed {s.get('completed')}, failed {s.get('failed')} "
      f"({s.get('failed_percent')}%), abandoned {s.get('abandoned')}, peak concurrent {s.get('peak_concurrent')}, "
      f"achieved {s.get('achieved_cps')}/s; failures {s.get('failures')}")
for name, c, hwm, rss in (("switch", sw, col(3), col(4)), ("tester", lt, col(5), col(6))):
    secs = (c[-1] - c[0]) / ticks if c else 0
    print(f"{name}: CPU {secs:.1f} s over {t} s = {100 * secs / max(t, 1):.0f}% of a core on average, "
          f"peak 1 s {peak(c):.0f}%; {1000 * secs / max(started, 1):.2f} ms CPU per call; "
          f"RSS first {rss[0] // 1024 if rss else 0} MB, peak {max(hwm) // 1024 if hwm else 0} MB "
          f"({(max(hwm) - rss[0]) / max(s.get('peak_concurrent') or 1, 1):.0f} KB per call at the peak concurrency)")
m = col(8)
if m:
    other = ((m[-1] - m[0]) - (sw[-1] - sw[0]) - (lt[-1] - lt[0])) / ticks
    print(f"everything else on the machine: {100 * other / max(t, 1):.0f}% of a core on average "
          f"(the machine has 200%)")
for k in ("setup_200_ms", "answer_ms", "latency_to_caller_ms", "latency_to_agent_ms", "jitter_ms"):
    p = s.get(k) or {}
    print(f"{k}: n {p.get('count')} p50 {p.get('p50')} p99 {p.get('p99')} max {p.get('max')}")
callsecs = sum(max(x.get("concurrent", 0), 0) for x in res.get("timeline", []))
print(f"rtp: expected {s.get('rtp_expected')} lost {s.get('rtp_lost')} ({s.get('rtp_loss_percent')}%); "
      f"{(s.get('rtp_expected') or 0) / max(callsecs, 1):.1f} packets received per call-second "
      f"(a call whose caller and agent both hear 50 packets/s for its whole length: 100); "
      f"tester sent {s.get('rtp_sent')} of {s.get('rtp_scheduled')} packets scheduled "
      f"({100 * (s.get('rtp_sent') or 0) / max(s.get('rtp_scheduled') or 1, 1):.1f}%)")
recs = {r["caller"]: r for r in json.load(open(f"{out}/calls.json")).get("calls", [])}
def mark(r, kind):
    return next((m["at"] for m in r["marks"] if m["what"]["kind"] == kind), None)
diffs = []
for c in res.get("calls", []):
    r = recs.get(c["caller"])
    if r is None or c.get("answer_ms") is None:
        continue
    heard, enq = mark(r, "first_agent_audio"), mark(r, "enqueued")
    if heard is None or enq is None:
        continue
    diffs.append(c["answer_ms"] - (heard - enq))
if diffs:
    a = sorted(abs(d) for d in diffs)
    print(f"answer time, tester minus call record, {len(diffs)} calls: mean {sum(diffs) / len(diffs):+.2f} ms, "
          f"|diff| p50 {a[len(a) // 2]:.2f} p99 {a[min(len(a) - 1, int(len(a) * 0.99))]:.2f} max {a[-1]:.2f} ms, "
          f"within 5 ms: {sum(1 for x in a if x <= 5)}")
else:
    print(f"answer time: no call to compare ({len(recs)} records)")
PY
tail -5 "$OUT/tester.txt"

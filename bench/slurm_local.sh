#!/bin/bash
# The Slurm launcher for real, on this one machine: start munge and a one-node Slurm (Debian's
# slurm-wlm), grade 40 submissions (copies of examples/ and solution/) as a 4-task array with
# launchers/slurm/submit.sh, merge, grade the same 40 with one plain `grade`, and compare.
#   apt-get install -y slurm-wlm munge && bash bench/slurm_local.sh [--keep]
# Prints each step's wall time and "merged == single: yes" or the differing lines. Stops the
# daemons it started. GRADE_ARGS defaults to --no-training; COPIES (default 10) sets the class size.
# On a crowded machine a 20 s import limit can fire in one run and not in the other (same points,
# another message): give both runs room, e.g. REGLAB_IMPORT_TIMEOUT=120 REGLAB_PROBE_TIMEOUT=120.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/reglab-slurm.XXXXXX)}
GRADE_ARGS=${GRADE_ARGS:---no-training}
export PYTHONUNBUFFERED=1
export REGLAB_SECRET_SEED=${REGLAB_SECRET_SEED:-slurm-local-bench}  # shards and the single run draw the same inputs
node=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
t() { date +%s.%N; }
since() { python3 -c "print(f'{$(t) - $1:.1f} s')"; }
pids=()
cleanup() {
    scancel --quiet --user="$(id -un)" 2>/dev/null
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
}
trap cleanup EXIT

for tool in munged mungekey slurmctld slurmd sbatch; do
    command -v "$tool" >/dev/null || { echo "cannot run: $tool is not installed (apt-get install -y slurm-wlm munge)"; exit 3; }
done

# --- munge: a key of our own, a socket of our own (nothing system-wide is touched)
mkdir -p "$WORK/munge" && chmod 700 "$WORK/munge"
mungekey --create --keyfile="$WORK/munge/munge.key" --force 2>/dev/null || dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$WORK/munge/munge.key"
munged --key-file="$WORK/munge/munge.key" --socket="$WORK/munge/munge.socket" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" --seed-file="$WORK/munge/seed" \
    --force --foreground 2>> "$WORK/munge/munged.log" & pids+=($!)
sleep 1

# --- a one-node cluster: no cgroups (containers rarely allow them), linuxproc process tracking
mkdir -p "$WORK/slurm/spool" "$WORK/slurm/state" "$WORK/slurm/log"
cat > "$WORK/slurm/slurm.conf" <<CONF
ClusterName=reglab
SlurmctldHost=$node(127.0.0.1)
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORK/munge/munge.socket
SlurmctldPort=26817
SlurmdPort=26818
StateSaveLocation=$WORK/slurm/state
SlurmdSpoolDir=$WORK/slurm/spool
SlurmctldPidFile=$WORK/slurm/slurmctld.pid
SlurmdPidFile=$WORK/slurm/slurmd.pid
SlurmctldLogFile=$WORK/slurm/log/slurmctld.log
SlurmdLogFile=$WORK/slurm/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF=$WORK/slurm/slurm.conf
slurmctld -D -i -f "$SLURM_CONF" > "$WORK/slurm/log/slurmctld.out" 2>&1 & pids+=($!)
sleep 2
slurmd -D -N "$node" -f "$SLURM_CONF" > "$WORK/slurm/log/slurmd.out" 2>&1 & pids+=($!)
for _ in $(seq 30); do
    sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && break
    sleep 1
done
echo "== sinfo"; sinfo || { echo "cannot run: slurmctld did not come up"; tail -n 20 "$WORK"/slurm/log/*; exit 4; }
sinfo -h -o %T | grep -qE '^(idle|mixed|allocated)' || {
    echo "cannot run: the node never became idle"; tail -n 20 "$WORK"/slurm/log/slurmd.log "$WORK"/slurm/log/*.out; exit 4; }

# --- 40 submissions (COPIES=10) : copies each of examples/{complete,half_done,typical_mistakes} and solution/
subs=$WORK/subs
mkdir -p "$subs"
for i in $(seq -w 1 "${COPIES:-10}"); do
    for src in examples/complete examples/half_done examples/typical_mistakes solution; do
        name=$(basename "$src")-$i
        mkdir -p "$subs/$name"
        cp "$ROOT/$src"/{penalties,model,data,train}.py "$subs/$name/" 2>/dev/null
    done
done
echo "== $(ls "$subs" | wc -l) submissions in $subs; grade options: $GRADE_ARGS"

# --- the array job through the shipped launcher (N=4; each task --jobs = its 1 CPU... shared)
s=$(t)
# shellcheck disable=SC2086
out=$("$ROOT/launchers/slurm/submit.sh" "$subs" "$WORK/sharded" 4 $GRADE_ARGS) || { echo "sbatch failed: $out"; exit 5; }
echo "$out"
merge_id=$(echo "$out" | sed -n 's/.*merge job \([0-9]*\).*/\1/p')
while squeue -h -j "$merge_id" 2>/dev/null | grep -q .; do sleep 5; done
sacct_state=$(scontrol show job "$merge_id" 2>/dev/null | grep -o 'JobState=[A-Z]*' || true)
echo "== Slurm: 4-task array + merge: $(since "$s") wall ($sacct_state)"
for f in "$WORK"/sharded/reglab-grade-*.out; do echo "-- $(basename "$f"): $(grep -c '^\[' "$f") graded; $(tail -n 1 "$f")"; done
cat "$WORK"/sharded/reglab-merge-*.out

# --- the same batch on one machine, one plain grade
s=$(t)
# shellcheck disable=SC2086
(cd "$ROOT" && python3 -m grader grade "$subs" --out "$WORK/single" --jobs "$cpus" $GRADE_ARGS > "$WORK/single.log" 2>&1)
echo "== single-machine grade --jobs $cpus: $(since "$s") wall; $(tail -n 1 "$WORK/single.log")"

# --- compare: every class file and every results.json, seconds taken out
python3 - "$WORK/sharded/class" "$WORK/single" <<'PY'
import re, sys
from pathlib import Path
a, b = map(Path, sys.argv[1:])
# Only timings may differ (per check, per submission, per class).
scrub = lambda s: re.sub(r'"(duration|execution_time|elapsed)": ?[\d.]+|time="[\d.]+"|,\d+\.\d\r?$', "T", s, flags=re.M)
names = ["grades.csv", "junit.xml"] + sorted(str(p.relative_to(b)) for p in b.glob("*/results.json"))
bad = [n for n in names if not (a / n).is_file() or scrub((a / n).read_text()) != scrub((b / n).read_text())]
print(f"== compared {len(names)} files: merged == single: {'yes' if not bad else 'NO: ' + ', '.join(bad[:5])}")
print((a / "grades.csv").read_text().splitlines()[0])
sys.exit(1 if bad else 0)
PY
rc=$?
[ "${1:-}" = "--keep" ] && echo "kept $WORK" || rm -rf "$WORK"
exit $rc

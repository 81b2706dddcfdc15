#!/usr/bin/env bash
# The Slurm scripts in deploy/slurm/ run a campaign on a real Slurm.
#
# The test makes a one-node cluster of its own: a munge key and munged on
# a private socket, a slurm.conf with its own state, spool and log
# directories and free ports, slurmctld and slurmd, all as the user that
# runs the test, found through SLURM_CONF. Its plugins need neither
# systemd nor cgroups (proctrack/linuxproc, task/none, no accounting), so
# it runs in a container. Then, on that cluster: emc-campaign.sbatch runs a
# small campaign to the end and its job output shows the results; while
# the campaign runs, emc-workers.sbatch adds a second pool from the
# endpoint file, and the coordinator lists workers of both jobs;
# `scancel --signal=TERM` on the pool's job drains its worker (it says
# bye, and its attempts end done or preempted, never lost); a pool that
# joins late stops by itself when the campaign is done. Every daemon
# and process the test started is stopped at the end, also on failure.
# Speaks TAP.
#
# usage: test_slurm.sh COORDINATOR WORKER EMCCTL MKIDX
set -euo pipefail

COORD="$(realpath "$1")" WORKER="$(realpath "$2")" EMCCTL="$(realpath "$3")" MKIDX="$4"
slurmdir="${EMC_SOURCE_ROOT:-$(dirname "${BASH_SOURCE[0]}")/..}/deploy/slurm"
slurmdir="$(realpath "$slurmdir")"
work="$(mktemp -d /tmp/emc-slurm-XXXXXX)"
pids=()
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export SLURM_CONF="$work/slurm.conf"
node=emc1

pid_of() { [[ -s "$1" ]] && cat "$1"; }
# Jobs first (their steps are slurmstepd processes, children of nobody we
# started), then the daemons, then anything still holding a file of $work.
stop_cluster() {
  local p deadline
  if [[ -s "$work/run/slurmctld.pid" ]]; then
    scancel --full --signal=KILL --quiet --user="$(id -un)" 2>/dev/null || true
    deadline=$((SECONDS + 15))
    while [[ -n "$(squeue -h -t running,pending,completing 2>/dev/null)" ]] && ((SECONDS < deadline)); do sleep 0.5; done
  fi
  for f in slurmd slurmctld munged; do
    p="$(pid_of "$work/run/$f.pid" || true)"
    [[ -n "$p" ]] || continue
    kill -TERM "$p" 2>/dev/null || true
    wait_gone "$p" 10 || kill -KILL "$p" 2>/dev/null || true
  done
  for p in /proc/[0-9]*; do
    [[ "${p#/proc/}" != "$$" ]] || continue
    if [[ "$(readlink "$p/cwd" 2>/dev/null)" == "$work"* ]] ||
      find "$p/fd" -maxdepth 1 -lname "$work*" 2>/dev/null | grep -q .; then
      kill -KILL "${p#/proc/}" 2>/dev/null || true
    fi
  done
}
cleanup() {
  cd /
  stop_cluster
  reap_and_clean "${KEEP:-}"
}
trap cleanup EXIT

echo "1..9"
for prog in munged mungekey slurmctld slurmd sbatch scancel squeue scontrol; do
  if ! command -v "$prog" >/dev/null; then
    echo "Bail out! $prog is not installed (scripts/setup.sh installs slurm-wlm and munge)"
    exit 1
  fi
done

# ---- the cluster -------------------------------------------------------------------
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/log" "$work/run" "$work/job"
chmod 0700 "$work/munge"
mungekey --create --keyfile="$work/munge/munge.key" --bits=1024
munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/socket" \
  --pid-file="$work/run/munged.pid" --log-file="$work/log/munged.log" --seed-file="$work/munge/seed" 2>>"$work/log/munged.log"

ctld_port="$(free_port)" slurmd_port="$(free_port)"
while [[ $slurmd_port == "$ctld_port" ]]; do slurmd_port="$(free_port)"; done
cat >"$SLURM_CONF" <<CONF
ClusterName=emctest
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=10
NodeName=$node NodeHostname=$(hostname -s) NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -i
slurmd -N "$node"
node_idle() { [[ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" == idle ]]; }
if wait_for 30 node_idle; then
  ok "munged, slurmctld and slurmd run as $(id -un), and node $node is idle"
else
  not_ok "the one-node cluster did not come up within 30 s" \
    "$(tail -n 5 "$work/log/slurmctld.log" "$work/log/slurmd.log" 2>&1)"
  exit 1
fi

# ---- the campaign ------------------------------------------------------------------
# Trials that cannot fit (a vanishing learning rate, no plateau stop) and
# stop on their wall-time budget: each takes 2 s, about 16 of them.
"$MKIDX" --out "$work/data" --n 300 --classes 3 --rows 5 --cols 5 --seed 3 --noise 0.8
cat >"$work/campaign.yaml" <<YAML
name: slurm
dataset:
  format: idx
  images: $work/data/images.idx
  labels: $work/data/labels.idx
model:
  family: mlp
  widths: [[2], [3], [4], [5]]
  activation: relu
optimizer:
  name: adam
  lr: 0.000000001
  batch: 32
seeds: [0]
search:
  start: 8
  precision: 0.25
budget:
  max_epochs: 0
  max_seconds: 2
  plateau_epochs: 0
YAML

export EMC_COORDINATOR="$COORD" EMC_WORKER="$WORKER" EMCCTL="$EMCCTL"
EMC_PORT="$(free_port)"
export EMC_PORT EMC_CONTROL="ipc://$work/control.ipc" EMC_DRAIN_SECONDS=5
db="$work/job/emc/emc.db"
t0=$SECONDS
cd "$work/job"
campaign="$(sbatch --parsable --cpus-per-task=1 --time=5 "$slurmdir/emc-campaign.sbatch" "$work/campaign.yaml")"
cout="$work/job/emc-campaign-$campaign.out"

welcomed() { sed -nE 's/.*worker INFO: welcomed as worker ([0-9]+).*/\1/p' "$1" 2>/dev/null | head -n 1; }
first_joined() { [[ -s "$work/job/emc/endpoint" && -n "$(welcomed "$cout")" ]]; }
if wait_for 30 first_joined; then
  ok "the campaign job wrote its endpoint ($(cat "$work/job/emc/endpoint")) and its worker joined"
else
  not_ok "the campaign job's coordinator or worker did not start within 30 s" "$(tail -n 5 "$cout" 2>&1)"
fi

# ---- a second pool -------------------------------------------------------------------
# The campaign is paused while the pool joins (its workers stay connected),
# so that it cannot finish before a slow sbatch start gets the pool in.
"$EMCCTL" pause slurm --coordinator "$EMC_CONTROL" >/dev/null
pool="$(sbatch --parsable --array=0-0 --cpus-per-task=1 --time=5 "$slurmdir/emc-workers.sbatch")"
pout="$work/job/emc-workers-${pool}_0.out"
# Both: the coordinator lists two workers, and the pool's worker has
# logged its welcome (the listing can come first).
two_listed() {
  [[ "$("$EMCCTL" workers --coordinator "$EMC_CONTROL" | grep -c "$(hostname -s)")" -ge 2 &&
    -n "$(welcomed "$pout")" && "$(welcomed "$pout")" != "$(welcomed "$cout")" ]]
}
if wait_for 30 two_listed; then
  ok "the job array's pool joins: emcctl workers lists workers $(welcomed "$cout") (campaign job) and $(welcomed "$pout") (array job $pool)"
else
  not_ok "no second worker from the array job" "$("$EMCCTL" workers --coordinator "$EMC_CONTROL" 2>&1)" \
    "$(tail -n 5 "$pout" 2>&1)"
fi
"$EMCCTL" resume slurm --coordinator "$EMC_CONTROL" >/dev/null
w2="$(welcomed "$pout")"
w2_running() { [[ "$(qd "$db" "SELECT count(*) FROM attempts WHERE worker_id = ${w2:-0} AND state = 'running'")" -ge 1 ]]; }
if [[ -n "$w2" ]] && wait_for 20 w2_running; then
  ok "the second pool's worker $w2 trains a trial of the campaign"
else
  not_ok "the second pool's worker never ran a trial"
fi

# ---- scancel --signal=TERM drains it ---------------------------------------------------
scancel --signal=TERM "$pool"
pool_gone() { [[ -z "$(squeue -h -j "$pool" 2>/dev/null)" ]]; }
if wait_for $((EMC_DRAIN_SECONDS + 15)) pool_gone && grep -q 'worker INFO: draining' "$pout" &&
  grep -q "worker $w2 .*said bye" "$cout"; then
  ok "scancel --signal=TERM: the pool's worker drains, says bye, and its job ends"
else
  not_ok "the pool's worker did not drain cleanly" "$(tail -n 5 "$pout" 2>&1)" "$(grep -i bye "$cout" 2>&1)"
fi
states="$(qd "$db" "SELECT group_concat(state, ' ') FROM attempts WHERE worker_id = ${w2:-0} AND state NOT IN ('done', 'preempted')")"
if [[ -n "$w2" && -z "$states" ]]; then
  ok "its attempts ended done or preempted: $(qd "$db" "SELECT group_concat(state || ' ' || n, ', ') FROM (SELECT a.state, count(*) AS n FROM attempts a WHERE worker_id = $w2 GROUP BY a.state)")"
else
  not_ok "the drained worker's attempts: ${states:-none}"
fi

# A pool that outlives its campaign stops by itself: it watches the endpoint file.
pool2="$(sbatch --parsable --array=1-1 --cpus-per-task=1 --time=5 "$slurmdir/emc-workers.sbatch")"
p2out="$work/job/emc-workers-${pool2}_1.out"
p2_joined() { [[ -n "$(welcomed "$p2out")" ]]; }
wait_for 30 p2_joined || true

# ---- the campaign ends ----------------------------------------------------------------
job_state() { scontrol show job -o "$1" 2>/dev/null | grep -oE 'JobState=[A-Z]+' | cut -d= -f2; }
campaign_ended() { [[ "$(job_state "$campaign")" == COMPLETED || "$(job_state "$campaign")" == FAILED ]]; }
wait_for 120 campaign_ended || true
if [[ "$(job_state "$campaign")" == COMPLETED && "$(qd "$db" "SELECT state FROM campaigns WHERE name = 'slurm'")" == "done" ]]; then
  ok "the campaign job completes in $((SECONDS - t0)) s and the campaign is done in its database"
else
  not_ok "campaign job: $(job_state "$campaign")" "$(tail -n 8 "$cout" 2>&1)"
fi
if grep -qE '^campaign +cell ' "$cout" && [[ "$(grep -cE '^slurm +[0-9]+ ' "$cout")" == 4 ]] &&
  [[ ! -e "$work/job/emc/endpoint" ]]; then
  ok "its output shows emcctl results (4 cells), and the endpoint file is gone"
  sed -n '/^campaign  *cell /,$p' "$cout" | sed 's/^/# /'
else
  not_ok "no results in the campaign job's output" "$(tail -n 8 "$cout" 2>&1)"
fi

pool2_gone() { [[ -z "$(squeue -h -j "$pool2" 2>/dev/null)" ]]; }
if p2_joined && wait_for 30 pool2_gone && grep -q 'is gone; draining' "$p2out" &&
  grep -q 'workers ended (status 0)' "$p2out"; then
  ok "a pool that joined late drains and ends by itself once the campaign job removed the endpoint"
else
  not_ok "the late pool did not end by itself" "$(tail -n 5 "$p2out" 2>&1)"
fi

exit $((failures > 0))

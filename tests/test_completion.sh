#!/usr/bin/env bash
# The bash completion (deploy/completion/emcctl.bash) as bash calls it:
# COMP_WORDS and COMP_CWORD set, the function called, COMPREPLY checked.
# Commands after `emcctl `, a command's options after `--`, the formats
# after `--format `, file names for SPEC and --db, campaign names from a
# database, and the options of emc-coordinator and emc-worker. What is
# expected is read from the programs' own --help, as the completion reads
# it, so this test and the completion can only agree with the binaries.
# Speaks TAP.
#
# usage: test_completion.sh COORDINATOR WORKER EMCCTL MKIDX COMPLETION
set -uo pipefail

COORD="$1" WORKER="$2" EMCCTL="$3" MKIDX="$4" COMPLETION="$5"
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
work="$(mktemp -d)"
pids=()
trap 'reap_and_clean "${KEEP_WORK:-}"' EXIT

# shellcheck source=deploy/completion/emcctl.bash
source "$COMPLETION"

# complete FUNCTION WORD...: COMPREPLY for the command line WORD..., the
# cursor on the last word, sorted, one line.
complete_line() {
  local fn="$1"
  shift
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  "$fn"
  ((${#COMPREPLY[@]} == 0)) || printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' '; }
expect() { # expect DESCRIPTION WANT GOT
  if [[ $2 == "$3" ]]; then ok "$1"; else not_ok "$1" "want: $2" "got:  $3"; fi
}

mapfile -t commands < <("$EMCCTL" --help | awk '/^  [a-z]/ { print $1 }')
expect "emcctl <TAB>: every command of emcctl --help, help, --help, --version" \
  "$(sorted "${commands[@]}" help --help --version)" "$(complete_line _emcctl "$EMCCTL" "")"
expect "emcctl re<TAB>: the commands that start so" \
  "$(sorted reopen report resume results)" "$(complete_line _emcctl "$EMCCTL" re)"
expect "emcctl help <TAB>: the commands" "$(sorted "${commands[@]}")" "$(complete_line _emcctl "$EMCCTL" help "")"

for c in status results trials workers run; do
  mapfile -t want < <("$EMCCTL" help "$c" | head -1 | grep -oE -- '--[a-z][a-z0-9-]*')
  expect "emcctl $c --<TAB>: its options (${want[*]}) and --help" \
    "$(sorted "${want[@]}" --help)" "$(complete_line _emcctl "$EMCCTL" "$c" --)"
done
expect "emcctl results --format <TAB>: the formats" "$(sorted csv json table)" \
  "$(complete_line _emcctl "$EMCCTL" results --format "")"
expect "emcctl workers --coordinator X --format j<TAB>: json" "json " \
  "$(complete_line _emcctl "$EMCCTL" workers --coordinator ipc://x --format j)"
expect "emcctl pause --format <TAB> offers nothing (pause has no --format)" "" \
  "$(complete_line _emcctl "$EMCCTL" pause --format "")"

mkdir -p "$work/specs" "$work/keys"
touch "$work/specs/a.yaml" "$work/specs/b.yaml" "$work/study.db"
expect "emcctl run <TAB>: SPEC completes file names" "$(sorted "$work/specs/a.yaml" "$work/specs/b.yaml")" \
  "$(complete_line _emcctl "$EMCCTL" run "$work/specs/")"
expect "emcctl run SPEC --db <TAB>: file names" "$work/study.db " \
  "$(complete_line _emcctl "$EMCCTL" run "$work/specs/a.yaml" --db "$work/stu")"
expect "emcctl run SPEC <TAB>: no second SPEC" "" \
  "$(complete_line _emcctl "$EMCCTL" run --workers 2 "$work/specs/a.yaml" "$work/specs/")"
expect "emcctl keygen <TAB>: DIR completes directories" "$work/keys " \
  "$(complete_line _emcctl "$EMCCTL" keygen "$work/ke")"

# Campaign names: a coordinator that only registers two campaigns (no
# worker runs them), stopped once they are in the database.
"$MKIDX" --out "$work/data" --n 60 --classes 2 --rows 4 --cols 4 --seed 1 >/dev/null
for name in alpha beta; do
  cat >"$work/$name.yaml" <<YAML
name: $name
dataset:
  format: idx
  images: data/images.idx
  labels: data/labels.idx
model:
  family: mlp
  widths: [[2]]
  activation: relu
optimizer:
  name: sgd
  lr: 0.1
  batch: 8
seeds: [0]
budget:
  max_epochs: 10
YAML
done
# shellcheck disable=SC2317 # called through wait_for
registered() { test "$(sqlite3 "$work/emc.db" "SELECT count(*) FROM campaigns WHERE name = '$1'" 2>/dev/null)" = 1; }
for name in alpha beta; do
  timeout 30 "$COORD" --db "$work/emc.db" --bind "ipc://$work/w" --control "ipc://$work/emc.db.ctl" --insecure \
    --spec "$work/$name.yaml" --quiet &
  pid=$!
  pids+=("$pid")
  wait_for 20 registered "$name"
  kill -TERM "$pid"
  wait "$pid"
done
expect "emcctl trials --db DB <TAB>: the campaigns in DB" "alpha beta " \
  "$(complete_line _emcctl "$EMCCTL" trials --db "$work/emc.db" "")"
expect "emcctl results --db DB a<TAB>: alpha" "alpha " \
  "$(complete_line _emcctl "$EMCCTL" results --db "$work/emc.db" a)"
expect "emcctl pause <TAB> --coordinator ipc://DB.ctl: the campaigns of DB" "alpha beta " \
  "$(cd "$work" && complete_line _emcctl "$EMCCTL" pause --coordinator "ipc://$work/emc.db.ctl" "")"
expect "emcctl status <TAB> in a directory with emc.db: its campaigns" "alpha beta " \
  "$(cd "$work" && complete_line _emcctl "$EMCCTL" status "")"

# The daemons: every option their --help prints, and --help.
for p in "$COORD" "$WORKER"; do
  mapfile -t want < <("$p" --help | grep -oE -- '--[a-z][a-z0-9-]*')
  expect "$(basename "$p") --<TAB>: every option of its --help" \
    "$(sorted "${want[@]}" --help | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/^ //')" \
    "$(complete_line _emc_daemon "$p" --)"
done
expect "emc-coordinator --db <TAB>: file names" "$work/study.db " \
  "$(complete_line _emc_daemon "$COORD" --db "$work/stu")"
expect "emc-worker --cache-dir <TAB>: directories" "$work/keys " \
  "$(complete_line _emc_daemon "$WORKER" --cache-dir "$work/ke")"
expect "emc-worker --slots <TAB>: nothing to offer" "" "$(complete_line _emc_daemon "$WORKER" --slots "")"

echo "1..$n"
exit $((failures > 0))

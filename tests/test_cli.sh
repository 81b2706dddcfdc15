#!/usr/bin/env bash
# shellcheck disable=SC2016 # the bash -c scripts expand their own arguments
# The command-line conventions of the three programs: --version on each
# (exit 0, one line naming the program and the same version); --help and
# -h on every emcctl command, and `emcctl help COMMAND`, print that
# command's usage on stdout and exit 0; an unknown option or command
# exits 2 with the usage on stderr. Speaks TAP.
#
# usage: test_cli.sh COORDINATOR WORKER EMCCTL
set -uo pipefail

COORD="$1" WORKER="$2" EMCCTL="$3"
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COMMANDS=(run launch status results summary plot report trials pause resume cancel reopen workers keygen)

versions=()
for p in "$COORD" "$WORKER" "$EMCCTL"; do
  name="$(basename "$p")"
  out="$("$p" --version 2>&1)" && rc=0 || rc=$?
  if [[ $rc -eq 0 && "$(wc -l <<<"$out")" -eq 1 && "$out" =~ ^$name\ ([0-9]+\.[0-9]+\.[0-9]+)\ \(protocol\ [0-9]+ ]]; then
    ok "$name --version: $out"
    versions+=("${BASH_REMATCH[1]}")
  else
    not_ok "$name --version (exit $rc)" "$out"
  fi
done
check "the three programs report one version (${versions[*]})" \
  test "${#versions[@]}" = 3 -a "${versions[0]:-a}" = "${versions[1]:-b}" -a "${versions[1]:-b}" = "${versions[2]:-c}"

bad=()
for c in "${COMMANDS[@]}"; do
  for form in "$c --help" "$c -h" "help $c"; do
    # shellcheck disable=SC2086 # the form is words on purpose
    out="$("$EMCCTL" $form 2>/dev/null)" && rc=0 || rc=$?
    [[ $rc -eq 0 && "$(head -1 <<<"$out")" == "usage: emcctl $c "* && "$out" == *"Exit status:"* ]] ||
      bad+=("emcctl $form: exit $rc: $(head -1 <<<"$out")")
  done
done
if ((${#bad[@]} == 0)); then ok "every emcctl command answers --help, -h and help COMMAND with its usage, exit 0"
else not_ok "emcctl help" "${bad[@]}"; fi
# Each command's usage names what it takes.
check "run's usage names its options" bash -c '"$1" run --help | grep -q -- "--workers N.*--db FILE.*--max-probes K"' _ "$EMCCTL"
check "the overview lists every command" bash -c 'out="$("$1" --help)"; shift; for c; do grep -q "^  $c " <<<"$out" || exit 1; done' \
  _ "$EMCCTL" "${COMMANDS[@]}"

out="$("$EMCCTL" status --no-such-option 2>&1 >/dev/null)" && rc=0 || rc=$?
check "an unknown option exits 2 with that command's usage on stderr" \
  test "$rc/$(grep -c '^usage: emcctl status ' <<<"$out")" = "2/1"
out="$("$EMCCTL" frobnicate 2>&1 >/dev/null)" && rc=0 || rc=$?
check "an unknown command exits 2 naming it" test "$rc/$(head -1 <<<"$out")" = "2/emcctl: unknown command 'frobnicate'"
for p in "$COORD" "$WORKER"; do
  out="$("$p" --help 2>/dev/null)" && rc=0 || rc=$?
  check "$(basename "$p") --help exits 0 and lists --version" test "$rc/$(grep -c -- '--version' <<<"$out")" = "0/1"
done

echo "1..$n"
exit $((failures > 0))

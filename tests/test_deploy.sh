#!/usr/bin/env bash
# What deploy/ and the repository's scripts are checked with, short of a
# cluster: shellcheck on every shell script (scripts/, tests/, deploy/,
# .ci/: files named *.sh or *.sbatch, or starting with a bash or sh
# shebang), with the settings in .shellcheckrc; yamllint --strict on the
# Kubernetes manifests, with the settings in .yamllint; and
# tests/check_manifests.py, which parses them and checks what Kubernetes
# would trip over (names, selectors, mounts, Secrets, resources, grace
# periods), on the manifests as shipped and on one broken copy per check,
# where it must fail. Starts no process that outlives it. Speaks TAP.
#
# usage: test_deploy.sh
set -euo pipefail

root="$(realpath "${EMC_SOURCE_ROOT:-$(dirname "${BASH_SOURCE[0]}")/..}")"
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

echo "1..4"
for prog in shellcheck yamllint python3; do
  if ! command -v "$prog" >/dev/null; then
    echo "Bail out! $prog is not installed (scripts/setup.sh installs it)"
    exit 1
  fi
done

scripts=()
while IFS= read -r -d '' f; do
  case "$f" in
    *.sh | *.sbatch) scripts+=("$f") ;;
    *) head -n 1 "$f" | grep -qE '^#!.*\b(ba)?sh\b' && scripts+=("$f") ;;
  esac
done < <(find scripts tests deploy .ci -type f ! -name '*.py' -print0 | sort -z)
if out="$(shellcheck "${scripts[@]}" 2>&1)"; then
  ok "shellcheck: ${#scripts[@]} scripts are clean"
else
  not_ok "shellcheck found problems in the scripts" "$(head -n 40 <<<"$out")"
fi

check "yamllint --strict on deploy/k8s" yamllint --strict -c .yamllint deploy/k8s

check "the manifests' structure: $(python3 tests/check_manifests.py deploy/k8s docs/operations.md 2>&1 | tail -n 1)" \
  python3 tests/check_manifests.py deploy/k8s docs/operations.md

check "each structural check fails on a copy of the manifests broken for it" \
  python3 tests/check_manifests.py --self-test deploy/k8s docs/operations.md

exit $((failures > 0))

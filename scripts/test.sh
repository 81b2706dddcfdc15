#!/usr/bin/env bash
# Build emc twice (plain, and with AddressSanitizer + UndefinedBehaviorSanitizer)
# and run every test in both builds. Installs what it needs first.
# Ends with one line "N passed, N failed, N skipped"; exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh

export OPENBLAS_NUM_THREADS=1
export CMOCKA_MESSAGE_OUTPUT=TAP

passed=0 failed=0 skipped=0

run_build() {
  local dir="$1"; shift
  if [[ ! -f "$dir/build.ninja" ]]; then
    meson setup "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" >/dev/null
  local out rc=0
  out="$(mktemp)"
  meson test -C "$dir" --print-errorlogs --num-processes 2 2>&1 | tee "$out" || rc=$?
  # Count every TAP check (each cmocka test, each check of the integration
  # script), not just test binaries. A binary that died before reporting all
  # of its checks still counts as one failure through meson's own summary.
  local log="$dir/meson-logs/testlog.txt" ok skip notok fail timeout
  ok=$(grep -E '^ok [0-9]+' "$log" | grep -vc '# SKIP' || true)
  skip=$(grep -E '^ok [0-9]+' "$log" | grep -c '# SKIP' || true)
  notok=$(grep -cE '^not ok [0-9]+' "$log" || true)
  fail=$(awk '/^Fail:/ {print $2}' "$out"); fail=${fail:-0}
  timeout=$(awk '/^Timeout:/ {print $2}' "$out"); timeout=${timeout:-0}
  rm -f "$out"
  passed=$((passed + ok))
  skipped=$((skipped + skip))
  failed=$((failed + notok))
  if ((fail + timeout > notok)); then
    failed=$((failed + fail + timeout - notok))
  fi
  if [[ $rc -ne 0 && $((notok + fail + timeout)) -eq 0 ]]; then
    failed=$((failed + 1)) # meson failed without a counted failure
  fi
}

build_ok=1
run_build build || build_ok=0
run_build build-sanitize -Db_sanitize=address,undefined -Db_lundef=false || build_ok=0
if [[ $build_ok -eq 0 && $failed -eq 0 ]]; then
  failed=1
fi

echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[[ $failed -eq 0 ]]

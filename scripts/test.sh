#!/usr/bin/env bash
# Build emc twice (plain, and with AddressSanitizer + UndefinedBehaviorSanitizer)
# and run every test in both builds; then build the libFuzzer targets with clang
# and fuzz each for a bounded time (the decoder and the scheduler, the spec
# parser, the dataset readers: tests/meson.build). Installs what it needs first.
# Ends with one line "N passed, N failed, N skipped"; exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh

export OPENBLAS_NUM_THREADS=1
export CMOCKA_MESSAGE_OUTPUT=TAP

passed=0 failed=0 skipped=0

# run_build [--target T]... [--only TEST]... [--no-suite S] DIR SETUP-ARGS...: build DIR (all
# of it, or only the targets T) and run its tests (all, or only the TESTs).
run_build() {
  local target=() only=()
  while [[ $# -gt 0 && $1 == --* ]]; do
    case "$1" in
      --target) target+=("$2"); shift 2 ;;
      --only) only+=("$2"); shift 2 ;;
      --no-suite) only+=("$1" "$2"); shift 2 ;;
      *) echo "run_build: unknown option $1" >&2; return 1 ;;
    esac
  done
  local dir="$1"; shift
  if [[ ! -f "$dir/build.ninja" ]]; then
    meson setup "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" "${target[@]}" >/dev/null
  local out rc=0
  out="$(mktemp)"
  meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 "${only[@]}" 2>&1 | tee "$out" || rc=$?
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
run_build --no-suite external build-sanitize -Db_sanitize=address,undefined -Db_lundef=false || build_ok=0
# libFuzzer needs clang; the libraries get coverage instrumentation too. Only
# the fuzz targets are built (clang's -Wextra also flags positional
# initializers of spec.c's tables, which gcc accepts).
CC=clang run_build --target tests/fuzz_scheduler --target tests/fuzz_spec --target tests/fuzz_dataset \
  --only fuzz --only fuzz-spec --only fuzz-dataset build-fuzz -Dfuzz=true \
  -Db_sanitize=address,undefined -Db_lundef=false \
  "-Dc_args=['-fsanitize=fuzzer-no-link','-Wno-missing-field-initializers']" || build_ok=0
if [[ $build_ok -eq 0 && $failed -eq 0 ]]; then
  failed=1
fi

echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[[ $failed -eq 0 ]]

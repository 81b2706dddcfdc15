#!/usr/bin/env bash
# Install every Debian package that building, testing and the demo need.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

PACKAGES=(
  build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
  libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
  libsqlite3-dev sqlite3 libopenblas-dev libuv1-dev libyaml-dev
  zlib1g-dev libsodium-dev libcmocka-dev libcsv-dev
  dataset-fashion-mnist python3-sklearn
  tmux python3-jsonschema
  scdoc man-db
  libmicrohttpd-dev prometheus curl
  slurm-wlm munge shellcheck yamllint python3-yaml
  libcairo2-dev libfontconfig-dev fonts-dejavu-core chromium python3-pil
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

#!/usr/bin/env bash
# The demo: install what is needed, build, and run a real EMC campaign on
# Fashion-MNIST with local workers; prints EMC against parameter count.
# Run it again to resume (or print) the same campaign; delete emc-demo/ to
# start over.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
if [[ ! -f build/build.ninja ]]; then
  meson setup build >/dev/null
fi
ninja -C build >/dev/null
mkdir -p emc-demo
exec build/coordinator/emcctl run docs/examples/fashion-mnist-mlp.yaml --db emc-demo/demo.db "$@"

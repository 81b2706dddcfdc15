#!/usr/bin/env bash
# The demo: install what is needed, build, and run a real EMC campaign on
# Fashion-MNIST with local workers; prints EMC against parameter count,
# then writes the EMC figure (SVG and PNG), the fit curves and the HTML
# report next to the database and prints their paths.
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
build/coordinator/emcctl run docs/examples/fashion-mnist-mlp.yaml --db emc-demo/demo.db "$@"
build/coordinator/emcctl plot --db emc-demo/demo.db --out emc-demo/demo --format both
build/coordinator/emcctl report --db emc-demo/demo.db --out emc-demo/report.html
echo "demo: figure emc-demo/demo-emc.svg (and .png), fit curves emc-demo/demo-fits.svg, report emc-demo/report.html"

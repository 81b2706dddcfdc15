#!/usr/bin/env bash
# torch_compare.sh — the small EMC networks, trained by PyTorch and by emc, side by side.
#
# Trains 784-8-10 and 784-32-10 MLPs (ReLU, Adam lr 1e-3, batch 128, one
# thread, shuffled epochs) on the same data — Fashion-MNIST's training set
# when Debian's dataset-fashion-mnist is installed, else 60000 synthetic
# 784-dimensional samples, written once by `bench_train export` — with
# PyTorch (Debian's python3-torch) and with emc's engine (`bench_train
# small`), in the same run, and prints both speeds and their ratio.
#
# Usage: bench/torch_compare.sh BUILD_DIR [--no-install]
#   BUILD_DIR      a configured and built meson build directory
#   --no-install   do not install python3-torch when it is missing (then
#                  only emc's side is measured)
# BENCH_SECONDS (default 6) is each network's training time per engine.
#
# Installing python3-torch (apt-get, as root or through sudo) happens only
# when it is missing, so running this twice installs nothing the second
# time. This is a benchmark, never part of the test suite.
set -euo pipefail

if [[ $# -lt 1 ]]; then
	echo "usage: $0 BUILD_DIR [--no-install]" >&2
	exit 2
fi
build=$1
install=1
if [[ ${2:-} == --no-install ]]; then
	install=0
fi
bench=$build/bench/bench_train
seconds=${BENCH_SECONDS:-6}
if [[ ! -x $bench ]]; then
	echo "$0: $bench not found; build it with: ninja -C $build bench/bench_train" >&2
	exit 1
fi

# Debian's python3-torch belongs to Debian's own interpreter, which another
# python3 earlier on PATH would not see.
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

have_torch() {
	"$PY" -c 'import torch' >/dev/null 2>&1
}

if ! have_torch && [[ $install == 1 ]]; then
	sudo=()
	if [[ $(id -u) != 0 ]]; then
		sudo=(sudo)
	fi
	if ! dpkg -s python3-torch >/dev/null 2>&1; then
		"${sudo[@]}" apt-get update -qq
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch
	fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bench" export "$work/data" >"$work/export.json"
BENCH_SECONDS=$seconds "$bench" small "$work/data" >"$work/emc.jsonl"

if have_torch; then
	"$PY" - "$work/data" "$seconds" >"$work/torch.jsonl" <<'EOF'
import json, sys, time
import torch

torch.set_num_threads(1)
prefix, seconds = sys.argv[1], float(sys.argv[2])
with open(prefix + ".y", "rb") as f:
    y = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long()
n = y.numel()
with open(prefix + ".x", "rb") as f:
    x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(n, 784)

for width in (8, 32):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(784, width), torch.nn.ReLU(), torch.nn.Linear(width, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    state = {"perm": torch.randperm(n), "start": 0}

    def run(secs):
        rows, t0 = 0, time.perf_counter()
        while True:
            if state["start"] >= n:
                state["perm"], state["start"] = torch.randperm(n), 0
            idx = state["perm"][state["start"]:state["start"] + 128]
            state["start"] += 128
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            rows += idx.numel()
            t = time.perf_counter()
            if t - t0 >= secs:
                return rows / (t - t0)

    run(0.2)
    best = max(run(seconds / 3) for _ in range(3))
    print(json.dumps({"model": "mlp-784-%d-10" % width, "engine": "pytorch " + torch.__version__,
                      "threads": 1, "batch": 128, "optimizer": "adam", "samples_per_s": round(best)}))
EOF
else
	: >"$work/torch.jsonl"
fi

cat "$work/emc.jsonl" "$work/torch.jsonl"
"$PY" - "$work/export.json" "$work/emc.jsonl" "$work/torch.jsonl" <<'EOF'
import json, sys

data = json.load(open(sys.argv[1]))
emc = {r["model"]: r for r in map(json.loads, open(sys.argv[2]))}
torch = {r["model"]: r for r in map(json.loads, open(sys.argv[3]))}
targets = {"mlp-784-8-10": 2.0, "mlp-784-32-10": 1.5}
print("data: %s, %d samples" % (data["exported"], data["samples"]))
print("%-16s %14s %14s %8s %8s" % ("model", "emc samples/s", "torch", "ratio", "target"))
for model, target in targets.items():
    e = emc[model]["samples_per_s"]
    if model in torch:
        t = torch[model]["samples_per_s"]
        ratio = e / t
        verdict = "met" if ratio >= target else "MISSED"
        print("%-16s %14d %14d %7.2fx %6.1fx %s" % (model, e, t, ratio, target, verdict))
    else:
        print("%-16s %14d %14s %8s %6.1fx not measured (no PyTorch)" % (model, e, "-", "-", target))
EOF

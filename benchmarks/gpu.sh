#!/usr/bin/env bash
# The GPU path in one call: train-step throughput (fp32 and bf16 against a plain-PyTorch loop),
# a short Ray Train run on CUDA (bf16) with its evaluation, batch generation with GPU actors, and
# Ray Serve with the model on the GPU (benchmark and the `raymvae serve` CLI).
#
#   benchmarks/gpu.sh [SHARDS] [WORK]
#
# SHARDS: cat-mel_2bar_small shards (default .demo/shards/cat-mel_2bar_small, from `make demo`);
# WORK: scratch folder (default a temporary one). PY picks the Python (default python3), STEPS the
# training steps (default 2000); MODEL=RUN_DIR skips the training steps and generates/serves that
# run's export. Every step is timed; the script stops at the first failure.
set -euo pipefail
PY=${PY:-python3}
SHARDS=${1:-.demo/shards/cat-mel_2bar_small}
WORK=${2:-$(mktemp -d -t raymvae-gpu-XXXX)}
STEPS=${STEPS:-2000}
RUN=${MODEL:-$WORK/run}
export WANDB_MODE=disabled PYTHONUNBUFFERED=1

step() { echo; echo "=== $1"; shift; local t=$SECONDS; "$@"; echo "--- $((SECONDS - t)) s"; }

step "device" bash -c "nvidia-smi -L; $PY -c 'import torch, ray; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, torch.cuda.get_device_name(0), \"ray\", ray.__version__)'"
if [ -z "${MODEL:-}" ]; then
step "train step, fp32" $PY benchmarks/train_step.py --device cuda --steps 20
step "train step, bf16" $PY benchmarks/train_step.py --device cuda --steps 20 --bf16
step "raymvae train --use-gpu --bf16 ($STEPS steps, small-corpus preset)" \
  $PY -m raymvae train --config cat-mel_2bar_small --examples "$SHARDS" --run-dir "$RUN" --preset small-corpus \
  --hparams batch_size=64 --num-steps "$STEPS" --use-gpu --bf16 --checkpoint-every 1000
step "raymvae train --mode eval --use-gpu" \
  $PY -m raymvae train --mode eval --config cat-mel_2bar_small --examples "$SHARDS" --run-dir "$RUN" --use-gpu
fi
step "raymvae generate sample --num 5000 (GPU actors)" \
  $PY -m raymvae generate sample --model "$RUN" --num 5000 --output "$WORK/samples" --temperature 0.5
step "serve benchmark, model on the GPU" \
  $PY benchmarks/serve.py --model "$RUN" --num-gpus 1 --clients 1 16 --seconds 4
step "serve benchmark, model on the GPU, bf16" \
  $PY benchmarks/serve.py --model "$RUN" --num-gpus 1 --bf16 --clients 16 --seconds 4

serve_cli() {
  $PY -m raymvae serve --model "$RUN" --num-gpus 1 --port 8123 >"$WORK/serve.log" 2>&1 &
  local pid=$!
  for _ in $(seq 120); do curl -sf localhost:8123/healthz >/dev/null && break; sleep 1; done
  curl -sf localhost:8123/model; echo
  curl -sf -X POST localhost:8123/sample -H 'content-type: application/json' -d '{"n": 4, "seed": 1}' \
    | $PY -c 'import json, sys; r = json.load(sys.stdin); print("sample:", {k: (len(v) if isinstance(v, list) else v) for k, v in r.items()})'
  kill -TERM $pid; wait $pid || true  # background jobs of a script ignore SIGINT
}
step "raymvae serve --num-gpus 1" serve_cli
echo; echo "all GPU checks passed ($WORK)"

#!/usr/bin/env bash
# The GPU path in one call (under 8 minutes on one CUDA GPU): train-step throughput and peak GPU memory
# of cat-mel_2bar_small (batch 512, teacher forcing and scheduled sampling) and hierdec-mel_16bar
# (batch 64) in fp32 and bf16 against a plain-PyTorch loop in the same run; how far bf16's gradients
# are from fp32's for both models (cuDNN's bf16 LSTMs); a short Ray Train run on CUDA (bf16) with its
# evaluation; `generate sample --num 10000` with GPU actors (files/s); the serve benchmark with the
# model on the GPU (/interpolate at 16 and 64 clients, batched vs batch 1, fp32 and bf16); and the
# `raymvae serve --num-gpus 1` CLI.
#
#   benchmarks/gpu.sh [--dry-run] [SHARDS] [WORK]
#
# SHARDS: cat-mel_2bar_small shards (default .demo/shards/cat-mel_2bar_small, from `make demo`);
# WORK: scratch folder (default a temporary one). PY picks the Python (default python3), STEPS the
# training steps (default 2000); MODEL=RUN_DIR skips the training steps and generates/serves that
# run's export. Every step is timed; the script stops at the first failure.
# --dry-run runs every step on the CPU at toy sizes (no GPU flags): the check that the script and
# the commands it calls still fit together, which tests/test_gpu_script.py runs. With RAY_ADDRESS set,
# every command joins that cluster.
set -euo pipefail
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
PY=${PY:-python3}
SHARDS=${1:-.demo/shards/cat-mel_2bar_small}
WORK=${2:-$(mktemp -d -t raymvae-gpu-XXXX)}
RUN=${MODEL:-$WORK/run}
export WANDB_MODE=disabled PYTHONUNBUFFERED=1
if [ $DRY = 1 ]; then
  DEVICE=cpu CASES="mel2-b64-p0" TIMED=1 STEPS=${STEPS:-4} NUM=16 CLIENTS_A="1" CLIENTS_B="2" SECS=1
  GRADS="--configs cat-mel_2bar_small --batches 1"
  HP="batch_size=16,enc_rnn_size=[16],dec_rnn_size=[16,16],z_size=8" TRAIN_GPU="" GPUS=0 BF16=""
else
  DEVICE=cuda CASES="mel2-b512-p0 mel2-b512-p1 hierdec16-b64" GRADS="--steps 20" TIMED=20 STEPS=${STEPS:-2000} NUM=10000
  CLIENTS_A="1 16 64" CLIENTS_B="16 64" SECS=4 HP="batch_size=64" TRAIN_GPU="--use-gpu --bf16" GPUS=1 BF16="--bf16"
fi

step() { echo; echo "=== $1"; shift; local t=$SECONDS; "$@"; echo "--- $((SECONDS - t)) s"; }

if [ $DRY = 0 ]; then
  step "device" bash -c "nvidia-smi -L; $PY -c 'import torch, ray; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, torch.cuda.get_device_name(0), \"ray\", ray.__version__)'"
fi
if [ -z "${MODEL:-}" ]; then
# shellcheck disable=SC2086
step "train step, fp32 and bf16 (ex/s against plain PyTorch, peak memory)" \
  $PY benchmarks/train_step.py --device $DEVICE --steps $TIMED --precision fp32 bf16 --cases $CASES
# shellcheck disable=SC2086
step "bf16 gradients against fp32" $PY benchmarks/bf16_gradients.py --device $DEVICE $GRADS
# shellcheck disable=SC2086
step "raymvae train $TRAIN_GPU ($STEPS steps, small-corpus preset)" \
  $PY -m raymvae train --config cat-mel_2bar_small --examples "$SHARDS" --run-dir "$RUN" --preset small-corpus \
  --hparams "$HP" --num-steps "$STEPS" $TRAIN_GPU --checkpoint-every 1000 --eval-samples 64
# shellcheck disable=SC2086
step "raymvae train --mode eval" \
  $PY -m raymvae train --mode eval --config cat-mel_2bar_small --examples "$SHARDS" --run-dir "$RUN" \
  --hparams "$HP" --eval-samples 64
fi
gen() {
  local t=$SECONDS
  $PY -m raymvae generate sample --model "$RUN" --num $NUM --output "$WORK/samples" --temperature 0.5
  echo "$NUM files in $((SECONDS - t)) s: $(( NUM / (SECONDS - t > 0 ? SECONDS - t : 1) )) files/s"
}
step "raymvae generate sample --num $NUM (GPU actors when there is a GPU)" gen
# shellcheck disable=SC2086
step "serve benchmark, model on the GPU, fp32" \
  $PY benchmarks/serve.py --model "$RUN" --num-gpus $GPUS --precision fp32 --batch-size 32 --clients $CLIENTS_A \
  --seconds $SECS
if [ $DRY = 0 ]; then
step "serve benchmark, model on the GPU, bf16" \
  $PY benchmarks/serve.py --model "$RUN" --num-gpus $GPUS $BF16 --batch-size 32 --clients $CLIENTS_B --seconds $SECS
fi

serve_cli() {
  local port
  port=$($PY -c 'from raymvae.serve.launch import free_port; print(free_port())')
  $PY -m raymvae serve --model "$RUN" --num-gpus $GPUS --port "$port" >"$WORK/serve.log" 2>&1 &
  local pid=$!
  $PY - "$port" <<'EOF'
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(180):
    try:
        urllib.request.urlopen(base + "/healthz", timeout=5)
        break
    except OSError:
        time.sleep(1)
print(urllib.request.urlopen(base + "/model", timeout=30).read().decode())
req = urllib.request.Request(base + "/sample", json.dumps({"n": 4, "seed": 1}).encode(),
                             {"content-type": "application/json"})
r = json.load(urllib.request.urlopen(req, timeout=120))
print("sample:", {k: (len(v) if isinstance(v, list) else v) for k, v in r.items()})
EOF
  kill -TERM $pid; wait $pid || true  # background jobs of a script ignore SIGINT
}
step "raymvae serve --num-gpus $GPUS" serve_cli
echo; echo "all GPU checks passed ($WORK)"

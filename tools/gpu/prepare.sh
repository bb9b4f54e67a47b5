#!/usr/bin/env bash
# Prepares .gpu/ (ignored by git and deno, ~40 MiB) for a GPU machine that has no network,
# so that one device call can run `tools/gpu/run.sh` (docs/benchmarks.md, "On a
# GPU machine"): a bundle of bench/main.ts with every dependency inlined, this
# machine's Deno binary (xz), the PyTorch anchor, and the Vulkan/EGL loader
# packages Deno's WebGPU needs there. Run it here, in the checkout, after
# changing novalab's code (the bundle is a snapshot); the Deno binary and the
# packages are fetched once.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.gpu
mkdir -p "$out/debs"

deno bundle --platform deno --keep-names -o "$out/bench.js" bench/main.ts

if [ ! -s "$out/deno.xz" ]; then
  xz -T0 -6 -c "$(readlink -f "$(command -v deno)")" >"$out/deno.xz.tmp"
  mv "$out/deno.xz.tmp" "$out/deno.xz"
fi

anchor=../shared/anchors/torch_vit_step.py
if [ -f "$anchor" ]; then install -m 644 "$anchor" "$out/torch_vit_step.py"; else
  echo "prepare.sh: $anchor is missing; the run will have no PyTorch anchor" >&2
fi

if ! ls "$out"/debs/*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d)
  mkdir -p "$lists/partial"
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
  # shellcheck disable=SC2086
  apt-get $o update >/dev/null
  # shellcheck disable=SC2086
  (cd "$out/debs" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  rm -rf "$lists"
fi
du -sh "$out"
echo "ready: carry .gpu and run: bash tools/gpu/run.sh [suite|bench arguments]"

/**
 * timm's ViT variants against PyTorch (`tests/timm_reference.ts`): DINOv2's
 * LayerScale with four registers and positions for the patches only (its
 * `reg4` models), an average-pooled ViT with `fc_norm` and `norm_pre`,
 * SigLIP's image tower (no CLS, MAP attention pooling, tanh-GELU), attention
 * pooling of the patches beside a CLS and registers (timm ≥ 1.0.16 leaves
 * them out of the pool), and OpenAI's CLIP image tower (`norm_pre`,
 * QuickGELU, LayerNorm eps 1e-5) — each written with novalab's `vit` parameters, loaded
 * with `layout: timm`, gives PyTorch's features on the same images, and its
 * positions resample with the prefix kept. Skipped with a message without a
 * Python that has torch.
 */
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import {
  D,
  encoderFeatures,
  PATCH,
  timmEncoder,
  timmReference,
  type TimmVariant,
  torchPython,
  worst,
} from "./timm_reference.ts";

const { python, why } = await torchPython();
if (why) console.warn(`tests/timm_variants_test.ts skipped: ${why}`);

/** Each variant as timm's arguments and as novalab's `vit` parameters. */
const VARIANTS: [string, TimmVariant, Record<string, unknown>][] = [
  [
    "DINOv2 with registers (LayerScale, 4 registers, no_embed_class)",
    { init_values: 0.1, reg_tokens: 4, no_embed_class: true },
    { layer_scale: 0.1, registers: 4, prefix_positions: false },
  ],
  [
    "LayerScale and registers with positions for them",
    { init_values: 0.1, reg_tokens: 2 },
    { layer_scale: 0.1, registers: 2 },
  ],
  [
    "average pooling with fc_norm, norm_pre",
    { global_pool: "avg", pre_norm: true },
    { pool: "avg", norm_pre: true },
  ],
  [
    "a ViT without a class token, average-pooled (timm's _gap models)",
    { class_token: false, global_pool: "avg", reg_tokens: 1 },
    { class_token: false, pool: "avg", registers: 1 },
  ],
  [
    "SigLIP's image tower (no class token, MAP attention pooling, tanh-GELU)",
    { class_token: false, global_pool: "map", act_layer: "gelu_tanh" },
    { class_token: false, pool: "map", activation: "gelu_tanh" },
  ],
  [
    "SigLIP So400m's MLP width (mlp_ratio 3.7362, rounded down) in the blocks and the head",
    { class_token: false, global_pool: "map", act_layer: "gelu_tanh", mlp_ratio: 3.7362 },
    { class_token: false, pool: "map", activation: "gelu_tanh", mlp_ratio: 3.7362 },
  ],
  [
    "DINOv2-g's SwiGLU MLPs (SwiGLUPacked, LayerScale, mlp_ratio 5.33334)",
    { mlp_layer: "swiglu_packed", init_values: 0.1, mlp_ratio: 5.33334 },
    { mlp: "swiglu", layer_scale: 0.1, mlp_ratio: 5.33334 },
  ],
  [
    "attention pooling of the patches beside a CLS and registers, exact GELU",
    { global_pool: "map", reg_tokens: 2 },
    { pool: "map", registers: 2 },
  ],
  [
    "OpenAI's CLIP image tower (norm_pre, QuickGELU, LayerNorm eps 1e-5)",
    { pre_norm: true, act_layer: "quick_gelu", norm_eps: 1e-5 },
    { norm_pre: true, activation: "quick_gelu", norm_eps: 1e-5 },
  ],
];

for (const [name, variant, params] of VARIANTS) {
  Deno.test({
    name: `init_from layout timm: ${name} gives PyTorch's features`,
    ignore: python === undefined,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "novalab-timm-variant-" });
      try {
        const file = `${dir}/vit.safetensors`;
        const torch = await timmReference(python!, file, variant);
        await initBackend("cpu");
        const graph = await timmEncoder({ path: file, layout: "timm" }, {
          cacheDir: dir,
          extra: params,
        });
        const features = await encoderFeatures(graph, torch.image);
        graph.dispose();
        assert.ok(
          worst(features, torch.cls) < 1e-4,
          `largest difference ${worst(features, torch.cls)}`,
        );
        // Without the variant's parameters the file does not load: it is another model.
        await assert.rejects(timmEncoder({ path: file, layout: "timm" }, { cacheDir: dir }));
        // Positions for a 42-px node, the prefix positions (if any) kept.
        const wide = await timmEncoder(
          { path: file, layout: "timm", resample: "bicubic" },
          { cacheDir: dir, extra: params, size: 42 },
        );
        const pos = wide.parameters().find((p) => p.name === "encoder.pos_embed")!;
        const prefix = variant.no_embed_class
          ? 0
          : (variant.class_token === false ? 0 : 1) + (variant.reg_tokens ?? 0);
        assert.deepEqual(pos.variable.shape, [1, prefix + (42 / PATCH) ** 2, D]);
        const resampled = await pos.variable.data();
        assert.ok(
          worst(resampled, torch.bicubic42) < 1e-5,
          `bicubic: ${worst(resampled, torch.bicubic42)}`,
        );
        wide.dispose();
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

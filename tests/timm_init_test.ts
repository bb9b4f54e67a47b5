/**
 * `init_from: { path, layout: timm }` against PyTorch itself
 * (`tests/timm_reference.ts`: a ViT computed as timm's `VisionTransformer`
 * does, random weights saved under timm's names): novalab's `vit` node loads
 * the file and must give PyTorch's CLS features on the same images — also with
 * ImageNet's pixel normalisation folded in, with RGB weights read into a grey
 * node, under a `node:` prefix, and with positions resampled to another grid
 * as PyTorch's bilinear `interpolate` and timm's antialiased bicubic do.
 * Skipped with a message without a Python that has torch.
 */
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { decodeSafetensors, encodeSafetensors } from "../core/safetensors.ts";
import type { NodeInit } from "../core/recipe/types.ts";
import {
  BATCH,
  D,
  encoderFeatures,
  MEAN,
  PATCH,
  STD,
  timmEncoder,
  timmReference,
  torchPython,
  worst,
} from "./timm_reference.ts";

const { python, why } = await torchPython();
if (why) console.warn(`tests/timm_init_test.ts skipped: ${why}`);

Deno.test({
  name: "init_from layout timm: novalab's ViT gives PyTorch's CLS features from timm's weights",
  ignore: python === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-timm-" });
    try {
      const file = `${dir}/vit.safetensors`;
      const torch = await timmReference(python!, file);
      await initBackend("cpu");
      const encoder = (initFrom: NodeInit, size?: number, width?: number, channels?: number) =>
        timmEncoder(initFrom, { cacheDir: dir, size, width, channels });
      /** novalab's CLS features of the images with the file read as `initFrom`. */
      const features = async (initFrom: NodeInit, pixels = torch.image, channels = 3) => {
        const graph = await encoder(initFrom, undefined, undefined, channels);
        const out = await encoderFeatures(graph, pixels, channels);
        assert.equal(out.length, BATCH * D);
        graph.dispose();
        return out;
      };
      const plain = await features({ path: file, layout: "timm" });
      assert.ok(worst(plain, torch.cls) < 1e-4, `largest difference ${worst(plain, torch.cls)}`);
      // The weights' normalisation folded into the patch embedding: raw [0, 1] pixels in
      // novalab give what timm gives on normalised ones.
      const folded = await features({ path: file, layout: "timm", mean: MEAN, std: STD });
      assert.ok(worst(folded, torch.normed) < 1e-4, `folded: ${worst(folded, torch.normed)}`);
      assert.ok(worst(plain, torch.normed) > 1e-2, "the normalisation matters");
      // RGB weights into a one-channel node: grey pixels give what timm gives on the RGB image
      // with three equal channels, normalised per channel.
      const grey = { path: file, layout: "timm" as const, mean: MEAN, std: STD, grey: true };
      const greyed = await features(grey, torch.grey, 1);
      assert.ok(worst(greyed, torch.greyed) < 1e-4, `grey: ${worst(greyed, torch.greyed)}`);
      await assert.rejects(
        encoder({ path: file, layout: "timm" }, undefined, undefined, 1),
        /tensor "patch_embed\.proj\.weight" has shape \[147,32\] in novalab's layout, node encoder's "encoder\.patch_embed\.proj\.weight" \[49,32\]; .*init_from\.grey: true reads RGB weights/,
      );
      await assert.rejects(
        encoder(grey),
        /grey: true reads the weights into a one-channel node; encoder takes 3 channels/,
      );
      // Another patch size with grey or mean/std: the shapes are named, nothing is folded or
      // summed into a tensor that merely fits.
      for (const channels of [1, 3]) {
        await assert.rejects(
          timmEncoder({ ...grey, grey: channels === 1, resample: "bicubic" }, {
            cacheDir: dir,
            extra: { patch: 14 },
            channels,
          }),
          /tensor "patch_embed\.proj\.weight" has shape \[147,32\] in novalab's layout, node encoder's "encoder\.patch_embed\.proj\.weight" \[(196|588),32\]; a different patch size/,
        );
      }
      // The same tensors under a prefix (an encoder inside a larger model): node: names it.
      const { tensors } = decodeSafetensors(await Deno.readFile(file));
      const prefixed = `${dir}/trunk.safetensors`;
      await Deno.writeFile(
        prefixed,
        encodeSafetensors(new Map([...tensors].map(([k, t]) => [`trunk.${k}`, t]))),
      );
      const fromTrunk = await features({ path: prefixed, layout: "timm", node: "trunk" });
      assert.deepEqual(fromTrunk, plain);
      // 14 × 56 px: 2 × 8 patches, as many as the file's 4 × 4 — another grid all the same.
      await assert.rejects(
        encoder({ path: file, layout: "timm" }, 14, 56),
        /pos_embed holds a 4×4 grid of positions, node's patch grid is 2×8; init_from\.resample: bicubic \(timm.s way\) or bilinear resamples it/,
      );
      // A 42-px node: position embeddings resampled from the 4 × 4 grid to 6 × 6.
      const positions = async (resample: "bilinear" | "bicubic", size: number) => {
        const graph = await encoder({ path: file, layout: "timm", resample }, size);
        const pos = graph.parameters().find((p) => p.name === "encoder.pos_embed")!;
        const grid = size / PATCH;
        assert.deepEqual(pos.variable.shape, [1, 1 + grid * grid, D]);
        const out = await pos.variable.data();
        graph.dispose();
        return out;
      };
      const bilinear = await positions("bilinear", 42);
      assert.ok(worst(bilinear, torch.pos42) < 1e-5, `positions: ${worst(bilinear, torch.pos42)}`);
      // Bicubic as timm resamples (antialiased): up to 6 × 6 and down to 2 × 2.
      const bicubic = await positions("bicubic", 42);
      assert.ok(
        worst(bicubic, torch.bicubic42) < 1e-5,
        `bicubic: ${worst(bicubic, torch.bicubic42)}`,
      );
      assert.ok(worst(bicubic, torch.pos42) > 1e-3, "bicubic is not bilinear");
      const small = await positions("bicubic", 14);
      assert.ok(
        worst(small, torch.bicubic14) < 1e-5,
        `bicubic, 2 × 2: ${worst(small, torch.bicubic14)}`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

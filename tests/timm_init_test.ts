/**
 * `init_from: { path, layout: timm }` against PyTorch itself: a ViT written
 * in PyTorch exactly as timm's `VisionTransformer` computes (Conv2d patch
 * embedding, CLS, positions, pre-norm blocks with fused qkv, exact GELU, LayerNorm
 * eps 1e-6, final norm, CLS token), random weights, saved under timm's names
 * (with a classifier head, which is skipped). novalab's `vit` node loads the
 * file and must give PyTorch's CLS features on the same images (also with
 * ImageNet's pixel normalisation folded in, and with positions resampled to
 * another grid as PyTorch's bilinear `interpolate` and timm's antialiased bicubic do). Needs a
 * Python with torch (Debian `python3-torch` as /usr/bin/python3); skipped
 * with a message otherwise.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "../core/builtins.ts";
import { initBackend } from "../core/backend.ts";
import { losses, modules } from "../core/components.ts";
import { compileGraph } from "../core/graph.ts";
import type { NodeInit } from "../core/recipe/types.ts";
import { decodeSafetensors, encodeSafetensors } from "../core/safetensors.ts";

const D = 32, DEPTH = 2, HEADS = 2, PATCH = 7, SIZE = 28, BATCH = 3;
const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225]; // ImageNet's, as timm's

const PY = `
import json, math, struct, sys
import torch
torch.manual_seed(0)
D, DEPTH, H, P, S, B = ${D}, ${DEPTH}, ${HEADS}, ${PATCH}, ${SIZE}, ${BATCH}
N = (S // P) ** 2
def r(*shape, s=0.2): return torch.randn(*shape) * s
w = {"patch_embed.proj.weight": r(D, 3, P, P), "patch_embed.proj.bias": r(D, s=0.1),
     "cls_token": r(1, 1, D), "pos_embed": r(1, N + 1, D),
     "norm.weight": 1 + r(D, s=0.1), "norm.bias": r(D, s=0.1),
     "head.weight": r(10, D), "head.bias": r(10)}
for i in range(DEPTH):
    b = "blocks.%d." % i
    for n in ("norm1", "norm2"):
        w[b + n + ".weight"], w[b + n + ".bias"] = 1 + r(D, s=0.1), r(D, s=0.1)
    for n, (o, k) in {"attn.qkv": (3 * D, D), "attn.proj": (D, D), "mlp.fc1": (4 * D, D),
                      "mlp.fc2": (D, 4 * D)}.items():
        w[b + n + ".weight"], w[b + n + ".bias"] = r(o, k), r(o, s=0.1)
F = torch.nn.functional
def ln(x, n): return F.layer_norm(x, (D,), w[n + ".weight"], w[n + ".bias"], eps=1e-6)
def lin(x, n): return F.linear(x, w[n + ".weight"], w[n + ".bias"])
def vit(nchw):
    x = F.conv2d(nchw, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=P)
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([w["cls_token"].expand(B, -1, -1), x], 1) + w["pos_embed"]
    for i in range(DEPTH):
        b = "blocks.%d." % i
        qkv = lin(ln(x, b + "norm1"), b + "attn.qkv").reshape(B, N + 1, 3, H, D // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = ((q @ k.transpose(-2, -1)) * (D // H) ** -0.5).softmax(-1)
        x = x + lin((a @ v).transpose(1, 2).reshape(B, N + 1, D), b + "attn.proj")
        x = x + lin(F.gelu(lin(ln(x, b + "norm2"), b + "mlp.fc1")), b + "mlp.fc2")
    return ln(x, "norm")[:, 0]
img = torch.rand(B, S, S, 3)  # NHWC in [0, 1], as novalab reads images
cls = vit(img.permute(0, 3, 1, 2))
# timm's transform: normalise with the weights' mean and std first.
mean, std = torch.tensor(${JSON.stringify(MEAN)}), torch.tensor(${JSON.stringify(STD)})
normed = vit(((img - mean) / std).permute(0, 3, 1, 2))
# A grey image as the RGB one with three equal channels, normalised as above.
grey = torch.rand(B, S, S, 1)
greyed = vit(((grey.expand(-1, -1, -1, 3) - mean) / std).permute(0, 3, 1, 2))
header, data = {}, b""
for name in sorted(w):
    blob = w[name].contiguous().numpy().astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(w[name].shape), "data_offsets": [len(data), len(data) + len(blob)]}
    data += blob
h = json.dumps(header).encode(); h += b" " * ((8 - len(h) % 8) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + data)
# The positions for a 42-px image (6 × 6 patches) as PyTorch resamples them, CLS kept.
g = S // P
grid = w["pos_embed"][:, 1:].reshape(1, g, g, D).permute(0, 3, 1, 2)
grid = F.interpolate(grid, size=(6, 6), mode="bilinear", align_corners=False)
pos42 = torch.cat([w["pos_embed"][:, :1], grid.permute(0, 2, 3, 1).reshape(1, 36, D)], 1)
# timm's resample_abs_pos_embed (its defaults: bicubic, antialias) to 6 × 6 and to 2 × 2 (14 px).
def timm_resample(n):
    grid = w["pos_embed"][:, 1:].reshape(1, g, g, D).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(n, n), mode="bicubic", antialias=True)
    return torch.cat([w["pos_embed"][:, :1], grid.permute(0, 2, 3, 1).reshape(1, n * n, D)], 1)
print(json.dumps({"image": img.flatten().tolist(), "cls": cls.flatten().tolist(),
                  "normed": normed.flatten().tolist(),
                  "grey": grey.flatten().tolist(), "greyed": greyed.flatten().tolist(), "pos42": pos42.flatten().tolist(),
                  "bicubic42": timm_resample(6).flatten().tolist(),
                  "bicubic14": timm_resample(2).flatten().tolist()}))
`;

/** A Python that has torch, or why there is none. */
async function torchPython(): Promise<{ python?: string; why?: string }> {
  for (const python of ["/usr/bin/python3", "python3"]) {
    const perm = await Deno.permissions.query({ name: "run", command: python });
    if (perm.state !== "granted") continue;
    try {
      const out = await new Deno.Command(python, { args: ["-c", "import torch"] }).output();
      if (out.code === 0) return { python };
    } catch { /* not installed */ }
  }
  return { why: "no python3 with torch (apt-get install python3-torch) or no --allow-run for it" };
}

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
      const out = await new Deno.Command(python!, { args: ["-c", PY, file] }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const torch = JSON.parse(new TextDecoder().decode(out.stdout));
      await initBackend("cpu");
      const params = modules.get("vit").schema.parse({
        patch: PATCH,
        dim: D,
        depth: DEPTH,
        heads: HEADS,
        mlp_ratio: 4,
      });
      const random = (n: number, size = SIZE, width = size, channels = 3) => ({
        image: tf.randomUniform([n, size, width, channels]) as tf.Tensor4D,
        caption: Array.from({ length: n }, () => ""),
        label: new Int32Array(n),
        index: new Int32Array(n),
      });
      /** A graph of one `vit` node reading the file as `initFrom`, built on `size`-px images. */
      const encoder = (initFrom: NodeInit, size = SIZE, width = size, channels = 3) =>
        compileGraph({
          nodes: [{
            name: "encoder",
            kind: "vit",
            inputs: ["batch.image"],
            phase: "all",
            params,
            initFrom,
          }],
          losses: [],
        }, {
          registries: { modules, losses },
          seed: 0,
          cacheDir: dir,
          sampleBatch: (n) => Promise.resolve(random(n, size, width, channels)),
        });
      /** novalab's CLS features of the images with the file read as `initFrom`. */
      const features = async (initFrom: NodeInit, pixels = torch.image, channels = 3) => {
        const graph = await encoder(initFrom, SIZE, SIZE, channels);
        const model = graph.inference({ seed: 0, replay: false });
        const image = tf.tensor4d(pixels, [BATCH, SIZE, SIZE, channels]);
        const cls = await model.run("encoder", { image });
        assert.deepEqual(cls.shape, [BATCH, D]);
        const out = await cls.data();
        tf.dispose([image, cls]);
        graph.dispose();
        return out;
      };
      const worst = (a: ArrayLike<number>, b: number[]) =>
        Math.max(...b.map((v, i) => Math.abs(v - a[i]!)));
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
        encoder({ path: file, layout: "timm" }, SIZE, SIZE, 1),
        /tensor "patch_embed\.proj\.weight" has shape \[147,32\] in novalab's layout, node encoder's "encoder\.patch_embed\.proj\.weight" \[49,32\]; .*init_from\.grey: true reads RGB weights/,
      );
      await assert.rejects(
        encoder(grey),
        /grey: true reads the weights into a one-channel node; encoder takes 3 channels/,
      );
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

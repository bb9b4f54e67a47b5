/**
 * A ViT written in PyTorch exactly as timm's `VisionTransformer` computes it
 * (Conv2d patch embedding, CLS and register tokens, positions with or without
 * the prefix tokens, `norm_pre`, pre-norm blocks with fused qkv, exact GELU,
 * LayerScale, LayerNorm eps 1e-6, the CLS after `norm` or the patch mean after
 * `fc_norm` or SigLIP's attention pooling (`AttentionPoolLatent`), GELU,
 * QuickGELU or tanh-GELU, LayerNorm eps), from random weights saved under timm's names (with a classifier
 * head, which novalab skips) — the reference `tests/timm_init_test.ts` and
 * `tests/timm_variants_test.ts` load into novalab's `vit` and compare with.
 * Needs a Python with torch (Debian `python3-torch` as /usr/bin/python3).
 */
import "../core/builtins.ts";
import * as tf from "@tensorflow/tfjs";
import { losses, modules } from "../core/components.ts";
import { compileGraph } from "../core/graph.ts";
import type { CompiledGraph } from "../core/graph_run.ts";
import type { NodeInit } from "../core/recipe/types.ts";

/** The reference ViT's shape: width, depth, heads, patch, image side, batch. */
export const D = 32, DEPTH = 2, HEADS = 2, PATCH = 7, SIZE = 28, BATCH = 3;
/** ImageNet's pixel mean and std, as timm's. */
export const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225];

/** timm's options of the reference ViT (its `VisionTransformer` arguments). */
export interface TimmVariant {
  /** LayerScale's `init_values` (γ drawn around it here, so that it matters). */
  init_values?: number;
  /** `reg_tokens`. */
  reg_tokens?: number;
  /** `no_embed_class`. */
  no_embed_class?: boolean;
  /** `global_pool`. */
  global_pool?: "token" | "avg" | "map";
  /** `pre_norm`. */
  pre_norm?: boolean;
  /** `class_token` (default true). */
  class_token?: boolean;
  /** `act_layer`: `gelu` (default), `quick_gelu` or `gelu_tanh`. */
  act_layer?: "gelu" | "quick_gelu" | "gelu_tanh";
  /** `mlp_ratio` (default 4; the MLP width is `int(D · mlp_ratio)`). */
  mlp_ratio?: number;
  /** `mlp_layer`: timm's `Mlp` (default) or `SwiGLUPacked` (DINOv2-g). */
  mlp_layer?: "mlp" | "swiglu_packed";
  /** The LayerNorms' eps (`norm_layer`; timm's default 1e-6, `nn.LayerNorm`'s 1e-5). */
  norm_eps?: number;
  /** Patch dropout's kept patches per image (grid indices), for the `train` features. */
  keep?: number[][];
  /** DropPath's per-image factors per block, `[attention, MLP]`, for the `train` features. */
  drop_scales?: number[][][];
}

const PY = `
import json, math, struct, sys
import torch
torch.manual_seed(0)
cfg = json.loads(sys.argv[2])
D, DEPTH, H, P, S, B = ${D}, ${DEPTH}, ${HEADS}, ${PATCH}, ${SIZE}, ${BATCH}
R = cfg.get("reg_tokens", 0)
C = 1 if cfg.get("class_token", True) else 0
K = 0 if cfg.get("no_embed_class") else C + R  # positions before the grid
N = (S // P) ** 2
M = int(D * cfg.get("mlp_ratio", 4))  # timm's Mlp hidden width, blocks and attn_pool alike
def r(*shape, s=0.2): return torch.randn(*shape) * s
w = {"patch_embed.proj.weight": r(D, 3, P, P), "patch_embed.proj.bias": r(D, s=0.1),
     "pos_embed": r(1, N + K, D),
     "head.weight": r(10, D), "head.bias": r(10)}
last = "fc_norm" if cfg.get("global_pool") == "avg" else "norm"
w[last + ".weight"], w[last + ".bias"] = 1 + r(D, s=0.1), r(D, s=0.1)
if R: w["reg_token"] = r(1, R, D)
if C: w["cls_token"] = r(1, 1, D)
if cfg.get("pre_norm"): w["norm_pre.weight"], w["norm_pre.bias"] = 1 + r(D, s=0.1), r(D, s=0.1)
if cfg.get("global_pool") == "map":  # timm's AttentionPoolLatent (SigLIP's MAP head)
    w["attn_pool.latent"] = r(1, 1, D, s=0.5)
    for n, (o, k) in {"q": (D, D), "kv": (2 * D, D), "proj": (D, D), "mlp.fc1": (M, D),
                      "mlp.fc2": (D, M)}.items():
        w["attn_pool." + n + ".weight"], w["attn_pool." + n + ".bias"] = r(o, k), r(o, s=0.1)
    w["attn_pool.norm.weight"], w["attn_pool.norm.bias"] = 1 + r(D, s=0.1), r(D, s=0.1)
for i in range(DEPTH):
    b = "blocks.%d." % i
    for n in ("norm1", "norm2"):
        w[b + n + ".weight"], w[b + n + ".bias"] = 1 + r(D, s=0.1), r(D, s=0.1)
    M2 = M // 2 if cfg.get("mlp_layer") == "swiglu_packed" else M  # GluMlp: fc2 reads half
    for n, (o, k) in {"attn.qkv": (3 * D, D), "attn.proj": (D, D), "mlp.fc1": (M, D),
                      "mlp.fc2": (D, M2)}.items():
        w[b + n + ".weight"], w[b + n + ".bias"] = r(o, k), r(o, s=0.1)
    if "init_values" in cfg:
        for n in ("ls1", "ls2"):
            w[b + n + ".gamma"] = cfg["init_values"] * (1 + r(D, s=0.5))
F = torch.nn.functional
EPS = cfg.get("norm_eps", 1e-6)
def ln(x, n): return F.layer_norm(x, (D,), w[n + ".weight"], w[n + ".bias"], eps=EPS)
ACT = cfg.get("act_layer", "gelu")
def act(x):
    if ACT == "quick_gelu": return x * torch.sigmoid(1.702 * x)
    return F.gelu(x, approximate="tanh") if ACT == "gelu_tanh" else F.gelu(x)
def lin(x, n): return F.linear(x, w[n + ".weight"], w[n + ".bias"])
def scaled(x, n): return x * w[n + ".gamma"] if "init_values" in cfg else x
KEEP = cfg.get("keep")  # per image, its kept patches (timm's PatchDropout with these subsets)
DROP = cfg.get("drop_scales")  # per block, the attention's and the MLP's per-image DropPath factors
def vit(nchw, train=False):
    x = F.conv2d(nchw, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=P)
    x = x.flatten(2).transpose(1, 2)
    prefix = ([w["cls_token"].expand(B, -1, -1)] if C else []) + ([w["reg_token"].expand(B, -1, -1)] if R else [])
    if K == 0:
        x = torch.cat(prefix + [x + w["pos_embed"]], 1)
    else:
        x = torch.cat(prefix + [x], 1) + w["pos_embed"]
    if train and KEEP is not None:
        x = torch.cat([x[:, :C + R], torch.stack([x[n, C + R:][KEEP[n]] for n in range(B)])], 1)
    if cfg.get("pre_norm"): x = ln(x, "norm_pre")
    T = x.shape[1]
    for i in range(DEPTH):
        b = "blocks.%d." % i
        m1 = m2 = 1.0
        if train and DROP is not None:
            m1, m2 = (torch.tensor(DROP[i][j]).reshape(B, 1, 1) for j in (0, 1))
        qkv = lin(ln(x, b + "norm1"), b + "attn.qkv").reshape(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = ((q @ k.transpose(-2, -1)) * (D // H) ** -0.5).softmax(-1)
        x = x + m1 * scaled(lin((a @ v).transpose(1, 2).reshape(B, T, D), b + "attn.proj"), b + "ls1")
        h = lin(ln(x, b + "norm2"), b + "mlp.fc1")
        if cfg.get("mlp_layer") == "swiglu_packed":  # timm's GluMlp(act=SiLU, gate_last=False)
            g, u = h.chunk(2, dim=-1)
            h = F.silu(g) * u
        else:
            h = act(h)
        x = x + m2 * scaled(lin(h, b + "mlp.fc2"), b + "ls2")
    if last == "fc_norm": return ln(x[:, C + R:].mean(1), "fc_norm")
    if cfg.get("global_pool") == "map":  # timm >= 1.0.16's forward_head: patches after norm
        x = ln(x, "norm")[:, C + R:]
        T = x.shape[1]
        q = lin(w["attn_pool.latent"].expand(B, -1, -1), "attn_pool.q").reshape(B, 1, H, D // H).transpose(1, 2)
        kv = lin(x, "attn_pool.kv").reshape(B, T, 2, H, D // H).permute(2, 0, 3, 1, 4)
        a = ((q @ kv[0].transpose(-2, -1)) * (D // H) ** -0.5).softmax(-1)
        y = lin((a @ kv[1]).transpose(1, 2).reshape(B, 1, D), "attn_pool.proj")
        y = y + lin(act(lin(ln(y, "attn_pool.norm"), "attn_pool.mlp.fc1")), "attn_pool.mlp.fc2")
        return y[:, 0]
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
# Positions for an n × n grid, prefix kept: bilinear, and timm's resample_abs_pos_embed
# (its defaults: bicubic, antialias).
g = S // P
def resampled(n, **how):
    grid = w["pos_embed"][:, K:].reshape(1, g, g, D).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(n, n), **how)
    return torch.cat([w["pos_embed"][:, :K], grid.permute(0, 2, 3, 1).reshape(1, n * n, D)], 1)
train = vit(img.permute(0, 3, 1, 2), train=True) if KEEP is not None or DROP is not None else cls
print(json.dumps({"image": img.flatten().tolist(), "cls": cls.flatten().tolist(),
                  "train": train.flatten().tolist(),
                  "normed": normed.flatten().tolist(),
                  "grey": grey.flatten().tolist(), "greyed": greyed.flatten().tolist(),
                  "pos42": resampled(6, mode="bilinear", align_corners=False).flatten().tolist(),
                  "bicubic42": resampled(6, mode="bicubic", antialias=True).flatten().tolist(),
                  "bicubic14": resampled(2, mode="bicubic", antialias=True).flatten().tolist()}))
`;

/** What the reference computed: its input images and PyTorch's outputs, flattened. */
export interface TimmOutputs {
  /** RGB images `[B, S, S, 3]` in [0, 1]. */
  image: number[];
  /** Features of `image`. */
  cls: number[];
  /** Training features of `image` under `keep` and `drop_scales` (`cls` without them). */
  train: number[];
  /** Features of `image` normalised with ImageNet's mean and std. */
  normed: number[];
  /** Grey images `[B, S, S, 1]`. */
  grey: number[];
  /** Features of `grey` as three equal channels, normalised. */
  greyed: number[];
  /** Positions for a 6 × 6 grid, bilinear. */
  pos42: number[];
  /** Positions for a 6 × 6 grid, timm's bicubic. */
  bicubic42: number[];
  /** Positions for a 2 × 2 grid, timm's bicubic. */
  bicubic14: number[];
}

/** A Python that has torch, or why there is none. */
export async function torchPython(): Promise<{ python?: string; why?: string }> {
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

/** Runs the reference: writes its weights to `file` and returns what PyTorch computed. */
export async function timmReference(
  python: string,
  file: string,
  variant: TimmVariant = {},
): Promise<TimmOutputs> {
  const out = await new Deno.Command(python, { args: ["-c", PY, file, JSON.stringify(variant)] })
    .output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** `[n, size, width, channels]` random images with empty captions (a graph's sample batch). */
function randomBatch(n: number, size: number, width: number, channels: number) {
  return {
    image: tf.randomUniform([n, size, width, channels]) as tf.Tensor4D,
    caption: Array.from({ length: n }, () => ""),
    label: new Int32Array(n),
    index: new Int32Array(n),
  };
}

/**
 * A graph of one `vit` node `encoder` (the reference's shape plus `extra`
 * recipe parameters) reading `initFrom`, built on `size × width` images with
 * `channels` channels.
 */
export function timmEncoder(
  initFrom: NodeInit,
  options: {
    cacheDir: string;
    extra?: Record<string, unknown>;
    size?: number;
    width?: number;
    channels?: number;
  },
): Promise<CompiledGraph> {
  const { size = SIZE, width = size, channels = 3 } = options;
  const params = modules.get("vit").schema.parse({
    patch: PATCH,
    dim: D,
    depth: DEPTH,
    heads: HEADS,
    mlp_ratio: 4,
    ...options.extra,
  });
  return compileGraph({
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
    cacheDir: options.cacheDir,
    sampleBatch: (n) => Promise.resolve(randomBatch(n, size, width, channels)),
  });
}

/** novalab's features of `pixels` (`[B, S, S, channels]`) through `graph`'s encoder. */
export async function encoderFeatures(
  graph: CompiledGraph,
  pixels: number[],
  channels = 3,
): Promise<Float32Array> {
  const model = graph.inference({ seed: 0, replay: false });
  const image = tf.tensor4d(pixels, [BATCH, SIZE, SIZE, channels]);
  const features = await model.run("encoder", { image });
  const out = await features.data() as Float32Array;
  tf.dispose([image, features]);
  return out;
}

/** The largest absolute difference between `a` and `b`. */
export function worst(a: ArrayLike<number>, b: number[]): number {
  return Math.max(...b.map((v, i) => Math.abs(v - a[i]!)));
}

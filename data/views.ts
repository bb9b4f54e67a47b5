/**
 * The `views` module: batched random-resized-crop (+ optional horizontal flip)
 * augmentation producing `V` views of every image in one
 * `tf.image.cropAndResize` call.
 *
 * Crop boxes follow torchvision's `RandomResizedCrop.get_params` (10 attempts,
 * then a centre crop clamped to the ratio range) drawn from a PRNG seeded by
 * the call's `ctx.seed`, so a step's views are reproducible. Boxes are
 * corner-aligned: a crop of `h×w` pixels starting at `(i, j)` maps to the box
 * `[i, j, i+h-1, j+w-1] / (side-1)`, so a full-image box resized to the input
 * size reproduces the input exactly. Resizing is bilinear without antialiasing.
 *
 * After cropping, the photometric augmentations of `data/augment.ts` (colour
 * jitter, greyscale, Gaussian blur, solarisation — each with a probability)
 * run batched over all `V·B` crops, drawn from a seed derived from `ctx.seed`,
 * so every crop's augmentation is fixed by (recipe seed, step, node, view,
 * sample position). At inference nothing random happens.
 *
 * **Multi-crop** (DINO, LeJEPA, NOVA's views): global and local crops have
 * different sizes, so they cannot share one tensor; write one `views` node
 * per family, e.g. `global: { kind: views, count: 2, size: 224, crops: global }`
 * and `local: { kind: views, count: 6, size: 96, crops: local }`, giving
 * `[2, B, 224, 224, C]` and `[6, B, 96, 96, C]`. Each node draws from its own
 * seed (derived from its name). `crops` only sets the default `scale`:
 * `global` [0.5, 1], `local` [0.05, 0.4] (DINO's local range). At inference a
 * node outputs the whole image at its own size, `[1, B, S, S, C]`.
 *
 * @module
 */
import { hostValue } from "../core/host_value.ts";
import * as tf from "@tensorflow/tfjs";
import { deriveSeed, Rng } from "../core/rng.ts";
import type { ForwardContext, Module, NodeValue, Parameter } from "../core/types.ts";
import type { Tensor, Tensor4D } from "../core/tensor.ts";
import { applyPhotometric, type PhotometricConfig } from "./augment.ts";

/** Parameters of the `views` module (validated by its registry entry). */
export interface ViewsConfig extends PhotometricConfig {
  /** Views per image `V`. */
  count: number;
  /** Output side; `undefined` = the input height. */
  size?: number;
  /** `[min, max]` fraction of the image area a crop covers. */
  scale: [number, number];
  /** `[min, max]` aspect ratio (width / height) of a crop. */
  ratio: [number, number];
  /** Probability of a horizontal flip per view and sample. */
  flip: number;
}

/** A crop in pixels: top-left corner and size. */
export interface CropBox {
  /** First row. */
  top: number;
  /** First column. */
  left: number;
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/**
 * Draws one crop box as torchvision's `RandomResizedCrop.get_params` does.
 *
 * @param rng The generator (advanced by the draw).
 * @param options Image `height`/`width` and the `scale`/`ratio` ranges.
 */
export function sampleCropBox(
  rng: Rng,
  options: { height: number; width: number; scale: [number, number]; ratio: [number, number] },
): CropBox {
  const { height, width, scale, ratio } = options;
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * rng.next());
    const aspect = Math.exp(logLo + (logHi - logLo) * rng.next());
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { top: rng.int(height - h + 1), left: rng.int(width - w + 1), height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return {
    top: Math.floor((height - h) / 2),
    left: Math.floor((width - w) / 2),
    height: h,
    width: w,
  };
}

/**
 * The normalised `cropAndResize` boxes of all `count × batch` crops, view-major.
 *
 * @param batch Images per batch `B`.
 * @param options The view config, image `height`/`width`, and the `seed`.
 * @returns `[V·B, 4]` rows `[y1, x1, y2, x2]` (a flipped crop has `x1 > x2`).
 */
export function sampleViewBoxes(
  batch: number,
  options: ViewsConfig & { height: number; width: number; seed: number },
): Float32Array {
  const rng = new Rng(options.seed);
  const { height, width, count } = options;
  const dy = Math.max(height - 1, 1);
  const dx = Math.max(width - 1, 1);
  const boxes = new Float32Array(count * batch * 4);
  for (let k = 0; k < count * batch; k++) {
    const box = sampleCropBox(rng, options);
    const flip = options.flip > 0 && rng.next() < options.flip;
    const x1 = box.left / dx;
    const x2 = (box.left + box.width - 1) / dx;
    boxes.set(
      [box.top / dy, flip ? x2 : x1, (box.top + box.height - 1) / dy, flip ? x1 : x2],
      k * 4,
    );
  }
  return boxes;
}

/**
 * Multi-view augmentation module. Input `[B, H, W, C]`; training output
 * `[V, B, S, S, C]` (random resized crops), inference output `[1, B, S, S, C]`
 * (the whole image resized to `S`). Parameter-free.
 */
export class ViewAugment implements Module {
  /** No trainable parameters. */
  readonly parameters: Parameter[] = [];
  readonly #config: ViewsConfig;
  readonly #name: string;

  /**
   * Creates the module (no state besides its configuration).
   *
   * @param config The view parameters.
   * @param name Node name, for error messages.
   */
  constructor(config: ViewsConfig, name: string) {
    this.#config = config;
    this.#name = name;
  }

  /** `[B, H, W, C]` → `[V, B, S, S, C]` (training) or `[1, B, S, S, C]` (inference). */
  forward(inputs: NodeValue[], ctx: ForwardContext): Tensor {
    const x = inputs[0];
    if (!(x instanceof tf.Tensor) || x.rank !== 4) {
      const got = x instanceof tf.Tensor ? `a tensor of shape [${x.shape.join(", ")}]` : "strings";
      throw new Error(`node "${this.#name}" (views) expects images [B, H, W, C], got ${got}`);
    }
    const [batch, height, width, channels] = x.shape;
    const size = this.#config.size ?? height;
    return tf.tidy(() => {
      const images = x as Tensor4D;
      if (!ctx.training) {
        const same = size === height && size === width;
        const out = same ? images : tf.image.resizeBilinear(images, [size, size], true);
        return tf.expandDims(out, 0);
      }
      const options = { ...this.#config, height, width };
      // A host value: a replayed step (core/replayable_step.ts) draws its own boxes.
      const boxes = hostValue(
        (host) => sampleViewBoxes(batch, { ...options, seed: host.seed(ctx.seed) }),
        [this.#config.count * batch, 4],
      ) as tf.Tensor2D;
      const boxInd = tf.tensor1d(
        Int32Array.from({ length: this.#config.count * batch }, (_, k) => k % batch),
        "int32",
      );
      const crops = tf.image.cropAndResize(images, boxes, boxInd, [size, size], "bilinear");
      const seed = deriveSeed(ctx.seed, "photometric");
      const out = applyPhotometric(crops, { ...this.#config, seed });
      return tf.reshape(out, [this.#config.count, batch, size, size, channels]);
    });
  }

  /** Nothing to release. */
  dispose(): void {}
}

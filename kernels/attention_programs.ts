/**
 * WGSL programs of the fused WebGPU self-attention (`kernels/attention.ts`),
 * FlashAttention-style: the scores `[N, H, T, T]` are never materialised.
 * Every program reads the fused QKV projection `[N, T, 3D]` (columns
 * `[q | k | v]`, head `h` at `h·d … h·d + d − 1` in each) as `vec4`s and
 * keeps a row's `d`-vectors in private `vec4` arrays. A workgroup owns
 * {@link ATTENTION_ROWS} rows of one (sample, head) and streams the other
 * side through workgroup memory in tiles of `tile` rows, four keys (or
 * queries) per step so the online-softmax rescale costs a quarter of a
 * multiply per element.
 *
 * On GPUs the loops over the head width are generated unrolled (constant
 * indices, so the arrays live in registers: dynamically indexed register
 * arrays are slow on GPUs). The compact form (`compact: true`, for Mesa's
 * llvmpipe) keeps them loops and reads the streamed rows directly, without
 * workgroup tiles or barriers.
 *
 * - forward: `kernels/attention_forward_program.ts`.
 * - dQ and dK/dV: `kernels/attention_grad_programs.ts`.
 *
 * @module
 */
import type { WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";

/** Rows (queries, or keys for dK/dV) per workgroup: one thread each. */
export const ATTENTION_ROWS = 64;

/** Largest head width the fused kernels take (registers per thread grow with it). */
export const ATTENTION_MAX_HEAD_WIDTH = 128;

/** Geometry and code shape shared by the four programs. */
export interface AttentionGeometry {
  /** Samples. */
  n: number;
  /** Tokens. */
  t: number;
  /** Heads. */
  heads: number;
  /** Head width (a multiple of 4, at most {@link ATTENTION_MAX_HEAD_WIDTH}). */
  dh: number;
  /** Rows of the streamed side per tile (a multiple of 4). */
  tile: number;
  /**
   * Compact code for software adapters: head-width loops stay loops and the
   * streamed rows are read directly instead of through workgroup tiles (no
   * barriers). Mesa's llvmpipe needs minutes to compile the tiled, unrolled
   * form of wide heads, and gains nothing from workgroup memory.
   */
  compact: boolean;
  /** An additive per-key bias `[N, T]` (a key-padding mask) is an extra input, `keyBias`. */
  keyBias: boolean;
}

/**
 * A tensor whose rows a program streams: `read(j, c)` is the WGSL expression
 * of its vec4 column `c` of sequence row `j` (or its value, for scalar rows).
 */
export interface Stream {
  /** WGSL identifier stem (the tile is `<name>T`). */
  name: string;
  /** vec4 rows of the head width (true) or one f32 per row. */
  vec: boolean;
  /** WGSL read of row `j`, column `c`; may use `n`, `h`, `T`, `D4`, `R4`, `scale`. */
  read: (j: string, c: string) => string;
}

/** Key rows of the QKV projection. */
export const KEYS: Stream = {
  name: "k",
  vec: true,
  read: (j, c) => `qkv[(n * T + ${j}) * R4 + D4 + h * V4 + ${c}]`,
};

/** The additive per-key bias `[N, T]`. */
export const KEY_BIAS: Stream = { name: "kb", vec: false, read: (j) => `keyBias[n * T + ${j}]` };

/** Value rows of the QKV projection. */
export const VALUES: Stream = {
  name: "v",
  vec: true,
  read: (j, c) => `qkv[(n * T + ${j}) * R4 + 2 * D4 + h * V4 + ${c}]`,
};

/**
 * The largest tile (64, 32, 16, 8 or 4 rows) whose workgroup memory — two
 * `[tile, dh]` float tiles plus `extraFloatsPerRow` floats per row — fits in
 * `limitBytes`.
 */
export function attentionTile(dh: number, limitBytes: number, extraFloatsPerRow = 0): number {
  for (const tile of [64, 32, 16, 8, 4]) {
    if (tile * (2 * dh + extraFloatsPerRow) * 4 <= limitBytes) return tile;
  }
  throw new Error(
    `kernels/attention_programs.ts: head width ${dh} needs ${
      4 * (2 * dh + extraFloatsPerRow) * 4
    } ` +
      `bytes of workgroup memory for the smallest tile; the device allows ${limitBytes}`,
  );
}

/**
 * [T, T]·[T, dh]-sized products each attention program computes: the forward
 * QKᵀ and PV; dQ recomputes QKᵀ, then dP = dO·Vᵀ and dS·K; dK/dV recomputes
 * QKᵀ, then Pᵀ·dO, dP and dSᵀ·Q (dV alone: QKᵀ and Pᵀ·dO; dK given dV: the
 * other three).
 */
const ATTENTION_PRODUCTS: Record<string, number> = { forward: 2, dq: 3, dkv: 4, dv: 2, dk: 3 };

/** Base class: layout, grid, uniforms and the WGSL building blocks. */
export abstract class AttentionProgram implements WebGPUProgram {
  /** Output shape. */
  abstract outputShape: number[];
  /** Inputs. */
  abstract variableNames: string[];
  /** Components per element of each input binding. */
  abstract variableComponents: number[];
  /** Cache key. */
  shaderKey: string;
  /** Non-flat layout so that `main()` takes no index. */
  dispatchLayout = { x: [0], y: [1], z: [2] };
  /** Row tiles × heads × samples. */
  dispatch: [number, number, number];
  /** One thread per row. */
  workgroupSize: [number, number, number] = [ATTENTION_ROWS, 1, 1];
  /** Program uniforms. */
  uniforms = "seq : i32, heads : i32,";
  /**
   * Multiply-add work done, recomputed scores included (2 FLOPs per product
   * term): GPU profiles (`core/gpu_profile.ts`) report TFLOP/s from it.
   */
  flops: number;

  /** Builds the program for geometry `g`. */
  constructor(readonly g: AttentionGeometry, kind: string) {
    this.dispatch = [Math.ceil(g.t / ATTENTION_ROWS), g.heads, g.n];
    this.flops = (ATTENTION_PRODUCTS[kind] ?? 0) * 2 * g.n * g.heads * g.t * g.t * g.dh;
    this.shaderKey = `novalabAttention_${kind}_${g.dh}_${g.tile}_${g.compact ? "c" : "t"}` +
      (g.keyBias ? "_kb" : "");
  }

  /** Input names: `names`, then `keyBias` when the geometry has one. */
  protected inputs(...names: string[]): string[] {
    return this.g.keyBias ? [...names, "keyBias"] : names;
  }

  /** Components per input binding: `components`, then 1 for `keyBias`. */
  protected components(...components: number[]): number[] {
    return this.g.keyBias ? [...components, 1] : components;
  }

  /** The streams of a program that streams keys: `streams`, plus the key bias when present. */
  protected keyStreams(...streams: Stream[]): Stream[] {
    return this.g.keyBias ? [...streams, KEY_BIAS] : streams;
  }

  /** The key bias of streamed key `jj + r`, for {@link scores} (none without a bias). */
  protected streamedKeyBias(): ((r: number) => string) | undefined {
    return this.g.keyBias ? (r) => this.at(KEY_BIAS, `jj + ${r}`) : undefined;
  }

  /** Head width in vec4s. */
  protected get v4(): number {
    return this.g.dh / 4;
  }

  /** WGSL: `body(c)` for every vec4 column `c` of a head row (unrolled or a loop). */
  protected forC(body: (c: string) => string): string {
    if (this.g.compact) return `for (var c = 0; c < ${this.v4}; c++) { ${body("c")} }`;
    return Array.from({ length: this.v4 }, (_, c) => body(String(c))).join("\n  ");
  }

  /** WGSL: a private `[dh]` vec4 array `name` with `init(c)` in every column. */
  protected row(name: string, init: (c: string) => string): string {
    return `var ${name}: array<vec4<f32>, ${this.v4}>;\n  ${
      this.forC((c) => `${name}[${c}] = ${init(c)};`)
    }`;
  }

  /**
   * WGSL: element `c` of streamed row `row` of `stream` (`row` counts from the
   * tile start when tiled, from 0 otherwise): a workgroup-tile read, or in the
   * compact form a direct read of row `min(row, T − 1)` (rows past `T` are
   * masked by the callers).
   */
  protected at(stream: Stream, row: string, c = ""): string {
    if (this.g.compact) return stream.read(`min(${row}, T - 1)`, c);
    return stream.vec ? `${stream.name}T[(${row}) * ${this.v4} + ${c}]` : `${stream.name}T[${row}]`;
  }

  /**
   * WGSL: `sA = a · stream[jj + A] (+ bias(A))` for the four rows of the step,
   * masked past `count`.
   */
  protected scores(a: string, stream: Stream, bias?: (r: number) => string): string {
    const add = bias ? [0, 1, 2, 3].map((r) => `s${r} += ${bias(r)};`).join(" ") : "";
    return `var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
      ${this.dots("s", a, stream)}
      ${add}
      s0 = select(-3.0e38, s0, jj < count); s1 = select(-3.0e38, s1, jj + 1 < count);
      s2 = select(-3.0e38, s2, jj + 2 < count); s3 = select(-3.0e38, s3, jj + 3 < count);`;
  }

  /** WGSL: `dA += a · stream[jj + A]` for the four rows of the step (`d` names `dA`). */
  protected dots(d: string, a: string, stream: Stream): string {
    return this.forC((c) =>
      [0, 1, 2, 3].map((r) => `${d}${r} += dot(${a}[${c}], ${this.at(stream, `jj + ${r}`, c)});`)
        .join(" ")
    );
  }

  /** WGSL: `acc[c] = acc[c]·keep + Σ_A wA · stream[jj + A][c]` (`keep` empty: plain sum). */
  protected accumulate(acc: string, w: string, stream: Stream, keep = ""): string {
    return this.forC((c) => {
      const old = keep ? `${acc}[${c}] * ${keep}` : `${acc}[${c}]`;
      const terms = [0, 1, 2, 3].map((r) => `${w}${r} * ${this.at(stream, `jj + ${r}`, c)}`);
      return `${acc}[${c}] = ${old} + ${terms.join(" + ")};`;
    });
  }

  /** WGSL: indices of this thread's row and the row strides (in vec4s). */
  protected prelude(): string {
    return `
  let T = uniforms.seq;
  let D4 = uniforms.heads * ${this.v4};
  let R4 = 3 * D4;
  let h = i32(workgroupId.y);
  let n = i32(workgroupId.z);
  let li = i32(localIndex);
  let i = i32(workgroupId.x) * ${ATTENTION_ROWS} + li;
  let valid = i < T;
  let ic = min(i, T - 1);
  let qkvRow = (n * T + ic) * R4 + h * ${this.v4};
  let outRow = (n * T + ic) * D4 + h * ${this.v4};
  let scale = ${1 / Math.sqrt(this.g.dh)};
  let V4 = ${this.v4};`;
  }

  /** WGSL: the workgroup tiles of `streams` (none in the compact form). */
  protected tiles(...streams: Stream[]): string {
    if (this.g.compact) return "";
    const { tile } = this.g;
    return streams.map((s) =>
      `var<workgroup> ${s.name}T: array<${s.vec ? "vec4<f32>" : "f32"}, ${
        s.vec ? tile * this.v4 : tile
      }>;`
    ).join("\n");
  }

  /**
   * WGSL: loops over the streamed rows, `body` once per 4-row step `jj` of
   * `count` rows. Tiled: per tile of `tile` rows, `streams` are first copied
   * into workgroup memory (zeros past `T`); compact: one loop over all rows.
   */
  protected tileLoop(streams: Stream[], body: string): string {
    if (this.g.compact) {
      return `
  let count = T;
  for (var jj = 0; jj < T; jj += 4) {
      ${body}
  }`;
    }
    const { tile } = this.g, v4 = this.v4;
    const vec = streams.filter((s) => s.vec), scalar = streams.filter((s) => !s.vec);
    const fill = (list: Stream[], c: string) =>
      list.map((s) =>
        `${s.name}T[e] = select(${s.vec ? "vec4<f32>(0.0)" : "0.0"}, ${s.read("jc", c)}, j < T);`
      )
        .join(" ");
    const scalarLoad = scalar.length === 0 ? "" : `
    for (var e = li; e < ${tile}; e += ${ATTENTION_ROWS}) {
      let j = j0 + e;
      let jc = min(j, T - 1);
      ${fill(scalar, "")}
    }`;
    return `
  for (var j0 = 0; j0 < T; j0 += ${tile}) {
    workgroupBarrier();
    for (var e = li; e < ${tile * v4}; e += ${ATTENTION_ROWS}) {
      let j = j0 + e / ${v4};
      let jc = min(j, T - 1);
      let c = e % ${v4};
      ${fill(vec, "c")}
    }${scalarLoad}
    workgroupBarrier();
    let count = min(${tile}, T - j0);
    for (var jj = 0; jj < count; jj += 4) {
      ${body}
    }
  }`;
  }

  /** WGSL user code. */
  abstract getUserCode(): string;
}

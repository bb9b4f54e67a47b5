/**
 * Which form of the 128 × 128 matmul tile runs: the blocked `t128` (the
 * layout of `shared/probes/wgsl_sgemm.ts`, 26.5 TFLOP/s at 4096² on an H100)
 * or one of its variants — interleaved thread layout, register prefetch of
 * the next k slice, a 16-deep k slice, two workgroup copies of the slices (one
 * barrier per slice; `kernels/matmul_staging.ts`). Which is
 * fastest is a GPU question: `deno task bench matmul --tile-forms` measures
 * every form in one run (`tools/gpu/run.sh tiles`), and
 * `NOVALAB_MATMUL_TILE=<name>` (or {@linkcode setMatMulTileForm}) picks one.
 * The smaller tiles (`t64`, `t32`) are unchanged.
 *
 * @module
 */
import { MATMUL_TILES, type MatMulTile } from "./matmul_program.ts";

/** The environment switch naming the large tile's form. */
export const MATMUL_TILE_ENV = "NOVALAB_MATMUL_TILE";

const T128 = MATMUL_TILES[0]!;

/** Every form of the large tile, the default (`t128`) first. */
export const MATMUL_TILE_FORMS: readonly MatMulTile[] = [
  T128,
  { ...T128, name: "t128i", interleave: true },
  { ...T128, name: "t128p", prefetch: true },
  { ...T128, name: "t128ip", interleave: true, prefetch: true },
  { ...T128, name: "t128ipk16", interleave: true, prefetch: true, bk: 16 },
  { ...T128, name: "t128id", interleave: true, prefetch: true, doubleBuffer: true },
];

let chosen: MatMulTile | undefined;

/** The form named `name`, or an error naming the valid ones (`where` says who asked). */
export function matMulTileForm(name: string, where = MATMUL_TILE_ENV): MatMulTile {
  const form = MATMUL_TILE_FORMS.find((t) => t.name === name);
  if (!form) {
    throw new Error(
      `kernels/matmul_tile_form.ts: ${where}='${name}' is not a tile form; ` +
        `valid: ${MATMUL_TILE_FORMS.map((t) => t.name).join(", ")}`,
    );
  }
  return form;
}

/** Makes the form named `name` the large tile (`undefined`: back to the environment or the default). */
export function setMatMulTileForm(name: string | undefined): void {
  chosen = name === undefined ? undefined : matMulTileForm(name, "setMatMulTileForm");
}

function environmentForm(): MatMulTile {
  let name: string | undefined;
  try {
    name = Deno.env.get(MATMUL_TILE_ENV);
  } catch {
    name = undefined;
  }
  return name ? matMulTileForm(name.trim()) : T128;
}

/** The tiles the planner chooses from, largest first, with the large tile in its chosen form. */
export function activeMatMulTiles(): readonly MatMulTile[] {
  return [chosen ?? environmentForm(), ...MATMUL_TILES.slice(1)];
}

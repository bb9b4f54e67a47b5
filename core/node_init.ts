/**
 * `nodes.<name>.init_from`: a node starts from trained parameters — a LeJEPA-trained
 * ViT aligned to text with NOVA, a locked image tower (with `freeze: true`, as
 * LiT) — read from a run directory (its exported `model.safetensors`, else its
 * latest checkpoint) or any `.safetensors` file with novalab's tensor names.
 * Strict, as PyTorch's `load_state_dict(strict=True)`: every parameter and
 * buffer of the node must be there with its shape, and the file may hold no
 * other tensors of that node (a different depth or width would otherwise half
 * load); each error names the recipe line, the file and the tensors.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { latestCheckpoint } from "./checkpoint_load.ts";
import { GraphError, type GraphSpec, type NodeSpec } from "./graph_spec.ts";
import { suggestion } from "./recipe/errors.ts";
import { decodeSafetensors, type TensorData } from "./safetensors.ts";
import type { Module, Parameter } from "./types.ts";
import { fromTimm, skippedTimmTensor } from "./timm_layout.ts";
import { adaptPatchEmbedding } from "./patch_embed_load.ts";
import { resampledPositions, timmPositions } from "./pos_embed_load.ts";
import { checkTrainingKeys } from "./training_keys.ts";

/** How many names an error lists before "… and N more". */
const LISTED = 5;

function listed(names: string[]): string {
  const more = names.length > LISTED ? ` … and ${names.length - LISTED} more` : "";
  return names.slice(0, LISTED).join(", ") + more;
}

/**
 * The checkpoint files `from` names, in the order they are tried: a
 * `.safetensors` file itself, or in a run directory
 * `checkpoints/model.safetensors` (the final export: nodes kept at inference)
 * and the file `checkpoints/latest.json` names (every node, `phase: train`
 * ones too).
 *
 * @throws When there is no such file, the directory holds no checkpoint, or
 *   its `latest.json` is unreadable.
 */
export async function initCheckpointFiles(from: string): Promise<string[]> {
  const info = await Deno.stat(from).catch((e: Error) => {
    throw new Error(`${from}: ${e instanceof Deno.errors.NotFound ? "no such file or run" : e}`);
  });
  if (info.isFile) return [from];
  const checkpoints = join(from, "checkpoints");
  const exported = join(checkpoints, "model.safetensors");
  const files: string[] = await Deno.stat(exported).then(() => [exported], () => []);
  const latest = await latestCheckpoint(checkpoints);
  if (latest) files.push(join(checkpoints, latest.file));
  if (files.length > 0) return files;
  throw new Error(
    `${from}: a directory without checkpoints/model.safetensors or checkpoints/latest.json; ` +
      "expected a run directory or a .safetensors file",
  );
}

/** The tensors of `file`, decoded once per compile. */
type FileCache = Map<string, Promise<Map<string, TensorData>>>;

async function tensorsOf(file: string, cache: FileCache): Promise<Map<string, TensorData>> {
  let entry = cache.get(file);
  if (!entry) {
    entry = Deno.readFile(file).then((bytes) => decodeSafetensors(bytes).tensors);
    cache.set(file, entry);
  }
  return await entry;
}

/** Node names a checkpoint holds tensors for (the part before the first dot; not `optim`, `ema`). */
function nodesIn(tensors: Map<string, TensorData>): string[] {
  const names = [...tensors.keys()].map((n) => n.split(".")[0]!).filter((n) =>
    n !== "optim" && n !== "ema"
  );
  return [...new Set(names)];
}

const ARCHITECTURE = "a different architecture (depth, width, MLP ratio, norm layers)? " +
  "(heads must match too, though they change no tensor's shape)";

/** Why a tensor's shape may differ, for the error. */
function shapeHint(name: string): string {
  if (name === "pos_embed") {
    return "a different image size or patch size (positions = (H/P)·(W/P), + 1 for the CLS " +
      "token and 1 per register; init_from.resample: bicubic or bilinear resamples a square grid), " +
      "or positions for the patches only (vit prefix_positions: false) or for registers " +
      "(vit registers: n)";
  }
  if (name === "patch_embed.proj.weight") {
    return "a different patch size or channel count (rows = P·P·C; init_from.grey: true reads " +
      "RGB weights into a one-channel node)";
  }
  return ARCHITECTURE;
}

/** What the names of a checkpoint that does not fit suggest. */
function namesHint(
  tensors: Map<string, TensorData>,
  at: { source: string; timm: boolean },
): string {
  const timmNames = tensors.has("patch_embed.proj.weight") || tensors.has("cls_token");
  if (!at.timm && timmNames) {
    return "its names are a timm model's, unprefixed: read it with " +
      "init_from: { path: …, layout: timm }";
  }
  const nodes = nodesIn(tensors);
  const prefixed = [...tensors.keys()].some((n) => n.startsWith(`${at.source}.`));
  if (at.source && !prefixed) {
    return at.timm
      ? `no tensor's name starts with "${at.source}."; drop node: when its names are unprefixed`
      : `it holds nodes ${nodes.join(", ")}${suggestion(at.source, nodes)}; ` +
        `pick one with init_from: { path: …, node: <name> }`;
  }
  return ARCHITECTURE;
}

/** The first file of `from` holding a tensor under `prefix` (else the first file), decoded. */
async function chooseFile(
  from: string,
  prefix: string,
  cache: FileCache,
): Promise<[string, Map<string, TensorData>]> {
  let chosen: [string, Map<string, TensorData>] | undefined;
  // A train-only node is only in step checkpoints, not in the run's export.
  for (const candidate of await initCheckpointFiles(from)) {
    const found = await tensorsOf(candidate, cache);
    chosen ??= [candidate, found];
    if ([...found.keys()].some((n) => n.startsWith(prefix))) return [candidate, found];
  }
  return chosen!;
}

/** Loads one node's parameters and buffers from its `init_from`; throws a located GraphError. */
async function initNode(
  spec: GraphSpec,
  node: NodeSpec,
  module: Module,
  cache: FileCache,
): Promise<void> {
  const keyPath = `nodes.${node.name}.init_from`;
  const fail = (detail: string): never => {
    throw new GraphError(keyPath, detail, spec.locate?.(keyPath));
  };
  const own = [...module.parameters, ...(module.buffers ?? [])];
  if (own.length === 0) fail(`${node.kind} has no parameters to start from a checkpoint`);
  const { path: from, layout = "novalab" } = node.initFrom!;
  const timm = layout === "timm";
  // A timm file holds one model's tensors unprefixed; novalab's are `<node>.<name>`.
  const source = node.initFrom!.node ?? (timm ? "" : node.name);
  const prefix = source ? `${source}.` : "";
  const what = source ? `node "${source}"` : "the model";
  const [file, tensors] = await chooseFile(from, prefix, cache).catch((e: Error) =>
    fail(`cannot read ${from}: ${e.message.replace(`${from}: `, "")}`)
  );
  const rest = (name: string) => name.slice(node.name.length + 1);
  const wanted = new Map(own.map((p) => [prefix + rest(p.name), p]));
  const skipped = (n: string) =>
    n.startsWith("optim.") || (timm && skippedTimmTensor(n.slice(prefix.length)));
  const missing = [...wanted.keys()].filter((n) => !tensors.has(n));
  const extra = [...tensors.keys()].filter((n) =>
    n.startsWith(prefix) && !wanted.has(n) && !skipped(n)
  );
  if (missing.length > 0 || extra.length > 0) {
    // Both lists, as PyTorch's load_state_dict reports them: together they say what the file is.
    const parts = [
      ...(missing.length
        ? [`lacks ${missing.length} tensor(s) of ${what}: ${listed(missing)}`]
        : []),
      ...(extra.length
        ? [
          `holds ${extra.length} tensor(s) of ${what} that ${node.name} does not have: ${
            listed(extra)
          }`,
        ]
        : []),
    ];
    fail(`${file} ${parts.join(", and ")}; ${namesHint(tensors, { source, timm })}`);
  }
  const values = new Map<Parameter, TensorData>();
  for (const [name, p] of wanted) {
    let stored = tensors.get(name)!;
    try {
      if (timm) stored = fromTimm(name.slice(prefix.length), stored);
      const resample = node.initFrom!.resample;
      if (rest(p.name) === "pos_embed" && timm) {
        stored = timmPositions(stored, module, resample);
      } else if (rest(p.name) === "pos_embed" && resample) {
        stored = resampledPositions(stored, p, module, resample);
      }
    } catch (e) {
      fail(`${file}: ${(e as Error).message}`);
    }
    values.set(p, stored);
  }
  adaptPatchEmbedding(node, module, values, fail);
  for (const [p, stored] of values) {
    if (tf.util.arraysEqual(stored.shape, p.variable.shape)) continue;
    const name = prefix + rest(p.name);
    fail(
      `${file}: tensor "${name}" has shape [${stored.shape}]${
        timm ? " in novalab's layout" : ""
      }, node ${node.name}'s "${p.name}" [${p.variable.shape}]; ${shapeHint(rest(p.name))}`,
    );
  }
  for (const [p, t] of values) {
    tf.tidy(() => p.variable.assign(tf.tensor(t.data, t.shape, "float32")));
  }
}

/**
 * Loads every node's `init_from` into its module (after the dry runs, so nothing
 * they update survives), after checking the nodes' training keys
 * (`core/training_keys.ts`).
 *
 * @param spec The graph (nodes' `init_from` / `freeze`, and where they were written).
 * @param modules The built modules by node name.
 * @throws GraphError at `nodes.<name>.init_from` / `.freeze`.
 */
export async function applyNodeInits(spec: GraphSpec, modules: Map<string, Module>): Promise<void> {
  checkTrainingKeys(spec, modules);
  const cache: FileCache = new Map();
  for (const node of spec.nodes) {
    if (node.initFrom) await initNode(spec, node, modules.get(node.name)!, cache);
  }
}

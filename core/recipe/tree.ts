/**
 * The located value tree the recipe loader works on: YAML values that keep
 * the file, line and column that supplied them through `extends` merging,
 * `--set` overrides and `${var}` interpolation. Also key paths
 * (`losses[0].weight`, `nodes.pred.layers[2]`).
 *
 * @module
 */
import type { SourceLocation } from "../types.ts";

/** A scalar leaf (string, number, boolean or null) and where it was written. */
export interface ScalarNode {
  /** Discriminant. */
  type: "scalar";
  /** The value. */
  value: string | number | boolean | null;
  /** Where the value starts. */
  loc: SourceLocation;
}

/** One key of a {@link MapNode}: where the key was written and its value. */
export interface MapEntry {
  /** Location of the key itself (used for unknown-key errors). */
  key: SourceLocation;
  /** The value. */
  value: TreeNode;
}

/** A mapping, in source order. */
export interface MapNode {
  /** Discriminant. */
  type: "map";
  /** Entries by key, in insertion order. */
  entries: Map<string, MapEntry>;
  /** Where the mapping starts. */
  loc: SourceLocation;
}

/** A sequence. */
export interface SeqNode {
  /** Discriminant. */
  type: "seq";
  /** Items in order. */
  items: TreeNode[];
  /** Where the sequence starts. */
  loc: SourceLocation;
}

/** Any node of the located tree. */
export type TreeNode = ScalarNode | MapNode | SeqNode;

/** One step of a key path: a map key or a list index. */
export type PathSegment = string | number;

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Renders segments as a key path: `["losses", 0, "weight"]` → `losses[0].weight`. */
export function formatKeyPath(segments: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of segments) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (typeof seg === "string" && IDENT.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

/**
 * Parses a key path such as `nodes.pred.layers[2]` or `losses[1].weight`;
 * `undefined` when malformed.
 */
export function parseKeyPath(text: string): PathSegment[] | undefined {
  const segments: PathSegment[] = [];
  const tail = String.raw`\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]`;
  const first = new RegExp(String.raw`([A-Za-z_][\w-]*)|` + tail, "y");
  const next = new RegExp(String.raw`\.([A-Za-z_][\w-]*)|` + tail, "y");
  let pos = 0;
  while (pos < text.length) {
    const pattern = pos === 0 ? first : next;
    pattern.lastIndex = pos;
    const m = pattern.exec(text);
    if (!m) return undefined;
    if (m[1] !== undefined) segments.push(m[1]);
    else if (m[2] !== undefined) segments.push(Number(m[2]));
    else segments.push(JSON.parse(`"${m[3]}"`));
    pos = pattern.lastIndex;
  }
  return segments.length > 0 ? segments : undefined;
}

/** An empty map located at `loc`. */
export function emptyMap(loc: SourceLocation): MapNode {
  return { type: "map", entries: new Map(), loc };
}

/** The literal `kind` of a map (a plain name, not `${…}`), if it has one. */
function kindOf(node: MapNode): string | undefined {
  const kind = node.entries.get("kind")?.value;
  const value = kind?.type === "scalar" ? kind.value : undefined;
  return typeof value === "string" && /^[A-Za-z_][\w-]*$/.test(value) ? value : undefined;
}

/**
 * Deep-merges `overlay` onto `base`: maps merge key by key (recursively,
 * base keys first), anything else in `overlay` replaces what `base` had. A map
 * whose literal `kind` differs from the base map's replaces it whole (kinds
 * written with `${…}` are compared after interpolation, too late: they merge):
 * its other keys belong to another kind (an evaluation recipe that extends a training recipe
 * and switches `data.kind` from `mimic_cxr` to `chexpert` keeps none of MIMIC's
 * settings). Every value keeps the location of the tree that supplied it.
 */
export function mergeTrees(base: TreeNode, overlay: TreeNode): TreeNode {
  if (base.type !== "map" || overlay.type !== "map") return overlay;
  const [baseKind, overlayKind] = [kindOf(base), kindOf(overlay)];
  if (baseKind !== undefined && overlayKind !== undefined && baseKind !== overlayKind) {
    return overlay;
  }
  const entries = new Map(base.entries);
  for (const [key, entry] of overlay.entries) {
    const prior = entries.get(key);
    entries.set(
      key,
      prior ? { key: entry.key, value: mergeTrees(prior.value, entry.value) } : entry,
    );
  }
  return { type: "map", entries, loc: overlay.loc };
}

/** A copy of `node` with every location (values and keys) replaced by `loc`. */
export function relocate(node: TreeNode, loc: SourceLocation): TreeNode {
  switch (node.type) {
    case "scalar":
      return { ...node, loc };
    case "seq":
      return { type: "seq", items: node.items.map((item) => relocate(item, loc)), loc };
    case "map": {
      const entries = new Map<string, MapEntry>();
      for (const [k, e] of node.entries) {
        entries.set(k, { key: loc, value: relocate(e.value, loc) });
      }
      return { type: "map", entries, loc };
    }
  }
}

/** The plain JavaScript value of a tree (maps become objects, in order). */
export function toPlain(node: TreeNode): unknown {
  switch (node.type) {
    case "scalar":
      return node.value;
    case "seq":
      return node.items.map(toPlain);
    case "map": {
      const out: Record<string, unknown> = {};
      for (const [k, e] of node.entries) {
        Object.defineProperty(out, k, {
          value: toPlain(e.value),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
  }
}

/** Locations of every key path of a tree. */
export interface LocationIndex {
  /**
   * Location of each value: scalars where the value is written, maps and
   * lists under a key where the key is written, list items where they start.
   */
  values: Map<string, SourceLocation>;
  /** Location of each map key, by the key path it introduces. */
  keys: Map<string, SourceLocation>;
}

/** Builds the {@link LocationIndex} of a tree. */
export function indexLocations(root: TreeNode): LocationIndex {
  const index: LocationIndex = { values: new Map(), keys: new Map() };
  const visit = (node: TreeNode, path: PathSegment[], keyLoc?: SourceLocation): void => {
    const p = formatKeyPath(path);
    index.values.set(p, node.type !== "scalar" && keyLoc ? keyLoc : node.loc);
    if (keyLoc) index.keys.set(p, keyLoc);
    if (node.type === "seq") node.items.forEach((item, i) => visit(item, [...path, i]));
    if (node.type === "map") {
      for (const [k, e] of node.entries) visit(e.value, [...path, k], e.key);
    }
  };
  visit(root, []);
  return index;
}

/**
 * Looks up `path` in `table`, falling back to the nearest ancestor that has
 * a location (e.g. a missing key points at its parent map).
 */
export function lookupLocation(
  table: Map<string, SourceLocation>,
  path: readonly PathSegment[],
): SourceLocation | undefined {
  for (let n = path.length; n >= 0; n--) {
    const loc = table.get(formatKeyPath(path.slice(0, n)));
    if (loc) return loc;
  }
  return undefined;
}

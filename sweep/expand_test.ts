import assert from "node:assert/strict";
import {
  expandSweep,
  formatValue,
  gridRows,
  memberId,
  parseShard,
  sanitizeId,
  shardMembers,
  variantOf,
} from "./expand.ts";
import type { SweepSpec } from "./types.ts";

function spec(over: Partial<SweepSpec> = {}): SweepSpec {
  return {
    name: "t",
    file: "recipes/sweeps/t.yaml",
    recipes: [{ label: "nova", file: "recipes/nova.yaml" }, {
      label: "ito",
      file: "recipes/ito.yaml",
    }],
    set: ["train.steps=5"],
    grid: [{ key: "vars.lambda", values: [0, 0.05] }, { key: "train.batch", values: [8, 16] }],
    toggles: [
      { name: "no_fusion", description: "d", recipes: ["ito"], set: ["losses[1].weight=0"] },
      { name: "short", description: "d", set: ["train.steps=2"] },
    ],
    seeds: [0, 1],
    metrics: [{ label: "top-1", key: "zero_shot.top1", better: "higher" }],
    locate: () => ({ file: "t.yaml", line: 1, column: 1 }),
    ...over,
  };
}

Deno.test("expand: recipes × grid (row-major) × [baseline, toggles] × seeds, in that order", () => {
  const members = expandSweep(spec());
  // nova: 4 grid rows × [baseline, short] × 2 seeds; ito: 4 × [baseline, no_fusion, short] × 2.
  assert.equal(members.length, 4 * 2 * 2 + 4 * 3 * 2);
  assert.deepEqual(members.map((m) => m.index), members.map((_, i) => i));
  assert.deepEqual(members.slice(0, 6).map((m) => m.id), [
    "nova,lambda=0,batch=8-s0",
    "nova,lambda=0,batch=8-s1",
    "nova+short,lambda=0,batch=8-s0",
    "nova+short,lambda=0,batch=8-s1",
    "nova,lambda=0,batch=16-s0",
    "nova,lambda=0,batch=16-s1",
  ]);
  const ito = members.filter((m) => m.recipe === "ito").slice(0, 6).map((m) => m.id);
  assert.deepEqual(ito, [
    "ito,lambda=0,batch=8-s0",
    "ito,lambda=0,batch=8-s1",
    "ito+no_fusion,lambda=0,batch=8-s0",
    "ito+no_fusion,lambda=0,batch=8-s1",
    "ito+short,lambda=0,batch=8-s0",
    "ito+short,lambda=0,batch=8-s1",
  ]);
  assert.equal(members.filter((m) => m.toggle === "no_fusion" && m.recipe === "nova").length, 0);
  assert.equal(new Set(members.map((m) => m.id)).size, members.length, "ids are unique");
});

Deno.test("expand: a member's --set list is sweep set, grid, toggle set, seed — with origins", () => {
  const m = expandSweep(spec()).find((x) => x.id === "ito+no_fusion,lambda=0.05,batch=16-s1")!;
  assert.deepEqual(m.sets, [
    "train.steps=5",
    "vars.lambda=0.05",
    "train.batch=16",
    "losses[1].weight=0",
    "seed=1",
  ]);
  assert.deepEqual(m.origins, [
    "set[0]",
    'grid["vars.lambda"][1]',
    'grid["train.batch"][1]',
    "toggles.no_fusion.set[0]",
    "seeds[1]",
  ]);
  assert.deepEqual(m.grid, { "vars.lambda": 0.05, "train.batch": 16 });
  assert.equal(m.variant, "ito+no_fusion,lambda=0.05,batch=16");
  assert.equal(m.recipe_file, "recipes/ito.yaml");
});

Deno.test("expand: the same spec expands to the same members every time", () => {
  assert.deepEqual(expandSweep(spec()), expandSweep(spec()));
});

Deno.test("expand: no grid and no toggles gives one member per recipe and seed", () => {
  const members = expandSweep(spec({ grid: [], toggles: [], seeds: [3] }));
  assert.deepEqual(members.map((m) => m.id), ["nova-s3", "ito-s3"]);
  assert.deepEqual(members[0]!.sets, ["train.steps=5", "seed=3"]);
});

Deno.test("ids: the contract's examples, sanitisation and variants", () => {
  assert.equal(
    memberId({ recipe: "nova", toggle: null, grid: [["vars.lambda", 0.05]], seed: 1 }),
    "nova,lambda=0.05-s1",
  );
  assert.equal(
    memberId({ recipe: "ito", toggle: "no_fusion", grid: [], seed: 0 }),
    "ito+no_fusion-s0",
  );
  assert.equal(
    memberId({ recipe: "clip", toggle: null, grid: [["nodes.pred.layers", [64, 64]]], seed: 2 }),
    "clip,layers=_64,64_-s2",
  );
  assert.equal(
    memberId({ recipe: "clip", toggle: null, grid: [["losses[1].weight", 0.5]], seed: 0 }),
    "clip,weight=0.5-s0",
  );
  assert.equal(sanitizeId("a/b c:d*é=1,+x.y-z"), "a_b_c_d__=1,+x.y-z");
  assert.equal(variantOf("nova,lambda=0.05-s12"), "nova,lambda=0.05");
  assert.equal(variantOf("ito+no_fusion-s0"), "ito+no_fusion");
});

Deno.test("formatValue: override text that YAML reads back as the same value", () => {
  assert.equal(formatValue(0.05), "0.05");
  assert.equal(formatValue(1e-7), "1e-7");
  assert.equal(formatValue(true), "true");
  assert.equal(formatValue("tiny"), "tiny");
  assert.equal(formatValue("0.05"), '"0.05"', "a numeric-looking string stays a string");
  assert.equal(formatValue("a b"), '"a b"');
  assert.equal(formatValue([64, 64]), "[64,64]");
  assert.equal(formatValue({ train: 8 }), '{"train":8}');
});

Deno.test("gridRows: row-major, the last factor fastest; no factors is one empty row", () => {
  const rows = gridRows([{ key: "a", values: [1, 2] }, { key: "b", values: ["x", "y", "z"] }]);
  assert.deepEqual(rows.map((r) => r.map((c) => c.value).join("")), [
    "1x",
    "1y",
    "1z",
    "2x",
    "2y",
    "2z",
  ]);
  assert.deepEqual(gridRows([]), [[]]);
});

Deno.test("shards: for every n, the shards are disjoint and together are the whole sweep", () => {
  const members = expandSweep(spec());
  for (let n = 1; n <= 7; n++) {
    const slices = Array.from(
      { length: n },
      (_, i) => shardMembers(members, parseShard(`${i}/${n}`)),
    );
    const ids = slices.flatMap((s) => s.map((m) => m.id));
    assert.equal(ids.length, members.length, `n=${n}: no member twice`);
    assert.deepEqual(new Set(ids), new Set(members.map((m) => m.id)), `n=${n}: union is whole`);
    slices.forEach((s, i) => assert.ok(s.every((m) => m.index % n === i)));
  }
  assert.equal(shardMembers(members).length, members.length, "no shard: every member");
});

Deno.test("parseShard: i/n with 0 ≤ i < n; malformed values are clear errors", () => {
  assert.deepEqual(parseShard("1/4"), { index: 1, count: 4 });
  assert.deepEqual(parseShard(" 0 / 1 "), { index: 0, count: 1 });
  assert.throws(() => parseShard("3/2"), /--shard 3\/2: shard index 3 is out of range.*0 to 1/);
  assert.throws(() => parseShard("2/2"), /out of range for 2 shards; expected 0 to 1/);
  assert.throws(() => parseShard("a/b"), /--shard "a\/b": not of the form i\/n; expected i\/n/);
  assert.throws(() => parseShard("0/0"), /shard count n is 0; expected n ≥ 1/);
  assert.throws(() => parseShard("-1/2"), /not of the form i\/n/);
  assert.throws(() => parseShard("1/2/3"), /not of the form i\/n/);
  assert.throws(() => parseShard(""), /not of the form i\/n/);
});

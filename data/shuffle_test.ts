import assert from "node:assert/strict";
import { epochOrder, holdOut, sampleChoice } from "./shuffle.ts";

Deno.test("shuffle: epochOrder is a deterministic permutation that changes per epoch", () => {
  const a = epochOrder(1000, { seed: 7, epoch: 0 });
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(a, epochOrder(1000, { seed: 7, epoch: 0 }));
  const b = epochOrder(1000, { seed: 7, epoch: 1 });
  const c = epochOrder(1000, { seed: 8, epoch: 0 });
  const same = (x: Int32Array, y: Int32Array) => x.filter((v, i) => v === y[i]).length;
  assert.ok(same(a, b) < 20, "epochs should differ");
  assert.ok(same(a, c) < 20, "seeds should differ");
  assert.equal(epochOrder(0, { seed: 1, epoch: 0 }).length, 0);
  assert.throws(() => epochOrder(-1, { seed: 1, epoch: 0 }), /non-negative integer, got -1/);
});

Deno.test("shuffle: sampleChoice is stable and roughly uniform", () => {
  const opts = { seed: 3, epoch: 2, purpose: "caption" };
  const counts = [0, 0, 0, 0, 0];
  for (let i = 0; i < 5000; i++) {
    const k = sampleChoice(5, { ...opts, index: i });
    assert.equal(k, sampleChoice(5, { ...opts, index: i }));
    counts[k]++;
  }
  for (const c of counts) assert.ok(c > 850 && c < 1150, `count ${c}`);
  assert.equal(sampleChoice(1, { ...opts, index: 0 }), 0);
  assert.throws(() => sampleChoice(0, { ...opts, index: 0 }), /positive integer, got 0/);
});

Deno.test("shuffle: holdOut partitions by seed", () => {
  const { keep, held } = holdOut(100, { fraction: 0.2, seed: 1 });
  assert.equal(held.length, 20);
  assert.equal(keep.length, 80);
  assert.deepEqual(
    [...keep, ...held].sort((x, y) => x - y),
    Array.from({ length: 100 }, (_, i) => i),
  );
  assert.deepEqual(holdOut(100, { fraction: 0.2, seed: 1 }).held, held);
  assert.notDeepEqual(holdOut(100, { fraction: 0.2, seed: 2 }).held, held);
  assert.throws(() => holdOut(10, { fraction: 1, seed: 0 }), /\[0, 1\), got 1/);
});

import assert from "node:assert/strict";
import { topClasses } from "./top_classes.ts";

Deno.test("topClasses: best first, ties by index, k capped at the classes", () => {
  const scores = { rows: 2, cols: 3, data: Float64Array.from([0.1, 0.9, 0.5, 0.2, 0.2, -1]) };
  const top = topClasses(scores, { names: ["a", "b", "c"], k: 2 });
  assert.deepEqual(top, [
    [{ index: 1, name: "b", score: 0.9 }, { index: 2, name: "c", score: 0.5 }],
    [{ index: 0, name: "a", score: 0.2 }, { index: 1, name: "b", score: 0.2 }],
  ]);
  assert.equal(topClasses(scores, { names: ["a", "b", "c"], k: 10 })[0]!.length, 3);
  assert.throws(() => topClasses(scores, { names: ["a"], k: 1 }), /1 names for 3 score columns/);
  assert.throws(() => topClasses(scores, { names: ["a", "b", "c"], k: 0 }), /expected an integer/);
});

/** Evaluators' split names are checked against the built source, located, with the choices. */
import assert from "node:assert/strict";
import { checkEvalSplits } from "./eval_splits.ts";
import type { RunnableRecipe } from "./run.ts";
import type { DataSource } from "./types.ts";

const source = {
  name: "mnist",
  splits: { train: { size: 10 }, test: { size: 5 } },
} as unknown as DataSource;

function recipe(evals: { kind: string; params: object }[]): RunnableRecipe {
  return {
    eval: evals.map((e, i) => ({ ...e, name: `e${i}` })),
    graph: {
      nodes: [],
      losses: [],
      locate: (k: string) => ({ file: "r.yaml", line: 7, column: k.length }),
    },
  } as unknown as RunnableRecipe;
}

Deno.test("checkEvalSplits: unknown split names are located, with a suggestion and the choices", () => {
  assert.throws(
    () =>
      checkEvalSplits(
        recipe([
          { kind: "knn", params: { split: "tset", train: "train", k: 20 } },
          { kind: "linear_probe", params: { split: "test", val: "validation" } },
        ]),
        source,
      ),
    (e: Error) => {
      assert.equal(
        e.message,
        'r.yaml:7:13: eval[0].split: knn reads split "tset" (did you mean "test"?), which mnist ' +
          "does not have\n  expected one of: train, test\n" +
          'r.yaml:7:11: eval[1].val: linear_probe reads split "validation", which mnist does not ' +
          "have\n  expected one of: train, test",
      );
      return true;
    },
  );
  checkEvalSplits(recipe([{ kind: "knn", params: { split: "test", train: "train" } }]), source);
});

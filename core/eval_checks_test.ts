/**
 * Evaluators' split names and needs (class names, findings) are checked against
 * the built source before training, located, with the choices.
 */
import assert from "node:assert/strict";
import "./builtins.ts";
import { checkEvalData } from "./eval_checks.ts";
import type { RunnableRecipe } from "./run.ts";
import type { DataSource } from "./types.ts";

const source = {
  name: "mnist",
  classNames: ["zero", "one"],
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

Deno.test("checkEvalData: unknown split names are located, with a suggestion and the choices", () => {
  assert.throws(
    () =>
      checkEvalData(
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
  checkEvalData(recipe([{ kind: "knn", params: { split: "test", train: "train" } }]), source);
});

Deno.test("checkEvalData: what an evaluator needs from its source is checked, located", () => {
  const chest = {
    name: "chestxray14",
    classNames: [],
    labelNames: ["Atelectasis", "Effusion"],
    splits: { test: { size: 5 } },
  } as unknown as DataSource;
  const binary = {
    image: "pred",
    text: "text",
    split: "test",
    positive: ["{}"],
    negative: ["no {}"],
  };
  const specs = [
    { kind: "zero_shot_binary", params: { ...binary, findings: ["Pleural Effusion"] } },
    { kind: "zero_shot", params: { image: "pred", text: "text", split: "test" } },
    { kind: "zero_shot_binary", params: { ...binary, findings: ["Effusion"] } },
  ];
  assert.throws(() => checkEvalData(recipe(specs), chest), (e: Error) => {
    assert.equal(
      e.message,
      'r.yaml:7:16: eval[0].findings: zero_shot_binary: finding "Pleural Effusion" is not a ' +
        'label of data source "chestxray14"; expected one of: Atelectasis, Effusion\n' +
        'r.yaml:7:7: eval[1]: zero_shot: data source "chestxray14" has 0 class names; ' +
        "zero-shot classification needs at least 2",
    );
    return true;
  });
  checkEvalData(recipe(specs.slice(2)), chest);
});

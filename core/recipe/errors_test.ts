import assert from "node:assert/strict";
import { formatIssue, formatLocation, RecipeError, sortIssues, suggestion } from "./errors.ts";

Deno.test("formatIssue: location, key path, message, expected and choices", () => {
  const text = formatIssue({
    location: { file: "recipes/bad.yaml", line: 14, column: 11 },
    keyPath: "losses[0].kind",
    message: 'unknown loss kind "mse"',
    choices: ["clip", "prediction", "sigreg"],
  });
  assert.equal(
    text,
    'recipes/bad.yaml:14:11: losses[0].kind: unknown loss kind "mse"\n' +
      "  expected one of: clip, prediction, sigreg",
  );
  assert.equal(
    formatIssue({
      location: { file: "--set a=", line: 0, column: 1 },
      keyPath: "",
      message: "m",
      expected: "x",
      choices: [],
    }),
    "--set a=: m\n  expected x: (none defined)",
  );
  assert.equal(formatLocation({ file: "f", line: 2, column: 3 }), "f:2:3");
});

Deno.test("sortIssues / RecipeError: by file order, then line and column; duplicates dropped", () => {
  const at = (file: string, line: number, column = 1) => ({
    location: { file, line, column },
    keyPath: `k${line}`,
    message: "m",
  });
  const issues = [
    at("b.yaml", 1),
    at("--set x=1", 0),
    at("a.yaml", 9),
    at("a.yaml", 2, 5),
    at("a.yaml", 2, 1),
    at("a.yaml", 9),
  ];
  const sorted = sortIssues(issues, ["a.yaml", "b.yaml"]);
  assert.deepEqual(
    sorted.map((i) => `${i.location.file}:${i.location.line}:${i.location.column}`),
    [
      "a.yaml:2:1",
      "a.yaml:2:5",
      "a.yaml:9:1",
      "b.yaml:1:1",
      "--set x=1:0:1",
    ],
  );
  const error = new RecipeError(issues, { fileOrder: ["a.yaml", "b.yaml"] });
  assert.equal(error.name, "RecipeError");
  assert.equal(error.issues.length, 5);
  assert.deepEqual(error.location, { file: "a.yaml", line: 2, column: 1 });
  assert.equal(error.keyPath, "k2");
  assert.equal(error.message.split("\n")[0], "a.yaml:2:1: k2: m");
});

Deno.test("suggestion: close spellings only (edits and transpositions)", () => {
  assert.equal(suggestion("imgae", ["image", "pred"]), ' (did you mean "image"?)');
  assert.equal(suggestion("optimiser", ["optimizer", "train"]), ' (did you mean "optimizer"?)');
  assert.equal(suggestion("xyz", ["image", "pred"]), "");
  assert.equal(suggestion("image", ["image"]), "");
});

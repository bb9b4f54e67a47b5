import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { ModuleFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import type { BuildContext, Module, Shape } from "../core/types.ts";
import { issue4ModuleEntries, modelEntries } from "./entries.ts";

await tf.setBackend("cpu");

function entry(kind: string): RegistryEntry<ModuleFactory> {
  return issue4ModuleEntries.find((e) => e.kind === kind)!;
}

async function build(kind: string, params: unknown, inputShapes: Shape[]): Promise<Module> {
  const ctx: BuildContext = { name: "n", inputShapes, seed: 1, cacheDir: "" };
  return await entry(kind).create(entry(kind).schema.parse(params), ctx);
}

Deno.test("issue-4 entries: kinds, strict schemas with the documented defaults", () => {
  assert.deepEqual(issue4ModuleEntries.map((e) => e.kind), [
    "fusion",
    "prototypes",
    "text_transformer",
    "take_token",
    "hf_text",
  ]);
  assert.deepEqual(entry("fusion").schema.parse({}), {
    width: 512,
    layers: 2,
    heads: 8,
    mlp_ratio: 4,
  });
  assert.deepEqual(entry("prototypes").schema.parse({}), { prototypes: 32768 });
  assert.deepEqual(entry("text_transformer").schema.parse({}), {
    vocab: 8192,
    max_length: 32,
    dim: 64,
    depth: 2,
    heads: 4,
    mlp_ratio: 4,
    causal: true,
    pooling: "eot",
    output: "pooled",
    checkpoint: false,
  });
  assert.deepEqual(entry("take_token").schema.parse({}), { index: 0 });
  assert.deepEqual(entry("take_token").schema.parse({ index: "-1" }), { index: -1 });
  for (const e of issue4ModuleEntries) {
    assert.equal(
      e.schema.safeParse({ model: "m", nonsense: 1 }).success,
      false,
      `${e.kind} strict`,
    );
  }
  assert.equal(entry("text_transformer").schema.safeParse({ pooling: "max" }).success, false);
  assert.equal(entry("take_token").schema.safeParse({ index: 0.5 }).success, false);
  const vit = modelEntries.find((e) => e.kind === "vit")!;
  assert.equal((vit.schema.parse({}) as { output: string }).output, "cls");
  assert.equal(vit.schema.safeParse({ output: "patches" }).success, false);
});

Deno.test("issue-4 entries: factories check shapes and name what is wrong", async () => {
  const proto = await build("prototypes", {}, [[-1, 16]]);
  assert.deepEqual(proto.parameters[0]!.variable.shape, [16, 32768]);
  proto.dispose();
  await assert.rejects(
    build("prototypes", {}, [[]]),
    /\(prototypes\) expects an input of rank >= 1/,
  );
  await assert.rejects(
    build("fusion", { width: 12, heads: 8 }, [[-1, 5, 16], [-1, 4, 9]]),
    /width 12 is not divisible by heads 8/,
  );
  const fusion = await build("fusion", { width: 16, heads: 4 }, [[2, -1, 5, 16], [-1, 4, 9]]);
  assert.equal(
    fusion.parameters.find((p) => p.name === "n.text_proj.weight")!.variable.shape[0],
    8,
  );
  fusion.dispose();
  await assert.rejects(
    build("text_transformer", {}, [[-1, 8]]),
    /\(text_transformer\) expects a list of strings such as batch\.caption, got an input of shape \[-1, 8\]/,
  );
  await assert.rejects(
    build("text_transformer", { dim: 30, heads: 4 }, [[]]),
    /width 30 is not divisible by heads 4/,
  );
  const text = await build("text_transformer", { vocab: 64, dim: 8, heads: 2, depth: 1 }, [[]]);
  assert.deepEqual(text.parameters[0]!.variable.shape, [64, 8]);
  text.dispose();
  await assert.rejects(
    build("take_token", { index: 5 }, [[-1, 5, 16]]),
    /index 5 is out of range for 5 tokens; expected -5 <= index < 5/,
  );
  await assert.rejects(
    build("take_token", {}, [[-1, 16]]),
    /\(take_token\) expects an input of rank >= 3 \(tokens \[B, \.\.\., T, D\]/,
  );
});

/**
 * `nodes.<name>.init_from`, `freeze` and `lr_scale`: a node starts from another
 * run's trained parameters (LeJEPA → NOVA), a frozen one keeps them through
 * training and in its checkpoints, a rescaled one steps at `lr · lr_scale`, a
 * resumed run no longer needs the init file, and every mismatch (path, node,
 * architecture, a freeze or scale that changes nothing) is a located error
 * before training.
 */
import assert from "node:assert/strict";
import { loadRunnableFromText } from "../core/recipe_runnable.ts";
import { buildRecipe, runRecipe } from "../core/run.ts";
import { encodeSafetensors } from "../core/safetensors.ts";
import { initBackend } from "../core/backend.ts";
import { mnistDirOverride, seedTextCache } from "./offline_data.ts";
import { checkpointTensors } from "./tiny_runs.ts";

const VIT = "{ kind: vit, input: views, dim: 16, depth: 1, heads: 2, patch: 7 }";
const COMMON = `
extends: [base/mnist.yaml, base/cpu_train.yaml]
data: { limit: { train: 64, test: 32 } }
train: { steps: 3, batch: 16, log_every: 1, checkpoint_every: 0, schedule: constant }
`;

/** LeJEPA: image-only, node `image` then head `z`. */
const LEJEPA = `${COMMON}
name: pre
nodes:
  views: { kind: views, input: batch.image, count: 2, scale: [0.5, 1] }
  image: ${VIT}
  z: { kind: mlp, input: image, layers: [16, 8], norm: batch }
losses:
  - { kind: invariance, inputs: { x: z }, weight: 0.95 }
  - { kind: sigreg, inputs: { x: [z] }, weight: 0.05, slices: 16 }
`;

/** NOVA whose `image` node is `{IMAGE}`. */
const NOVA = `${COMMON}
name: aligned
nodes:
  views: { kind: views, input: batch.image, count: 2, scale: [0.5, 1] }
  image: {IMAGE}
  pred: { kind: mlp, input: image, layers: [16, 8], norm: batch }
  text_raw: { kind: frozen_text, input: batch.caption, tower: glove-100d }
  text: { kind: mlp, input: text_raw, layers: [16, 8], norm: batch }
losses:
  - { kind: prediction, inputs: { pred: pred, target: text }, weight: 0.95 }
  - { kind: sigreg, inputs: { x: [pred, text] }, weight: 0.05, slices: 16 }
`;

function load(text: string, overrides: string[] = []) {
  return loadRunnableFromText(text, {
    file: "recipes/init.yaml",
    overrides: [...mnistDirOverride(), ...overrides],
  });
}

const tensors = (file: string) => checkpointTensors(file);

function imageOf(all: Map<string, Float32Array>): [string, Float32Array][] {
  return [...all].filter(([k]) => k.startsWith("image.")).sort(([a], [b]) => a < b ? -1 : 1);
}

Deno.test({
  name: "node init: a frozen node keeps another run's parameters; an unfrozen one trains on",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-init-" });
    await seedTextCache(`${dir}/cache`);
    const options = {
      runsDir: dir,
      cacheDir: `${dir}/cache`,
      backend: "wasm" as const,
      quiet: true,
      skipEval: true,
      skipReport: true,
    };
    const pre = await runRecipe(load(LEJEPA), options);
    const preImage = imageOf(await tensors(`${pre.paths.checkpoints}/model.safetensors`));
    assert.ok(preImage.length >= 10, "the ViT's tensors are exported");

    const frozen = load(NOVA.replace("{IMAGE}", `${VIT.slice(0, -2)}, freeze: true }`), [
      `nodes.image.init_from=${pre.paths.root}`,
    ]);
    assert.match(frozen.yaml, /init_from: .*novalab-init-.*\n\s+freeze: true/);
    const built = await buildRecipe(frozen, options.cacheDir);
    const trainable = built.graph.parameters().map((p) => p.name);
    assert.ok(!trainable.some((n) => n.startsWith("image.")), "frozen: not trained");
    assert.ok(trainable.some((n) => n.startsWith("pred.")));
    assert.equal(built.graph.frozenParameters().length, preImage.length);
    for (const p of built.graph.frozenParameters()) {
      assert.deepEqual(p.variable.dataSync(), new Map(preImage).get(p.name), p.name);
    }
    built.graph.dispose();
    built.source.dispose();
    // Trained 2 of 3 steps, resumed after the init run is gone: the checkpoint has everything.
    const stopped = await runRecipe(frozen, { ...options, stopAfter: 2 });
    await Deno.rename(pre.paths.root, `${dir}/moved`);
    const resumed = await runRecipe(frozen, { ...options, resume: stopped.paths.root });
    assert.equal(resumed.steps, 3);
    const after = await tensors(`${resumed.paths.checkpoints}/model.safetensors`);
    assert.deepEqual(imageOf(after), preImage, "frozen through training, resume and export");
    const step = await tensors(`${resumed.paths.checkpoints}/step-000003.safetensors`);
    assert.ok(!step.has("optim.m.image.cls_token"), "no optimiser state for frozen parameters");
    assert.ok(step.has("optim.m.pred.layers.0.weight"));

    const tuned = load(NOVA.replace("{IMAGE}", VIT), [`nodes.image.init_from=${dir}/moved`]);
    const run = await runRecipe(tuned, options);
    const tunedImage = imageOf(await tensors(`${run.paths.checkpoints}/model.safetensors`));
    assert.notDeepEqual(tunedImage, preImage, "without freeze the encoder trains on");
    // lr_scale: the encoder steps at lr·1e-6, its head at lr.
    const gentle = load(NOVA.replace("{IMAGE}", VIT), [
      `nodes.image.init_from=${dir}/moved`,
      "nodes.image.lr_scale=1e-6",
    ]);
    assert.match(gentle.yaml, /lr_scale: 0\.000001|lr_scale: 1e-6/);
    const slow = await runRecipe(gentle, options);
    const slowAll = await tensors(`${slow.paths.checkpoints}/model.safetensors`);
    const moved = (a: [string, Float32Array][]) =>
      Math.max(
        ...a.flatMap(([k, v]) => [...v].map((x, i) => Math.abs(x - new Map(preImage).get(k)![i]!))),
      );
    assert.ok(moved(imageOf(slowAll)) < 1e-6, `encoder moved ${moved(imageOf(slowAll))}`);
    assert.ok(moved(tunedImage) > 1e-4, `at full rate it moved ${moved(tunedImage)}`);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "node init: a wrong path, node or architecture, or a freeze that changes nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-init-bad-" });
    await seedTextCache(`${dir}/cache`);
    await initBackend("wasm");
    const pre = await runRecipe(load(LEJEPA, ["train.steps=1"]), {
      runsDir: dir,
      cacheDir: `${dir}/cache`,
      quiet: true,
      skipEval: true,
      skipReport: true,
    });
    const fails = async (image: string, pattern: RegExp) => {
      const recipe = load(NOVA.replace("{IMAGE}", image));
      await assert.rejects(buildRecipe(recipe, `${dir}/cache`), (e: Error) => {
        assert.match(e.message, pattern);
        return true;
      });
    };
    const vit = (extra: string) => `${VIT.slice(0, -2)}, ${extra} }`;
    const root = pre.paths.root;
    await fails(
      vit(`init_from: ${dir}/nowhere`),
      /init\.yaml:\d+:\d+: nodes\.image\.init_from: cannot read .*nowhere: no such file or run/,
    );
    await fails(
      vit(`init_from: { path: ${root}, node: imag }`),
      /lacks \d+ tensor\(s\) of node "imag": imag\.[a-z_.0-9]+, .* it holds nodes image, z \(did you mean "image"\?\); pick one with init_from: \{ path: …, node: <name> \}/,
    );
    await fails(
      vit(`init_from: ${root}`).replace("depth: 1", "depth: 2"),
      /lacks \d+ tensor\(s\) of node "image": image\.blocks\.1\..*a different architecture/,
    );
    await fails(
      vit(`init_from: ${root}, mlp_ratio: 4`),
      /tensor "image\.blocks\.0\.mlp\.fc1\.weight" has shape \[16,32\], node image's "image\.blocks\.0\.mlp\.fc1\.weight" \[16,64\]/,
    );
    const preDeep = await runRecipe(
      load(LEJEPA.replace("depth: 1", "depth: 2"), ["train.steps=1"]),
      { runsDir: dir, cacheDir: `${dir}/cache`, quiet: true, skipEval: true, skipReport: true },
    );
    await fails(
      vit(`init_from: ${preDeep.paths.checkpoints}/model.safetensors`),
      /holds \d+ tensor\(s\) of node "image" that image does not have: image\.blocks\.1\./,
    );
    assert.throws(
      () => load(NOVA.replace("{IMAGE}", vit("freeze: true, lr_scale: 0.1"))),
      /nodes\.image\.lr_scale: invalid value 0\.1\n {2}expected no lr_scale on a frozen node/,
    );
    await assert.rejects(
      buildRecipe(load(NOVA.replace("{IMAGE}", VIT), ["nodes.views.lr_scale=0.5"]), `${dir}/cache`),
      /nodes\.views\.lr_scale: views has no trainable parameters: lr_scale: 0\.5 changes nothing/,
    );
    await assert.rejects(
      buildRecipe(
        load(NOVA.replace("{IMAGE}", vit("freeze: true")), [
          "nodes.pred.freeze=true",
          "nodes.text.freeze=true",
        ]),
        `${dir}/cache`,
      ),
      /nodes\.image\.freeze: every node with parameters is frozen \(image, pred, text\): nothing would train/,
    );
    // A train-only node is not in the run's export: it is read from the step checkpoint.
    const trainOnly = await runRecipe(load(LEJEPA, ["train.steps=1", "nodes.z.phase=train"]), {
      runsDir: dir,
      cacheDir: `${dir}/cache`,
      quiet: true,
      skipEval: true,
      skipReport: true,
    });
    const headed = load(NOVA.replace("{IMAGE}", VIT), [
      `nodes.pred.init_from={ path: ${trainOnly.paths.root}, node: z }`,
    ]);
    const built = await buildRecipe(headed, `${dir}/cache`);
    const step = await tensors(`${trainOnly.paths.checkpoints}/step-000001.safetensors`);
    const weight = built.graph.parameters().find((p) => p.name === "pred.layers.0.weight")!;
    assert.deepEqual(weight.variable.dataSync(), step.get("z.layers.0.weight"));
    built.graph.dispose();
    built.source.dispose();
    // Another image size: positions for another grid, refused, or resampled on request.
    const wider = (extra: string) =>
      load(
        NOVA.replace("{IMAGE}", vit(extra)).replace(
          "scale: [0.5, 1] }",
          "scale: [0.5, 1], size: 42 }",
        ),
      );
    await assert.rejects(
      buildRecipe(wider(`init_from: ${root}`), `${dir}/cache`),
      /tensor "image\.pos_embed" has shape \[1,17,16\], node image's "image\.pos_embed" \[1,37,16\]; .*init_from\.resample: bicubic or bilinear resamples/,
    );
    const resampled = await buildRecipe(
      wider(`init_from: { path: ${root}, resample: true }`),
      `${dir}/cache`,
    );
    const pos = resampled.graph.parameters().find((p) => p.name === "image.pos_embed")!;
    assert.deepEqual(pos.variable.shape, [1, 37, 16]);
    resampled.graph.dispose();
    resampled.source.dispose();
    // A timm file read as novalab's: the names say which layout to ask for.
    const timmFile = `${dir}/timm.safetensors`;
    await Deno.writeFile(
      timmFile,
      encodeSafetensors(
        new Map([
          ["cls_token", { shape: [1, 1, 16], data: new Float32Array(16) }],
          ["patch_embed.proj.weight", { shape: [16, 1, 7, 7], data: new Float32Array(784) }],
        ]),
      ),
    );
    await fails(
      vit(`init_from: ${timmFile}`),
      /its names are a timm model's, unprefixed: read it with init_from: \{ path: …, layout: timm \}/,
    );
    await fails(
      vit(`init_from: { path: ${timmFile}, layout: timm }`),
      /lacks \d+ tensor\(s\) of the model: .*blocks\.0\./,
    );
    assert.throws(
      () => load(NOVA.replace("{IMAGE}", vit(`init_from: { path: ${timmFile}, mean: [0.5] }`))),
      /nodes\.image\.init_from\.std: .*expected mean and std together/s,
    );
    const text = load(NOVA.replace("{IMAGE}", VIT), ["nodes.text_raw.freeze=true"]);
    await assert.rejects(
      buildRecipe(text, `${dir}/cache`),
      /--set nodes\.text_raw\.freeze=true: nodes\.text_raw\.freeze: frozen_text has no trainable parameters: freeze: true changes nothing/,
    );
    await Deno.remove(dir, { recursive: true });
  },
});

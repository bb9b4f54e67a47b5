/**
 * The command line: validate prints the resolved recipe; graph prints Mermaid; cache fills the
 * decoded-image cache; errors are clear.
 */
import assert from "node:assert/strict";
import { cliLines } from "./cli_lines.ts";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { runRecipe } from "../core/run.ts";
import {
  type MimicFixtureStudy,
  mimicReport,
  writeChestXray14Fixture,
  writeChexpertFixture,
  writeMimicFixture,
} from "../data/fixtures.ts";

async function capture(args: string[]): Promise<string> {
  return (await cliLines(args)).join("\n");
}

Deno.test("cli: validate prints the resolved recipe with vars substituted and --set applied", async () => {
  const out = await capture([
    "validate",
    "recipes/nova.yaml",
    "--set",
    "vars.lambda=0.1",
    "--set",
    "train.steps=7",
  ]);
  assert.match(out, /^name: nova$/m);
  assert.match(out, /weight: 0\.9$/m);
  assert.match(out, /weight: 0\.1$/m);
  assert.match(out, /steps: 7$/m);
});

Deno.test({
  name: "cli: graph prints a Mermaid flowchart with shapes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const out = await capture([
      "graph",
      "recipes/nova.yaml",
      "--set",
      "data.limit={ train: 16, test: 16 }",
    ]);
    assert.match(out, /^flowchart TD$/m);
    assert.match(out, /n_views\["views: views<br\/>\[2, B, 28, 28, 1\]"\]/);
    assert.match(out, /n_pred\["pred: mlp<br\/>\[2, B, 64\]/);
    assert.match(out, /n_text\["text: mlp<br\/>\[B, 64\]/);
    assert.match(out, /n_pred -->\|x\| loss_1/);
  },
});

Deno.test("cli: a bad --set is an error naming the override", async () => {
  await assert.rejects(
    () => capture(["validate", "recipes/nova.yaml", "--set", "train.stepz=7"]),
    /--set train\.stepz=7.*stepz/s,
  );
});

Deno.test({
  name: "cli: cache decodes a recipe's images into data.cache once; a rerun reads them all back",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab_cli_cache_" });
    const previous = Deno.env.get("NOVALAB_CACHE");
    Deno.env.set("NOVALAB_CACHE", `${dir}/cache`);
    try {
      await writeMimicFixture(`${dir}/mimic`, mimicStudies(6));
      const sets = [`data.root=${dir}/mimic`, `data.reports=${dir}/mimic`, "data.size=16"]
        .flatMap((s) => ["--set", s]);
      await assert.rejects(
        () => capture(["cache", "recipes/nova_mimic.yaml", ...sets, "--set", "data.cache=false"]),
        /no decoded-image cache.*data\.cache: true/s,
      );
      const cached = [...sets, "--set", "data.cache=true"];
      const first = await capture(["cache", "recipes/nova_mimic.yaml", ...cached]);
      assert.match(first, /^train: 4 images in/m);
      assert.match(first, /cache .*\/cache\/decoded: 0 images read, 6 decoded and stored$/m);
      const again = await capture([
        "cache",
        "recipes/nova_mimic.yaml",
        ...cached,
        "--splits",
        "train",
      ]);
      assert.doesNotMatch(again, /^val:/m);
      assert.match(again, /: 4 images read, 0 decoded and stored$/m);
      await assert.rejects(
        () => capture(["cache", "recipes/nova_mimic.yaml", ...cached, "--splits", "dev"]),
        /no split "dev"; its splits: train, val, test/,
      );
      // An evaluator's own source with a cache is warmed too, for the split it reads.
      await writeChexpertFixture(`${dir}/chexpert`, [
        { findings: ["Edema"] },
        { findings: [] },
        { findings: [], view: "Lateral" },
      ]);
      await writeChestXray14Fixture(`${dir}/cxr14`, [{ findings: [] }, {
        findings: [],
        test: true,
      }]);
      const transfer = await capture([
        "cache",
        "recipes/nova_mimic_transfer.yaml",
        ...cached,
        ...[
          `vars.chexpert=${dir}/chexpert/CheXpert-v1.0-small`,
          `vars.chestxray14=${dir}/cxr14`,
          "eval[1].data.cache=true",
          "eval[1].data.size=16",
        ].flatMap((s) => ["--set", s]),
      ]);
      assert.match(transfer, /^train: 4 images in/m);
      assert.match(transfer, /^eval\[1\]\.data test: 2 images in/m);
      assert.match(
        transfer,
        /^eval\[1\]\.data decoded-image cache .*: 0 images read, 2 decoded and stored$/m,
      );
      assert.doesNotMatch(transfer, /eval\[2\]/, "ChestX-ray14 without cache: nothing to warm");
    } finally {
      if (previous === undefined) Deno.env.delete("NOVALAB_CACHE");
      else Deno.env.set("NOVALAB_CACHE", previous);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** `n` single-image MIMIC studies: the last two are `validate` and `test`, the rest `train`. */
function mimicStudies(n: number): MimicFixtureStudy[] {
  return Array.from({ length: n }, (_, i) => ({
    subject: `1${String(i).padStart(7, "0")}`,
    study: `5${String(i).padStart(7, "0")}`,
    split: i < n - 2 ? "train" : i < n - 1 ? "validate" : "test",
    report: mimicReport({ findings: "clear lungs.", impression: "no acute process." }),
    images: [{ dicom: `d${i}`, view: "PA", value: 0.2 + 0.05 * i }],
    labels: { Edema: "0.0" },
  }));
}

Deno.test("cli: an evaluation recipe extending nova_mimic switches data.kind cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "novalab_cli_transfer_" });
  try {
    const file = `${dir}/eval_chexpert.yaml`;
    await Deno.writeTextFile(
      file,
      `extends: [${Deno.cwd()}/recipes/nova_mimic.yaml]\n` +
        "data: { kind: chexpert, csv: { test: /data/valid.csv }, uncertain: ignore }\n",
    );
    const out = await capture(["validate", file]);
    assert.match(out, /^ {2}kind: chexpert$/m);
    assert.doesNotMatch(out, /reports:|section:/, "none of mimic_cxr's settings remain");
    assert.match(out, /^ {2}- kind: zero_shot_binary$/m, "the training recipe's eval stays");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: --resume refuses a recipe or --set it would not apply, before loading anything", async () => {
  await assert.rejects(
    () => capture(["run", "--resume", "runs/none", "--set", "train.steps=700"]),
    /run --resume runs\/none: a resumed run trains with the recipe\.yaml in its directory .*, so --set train\.steps=700 is not taken; .*edit runs\/none\/recipe\.yaml/,
  );
  await assert.rejects(
    () => capture(["run", "recipes/clip.yaml", "--resume", "runs/none"]),
    /so the recipe recipes\/clip\.yaml is not taken/,
  );
});

Deno.test({
  name: "cli: eval adds evaluators to eval.json, keeping the run's; a bad split stops it first",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const runs = await Deno.makeTempDir({ prefix: "novalab-cli-eval-" });
    try {
      const recipe = await loadRunnable("recipes/nova.yaml", [
        "data.limit={ train: 64, test: 32 }",
        "train.steps=2",
        "train.batch=16",
        "train.schedule.warmup=1",
        "nodes.image.depth=1",
        "eval=[{ kind: knn, name: first, image: pred, k: 3 }]",
      ]);
      const run = await runRecipe(recipe, { runsDir: runs, backend: "wasm", quiet: true });
      const dir = run.paths.root;
      await capture([
        "eval",
        dir,
        "--set",
        "eval=[{ kind: knn, name: second, image: pred, k: 5 }]",
      ]);
      const evaluated = JSON.parse(await Deno.readTextFile(`${dir}/eval.json`));
      assert.deepEqual(Object.keys(evaluated), ["first", "second"]);
      assert.equal(evaluated.second.k, 5);
      await assert.rejects(
        () => capture(["eval", dir, "--set", "eval=[{ kind: knn, image: pred, split: tset }]"]),
        /eval\[0\]\.split: knn reads split "tset" \(did you mean "test"\?\), which mnist does not have/,
      );
      // Several runs in one command; one that cannot be evaluated does not stop the others.
      const copy = `${runs}/copy`;
      await Deno.mkdir(`${copy}/checkpoints`, { recursive: true });
      for (const f of ["recipe.yaml", "checkpoints/latest.json"]) {
        await Deno.copyFile(`${dir}/${f}`, `${copy}/${f}`);
      }
      const latest = JSON.parse(await Deno.readTextFile(`${dir}/checkpoints/latest.json`)).file;
      await Deno.copyFile(`${dir}/checkpoints/${latest}`, `${copy}/checkpoints/${latest}`);
      const third = "eval=[{ kind: knn, name: third, image: pred, k: 7 }]";
      const both = await capture(["eval", dir, `${runs}/nowhere`, copy, "--set", third]).then(
        () => assert.fail("a missing run must fail the command"),
        (e: Error) => e,
      );
      assert.match(both.message, /eval failed for 1 of 3 runs: .*nowhere/);
      for (const d of [dir, copy]) {
        const json = JSON.parse(await Deno.readTextFile(`${d}/eval.json`));
        assert.equal(json.third.k, 7, `${d} evaluated`);
      }
    } finally {
      await Deno.remove(runs, { recursive: true });
    }
  },
});

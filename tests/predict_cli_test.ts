/**
 * `deno task predict`, `embed` and `search` on a trained run: what they print
 * and write, and the flags they refuse (named, with what was expected) before
 * loading the run.
 */
import assert from "node:assert/strict";
import { cliLines } from "./cli_lines.ts";
import { decodeSafetensors } from "../core/safetensors.ts";
import { TrainedModel } from "../core/trained_model.ts";
import { trainedRun } from "./trained_run.ts";

const capture = cliLines;

Deno.test({
  name: "cli predict, embed, search: tables, JSON, embeddings file; bad flags refused",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const fx = await trainedRun(12);
    const root = fx.run.paths.root, files = fx.files;
    try {
      // predict: a header, then a line per file (the folder expanded, sorted).
      const table = await capture(["predict", root, `${fx.dir}/images`, "--top", "2"]);
      assert.match(table[0]!, /\(step 6; image_proj · text_proj\): 10 classes × 3 templates/);
      assert.equal(table.length, 13);
      assert.match(table[1]!, /images\/00\.png +[a-z]+ -?\d\.\d{3} {2}[a-z]+ -?\d\.\d{3}$/);

      // The JSON scores are the API's.
      const json = await capture([
        "predict",
        root,
        files[3]!,
        "--json",
        "--classes",
        "one, two,three",
        "--template",
        "{}",
      ]);
      const parsed = JSON.parse(json[0]!);
      assert.equal(parsed.file, files[3]);
      const model = await TrainedModel.load(root);
      const api = await model.classify([files[3]!], {
        classes: ["one", "two", "three"],
        templates: ["{}"],
        top: 3,
      });
      model.dispose();
      assert.deepEqual(parsed.top, api.top[0]);

      // Findings: every finding, most probable first.
      const findings = await capture([
        "predict",
        root,
        files[0]!,
        files[1]!,
        "--findings",
        "seven,two,one",
        "--negative",
        "no {}",
      ]);
      assert.match(findings[0]!, /: 3 findings, probability of the positive prompt$/);
      assert.match(findings[1]!, /00\.png( {2}(seven|two|one) [01]\.\d{3}){3}$/);
      const scores = [...findings[1]!.matchAll(/ ([01]\.\d{3})/g)].map((m) => Number(m[1]));
      assert.deepEqual(scores, [...scores].sort((a, b) => b - a));

      // embed: normalised rows, the inputs in the metadata.
      const out = `${fx.dir}/emb.safetensors`;
      const texts = `${fx.dir}/texts.txt`;
      await Deno.writeTextFile(texts, "the number seven.\n\n  the number two.  \n");
      await capture([
        "embed",
        root,
        "--images",
        files[0]!,
        files[1]!,
        "--texts",
        texts,
        "--out",
        out,
      ]);
      const { tensors, metadata } = decodeSafetensors(await Deno.readFile(out));
      assert.deepEqual(tensors.get("image")!.shape, [2, 64]);
      assert.deepEqual(tensors.get("text")!.shape, [2, 64]);
      const row = tensors.get("image")!.data.subarray(0, 64);
      assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-6, "unit rows");
      assert.deepEqual(JSON.parse(metadata!.images!), files.slice(0, 2));
      assert.deepEqual(JSON.parse(metadata!.texts!), ["the number seven.", "the number two."]);
      assert.equal(metadata!.image_node, "image_proj");
      assert.equal(metadata!.normalized, "true");

      // search: each query's nearest files, best first.
      const found = await capture([
        "search",
        root,
        `${fx.dir}/images`,
        "--query",
        "the number seven.",
        "--query",
        "the number two.",
        "--top",
        "3",
      ]);
      assert.match(found[0]!, /: 12 images, cosine$/);
      assert.equal(found[1], '"the number seven."');
      assert.equal(found.length, 1 + 2 * 4);
      const hits = found.slice(2, 5).map((l) => Number(l.trim().split(/\s+/)[0]));
      assert.deepEqual(hits, [...hits].sort((a, b) => b - a));
      const searched = await capture(["search", root, files[0]!, "--query", "a seven", "--json"]);
      assert.deepEqual(JSON.parse(searched[0]!).top.map((h: { file: string }) => h.file), [
        files[0],
      ]);
      // An image query: the image itself first, at cosine 1.
      const like = await capture([
        "search",
        root,
        `${fx.dir}/images`,
        "--like",
        files[5]!,
        "--json",
      ]);
      const nearest = JSON.parse(like[0]!);
      assert.equal(nearest.like, files[5]);
      assert.equal(nearest.top[0].file, files[5]);
      assert.ok(Math.abs(nearest.top[0].score - 1) < 1e-9);

      // A folder of links into the images counts its links.
      await Deno.mkdir(`${fx.dir}/links`);
      await Deno.symlink(files[0]!, `${fx.dir}/links/a.png`);
      const linked = await capture(["predict", root, `${fx.dir}/links`]);
      assert.equal(linked.length, 2);

      // Refused before the run is loaded, each naming the flag and what was expected.
      const refused: [string[], RegExp][] = [
        [[files[0]!, "--classes", "one"], /--classes "one" names 1 class; name at least 2/],
        [[files[0]!, "--classes", "a,b", "--findings", "c"], /--classes applies to classes/],
        [
          [files[0]!, "--mode", "findings", "--template", "{}"],
          /--template applies to classes, but this prediction scores findings \(--mode\)/,
        ],
        [[files[0]!, "--mode", "words"], /--mode is "words"; expected classes or findings/],
        [[files[0]!, "--scale", "-1"], /--scale is "-1"; expected a finite number > 0/],
        [[files[0]!, "--scale", "Infinity"], /--scale is "Infinity"/],
        [[files[0]!, "--positive", "a finding"], /template "a finding" has no "\{\}"/],
        [[files[0]!, "--top", "0x10"], /--top is "0x10"; expected an integer ≥ 1/],
        [[files[0]!, "--findings", files[1]!], /follows --findings, which takes comma-separated/],
        [[`${fx.dir}/cache`], /a folder without image files/],
        [[`${fx.dir}/missing.png`], /missing\.png: no such file or folder/],
      ];
      for (const [args, message] of refused) {
        await assert.rejects(() => capture(["predict", root, ...args]), message, args.join(" "));
      }
      await Deno.writeTextFile(`${fx.dir}/notes.png`, "not an image");
      await assert.rejects(
        () => capture(["predict", root, `${fx.dir}/notes.png`]),
        /cannot decode image ".*notes\.png"/,
      );
      await assert.rejects(() => capture(["embed", root, "--out", out]), /nothing to embed/);
      await assert.rejects(
        () => capture(["search", root, files[0]!]),
        /search: no query; give --query/,
      );
    } finally {
      await fx.remove();
    }
  },
});

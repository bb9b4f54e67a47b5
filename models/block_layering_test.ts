import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { blockLayering } from "./block_layering.ts";
import { VisionTransformer } from "./vit.ts";
import { TextTransformer } from "./text_transformer.ts";

/** Layer of every parameter, by name relative to the node. */
function layersOf(
  module: { parameters: { name: string }[]; layering: { layerOf(n: string): number } },
  prefix: string,
) {
  return Object.fromEntries(
    module.parameters.map((
      p,
    ) => [p.name.slice(prefix.length + 1), module.layering.layerOf(p.name)]),
  );
}

Deno.test("block layering: a ViT's stem is layer 0, block i layer i + 1, the final norm the top", async () => {
  await tf.setBackend("cpu");
  const vit = new VisionTransformer(
    { patch: 7, dim: 8, depth: 2, heads: 2, mlpRatio: 2 },
    { height: 14, width: 14, channels: 1 },
    { name: "image", seed: 1 },
  );
  assert.equal(vit.layering.top, 3);
  const layers = layersOf(vit, "image");
  // MAE's get_layer_id_for_vit numbering for the same names: stem 0, blocks.i i + 1, the rest on top.
  for (
    const stem of ["patch_embed.proj.weight", "patch_embed.proj.bias", "cls_token", "pos_embed"]
  ) {
    assert.equal(layers[stem], 0, stem);
  }
  for (const [name, layer] of Object.entries(layers)) {
    const block = /^blocks\.(\d)\./.exec(name);
    if (block) assert.equal(layer, Number(block[1]) + 1, name);
  }
  assert.equal(layers["norm.weight"], 3);
  assert.equal(layers["norm.bias"], 3);
  assert.equal(Object.keys(layers).length, 4 + 2 * 12 + 2, "every parameter has a layer");
  vit.dispose();
});

Deno.test("block layering: a text transformer's embeddings are layer 0", async () => {
  await tf.setBackend("cpu");
  const text = new TextTransformer({
    vocab: 64,
    buckets: 8,
    maxLength: 8,
    dim: 8,
    depth: 3,
    heads: 2,
    mlpRatio: 2,
    causal: true,
    pooling: "eot",
    output: "pooled",
  }, { name: "text", seed: 1 });
  const layers = layersOf(text, "text");
  assert.equal(text.layering.top, 4);
  assert.equal(layers["token_embed"], 0);
  assert.equal(layers["pos_embed"], 0);
  assert.equal(layers["blocks.2.mlp.fc2.bias"], 3);
  assert.equal(layers["norm.weight"], 4);
  text.dispose();
});

Deno.test("block layering: names are read relative to the node, unknown ones go on top", () => {
  const layering = blockLayering("enc", 2, ["embed"]);
  assert.equal(layering.layerOf("enc.embed"), 0);
  assert.equal(layering.layerOf("enc.embed.weight"), 0);
  assert.equal(layering.layerOf("enc.embedding"), 3, "a prefix of a word is not the stem");
  assert.equal(layering.layerOf("enc.blocks.1.norm1.weight"), 2);
  assert.equal(layering.layerOf("enc.head.weight"), 3);
  assert.equal(layering.layerOf("blocks.0.attn.qkv.weight"), 1, "without the node prefix");
});

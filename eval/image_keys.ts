/**
 * Which samples of a split show the same image: a key per sample from its
 * decoded pixels, so that a caption file with several rows per image (COCO's
 * and Flickr30k's five captions, one row each) counts each image once in
 * retrieval (`retrieval`'s `match: image`) without any source having to say
 * where its pixels came from. Two files that decode to the same pixels are
 * the same image for retrieval, as they are for the model.
 *
 * @module
 */

/**
 * A 64-bit key of one sample's pixels: two 32-bit hashes over the bytes of its
 * float32 values (FNV-1a, and the same xor–multiply chain with MurmurHash2's
 * multiplier and another start), as 16 hex digits. Two different images
 * share a key only when both hashes collide.
 *
 * @param pixels The sample's values (`H·W·C` float32).
 * @returns The key.
 */
export function pixelKey(pixels: Float32Array): string {
  const bytes = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  let a = 0x811c9dc5, b = 0xcbf29ce4;
  for (let i = 0; i < bytes.length; i++) {
    a = Math.imul(a ^ bytes[i]!, 0x01000193) >>> 0;
    b = Math.imul(b ^ bytes[i]!, 0x5bd1e995) >>> 0;
  }
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}

/**
 * The keys of the first `take` samples of a batch's pixels `[B, H, W, C]`.
 *
 * @param pixels The batch's values, sample after sample.
 * @param take How many samples to key.
 * @param perSample `H·W·C`.
 * @returns One key per sample.
 */
export function batchPixelKeys(pixels: Float32Array, take: number, perSample: number): string[] {
  return Array.from(
    { length: take },
    (_, i) => pixelKey(pixels.subarray(i * perSample, (i + 1) * perSample)),
  );
}

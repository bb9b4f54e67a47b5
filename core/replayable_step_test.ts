/**
 * Recording and replaying a step on WebGPU (`core/replayable_step.ts`), on
 * any adapter (CI: Mesa's fallback): replays give the values of running the
 * step as written, host values are produced again at every replay, and steps
 * that cannot be replayed are run as written with the reason.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { hostValue, ReplayableStep } from "./replayable_step.ts";
import { replayHost } from "./step_host.ts";
import { deriveSeed, Rng } from "./rng.ts";
import { assertClose, useNovalabWebGpu, values, webgpuSkipReason } from "../kernels/testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`core/replayable_step_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** A small two-layer product with a ReLU and a sum: dispatches, temporaries, two outputs. */
function network(w1: tf.Tensor, w2: tf.Tensor) {
  return ([x]: tf.Tensor[]) =>
    tf.tidy(() => {
      const h = tf.relu(tf.matMul(x!, w1));
      const y = tf.matMul(h, w2).mul(tf.scalar(0.5));
      return [y, y.square().sum()];
    });
}

async function read(ts: tf.Tensor[]): Promise<Float32Array[]> {
  const out = await Promise.all(ts.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(ts);
  return out;
}

Deno.test(
  "a pure step is replayed with new inputs and gives the values it gives as written",
  opts,
  async () => {
    await useNovalabWebGpu();
    const w1 = tf.tensor(values(6 * 16, 1), [6, 16]);
    const w2 = tf.tensor(values(16 * 3, 2), [16, 3]);
    const fn = network(w1, w2);
    const step = new ReplayableStep(fn);
    for (let i = 0; i < 7; i++) {
      const x = tf.tensor(values(5 * 6, 10 + i), [5, 6]);
      const got = await read(step.run([x]));
      const want = await read(fn([x]));
      assertClose(got[0]!, want[0]!, `step ${i} output`, { atol: 0, rtol: 0 });
      assertClose(got[1]!, want[1]!, `step ${i} sum`, { atol: 0, rtol: 0 });
      x.dispose();
    }
    const stats = step.stats;
    assert.equal(stats.mode, "replaying", `reason: ${stats.reason}`);
    assert.equal(stats.recordings, 2);
    assert.equal(stats.replays, 4);
    assert.ok(stats.dispatches >= 3, `${stats.dispatches} dispatches`);
    step.dispose();
    tf.dispose([w1, w2]);
  },
);

/** Bytes in tfjs's WebGPU pool (handed out and free). */
function poolBytes(): number {
  return (tf.backend() as unknown as { bufferManager: { numBytesAllocated: number } })
    .bufferManager.numBytesAllocated;
}

Deno.test(
  "lent temporaries serve other work between steps and are taken back, or the step re-records",
  opts,
  async () => {
    await useNovalabWebGpu();
    const w1 = tf.tensor(values(6 * 64, 1), [6, 64]);
    const w2 = tf.tensor(values(64 * 3, 2), [64, 3]);
    const fn = network(w1, w2);
    const step = new ReplayableStep(fn);
    const x = tf.tensor(values(200 * 6, 3), [200, 6]);
    const want = await read(fn([x]));
    for (let i = 0; i < 4; i++) await read(step.run([x])); // warm-up, two recordings, a replay
    assert.equal(step.stats.mode, "replaying");
    // Other work the size of the step's hidden layer: it gets the lent buffers, the pool stays.
    const other = () => tf.tidy(() => tf.relu(tf.matMul(x, w1)).sum());
    const before = poolBytes();
    step.lend();
    await read([other()]);
    assert.equal(poolBytes(), before, "the other work allocated beside the step's buffers");
    let got = await read(step.run([x]));
    assertClose(got[0]!, want[0]!, "replay after lending", { atol: 0, rtol: 0 });
    assert.equal(step.stats.recordings, 2, `re-recorded: ${step.stats.reason}`);
    assert.equal(step.stats.replays, 2);
    // A lent buffer still held when the step comes back: recorded again, values unchanged.
    step.lend();
    const kept = tf.tidy(() => tf.relu(tf.matMul(x, w1)));
    got = await read(step.run([x]));
    assertClose(got[0]!, want[0]!, "step after a lent buffer was kept", { atol: 0, rtol: 0 });
    assert.match(step.stats.reason ?? "", /temporaries lent to other work are still in use/);
    for (let i = 0; i < 3; i++) {
      got = await read(step.run([x]));
      assertClose(got[0]!, want[0]!, `step ${i} after re-recording`, { atol: 0, rtol: 0 });
    }
    assert.equal(step.stats.recordings, 4);
    assert.equal(step.stats.mode, "replaying");
    // Lending twice, then disposing while lent: every buffer is the pool's exactly once.
    step.lend();
    step.lend();
    step.dispose();
    const pool = (tf.backend() as unknown as {
      bufferManager: { freeBuffers: Map<string, GPUBuffer[]> };
    }).bufferManager.freeBuffers;
    for (const list of pool.values()) assert.equal(new Set(list).size, list.length, "twice");
    tf.dispose([kept, x, w1, w2]);
  },
);

Deno.test(
  "host values are produced again at every replay, side effects included",
  opts,
  async () => {
    await useNovalabWebGpu();
    let count = 0;
    const w = tf.tensor(values(4 * 4, 3), [4, 4]);
    const fn = ([x]: tf.Tensor[]) =>
      tf.tidy(() => {
        const k = hostValue(() => {
          count += 1;
          return new Float32Array([count, 2 * count]);
        });
        return [tf.matMul(x!, w).mul(k.slice(0, 1)).add(k.slice(1, 1))];
      });
    const step = new ReplayableStep(fn);
    const x = tf.tensor(values(2 * 4, 4), [2, 4]);
    const base = await read([tf.matMul(x, w)]);
    for (let i = 1; i <= 6; i++) {
      const [got] = await read(step.run([x]));
      assert.equal(count, i, "the producer ran once per step");
      assertClose(got!, base[0]!.map((v) => v * i + 2 * i), `step ${i}`, {
        atol: 1e-5,
        rtol: 1e-6,
      });
    }
    assert.equal(step.stats.mode, "replaying", `reason: ${step.stats.reason}`);
    step.dispose();
    tf.dispose([w, x]);
  },
);

Deno.test(
  "a step with per-step data outside its inputs is run as written, with the reason",
  opts,
  async () => {
    await useNovalabWebGpu();
    let n = 0;
    const fn = ([x]: tf.Tensor[]) => tf.tidy(() => [x!.add(tf.scalar(++n))]);
    const step = new ReplayableStep(fn);
    const x = tf.zeros([3]);
    for (let i = 1; i <= 5; i++) {
      const [got] = await read(step.run([x]));
      assert.deepEqual([...got!], [i, i, i]);
    }
    assert.equal(step.stats.mode, "refused");
    assert.match(step.stats.reason!, /different values in consecutive steps/);
    step.dispose();
    x.dispose();
  },
);

Deno.test(
  "a step that reads a tensor back, or replaces a variable, is not replayed",
  opts,
  async () => {
    await useNovalabWebGpu();
    const reading = new ReplayableStep(([x]) => {
      const s = x!.sum();
      void s.data().then(() => s.dispose()); // a read started inside the step
      return [x!.mul(2)];
    });
    const v = tf.variable(tf.zeros([4]));
    const replacing = new ReplayableStep(([x]) => {
      v.assign(tf.tidy(() => v.add(x!)));
      return [v.sum()];
    });
    const x = tf.ones([4]);
    for (let i = 1; i <= 4; i++) {
      tf.dispose(reading.run([x]));
      const [total] = await read(replacing.run([x]));
      assert.equal(total![0], 4 * i, "the variable kept accumulating");
    }
    assert.equal(reading.stats.mode, "refused");
    assert.match(reading.stats.reason!, /read a tensor back/);
    assert.equal(replacing.stats.mode, "refused");
    assert.match(replacing.stats.reason!, /in place/);
    tf.dispose([x, v]);
  },
);

Deno.test("host values follow the replayed step's seeds and host inputs", opts, async () => {
  await useNovalabWebGpu();
  const w = tf.tensor(values(3 * 2, 5), [3, 2]);
  /** Three numbers from a seed derived twice from the root, plus the words' lengths. */
  const fn = (root: number, words: string[]) => ([x]: tf.Tensor[]) =>
    tf.tidy(() => {
      const seed = deriveSeed(deriveSeed(root, "node"), "loss", 0);
      const noise = hostValue((host) => {
        const rng = new Rng(host.seed(seed));
        return Float32Array.from({ length: 3 }, () => rng.normal());
      });
      const lengths = hostValue((host) => Float32Array.from(host.input(words), (s) => s.length));
      return [tf.matMul(x!.add(noise), w).mul(lengths.sum())];
    });
  let current = fn(0, []);
  const step = new ReplayableStep((inputs) => current(inputs));
  for (let i = 0; i < 6; i++) {
    const root = deriveSeed(42, "step", i);
    const words = ["a", "bb", "ccc"].map((w) => w.repeat(1 + i));
    current = fn(root, words);
    const x = tf.tensor(values(2 * 3, 20 + i), [2, 3]);
    const [got] = await read(step.run([x], { seeds: [root], inputs: [words] }));
    const [want] = await read(fn(root, words)([x]));
    assertClose(got!, want!, `step ${i}`, { atol: 0, rtol: 0 });
    x.dispose();
  }
  assert.equal(step.stats.mode, "replaying", `reason: ${step.stats.reason}`);
  assert.equal(step.stats.replays, 3);
  step.dispose();
  w.dispose();
});

Deno.test("a replay refuses seeds and objects it cannot follow", () => {
  const derivations = new Map([[7, { parent: 1, parts: ["x"] as (string | number)[] }]]);
  const host = replayHost({ seeds: [1], inputs: ["a"] }, derivations, {
    seeds: [2],
    inputs: ["b"],
  });
  assert.equal(host.seed(7), deriveSeed(2, "x"));
  assert.equal(host.input("a"), "b");
  assert.throws(() => host.seed(8), /not derived \(deriveSeed\) from the step's seeds/);
  assert.throws(() => host.input("z"), /not given as a host input/);
  assert.throws(() => replayHost({ seeds: [1] }, derivations, {}), /recorded with 1 seeds/);
});

Deno.test(
  "a step that throws while recorded leaves nothing behind and records again",
  opts,
  async () => {
    await useNovalabWebGpu();
    let call = 0;
    const step = new ReplayableStep(([x]) => {
      call += 1;
      if (call === 2) throw new Error("boom");
      return [tf.tidy(() => x!.mul(3))];
    });
    const x = tf.ones([5]);
    tf.dispose(step.run([x]));
    assert.throws(() => step.run([x]), /boom/);
    for (let i = 0; i < 4; i++) {
      const [y] = await read(step.run([x]));
      assert.deepEqual([...y!], [3, 3, 3, 3, 3]);
    }
    assert.equal(step.stats.mode, "replaying", `reason: ${step.stats.reason}`);
    step.dispose();
    x.dispose();
  },
);

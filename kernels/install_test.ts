/**
 * Installing novalab's WebGPU kernels is idempotent and reversible, and the
 * stock switch is read from `NOVALAB_STOCK_KERNELS`. Registry only: no adapter
 * needed.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import {
  installNovalabKernels,
  novalabKernelsActive,
  novalabKernelsInstalled,
  restoreStockKernels,
  STOCK_KERNELS_ENV,
  stockKernelsRequested,
} from "./install.ts";
import { LAYER_NORM } from "./layernorm_forward.ts";
import { ADAMW_GROUP } from "./adamw.ts";

Deno.test("kernels/install: install is idempotent and restore brings tfjs's kernels back", () => {
  const wasInstalled = novalabKernelsInstalled();
  restoreStockKernels();
  const stock = tf.getKernel("BatchMatMul", "webgpu")!;
  const stockFused = tf.getKernel("_FusedMatMul", "webgpu")!;
  assert.equal(tf.getKernel(LAYER_NORM, "webgpu"), undefined);
  try {
    assert.equal(installNovalabKernels(), true);
    assert.equal(installNovalabKernels(), false, "second install is a no-op");
    assert.ok(novalabKernelsInstalled());
    assert.notEqual(tf.getKernel("BatchMatMul", "webgpu")!.kernelFunc, stock.kernelFunc);
    assert.notEqual(tf.getKernel("_FusedMatMul", "webgpu")!.kernelFunc, stockFused.kernelFunc);
    assert.ok(tf.getKernel(LAYER_NORM, "webgpu"));
    assert.equal(
      tf.getKernel("BatchMatMul", "cpu")?.backendName,
      "cpu",
      "other backends untouched",
    );
    restoreStockKernels();
    restoreStockKernels();
    assert.ok(!novalabKernelsInstalled());
    assert.equal(tf.getKernel("BatchMatMul", "webgpu")!.kernelFunc, stock.kernelFunc);
    assert.equal(tf.getKernel("_FusedMatMul", "webgpu")!.kernelFunc, stockFused.kernelFunc);
    assert.equal(tf.getKernel(LAYER_NORM, "webgpu"), undefined);
  } finally {
    if (wasInstalled) installNovalabKernels();
  }
});

Deno.test("kernels/install: NOVALAB_STOCK_KERNELS=1 asks for the stock kernels", () => {
  const before = Deno.env.get(STOCK_KERNELS_ENV);
  try {
    Deno.env.set(STOCK_KERNELS_ENV, "1");
    assert.ok(stockKernelsRequested());
    Deno.env.set(STOCK_KERNELS_ENV, "0");
    assert.ok(!stockKernelsRequested());
    Deno.env.delete(STOCK_KERNELS_ENV);
    assert.ok(!stockKernelsRequested());
  } finally {
    if (before === undefined) Deno.env.delete(STOCK_KERNELS_ENV);
    else Deno.env.set(STOCK_KERNELS_ENV, before);
  }
});

Deno.test("kernels/install: the AdamW kernels come and go; active means installed and on webgpu", async () => {
  const wasInstalled = novalabKernelsInstalled();
  await tf.setBackend("cpu");
  try {
    installNovalabKernels();
    assert.ok(tf.getKernel(ADAMW_GROUP, "webgpu"));
    assert.ok(!novalabKernelsActive(), "installed, but the active backend is cpu");
    restoreStockKernels();
    assert.equal(tf.getKernel(ADAMW_GROUP, "webgpu"), undefined);
    assert.ok(!novalabKernelsActive());
  } finally {
    if (wasInstalled) installNovalabKernels();
  }
});

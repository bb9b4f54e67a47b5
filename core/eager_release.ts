/**
 * Gives a disposed tensor's GPU buffer back to tfjs's pool at once, even when
 * commands not yet submitted still read it, so that later dispatches of the
 * same submit can reuse it.
 *
 * tfjs-backend-webgpu 4.22 holds such buffers until the next submit
 * (`tensorDataPendingDisposal`): a buffer handed out again could be filled by
 * `queue.writeBuffer`, which runs before the commands already encoded and
 * would overwrite what they still have to read. novalab submits rarely (a
 * step is a few submits, a replayed step one), so with tfjs's rule nothing a
 * step frees is reused within it, and a step's GPU memory is the sum of
 * everything it ever made — the gradients the backward pass consumes
 * (`core/lean_gradients.ts`) included.
 *
 * The reuse is safe for the buffers tfjs makes for tensors (storage, copy
 * source and destination): nothing writes them with `queue.writeBuffer` —
 * tfjs uploads into a reused buffer through a staging buffer and a copy in
 * the command encoder, novalab's step recorder and replay the same way — so
 * every write to them is a command, ordered after the commands that read the
 * buffer's old contents (WebGPU orders a queue's commands and synchronises
 * between dispatches). Uniform, staging and external buffers keep tfjs's rule,
 * and a `queue.writeBuffer` into a tensor's buffer is refused.
 *
 * Tied to tfjs-backend-webgpu 4.22's internals (pinned in deno.json).
 *
 * @module
 */
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { envIs } from "./env.ts";

/** The buffer usage tfjs gives every tensor's buffer. */
const TENSOR_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

interface ReleaseInternals {
  tensorMap: {
    get(id: object): { refCount: number; resource: unknown; external?: boolean } | undefined;
  };
  commandQueueOwnedIds: WeakSet<object>;
  queue: GPUQueue;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Environment switch: `0` keeps tfjs's rule (buffers wait for the next submit; A/B runs). */
export const EAGER_RELEASE_ENV = "NOVALAB_EAGER_RELEASE";

/** Whether novalab's backends reuse freed buffers within a submit; default yes. */
export function eagerReleaseWanted(): boolean {
  return !envIs(EAGER_RELEASE_ENV, "0");
}

/** Whether `data`'s buffer may go back to the pool while encoded commands still read it. */
function reusableNow(data: ReturnType<ReleaseInternals["tensorMap"]["get"]>): boolean {
  const buffer = data?.resource;
  return buffer instanceof GPUBuffer && !data!.external && buffer.usage === TENSOR_USAGE;
}

/**
 * Makes `backend` give tensors' buffers back to its pool when their last
 * reference goes, submitted or not.
 */
export function installEagerRelease(backend: WebGPUBackend): void {
  const b = backend as unknown as ReleaseInternals;
  if (typeof b.disposeData !== "function" || !(b.commandQueueOwnedIds instanceof WeakSet)) {
    throw new Error(
      "core/eager_release.ts: the webgpu backend lacks disposeData/commandQueueOwnedIds; " +
        "tfjs-backend-webgpu changed (pinned 4.22)",
    );
  }
  const dispose = b.disposeData;
  b.disposeData = function (this: ReleaseInternals, dataId: object, force = false): boolean {
    const data = this.tensorMap.get(dataId);
    const last = data !== undefined && (force || data.refCount <= 1);
    if (last && this.commandQueueOwnedIds.has(dataId) && reusableNow(data)) {
      this.commandQueueOwnedIds.delete(dataId);
    }
    return dispose.call(this, dataId, force);
  };
  // The rule's premise, kept: a `writeBuffer` into a tensor's buffer could overtake the reads
  // of a previous owner still in the command encoder.
  const write = b.queue.writeBuffer;
  b.queue.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, ...rest: unknown[]) {
    if (buffer.usage === TENSOR_USAGE) {
      throw new Error(
        "core/eager_release.ts: queue.writeBuffer into a tensor's buffer; with buffers reused " +
          "before their submit it could overwrite data encoded commands still read — copy from " +
          "a staging buffer in the command encoder instead",
      );
    }
    return (write as (...a: unknown[]) => void).call(this, buffer, ...rest);
  } as GPUQueue["writeBuffer"];
}

/**
 * WebGPU reports most mistakes — a shader that does not compile, an invalid
 * pipeline or bind group, a buffer used wrongly — as "uncaptured errors": an
 * event on the device, while the command that failed does nothing. tfjs does
 * not listen, so such a failure used to leave zeros or stale values in a
 * tensor and training went on (the int32-as-float32 `Cast` bug of session 7
 * was one). novalab's backend records these events and makes the next read of
 * any tensor (`data()`, `dataSync()`, so at the latest the trainer's loss
 * read) throw with the device's messages.
 *
 * @module
 */
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";

/** Most messages kept between two reads (the rest are counted). */
const KEPT = 5;

interface Readable {
  read(dataId: object): Promise<unknown>;
  readSync(dataId: object): unknown;
}

/**
 * Listens for the device's uncaptured errors and makes `backend.read` and
 * `backend.readSync` throw the ones seen since the last read, naming `adapter`.
 */
export function surfaceDeviceErrors(backend: WebGPUBackend, adapter: string): void {
  const messages: string[] = [];
  let count = 0;
  backend.device.addEventListener("uncapturederror", (event) => {
    count++;
    if (messages.length < KEPT) {
      messages.push((event as GPUUncapturedErrorEvent).error.message.trim());
    }
  });
  const check = () => {
    if (count === 0) return;
    const seen = count, list = messages.splice(0);
    count = 0;
    throw new Error(
      `WebGPU (${adapter}) reported ${seen} error${seen === 1 ? "" : "s"} since the last read, ` +
        `so some kernels did not run and the values computed since are not valid: ` +
        list.join(" | ") + (seen > list.length ? ` | … ${seen - list.length} more` : ""),
    );
  };
  const target = backend as unknown as Readable;
  const read = target.read.bind(backend);
  target.read = async (dataId: object) => {
    check();
    const values = await read(dataId);
    check();
    return values;
  };
  const readSync = target.readSync.bind(backend);
  target.readSync = (dataId: object) => {
    check();
    const values = readSync(dataId);
    check();
    return values;
  };
}

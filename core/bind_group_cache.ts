/**
 * Reuses bind groups across training steps.
 *
 * tfjs-backend-webgpu creates a bind group for every dispatch (≈ 30 µs of
 * host time each on lavapipe, the largest single cost of issuing a dispatch
 * after tfjs's own bookkeeping; see docs/benchmarks.md), and asks the pipeline
 * for its bind group layout each time, which returns a new layout object. But
 * a training step issues the same programs over the same pooled buffers (tfjs's
 * buffer pool hands them out in the same order every step) and the same
 * uniform-arena slots (`core/uniform_arena.ts`), so the bind groups repeat.
 *
 * For the bind groups to repeat, a step must get the same buffers: tfjs's
 * pool hands out the free buffer released last, so the buffers a step gets
 * rotate with the order earlier steps released them (measured: ~40% of a
 * ViT step's bind groups repeated). The cache makes the pool hand out the
 * free buffer created first instead — a choice that depends only on which
 * buffers are free, not on the order they were freed — so steady-state steps
 * reuse nearly all of them.
 *
 * The cache gives each pipeline one layout object per group index and keeps
 * bind groups under the key (layout, and each entry's binding, buffer,
 * offset and size); a hit returns the existing bind group, which WebGPU allows
 * to be bound any number of times. Buffers are identified by object (never by
 * contents), so a buffer tfjs destroys can never be matched by a new one. The
 * cache is emptied when it holds {@linkcode MAX_CACHED_BIND_GROUPS}.
 * `NOVALAB_BIND_GROUP_CACHE=0` turns it off (A/B measurements).
 *
 * @module
 */
import { envIs } from "./env.ts";

/** Bind groups kept at most (a ViT-S step uses ~300; emptied, not evicted one by one, past it). */
export const MAX_CACHED_BIND_GROUPS = 8192;

/** Environment switch: `0` creates a bind group per dispatch, as tfjs does. */
export const BIND_GROUP_CACHE_ENV = "NOVALAB_BIND_GROUP_CACHE";

/** Counts of an installed cache. */
export interface BindGroupCacheStats {
  /** Bind groups returned from the cache. */
  hits: number;
  /** Bind groups created. */
  misses: number;
  /** Requests the cache does not handle (an entry that is not a buffer binding). */
  uncached: number;
  /** Bind groups held now. */
  size: number;
}

const caches = new WeakMap<GPUDevice, () => BindGroupCacheStats>();

/** Whether novalab's backends cache bind groups; default yes. */
export function bindGroupCacheWanted(): boolean {
  return !envIs(BIND_GROUP_CACHE_ENV, "0");
}

/** The cache's counts on `device`, or `null` when none is installed. */
export function bindGroupCacheStats(device: GPUDevice): BindGroupCacheStats | null {
  return caches.get(device)?.() ?? null;
}

/** Gives `pipeline` one layout object per group index. */
function memoizeLayouts<P extends GPUComputePipeline | GPURenderPipeline>(pipeline: P): P {
  const layouts = new Map<number, GPUBindGroupLayout>();
  const get = pipeline.getBindGroupLayout.bind(pipeline);
  pipeline.getBindGroupLayout = (index: number) => {
    let layout = layouts.get(index);
    if (!layout) {
      layout = get(index);
      layouts.set(index, layout);
    }
    return layout;
  };
  return pipeline;
}

/** The parts of tfjs-backend-webgpu 4.22's buffer pool the cache touches. */
interface BufferPool {
  freeBuffers: Map<string, GPUBuffer[]>;
  acquireBuffer(size: number, usage: number, mapped?: boolean, reuse?: boolean): GPUBuffer;
}

/** Numbers objects in the order first seen (buffers: in creation order). */
function objectIds(): (o: object) => number {
  const ids = new WeakMap<object, number>();
  let nextId = 1;
  return (o) => {
    let id = ids.get(o);
    if (id === undefined) {
      id = nextId++;
      ids.set(o, id);
    }
    return id;
  };
}

/**
 * Makes tfjs's pool hand out the free buffer created first (it pops the one
 * freed last), so a step's buffers, and with them its bind groups, repeat.
 */
function preferOldestFreeBuffer(pool: BufferPool, idOf: (o: object) => number): void {
  const acquire = pool.acquireBuffer;
  pool.acquireBuffer = function (size, usage, mapped = false, reuse = true) {
    const free = reuse ? pool.freeBuffers.get(`${size}_${usage}`) : undefined;
    if (free && free.length > 1) {
      let first = free.length - 1;
      for (let i = 0; i < free.length - 1; i++) if (idOf(free[i]!) < idOf(free[first]!)) first = i;
      [free[first], free[free.length - 1]] = [free[free.length - 1]!, free[first]!];
    }
    return acquire.call(this, size, usage, mapped, reuse);
  };
}

/**
 * Answers `device.createBindGroup` from a cache keyed by layout and bound
 * buffer ranges; returns the cache's counts.
 */
function cacheBindGroups(
  device: GPUDevice,
  idOf: (o: object) => number,
): () => BindGroupCacheStats {
  const groups = new Map<string, GPUBindGroup>();
  const stats = { hits: 0, misses: 0, uncached: 0 };
  const create = device.createBindGroup.bind(device);
  device.createBindGroup = (descriptor: GPUBindGroupDescriptor) => {
    let key = String(idOf(descriptor.layout));
    for (const entry of descriptor.entries) {
      const r = entry.resource as Partial<GPUBufferBinding>;
      if (typeof r !== "object" || r === null || !r.buffer) {
        stats.uncached += 1;
        return create(descriptor);
      }
      key += `|${entry.binding}:${idOf(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
    }
    let group = groups.get(key);
    if (group) {
      stats.hits += 1;
      return group;
    }
    if (groups.size >= MAX_CACHED_BIND_GROUPS) groups.clear();
    group = create(descriptor);
    groups.set(key, group);
    stats.misses += 1;
    return group;
  };
  return () => ({ ...stats, size: groups.size });
}

/**
 * Installs the cache on `backend`'s device and buffer pool (idempotent); call
 * before the backend creates any pipeline or buffer.
 */
export function installBindGroupCache(
  backend: { device: GPUDevice; bufferManager: unknown },
): void {
  const device = backend.device;
  if (caches.has(device)) return;
  const pool = backend.bufferManager as BufferPool;
  if (!(pool.freeBuffers instanceof Map) || typeof pool.acquireBuffer !== "function") {
    throw new Error(
      "core/bind_group_cache.ts: the webgpu backend's buffer pool lacks freeBuffers/acquireBuffer; " +
        "expected tfjs-backend-webgpu 4.22 (pinned in deno.json)",
    );
  }
  const idOf = objectIds();
  const createBuffer = device.createBuffer.bind(device);
  device.createBuffer = (d: GPUBufferDescriptor) => {
    const buffer = createBuffer(d);
    idOf(buffer); // numbered in creation order
    return buffer;
  };
  preferOldestFreeBuffer(pool, idOf);
  // One layout object per pipeline and group index, so layouts key the cache.
  const createCompute = device.createComputePipeline.bind(device);
  device.createComputePipeline = (d) => memoizeLayouts(createCompute(d));
  const createComputeAsync = device.createComputePipelineAsync.bind(device);
  device.createComputePipelineAsync = async (d) => memoizeLayouts(await createComputeAsync(d));
  caches.set(device, cacheBindGroups(device, idOf));
}

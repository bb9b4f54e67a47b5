/**
 * Derived forward contexts: a node's seed, a teacher's `statistics: false`.
 *
 * @module
 */
import type { ForwardContext } from "./types.ts";

/**
 * `ctx` with some fields replaced. The others are read through `ctx` when
 * read (not copied now), so reading `step` stays visible to a recorded step
 * (`core/device_step.ts`'s `stepContext`).
 */
export function withFields(ctx: ForwardContext, fields: Partial<ForwardContext>): ForwardContext {
  const descriptors: PropertyDescriptorMap = {};
  for (const key in ctx) {
    descriptors[key] = { get: () => ctx[key as keyof ForwardContext], enumerable: true };
  }
  for (const [key, value] of Object.entries(fields)) {
    descriptors[key] = { value, enumerable: true };
  }
  return Object.defineProperties({}, descriptors) as ForwardContext;
}

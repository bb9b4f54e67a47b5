/**
 * Gradients of a scalar with respect to variables, like tfjs's
 * `tf.variableGrads`, with a backward pass that frees what it has used: each
 * node's output gradients once the node has turned them into its inputs'
 * gradients, and the tensors the node saved for its backward pass once that
 * has run — PyTorch's autograd does the same. tfjs 4.22 keeps every gradient
 * it computes and every saved tensor until the whole pass ends, so a trained
 * tower's step peaks at about twice the memory of its activations; here it
 * peaks near the activations plus one block's gradients.
 *
 * The order of the work and every kernel are tfjs's own (the gradients are
 * bit-identical); only the lifetimes change. It reads tfjs-core 4.22's engine
 * (`startTape`, `endTape`, `scopedRun`, `state.activeTape`, the tape nodes'
 * `gradient` and `saved`), pinned in `deno.json`; under an enclosing gradient
 * tape (higher-order gradients) it leaves the work to `tf.variableGrads`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Scalar, Tensor, Variable } from "./tensor.ts";

/** One recorded operation of tfjs's gradient tape (tfjs-core's `TapeNode`). */
export interface TapeNode {
  /** The order in which the node was recorded. */
  id: number;
  /** The kernel (or custom-gradient scope) that ran. */
  kernelName: string;
  /** The tensors it read, by input name. */
  inputs: Record<string, Tensor>;
  /** The tensors it made. */
  outputs: Tensor[];
  /** Its gradient: the output gradients (null where none) → a thunk per input. */
  gradient?: (dys: (Tensor | null)[]) => Record<string, () => Tensor>;
  /** The tensors it kept for its gradient (kept clones, released with the tape). */
  saved?: Tensor[];
}

interface EngineTape {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
}

/**
 * The tape nodes on a path from one of `xs` to `y`, in recording order, each
 * with its inputs narrowed to those that depend on `xs` (the gradients worth
 * computing).
 */
export function nodesBetween(tape: TapeNode[], xs: Tensor[], y: Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const reachedFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      reachedFromX.add(node.id);
      for (const out of node.outputs) fromX.add(out.id);
    }
  }
  const leadsToY = new Set([y.id]);
  const reachesY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (!node.outputs.some((out) => leadsToY.has(out.id))) continue;
    reachesY.add(node.id);
    for (const input of Object.values(node.inputs)) leadsToY.add(input.id);
  }
  return tape.filter((node) => reachedFromX.has(node.id) && reachesY.has(node.id)).map((node) => ({
    ...node,
    inputs: Object.fromEntries(Object.entries(node.inputs).filter(([, t]) => fromX.has(t.id))),
  }));
}

/**
 * Gradient tensors by the id of the tensor they belong to, counting how many
 * ids hold each tensor object (a gradient function may hand the same object
 * on), so that a tensor is disposed only when no id holds it any more.
 */
class GradientTable {
  #byId = new Map<number, Tensor>();
  #holders = new Map<Tensor, number>();

  get(id: number): Tensor | undefined {
    return this.#byId.get(id);
  }

  /** Whether some id holds `tensor`. */
  holds(tensor: Tensor): boolean {
    return (this.#holders.get(tensor) ?? 0) > 0;
  }

  set(id: number, tensor: Tensor): void {
    this.release(id);
    this.#byId.set(id, tensor);
    this.#holders.set(tensor, (this.#holders.get(tensor) ?? 0) + 1);
  }

  /** Forgets `id`'s gradient, disposing it if nothing else holds it. */
  release(id: number): void {
    const tensor = this.#byId.get(id);
    if (!tensor) return;
    this.#byId.delete(id);
    const left = this.#holders.get(tensor)! - 1;
    if (left > 0) this.#holders.set(tensor, left);
    else {
      this.#holders.delete(tensor);
      tensor.dispose();
    }
  }
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Walks `nodes` backwards from `y` (gradient one), freeing each node's output
 * gradients and saved tensors once the node has run. Returns the gradient of
 * each of `xs` (undefined where `y` does not depend on it).
 */
function backpropagate(
  engine: EngineTape,
  nodes: TapeNode[],
  y: Tensor,
  xs: Tensor[],
  dy?: Tensor,
): (Tensor | undefined)[] {
  const wanted = new Set(xs.map((x) => x.id));
  const table = new GradientTable();
  // The caller's dy stays the caller's: the walk frees a clone.
  table.set(y.id, dy ? tf.clone(dy) : tf.ones(y.shape));
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (!node.gradient) {
      throw new Error(
        `Cannot compute gradient: gradient function not found for ${node.kernelName}.`,
      );
    }
    const dys = node.outputs.map((out) => table.get(out.id) ?? null);
    const names = Object.keys(node.inputs);
    // The zeros tfjs makes for outputs with no gradient die with this scope.
    const dxs = engine.tidy(node.kernelName, () => {
      const thunks = node.gradient!(dys);
      return names.map((name) => {
        if (!(name in thunks)) {
          throw new Error(
            `Cannot backprop through input ${name}. Available gradients found: ${
              Object.keys(thunks)
            }.`,
          );
        }
        return engine.tidy(name, () => thunks[name]!());
      });
    });
    // Gradients added into an earlier one, disposed once every input has its own (a
    // gradient function may hand one tensor to several inputs).
    const added = new Set<Tensor>();
    names.forEach((name, k) => {
      const dx = dxs[k]!, x = node.inputs[name]!;
      if (dx.dtype !== "float32") {
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have ` +
            `'float32' dtype, but has '${dx.dtype}'`,
        );
      }
      if (!sameShape(dx.shape, x.shape)) {
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape ` +
            `'${dx.shape}', which does not match the shape of the input '${x.shape}'`,
        );
      }
      const previous = table.get(x.id);
      table.set(x.id, previous ? tf.add(previous, dx) : dx);
      if (previous) added.add(dx);
    });
    for (const dx of added) if (!table.holds(dx)) dx.dispose();
    for (const out of node.outputs) if (!wanted.has(out.id)) table.release(out.id);
    for (const kept of node.saved ?? []) if (!table.holds(kept)) kept.dispose();
  }
  return xs.map((x) => table.get(x.id));
}

/** The tensor-id counter of tfjs's engine: tensors made from now on have ids at least this. */
function nextTensorId(engine: EngineTape): number {
  return (engine.constructor as unknown as { nextTensorId: number }).nextTensorId;
}

/**
 * The value of `f` and the gradient of `Σ dy ⊙ f` (`dy`: ones when absent)
 * with respect to each of `xs` (undefined where `f` does not depend on it) —
 * tfjs's `engine.gradients`, with the backward pass's memory freed as it
 * goes. May run inside another lean backward pass (a checkpointed block
 * recomputes its forward pass there, `models/checkpoint.ts`): the engine's
 * tape is left as it was found. `onForward` sees the value and the tape
 * after the forward pass, before any gradient work, and may throw to refuse
 * them (not called under an enclosing tape, where tfjs does the work). The
 * caller disposes the value and the gradients; on failure nothing this made
 * stays alive.
 */
export function leanGradients(
  f: () => Tensor,
  xs: Tensor[],
  dy?: Tensor,
  onForward?: (value: Tensor, tape: readonly TapeNode[]) => void,
): { value: Tensor; grads: (Tensor | undefined)[] } {
  const engine = tf.engine() as unknown as EngineTape & {
    gradients(f: () => Tensor, xs: Tensor[], dy?: Tensor, allowNoGradients?: boolean): {
      value: Tensor;
      grads: (Tensor | undefined)[];
    };
  };
  if (engine.state.gradientDepth > 0) return engine.gradients(f, xs, dy, true);
  const outerTape = engine.state.activeTape;
  const firstId = nextTensorId(engine);
  let value: Tensor | undefined, tape: TapeNode[] | null = null;
  const returned = new Set<Tensor>();
  try {
    value = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy("forward", f),
    );
    tape = engine.state.activeTape;
    const y = value;
    if (!(y instanceof tf.Tensor)) {
      throw new Error("The result y returned by f() must be a tensor.");
    }
    if (dy && (dy.dtype !== "float32" || !sameShape(dy.shape, y.shape))) {
      throw new Error(
        `The gradient dy is ${dy.dtype} [${dy.shape}]; expected float32 [${y.shape}] (f's value)`,
      );
    }
    onForward?.(y, tape!);
    const nodes = nodesBetween(tape!, xs, y);
    const grads = engine.tidy("backward", () => {
      const found = backpropagate(engine, nodes, y, xs, dy);
      return found.map((g) => g ?? null) as unknown as tf.Tensor[];
    }) as (Tensor | null)[];
    for (const g of grads) if (g) returned.add(g);
    return { value: y, grads: grads.map((g) => g ?? undefined) };
  } catch (error) {
    if (value && value.id >= firstId && !(value instanceof tf.Variable)) value.dispose();
    throw error;
  } finally {
    // Every saved tensor the walk did not reach (nodes off the path to y included).
    // A gradient function may hand a saved tensor on as a gradient: that one is the caller's.
    for (const node of tape ?? engine.state.activeTape ?? []) {
      for (const kept of node.saved ?? []) if (!returned.has(kept)) kept.dispose();
    }
    engine.state.activeTape = outerTape;
  }
}

/**
 * The value of `f` (a scalar) and its gradient with respect to each trainable
 * variable of `variables` that it depends on, by variable name — the contract
 * of `tf.variableGrads(f, variables)`, with the backward pass's memory freed
 * as it goes ({@linkcode leanGradients}). The caller disposes the value and
 * the gradients. Unlike tfjs, variables that are not trainable get no entry
 * (tfjs names them with `null`).
 */
export function leanVariableGrads(
  f: () => Scalar,
  variables: Variable[],
): { value: Scalar; grads: Record<string, Tensor> } {
  const trained = variables.filter((v) => v.trainable);
  if (trained.length === 0) {
    throw new Error(
      `variableGrads() expects at least one of the input variables to be trainable, but none of ` +
        `the ${variables.length} variables is trainable.`,
    );
  }
  const firstId = nextTensorId(tf.engine() as unknown as EngineTape);
  const { value, grads } = leanGradients(f, trained, undefined, (y) => {
    if (y.rank !== 0) {
      throw new Error(
        `The f passed in variableGrads(f) must return a scalar, but it returned a rank-${y.rank} tensor`,
      );
    }
  });
  const found = grads.filter((g): g is Tensor => g !== undefined);
  const refuse = (message: string): never => {
    if (value.id >= firstId && !(value instanceof tf.Variable)) value.dispose();
    tf.dispose(found);
    throw new Error(message);
  };
  if (found.length === 0) {
    refuse(
      "Cannot find a connection between any variable and the result of the loss function " +
        "y=f(x). Please make sure the operations that use variables are inside the function f.",
    );
  }
  const named: Record<string, Tensor> = {};
  grads.forEach((g, i) => {
    if (g) named[trained[i]!.name] = g;
  });
  return { value: value as Scalar, grads: named };
}

/**
 * Activation checkpointing (gradient checkpointing): a block whose forward
 * pass keeps nothing for the backward pass but its input, and runs again,
 * under its own gradient tape, when the backward pass reaches it — PyTorch's
 * `torch.utils.checkpoint`, open_clip's `--grad-checkpointing`. A step then
 * holds one tensor per block instead of every activation the blocks save
 * (for a ViT, a dozen per block, the MLP's `[tokens, 4·D]` among them), for
 * one more forward pass of the blocks (≈ a third more compute).
 *
 * The recomputation is exact: the blocks run the same kernels on the same
 * inputs, and their random draws (stochastic-depth masks) come in as
 * `context`, so values and gradients equal the plain block's bit for bit
 * (`models/checkpoint_test.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { leanGradients, type TapeNode } from "../core/lean_gradients.ts";
import type { Tensor, Variable } from "../core/tensor.ts";

interface EngineDepths {
  state: { gradientDepth: number; kernelDepth: number };
}

/**
 * Which blocks of a stack a `checkpoint` setting checkpoints: `true` every
 * block, a number N the first N (Megatron's `--recompute-method block`: the
 * memory/compute dial between none and all), `false` or absent none.
 */
export type BlockCheckpointing = boolean | number;

/**
 * Whether block `index` (0-based) is checkpointed under `setting`.
 *
 * @param setting The stack's {@linkcode BlockCheckpointing}.
 * @param index The block's position in its stack.
 * @returns True when the block keeps only its input for the backward pass.
 */
export function checkpointsBlock(setting: BlockCheckpointing | undefined, index: number): boolean {
  return setting === true || (typeof setting === "number" && index < setting);
}

/** Whether tfjs is recording a gradient tape here (outside any kernel). */
export function tapeRecording(): boolean {
  const { state } = tf.engine() as unknown as EngineDepths;
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}

/** Throws when the recomputed block read a trainable variable it was not given. */
function refuseUnlisted(tape: readonly TapeNode[], listed: Set<Variable>): void {
  for (const node of tape) {
    for (const input of Object.values(node.inputs)) {
      if (input instanceof tf.Variable && input.trainable && !listed.has(input)) {
        throw new Error(
          `models/checkpoint.ts: a checkpointed block read the variable "${input.name}", which ` +
            "it was not given: list every variable the block reads (it would get no gradient)",
        );
      }
    }
  }
}

/**
 * `block(x, ...context)`, keeping only `x` and `context` for the backward
 * pass, which recomputes the block and takes its gradients with respect to
 * `x` and to each trainable variable of `variables` (every variable the block
 * reads must be listed: one left out gets no gradient). `context` holds
 * tensors the block reads that need no gradient (attention masks): kept
 * alive for the recomputation, given none. The block must be a pure function
 * of these: it runs twice per step, so no host values or random draws of its
 * own. Off the tape (evaluation, frozen towers) it is `block(x, ...context)`.
 */
export function checkpointed(
  block: (x: Tensor, ...context: Tensor[]) => Tensor,
  x: Tensor,
  variables: Variable[],
  context: Tensor[] = [],
): Tensor {
  if (!tapeRecording()) return block(x, ...context);
  const listed = new Set(variables);
  const trained = [...listed].filter((v) => v.trainable);
  const run = tf.customGrad((...args) => {
    const save = args.pop() as tf.GradSaveFunc;
    const inputs = args.slice(0, 1 + context.length) as Tensor[];
    save(inputs);
    return {
      value: block(inputs[0]!, ...inputs.slice(1)),
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
        const [kept, ...rest] = saved as [Tensor, ...Tensor[]];
        const { value, grads } = leanGradients(
          () => block(kept, ...rest),
          [kept, ...trained],
          dy as Tensor,
          (_, tape) => refuseUnlisted(tape, listed),
        );
        value.dispose();
        const [dx, ...dVariables] = grads;
        return [
          dx ?? tf.zerosLike(kept),
          ...rest.map((c) => tf.zerosLike(c)),
          ...dVariables.map((g, i) => g ?? tf.zerosLike(trained[i]!)),
        ];
      },
    };
  });
  return run(x, ...context, ...trained) as Tensor;
}

/**
 * What the commands that use a trained run share (`predict`, `embed`,
 * `search`): the options that load it — nodes, recipe overrides, backend,
 * replay, batch — and the checks of their values.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { BACKEND_CHOICES, type BackendChoice } from "./core/backend.ts";
import { stepReplayWanted } from "./core/device_step.ts";
import type { TrainedModel, TrainedModelOptions } from "./core/trained_model.ts";

/** Commander's collector of a repeatable option. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds the options that load a run: which nodes, recipe overrides, backend, batch, replay. */
export function modelOptions(command: Command): Command {
  return command
    .option("--image-node <node>", "node giving image embeddings (default: the recipe's)")
    .option("--text-node <node>", "node giving text embeddings (default: the recipe's)")
    .addOption(
      new Option("--set <key=value>", "override the run's recipe (repeatable)")
        .argParser(collect).default([]),
    )
    .addOption(new Option("--backend <name>", "tensor backend").choices([...BACKEND_CHOICES]))
    .option("--batch <n>", "inputs per forward call", "64")
    .option("--no-replay", "webgpu: run every forward call as written");
}

/** {@link TrainedModelOptions} from the parsed options of {@link modelOptions}. */
export function loadOptions(opts: Record<string, unknown>): TrainedModelOptions {
  return {
    ...(opts.imageNode !== undefined && { image: opts.imageNode as string }),
    ...(opts.textNode !== undefined && { text: opts.textNode as string }),
    overrides: opts.set as string[],
    ...(opts.backend !== undefined && { backend: opts.backend as BackendChoice }),
    replay: opts.replay !== false && stepReplayWanted(),
  };
}

/** A positive integer option's value (decimal digits), or an error naming the flag. */
export function positive(flag: string, value: unknown): number {
  const n = /^\s*\d+\s*$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new Error(`${flag} is ${JSON.stringify(value)}; expected an integer ≥ 1`);
  }
  return n;
}

/** Which run, step and nodes a result comes from, for a header line. */
export function modelTitle(model: TrainedModel, nodes: TrainedModel["nodes"]): string {
  return `${model.runDir} (step ${model.checkpoint.step}; ${nodes.image} · ${nodes.text})`;
}

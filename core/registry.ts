/**
 * Registries: one per component kind (modules, losses, data sources,
 * evaluators). Each entry keeps its parameter schema beside its factory, so a
 * recipe is validated against exactly the code that will build it.
 *
 * @module
 */
import type { z } from "zod";

/** A (strict) zod schema of a component's recipe parameters. */
export type ParamSchema = z.ZodType;

/** One registered component: its documentation, parameter schema and factory. */
export interface RegistryEntry<Factory> {
  /** Registered kind (the recipe's `kind:` value). */
  kind: string;
  /** One-line description, used in docs and error messages. */
  summary: string;
  /**
   * What a node's `input:` must reference (modules only; for the generated
   * recipe reference), e.g. "one reference: images `[B, H, W, C]`".
   */
  input?: string;
  /**
   * Modules: how many references `input:` takes, `[min, max]` (`max` may be
   * `Infinity`); checked by `validate`, with {@link input} as the explanation.
   */
  arity?: [number, number];
  /**
   * Evaluators: the parameters that name a node, and which batch field the
   * evaluator feeds that node (`image`: `batch.image`, `text`: `batch.caption`).
   * `validate` checks each exists, is kept at inference and reads only that field.
   */
  nodeRefs?: Record<string, "image" | "text">;
  /**
   * Schema of the entry's own parameters (everything but the structural keys
   * such as `kind`, `input`, `inputs`, `weight`, `phase`). Must be strict.
   */
  schema: ParamSchema;
  /** Builds the component from validated parameters. */
  create: Factory;
}

/** Thrown when a kind is not registered; lists the valid choices. */
export class UnknownKindError extends Error {
  /** Creates the error for `kind` in the registry `what`. */
  constructor(readonly what: string, readonly kind: string, readonly choices: string[]) {
    super(`unknown ${what} kind "${kind}"; expected one of: ${choices.join(", ")}`);
    this.name = "UnknownKindError";
  }
}

/** A named collection of components of one kind. */
export class Registry<Factory> {
  readonly #entries = new Map<string, RegistryEntry<Factory>>();

  /**
   * Creates an empty registry.
   *
   * @param what What the registry holds, for messages (e.g. `"module"`).
   */
  constructor(readonly what: string) {}

  /** Adds an entry; registering a kind twice is a programming error. */
  register(entry: RegistryEntry<Factory>): void {
    if (this.#entries.has(entry.kind)) {
      throw new Error(`${this.what} kind "${entry.kind}" is already registered`);
    }
    this.#entries.set(entry.kind, entry);
  }

  /** The entry for `kind`, or an {@link UnknownKindError} naming the choices. */
  get(kind: string): RegistryEntry<Factory> {
    const entry = this.#entries.get(kind);
    if (!entry) throw new UnknownKindError(this.what, kind, this.kinds());
    return entry;
  }

  /** Whether `kind` is registered. */
  has(kind: string): boolean {
    return this.#entries.has(kind);
  }

  /** Registered kinds, sorted. */
  kinds(): string[] {
    return [...this.#entries.keys()].sort();
  }

  /** All entries, sorted by kind. */
  entries(): RegistryEntry<Factory>[] {
    return this.kinds().map((k) => this.#entries.get(k)!);
  }
}

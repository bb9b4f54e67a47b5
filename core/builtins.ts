/**
 * Registers the built-in components. Adding a component is one file in its
 * room plus one line here.
 *
 * @module
 */
import { evaluators, losses, modules, sources } from "./components.ts";
import { moduleEntries as dataModules, sourceEntries } from "../data/entries.ts";
import { evaluatorEntries } from "../eval/mod.ts";
import { lossEntries } from "../losses/entries.ts";
import { issue4ModuleEntries, modelEntries } from "../models/entries.ts";
import { textTowerEntries } from "../models/static_text_factory.ts";
import { teacherEntry } from "./momentum_teacher.ts";
import { distillationModuleEntries } from "../models/entries_distill.ts";

let registered = false;

/** Registers every built-in component once (idempotent). */
export function registerBuiltins(): void {
  if (registered) return;
  registered = true;
  for (
    const entry of [
      ...modelEntries,
      ...issue4ModuleEntries,
      ...textTowerEntries,
      ...dataModules,
      ...distillationModuleEntries,
      teacherEntry,
    ]
  ) {
    modules.register(entry);
  }
  for (const entry of lossEntries) losses.register(entry);
  for (const entry of sourceEntries) sources.register(entry);
  for (const entry of evaluatorEntries) evaluators.register(entry);
}

registerBuiltins();

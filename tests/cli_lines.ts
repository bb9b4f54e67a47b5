/**
 * For tests of the command line: runs `buildProgram()` on arguments and
 * returns what it printed with `console.log`, line by line.
 *
 * @module
 */
import { buildProgram } from "../cli.ts";

/**
 * Runs the command line on `args` (as after `deno task`) and returns the
 * lines it logged; errors propagate.
 *
 * @param args E.g. `["validate", "recipes/nova.yaml"]`.
 */
export async function cliLines(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...parts: unknown[]) => lines.push(parts.join(" "));
  try {
    await buildProgram().parseAsync(args, { from: "user" });
  } finally {
    console.log = original;
  }
  return lines;
}

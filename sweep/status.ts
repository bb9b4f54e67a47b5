/**
 * The sweep directory's layout and a member's `status.json`: where each member
 * runs (`<sweep>/members/<id>/`) and whether it is done, failed, or not
 * finished (`running`, also left behind by a killed sweep). Written atomically.
 *
 * @module
 */
import { writeJsonAtomic } from "../core/atomic.ts";
import type { MemberState, MemberStatus } from "./types.ts";

const STATES: readonly MemberState[] = ["done", "failed", "running"];

/** The default directory of sweep `name`: `runs/sweeps/<name>`. */
export function defaultSweepDir(name: string): string {
  return `runs/sweeps/${name}`;
}

/** The run directory of member `id` of the sweep in `dir`. */
export function memberDir(dir: string, id: string): string {
  return `${dir}/members/${id}`;
}

/** The `status.json` of the member whose run directory is `runDir`. */
export function statusPath(runDir: string): string {
  return `${runDir}/status.json`;
}

/**
 * Reads a member's status; `undefined` when it has none (never started). A
 * status that is not valid JSON or has an unknown state (a foreign or damaged
 * file) is an error naming the file.
 */
export async function readStatus(runDir: string): Promise<MemberStatus | undefined> {
  const path = statusPath(runDir);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  let status: MemberStatus;
  try {
    status = JSON.parse(text);
  } catch {
    throw new Error(`${path}: not valid JSON; expected a member status (delete it to rerun)`);
  }
  if (!STATES.includes(status?.state)) {
    throw new Error(
      `${path}: state ${JSON.stringify(status?.state)}; expected one of ${STATES.join(", ")}`,
    );
  }
  return status;
}

/** Writes a member's status atomically (readers never see half a file). */
export async function writeStatus(runDir: string, status: MemberStatus): Promise<void> {
  await Deno.mkdir(runDir, { recursive: true });
  await writeJsonAtomic(statusPath(runDir), status);
}

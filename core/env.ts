/**
 * Reading novalab's environment switches (`NOVALAB_*`). Without permission to
 * read the environment a switch counts as unset, so a library user who grants
 * no `--allow-env` gets the defaults.
 *
 * @module
 */

/** The value of environment variable `name`, or `undefined` when unset or unreadable. */
export function envValue(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Whether `name` is set to `value` (e.g. `"1"` to opt in, `"0"` to opt out). */
export function envIs(name: string, value: string): boolean {
  return envValue(name) === value;
}

/** The default cache directory: `$NOVALAB_CACHE`, else `.cache/novalab`. */
export function defaultCacheDir(): string {
  return envValue("NOVALAB_CACHE") ?? ".cache/novalab";
}

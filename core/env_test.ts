/** Environment switches (`core/env.ts`): set, unset and compared values. */
import assert from "node:assert/strict";
import { envIs, envValue } from "./env.ts";

Deno.test("env: a switch's value, unset as undefined, compared exactly", () => {
  const name = "NOVALAB_ENV_TEST_SWITCH";
  Deno.env.delete(name);
  assert.equal(envValue(name), undefined);
  assert.equal(envIs(name, "0"), false);
  Deno.env.set(name, "0");
  try {
    assert.equal(envValue(name), "0");
    assert.equal(envIs(name, "0"), true);
    assert.equal(envIs(name, "1"), false);
  } finally {
    Deno.env.delete(name);
  }
});

import assert from "node:assert/strict";
import { z } from "zod";
import { num, positiveInt } from "../schema.ts";
import { issuesFromZod, objectKeysAt, showValue } from "./zod_issues.ts";

const schema = z.strictObject({
  a: z.strictObject({ b: z.number(), c: z.string().default("x") }).optional(),
  list: z.array(z.strictObject({ k: positiveInt() })).default([]),
  piped: z.preprocess((v) => v, z.strictObject({ p: z.number() })),
  ref: z.union([z.string(), z.array(z.string())]),
  w: num(),
  e: z.enum(["one", "two"]),
});

function mapped(value: unknown): string[] {
  const result = schema.safeParse(value);
  assert.ok(!result.success);
  return issuesFromZod(result.error.issues, {
    prefix: ["root"],
    value,
    keysAt: (p) => objectKeysAt(schema, p),
    locate: (path) => ({ file: "z.yaml", line: path.length, column: 1 }),
  }).map((i) => `${i.keyPath}: ${i.message} | ${i.expected ?? ""} | ${i.choices?.join(",") ?? ""}`);
}

Deno.test("objectKeysAt: walks optional, default, arrays, preprocess pipes", () => {
  assert.deepEqual(objectKeysAt(schema, ["a"]), ["b", "c"]);
  assert.deepEqual(objectKeysAt(schema, ["list", 0]), ["k"]);
  assert.deepEqual(objectKeysAt(schema, ["piped"]), ["p"]);
  assert.equal(objectKeysAt(schema, ["w"]), undefined);
  assert.equal(objectKeysAt(schema, ["nope", "x"]), undefined);
});

Deno.test("issuesFromZod: one readable issue per problem", () => {
  const messages = mapped({
    a: { b: "1", zz: 1 },
    list: [{ k: 0 }],
    piped: { p: 1 },
    ref: [1],
    w: true,
    e: "three",
    extra: 1,
  });
  assert.deepEqual(messages.sort(), [
    'root.a.b: invalid value "1" | a number | ',
    'root.a.zz: unknown key "zz" | one of | b,c',
    'root.e: invalid value "three" | one of | one,two',
    'root.extra: unknown key "extra" | one of | a,e,list,piped,ref,w',
    "root.list[0].k: invalid value 0 | a number > 0 | ",
    "root.ref[0]: invalid value 1 | a string | ",
    "root.w: invalid value true | a number | ",
  ]);
  assert.deepEqual(mapped({ piped: {}, ref: "r", w: "1 +", e: "one" }).sort(), [
    'root.piped.p: missing required key "p" | a number | ',
    'root.w: invalid value "1 +": cannot evaluate "1 +" as arithmetic: expected a number at token 3 ("end") | a number, or arithmetic such as "2 * 64" or "1 - 0.05" | ',
  ]);
});

Deno.test("showValue: JSON, missing, and long values shortened", () => {
  assert.equal(showValue("a"), '"a"');
  assert.equal(showValue(undefined), "(missing)");
  assert.equal(showValue([1, 2]), "[1,2]");
  assert.equal(showValue("x".repeat(200)).length, 80);
});

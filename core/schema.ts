/**
 * Schema building blocks shared by every registry entry: numbers that accept
 * arithmetic strings (after `${var}` interpolation), integers, probabilities.
 * Schemas stay internal to the package (zod objects are slow types on JSR).
 *
 * @module
 */
import { z } from "zod";
import { evaluateExpression, ExpressionError } from "./expr.ts";

function toNumber(value: unknown, ctx: z.RefinementCtx): number {
  if (typeof value === "number") return value;
  if (typeof value === "string") {
    try {
      return evaluateExpression(value);
    } catch (e) {
      ctx.addIssue({
        code: "custom",
        message: e instanceof ExpressionError ? e.message : String(e),
      });
      return z.NEVER;
    }
  }
  ctx.addIssue({ code: "custom", message: `expected a number, got ${JSON.stringify(value)}` });
  return z.NEVER;
}

/** A number, or an arithmetic string such as `"1 - 0.05"`. */
export function num(): z.ZodType<number> {
  return z.union([z.number(), z.string()]).transform(toNumber).pipe(
    z.number().refine(Number.isFinite, "expected a finite number"),
  ) as unknown as z.ZodType<number>;
}

/** A positive integer (expressions allowed). */
export function positiveInt(): z.ZodType<number> {
  return num().pipe(
    z.number().int("expected an integer").positive("expected > 0"),
  ) as unknown as z.ZodType<number>;
}

/** A non-negative number (expressions allowed). */
export function nonNegative(): z.ZodType<number> {
  return num().pipe(z.number().nonnegative("expected >= 0")) as unknown as z.ZodType<number>;
}

/** A probability in `[0, 1]` (expressions allowed). */
export function probability(): z.ZodType<number> {
  return num().pipe(
    z.number().min(0, "expected >= 0").max(1, "expected <= 1"),
  ) as unknown as z.ZodType<number>;
}

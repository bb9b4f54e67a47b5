/**
 * Arithmetic in recipe values: `"1 - 0.05"`, `"2 * (3 + 1)"`, `"ln(100)"`.
 * Used after `${var}` interpolation so weights like `1 - ${lambda}` work.
 *
 * @module
 */

const FUNCTIONS: Record<string, (x: number) => number> = {
  ln: Math.log,
  log: Math.log,
  exp: Math.exp,
  sqrt: Math.sqrt,
};

/** Thrown for a malformed expression; `message` says where it stopped. */
export class ExpressionError extends Error {
  /** Creates the error for `source`. */
  constructor(readonly source: string, detail: string) {
    super(`cannot evaluate "${source}" as arithmetic: ${detail}`);
    this.name = "ExpressionError";
  }
}

/**
 * Evaluates `source`: numbers (incl. `1e-3`), `+ - * /`, unary minus,
 * parentheses and the functions `ln`, `log`, `exp`, `sqrt`.
 */
export function evaluateExpression(source: string): number {
  const tokens = source.match(/\d*\.?\d+(?:[eE][+-]?\d+)?|[a-z]+|[-+*/()]|\S/g) ?? [];
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const fail = (what: string): never => {
    throw new ExpressionError(source, `${what} at token ${pos + 1} ("${peek() ?? "end"}")`);
  };
  const primary = (): number => {
    const t = peek();
    if (t === undefined) return fail("expected a number");
    if (t === "(") {
      pos++;
      const v = sum();
      if (peek() !== ")") fail("expected )");
      pos++;
      return v;
    }
    if (t === "-" || t === "+") {
      pos++;
      return t === "-" ? -primary() : primary();
    }
    if (/^[a-z]+$/.test(t)) {
      const fn = FUNCTIONS[t];
      if (!fn) fail(`unknown function (known: ${Object.keys(FUNCTIONS).join(", ")})`);
      pos++;
      if (peek() !== "(") fail("expected ( after function name");
      return fn(primary());
    }
    const v = Number(t);
    if (!Number.isFinite(v)) fail("expected a number");
    pos++;
    return v;
  };
  const product = (): number => {
    let v = primary();
    while (peek() === "*" || peek() === "/") {
      const op = tokens[pos++];
      const r = primary();
      v = op === "*" ? v * r : v / r;
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (peek() === "+" || peek() === "-") {
      const op = tokens[pos++];
      const r = product();
      v = op === "+" ? v + r : v - r;
    }
    return v;
  };
  const result = sum();
  if (pos !== tokens.length) fail("unexpected token");
  return result;
}

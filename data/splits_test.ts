import assert from "node:assert/strict";
import { BadInputError, BadInputLog, formatBadInputSummary } from "./bad_input.ts";
import { checkFilterColumns, parseFilter, passesFilters } from "./filters.ts";
import { classIndices, fractionSplit, heldOutLayout } from "./splits.ts";

Deno.test("splits: seeded fractions partition the rows", () => {
  const s = fractionSplit(100, { val: 0.1, test: 0.2, seed: 4 });
  assert.equal(s.test.length, 20);
  assert.equal(s.val.length, 10);
  assert.equal(s.train.length, 70);
  assert.deepEqual([...s.train, ...s.val, ...s.test].sort((a, b) => a - b), [...Array(100).keys()]);
  assert.deepEqual(fractionSplit(100, { val: 0.1, test: 0.2, seed: 4 }), s);
  assert.notDeepEqual(fractionSplit(100, { val: 0.1, test: 0.2, seed: 5 }).test, s.test);
  assert.deepEqual([...s.train], [...s.train].sort((a, b) => a - b));
  assert.throws(() => fractionSplit(10, { val: 0.5, test: 0.5, seed: 0 }), /val \+ test < 1/);
});

Deno.test("splits: held-out classes — train/val seen only, test gains _seen/_unseen", () => {
  const items = (labels: number[]) => labels.map((label, i) => ({ i, label }));
  const splits = {
    train: items([0, 1, 2, 0, 2]),
    val: items([2, 1]),
    test: items([0, 1, 2, 2]),
  };
  const held = classIndices(["c"], ["a", "b", "c"]);
  assert.deepEqual(held, [2]);
  const out = heldOutLayout(splits, { held, label: (x) => x.label });
  assert.deepEqual(out.train!.map((x) => x.label), [0, 1, 0]);
  assert.deepEqual(out.val!.map((x) => x.label), [1]);
  assert.equal(out.test!.length, 4);
  assert.deepEqual(out.test_seen!.map((x) => x.label), [0, 1]);
  assert.deepEqual(out.test_unseen!.map((x) => x.label), [2, 2]);
  assert.throws(
    () => classIndices(["d"], ["a", "b"]),
    /unknown class "d"; expected names from: a, b/,
  );
  assert.throws(() => classIndices(["a", "b"], ["a", "b"]), /holds out all 2 classes/);
  assert.throws(
    () =>
      heldOutLayout({ train: items([2]), test: items([2]) }, { held: [2], label: (x) => x.label }),
    /leaves split "train" empty/,
  );
});

Deno.test("filters: forms, quoting, column checks", () => {
  const f = parseFilter("ViewPosition in [PA, AP]");
  assert.deepEqual(f, {
    text: "ViewPosition in [PA, AP]",
    column: "ViewPosition",
    include: true,
    values: ["PA", "AP"],
  });
  assert.ok(passesFilters({ ViewPosition: " PA " }, [f]));
  assert.ok(!passesFilters({ ViewPosition: "LL" }, [f]));
  assert.ok(!passesFilters({}, [f]));
  const not = parseFilter("Frontal/Lateral not   in [Lateral]");
  assert.equal(not.column, "Frontal/Lateral");
  assert.ok(passesFilters({ "Frontal/Lateral": "Frontal" }, [not]));
  assert.deepEqual(parseFilter('label in ["a, b", c]').values, ["a, b", "c"]);
  assert.deepEqual(parseFilter("split == train").values, ["train"]);
  const ne = parseFilter("split != 'test'");
  assert.ok(passesFilters({ split: "train" }, [ne]) && !passesFilters({ split: "test" }, [ne]));
  assert.throws(() => parseFilter("split in train"), /"in" needs a \[list\]/);
  assert.throws(() => parseFilter("split in []"), /empty list/);
  assert.throws(
    () => checkFilterColumns([f], { columns: ["a", "b"], file: "m.csv" }),
    /column "ViewPosition" is not in m\.csv; expected one of: a, b/,
  );
});

Deno.test("bad_input: skip counts once per file and reason; fail throws at once", () => {
  const log = new BadInputLog("src", { policy: "skip", keep: 2 });
  log.report({ path: "a.jpg", reason: "decode_error", detail: "premature end" });
  log.report({ path: "a.jpg", reason: "decode_error", detail: "premature end" });
  log.report({ path: "m.csv:3", reason: "empty_caption", detail: "empty" });
  log.report({ path: "b.jpg", reason: "missing_file", detail: "No such file" });
  const s = log.summary();
  assert.equal(s.total, 3);
  assert.deepEqual(s.by_reason, { decode_error: 1, empty_caption: 1, missing_file: 1 });
  assert.deepEqual(s.first.map((r) => r.path), ["a.jpg", "m.csv:3"]);
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  const text = formatBadInputSummary(s);
  assert.match(
    text,
    /^src: skipped 3 bad input\(s\) \(1 decode error, 1 empty caption, 1 missing file\)/,
  );
  assert.match(text, /a\.jpg: premature end/);
  assert.equal(formatBadInputSummary(new BadInputLog("x", { policy: "skip" }).summary()), "");
  const fail = new BadInputLog("src", { policy: "fail" });
  assert.throws(
    () => fail.report({ path: "c.jpg", reason: "decode_error", detail: "bad" }),
    (e: Error) =>
      e instanceof BadInputError && /src: bad input c\.jpg \(decode error\): bad/.test(e.message),
  );
});

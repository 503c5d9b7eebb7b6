import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SECRET_RULE_IDS, renderFindings, scanText } from "../../src/gates/secrets.js";

const ROOT = join(import.meta.dirname, "../..");

interface Sample {
  id: string;
  /** The rule that must report the sample, or null: a near miss that must report nothing. */
  expect: string | null;
  path: string;
  /** Secrets are stored split into parts, joined with no separator. */
  text: string | string[];
}

const corpus = JSON.parse(readFileSync(join(ROOT, "fixtures/secrets/corpus.json"), "utf8")) as { samples: Sample[] };
const textOf = (sample: Sample) => (Array.isArray(sample.text) ? sample.text.join("") : sample.text);
const positives = corpus.samples.filter((sample) => sample.expect !== null);
const nearMisses = corpus.samples.filter((sample) => sample.expect === null);

describe("secrets corpus", () => {
  it("is big enough and covers every rule", () => {
    expect(positives.length).toBeGreaterThanOrEqual(40);
    expect(nearMisses.length).toBeGreaterThanOrEqual(40);
    expect(new Set(positives.map((sample) => sample.expect))).toEqual(new Set(SECRET_RULE_IDS));
    expect(new Set(corpus.samples.map((sample) => sample.id)).size).toBe(corpus.samples.length);
  });

  it.each(positives.map((sample) => [sample.id, sample] as const))("finds %s", (_id, sample) => {
    const findings = scanText(textOf(sample), sample.path);
    expect(findings.map((finding) => finding.rule)).toEqual([sample.expect]);
  });

  it.each(nearMisses.map((sample) => [sample.id, sample] as const))("leaves %s alone", (_id, sample) => {
    expect(scanText(textOf(sample), sample.path)).toEqual([]);
  });

  it("has recall 100% and no false positive over the whole corpus", () => {
    const found = positives.filter((sample) => scanText(textOf(sample), sample.path).some((finding) => finding.rule === sample.expect));
    const falseAlarms = nearMisses.filter((sample) => scanText(textOf(sample), sample.path).length > 0);
    expect({ recall: found.length / positives.length, falsePositives: falseAlarms.map((sample) => sample.id) }).toEqual({ recall: 1, falsePositives: [] });
  });

  it("never renders a corpus secret whole", () => {
    for (const sample of positives) {
      const text = textOf(sample);
      const rendered = JSON.stringify(scanText(text, sample.path)) + renderFindings(scanText(text, sample.path));
      // Each secret is stored split: the pieces after the first are its body, and none may show.
      for (const piece of Array.isArray(sample.text) ? sample.text.slice(1, -1) : []) {
        if (piece.length >= 6) expect(rendered).not.toContain(piece);
      }
    }
  });
});

describe("this repository's own gate files", () => {
  // The corpus and the tests hold secret-shaped values only in pieces, so the security gate that
  // checks this repository's pull requests does not stop its own changes.
  const files = [
    "fixtures/secrets/corpus.json",
    "fixtures/secrets/README.md",
    "bench/secrets.mjs",
    "docs/gates.md",
    ...readdirSync(join(ROOT, "src/gates")).map((name) => `src/gates/${name}`),
    ...readdirSync(join(ROOT, "test/gates")).map((name) => `test/gates/${name}`),
  ];

  it.each(files)("%s has nothing the scanner reports", (path) => {
    expect(renderFindings(scanText(readFileSync(join(ROOT, path), "utf8"), path))).toBe("no secrets found in added lines");
  });
});

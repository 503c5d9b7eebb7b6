#!/usr/bin/env node
// Secret scanner benchmark: precision and recall on fixtures/secrets/corpus.json, and throughput
// in MB/s of `git diff` text. Runs the BUILT module: `npm run build && node bench/secrets.mjs`.
// Options: --mb N (size of the generated diff, default 8), --runs N (timed runs, default 5).
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { numberOption } from "./options.mjs";

const targetMb = numberOption("mb", 8);
const runs = Math.round(numberOption("runs", 5));

let scanner;
try {
  scanner = await import("../dist/gates/secrets.js");
} catch (error) {
  console.error(`bench: cannot load dist/gates/secrets.js (${error.code ?? error.message}): run \`npm run build\` first`);
  process.exit(1);
}
const { scanText, scanUnifiedDiff, SECRET_RULE_IDS } = scanner;

// ---- precision and recall on the corpus -------------------------------------------------------
const corpus = JSON.parse(readFileSync(new URL("../fixtures/secrets/corpus.json", import.meta.url), "utf8"));
const textOf = (sample) => (Array.isArray(sample.text) ? sample.text.join("") : sample.text);
let truePositives = 0;
let rightRule = 0;
let falseNegatives = 0;
let falsePositives = 0;
let trueNegatives = 0;
const misses = [];
const perRule = new Map(SECRET_RULE_IDS.map((rule) => [rule, { found: 0, total: 0 }]));
for (const sample of corpus.samples) {
  const findings = scanText(textOf(sample), sample.path);
  if (sample.expect === null) {
    if (findings.length > 0) {
      falsePositives++;
      misses.push(`false positive: ${sample.id} (${findings.map((f) => f.rule).join(", ")})`);
    } else trueNegatives++;
    continue;
  }
  const stats = perRule.get(sample.expect) ?? { found: 0, total: 0 };
  perRule.set(sample.expect, stats);
  stats.total++;
  if (findings.length > 0) {
    truePositives++;
    if (findings.some((f) => f.rule === sample.expect)) {
      rightRule++;
      stats.found++;
    } else misses.push(`wrong rule: ${sample.id} (expected ${sample.expect}, got ${findings.map((f) => f.rule).join(", ")})`);
  } else {
    falseNegatives++;
    misses.push(`missed: ${sample.id}`);
  }
}
const pct = (n, d) => (d === 0 ? "n/a" : `${((100 * n) / d).toFixed(1)}%`);
console.log(`corpus: ${truePositives + falseNegatives} positives, ${falsePositives + trueNegatives} near misses`);
console.log(`  precision  ${pct(truePositives, truePositives + falsePositives)}  (${truePositives} true, ${falsePositives} false positives)`);
console.log(`  recall     ${pct(truePositives, truePositives + falseNegatives)}  (${falseNegatives} missed)`);
console.log(`  right rule ${pct(rightRule, truePositives)} of what was found`);
for (const [rule, stats] of perRule) if (stats.total > 0) console.log(`    ${rule.padEnd(22)} ${stats.found}/${stats.total}`);
for (const miss of misses) console.log(`  ${miss}`);

// ---- throughput on generated diff text --------------------------------------------------------
// A seeded generator, so every run scans the same text.
let state = 0x2545f491;
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = Math.imul(state ^ (state >>> 15), state | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pickOne = (items) => items[Math.floor(random() * items.length)];
const chars = (alphabet, n) => Array.from({ length: n }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const WORDS = ["user", "order", "item", "price", "total", "config", "request", "response", "cache", "token", "session", "worker", "queue", "limit", "status", "result", "payload", "branch", "commit", "file"];
const ident = () => pickOne(WORDS) + pickOne(WORDS).replace(/^./, (c) => c.toUpperCase());

// Lines as they appear in real changes: code, config, lockfiles, prose, and the odd secret.
const lineMakers = [
  () => `  const ${ident()} = await ${ident()}(${ident()}, { retries: ${Math.floor(random() * 10)} });`,
  () => `  if (${ident()}.length > ${Math.floor(random() * 100)}) return ${ident()};`,
  () => `import { ${ident()}, ${ident()} } from "./${pickOne(WORDS)}.js";`,
  () => `export function ${ident()}(${ident()}: string, ${ident()}: number): boolean {`,
  () => `  // ${pickOne(WORDS)} the ${pickOne(WORDS)} before the ${pickOne(WORDS)} is read`,
  () => `    "${pickOne(WORDS)}": "${pickOne(WORDS)}-${Math.floor(random() * 1000)}",`,
  () => `  ${pickOne(WORDS)}_${pickOne(WORDS)}: ${Math.floor(random() * 5000)}`,
  () => `      "integrity": "sha512-${chars(ALNUM + "+/", 86)}==",`,
  () => `  const token = process.env.${pickOne(WORDS).toUpperCase()}_TOKEN;`,
  () => `  password: process.env.DB_PASSWORD,`,
  () => `The ${pickOne(WORDS)} keeps its ${pickOne(WORDS)} until the ${pickOne(WORDS)} is merged, then the ${pickOne(WORDS)} is cleaned up.`,
  () => `    expect(${ident()}(${JSON.stringify(pickOne(WORDS))})).toEqual({ ${pickOne(WORDS)}: ${Math.floor(random() * 9)} });`,
  () => `  "id": "${chars("0123456789abcdef", 8)}-${chars("0123456789abcdef", 4)}-4${chars("0123456789abcdef", 3)}-a${chars("0123456789abcdef", 3)}-${chars("0123456789abcdef", 12)}",`,
  () => `var a=${ident()},b=function(e){return e.${pickOne(WORDS)}?e:{default:e}},c=b(a);`.repeat(1 + Math.floor(random() * 8)),
  () => "",
];
// Pieces joined at run time, so this file holds no whole secret.
const secretMakers = [
  () => `GITHUB_TOKEN=${"gh" + "p_"}${chars(ALNUM, 36)}`,
  () => `  apiKey: "${"AI" + "za"}${chars(ALNUM + "_-", 35)}",`,
  () => `  password: "${chars(ALNUM, 1)}${chars(ALNUM + "!#%^&*", 17)}",`,
  () => `aws_access_key_id = ${"AK" + "IA"}${chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)}`,
];

function generateDiff(bytes) {
  const parts = [];
  let size = 0;
  let planted = 0;
  for (let fileIndex = 0; size < bytes; fileIndex++) {
    const path = `src/${pickOne(WORDS)}/${pickOne(WORDS)}-${fileIndex}.${pickOne(["ts", "ts", "ts", "py", "go", "json", "yml", "md"])}`;
    const header = [`diff --git a/${path} b/${path}`, `index ${chars("0123456789abcdef", 7)}..${chars("0123456789abcdef", 7)} 100644`, `--- a/${path}`, `+++ b/${path}`];
    const body = [];
    let oldLine = 1 + Math.floor(random() * 200);
    let newLine = oldLine;
    for (let hunk = 0; hunk < 1 + Math.floor(random() * 4); hunk++) {
      const lines = [];
      let oldCount = 0;
      let newCount = 0;
      for (let i = 0; i < 10 + Math.floor(random() * 50); i++) {
        const roll = random();
        // Secrets go on added lines only (roll < 0.55 below), so each should be found once.
        const text = roll < 0.002 ? pickOne(secretMakers)() : pickOne(lineMakers)();
        if (roll < 0.002) planted++;
        if (roll < 0.55) {
          lines.push(`+${text}`);
          newCount++;
        } else if (roll < 0.75) {
          lines.push(`-${text}`);
          oldCount++;
        } else {
          lines.push(` ${text}`);
          oldCount++;
          newCount++;
        }
      }
      body.push(`@@ -${oldLine},${oldCount} +${newLine},${newCount} @@`, ...lines);
      oldLine += oldCount + 20;
      newLine += newCount + 20;
    }
    const text = [...header, ...body].join("\n") + "\n";
    parts.push(text);
    size += Buffer.byteLength(text);
  }
  return { diff: parts.join(""), planted };
}

const { diff, planted } = generateDiff(targetMb * 1_000_000);
const megabytes = Buffer.byteLength(diff) / 1_000_000;
const durations = [];
let findings = [];
scanUnifiedDiff(diff); // warm-up: let the JIT see the code once
for (let run = 0; run < runs; run++) {
  const start = performance.now();
  findings = scanUnifiedDiff(diff);
  durations.push((performance.now() - start) / 1000);
}
durations.sort((a, b) => a - b);
const median = durations[Math.floor(durations.length / 2)];
const addedLines = diff.split("\n").filter((line) => line.startsWith("+") && !line.startsWith("+++")).length;
console.log(`throughput: ${megabytes.toFixed(2)} MB of diff (${addedLines} added lines), ${runs} runs`);
console.log(`  median ${(megabytes / median).toFixed(1)} MB/s (${(median * 1000).toFixed(0)} ms), best ${(megabytes / durations[0]).toFixed(1)} MB/s`);
console.log(`  ${findings.length} findings for ${planted} secrets planted on added lines`);

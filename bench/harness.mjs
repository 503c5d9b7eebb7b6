// What the benchmarks that drive the built `pw serve` share: the check that it is built, the
// GitHub stand-in of the tests (transpiled to plain JavaScript), payloads from fixtures/webhooks
// retargeted at a repository, and GitHub's signature over a body.
import { createHmac } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../", import.meta.url));
export const PW_CLI = join(ROOT, "dist/cli/main.js");

/** Stops the benchmark with one line when the CLI has not been built. */
export function requireBuilt() {
  if (!existsSync(PW_CLI)) {
    console.error("bench: dist/cli/main.js is missing: run `npm run build` first");
    process.exit(1);
  }
}

/** The tests' GitHub stand-in class, transpiled into `work` and imported. */
export async function loadGitHubStandIn(work) {
  const { default: ts } = await import("typescript");
  const { outputText } = ts.transpileModule(readFileSync(join(ROOT, "test/helpers/github-stand-in.ts"), "utf8"), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  });
  writeFileSync(join(work, "github-stand-in.mjs"), outputText);
  return (await import(join(work, "github-stand-in.mjs"))).GitHubStandIn;
}

/** A payload of fixtures/webhooks by name. */
export function fixture(name) {
  return JSON.parse(readFileSync(join(ROOT, "fixtures/webhooks", `${name}.json`), "utf8"));
}

/** A `pull_request` fixture about PR `number` of `repository`, from `branch`. */
export function pullRequestPayload(name, repository, number, branch) {
  const payload = fixture(name);
  const [owner, repoName] = repository.split("/");
  payload.repository.full_name = repository;
  payload.repository.name = repoName;
  payload.repository.owner.login = owner;
  payload.number = number;
  const pr = payload.pull_request;
  pr.number = number;
  pr.html_url = `https://github.com/${repository}/pull/${number}`;
  pr.head.ref = branch;
  pr.head.repo = JSON.parse(JSON.stringify(payload.repository));
  pr.base.repo = JSON.parse(JSON.stringify(payload.repository));
  return payload;
}

/** GitHub's `X-Hub-Signature-256` of `body` under `secret`. */
export function signature(secret, body) {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** A payload as sent: its body, and its signature under `secret`. */
export function signed(secret, payload) {
  const body = JSON.stringify(payload);
  return { body, signature: signature(secret, body) };
}

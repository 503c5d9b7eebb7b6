#!/usr/bin/env node
// Regenerates fixtures/webhooks/ from the real payloads in @octokit/webhooks-examples:
//   node scripts/extract-webhook-fixtures.mjs
// Writes one pretty JSON file per event.action we handle, manifest.json (where each came from and
// what was adjusted, checked by test/webhook-fixtures.test.ts) and README.md. Adjustments are kept
// to what a scenario needs and are listed, with the reason, in both.
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const PACKAGE = "@octokit/webhooks-examples";
const definitions = require(PACKAGE);
const { version } = require(`${PACKAGE}/package.json`);
const outDir = fileURLToPath(new URL("../fixtures/webhooks/", import.meta.url));

// The installation the stand-in hands out by default (test/helpers/github-stand-in.ts) and that
// most examples already carry; copied from those examples.
const INSTALLATION = { id: 1, node_id: "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==" };
const ADD_INSTALLATION = {
  path: "installation",
  value: INSTALLATION,
  why: "GitHub puts `installation` in every delivery to an App (Probot authenticates with it); this example was recorded without it",
};

/** file name (without .json) -> which example, and the adjustments a scenario needs. */
const FIXTURES = [
  { file: "pull_request.opened", event: "pull_request", action: "opened" },
  { file: "pull_request.reopened", event: "pull_request", action: "reopened" },
  { file: "pull_request.ready_for_review", event: "pull_request", action: "ready_for_review" },
  { file: "pull_request.synchronize", event: "pull_request", action: "synchronize" },
  { file: "pull_request.closed", event: "pull_request", action: "closed" },
  {
    file: "pull_request.closed.merged",
    event: "pull_request",
    action: "closed",
    // Every `closed` example is an unmerged close; a merge is the same event with these fields set.
    adjust: (example) => [
      { path: "pull_request.merged", value: true, why: "a merge is a `closed` event with `merged: true`" },
      {
        path: "pull_request.merged_at",
        value: example.pull_request.closed_at,
        why: "a merged pull request has `merged_at`, equal to `closed_at`",
      },
      {
        path: "pull_request.merged_by",
        value: example.sender,
        why: "the sender who closed it is the one who merged it",
      },
    ],
  },
  { file: "pull_request_review.submitted", event: "pull_request_review", action: "submitted" },
  { file: "issue_comment.created", event: "issue_comment", action: "created" },
  { file: "issue_comment.edited", event: "issue_comment", action: "edited" },
  { file: "check_run.completed", event: "check_run", action: "completed" },
  { file: "check_run.rerequested", event: "check_run", action: "rerequested" },
  { file: "check_suite.completed", event: "check_suite", action: "completed" },
  { file: "check_suite.requested", event: "check_suite", action: "requested" },
  { file: "check_suite.rerequested", event: "check_suite", action: "rerequested" },
  { file: "installation.created", event: "installation", action: "created" },
  // a push has no action; the branch push delivered to an App, not a tag's
  { file: "push", event: "push", action: undefined, pick: (example) => example.ref.startsWith("refs/heads/") },
  { file: "merge_group.checks_requested", event: "merge_group", action: "checks_requested" },
];

function setPath(target, path, value) {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key];
  node[keys[keys.length - 1]] = value;
}

function copy(value) {
  return JSON.parse(JSON.stringify(value));
}

mkdirSync(outDir, { recursive: true });
const manifest = { source: `${PACKAGE}@${version} (api.github.com/index.json)`, fixtures: [] };

for (const spec of FIXTURES) {
  const definition = definitions.find((candidate) => candidate.name === spec.event);
  if (!definition) throw new Error(`${PACKAGE} has no "${spec.event}" event`);
  const candidates = definition.examples
    .map((example, index) => ({ example, index }))
    .filter(({ example }) => example.action === spec.action && (!spec.pick || spec.pick(example)));
  if (candidates.length === 0) throw new Error(`${PACKAGE} has no "${spec.event}${spec.action ? `.${spec.action}` : ""}" example`);
  // Prefer an example delivered to an App (it carries `installation`), as ours will be.
  const chosen = candidates.find(({ example }) => example.installation) ?? candidates[0];
  const payload = copy(chosen.example);
  const adjustments = [...(spec.adjust ? spec.adjust(chosen.example) : [])];
  if (!payload.installation) adjustments.push(ADD_INSTALLATION);
  for (const adjustment of adjustments) setPath(payload, adjustment.path, copy(adjustment.value));
  writeFileSync(`${outDir}${spec.file}.json`, `${JSON.stringify(payload, null, 2)}\n`);
  manifest.fixtures.push({
    file: `${spec.file}.json`,
    event: spec.event,
    action: spec.action,
    example: chosen.index,
    adjustments,
  });
  console.log(`${spec.file}.json <- ${spec.event} example #${chosen.index}${adjustments.length ? ` (${adjustments.length} adjusted)` : ""}`);
}

writeFileSync(`${outDir}manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);

const rows = manifest.fixtures.map((fixture) => {
  const adjusted = fixture.adjustments.map((a) => `\`${a.path}\`: ${a.why}`).join("; ") || "none";
  return `| \`${fixture.file}\` | \`${fixture.event}\` example #${fixture.example} (${fixture.action ? `action \`${fixture.action}\`` : "no action"}) | ${adjusted} |`;
});
const readme = `# Webhook fixtures

Real GitHub webhook payloads, copied from \`${manifest.source}\` by
\`scripts/extract-webhook-fixtures.mjs\` (run \`node scripts/extract-webhook-fixtures.mjs\` to
regenerate; do not edit these files by hand). Each is the example at the given index of that
event's \`examples\` array; when an action has several, the first one delivered to an App (with
\`installation\`) is taken. \`manifest.json\` records the same provenance, and
\`test/webhook-fixtures.test.ts\` checks every file still equals its example plus the listed
adjustments.

| file | source | adjusted |
| --- | --- | --- |
${rows.join("\n")}

Payloads keep the examples' repository (\`Codertocat/Hello-World\` and friends), numbers and
shas. Tests point them at their own scenario with the small pure functions in
\`test/helpers/webhooks.ts\` (\`retarget\`, \`withRepository\`, \`withPullRequest\`, ...), which change
only the fields a scenario needs, and load them typed with \`loadPayload(name)\`.
`;
writeFileSync(`${outDir}README.md`, readme);

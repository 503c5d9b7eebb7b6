import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkAppWebhook, webhookUrlProblem } from "../../src/app/webhook-config.js";
import { createLogger } from "../../src/log/logger.js";
import { GitHubStandIn } from "../helpers/github-stand-in.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { restOctokit } from "./harness.js";

let github: GitHubStandIn | undefined;
afterEach(async () => {
  await github?.close();
  github = undefined;
  removeTempDirs();
});

describe("the App's webhook URL", () => {
  it.each([
    ["https://pw.example.com/api/github/webhooks", undefined, undefined],
    ["https://pw.example.com/api/github/webhooks/", undefined, undefined],
    ["https://smee.io/abc", "https://smee.io/abc", undefined],
    ["https://pw.example.com/", undefined, "does not end in /api/github/webhooks, where pw serve receives deliveries"],
    ["https://pw.example.com/api/github/webhooks", "https://smee.io/abc", "not WEBHOOK_PROXY_URL (https://smee.io/abc)"],
    ["https://smee.io/abc", undefined, "but WEBHOOK_PROXY_URL is not set: set it to that channel"],
    ["", undefined, "the GitHub App has no webhook URL"],
    ["not a url", undefined, 'the GitHub App\'s webhook URL "not a url" is not a URL'],
  ])("%j with WEBHOOK_PROXY_URL %j: %s", (registered, proxy, problem) => {
    const said = webhookUrlProblem(registered, proxy);
    if (problem === undefined) expect(said).toBeUndefined();
    else expect(said).toContain(problem);
  });

  it("is read from GitHub on start: one warning when it cannot reach pw serve, none when it can", async () => {
    github = await GitHubStandIn.start();
    const logFile = join(tempDir("pw-hook-"), "app.log");
    const logger = createLogger({ component: "app", destination: logFile, level: "info", loki: false });
    const warnings = () =>
      readFileSync(logFile, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { level: number; msg: string; webhook_url?: string; content_type?: string })
        .filter((line) => line.level === 40);
    const octokit = restOctokit(github);

    await checkAppWebhook(octokit, { logger });
    github.setAppHookConfig({ url: "https://pw.example.com/" });
    await checkAppWebhook(octokit, { logger });
    github.setAppHookConfig({ url: "https://pw.example.com/api/github/webhooks", content_type: "form" });
    await checkAppWebhook(octokit, { logger });
    expect(warnings()).toEqual([
      expect.objectContaining({ webhook_url: "https://pw.example.com/", msg: expect.stringContaining("change it in the App's settings") }),
      expect.objectContaining({ content_type: "form", msg: "the GitHub App sends webhooks as form: set its content type to application/json" }),
    ]);
    expect(github.calls()).toEqual(["GET /app/hook/config", "GET /app/hook/config", "GET /app/hook/config"]);
  });
});

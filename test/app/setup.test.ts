/**
 * The registration page of `pw serve` without credentials, over real HTTP: GitHub's manifest flow
 * against the local stand-in (which exchanges the code for the App), the .env it writes, and a
 * signed delivery to the webhook URL it registered, received by the app's own handler.
 */
import { statSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { parseEnv } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createAppHttpHandler, WEBHOOK_PATH } from "../../src/app/http.js";
import { APP_MANIFEST_FILE, createSetupPage, githubWebUrl, readAppManifest, type SetupPageOptions } from "../../src/app/setup.js";
import { createLogger } from "../../src/log/logger.js";
import { GitHubStandIn } from "../helpers/github-stand-in.js";
import { removeTempDirs, tempDir } from "../helpers/git.js";
import { deliver, loadPayload, retarget } from "../helpers/webhooks.js";
import { harness, REPO, type Harness } from "./harness.js";

const servers: Server[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const close of closers.splice(0)) await close();
  removeTempDirs();
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Setup {
  base: string;
  github: GitHubStandIn;
  envFile: string;
  logLines: () => Array<Record<string, unknown>>;
}

async function setupPage(options: Partial<SetupPageOptions> = {}): Promise<Setup> {
  const github = await GitHubStandIn.start();
  closers.push(() => github.close());
  const dir = tempDir("pw-setup-");
  const logFile = join(dir, "setup.log");
  const envFile = join(dir, ".env");
  const logger = createLogger({ component: "app", destination: logFile, level: "debug", loki: false });
  const base = await listen(createSetupPage({ logger, envFile, apiUrl: github.url, ...options }));
  const logLines = () =>
    readFileSync(logFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { base, github, envFile, logLines };
}

function unescapeHtml(text: string): string {
  return text.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
}

interface Registration {
  html: string;
  action: URL;
  state: string;
  manifest: { name: string; hook_attributes: { url: string }; redirect_url: string; default_events: string[]; default_permissions: Record<string, string> };
}

/** Opens the registration page as a browser would (through a proxy when `headers` say so). */
async function openPage(base: string, headers: Record<string, string> = {}): Promise<Registration> {
  const response = await fetch(`${base}/probot`, { headers });
  expect(response.status).toBe(200);
  const html = await response.text();
  const action = new URL(unescapeHtml(/<form action="([^"]+)" method="post">/.exec(html)![1]!));
  const manifest = JSON.parse(unescapeHtml(/name="manifest" value="([^"]+)"/.exec(html)![1]!)) as Registration["manifest"];
  return { html, action, state: action.searchParams.get("state")!, manifest };
}

/** GitHub's side of "Create GitHub App": the browser comes back to the redirect URL with a code. */
async function completeOnGitHub(setup: Setup, registration: Registration, base = setup.base): Promise<Response> {
  const code = setup.github.submitManifest(registration.manifest);
  const back = new URL(registration.manifest.redirect_url);
  return fetch(`${base}${back.pathname}?code=${code}&state=${registration.state}`, { redirect: "manual" });
}

describe("the registration page", () => {
  it("registers the App from app.yml with a webhook URL at /api/github/webhooks, writes .env, and a delivery there is handled", async () => {
    const setup = await setupPage();
    writeFileSync(setup.envFile, "# mine\nLOG_LEVEL=debug\nAPP_ID=1\n");
    // opened through a reverse proxy at the public address
    const registration = await openPage(setup.base, { "x-forwarded-host": "pw.example.com", "x-forwarded-proto": "https" });
    const appYml = parse(readFileSync(APP_MANIFEST_FILE, "utf8")) as Record<string, unknown>;
    expect(registration.manifest).toEqual({
      ...appYml,
      hook_attributes: { url: `https://pw.example.com${WEBHOOK_PATH}` },
      redirect_url: "https://pw.example.com/probot/setup",
    });
    expect(`${registration.action.origin}${registration.action.pathname}`).toBe(`${setup.github.url}/settings/apps/new`);
    expect(registration.state).toMatch(/^[0-9a-f]{40}$/);
    expect(registration.html).not.toContain("GitHub cannot deliver webhooks");

    const back = await completeOnGitHub(setup, registration);
    expect(back.status).toBe(302);
    expect(back.headers.get("location")).toBe("https://github.com/apps/parallel-workers/installations/new");
    const [app] = setup.github.registeredApps;
    const written = parseEnv(readFileSync(setup.envFile, "utf8"));
    expect(written).toEqual({ LOG_LEVEL: "debug", APP_ID: String(app!.id), PRIVATE_KEY: app!.pem, WEBHOOK_SECRET: app!.webhookSecret });
    expect(readFileSync(setup.envFile, "utf8")).toMatch(/^# mine\n/);
    expect(statSync(setup.envFile).mode & 0o777).toBe(0o600);
    expect(setup.logLines()).toContainEqual(expect.objectContaining({ msg: expect.stringContaining("GitHub App registered"), app_id: app!.id, webhook_url: `https://pw.example.com${WEBHOOK_PATH}` }));

    // the code and its registration are used up
    expect((await completeOnGitHub(setup, registration)).status).toBe(400);

    // pw serve's webhook receiver, with the secret GitHub gave, handles a delivery to that URL's path
    const served: Harness = await harness({ secret: written.WEBHOOK_SECRET! });
    closers.push(() => served.close());
    await served.probot.ready();
    const appBase = await listen(createAppHttpHandler({ probot: served.probot, store: served.store, logger: served.logger }));
    await served.addWorker({ id: "worker-aaaaa1", state: "PR_OPEN", prNumber: 1 });
    const pr = served.github.addPullRequest(REPO, { head: "feature/task-1" });
    served.github.mergePullRequest(REPO, pr.number);
    const payload = retarget(loadPayload("pull_request.closed.merged"), { repo: REPO, number: pr.number, headRef: "feature/task-1" });
    const result = await deliver(`${appBase}${new URL(registration.manifest.hook_attributes.url).pathname}`, { event: "pull_request", payload, secret: written.WEBHOOK_SECRET! });
    expect(result.status).toBe(200);
    expect((await served.store.requireWorker("worker-aaaaa1")).state).toBe("MERGED");
  });

  it("opened at a loopback address, registers a new smee.io channel (once) and saves it as WEBHOOK_PROXY_URL", async () => {
    const asked: string[] = [];
    const smee = await listen((req, res) => {
      asked.push(`${req.method} ${req.url}`);
      res.writeHead(307, { location: "https://smee.io/aBcD1234" }).end();
    });
    const setup = await setupPage({ smeeUrl: smee });
    const first = await openPage(setup.base);
    const second = await openPage(setup.base);
    expect(asked).toEqual(["HEAD /new"]);
    expect([first.manifest.hook_attributes.url, second.manifest.hook_attributes.url]).toEqual(["https://smee.io/aBcD1234", "https://smee.io/aBcD1234"]);
    expect(first.manifest.redirect_url).toBe(`${setup.base}/probot/setup`);
    expect((await completeOnGitHub(setup, second)).status).toBe(302);
    expect(parseEnv(readFileSync(setup.envFile, "utf8")).WEBHOOK_PROXY_URL).toBe("https://smee.io/aBcD1234");
  });

  it("uses WEBHOOK_PROXY_URL when set, and says when GitHub could not reach the page's address", async () => {
    const proxied = await setupPage({ webhookProxyUrl: "https://smee.io/given", smeeUrl: "http://127.0.0.1:9" });
    const registration = await openPage(proxied.base);
    expect(registration.manifest.hook_attributes.url).toBe("https://smee.io/given");
    expect((await completeOnGitHub(proxied, registration)).status).toBe(302);
    expect(parseEnv(readFileSync(proxied.envFile, "utf8")).WEBHOOK_PROXY_URL).toBeUndefined();

    const local = await setupPage({ organization: "acme" });
    const page = await openPage(local.base);
    expect(page.manifest.hook_attributes.url).toBe(`${local.base}${WEBHOOK_PATH}`);
    expect(page.html).toContain("GitHub cannot deliver webhooks to <code>http://127.0.0.1:");
    expect(page.action.pathname).toBe("/organizations/acme/settings/apps/new");
  });

  it("refuses a callback it did not start, a code GitHub does not know, and deliveries, writing nothing", async () => {
    const setup = await setupPage();
    const registration = await openPage(setup.base);
    const callback = (query: string) => fetch(`${setup.base}/probot/setup${query}`, { redirect: "manual" });
    expect((await callback("")).status).toBe(400);
    expect((await callback(`?code=abc&state=${"0".repeat(40)}`)).status).toBe(400);
    const unknown = await callback(`?code=not-a-code&state=${registration.state}`);
    expect(unknown.status).toBe(502);
    expect(await unknown.text()).toContain("GitHub answered 404");
    expect((await fetch(`${setup.base}/probot/setup?code=x&state=${registration.state}`, { method: "HEAD" })).status).toBe(405);
    const delivery = await deliver(`${setup.base}${WEBHOOK_PATH}`, { event: "ping", payload: { zen: "hi" }, secret: "any" });
    expect(delivery.status).toBe(503);
    expect(JSON.parse(delivery.body)).toEqual({ error: expect.stringContaining("no GitHub App credentials yet") });
    expect(setup.github.calls()).toEqual(["POST /app-manifests/not-a-code/conversions"]);
    expect(() => statSync(setup.envFile)).toThrow();
    // the registration started by the page still completes
    expect((await completeOnGitHub(setup, registration)).status).toBe(302);
  });
});

describe("app.yml", () => {
  it("is a valid manifest whose webhook URL ends in the path pw serve receives at", () => {
    const manifest = readAppManifest();
    expect(new URL(manifest.hook_attributes.url).pathname).toBe(WEBHOOK_PATH);
    expect(manifest.public).toBe(false);
  });

  it.each([
    ["no webhook URL", "name: x\nurl: https://example.com\ndefault_events: [pull_request]\ndefault_permissions: { issues: write }\n", "hook_attributes: "],
    ["a bad permission", "name: x\nurl: https://example.com\nhook_attributes: { url: https://e.com/h }\ndefault_events: [pull_request]\ndefault_permissions: { issues: all }\n", "default_permissions.issues: "],
    ["not YAML", "name: [x\n", "cannot be read as YAML"],
    [
      "too little access",
      "name: x\nurl: https://example.com\nhook_attributes: { url: https://e.com/h }\ndefault_events: [pull_request, issue_comment, check_run]\ndefault_permissions: { contents: read, pull_requests: write, issues: write, checks: write, metadata: read }\n",
      "default_permissions lacks contents: write, merge_queues: write; default_events lacks pull_request_review, check_suite, push, merge_group, which pw serve needs",
    ],
  ])("a manifest with %s is refused in one line naming it", (_name, text, message) => {
    const file = join(tempDir("pw-manifest-"), "app.yml");
    writeFileSync(file, text);
    expect(() => readAppManifest(file)).toThrow(message);
  });

  it.each([
    ["https://api.github.com", "https://github.com"],
    ["https://ghe.example.com/api/v3", "https://ghe.example.com"],
  ])("GitHub's web address for the API %s is %s", (api, web) => {
    expect(githubWebUrl(api)).toBe(web);
  });
});

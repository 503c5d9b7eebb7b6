/**
 * `pw serve --log-format pretty`: the app's and the runner's lines are readable ones, to the
 * last line written at shutdown. (Piped without the flag it writes JSON: test/cli/serve.test.ts
 * reads those lines.)
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { PW_BIN } from "../helpers/cli.js";
import { removeTempDirs } from "../helpers/git.js";
import { runnerSandbox, type RunnerSandbox } from "../helpers/runner-env.js";

const PEM = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();

let sandbox: RunnerSandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
  removeTempDirs();
});

describe("pw serve --log-format pretty", () => {
  it("writes one readable line per event, to the last one at shutdown", async () => {
    const sb = (sandbox = await runnerSandbox({}));
    const env: NodeJS.ProcessEnv = { ...process.env, ...sb.env, WEBHOOK_SECRET: "secret", PORT: "0", HOST: "127.0.0.1", APP_ID: "123456", PRIVATE_KEY: PEM, LOG_LEVEL: "info" };
    const child = spawn(process.execPath, [PW_BIN, "serve", "--log-format", "pretty", "--no-reconcile"], { cwd: sb.repo, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const deadline = Date.now() + 15_000;
    while (!out.includes("app: pw serve listening")) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`pw serve did not start:\n${out}${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(err).toBe("");
    const lines = out.trimEnd().split("\n");
    expect(lines.find((l) => l.includes("pw serve listening"))).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: app: pw serve listening \{"port":\d+,"url":"http:\/\/127\.0\.0\.1:\d+\/api\/github\/webhooks"/);
    expect(lines.at(-1)).toMatch(/INFO: app: pw serve stopped$/);
    for (const line of lines) expect(() => JSON.parse(line)).toThrow();
  });
});

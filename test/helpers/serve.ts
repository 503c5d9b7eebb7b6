/**
 * `pw serve` as a child process for end-to-end tests: the built CLI, App credentials, the local
 * GitHub stand-in through GHE_HOST, and the port it chose read from its "listening" line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { PW_BIN } from "./cli.js";
import type { RunnerSandbox } from "./runner-env.js";

export const SERVE_SECRET = "e2e-secret";
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
/** The App's private key in these tests (PKCS#8 PEM). */
export const SERVE_PRIVATE_KEY = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const PEM = SERVE_PRIVATE_KEY;

export interface Served {
  child: ChildProcess;
  /** The webhook URL. */
  url: string;
  /** `http://127.0.0.1:PORT`, for /metrics and /healthz. */
  base: string;
  output: () => string;
  /** SIGTERM (or `signal`), then the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Polls `probe` every 25 ms until it returns something truthy. */
export async function until<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The environment of a `pw serve` in `sb` with App credentials (the stand-in hands out installation tokens). */
export function serveEnv(sb: RunnerSandbox): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...sb.env,
    WEBHOOK_SECRET: SERVE_SECRET,
    PORT: "0",
    HOST: "127.0.0.1",
    APP_ID: "123456",
    PRIVATE_KEY: PEM,
    LOG_LEVEL: "info",
  };
}

/** Starts `pw serve` and waits for its "listening" line; `started` is told of it at once (to stop it after the test). */
export async function startServe(env: NodeJS.ProcessEnv, cwd: string, args: string[] = [], started?: (served: Served) => void): Promise<Served> {
  const child = spawn(process.execPath, [PW_BIN, "serve", "--poll-interval", "0.2", ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const served: Served = {
    child,
    url: "",
    base: "",
    output: () => out,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  started?.(served);
  const port = await until(
    () => {
      if (child.exitCode !== null) throw new Error(`pw serve exited with ${child.exitCode}:\n${out}`);
      const line = out.split("\n").find((l) => l.includes('"pw serve listening"'));
      return line ? (JSON.parse(line) as { port: number }).port : undefined;
    },
    15_000,
    "pw serve listening",
  );
  served.base = `http://127.0.0.1:${port}`;
  served.url = `${served.base}/api/github/webhooks`;
  return served;
}

/**
 * On start, a look at the App's own webhook settings (`GET /app/hook/config`, the App's JWT): a
 * webhook URL that cannot reach this `pw serve` (an App registered with `<address>/`, a smee
 * channel other than WEBHOOK_PROXY_URL) is one warning line saying what to set, instead of
 * deliveries that fail where nobody looks.
 */
import { z } from "zod";
import type { Logger } from "../log/logger.js";
import type { RequestOctokit } from "./github.js";
import { WEBHOOK_PATH } from "./http.js";

const hookConfigSchema = z.object({ url: z.string().nullish(), content_type: z.string().nullish() });

/** Why deliveries to `registered` would not reach this pw serve, or undefined when they would. */
export function webhookUrlProblem(registered: string | null | undefined, proxyUrl: string | undefined): string | undefined {
  if (!registered) return `the GitHub App has no webhook URL: set it to https://<this host>${WEBHOOK_PATH} in the App's settings`;
  if (proxyUrl) {
    return registered === proxyUrl ? undefined : `the GitHub App's webhook URL is ${registered}, not WEBHOOK_PROXY_URL (${proxyUrl}): set one to the other`;
  }
  let path: string;
  try {
    path = new URL(registered).pathname.replace(/\/+$/, "");
  } catch {
    return `the GitHub App's webhook URL "${registered}" is not a URL: set it to https://<this host>${WEBHOOK_PATH}`;
  }
  if (path === WEBHOOK_PATH) return undefined;
  // a smee.io-like channel forwards to us only through WEBHOOK_PROXY_URL
  return /^https:\/\/smee\.io\//.test(registered)
    ? `the GitHub App's webhook URL is the channel ${registered}, but WEBHOOK_PROXY_URL is not set: set it to that channel`
    : `the GitHub App's webhook URL ${registered} does not end in ${WEBHOOK_PATH}, where pw serve receives deliveries (elsewhere they get 404): change it in the App's settings (General, Webhook URL)`;
}

/** Reads the App's webhook settings and warns once when they cannot reach this pw serve. */
export async function checkAppWebhook(octokit: RequestOctokit, options: { proxyUrl?: string; logger: Logger }): Promise<void> {
  let config: z.infer<typeof hookConfigSchema>;
  try {
    config = hookConfigSchema.parse((await octokit.request("GET /app/hook/config")).data);
  } catch (error) {
    options.logger.debug({ err_message: (error as Error).message.split("\n")[0] }, "the App's webhook settings could not be read");
    return;
  }
  const problem = webhookUrlProblem(config.url, options.proxyUrl);
  if (problem) options.logger.warn({ webhook_url: config.url ?? null }, problem);
  if (config.content_type && config.content_type !== "json") {
    options.logger.warn({ content_type: config.content_type }, `the GitHub App sends webhooks as ${config.content_type}: set its content type to application/json`);
  }
}

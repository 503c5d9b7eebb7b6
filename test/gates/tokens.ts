/**
 * Secret-shaped values for tests, built at run time from a seeded generator: the test sources
 * never hold a whole secret (so neither this repository's own gate nor a host's push protection
 * flags them), and every run sees the same values.
 */

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const ALNUM = UPPER + LOWER + DIGITS;
const BASE32 = UPPER + "234567";
const BASE64 = ALNUM + "+/";
const HEX = "0123456789abcdef";

/** mulberry32: small, seeded, good enough to look random. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function tokenMaker(seed = 42) {
  const next = seeded(seed);
  const pick = (alphabet: string, length: number): string => {
    let out = "";
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(next() * alphabet.length)];
    return out;
  };
  const digits = (length: number) => pick("123456789", 1) + pick(DIGITS, length - 1);
  const base64url = (text: string) => Buffer.from(text).toString("base64url");
  return {
    pick,
    alnum: (length: number) => pick(ALNUM, length),
    hex: (length: number) => pick(HEX, length),
    base64: (length: number) => pick(BASE64, length),
    awsKeyId: () => "AK" + "IA" + pick(BASE32, 16),
    awsSecret: () => pick(BASE64, 40),
    github: (prefix: "ghp" | "gho" | "ghu" | "ghs" | "ghr") => `${prefix}_` + pick(ALNUM, 36),
    githubFineGrained: () => "github" + "_pat_" + pick(ALNUM, 22) + "_" + pick(ALNUM, 59),
    slackBot: () => "xo" + "xb-" + digits(12) + "-" + digits(13) + "-" + pick(ALNUM, 24),
    slackWebhook: () => "https://hooks.slack" + ".com/services/T" + pick(BASE32, 9) + "/B" + pick(BASE32, 10) + "/" + pick(ALNUM, 24),
    stripeLive: () => "sk" + "_live_" + pick(ALNUM, 32),
    googleApiKey: () => "AI" + "za" + pick(ALNUM + "_-", 35),
    jwt: () =>
      [base64url(JSON.stringify({ alg: "HS256", typ: "JWT" })), base64url(JSON.stringify({ sub: digits(9), iat: 1_700_000_000 })), pick(ALNUM + "_-", 43)].join("."),
    npm: () => "np" + "m_" + pick(ALNUM, 36),
    password: (length = 18) => pick(ALNUM, 1) + pick(ALNUM + "!#%^&*-_+@", length - 1),
    /** A PEM private key: header, body lines, footer. */
    privateKeyLines: (kind = "RSA ") => [
      `-----BEGIN ${kind}PRIV` + "ATE KEY-----",
      "MII" + pick(BASE64, 61),
      pick(BASE64, 64),
      pick(BASE64, 40) + "==",
      `-----END ${kind}PRIV` + "ATE KEY-----",
    ],
  };
}

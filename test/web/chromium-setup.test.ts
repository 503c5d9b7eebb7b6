/**
 * What the `chromium` project's setup decides from what a machine has: use the browser found,
 * install Debian's package (as root, or through sudo without a password), or do without it:
 * skip with one line naming the install command, or fail under CI=true.
 */
import { describe, expect, it } from "vitest";
import { aptCommand, isCi, planBrowser, type BrowserMachine, type BrowserPlan } from "../setup/chromium.js";

const BARE: BrowserMachine = { requested: undefined, found: undefined, installAllowed: true, root: false, passwordlessSudo: false, apt: true, ci: false };
const INSTALL = ["install", "-y", "--no-install-recommends", "chromium"];

describe("planBrowser", () => {
  const cases: [string, Partial<BrowserMachine>, BrowserPlan["kind"], RegExp | string[] | undefined][] = [
    ["a Chromium on PATH is used", { found: "/usr/bin/chromium" }, "use", undefined],
    ["the requested binary is used", { requested: "/opt/chrome/chrome", found: "/opt/chrome/chrome" }, "use", undefined],
    ["root installs with apt-get", { root: true }, "install", ["apt-get", "-o", "DPkg::Lock::Timeout=300", ...INSTALL]],
    ["sudo without a password installs", { passwordlessSudo: true }, "install", ["sudo", "-n", "apt-get", "-o", "DPkg::Lock::Timeout=300", ...INSTALL]],
    ["sudo that asks for a password: skip, naming sudo", {}, "skip", /^Chromium tests skipped: .*needs root.*`sudo apt-get install -y chromium`/],
    ["root without apt-get: skip", { root: true, apt: false }, "skip", /no apt-get.*`apt-get install -y chromium`/],
    ["install switched off: skip even as root", { root: true, installAllowed: false }, "skip", /PW_TEST_BROWSER_INSTALL=0; install it with `apt-get install -y chromium`/],
    ["a requested binary that is missing: skip, nothing installed", { root: true, requested: "/nowhere/chromium" }, "skip", /PW_TEST_CHROMIUM=\/nowhere\/chromium is not an executable file/],
    ["under CI without a way to install: fail", { ci: true }, "fail", /^the Chromium tests need a browser under CI=true: .*`sudo apt-get install -y chromium`/],
    ["under CI with the install switched off: fail", { ci: true, root: true, installAllowed: false }, "fail", /PW_TEST_BROWSER_INSTALL=0/],
    ["under CI as root: install", { ci: true, root: true }, "install", ["apt-get", "-o", "DPkg::Lock::Timeout=300", ...INSTALL]],
  ];

  it.each(cases)("%s", (_name, machine, kind, detail) => {
    const plan = planBrowser({ ...BARE, ...machine });
    expect(plan.kind).toBe(kind);
    if (plan.kind === "use") expect(plan.chromium).toBe(machine.found);
    if (plan.kind === "install") {
      expect(plan.install).toEqual(detail);
      expect(plan.update).toEqual([...(detail as string[]).slice(0, -INSTALL.length), "update"]);
    }
    if (plan.kind === "skip" || plan.kind === "fail") {
      expect(plan.line).toMatch(detail as RegExp);
      expect(plan.line).not.toContain("\n");
    }
  });

  it("runs apt-get through sudo only when not root", () => {
    expect(aptCommand(true, "update")[0]).toBe("apt-get");
    expect(aptCommand(false, "update").slice(0, 3)).toEqual(["sudo", "-n", "apt-get"]);
  });
});

describe("isCi", () => {
  it.each([
    ["true", true],
    ["1", true],
    ["TRUE", true],
    ["false", false],
    ["0", false],
    ["", false],
    [undefined, false],
  ])("CI=%s -> %s", (value, expected) => {
    expect(isCi({ CI: value })).toBe(expected);
  });
});

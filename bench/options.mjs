// Command-line options of the bench scripts: `--name N`, a positive number; a bad one exits 2.
const args = process.argv.slice(2);

export function numberOption(name, fallback) {
  const at = args.indexOf(`--${name}`);
  const value = at >= 0 ? Number(args[at + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`bench: --${name} needs a positive number, got ${JSON.stringify(args[at + 1])}`);
    process.exit(2);
  }
  return value;
}

/** The value after `--name`, or undefined. */
export function textOption(name) {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
}

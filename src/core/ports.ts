/**
 * A worker's own ports: a block of `span` ports from `port`, taken from the configured range
 * (`ports: { from, per_worker }`) so that two workers' dev servers never collide. Pure: the
 * store calls it inside the transaction that records the block.
 */

/** The highest TCP port. */
export const MAX_PORT = 65_535;

export interface PortBlock {
  /** The first port of the block: PW_PORT, and `{port}` in commands. */
  port: number;
  /** How many ports from `port` the block holds. */
  span: number;
}

export interface PortRange {
  /** Where blocks start: from, from + perWorker, from + 2 perWorker, ... */
  from: number;
  perWorker: number;
}

function overlaps(a: PortBlock, b: PortBlock): boolean {
  return a.port < b.port + b.span && b.port < a.port + a.span;
}

/**
 * The first block of `range` that overlaps none of `held` (blocks of other ranges included),
 * `prefer` first when it is one of the range's blocks and free; undefined when the range is full.
 */
export function firstFreeBlock(held: readonly PortBlock[], range: PortRange, prefer?: number): number | undefined {
  const fits = (port: number) => {
    const block = { port, span: range.perWorker };
    return port + range.perWorker - 1 <= MAX_PORT && !held.some((h) => overlaps(h, block));
  };
  if (prefer !== undefined && prefer >= range.from && (prefer - range.from) % range.perWorker === 0 && fits(prefer)) return prefer;
  for (let port = range.from; port + range.perWorker - 1 <= MAX_PORT; port += range.perWorker) {
    if (fits(port)) return port;
  }
  return undefined;
}

/** `COMPOSE_PROJECT_NAME` of a worker: its id, which Compose accepts as it is (lowercase, digits, '-'). */
export function composeProjectName(workerId: string): string {
  return workerId;
}

/** `PW_DB_NAME` of a worker: its id with '_' for '-', a name PostgreSQL and MySQL take unquoted. */
export function databaseName(workerId: string): string {
  return workerId.replace(/-/g, "_");
}

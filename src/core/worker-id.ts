/** `worker-` and 6 lowercase letters or digits (here apart from the zod schemas, for what must start fast). */
const WORKER_ID = /^worker-[a-z0-9]{6}$/;

export function isWorkerId(value: string): boolean {
  return WORKER_ID.test(value);
}

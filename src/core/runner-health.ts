/** A runner that has not beaten for this long is taken for gone (`pw runners`, `pw worker list`, `retry --anywhere`), unless told otherwise. */
export const DEFAULT_STALE_AFTER_MS = 30_000;

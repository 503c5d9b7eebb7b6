/**
 * The page's live updates as server-sent events. One timer reads the store every ~500 ms while
 * at least one page listens, and only when a worker changed does it render and push the live
 * part of the page (once per distinct filter). Otherwise a `heard` event now and then tells the
 * page the store still answers; a failed read sends `trouble` instead.
 */
import type { ServerResponse } from "node:http";
import type { Worker } from "../core/worker.js";
import type { Logger } from "../log/logger.js";
import { filterQuery } from "./query.js";
import type { Filters } from "./view.js";

export interface LiveUpdate {
  version: string;
  heardAt: string;
  now: number;
  html: string;
}

export interface EventHubOptions {
  /** Reads every worker; rejects when the store does not answer. */
  readAll: () => Promise<Worker[]>;
  /** The version of a list of workers (changes when any worker does). */
  versionOf: (workers: readonly Worker[]) => string;
  /** The live part of the page for `filters`, from workers already read. */
  render: (workers: readonly Worker[], filters: Filters) => Promise<LiveUpdate>;
  /** The last successful store read (epoch ms), or undefined before the first. */
  lastHeard: () => number | undefined;
  now: () => number;
  logger: Logger;
  pollIntervalMs: number;
  heartbeatMs: number;
  maxStreams: number;
}

interface Stream {
  res: ServerResponse;
  filters: Filters;
  /** The version this page shows. */
  version: string;
  lastSentMs: number;
}

/** Buffered output a slow page may hold before its stream is ended (it reconnects and catches up). */
const MAX_BUFFERED_BYTES = 1024 * 1024;

export class EventHub {
  private readonly streams = new Set<Stream>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private troubled = false;
  /** A read under way: the next tick waits its turn (one read at a time, however slow the store). */
  private reading: Promise<void> | undefined;

  constructor(private readonly options: EventHubOptions) {}

  get size(): number {
    return this.streams.size;
  }

  /** False when it cannot take another stream (closed or full); the caller answers 503. */
  canAccept(): boolean {
    return !this.closed && this.streams.size < this.options.maxStreams;
  }

  /** Starts a stream for a page showing `version` with `filters`; it ends when the page goes. */
  open(res: ServerResponse, filters: Filters, version: string, headers: Record<string, string>): void {
    res.writeHead(200, {
      ...headers,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      // a reverse proxy must not buffer the stream
      "x-accel-buffering": "no",
    });
    res.write("retry: 2000\n\n");
    const stream: Stream = { res, filters, version, lastSentMs: 0 };
    this.streams.add(stream);
    res.on("close", () => {
      this.streams.delete(stream);
      if (this.streams.size === 0) this.stop();
    });
    this.options.logger.debug({ streams: this.streams.size }, "status page: event stream opened");
    // the page may have been rendered before a change: catch up at once
    void this.tick([stream]);
    this.timer ??= setInterval(() => void this.tick(), this.options.pollIntervalMs);
    this.timer.unref();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private send(stream: Stream, event: string, data: unknown, id?: string): void {
    const res = stream.res;
    if (res.writableEnded || res.destroyed) return;
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.end();
      return;
    }
    res.write(`event: ${event}\n${id ? `id: ${id}\n` : ""}data: ${JSON.stringify(data)}\n\n`);
    stream.lastSentMs = this.options.now();
  }

  /** One read of the store for every stream (or the given ones), after the read under way. */
  private async tick(targets?: Iterable<Stream>): Promise<void> {
    // a timer tick while a read is under way: that read serves it; a new page waits its turn
    if (this.reading && !targets) return;
    while (this.reading) await this.reading;
    this.reading = this.readAndSend(targets ?? this.streams).finally(() => (this.reading = undefined));
    await this.reading;
  }

  private async readAndSend(targets: Iterable<Stream>): Promise<void> {
    const { readAll, versionOf, render, now, logger } = this.options;
    let workers: Worker[];
    try {
      workers = await readAll();
    } catch (error) {
      if (!this.troubled) logger.warn({ err_message: (error as Error).message.split("\n")[0] }, "status page: the store did not answer");
      this.troubled = true;
      const heard = this.options.lastHeard();
      const message = `The store did not answer${heard === undefined ? "" : `; this is what it said at ${new Date(heard).toISOString().slice(11, 19)} UTC`}.`;
      for (const stream of targets) this.send(stream, "trouble", { message });
      return;
    }
    this.troubled = false;
    try {
      const version = versionOf(workers);
      const rendered = new Map<string, LiveUpdate>();
      const nowMs = now();
      for (const stream of targets) {
        if (stream.version !== version) {
          const key = filterQuery(stream.filters);
          let update = rendered.get(key);
          if (!update) {
            update = await render(workers, stream.filters);
            rendered.set(key, update);
          }
          this.send(stream, "update", update, version);
          stream.version = version;
        } else if (stream.lastSentMs === 0 || nowMs - stream.lastSentMs >= this.options.heartbeatMs) {
          const heard = this.options.lastHeard() ?? nowMs;
          this.send(stream, "heard", { heardAt: new Date(heard).toISOString(), now: nowMs });
        }
      }
    } catch (error) {
      logger.error({ err_message: (error as Error).message.split("\n")[0] }, "status page: update not rendered");
    }
  }

  /** Ends every stream and the timer; later streams are refused. */
  close(): void {
    this.closed = true;
    this.stop();
    for (const stream of this.streams) stream.res.end();
    this.streams.clear();
  }
}

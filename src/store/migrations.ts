/**
 * The schema, one step per release that changed it. `PRAGMA user_version` holds how many steps a
 * file has taken; opening a file applies the missing ones in order, so a newer release opens an
 * older file. Never edit a step that has shipped: add a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: workers and their transition history
  `CREATE TABLE workers (
     id            TEXT PRIMARY KEY,
     task_id       TEXT,
     state         TEXT NOT NULL,
     repo          TEXT,
     project       TEXT,
     repo_path     TEXT,
     branch        TEXT,
     base_branch   TEXT,
     worktree_path TEXT,
     description   TEXT,
     agent         TEXT,
     pr_number     INTEGER,
     pr_url        TEXT,
     error         TEXT,
     created_at    TEXT NOT NULL,
     updated_at    TEXT NOT NULL
   );
   CREATE INDEX workers_state ON workers(state);
   CREATE TABLE transitions (
     seq            INTEGER PRIMARY KEY AUTOINCREMENT,
     worker_id      TEXT NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
     from_state     TEXT,
     to_state       TEXT NOT NULL,
     at             TEXT NOT NULL,
     source         TEXT NOT NULL,
     correlation_id TEXT,
     detail         TEXT
   );
   CREATE INDEX transitions_worker ON transitions(worker_id, seq);`,
  // 2: webhook deliveries already handled, so a redelivery changes nothing
  `CREATE TABLE deliveries (
     id          TEXT PRIMARY KEY,
     event       TEXT NOT NULL,
     received_at TEXT NOT NULL
   );`,
  // 3: what the runner needs: PR labels and milestone, dependencies, the issue a task came
  // from, and which runner holds the worker (owner + lease) with its agent's process id
  `ALTER TABLE workers ADD COLUMN labels TEXT;
   ALTER TABLE workers ADD COLUMN milestone TEXT;
   ALTER TABLE workers ADD COLUMN depends_on TEXT;
   ALTER TABLE workers ADD COLUMN issue_number INTEGER;
   ALTER TABLE workers ADD COLUMN owner TEXT;
   ALTER TABLE workers ADD COLUMN lease_until TEXT;
   ALTER TABLE workers ADD COLUMN pid INTEGER;
   CREATE INDEX workers_repo_task ON workers(repo, task_id);`,
  // 4: what the app needs: a request for the owning runner (`/worker terminate`), the one status
  // comment on the worker's issue with what it last showed, and lookups by issue, by branch
  // (every pull_request delivery looks its branch up) and by change (the status-comment watcher)
  `ALTER TABLE workers ADD COLUMN request TEXT;
   ALTER TABLE workers ADD COLUMN status_comment_id INTEGER;
   ALTER TABLE workers ADD COLUMN status_comment_key TEXT;
   CREATE INDEX workers_repo_issue ON workers(repo, issue_number);
   CREATE INDEX workers_repo_branch ON workers(repo, branch);
   CREATE INDEX workers_updated ON workers(updated_at);`,
  // 5: delivery ids appended in arrival order, with no index on the id. An index on a random id
  // writes a random page per delivery (10-30 us, growing with the table); pw serve's DeliveryLog
  // holds the retention window's ids in memory and is what tells a redelivery apart.
  `CREATE TABLE delivery_log (
     seq         INTEGER PRIMARY KEY,
     id          TEXT NOT NULL,
     event       TEXT NOT NULL,
     received_at TEXT NOT NULL
   );
   INSERT INTO delivery_log (id, event, received_at) SELECT id, event, received_at FROM deliveries ORDER BY received_at;
   DROP TABLE deliveries;
   CREATE INDEX delivery_log_received ON delivery_log(received_at);`,
  // 6: the follow-up queue: GitHub effects (replies, reactions, status comments, check runs,
  // re-reads) recorded when a delivery is answered and carried out after it, in order per lane
  // (one issue or PR), surviving a restart. A key names each effect once: a key seen before adds
  // nothing, which is what makes a comment under five delivery ids act once. Finished rows stay
  // (for their keys) until pruned.
  `CREATE TABLE follow_ups (
     seq             INTEGER PRIMARY KEY,
     key             TEXT NOT NULL UNIQUE,
     kind            TEXT NOT NULL,
     lane            TEXT NOT NULL,
     input           TEXT NOT NULL,
     installation_id INTEGER,
     correlation_id  TEXT,
     state           TEXT NOT NULL,
     attempts        INTEGER NOT NULL DEFAULT 0,
     next_attempt_at TEXT NOT NULL,
     owner           TEXT,
     lease_until     TEXT,
     last_error      TEXT,
     created_at      TEXT NOT NULL,
     finished_at     TEXT
   );
   CREATE INDEX follow_ups_unfinished ON follow_ups(seq) WHERE state IN ('pending', 'running');
   CREATE INDEX follow_ups_lane ON follow_ups(lane, seq) WHERE state IN ('pending', 'running');
   CREATE INDEX follow_ups_finished ON follow_ups(finished_at) WHERE finished_at IS NOT NULL;`,
  // 7: runners that announce themselves (id, host, the repositories they serve) and beat, so a
  // dead one shows as stale; the queue a runner claims from, oldest first; workers by holder
  `CREATE TABLE runners (
     id           TEXT PRIMARY KEY,
     host         TEXT NOT NULL,
     repositories TEXT NOT NULL,
     started_at   TEXT NOT NULL,
     heartbeat_at TEXT NOT NULL
   );
   CREATE INDEX workers_queued ON workers(created_at, id) WHERE state = 'NEEDS_INIT';
   CREATE INDEX workers_owner ON workers(owner) WHERE owner IS NOT NULL;`,
  // 8: the rework loop: rounds per worker (all, and the automatic ones `rework.max_rounds` caps)
  // with the last one's cause, and the feedback rounds answer (a review, failed checks, a
  // person's request). A key names each piece of feedback once (a redelivery adds nothing); a
  // scope (review, check suite, comment) is answered by one round at most; feedback recorded while
  // automatic rounds are stopped (needs-human) is held for a person's round. Pending feedback is
  // what a runner looks at on every pass, so it has its own small index.
  `ALTER TABLE workers ADD COLUMN rework_rounds INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE workers ADD COLUMN automatic_rework_rounds INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE workers ADD COLUMN rework_cause TEXT;
   CREATE TABLE rework_feedback (
     seq         INTEGER PRIMARY KEY,
     worker_id   TEXT NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
     key         TEXT NOT NULL UNIQUE,
     scope       TEXT NOT NULL,
     cause       TEXT NOT NULL,
     detail      TEXT NOT NULL,
     received_at TEXT NOT NULL,
     held        INTEGER NOT NULL DEFAULT 0,
     round       INTEGER
   );
   CREATE INDEX rework_feedback_worker ON rework_feedback(worker_id, seq);
   CREATE INDEX rework_feedback_scope ON rework_feedback(worker_id, scope);
   CREATE INDEX rework_feedback_pending ON rework_feedback(seq) WHERE round IS NULL;`,
  // 9: the warm pool and workers' own ports. A spare worktree is recorded while it is made
  // (`filling`, by its owner under a lease, so a runner killed half-way leaves a record that
  // says so) and handed out only once `ready`. A block of ports belongs to one worker or one
  // spare (which hands it on); the first port is the key, so one block is never held twice.
  // Workers are listed in the order they were made: an index on it saves sorting every list.
  `CREATE TABLE spares (
     id          TEXT PRIMARY KEY,
     repo_path   TEXT NOT NULL,
     path        TEXT NOT NULL UNIQUE,
     state       TEXT NOT NULL,
     base_branch TEXT,
     base_commit TEXT,
     owner       TEXT,
     lease_until TEXT,
     note        TEXT,
     created_at  TEXT NOT NULL,
     updated_at  TEXT NOT NULL
   );
   CREATE INDEX spares_repo_state ON spares(repo_path, state, created_at);
   CREATE INDEX workers_created ON workers(created_at, id);
   CREATE TABLE ports (
     port      INTEGER PRIMARY KEY,
     span      INTEGER NOT NULL,
     worker_id TEXT UNIQUE REFERENCES workers(id) ON DELETE CASCADE,
     spare_id  TEXT UNIQUE REFERENCES spares(id) ON DELETE CASCADE,
     since     TEXT NOT NULL,
     CHECK ((worker_id IS NULL) <> (spare_id IS NULL))
   );`,
  // 10: the runner whose machine holds each worker's worktree (runners on many machines share a
  // store; only that runner starts, reworks and cleans up the worker), and the workers it holds;
  // what each runner serves its repositories with, for an app on a machine without a checkout
  `ALTER TABLE workers ADD COLUMN runner_id TEXT;
   CREATE INDEX workers_runner ON workers(runner_id) WHERE runner_id IS NOT NULL;
   ALTER TABLE runners ADD COLUMN settings TEXT;`,
  // 11: the merge flow's record of each worker (JSON: whether it starts stacked, what its PR is
  // stacked on, its last update to its base and merge action). A moved base the runner rebased
  // onto without a round is feedback answered by round 0.
  `ALTER TABLE workers ADD COLUMN merge_flow TEXT;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

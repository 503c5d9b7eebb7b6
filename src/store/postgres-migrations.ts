/**
 * The PostgreSQL schema, one step per release that changed it (numbered on their own, apart from
 * SQLite's). The one row of `schema_version` holds how many steps a database has taken; opening
 * it applies the missing ones in one transaction, under an advisory lock so that processes
 * starting together migrate once. Never edit a step that has shipped: add a new one.
 *
 * Times are `timestamptz` written from the database clock; the two JSON lists are `jsonb`; a
 * follow-up's input is `json` (kept as written). Ids sort bytewise (`COLLATE "C"`), as in SQLite.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  // 1: what SQLite's steps 1-7 make: workers and their history, delivery ids, the follow-up
  // queue, runners; and a notice on channel pw_workers, sent on commit by whichever writer it is,
  // when a worker is queued, merged, or gets a request (see postgres-notify.ts)
  `CREATE TABLE workers (
     id                 text COLLATE "C" PRIMARY KEY,
     task_id            text,
     state              text NOT NULL,
     repo               text,
     project            text,
     repo_path          text,
     branch             text,
     base_branch        text,
     worktree_path      text,
     description        text,
     agent              text,
     pr_number          integer,
     pr_url             text,
     error              text,
     labels             jsonb,
     milestone          text,
     depends_on         jsonb,
     issue_number       integer,
     owner              text,
     lease_until        timestamptz,
     pid                integer,
     request            text,
     status_comment_id  bigint,
     status_comment_key text,
     rework_rounds      integer NOT NULL DEFAULT 0,
     automatic_rework_rounds integer NOT NULL DEFAULT 0,
     rework_cause       text,
     created_at         timestamptz NOT NULL,
     updated_at         timestamptz NOT NULL
   );
   CREATE INDEX workers_state ON workers (state);
   CREATE INDEX workers_queued ON workers (created_at, id) WHERE state = 'NEEDS_INIT';
   CREATE INDEX workers_task ON workers (lower(task_id));
   CREATE INDEX workers_repo_issue ON workers (repo, issue_number);
   CREATE INDEX workers_repo_branch ON workers (repo, branch);
   CREATE INDEX workers_updated ON workers (updated_at);
   CREATE INDEX workers_owner ON workers (owner) WHERE owner IS NOT NULL;

   CREATE TABLE transitions (
     seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     worker_id      text COLLATE "C" NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
     from_state     text,
     to_state       text NOT NULL,
     at             timestamptz NOT NULL,
     source         text NOT NULL,
     correlation_id text,
     detail         text
   );
   CREATE INDEX transitions_worker ON transitions (worker_id, seq);

   CREATE TABLE delivery_log (
     seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     id          text NOT NULL,
     event       text NOT NULL,
     received_at timestamptz NOT NULL
   );
   CREATE INDEX delivery_log_received ON delivery_log (received_at);

   CREATE TABLE follow_ups (
     seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     key             text NOT NULL UNIQUE,
     kind            text NOT NULL,
     lane            text NOT NULL,
     input           json NOT NULL,
     installation_id bigint,
     correlation_id  text,
     state           text NOT NULL,
     attempts        integer NOT NULL DEFAULT 0,
     next_attempt_at timestamptz NOT NULL,
     owner           text,
     lease_until     timestamptz,
     last_error      text,
     created_at      timestamptz NOT NULL,
     finished_at     timestamptz
   );
   CREATE INDEX follow_ups_unfinished ON follow_ups (seq) WHERE state IN ('pending', 'running');
   CREATE INDEX follow_ups_lane ON follow_ups (lane, seq) WHERE state IN ('pending', 'running');
   CREATE INDEX follow_ups_finished ON follow_ups (finished_at) WHERE finished_at IS NOT NULL;

   CREATE TABLE runners (
     id           text COLLATE "C" PRIMARY KEY,
     host         text NOT NULL,
     repositories jsonb NOT NULL,
     started_at   timestamptz NOT NULL,
     heartbeat_at timestamptz NOT NULL
   );

   CREATE FUNCTION pw_notify_worker() RETURNS trigger LANGUAGE plpgsql AS $$
   DECLARE
     event text;
   BEGIN
     IF NEW.state = 'NEEDS_INIT' AND (TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM 'NEEDS_INIT') THEN
       event := 'queued';
     ELSIF NEW.state = 'MERGED' AND (TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM 'MERGED') THEN
       event := 'merged';
     ELSIF NEW.request IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.request IS DISTINCT FROM NEW.request) THEN
       event := 'request';
     ELSE
       RETURN NULL;
     END IF;
     PERFORM pg_notify('pw_workers', json_build_object('event', event, 'id', NEW.id, 'repo', NEW.repo)::text);
     RETURN NULL;
   END
   $$;
   CREATE TRIGGER workers_notify AFTER INSERT OR UPDATE OF state, request ON workers
     FOR EACH ROW EXECUTE FUNCTION pw_notify_worker();`,
  // 2: what SQLite's steps 8 and 9 add: the feedback rework rounds answer (a key names each piece
  // once; a scope is answered by one round at most; pending feedback has its own small index),
  // spare worktrees of the warm pool (recorded while they are made, held by an owner under a
  // lease), and blocks of ports held by a worker or a spare (the first port is the key; an
  // allocation locks the table, so two never overlap). Workers are listed in the order made.
  `CREATE TABLE rework_feedback (
     seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     worker_id   text COLLATE "C" NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
     key         text NOT NULL UNIQUE,
     scope       text NOT NULL,
     cause       text NOT NULL,
     detail      json NOT NULL,
     received_at timestamptz NOT NULL,
     held        boolean NOT NULL DEFAULT false,
     round       integer
   );
   CREATE INDEX rework_feedback_worker ON rework_feedback (worker_id, seq);
   CREATE INDEX rework_feedback_scope ON rework_feedback (worker_id, scope);
   CREATE INDEX rework_feedback_pending ON rework_feedback (seq) WHERE round IS NULL;

   CREATE TABLE spares (
     id          text COLLATE "C" PRIMARY KEY,
     repo_path   text NOT NULL,
     path        text NOT NULL UNIQUE,
     state       text NOT NULL,
     base_branch text,
     base_commit text,
     owner       text,
     lease_until timestamptz,
     note        text,
     created_at  timestamptz NOT NULL,
     updated_at  timestamptz NOT NULL
   );
   CREATE INDEX spares_repo_state ON spares (repo_path, state, created_at);
   CREATE INDEX spares_owner ON spares (owner) WHERE owner IS NOT NULL;
   CREATE INDEX workers_created ON workers (created_at, id);

   CREATE TABLE ports (
     port      integer PRIMARY KEY,
     span      integer NOT NULL,
     worker_id text COLLATE "C" UNIQUE REFERENCES workers (id) ON DELETE CASCADE,
     spare_id  text COLLATE "C" UNIQUE REFERENCES spares (id) ON DELETE CASCADE,
     since     timestamptz NOT NULL,
     CHECK ((worker_id IS NULL) <> (spare_id IS NULL))
   );`,
  // 3: what SQLite's step 10 adds: the runner whose machine holds each worker's worktree, and
  // what each runner serves its repositories with
  `ALTER TABLE workers ADD COLUMN runner_id text COLLATE "C";
   CREATE INDEX workers_runner ON workers (runner_id) WHERE runner_id IS NOT NULL;
   ALTER TABLE runners ADD COLUMN settings jsonb;`,
  // 4: the merge flow's record of each worker (whether it starts stacked, what its PR is stacked
  // on, its last update to its base and merge action)
  `ALTER TABLE workers ADD COLUMN merge_flow jsonb;`,
  // 5: delivery ids looked up by id: with replicas of the app sharing the database, each
  // delivery is claimed there (one read by id per delivery), not told apart in one process's memory
  `CREATE INDEX delivery_log_id ON delivery_log (id, received_at);`,
];

export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.length;

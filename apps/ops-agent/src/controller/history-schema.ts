/**
 * The job history's schema, as migrations: entry N brings a database from version N-1 to N. Released entries are
 * never edited — a change is a new entry — so every database, however old, reaches the same schema.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: jobs and their per-host results
  `CREATE TABLE jobs (
     id TEXT PRIMARY KEY,
     kind TEXT NOT NULL,
     argv TEXT,                -- JSON array, exec
     script TEXT,              -- script file name, script
     push_local TEXT,          -- push
     push_remote TEXT,
     selectors TEXT NOT NULL,  -- JSON array of --target values
     via TEXT,
     targets TEXT,             -- JSON array of {peer, host}, when known up front
     async INTEGER NOT NULL DEFAULT 0,
     started_at INTEGER NOT NULL,
     finished_at INTEGER,
     targeted INTEGER, ok INTEGER, failed INTEGER, timeout INTEGER, unreachable INTEGER, refused INTEGER,
     cancelled INTEGER
   );
   CREATE INDEX jobs_by_start ON jobs (started_at);
   CREATE TABLE results (
     job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
     peer TEXT NOT NULL,
     host TEXT NOT NULL,
     status TEXT NOT NULL,
     exit_code INTEGER,
     signal TEXT,
     stdout TEXT NOT NULL,
     stderr TEXT NOT NULL,
     stdout_omitted INTEGER NOT NULL DEFAULT 0,
     stderr_omitted INTEGER NOT NULL DEFAULT 0,
     duration_ms INTEGER NOT NULL,
     reason TEXT,
     recorded_at INTEGER NOT NULL,
     PRIMARY KEY (job_id, peer)
   );`,
  // 2: when each host's run started and ended (epoch ms), so a job's duration is its hosts' span, also for an
  // --async job whose results were collected long after they ended. Rows from before are filled in as well as they
  // can be: they were recorded as they ended, and ran for duration_ms.
  `ALTER TABLE results ADD COLUMN started_at INTEGER;
   ALTER TABLE results ADD COLUMN finished_at INTEGER;
   UPDATE results SET finished_at = recorded_at, started_at = recorded_at - duration_ms;`,
]

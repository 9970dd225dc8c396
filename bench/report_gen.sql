-- bench/report_gen.sql — fills a monitoring database (made by parsl-run --monitor, so
-- the schema and indexes are cparsl's own) with one synthetic run of :N tasks, shaped
-- like a real one (bench/report.sh runs it; the shell replaces @N@ and @RUN@).
--
--   * a run of one hour on 16 blocks of 8 nodes (128 hosts, 64 workers each);
--   * 5 apps; task i depends on task i - 1000 (and i - 999) when i >= 1000: a DAG of
--     1000 columns, about 2 edges per task;
--   * 97.5 % of tasks succeed: pending, launched, running, exec_done (4 status rows,
--     as the engine writes them) and one try of 5–50 s;
--   * 2 % fail: a first try that fails (fail_retryable), a retry that fails too
--     (failed), each try with its error text: 7 status rows, 2 tries;
--   * 0.5 % end dep_fail: pending, dep_fail, no try;
--   * every 10th task that ran has 3 resource samples of its last try;
--   * block rows (PENDING, RUNNING, CANCELLED) and node rows (registered, left).
--
-- Parsl's task, try, status and resource are views (docs/monitoring.md, "How it is
-- stored"), so the rows go where cparsl's writer puts them: one cp_task row per task
-- (try 0's pending in s_pending), one cp_try row per try with its states in the s_*
-- columns (a dep_fail task has a try 0 row with tried = 0 holding only its end), and
-- cp_resource. No status here needs cp_status. Times are integers: microseconds of
-- local wall-clock time since 1970, which the views print with 'unixepoch'.
PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
DELETE FROM workflow; DELETE FROM block; DELETE FROM node;
DELETE FROM cp_run; DELETE FROM cp_task; DELETE FROM cp_try; DELETE FROM cp_status;
DELETE FROM cp_resource;

BEGIN;
INSERT INTO workflow VALUES ('@RUN@', 'synthetic-@N@', '1.0', '2026-11-26 08:00:00.000000',
  '2026-11-26 09:00:30.000000', 'login1', 'bench', '/scratch/bench/runinfo/000', 0, 0);
INSERT INTO cp_run (run, run_id) VALUES (1, '@RUN@');

-- One row per task with what the others are computed from: o = outcome (0 ok, 1 failed,
-- 2 dep_fail), and the times in microseconds: the run starts at 08:00:00, task i is
-- submitted i / N of the hour later (rounded to the millisecond, as the text times of
-- the version of this file for Parsl's tables were), and a try runs d = 5–50 s.
CREATE TEMP TABLE g AS
WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < @N@ - 1),
  c(b) AS (SELECT CAST(strftime('%s', '2026-11-26 08:00:00') AS INTEGER) * 1000000)
SELECT i,
  CASE WHEN i % 50 = 7 THEN 1 WHEN i % 200 = 8 THEN 2 ELSE 0 END AS o,
  b + (i * 7200000 + @N@) / (2 * @N@) * 1000 AS t_pend,
  5000000 + (i * 7919 % 4500) * 10000 AS d,
  'app_' || (i % 5) AS app
FROM k, c;

CREATE TEMP VIEW tt AS SELECT *,
  t_pend + 200000 AS t_launch,
  t_pend + 400000 AS t_run,
  t_pend + 400000 + d AS t_end,
  t_pend + 600000 + d AS t_launch2,
  t_pend + 800000 + d AS t_run2,
  t_pend + 800000 + 2 * d AS t_end2
FROM g;

INSERT INTO cp_task (run, task_id, func_name, depends, memoize, hashsum, inputs, outputs,
  stdin, stdout, stderr, invoked, returned, fail_count, fail_cost, s_pending)
SELECT 1, i, app,
  CASE WHEN i >= 1000 THEN (i - 1000) || ',' || (i - 999) ELSE NULL END,
  'False', NULL, NULL, NULL, NULL,
  '/scratch/bench/runinfo/000/task_logs/task_' || i || '.stdout',
  '/scratch/bench/runinfo/000/task_logs/task_' || i || '.stderr',
  t_pend, CASE o WHEN 0 THEN t_end WHEN 1 THEN t_end2 ELSE t_launch END,
  CASE o WHEN 1 THEN 2 ELSE 0 END, CASE o WHEN 1 THEN 1.0 ELSE 0.0 END, t_pend
FROM tt ORDER BY i;

-- Try 0 of every task (in key order: appended to the b-tree), then the retries.
INSERT INTO cp_try (run, task_id, try_id, tried, block_id, hostname, executor, launched,
  running, returned, fail_history, joins, s_pending, s_launched, s_running,
  s_running_ended, s_joining, s_end, end_state)
SELECT 1, i, 0, 1, CAST(i % 128 / 8 AS TEXT), printf('node-%03d', i % 128), 'htex',
  t_launch, t_run, t_end,
  CASE o WHEN 1 THEN 'task ' || i || ' (app ''' || app || ''') try 0: exit code 1; stderr: '
    || 'ValueError: bad input row ' || (i * 31 % 997) ELSE NULL END, NULL,
  NULL, t_launch, t_run, NULL, NULL, t_end,
  CASE o WHEN 1 THEN 'fail_retryable' ELSE 'exec_done' END
FROM tt WHERE o <> 2
UNION ALL
SELECT 1, i, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, t_launch, 'dep_fail'
FROM tt WHERE o = 2
ORDER BY 2;

INSERT INTO cp_try (run, task_id, try_id, tried, block_id, hostname, executor, launched,
  running, returned, fail_history, joins, s_pending, s_launched, s_running,
  s_running_ended, s_joining, s_end, end_state)
SELECT 1, i, 1, 1, CAST((i + 1) % 128 / 8 AS TEXT), printf('node-%03d', (i + 1) % 128), 'htex',
  t_launch2, t_run2, t_end2,
  'task ' || i || ' (app ''' || app || ''') try 1: exit code 1; stderr: '
    || 'ValueError: bad input row ' || (i * 31 % 997), NULL,
  NULL, t_launch2, t_run2, NULL, NULL, t_end2, 'failed'
FROM tt WHERE o = 1;

-- Sample times are whole milliseconds too.
INSERT INTO cp_resource (run, task_id, try_id, ts, interval, pid, memory_percent, children,
  time_user, time_system, memory_virtual, memory_resident, disk_read, disk_write, status,
  cpu_num, ctx_voluntary, ctx_involuntary)
SELECT 1, i, CASE o WHEN 1 THEN 1 ELSE 0 END,
  CASE o WHEN 1 THEN t_run2 ELSE t_run END + (d * s / 3 + 500) / 1000 * 1000,
  10, 10000 + i % 50000, 0.4, 1, d / 1e6 * s / 3 * 0.9, d / 1e6 * s / 3 * 0.05, 4e8,
  (50 + i % 200) * 1048576.0 * s / 3, 0, 0, 'running', CAST(i % 64 AS TEXT), s * 10, s
FROM tt, (SELECT 1 AS s UNION ALL SELECT 2 UNION ALL SELECT 3)
WHERE o <> 2 AND i % 10 = 0;

INSERT INTO block (run_id, executor_label, block_id, job_id, timestamp, status)
WITH RECURSIVE b(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM b WHERE n < 15)
SELECT '@RUN@', 'htex', CAST(n AS TEXT), CAST(4000000 + n AS TEXT),
  '2026-11-26 08:00:0' || (n % 10) || '.000000', 'PENDING' FROM b
UNION ALL SELECT '@RUN@', 'htex', CAST(n AS TEXT), CAST(4000000 + n AS TEXT),
  '2026-11-26 08:00:3' || (n % 10) || '.000000', 'RUNNING' FROM b
UNION ALL SELECT '@RUN@', 'htex', CAST(n AS TEXT), CAST(4000000 + n AS TEXT),
  '2026-11-26 09:00:29.000000', 'CANCELLED' FROM b;

INSERT INTO node (run_id, hostname, uid, block_id, cpu_count, total_memory, active,
  worker_count, python_v, timestamp, last_heartbeat)
WITH RECURSIVE h(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM h WHERE n < 127)
SELECT '@RUN@', printf('node-%03d', n), printf('pool-%03d', n), CAST(n / 8 AS TEXT), 64,
  274877906944, a, 64, 'cparsl 0.1.0', t, t
FROM h, (SELECT 1 AS a, '2026-11-26 08:00:40.000000' AS t
         UNION ALL SELECT 0, '2026-11-26 09:00:29.500000');

UPDATE workflow SET
  tasks_completed_count = (SELECT count(*) FROM g WHERE o = 0),
  tasks_failed_count = (SELECT count(*) FROM g WHERE o <> 0);
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);

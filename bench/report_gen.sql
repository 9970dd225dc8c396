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
PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
DELETE FROM workflow; DELETE FROM task; DELETE FROM try; DELETE FROM status;
DELETE FROM block; DELETE FROM node; DELETE FROM resource;

BEGIN;
INSERT INTO workflow VALUES ('@RUN@', 'synthetic-@N@', '1.0', '2026-11-26 08:00:00.000000',
  '2026-11-26 09:00:30.000000', 'login1', 'bench', '/scratch/bench/runinfo/000', 0, 0);

-- One row per task with what the others are computed from: o = outcome (0 ok, 1 failed,
-- 2 dep_fail), l = launch offset in seconds, d = run time of a try.
CREATE TEMP TABLE g AS
WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < @N@ - 1)
SELECT i,
  CASE WHEN i % 50 = 7 THEN 1 WHEN i % 200 = 8 THEN 2 ELSE 0 END AS o,
  i * 3600.0 / @N@ AS l,
  5 + (i * 7919 % 4500) / 100.0 AS d,
  'app_' || (i % 5) AS app
FROM k;

-- Times: the run starts at 08:00:00; SQLite's %f has 3 decimals, Parsl's text has 6.
CREATE TEMP VIEW tt AS SELECT *,
  strftime('%Y-%m-%d %H:%M:%f', '2026-11-26 08:00:00', '+' || l || ' seconds') || '000' AS t_pend,
  strftime('%Y-%m-%d %H:%M:%f', '2026-11-26 08:00:00', '+' || (l + 0.2) || ' seconds') || '000' AS t_launch,
  strftime('%Y-%m-%d %H:%M:%f', '2026-11-26 08:00:00', '+' || (l + 0.4) || ' seconds') || '000' AS t_run,
  strftime('%Y-%m-%d %H:%M:%f', '2026-11-26 08:00:00', '+' || (l + 0.4 + d) || ' seconds') || '000' AS t_end,
  strftime('%Y-%m-%d %H:%M:%f', '2026-11-26 08:00:00', '+' || (l + 0.6 + d) || ' seconds') || '000' AS t_launch2,
  strftime('%Y-%m-%d %H:%M:%f', '2026-11-26 08:00:00', '+' || (l + 0.8 + d) || ' seconds') || '000' AS t_run2,
  strftime('%Y-%m-%d %H:%M:%f', '2026-11-26 08:00:00', '+' || (l + 0.8 + 2 * d) || ' seconds') || '000' AS t_end2
FROM g;

INSERT INTO task (task_id, run_id, task_depends, task_func_name, task_memoize, task_hashsum,
  task_inputs, task_outputs, task_stdin, task_stdout, task_stderr, task_time_invoked,
  task_time_returned, task_fail_count, task_fail_cost)
SELECT i, '@RUN@',
  CASE WHEN i >= 1000 THEN (i - 1000) || ',' || (i - 999) ELSE NULL END,
  app, 'False', NULL, NULL, NULL, NULL,
  '/scratch/bench/runinfo/000/task_logs/task_' || i || '.stdout',
  '/scratch/bench/runinfo/000/task_logs/task_' || i || '.stderr',
  t_pend, CASE o WHEN 0 THEN t_end WHEN 1 THEN t_end2 ELSE t_launch END,
  CASE o WHEN 1 THEN 2 ELSE 0 END, CASE o WHEN 1 THEN 1.0 ELSE 0.0 END
FROM tt;

INSERT INTO try (try_id, task_id, run_id, block_id, hostname, task_executor,
  task_try_time_launched, task_try_time_running, task_try_time_returned, task_fail_history,
  task_joins)
SELECT 0, i, '@RUN@', CAST(i % 128 / 8 AS TEXT), printf('node-%03d', i % 128), 'htex',
  t_launch, t_run, t_end,
  CASE o WHEN 1 THEN 'task ' || i || ' (app ''' || app || ''') try 0: exit code 1; stderr: '
    || 'ValueError: bad input row ' || (i * 31 % 997) ELSE NULL END, NULL
FROM tt WHERE o <> 2
UNION ALL
SELECT 1, i, '@RUN@', CAST((i + 1) % 128 / 8 AS TEXT), printf('node-%03d', (i + 1) % 128), 'htex',
  t_launch2, t_run2, t_end2,
  'task ' || i || ' (app ''' || app || ''') try 1: exit code 1; stderr: '
    || 'ValueError: bad input row ' || (i * 31 % 997), NULL
FROM tt WHERE o = 1;

INSERT INTO status (task_id, task_status_name, timestamp, run_id, try_id)
SELECT i, 'pending', t_pend, '@RUN@', 0 FROM tt
UNION ALL SELECT i, 'launched', t_launch, '@RUN@', 0 FROM tt WHERE o <> 2
UNION ALL SELECT i, 'running', t_run, '@RUN@', 0 FROM tt WHERE o <> 2
UNION ALL SELECT i, 'exec_done', t_end, '@RUN@', 0 FROM tt WHERE o = 0
UNION ALL SELECT i, 'fail_retryable', t_end, '@RUN@', 0 FROM tt WHERE o = 1
UNION ALL SELECT i, 'launched', t_launch2, '@RUN@', 1 FROM tt WHERE o = 1
UNION ALL SELECT i, 'running', t_run2, '@RUN@', 1 FROM tt WHERE o = 1
UNION ALL SELECT i, 'failed', t_end2, '@RUN@', 1 FROM tt WHERE o = 1
UNION ALL SELECT i, 'dep_fail', t_launch, '@RUN@', 0 FROM tt WHERE o = 2;

INSERT INTO resource (try_id, task_id, run_id, timestamp, resource_monitoring_interval,
  psutil_process_pid, psutil_process_memory_percent, psutil_process_children_count,
  psutil_process_time_user, psutil_process_time_system, psutil_process_memory_virtual,
  psutil_process_memory_resident, psutil_process_disk_read, psutil_process_disk_write,
  psutil_process_status, psutil_cpu_num, psutil_process_num_ctx_switches_voluntary,
  psutil_process_num_ctx_switches_involuntary)
SELECT CASE o WHEN 1 THEN 1 ELSE 0 END, i, '@RUN@',
  strftime('%Y-%m-%d %H:%M:%f', CASE o WHEN 1 THEN t_run2 ELSE t_run END,
           '+' || (d * s / 3) || ' seconds') || '000',
  10, 10000 + i % 50000, 0.4, 1, d * s / 3 * 0.9, d * s / 3 * 0.05, 4e8,
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

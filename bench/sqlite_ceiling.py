#!/usr/bin/env python3
"""bench/sqlite_ceiling.py — how fast one SQLite connection can take status rows
on this machine, as Parsl's `status` table (text keys, a primary key over
task_id, run_id, name, timestamp) and as a compact integer table with no key.
The ceiling the monitoring writer works under (bench/results/monitoring-*.md).

    /usr/bin/python3 bench/sqlite_ceiling.py [N_TASKS]      # default 100000, 5 rows each
"""
import os
import sqlite3
import sys
import tempfile
import time
import uuid

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
STATES = ['pending', 'launched', 'running', 'running_ended', 'exec_done']
RUN = str(uuid.uuid4())


def stamp(i):
    return "2026-11-26 13:%02d:%02d.%06d" % ((i // 60000) % 60, (i // 1000) % 60, (i % 1000) * 1000)


def measure(variant, work):
    path = os.path.join(work, variant + '.db')
    db = sqlite3.connect(path, isolation_level=None)
    db.execute('PRAGMA journal_mode=WAL')
    db.execute('PRAGMA synchronous=NORMAL')
    if variant == 'parsl':
        db.execute('CREATE TABLE status (task_id INTEGER NOT NULL, task_status_name TEXT NOT NULL, '
                   'timestamp DATETIME NOT NULL, run_id TEXT NOT NULL, try_id INTEGER NOT NULL, '
                   'PRIMARY KEY (task_id, run_id, task_status_name, timestamp))')
        sql = ('INSERT OR IGNORE INTO status (run_id, task_id, try_id, task_status_name, timestamp) '
               'VALUES (?, ?, ?, ?, ?)')
        rows = [(RUN, i, 0, STATES[k], stamp(i * 5 + k)) for i in range(N) for k in range(5)]
    else:
        db.execute('CREATE TABLE status_compact (run INTEGER NOT NULL, task_id INTEGER NOT NULL, '
                   'try_id INTEGER NOT NULL, state INTEGER NOT NULL, t REAL NOT NULL)')
        sql = 'INSERT INTO status_compact VALUES (?, ?, ?, ?, ?)'
        rows = [(1, i, 0, k, 1.7e9 + (i * 5 + k) * 1e-3) for i in range(N) for k in range(5)]
    t0 = time.time()
    for b in range(0, len(rows), 50000):
        db.execute('BEGIN')
        db.executemany(sql, rows[b:b + 50000])
        db.execute('COMMIT')
    dt = time.time() - t0
    db.close()
    return dt, len(rows), os.path.getsize(path)


with tempfile.TemporaryDirectory() as work:
    print('| table | rows | seconds | rows/s | file |')
    print('|---|---|---|---|---|')
    for v in ('parsl', 'compact'):
        dt, n, size = measure(v, work)
        print('| %s | %d | %.2f | %.0f | %.0f MB |' % (v, n, dt, n / dt, size / 1e6))

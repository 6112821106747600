--
-- hashshard: writes on distributed tables and their transactions.
--   - INSERT (one row, several rows, INSERT ... SELECT in batches), RETURNING
--   - UPDATE and DELETE run as one statement per shard on the nodes when
--     every clause is shippable, else row by row through the ctid
--   - an UPDATE of the shard key is refused, whatever the plan
--   - COPY FROM, streamed per shard with the COPY protocol
--   - transactions over several nodes: commit (two-phase), rollback,
--     savepoints, an error on a node, read-your-writes, faults injected
--     around PREPARE, recovery and its commit records
--
-- The nodes of this file are the databases hs_writes_node1..3 and the
-- servers wnode1..3; everything is dropped at the end.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS hashshard;
RESET client_min_messages;
\getenv abs_builddir PG_ABS_BUILDDIR

SELECT format('CREATE DATABASE %I', 'hs_writes_node' || g)
FROM generate_series(1, 3) g \gexec
DO $$
BEGIN
    FOR g IN 1..3 LOOP
        EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER hashshard OPTIONS (host %L, port %L, dbname %L)',
                       'wnode' || g, split_part(current_setting('unix_socket_directories'), ',', 1),
                       current_setting('port'), 'hs_writes_node' || g);
        EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I', 'wnode' || g);
    END LOOP;
END
$$;

CREATE SCHEMA hs_writes;
SET search_path = hs_writes, public;

-- explain(q): EXPLAIN (VERBOSE, COSTS OFF) without the query identifier
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/hashshard_helpers.sql'
\i :helpers

-- shards 0 and 3 on wnode1, 1 on wnode2, 2 on wnode3
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL,
                       balance int NOT NULL CHECK (balance >= 0), note text);
SELECT hashshard.create_distributed_table('accounts', 'id', 4);
CREATE TABLE copied (id int PRIMARY KEY, t text, d date, n numeric, f float8);
SELECT hashshard.create_distributed_table('copied', 'id', 4);
CREATE TABLE copied_local (LIKE copied INCLUDING ALL);
SELECT table_name, shard, node FROM hashshard.shards ORDER BY 1, 2;

-- on wnode1, a statement trigger logs every statement run on its shards:
-- that shows how many statements the coordinator sends
\set coord :DBNAME
\c hs_writes_node1
CREATE TABLE hs_writes.stmt_log (tbl text, op text);
CREATE FUNCTION hs_writes.log_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hs_writes.stmt_log VALUES (TG_TABLE_NAME, TG_OP);
    RETURN NULL;
END
$$;
SELECT format('CREATE TRIGGER log_stmt AFTER INSERT OR UPDATE OR DELETE ON hs_writes.%I '
              'FOR EACH STATEMENT EXECUTE FUNCTION hs_writes.log_stmt()', relname)
FROM pg_class WHERE relnamespace = 'hs_writes'::regnamespace AND relkind = 'r'
                AND relname <> 'stmt_log' ORDER BY relname \gexec
-- shown and emptied by \i :stmts
\set stmts :abs_builddir '/results/hashshard_writes_stmts.sql'
\o :stmts
\qecho '\\c hs_writes_node1'
\qecho 'SELECT tbl, op, count(*) AS statements FROM hs_writes.stmt_log GROUP BY 1, 2 ORDER BY 1, 2;'
\qecho 'TRUNCATE hs_writes.stmt_log;'
\qecho '\\c :coord'
\qecho 'SET search_path = hs_writes, public;'
\o
\c :coord
SET search_path = hs_writes, public;
-- keys of each shard, used below: 1 (shard 0), 3 (shard 1), 2 (shard 2),
-- 4 (shard 3)
SELECT k, hashshard.shard_for('accounts', k) AS shard FROM generate_series(1, 12) k ORDER BY 2, 1;

--
-- INSERT
--
INSERT INTO accounts VALUES (1, 'alice', 100, NULL);
INSERT INTO accounts VALUES (2, 'bob', 200, 'b'), (3, 'carol', 300, 'c'), (4, 'dave', 400, NULL);
INSERT INTO accounts VALUES (5, 'eve', 500, 'e') RETURNING *;
INSERT INTO accounts (id, owner, balance) VALUES (6, 'frank', 600), (7, 'grace', 700)
RETURNING id, upper(owner), balance * 2 AS twice, tableoid::regclass;
SELECT tableoid::regclass, * FROM accounts ORDER BY id;
-- so far, wnode1 received one INSERT for shard 0, and three for shard 3
-- (one with rows 2, 3 and 4, then one per row with RETURNING)
\i :stmts
-- INSERT ... SELECT sends the rows of each shard in batches
INSERT INTO accounts SELECT g, 'owner' || g % 10, g, NULL FROM generate_series(8, 1000) g;
SELECT count(*), sum(balance) FROM accounts;
SELECT shard, node, rows FROM hashshard.shard_sizes('accounts') ORDER BY shard;
SELECT tableoid::regclass, count(*) FROM accounts GROUP BY 1 ORDER BY 1;
-- wnode1 received 258 rows of shard 0 and 228 of shard 3 in INSERTs of
-- (at most) 100 rows
\i :stmts
-- the batch size is a node option
ALTER SERVER wnode1 OPTIONS (ADD batch_size '7');
SELECT explain('INSERT INTO accounts_0 SELECT g, ''x'', 0, NULL FROM generate_series(2001, 2100) g');
INSERT INTO accounts SELECT g, 'x', 0, NULL FROM generate_series(2001, 2100) g;
SELECT tableoid::regclass, count(*) FROM accounts WHERE id > 2000 GROUP BY 1 ORDER BY 1;
\i :stmts
DELETE FROM accounts WHERE id > 2000;
ALTER SERVER wnode1 OPTIONS (DROP batch_size);
-- a duplicate key: the node's error, with the remote statement
INSERT INTO accounts VALUES (3, 'again', 0, NULL);
-- CHECK constraints are enforced by the nodes
INSERT INTO accounts VALUES (1001, 'neg', -1, NULL);
INSERT INTO accounts_1 VALUES (1001, 'neg', -1, NULL);
-- a row inserted through the wrong partition is refused by the node
SELECT min(k) AS key1 FROM generate_series(3001, 3100) k
WHERE hashshard.shard_for('accounts', k) = 1 \gset
SELECT :key1 AS key, hashshard.shard_for('accounts', :key1) AS shard;
INSERT INTO accounts_0 VALUES (:key1, 'misrouted', 0, NULL);
SELECT count(*) FROM accounts WHERE id = :key1;
-- through the right one, it is accepted
INSERT INTO accounts_1 VALUES (:key1, 'routed', 0, NULL);
SELECT tableoid::regclass, * FROM accounts WHERE id = :key1;
DELETE FROM accounts WHERE id = :key1;

--
-- UPDATE and DELETE on the nodes
--
SELECT explain('UPDATE accounts SET balance = balance + 1, note = ''upd'' WHERE id = 5');
UPDATE accounts SET balance = balance + 1, note = 'upd' WHERE id = 5;
SELECT * FROM accounts WHERE id = 5;
SELECT explain('UPDATE accounts SET balance = balance + 1 WHERE owner = ''owner3'' RETURNING id, balance');
WITH u AS (UPDATE accounts SET balance = balance + 1 WHERE owner = 'owner3' AND id < 100
           RETURNING id, balance)
SELECT * FROM u ORDER BY id;
SELECT explain('DELETE FROM accounts WHERE note = ''upd''');
WITH d AS (DELETE FROM accounts WHERE id IN (5, 6) RETURNING *)
SELECT * FROM d ORDER BY id;
SELECT count(*), sum(balance) FROM accounts;
-- one statement per shard
\i :stmts
-- not shippable: rows fetched FOR UPDATE, then updated by ctid
SELECT explain('UPDATE accounts SET note = ''r'' WHERE id < 10 AND random() >= 0');
UPDATE accounts SET note = 'r' WHERE id < 10 AND random() >= 0;
SELECT explain('UPDATE accounts SET balance = balance + (random() * 0)::int WHERE id = 7');
UPDATE accounts SET balance = balance + (random() * 0)::int + 1 WHERE id = 7 RETURNING id, balance, note;
SELECT explain('DELETE FROM accounts WHERE id > 990 AND random() >= 0');
WITH d AS (DELETE FROM accounts WHERE id > 990 AND random() >= 0 RETURNING id)
SELECT * FROM d ORDER BY id;
SELECT id, owner, balance, note FROM accounts WHERE id < 10 ORDER BY id;
SELECT count(*), sum(balance) FROM accounts;
-- one statement per row: ids 1 (shard 0), 4 and 7 (shard 3) updated, then
-- 7 again; ids 991, 992, 995, 997 and 1000 (shard 0) and 993 and 996
-- (shard 3) deleted
SELECT k, hashshard.shard_for('accounts', k) FROM generate_series(991, 1000) k ORDER BY 2, 1;
\i :stmts
-- a node's error in the middle of a row-by-row update (terse: the remote
-- statement names the row's ctid)
\set VERBOSITY terse
UPDATE accounts SET balance = balance - 150 + (random() * 0)::int WHERE id IN (1, 2, 3);
\set VERBOSITY default
SELECT id, balance FROM accounts WHERE id IN (1, 2, 3) ORDER BY id;

--
-- the shard key cannot be updated: the row would be left on the wrong shard
--
UPDATE accounts SET id = id + 1000 WHERE id = 1;
UPDATE accounts SET id = 2000 WHERE id = 1 AND random() >= 0;
UPDATE accounts SET id = id WHERE owner = 'alice';
UPDATE accounts_0 SET id = 2000 WHERE id = 1;
SELECT tableoid::regclass, id, owner FROM accounts WHERE owner = 'alice';
-- the way to do it: DELETE and INSERT in one (atomic) transaction
BEGIN;
WITH moved AS (DELETE FROM accounts WHERE id = 1 RETURNING *)
INSERT INTO accounts SELECT 2000, owner, balance, note FROM moved;
COMMIT;
SELECT tableoid::regclass, id, owner, balance FROM accounts WHERE owner = 'alice';
SELECT hashshard.shard_for('accounts', 2000);

--
-- COPY FROM: rows buffered per shard, sent with the COPY protocol
--
COPY copied FROM STDIN;
1	one	2024-01-01	1.5	0.1
2	two\twith tab	2024-02-29	-2	1e-10
3	\N	\N	\N	\N
4	back\\slash	1999-12-31	12345678901234567890.123	-0
5	new\nline	2000-01-01	0	Infinity
\.
COPY copied_local FROM STDIN;
1	one	2024-01-01	1.5	0.1
2	two\twith tab	2024-02-29	-2	1e-10
3	\N	\N	\N	\N
4	back\\slash	1999-12-31	12345678901234567890.123	-0
5	new\nline	2000-01-01	0	Infinity
\.
SELECT tableoid::regclass, * FROM copied ORDER BY id;
-- and from a file: enough rows to flush every shard's buffer several times
\set copyfile :abs_builddir '/results/hashshard_writes.data'
COPY (SELECT g, repeat('x', 200) || g, date '2020-01-01' + g % 1000, g / 8.0, g / 4.0
      FROM generate_series(6, 30000) g) TO :'copyfile';
COPY copied FROM :'copyfile';
COPY copied_local FROM :'copyfile';
SELECT count(*), sum(id), sum(length(t)), min(d), max(d), sum(n), sum(f) FROM copied;
SELECT count(*) FROM ((TABLE copied EXCEPT TABLE copied_local)
                      UNION ALL (TABLE copied_local EXCEPT TABLE copied)) d;
-- a few COPY statements per shard (its buffer is sent every megabyte)
\i :stmts
SELECT tableoid::regclass, count(*) FROM copied GROUP BY 1 ORDER BY 1;
SELECT count(*) FILTER (WHERE hashshard.shard_for('copied', id) =
                        (SELECT shard FROM hashshard.shards s WHERE s.partition = c.tableoid)) AS well_routed
FROM copied c;
-- a failing row aborts the whole COPY, on every shard (terse: the error may
-- be read while the COPY is sent or when it ends)
\set VERBOSITY terse
COPY copied FROM STDIN;
100001	a	\N	\N	\N
100002	b	\N	\N	\N
6	duplicate	\N	\N	\N
\.
\set VERBOSITY default
SELECT count(*) FROM copied WHERE id > 100000;
SELECT count(*) FROM copied;
\i :stmts

--
-- transactions
--
SELECT sum(balance) AS total FROM accounts \gset
-- the commit records of the multi-node statements above are no longer
-- needed: recovery deletes them
SELECT * FROM hashshard.recover_prepared();
SELECT count(*) FROM hashshard.commit_records;
-- a transfer between two nodes: two-phase commit, one commit record
BEGIN;
UPDATE accounts SET balance = balance - 50 WHERE id = 3;   -- wnode2
UPDATE accounts SET balance = balance + 50 WHERE id = 2;   -- wnode3
COMMIT;
SELECT id, balance FROM accounts WHERE id IN (2, 3) ORDER BY id;
SELECT sum(balance) = :total AS total_unchanged FROM accounts;
SELECT count(*) FROM hashshard.commit_records;
SELECT * FROM hashshard.prepared_transactions();
-- recovery has nothing to resolve and deletes the record
SELECT * FROM hashshard.recover_prepared();
SELECT count(*) FROM hashshard.commit_records;
-- writes on one node (shards 0 and 3 are both on wnode1) commit in one phase
BEGIN;
UPDATE accounts SET balance = balance - 10 WHERE id = 4;
UPDATE accounts SET balance = balance + 10 WHERE id = 12;
COMMIT;
SELECT count(*) FROM hashshard.commit_records;
SELECT id, balance FROM accounts WHERE id IN (4, 12) ORDER BY id;
-- rolled back
BEGIN;
UPDATE accounts SET balance = balance - 50 WHERE id = 3;
UPDATE accounts SET balance = balance + 50 WHERE id = 2;
INSERT INTO accounts VALUES (5000, 'temp', 0, NULL);
ROLLBACK;
SELECT id, balance FROM accounts WHERE id IN (2, 3, 5000) ORDER BY id;
SELECT sum(balance) = :total AS total_unchanged FROM accounts;
-- read-your-writes: every statement of the transaction sees its writes,
-- on every node, with scans, aggregates and joins
BEGIN;
INSERT INTO accounts VALUES (5001, 'new', 1, NULL), (5002, 'new', 2, NULL), (5003, 'new', 3, NULL);
SELECT id, balance FROM accounts WHERE owner = 'new' ORDER BY id;
UPDATE accounts SET balance = balance * 10 WHERE owner = 'new';
SELECT count(*), sum(balance) FROM accounts WHERE owner = 'new';
DELETE FROM accounts WHERE id = 5002;
SELECT id, balance FROM accounts WHERE id BETWEEN 5001 AND 5003 ORDER BY id;
SELECT a.id, b.id FROM accounts a JOIN accounts b ON a.id = b.id WHERE a.owner = 'new' ORDER BY 1;
ROLLBACK;
SELECT count(*) FROM accounts WHERE owner = 'new';
-- savepoints roll the nodes back too
BEGIN;
UPDATE accounts SET balance = balance + 1 WHERE id = 4;        -- wnode1
SAVEPOINT a;
UPDATE accounts SET balance = balance + 1000 WHERE id = 3;     -- wnode2
UPDATE accounts SET balance = balance + 1000 WHERE id = 2;     -- wnode3
SAVEPOINT b;
UPDATE accounts SET balance = balance + 1000 WHERE id = 4;     -- wnode1
SELECT id, balance FROM accounts WHERE id IN (2, 3, 4) ORDER BY id;
ROLLBACK TO SAVEPOINT b;
SELECT id, balance FROM accounts WHERE id IN (2, 3, 4) ORDER BY id;
ROLLBACK TO SAVEPOINT a;
SELECT id, balance FROM accounts WHERE id IN (2, 3, 4) ORDER BY id;
SAVEPOINT c;
UPDATE accounts SET balance = balance + 2 WHERE id = 3;        -- wnode2
RELEASE SAVEPOINT c;
SAVEPOINT d;
INSERT INTO accounts VALUES (2, 'duplicate', 0, NULL);        -- wnode3 fails
ROLLBACK TO SAVEPOINT d;
UPDATE accounts SET balance = balance + 3 WHERE id = 2;        -- wnode3
COMMIT;
SELECT id, balance FROM accounts WHERE id IN (2, 3, 4) ORDER BY id;
-- a subtransaction of PL/pgSQL
DO $$
BEGIN
    UPDATE accounts SET balance = balance + 100 WHERE id IN (2, 3);
    BEGIN
        UPDATE accounts SET balance = balance + 100000 WHERE id IN (2, 3, 4);
        INSERT INTO accounts VALUES (4, 'duplicate', 0, NULL);
    EXCEPTION WHEN unique_violation THEN
        RAISE NOTICE 'caught: %', SQLERRM;
    END;
END
$$;
SELECT id, balance FROM accounts WHERE id IN (2, 3, 4) ORDER BY id;
UPDATE accounts SET balance = balance - 100 WHERE id IN (2, 3);
SELECT sum(balance) AS total FROM accounts \gset
-- an error on one node aborts the work done on every node
BEGIN;
UPDATE accounts SET balance = 0 WHERE id = 4;                  -- wnode1
UPDATE accounts SET balance = 0 WHERE id = 3;                  -- wnode2
INSERT INTO accounts VALUES (2, 'duplicate', 0, NULL);        -- wnode3 fails
UPDATE accounts SET balance = 0 WHERE id = 12;
COMMIT;
SELECT id, balance FROM accounts WHERE id IN (2, 3, 4) ORDER BY id;
-- the CHECK constraint of a node fails the transfer: nothing changes
BEGIN;
UPDATE accounts SET balance = balance + 1000000 WHERE id = 3;
UPDATE accounts SET balance = balance - 1000000 WHERE id = 2;
COMMIT;
SELECT id, balance FROM accounts WHERE id IN (2, 3) ORDER BY id;
SELECT sum(balance) = :total AS total_unchanged FROM accounts;
SELECT * FROM hashshard.prepared_transactions();
-- a transaction that used distributed tables cannot be prepared
BEGIN;
UPDATE accounts SET balance = balance - 1 WHERE id = 3;
PREPARE TRANSACTION 'hs_writes_gid';
SELECT gid FROM pg_prepared_xacts;
SELECT id, balance FROM accounts WHERE id = 3;
BEGIN;
SELECT count(*) FROM accounts;
PREPARE TRANSACTION 'hs_writes_gid';
-- nor can one that used them only through a subtransaction
BEGIN;
SAVEPOINT s;
SELECT count(*) FROM accounts WHERE id = 3;
RELEASE SAVEPOINT s;
PREPARE TRANSACTION 'hs_writes_gid';
SELECT gid FROM pg_prepared_xacts;

--
-- faults around two-phase commit (hashshard.debug_fault, superuser only)
--
SELECT * FROM hashshard.recover_prepared();
SELECT count(*) FROM hashshard.commit_records;
-- an error once every node prepared: the transaction aborts, the prepared
-- transactions are rolled back
SET hashshard.debug_fault = 'error_after_prepare';
BEGIN;
UPDATE accounts SET balance = balance - 7 WHERE id = 3;
UPDATE accounts SET balance = balance + 7 WHERE id = 2;
COMMIT;
RESET hashshard.debug_fault;
SELECT id, balance FROM accounts WHERE id IN (2, 3) ORDER BY id;
SELECT * FROM hashshard.prepared_transactions();
SELECT count(*) FROM hashshard.commit_records;
-- COMMIT PREPARED never sent: the transaction is committed (its record
-- exists) but its prepared transactions wait for recovery (the warnings
-- name the gids, which vary, so they are not shown)
SET hashshard.debug_fault = 'skip_commit_prepared';
BEGIN;
UPDATE accounts SET balance = balance - 7 WHERE id = 3;
UPDATE accounts SET balance = balance + 7 WHERE id = 2;
SET LOCAL client_min_messages = error;
COMMIT;
RESET hashshard.debug_fault;
SELECT node, has_commit_record, local_xact_running, owner = current_user AS mine,
       database LIKE 'hs_writes_node_' AS on_node
FROM hashshard.prepared_transactions() ORDER BY node;
SELECT count(*) FROM hashshard.commit_records;
-- not visible yet
SELECT id, balance FROM accounts WHERE id IN (2, 3) ORDER BY id;
SELECT node, action FROM hashshard.recover_prepared() ORDER BY node;
SELECT id, balance FROM accounts WHERE id IN (2, 3) ORDER BY id;
SELECT * FROM hashshard.prepared_transactions();
SELECT count(*) FROM hashshard.commit_records;
SELECT * FROM hashshard.recover_prepared();
SELECT sum(balance) = :total AS total_unchanged FROM accounts;
-- the fault injection is for superusers only
CREATE ROLE hs_writes_user;
SET ROLE hs_writes_user;
SET hashshard.debug_fault = 'error_after_prepare';
RESET ROLE;
DROP ROLE hs_writes_user;

--
-- a unique index that includes the shard key is enforced by the shards
--
CREATE TABLE uniq (k int, email text);
CREATE UNIQUE INDEX uniq_k_email ON uniq (k, email);
SELECT hashshard.create_distributed_table('uniq', 'k', 2);
INSERT INTO uniq VALUES (1, 'a'), (1, 'b'), (2, 'a');
DO $$
BEGIN
    INSERT INTO uniq VALUES (1, 'a');
    RAISE NOTICE 'duplicate accepted';
EXCEPTION WHEN unique_violation THEN
    RAISE NOTICE 'duplicate refused';
END
$$;
SELECT k, email, count(*) FROM uniq GROUP BY 1, 2 ORDER BY 1, 2;

--
-- a default from a sequence is computed on the coordinator
--
CREATE TABLE serials (id serial PRIMARY KEY, v text);
SELECT hashshard.create_distributed_table('serials', 'id', 2);
INSERT INTO serials (v) VALUES ('a'), ('b'), ('c') RETURNING id, v;
SELECT tableoid::regclass, * FROM serials ORDER BY id;

--
-- shard_sizes as the first use of the nodes in a session
--
\c :coord
SET search_path = hs_writes, public;
SELECT shard, node, rows FROM hashshard.shard_sizes('copied') ORDER BY shard;

--
-- clean up
--
SELECT hashshard.drop_distributed_table(relid) FROM hashshard.distributed_tables
WHERE relid::text IN ('accounts', 'copied', 'uniq', 'serials');
SELECT count(*) FROM hashshard.shard_placements WHERE remote_schema = 'hs_writes';
SELECT * FROM hashshard.prepared_transactions();
SET client_min_messages = warning;
DROP SCHEMA hs_writes CASCADE;
DROP SERVER wnode1, wnode2, wnode3 CASCADE;
RESET client_min_messages;
SELECT format('DROP DATABASE %I WITH (FORCE)', 'hs_writes_node' || g)
FROM generate_series(1, 3) g \gexec

--
-- hashshard: distributing tables over loopback nodes (databases of this
-- cluster), routing, the shards' CHECK constraints, what runs on the nodes
-- (EXPLAIN VERBOSE shows each remote query), prepared statements,
-- undistribute_table and drop_distributed_table.
--
-- The nodes of this file are the databases hs_basic_node1..3 and the
-- servers node1..3; everything is dropped at the end.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS hashshard;
RESET client_min_messages;
\set coord :DBNAME

-- three loopback nodes: the socket directory and port vary from run to run
SELECT format('CREATE DATABASE %I', 'hs_basic_node' || g)
FROM generate_series(1, 3) g \gexec
DO $$
BEGIN
    FOR g IN 1..3 LOOP
        EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER hashshard OPTIONS (host %L, port %L, dbname %L)',
                       'node' || g, split_part(current_setting('unix_socket_directories'), ',', 1),
                       current_setting('port'), 'hs_basic_node' || g);
        EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I', 'node' || g);
    END LOOP;
END
$$;

-- every node is reachable and allows prepared transactions
SELECT node, dbname, reachable, server_version ~ '^15' AS v15,
       max_prepared_transactions > 0 AS twophase, error
FROM hashshard.nodes ORDER BY node;

CREATE SCHEMA hs_basic;
SET search_path = hs_basic, public;

-- explain(q): EXPLAIN (VERBOSE, COSTS OFF) without the query identifier
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/hashshard_helpers.sql'
\i :helpers

-- a non-shippable function: not built in
CREATE FUNCTION is_even(int) RETURNS bool LANGUAGE plpgsql IMMUTABLE
AS $$ BEGIN RETURN $1 % 2 = 0; END $$;

--
-- create_distributed_table on an empty table
--
CREATE TABLE events (id bigint PRIMARY KEY, kind text, at date);
SELECT hashshard.create_distributed_table('events', 'id', 2);
SELECT * FROM hashshard.shards WHERE table_name = 'events'::regclass ORDER BY shard;
SELECT count(*) FROM events;
INSERT INTO events VALUES (1, 'a', '2024-01-01'), (2, 'b', '2024-02-29'), (3, NULL, NULL);
SELECT tableoid::regclass, * FROM events ORDER BY id;

--
-- create_distributed_table on a table with rows
--
CREATE TABLE accounts (
    id int PRIMARY KEY,
    owner text NOT NULL,
    balance int NOT NULL DEFAULT 0 CHECK (balance >= 0),
    score float8,
    note text
);
COMMENT ON COLUMN accounts.note IS 'free text';
INSERT INTO accounts
SELECT g, 'owner' || (g % 7), g * 10, (g % 100) / 4.0,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'n' || g END
FROM generate_series(1, 4000) g;
-- the same rows in a local table, to compare results with
CREATE TABLE accounts_local AS SELECT * FROM accounts;
\d accounts
SELECT hashshard.create_distributed_table('accounts', 'id', 4);
\d+ accounts
SELECT relid, shard_key, shard_count FROM hashshard.distributed_tables
ORDER BY relid::text;
SELECT * FROM hashshard.shards WHERE table_name = 'accounts'::regclass ORDER BY shard;
SELECT shard, node, rows, bytes > 0 AS has_bytes FROM hashshard.shard_sizes('accounts') ORDER BY shard;
SELECT count(*), sum(balance) FROM accounts;

--
-- routing: PostgreSQL's partition hash, computed by shard_for
--
-- each row is in the partition named by shard_for, whose bound's remainder
-- and hashshard.shards both agree, and PostgreSQL's own routing predicate
-- holds for it
SELECT count(*) AS rows,
       count(*) FILTER (WHERE a.tableoid = s.partition) AS in_shard_for_partition,
       count(*) FILTER (WHERE s.remainder = (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                                          'remainder (\d+)'))[1]::int) AS bound_agrees,
       count(*) FILTER (WHERE satisfies_hash_partition('accounts'::regclass, 4,
                                                       hashshard.shard_for('accounts', a.id), a.id)) AS hash_agrees
FROM accounts a
JOIN hashshard.shards s ON s.table_name = 'accounts'::regclass
                       AND s.shard = hashshard.shard_for('accounts', a.id)
JOIN pg_class c ON c.oid = a.tableoid;
-- rows per shard
SELECT tableoid::regclass AS shard, count(*) FROM accounts GROUP BY 1 ORDER BY 1;
-- a few keys, and NULL (shard 0)
SELECT k, hashshard.shard_for('accounts', k) FROM unnest(ARRAY[1, 2, 3, 42, -7, NULL]) k;
SELECT hashshard.shard_for('events', 1::bigint), hashshard.shard_for('events', 2::bigint);

--
-- the shard tables on a node: same columns, the primary key and CHECK
-- constraints, and a CHECK constraint with the routing formula that rejects
-- misrouted rows, whoever writes them
--
SELECT shard, node, remote_table FROM hashshard.shards
WHERE table_name = 'accounts'::regclass AND node = 'node1' ORDER BY shard;
\c hs_basic_node1
\d hs_basic.accounts_0
-- id 100003 belongs to shard 1 (shard_for, below): both shards of this node
-- refuse it
INSERT INTO hs_basic.accounts_0 VALUES (100003, 'x', 0, NULL, NULL);
INSERT INTO hs_basic.accounts_3 VALUES (100003, 'x', 0, NULL, NULL);
-- id 100001 belongs to shard 0: accepted (rolled back)
BEGIN;
INSERT INTO hs_basic.accounts_0 VALUES (100001, 'x', 0, NULL, NULL);
ROLLBACK;
SELECT count(*) FROM hs_basic.accounts_0;
\c :coord
SET search_path = hs_basic, public;
SELECT hashshard.shard_for('accounts', 100001), hashshard.shard_for('accounts', 100003);

--
-- reads
--
-- a point query on the shard key: one shard, the key in the remote query
SELECT explain('SELECT * FROM accounts WHERE id = 42');
SELECT * FROM accounts WHERE id = 42;
-- shippable clauses (built-in immutable operators and functions) run on
-- the nodes
SELECT explain($$SELECT id, balance FROM accounts
                 WHERE balance > 39000 AND owner = 'owner3' AND note IS NOT NULL
                   AND abs(score - 10) < 1$$);
SELECT id, balance FROM accounts
WHERE balance > 39000 AND owner = 'owner3' AND note IS NOT NULL AND abs(score - 10) < 1
ORDER BY id;
-- a function that is not built in, and a volatile one, run locally
SELECT explain('SELECT id FROM accounts WHERE is_even(id) AND balance < 100');
SELECT id FROM accounts WHERE is_even(id) AND balance < 100 ORDER BY id;
SELECT explain('SELECT id FROM accounts WHERE id < 3 AND random() >= 0');
-- ORDER BY ... LIMIT: each shard sorts and returns at most LIMIT rows
SELECT explain('SELECT id, balance FROM accounts ORDER BY balance DESC LIMIT 3');
SELECT id, balance FROM accounts ORDER BY balance DESC LIMIT 3;
SELECT id, note FROM accounts WHERE note > 'n3990' ORDER BY note LIMIT 4;
SELECT id, note FROM accounts_local WHERE note > 'n3990' ORDER BY note LIMIT 4;

--
-- aggregates: partial aggregates on the nodes, combined locally
--
SELECT explain('SELECT count(*), sum(balance), avg(balance), min(balance), max(balance), avg(score) FROM accounts');
SELECT count(*), sum(balance), avg(balance), min(balance), max(balance), avg(score) FROM accounts;
SELECT count(*), sum(balance), avg(balance), min(balance), max(balance), avg(score) FROM accounts_local;
SELECT explain('SELECT owner, count(*), count(note), sum(balance), avg(balance), min(id), max(id) FROM accounts GROUP BY owner');
SELECT owner, count(*), count(note), sum(balance), avg(balance), min(id), max(id)
FROM accounts GROUP BY owner ORDER BY owner;
-- the same as on the local copy (no difference either way)
(SELECT owner, count(*), count(note), sum(balance), avg(balance), avg(score), min(id), max(id)
 FROM accounts GROUP BY owner
 EXCEPT
 SELECT owner, count(*), count(note), sum(balance), avg(balance), avg(score), min(id), max(id)
 FROM accounts_local GROUP BY owner)
UNION ALL
(SELECT owner, count(*), count(note), sum(balance), avg(balance), avg(score), min(id), max(id)
 FROM accounts_local GROUP BY owner
 EXCEPT
 SELECT owner, count(*), count(note), sum(balance), avg(balance), avg(score), min(id), max(id)
 FROM accounts GROUP BY owner);
-- with a WHERE clause, and with a filter
(SELECT count(*), sum(balance), max(note), count(*) FILTER (WHERE score > 20)
 FROM accounts WHERE owner IN ('owner1', 'owner2')
 EXCEPT
 SELECT count(*), sum(balance), max(note), count(*) FILTER (WHERE score > 20)
 FROM accounts_local WHERE owner IN ('owner1', 'owner2'));
SELECT count(*), sum(balance), max(note), count(*) FILTER (WHERE score > 20)
FROM accounts WHERE owner IN ('owner1', 'owner2');
-- GROUP BY the shard key: the whole aggregate, HAVING included, runs on the
-- nodes (one Remote SQL with GROUP BY and HAVING per shard)
SELECT count(*) AS shards_with_remote_having
FROM explain('SELECT id, count(*), sum(balance) FROM accounts GROUP BY id HAVING sum(balance) > 39950') l
WHERE l LIKE '%Remote SQL: SELECT %GROUP BY %HAVING %';
SELECT count(*) AS local_aggregates
FROM explain('SELECT id, count(*), sum(balance) FROM accounts GROUP BY id HAVING sum(balance) > 39950') l
WHERE l LIKE '%Aggregate%';
SELECT id, count(*), sum(balance) FROM accounts GROUP BY id HAVING sum(balance) > 39950 ORDER BY id;
SELECT explain('SELECT id, count(*), max(score) FROM accounts GROUP BY id');
SELECT id, count(*), max(score) FROM accounts WHERE id IN (5, 6) GROUP BY id ORDER BY id;

--
-- a join of tables distributed on the same key with the same shard count
-- runs shard by shard on the nodes
--
CREATE TABLE orders (account_id int, order_no int, amount int, PRIMARY KEY (account_id, order_no));
INSERT INTO orders SELECT g % 500 + 1, g, g % 97 FROM generate_series(1, 2000) g;
CREATE TABLE orders_local AS SELECT * FROM orders;
SELECT hashshard.create_distributed_table('orders', 'account_id', 4);
SELECT explain($$SELECT a.id, a.owner, o.order_no, o.amount FROM accounts a
                 JOIN orders o ON o.account_id = a.id WHERE o.amount > 90$$);
(SELECT a.id, a.owner, o.order_no, o.amount FROM accounts a
 JOIN orders o ON o.account_id = a.id WHERE o.amount > 90
 EXCEPT
 SELECT a.id, a.owner, o.order_no, o.amount FROM accounts_local a
 JOIN orders_local o ON o.account_id = a.id WHERE o.amount > 90);
SELECT count(*), sum(o.amount) FROM accounts a JOIN orders o ON o.account_id = a.id WHERE o.amount > 90;
SELECT count(*), sum(o.amount) FROM accounts_local a JOIN orders_local o ON o.account_id = a.id WHERE o.amount > 90;

--
-- prepared statements: pruning at execution time, parameters sent to the
-- nodes
--
PREPARE get_account(int) AS SELECT id, owner, balance FROM accounts WHERE id = $1;
EXECUTE get_account(1);
EXECUTE get_account(2);
EXECUTE get_account(3);
EXECUTE get_account(4);
EXECUTE get_account(5);
EXECUTE get_account(6);
EXECUTE get_account(7);
EXECUTE get_account(4001);
SET plan_cache_mode = force_generic_plan;
SELECT explain('EXECUTE get_account(42)');
EXECUTE get_account(42);
EXECUTE get_account(43);
EXECUTE get_account(44);
EXECUTE get_account(NULL);
PREPARE sum_above(int, text) AS
    SELECT count(*), sum(balance) FROM accounts WHERE balance > $1 AND owner = $2;
SELECT explain($$EXECUTE sum_above(39000, 'owner1')$$);
RESET plan_cache_mode;
EXECUTE sum_above(39000, 'owner1');
EXECUTE sum_above(38000, 'owner1');
EXECUTE sum_above(37000, 'owner2');
EXECUTE sum_above(36000, 'owner3');
EXECUTE sum_above(35000, 'owner4');
EXECUTE sum_above(34000, 'owner5');
EXECUTE sum_above(33000, 'owner6');
SELECT count(*), sum(balance) FROM accounts_local WHERE balance > 33000 AND owner = 'owner6';
DEALLOCATE get_account;
DEALLOCATE sum_above;

--
-- undistribute_table: the rows come back into a local table with the
-- original constraints and indexes; the shard tables are dropped
--
SELECT hashshard.undistribute_table('accounts');
\d accounts
SELECT count(*) FROM ((TABLE accounts EXCEPT TABLE accounts_local)
                      UNION ALL (TABLE accounts_local EXCEPT TABLE accounts)) d;
SELECT * FROM hashshard.shards WHERE table_name::text = 'accounts';
SELECT relkind FROM pg_class WHERE oid = 'accounts'::regclass;
-- the primary key is back
INSERT INTO accounts VALUES (1, 'dup', 0, NULL, NULL);
-- a plain index and a unique index come back too
CREATE TABLE indexed (id int PRIMARY KEY, k text, v int CHECK (v > 0));
CREATE INDEX indexed_k ON indexed (k);
CREATE UNIQUE INDEX indexed_id_v ON indexed (id, v);
INSERT INTO indexed SELECT g, 'k' || g, g FROM generate_series(1, 10) g;
\d indexed
SELECT hashshard.create_distributed_table('indexed', 'id', 2);
SELECT hashshard.undistribute_table('indexed');
\d indexed
SELECT count(*), sum(v) FROM indexed;
-- constraints keep their names
CREATE TABLE named (id int CONSTRAINT named_key PRIMARY KEY, k text,
                    CONSTRAINT named_k_unique UNIQUE (k, id),
                    CONSTRAINT named_k_check CHECK (k <> ''));
INSERT INTO named SELECT g, 'k' || g FROM generate_series(1, 10) g;
\d named
SELECT hashshard.create_distributed_table('named', 'id', 2);
SELECT hashshard.undistribute_table('named');
\d named
SELECT count(*) FROM named;

--
-- drop_distributed_table: the table and its shard tables are gone
--
SELECT hashshard.drop_distributed_table('orders');
SELECT to_regclass('orders'), to_regclass('orders_0');
SELECT count(*) FROM hashshard.shard_placements WHERE relid::text LIKE 'orders%';
\c hs_basic_node1
SELECT relname FROM pg_class WHERE relnamespace = 'hs_basic'::regnamespace ORDER BY 1;
\c hs_basic_node2
SELECT relname FROM pg_class WHERE relnamespace = 'hs_basic'::regnamespace ORDER BY 1;
\c hs_basic_node3
SELECT relname FROM pg_class WHERE relnamespace = 'hs_basic'::regnamespace ORDER BY 1;
\c :coord
SET search_path = hs_basic, public;

--
-- clean up
--
SELECT hashshard.drop_distributed_table('events');
SELECT count(*) FROM hashshard.shard_placements WHERE remote_schema = 'hs_basic';
SELECT * FROM hashshard.prepared_transactions();
SET client_min_messages = warning;
DROP SCHEMA hs_basic CASCADE;
DROP SERVER node1, node2, node3 CASCADE;
RESET client_min_messages;
SELECT format('DROP DATABASE %I WITH (FORCE)', 'hs_basic_node' || g)
FROM generate_series(1, 3) g \gexec

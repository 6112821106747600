--
-- result_cache: what is cached, what never is (each counted by reason), the
-- SQL API and its errors, and session semantics (search_path, roles,
-- REVOKE, RLS, output settings, parameters, NULLs).
--
-- rc_last() (sql/include/result_cache_helpers.sql) reports what the
-- statements since its previous call did to the counters.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS result_cache;
RESET client_min_messages;
CREATE SCHEMA result_cache_basic;
SET search_path = result_cache_basic, public;

\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/result_cache_helpers.sql'
\i :helpers
SELECT result_cache.reset();
SELECT rc_last() IS NOT NULL AS started;

CREATE TABLE items (id int PRIMARY KEY, name text, price numeric, note text);
INSERT INTO items SELECT g, 'item ' || g, g * 1.5, CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END
FROM generate_series(1, 100) g;

-- A cacheable query: miss and store, then hits
SELECT count(*), sum(price) FROM items WHERE id <= 50;
SELECT rc_last();
SELECT count(*), sum(price) FROM items WHERE id <= 50;
SELECT rc_last();
SELECT count(*), sum(price) FROM items WHERE id <= 50;
SELECT rc_last();
-- a different text is a different entry
SELECT count(*), sum(price) FROM items WHERE id <= 51;
SELECT rc_last();
-- NULLs and row order come back exactly
SELECT id, note FROM items WHERE id BETWEEN 1 AND 7 ORDER BY id;
SELECT id, note FROM items WHERE id BETWEEN 1 AND 7 ORDER BY id;
SELECT rc_last();
-- an empty result is cached too
SELECT * FROM items WHERE id < 0;
SELECT * FROM items WHERE id < 0;
SELECT rc_last();
-- a view reading the table
CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 10;
SELECT * FROM cheap ORDER BY id;
SELECT * FROM cheap ORDER BY id;
SELECT rc_last();
SELECT query, rows, hits FROM result_cache.entries WHERE query LIKE '%cheap%';
SELECT rc_last();

-- Never cached, each counted by reason
SELECT count(*) FROM items WHERE id < random() * 0;
SELECT rc_last();
SELECT count(*) > 0 FROM items WHERE now() > '2000-01-01';
SELECT rc_last();
SELECT current_user = session_user AS same;
SELECT rc_last();
SELECT 1 + 1 AS two;
SELECT rc_last();
-- anonymous records carry a backend-local type modifier
SELECT array_agg(row(id, name) ORDER BY id) FROM items WHERE id <= 2;
SELECT rc_last();
SELECT s FROM (SELECT id, name FROM items WHERE id = 1) s;
SELECT rc_last();
CREATE TEMP TABLE tmp AS SELECT 1 AS x;
SELECT * FROM tmp;
SELECT rc_last();
SELECT relname FROM pg_class WHERE relname = 'items';
SELECT rc_last();
CREATE SEQUENCE seq;
SELECT last_value FROM seq;
SELECT rc_last();
SELECT count(*) >= 0 FROM items TABLESAMPLE SYSTEM (50) REPEATABLE (1);
SELECT rc_last();
SELECT id FROM items WHERE id = 1 FOR UPDATE;
SELECT rc_last();
SELECT id FROM items WHERE id = 1 FOR SHARE;
SELECT rc_last();
WITH d AS (DELETE FROM items WHERE id = 1000 RETURNING id) SELECT count(*) FROM d;
SELECT rc_last();
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM items ORDER BY id;
FETCH 2 FROM c;
COMMIT;
SELECT rc_last();
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM items;
SELECT rc_last();
DO $$ BEGIN PERFORM count(*) FROM items; END $$;
SELECT rc_last();
-- a foreign table (file_fdw over an empty file)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS file_fdw;
RESET client_min_messages;
CREATE SERVER rc_files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE ft (a int) SERVER rc_files OPTIONS (filename '/dev/null', format 'csv');
SELECT count(*) FROM ft;
SELECT rc_last();
-- other isolation levels execute as without the cache
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM items WHERE id <= 50;
COMMIT;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*) FROM items WHERE id <= 50;
COMMIT;
SELECT rc_last();
-- the session opt-out, and mode = off
SET result_cache.enabled = off;
SELECT count(*), sum(price) FROM items WHERE id <= 50;
SELECT rc_last();
RESET result_cache.enabled;
SET result_cache.mode = off;
SELECT count(*), sum(price) FROM items WHERE id <= 50;
SELECT rc_last();
RESET result_cache.mode;
SELECT count(*), sum(price) FROM items WHERE id <= 50;
SELECT rc_last();

-- Admission on second sight (store_first_miss = off): a result is stored
-- at its second miss
SET result_cache.store_first_miss = off;
SELECT count(*) FROM items WHERE id <= 33;
SELECT rc_last();
SELECT count(*) FROM items WHERE id <= 33;
SELECT rc_last();
SELECT count(*) FROM items WHERE id <= 33;
SELECT rc_last();
RESET result_cache.store_first_miss;

-- Size limit and admission control
CREATE TABLE wide AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 2000) g;
SET result_cache.max_entry_size = '64kB';
-- an aggregate over the wide table is small
SELECT length(string_agg(pad, '')) FROM (SELECT pad FROM wide ORDER BY id) s;
SELECT rc_last();
-- the wide rows themselves (about 450 kB) are sent, and not stored
\o /dev/null
SELECT * FROM wide ORDER BY id;
SELECT * FROM wide ORDER BY id;
\o
SELECT rc_last();
RESET result_cache.max_entry_size;
SET result_cache.min_exec_time = 100000;
SELECT count(*) FROM items WHERE id <= 40;
SELECT rc_last();
RESET result_cache.min_exec_time;
SELECT count(*) FROM items WHERE id <= 40;
SELECT rc_last();

-- Session settings are part of the key
CREATE TABLE ev (id int, at timestamptz, d interval, f float8, b bytea);
INSERT INTO ev VALUES (1, '2024-03-01 12:00:00+00', '1 day 02:03:04', 0.1, '\x0102');
SET TimeZone = 'UTC';
SELECT at FROM ev;
SELECT at FROM ev;
SELECT rc_last();
SET TimeZone = 'Asia/Tokyo';
SELECT at FROM ev;
SELECT rc_last();
SET DateStyle = 'SQL, DMY';
SELECT at FROM ev;
SELECT rc_last();
RESET DateStyle;
SET IntervalStyle = 'iso_8601';
SELECT d FROM ev;
SELECT rc_last();
RESET IntervalStyle;
SELECT d FROM ev;
SELECT rc_last();
SET extra_float_digits = 0;
SELECT f * 3 FROM ev;
SET extra_float_digits = 3;
SELECT f * 3 FROM ev;
SELECT rc_last();
SET bytea_output = 'escape';
SELECT b FROM ev;
RESET bytea_output;
SELECT b FROM ev;
SELECT rc_last();
RESET TimeZone;
RESET extra_float_digits;
-- search_path: the same text reads another table
CREATE SCHEMA rc_other;
CREATE TABLE rc_other.items (id int, name text);
INSERT INTO rc_other.items VALUES (1, 'other');
SELECT name FROM items WHERE id = 1;
SET search_path = rc_other, result_cache_basic, public;
SELECT name FROM items WHERE id = 1;
SELECT rc_last();
SET search_path = result_cache_basic, public;
SELECT name FROM items WHERE id = 1;
SELECT rc_last();
-- a table created later that shadows the old one is read at once
SET search_path = rc_shadow, result_cache_basic, public;
SELECT name FROM items WHERE id = 2;
SELECT name FROM items WHERE id = 2;
CREATE SCHEMA rc_shadow;
CREATE TABLE rc_shadow.items (id int, name text);
INSERT INTO rc_shadow.items VALUES (2, 'shadow');
SELECT name FROM items WHERE id = 2;
SET search_path = result_cache_basic, public;

-- Literals are read when the statement is parsed: the key includes their
-- values, not only the text.  'now' is a different value every time.
SELECT rc_last() IS NOT NULL AS reset;
SELECT count(*) FROM ev WHERE at < 'now'::timestamptz;
SELECT count(*) FROM ev WHERE at < 'now'::timestamptz;
SELECT rc_last();
-- A SET earlier in the same query string does not change how the later
-- statement's literal was read (the whole string is scanned first)
SET escape_string_warning = off;
SELECT 'a\\b' AS v FROM items WHERE id = 1;
SET standard_conforming_strings = off \; SELECT 'a\\b' AS v FROM items WHERE id = 1;
SELECT 'a\\b' AS v FROM items WHERE id = 1;
RESET standard_conforming_strings;
RESET escape_string_warning;
-- Rule actions run in one multi-query portal, with the statement's text
CREATE TABLE ruled (a int);
CREATE TABLE rule_log (x int);
INSERT INTO ruled VALUES (1);
INSERT INTO rule_log VALUES (7);
CREATE RULE r1 AS ON UPDATE TO ruled DO ALSO SELECT 'r1'::text AS r, x FROM rule_log;
CREATE RULE r2 AS ON UPDATE TO ruled DO ALSO SELECT 'r2'::text AS r, x FROM rule_log;
UPDATE ruled SET a = a WHERE a = 1;
UPDATE ruled SET a = a WHERE a = 1;

-- Parameters (PREPARE/EXECUTE is nested in a utility statement and not
-- cached; protocol-level parameters are tested in TAP with libpq)
PREPARE q(int) AS SELECT name FROM items WHERE id = $1;
EXECUTE q(3);
EXECUTE q(4);
SELECT rc_last();
DEALLOCATE q;

-- Roles, privileges and row-level security
CREATE ROLE regress_rc_reader;
CREATE ROLE regress_rc_other;
GRANT USAGE ON SCHEMA result_cache_basic TO regress_rc_reader, regress_rc_other;
GRANT SELECT ON items TO regress_rc_reader;
SELECT count(*) FROM items WHERE id <= 10;
SET ROLE regress_rc_reader;
SELECT count(*) FROM items WHERE id <= 10;
SELECT count(*) FROM items WHERE id <= 10;
RESET ROLE;
SELECT rc_last();
-- a role without the privilege gets an error, never the cached rows
SET ROLE regress_rc_other;
SELECT count(*) FROM items WHERE id <= 10;
RESET ROLE;
-- REVOKE takes effect at once for cached results
REVOKE SELECT ON items FROM regress_rc_reader;
SET ROLE regress_rc_reader;
SELECT count(*) FROM items WHERE id <= 10;
RESET ROLE;
-- column privileges
GRANT SELECT (id) ON items TO regress_rc_reader;
SET ROLE regress_rc_reader;
SELECT id FROM items WHERE id <= 2 ORDER BY id;
SELECT id FROM items WHERE id <= 2 ORDER BY id;
SELECT name FROM items WHERE id <= 2 ORDER BY id;
RESET ROLE;
-- RLS: tables with row-level security in effect are not cached
CREATE TABLE secrets (owner text, v int);
INSERT INTO secrets VALUES ('regress_rc_reader', 1), ('regress_rc_other', 2);
ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON secrets USING (owner = current_user);
GRANT SELECT ON secrets TO regress_rc_reader, regress_rc_other;
SET ROLE regress_rc_reader;
SELECT v FROM secrets;
SELECT v FROM secrets;
RESET ROLE;
SELECT rc_last();
SET ROLE regress_rc_other;
SELECT v FROM secrets;
RESET ROLE;
-- a policy added to a cached table takes effect at once
SELECT count(*) FROM items WHERE id <= 5;
GRANT SELECT ON items TO regress_rc_other;
SET ROLE regress_rc_other;
SELECT count(*) FROM items WHERE id <= 5;
SELECT count(*) FROM items WHERE id <= 5;
RESET ROLE;
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
CREATE POLICY few ON items USING (id <= 2);
SET ROLE regress_rc_other;
SELECT count(*) FROM items WHERE id <= 5;
RESET ROLE;
SELECT rc_last();
ALTER TABLE items DISABLE ROW LEVEL SECURITY;

-- Other users' query texts are hidden without pg_read_all_stats
GRANT USAGE ON SCHEMA result_cache TO regress_rc_other;
GRANT EXECUTE ON FUNCTION result_cache.entries_raw() TO regress_rc_other;
GRANT SELECT ON result_cache.entries TO regress_rc_other;
SET ROLE regress_rc_other;
SELECT usename, query FROM result_cache.entries
WHERE query LIKE '%items WHERE id <= 5%' ORDER BY usename, query;
RESET ROLE;
GRANT pg_read_all_stats TO regress_rc_other;
SET ROLE regress_rc_other;
SELECT usename, query FROM result_cache.entries
WHERE query LIKE '%items WHERE id <= 5%' ORDER BY usename, query;
-- and the maintenance functions are not for everybody
SELECT result_cache.reset();
SELECT result_cache.invalidate('items');
RESET ROLE;

-- mode = tables: only enabled tables are cached
SET result_cache.mode = tables;
SELECT count(*) FROM items WHERE id <= 20;
SELECT count(*) FROM items WHERE id <= 20;
SELECT rc_last();
SELECT result_cache.enable_table('items');
SELECT result_cache.enable_table('items');	-- again: no error
SELECT relid FROM result_cache.tables;
SELECT count(*) FROM items WHERE id <= 20;
SELECT count(*) FROM items WHERE id <= 20;
SELECT rc_last();
-- a view over an enabled table is cached; a join with another table is not
SELECT count(*) FROM cheap;
SELECT count(*) FROM cheap;
SELECT rc_last();
SELECT count(*) FROM items JOIN ev USING (id);
SELECT count(*) FROM items JOIN ev USING (id);
SELECT rc_last();
-- partitions of an enabled partitioned table are enabled too
CREATE TABLE parted (k int, v int) PARTITION BY RANGE (k);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
INSERT INTO parted VALUES (1, 1);
SELECT result_cache.enable_table('parted');
SELECT v FROM parted_1;
SELECT v FROM parted_1;
SELECT rc_last();
SELECT result_cache.disable_table('items');
SELECT count(*) FROM items WHERE id <= 20;
SELECT rc_last();
RESET result_cache.mode;

-- Errors
SELECT result_cache.enable_table('cheap');
SELECT result_cache.enable_table('seq');
SELECT result_cache.disable_table('ev');
SELECT result_cache.enable_table('no_such_table');
SELECT result_cache.invalidate(0);
SET result_cache.mode = sometimes;
SET result_cache.max_memory = '1GB';
SET result_cache.max_entry_size = 0;
SET result_cache.min_exec_time = -1;
SET result_cache.no_such_setting = 1;
SET ROLE regress_rc_reader;
SET result_cache.mode = off;
SET result_cache.enabled = off;
RESET result_cache.enabled;
RESET ROLE;

-- The API
SELECT hits > 0 AS some_hits, misses > 0 AS some_misses, stores > 0 AS some_stores,
	   bypasses > 0 AS some_bypasses, rejects > 0 AS some_rejects,
	   entries > 0 AS some_entries, memory_used > 0 AS some_memory,
	   memory_used <= memory_limit AS within_limit,
	   memory_limit = pg_size_bytes(current_setting('result_cache.max_memory')) AS limit_is_setting
FROM result_cache.stats;
SELECT kind, count(*) FROM result_cache.reasons GROUP BY kind ORDER BY kind;
SELECT result_cache.reset();
SELECT entries, memory_used FROM result_cache.stats;
SELECT result_cache.reset_stats();
SELECT hits, misses, stores, bypasses - 1 AS bypasses, rejects FROM result_cache.stats;
SELECT name, setting, unit, context FROM pg_settings
WHERE name LIKE 'result\_cache.%' ORDER BY name;
SELECT p.proname, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'result_cache' ORDER BY 1;
SELECT c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL AS commented
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'result_cache' AND c.relkind IN ('r', 'v') ORDER BY 1;

DROP TABLE secrets;
REVOKE ALL ON ALL TABLES IN SCHEMA result_cache_basic FROM regress_rc_reader, regress_rc_other;
REVOKE ALL ON SCHEMA result_cache_basic FROM regress_rc_reader, regress_rc_other;
REVOKE ALL ON SCHEMA result_cache FROM regress_rc_other;
REVOKE ALL ON FUNCTION result_cache.entries_raw() FROM regress_rc_other;
REVOKE ALL ON result_cache.entries FROM regress_rc_other;
DROP ROLE regress_rc_reader;
DROP ROLE regress_rc_other;

--
-- xhash: growth by splits, VACUUM, REINDEX, CREATE INDEX CONCURRENTLY,
-- the diagnostic functions and their errors
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS xhash;
RESET client_min_messages;
CREATE SCHEMA xhash_maintenance;
SET search_path = xhash_maintenance, public;

-- an index built empty grows by bucket splits as rows arrive
CREATE TABLE g (k int8, v text);
CREATE INDEX g_k ON g USING xhash (k);
SELECT buckets, splits FROM xhash.xhash_stats('g_k');
INSERT INTO g SELECT g, 'v' || g FROM generate_series(1, 60000) g;
SELECT buckets > 64 AS grew, splits > 64 AS split, live_entries,
       overflow_pages < primary_pages AS short_chains
FROM xhash.xhash_stats('g_k');
SELECT * FROM xhash.xhash_verify('g_k');
SET enable_seqscan = off;
SELECT count(*) FROM g WHERE k IN (1, 777, 59999, 60000, 60001);
RESET enable_seqscan;

-- VACUUM removes dead entries and recycles emptied overflow pages
SELECT total_pages AS pages_before FROM xhash.xhash_stats('g_k') \gset
DELETE FROM g WHERE k % 4 <> 0;
SELECT live_entries, dead_entries FROM xhash.xhash_stats('g_k');
VACUUM g;
SELECT live_entries, dead_entries, fill > 0.1 AS filled
FROM xhash.xhash_stats('g_k');
SELECT * FROM xhash.xhash_verify('g_k');
-- a steady insert/delete workload stays compact without REINDEX
INSERT INTO g SELECT g, 'w' FROM generate_series(100000, 119999) g;
DELETE FROM g WHERE k >= 100000;
VACUUM g;
INSERT INTO g SELECT g, 'w' FROM generate_series(200000, 219999) g;
DELETE FROM g WHERE k >= 200000;
VACUUM g;
INSERT INTO g SELECT g, 'w' FROM generate_series(300000, 319999) g;
DELETE FROM g WHERE k >= 300000;
VACUUM g;
SELECT total_pages <= :pages_before AS no_growth FROM xhash.xhash_stats('g_k');
SELECT * FROM xhash.xhash_verify('g_k');
-- an index scan sees the right rows after all of it
SET enable_seqscan = off;
SELECT k FROM g WHERE k = 400;
SELECT k FROM g WHERE k = 401;
RESET enable_seqscan;

-- REINDEX, REINDEX CONCURRENTLY, CREATE INDEX CONCURRENTLY
REINDEX INDEX g_k;
SELECT live_entries FROM xhash.xhash_stats('g_k');
REINDEX INDEX CONCURRENTLY g_k;
CREATE UNIQUE INDEX CONCURRENTLY g_k_unique ON g USING xhash (k);
INSERT INTO g VALUES (400, 'dup');
SELECT * FROM xhash.xhash_verify('g_k');
SELECT * FROM xhash.xhash_verify('g_k_unique');
-- a failed concurrent build leaves an invalid index that the functions refuse
DROP INDEX g_k_unique;
INSERT INTO g VALUES (-1, 'a'), (-1, 'b');
CREATE UNIQUE INDEX CONCURRENTLY g_bad ON g USING xhash (k);
SELECT * FROM xhash.xhash_verify('g_bad');
DROP INDEX g_bad;

-- progress reporting names xhash's build phases
SELECT pg_catalog.pg_indexam_progress_phasename(
           (SELECT oid FROM pg_am WHERE amname = 'xhash'), n)
FROM generate_series(1, 5) n;

-- the diagnostic functions: bad arguments
SELECT * FROM xhash.xhash_verify('g');
SELECT * FROM xhash.xhash_stats('g');
CREATE INDEX g_btree ON g USING btree (k);
SELECT * FROM xhash.xhash_verify('g_btree');
SELECT * FROM xhash.xhash_verify(0);
SELECT * FROM xhash.xhash_verify(NULL);
-- ... and privileges
CREATE ROLE regress_xhash_stranger;
GRANT USAGE ON SCHEMA xhash TO regress_xhash_stranger;
SET ROLE regress_xhash_stranger;
SELECT * FROM xhash.xhash_verify('g_k');
SELECT * FROM xhash.xhash_stats('g_k');
RESET ROLE;
GRANT pg_stat_scan_tables TO regress_xhash_stranger;
SET ROLE regress_xhash_stranger;
SELECT count(*) FROM xhash.xhash_verify('g_k');
RESET ROLE;
REVOKE USAGE ON SCHEMA xhash FROM regress_xhash_stranger;
DROP ROLE regress_xhash_stranger;

-- VACUUM FULL, CLUSTER-less rewrite, TRUNCATE keep the index usable
VACUUM FULL g;
TRUNCATE g;
INSERT INTO g VALUES (1, 'one');
SET enable_seqscan = off;
SELECT v FROM g WHERE k = 1;
RESET enable_seqscan;
SELECT * FROM xhash.xhash_verify('g_k');

-- the extension comments on everything it creates
SELECT count(*) AS uncommented
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'xhash')
  AND d.deptype = 'e'
  AND obj_description(d.objid, d.classid::regclass::name) IS NULL;

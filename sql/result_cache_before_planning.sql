--
-- result_cache: hits of the simple protocol are served before planning.
--
-- psql speaks the simple protocol, so every result_cache regression test
-- goes through this path on its hits (invalidation, settings, RLS,
-- REVOKE).  This file tests what is specific to it: which statements
-- qualify, and the checks made without a plan: own writes to partitions
-- (which only the plan lists), inheritance parents (planned), privileges
-- at every query level and through views, and the signature of what the
-- names resolved to when compute_query_id is off.  The row description of
-- a hit served this way (typmods included) is compared with the cache off
-- in t/006_result_cache_protocol.pl, and so is the Bind of a prepared
-- statement analysed again.
--
-- rc_path() reports how the hits since its previous call were served:
-- "before planning" (stats.hits_before_planning) or "planned" (the other
-- hits), and rc_last() (sql/include/result_cache_helpers.sql) what they
-- did to the other counters.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS result_cache;
RESET client_min_messages;
CREATE SCHEMA result_cache_before_planning;
SET search_path = result_cache_before_planning, public;
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/result_cache_helpers.sql'
\i :helpers
CREATE TABLE rc_prev_path (hits bigint, early bigint);
INSERT INTO rc_prev_path VALUES (0, 0);
CREATE FUNCTION rc_path() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	h bigint;
	e bigint;
	ph bigint;
	pe bigint;
	parts text[] := '{}';
BEGIN
	SELECT hits, hits_before_planning INTO h, e FROM result_cache.stats;
	SELECT hits, early INTO ph, pe FROM rc_prev_path;
	IF e - pe > 0 THEN
		parts := parts || ('before planning x' || (e - pe));
	END IF;
	IF (h - ph) - (e - pe) > 0 THEN
		parts := parts || ('planned x' || ((h - ph) - (e - pe)));
	END IF;
	UPDATE rc_prev_path SET hits = h, early = e;
	RETURN coalesce(array_to_string(parts, ', '), '');
END $$;

SELECT result_cache.reset();
SELECT rc_last() IS NOT NULL AND rc_path() IS NOT NULL AS started;

CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2));
INSERT INTO items SELECT g, 'item ' || g, g * 1.5 FROM generate_series(1, 100) g;

-- A repeated SELECT: stored by its first run, then served before planning
SELECT count(*), sum(price) FROM items WHERE id <= 50;
SELECT count(*), sum(price) FROM items WHERE id <= 50;
SELECT count(*), sum(price) FROM items WHERE id <= 50;
SELECT rc_last(), rc_path();
-- columns only used for sorting are not in the result
SELECT name FROM items WHERE id < 5 ORDER BY price DESC;
SELECT name FROM items WHERE id < 5 ORDER BY price DESC;
SELECT rc_last(), rc_path();
-- several statements in one query string
SELECT count(*) FROM items WHERE id > 90 \; SELECT max(name) FROM items;
SELECT count(*) FROM items WHERE id > 90 \; SELECT max(name) FROM items;
SELECT rc_last(), rc_path();
-- a named composite type in the result
SELECT i FROM items i WHERE id = 3;
SELECT i FROM items i WHERE id = 3;
SELECT rc_last(), rc_path();
-- anonymous records are never shared
SELECT (id, name) FROM items WHERE id = 3;
SELECT (id, name) FROM items WHERE id = 3;
SELECT rc_last(), rc_path();
-- nested statements are planned: PL/pgSQL, EXPLAIN ANALYZE, PREPARE
DO $$ BEGIN PERFORM count(*) FROM items WHERE id <= 50; END $$;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*), sum(price) FROM items WHERE id <= 50;
PREPARE q AS SELECT count(*), sum(price) FROM items WHERE id <= 50;
EXECUTE q;
DEALLOCATE q;
SELECT rc_last(), rc_path();
-- other isolation levels and the session opt-out execute
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*), sum(price) FROM items WHERE id <= 50;
COMMIT;
SET result_cache.enabled = off;
SELECT count(*), sum(price) FROM items WHERE id <= 50;
RESET result_cache.enabled;
SELECT rc_last(), rc_path();
SELECT count(*), sum(price) FROM items WHERE id <= 50;
SELECT rc_last(), rc_path();

-- Own writes: the query names only the parent, the entry depends on the
-- partitions the planner added.  (A parent with inheritance children is
-- planned: the planner leaves other sessions' temporary children out, so
-- only the plan tells; specs/result_cache_temp_child.spec.)
CREATE TABLE parted (k int, v int) PARTITION BY RANGE (k);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (10) TO (20);
INSERT INTO parted SELECT g, g FROM generate_series(0, 19) g;
CREATE TABLE inh_parent (k int, v int);
CREATE TABLE inh_child () INHERITS (inh_parent);
INSERT INTO inh_parent VALUES (1, 1);
INSERT INTO inh_child VALUES (2, 2);
SELECT sum(v) FROM parted;
SELECT sum(v) FROM inh_parent;
SELECT sum(v) FROM parted;
SELECT sum(v) FROM inh_parent;
SELECT rc_last(), rc_path();
-- (no helper call inside: the rollback would undo its bookkeeping)
BEGIN;
UPDATE parted_2 SET v = v + 100 WHERE k = 15;
UPDATE inh_child SET v = v + 100;
SELECT sum(v) FROM parted;
SELECT sum(v) FROM inh_parent;
ROLLBACK;
SELECT sum(v) FROM parted;
SELECT sum(v) FROM inh_parent;
SELECT rc_last(), rc_path();
-- the transaction ran DDL
BEGIN;
CREATE TABLE unrelated (x int);
SELECT sum(v) FROM parted;
ROLLBACK;
SELECT rc_last(), rc_path();

-- Privileges, checked on every hit at every level of the query.  A change
-- of role membership (which sends no relation invalidation) invalidates
-- every entry; the hit checks them too.
CREATE ROLE regress_rc_bp_group;
CREATE ROLE regress_rc_bp_reader;
CREATE ROLE regress_rc_bp_owner;
GRANT USAGE ON SCHEMA result_cache_before_planning
	TO regress_rc_bp_group, regress_rc_bp_reader, regress_rc_bp_owner;
GRANT SELECT ON items TO regress_rc_bp_reader;
CREATE TABLE hidden (id int);
INSERT INTO hidden VALUES (1), (2), (3);
GRANT SELECT ON hidden TO regress_rc_bp_group;
GRANT regress_rc_bp_group TO regress_rc_bp_reader, regress_rc_bp_owner;
-- a view owned by another role, reading hidden with its owner's rights
CREATE VIEW hidden_view AS SELECT id FROM hidden;
ALTER VIEW hidden_view OWNER TO regress_rc_bp_owner;
GRANT SELECT ON hidden_view TO regress_rc_bp_reader;
SET ROLE regress_rc_bp_reader;
SELECT count(*) FROM items WHERE id IN (SELECT id FROM hidden);
SELECT count(*) FROM items WHERE id IN (SELECT id FROM hidden);
SELECT count(*) FROM hidden_view;
SELECT count(*) FROM hidden_view;
RESET ROLE;
SELECT rc_last(), rc_path();
REVOKE regress_rc_bp_group FROM regress_rc_bp_reader;
SET ROLE regress_rc_bp_reader;
-- the sublink's table: denied
SELECT count(*) FROM items WHERE id IN (SELECT id FROM hidden);
-- the view is checked as its owner, who is still a member: allowed (the
-- REVOKE invalidated the entry: a miss)
SELECT count(*) FROM hidden_view;
SELECT count(*) FROM hidden_view;
RESET ROLE;
SELECT rc_last(), rc_path();
REVOKE regress_rc_bp_group FROM regress_rc_bp_owner;
SET ROLE regress_rc_bp_reader;
SELECT count(*) FROM hidden_view;
RESET ROLE;
SELECT rc_last(), rc_path();
-- a CTE that is never referenced is not planned, and an execution does not
-- check its table: a hit does not refuse it either (it is planned)
SET ROLE regress_rc_bp_reader;
WITH unused AS (SELECT * FROM hidden) SELECT count(*) FROM items;
WITH unused AS (SELECT * FROM hidden) SELECT count(*) FROM items;
RESET ROLE;
SELECT rc_last(), rc_path();
-- column privileges
CREATE TABLE cols (id int, secret text);
INSERT INTO cols VALUES (1, 's');
GRANT SELECT (id, secret) ON cols TO regress_rc_bp_group;
GRANT SELECT (id) ON cols TO regress_rc_bp_reader;
GRANT regress_rc_bp_group TO regress_rc_bp_reader;
SET ROLE regress_rc_bp_reader;
SELECT id, secret FROM cols;
SELECT id, secret FROM cols;
RESET ROLE;
REVOKE regress_rc_bp_group FROM regress_rc_bp_reader;
SET ROLE regress_rc_bp_reader;
SELECT id, secret FROM cols;
SELECT id FROM cols;
RESET ROLE;
SELECT rc_last(), rc_path();
-- EXECUTE privileges on functions, held through a membership
CREATE FUNCTION bp_secret(int) RETURNS int LANGUAGE plpgsql IMMUTABLE
	AS 'BEGIN RETURN $1 * 10; END';
REVOKE EXECUTE ON FUNCTION bp_secret(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bp_secret(int) TO regress_rc_bp_group;
GRANT regress_rc_bp_group TO regress_rc_bp_reader;
SET ROLE regress_rc_bp_reader;
SELECT bp_secret(id) FROM items WHERE id = 2;
SELECT bp_secret(id) FROM items WHERE id = 2;
RESET ROLE;
REVOKE regress_rc_bp_group FROM regress_rc_bp_reader;
SET ROLE regress_rc_bp_reader;
SELECT bp_secret(id) FROM items WHERE id = 2;
RESET ROLE;
SELECT rc_last(), rc_path();

-- compute_query_id = off: the key has no query structure (queryId 0), and
-- a table created in a schema already on the search_path changes what the
-- same text reads without invalidating the old table.  The signature of
-- what the names resolved to makes it a miss.
SET compute_query_id = off;
CREATE SCHEMA rc_bp_shadow;
SET search_path = rc_bp_shadow, result_cache_before_planning, public;
SELECT count(*) FROM items;
SELECT count(*) FROM items;
SELECT rc_last(), rc_path();
CREATE TABLE rc_bp_shadow.items (id int);
INSERT INTO rc_bp_shadow.items VALUES (1);
SELECT count(*) FROM items;
SELECT count(*) FROM items;
SELECT rc_last(), rc_path();
RESET compute_query_id;
SET search_path = result_cache_before_planning, public;

DROP SCHEMA rc_bp_shadow CASCADE;
DROP VIEW hidden_view;
REVOKE ALL ON ALL TABLES IN SCHEMA result_cache_before_planning
	FROM regress_rc_bp_group, regress_rc_bp_reader, regress_rc_bp_owner;
REVOKE ALL ON SCHEMA result_cache_before_planning
	FROM regress_rc_bp_group, regress_rc_bp_reader, regress_rc_bp_owner;
DROP ROLE regress_rc_bp_group;
DROP ROLE regress_rc_bp_reader;
DROP ROLE regress_rc_bp_owner;
DROP SCHEMA result_cache_before_planning CASCADE;
-- the next test counts from zero
SELECT result_cache.reset_stats();

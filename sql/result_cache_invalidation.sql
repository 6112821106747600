--
-- result_cache: every write path invalidates the cached results that read
-- the written table.  Each case caches a result (miss, then a hit), writes
-- by one path, and reads again: the new data must come back at once.
--
-- rc_last() (sql/include/result_cache_helpers.sql) reports what the
-- statements since its previous call did to the counters.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS result_cache;
RESET client_min_messages;
CREATE SCHEMA result_cache_invalidation;
SET search_path = result_cache_invalidation, public;

\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/result_cache_helpers.sql'
\i :helpers
SELECT result_cache.reset();

CREATE TABLE acc (id int PRIMARY KEY, bal int NOT NULL);
INSERT INTO acc SELECT g, 100 FROM generate_series(1, 10) g;

-- warm: cache "SELECT sum(bal) FROM acc" and prove the second run is a hit
SELECT sum(bal) FROM acc;
SELECT sum(bal) FROM acc;
SELECT rc_last();

-- INSERT, UPDATE, DELETE, MERGE
INSERT INTO acc VALUES (11, 5);
SELECT sum(bal) FROM acc;
SELECT sum(bal) FROM acc;
UPDATE acc SET bal = bal + 1 WHERE id = 1;
SELECT sum(bal) FROM acc;
SELECT sum(bal) FROM acc;
DELETE FROM acc WHERE id = 11;
SELECT sum(bal) FROM acc;
SELECT sum(bal) FROM acc;
MERGE INTO acc a USING (VALUES (1, 10), (12, 7)) v(id, amt) ON a.id = v.id
WHEN MATCHED THEN UPDATE SET bal = a.bal + v.amt
WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.amt);
SELECT sum(bal) FROM acc;
SELECT rc_last();
-- INSERT ... ON CONFLICT
SELECT sum(bal) FROM acc;
INSERT INTO acc VALUES (12, 1) ON CONFLICT (id) DO UPDATE SET bal = 0;
SELECT sum(bal) FROM acc;

-- COPY FROM
SELECT sum(bal) FROM acc;
COPY acc FROM stdin;
13	1000
\.
SELECT sum(bal) FROM acc;

-- a rolled-back write changes nothing, and the next read may hit again
SELECT sum(bal) FROM acc;
BEGIN;
UPDATE acc SET bal = 0;
SELECT sum(bal) FROM acc;
ROLLBACK;
SELECT sum(bal) FROM acc;
SELECT sum(bal) FROM acc;
SELECT rc_last();

-- inside a transaction, its own writes bypass the cache; after COMMIT,
-- everybody sees them
BEGIN;
SELECT sum(bal) FROM acc;
UPDATE acc SET bal = bal + 1 WHERE id = 2;
SELECT sum(bal) FROM acc;
SELECT sum(bal) FROM acc;
COMMIT;
SELECT sum(bal) FROM acc;
SELECT rc_last();

-- TRUNCATE, and TRUNCATE ... CASCADE through a foreign key
CREATE TABLE parent (id int PRIMARY KEY, name text);
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent ON DELETE CASCADE ON UPDATE CASCADE, v int);
INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 3) g;
INSERT INTO child SELECT g, 1 + g % 3, g FROM generate_series(1, 9) g;
SELECT count(*), sum(v) FROM child;
SELECT count(*), sum(v) FROM child;
DELETE FROM parent WHERE id = 1;		-- ON DELETE CASCADE
SELECT count(*), sum(v) FROM child;
SELECT parent_id, count(*) FROM child GROUP BY parent_id ORDER BY 1;
UPDATE parent SET id = 30 WHERE id = 3;	-- ON UPDATE CASCADE
SELECT parent_id, count(*) FROM child GROUP BY parent_id ORDER BY 1;
SELECT count(*) FROM child;
TRUNCATE parent CASCADE;
SELECT count(*) FROM child;
SELECT rc_last();

-- a trigger that writes another table
CREATE TABLE audit (n int);
INSERT INTO audit VALUES (0);
CREATE FUNCTION acc_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE audit SET n = n + 1; RETURN NULL; END $$;
CREATE TRIGGER acc_audit AFTER UPDATE ON acc FOR EACH STATEMENT EXECUTE FUNCTION acc_audit();
SELECT n FROM audit;
SELECT n FROM audit;
UPDATE acc SET bal = bal WHERE id = 1;
SELECT n FROM audit;
-- a deferred constraint trigger that writes at COMMIT
CREATE FUNCTION acc_audit_deferred() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE audit SET n = n + 100; RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER acc_audit_deferred AFTER INSERT ON acc
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION acc_audit_deferred();
SELECT n FROM audit;
BEGIN;
INSERT INTO acc VALUES (14, 0);
COMMIT;
SELECT n FROM audit;

-- writes inside a function and a procedure
CREATE FUNCTION bump(int) RETURNS void LANGUAGE sql AS $$ UPDATE acc SET bal = bal + $1 WHERE id = 3 $$;
CREATE PROCEDURE bump_proc(int) LANGUAGE plpgsql AS $$
BEGIN
	UPDATE acc SET bal = bal + $1 WHERE id = 4;
	COMMIT;
	UPDATE acc SET bal = bal + $1 WHERE id = 5;
END $$;
SELECT sum(bal) FROM acc;
SELECT bump(1000);
SELECT sum(bal) FROM acc;
CALL bump_proc(10000);
SELECT sum(bal) FROM acc;
DO $$ BEGIN UPDATE acc SET bal = bal - 21000 WHERE id = 3; END $$;
SELECT sum(bal) FROM acc;
SELECT rc_last();

-- partitions: a write to a leaf invalidates reads through the parent, and
-- a write through the parent invalidates reads of the leaf
CREATE TABLE meas (k int, v int) PARTITION BY LIST (k);
CREATE TABLE meas_1 PARTITION OF meas FOR VALUES IN (1);
CREATE TABLE meas_2 PARTITION OF meas FOR VALUES IN (2);
INSERT INTO meas VALUES (1, 10), (2, 20);
SELECT sum(v) FROM meas;
SELECT sum(v) FROM meas_2;
SELECT sum(v) FROM meas;
SELECT sum(v) FROM meas_2;
SELECT rc_last();
INSERT INTO meas_2 VALUES (2, 1);	-- leaf
SELECT sum(v) FROM meas;
INSERT INTO meas VALUES (2, 2);	-- through the parent
SELECT sum(v) FROM meas_2;
UPDATE meas SET v = v + 100 WHERE k = 1;	-- through the parent, pruned
SELECT sum(v) FROM meas;
COPY meas FROM stdin;
2	1000
\.
SELECT sum(v) FROM meas_2;
UPDATE meas SET k = 2 WHERE k = 1;		-- moves rows between partitions
SELECT k, sum(v) FROM meas GROUP BY k ORDER BY k;
SELECT sum(v) FROM meas_2;
-- a new partition attached with rows
SELECT count(*) FROM meas;
CREATE TABLE meas_3 (k int, v int);
INSERT INTO meas_3 VALUES (3, 3);
ALTER TABLE meas ATTACH PARTITION meas_3 FOR VALUES IN (3);
SELECT count(*) FROM meas;
-- inheritance
CREATE TABLE base (v int);
CREATE TABLE derived () INHERITS (base);
INSERT INTO base VALUES (1);
INSERT INTO derived VALUES (2);
SELECT sum(v) FROM base;
SELECT sum(v) FROM base;
INSERT INTO derived VALUES (40);
SELECT sum(v) FROM base;
SELECT sum(v) FROM ONLY base;
UPDATE base SET v = v + 1;	-- through the parent, also updates derived
SELECT sum(v) FROM derived;
SELECT rc_last();

-- DDL: ALTER, DROP and re-CREATE of the same name
SELECT * FROM parent ORDER BY id;
INSERT INTO parent VALUES (7, 'seven');
SELECT * FROM parent ORDER BY id;
SELECT * FROM parent ORDER BY id;
ALTER TABLE parent ADD COLUMN extra int DEFAULT 5;
SELECT * FROM parent ORDER BY id;
ALTER TABLE parent ALTER COLUMN extra TYPE text USING 'x' || extra;
SELECT * FROM parent ORDER BY id;
SELECT count(*) FROM audit;
SELECT count(*) FROM audit;
DROP TABLE audit CASCADE;
CREATE TABLE audit (n int);
SELECT count(*) FROM audit;
-- a view redefined
CREATE VIEW rich AS SELECT id FROM acc WHERE bal > 500;
SELECT count(*) FROM rich;
SELECT count(*) FROM rich;
CREATE OR REPLACE VIEW rich AS SELECT id FROM acc WHERE bal > 50;
SELECT count(*) FROM rich;
SELECT rc_last();

-- Catalog objects other than relations: a function redefined, a composite
-- type altered
CREATE FUNCTION plus(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 100';
SELECT plus(bal) FROM acc WHERE id = 7;
SELECT plus(bal) FROM acc WHERE id = 7;
CREATE OR REPLACE FUNCTION plus(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 200';
SELECT plus(bal) FROM acc WHERE id = 7;
CREATE TYPE pair AS (a int, b int);
SELECT (id, bal)::pair AS p FROM acc WHERE id = 7;
SELECT (id, bal)::pair AS p FROM acc WHERE id = 7;
ALTER TYPE pair ALTER ATTRIBUTE b TYPE text;
SELECT (id, bal)::pair AS p FROM acc WHERE id = 7;
SELECT rc_last();
-- plain EXPLAIN of a write changes nothing
SELECT count(*) FROM acc;
SELECT invalidations AS inv0 FROM result_cache.stats \gset
EXPLAIN (COSTS OFF) DELETE FROM acc;
SELECT invalidations - :inv0 AS new_invalidations FROM result_cache.stats;
SELECT count(*) FROM acc;
SELECT rc_last();

-- REFRESH MATERIALIZED VIEW, plain and CONCURRENTLY
CREATE MATERIALIZED VIEW acc_total AS SELECT sum(bal) AS total FROM acc;
CREATE UNIQUE INDEX ON acc_total (total);
SELECT total FROM acc_total;
SELECT total FROM acc_total;
UPDATE acc SET bal = bal + 1 WHERE id = 1;
SELECT total FROM acc_total;
REFRESH MATERIALIZED VIEW acc_total;
SELECT total FROM acc_total;
UPDATE acc SET bal = bal + 1 WHERE id = 1;
REFRESH MATERIALIZED VIEW CONCURRENTLY acc_total;
SELECT total FROM acc_total;
SELECT rc_last();

-- PREPARE TRANSACTION / COMMIT PREPARED and ROLLBACK PREPARED
SELECT bal FROM acc WHERE id = 6;
SELECT bal FROM acc WHERE id = 6;
BEGIN;
UPDATE acc SET bal = 6666 WHERE id = 6;
PREPARE TRANSACTION 'rc_inval_1';
SELECT bal FROM acc WHERE id = 6;	-- not committed yet
SELECT bal FROM acc WHERE id = 6;
COMMIT PREPARED 'rc_inval_1';
SELECT bal FROM acc WHERE id = 6;
BEGIN;
UPDATE acc SET bal = 7777 WHERE id = 6;
PREPARE TRANSACTION 'rc_inval_2';
SELECT bal FROM acc WHERE id = 6;
ROLLBACK PREPARED 'rc_inval_2';
SELECT bal FROM acc WHERE id = 6;
SELECT rc_last();

-- a failed COMMIT PREPARED and a read-only prepared transaction leave the
-- cache alone
SELECT bal FROM acc WHERE id = 6;
COMMIT PREPARED 'rc_no_such_gid';
BEGIN;
SELECT count(*) FROM acc;
PREPARE TRANSACTION 'rc_inval_ro';
COMMIT PREPARED 'rc_inval_ro';
SELECT bal FROM acc WHERE id = 6;
SELECT rc_last();

-- result_cache.invalidate() and reset()
SELECT count(*) FROM acc;
SELECT count(*) FROM acc;
SELECT result_cache.invalidate('acc');
SELECT count(*) FROM acc;
SELECT rc_last();
SELECT result_cache.reset();
SELECT count(*) FROM acc;
SELECT rc_last();

-- Invalidation is counted per table written, never per entry
SELECT result_cache.reset_stats();
SELECT count(*) FROM acc WHERE id < 3;
SELECT count(*) FROM acc WHERE id < 4;
SELECT count(*) FROM acc WHERE id < 5;
SELECT count(*) FROM acc WHERE id < 6;
UPDATE acc SET bal = bal WHERE id = 1;
SELECT invalidations, entries FROM result_cache.stats;

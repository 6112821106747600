--
-- denorm_advisor_apply: the generated scripts do what they promise.
--   * ddl() runs as it is (psql -f semantics, here with \i); the rewritten
--     queries return the same rows as the originals and cost less, close
--     to the what-if estimate; verify() = 0, also after writes of every
--     kind (parent updates, child inserts, key moves, deletes, TRUNCATE);
--   * rollback_ddl() restores the catalog exactly;
--   * online => false runs inside one transaction;
--   * the materialized view is consistent after REFRESH, stale after writes;
--   * every user-facing error.
--
CREATE EXTENSION denorm_advisor;
-- the time model's cache miss ratio fixed: otherwise it is measured
SET denorm_advisor.cache_miss_ratio = 0;
SET client_min_messages = warning;
\getenv abs_srcdir PG_ABS_SRCDIR
\getenv abs_builddir PG_ABS_BUILDDIR
\set scale 0.01
\set shop :abs_srcdir '/sql/include/denorm_advisor_shop.sql'
\i :shop
RESET client_min_messages;

-- the catalog of schema public, to compare before and after
CREATE SCHEMA da_test;
CREATE FUNCTION da_test.catalog_state() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT format('column %s.%s %s %s %s', c.relname, a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(d.adbin, d.adrelid))
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'relation ' || c.relname || ' ' || c.relkind::text FROM pg_class c
     WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i
      JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
     WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'public'::regnamespace
$$;
CREATE TABLE da_test.before AS SELECT da_test.catalog_state() AS item;
CREATE FUNCTION da_test.catalog_changes() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT change FROM (
        (SELECT '+ ' || s FROM da_test.catalog_state() s EXCEPT SELECT '+ ' || item FROM da_test.before)
        UNION ALL
        (SELECT '- ' || item FROM da_test.before EXCEPT SELECT '- ' || s FROM da_test.catalog_state() s)) c(change)
    ORDER BY change COLLATE "C"
$$;

-- both sides of a rewrite return the same rows for a parameter value
CREATE FUNCTION da_test.differences(orig text, rewritten text, param anyelement)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM (((%s) EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL (%s))) d',
                   orig, rewritten, rewritten, orig)
        INTO n USING param;
    RETURN n;
END
$$;

SELECT denorm_advisor.add_query($$SELECT o.id, o.ordered_at, c.name, c.segment FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.ordered_at >= $1 AND o.ordered_at < $1 + interval '1 day'$$, 20000, 1.5);
SELECT denorm_advisor.add_query($$SELECT c.id, c.name, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.city = $1 GROUP BY c.id, c.name$$, 3000, 2);
SELECT denorm_advisor.add_query($$SELECT c.segment, count(*), sum(oi.qty) FROM order_items oi JOIN orders o ON o.id = oi.order_id JOIN customers c ON c.id = o.customer_id GROUP BY c.segment$$, 60, 30);
SELECT denorm_advisor.add_query($$SELECT oi.id, oi.qty, p.name FROM order_items oi JOIN products p ON p.id = oi.product_id WHERE oi.order_id = $1$$, 50000, 0.2);
SELECT denorm_advisor.add_query($$UPDATE customers SET segment = $1 WHERE id = $2$$, 10);
SELECT denorm_advisor.add_query($$INSERT INTO orders (customer_id, ordered_at, status, ship_address) VALUES ($1, now(), 'new', $2)$$, 3000);
-- a join no candidate can serve (a parameter in the select list)
SELECT denorm_advisor.add_query($$SELECT o.id, c.id + $1 FROM orders o JOIN customers c ON c.id = o.customer_id$$, 10, 5);
SELECT id, kind, target FROM denorm_advisor.recommend() ORDER BY id;
SELECT id, kind, target, status FROM denorm_advisor.candidates ORDER BY id;

SELECT id AS copy_id FROM denorm_advisor.candidates
 WHERE kind = 'copy_column' AND target LIKE 'orders %' \gset
SELECT id AS items_id FROM denorm_advisor.candidates
 WHERE kind = 'copy_column' AND target LIKE 'order_items %' \gset
SELECT id AS counter_id FROM denorm_advisor.candidates WHERE kind = 'counter' \gset
SELECT id AS view_id FROM denorm_advisor.candidates
 WHERE kind = 'matview' AND details->>'query_id' = 'q3' \gset

-- what-if costs and the rewritten queries, kept to compare after applying
CREATE TABLE da_test.predicted AS
SELECT cq.candidate_id, cq.query_id, aq.query, cq.rewritten, cq.cost_before, cq.cost_after
  FROM denorm_advisor.candidate_queries cq
  JOIN denorm_advisor.analysed_queries aq USING (owner, query_id)
 WHERE cq.reason IS NULL;

-- 1. the copy: the generated script, run as it is
SELECT denorm_advisor.ddl(:copy_id) \g (format=unaligned tuples_only=on) :abs_builddir/results/denorm_advisor_apply_copy.sql
SELECT denorm_advisor.rollback_ddl(:copy_id) \g (format=unaligned tuples_only=on) :abs_builddir/results/denorm_advisor_rollback_copy.sql
\i :abs_builddir/results/denorm_advisor_apply_copy.sql
\set ON_ERROR_STOP off
SELECT * FROM da_test.catalog_changes();
SELECT denorm_advisor.verify(:copy_id) AS inconsistent;

-- the rewritten queries return the same rows, for several parameters
SELECT p.query_id, sum(da_test.differences(p.query, p.rewritten, d)) AS differences
  FROM da_test.predicted p,
       (SELECT DISTINCT date_trunc('day', ordered_at) AS d FROM orders ORDER BY 1 LIMIT 20) days
 WHERE p.candidate_id = :copy_id AND p.query_id = 'q1'
 GROUP BY 1;
SELECT p.query_id, da_test.differences(p.query, p.rewritten, 0) AS differences
  FROM da_test.predicted p WHERE p.candidate_id = :copy_id AND p.query_id = 'q3';
-- they cost less now, as predicted (within 30%)
SELECT p.query_id, (denorm_advisor._statement(p.rewritten)).cost < p.cost_before AS cheaper,
       abs((denorm_advisor._statement(p.rewritten)).cost - p.cost_after) / p.cost_after < 0.3 AS as_predicted
  FROM da_test.predicted p
 WHERE p.candidate_id = :copy_id AND p.cost_after < p.cost_before
 ORDER BY 1;

-- writes of every kind keep the copies equal to the parent
UPDATE customers SET name = name || ' jr', segment = 'platinum' WHERE id % 7 = 0;
INSERT INTO orders (customer_id, ordered_at, status, ship_address)
SELECT i % 900 + 1, '2024-06-01'::timestamptz + i * interval '1 minute', 'new', 'here'
  FROM generate_series(1, 300) i;
UPDATE orders SET customer_id = customer_id % 900 + 1 WHERE id % 11 = 0;
UPDATE orders SET customers_name = 'tampered' WHERE id = 5;
SELECT customers_name = (SELECT name FROM customers c WHERE c.id = o.customer_id) AS repaired
  FROM orders o WHERE id = 5;
DELETE FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE id % 13 = 0);
DELETE FROM orders WHERE id % 13 = 0;
SELECT denorm_advisor.verify(:copy_id) AS inconsistent;
SELECT p.query_id, sum(da_test.differences(p.query, p.rewritten, d)) AS differences
  FROM da_test.predicted p,
       (SELECT DISTINCT date_trunc('day', ordered_at) AS d FROM orders ORDER BY 1 DESC LIMIT 20) days
 WHERE p.candidate_id = :copy_id AND p.query_id = 'q1'
 GROUP BY 1;

-- the rollback script restores the catalog exactly
\i :abs_builddir/results/denorm_advisor_rollback_copy.sql
\set ON_ERROR_STOP off
SELECT count(*) AS catalog_changes FROM da_test.catalog_changes();

-- 2. a copy whose child key is not indexed: the script creates the index
--    (and the rollback drops it, nothing else)
SELECT denorm_advisor.ddl(:items_id) \g (format=unaligned tuples_only=on) :abs_builddir/results/denorm_advisor_apply_items.sql
SELECT denorm_advisor.rollback_ddl(:items_id) \g (format=unaligned tuples_only=on) :abs_builddir/results/denorm_advisor_rollback_items.sql
\set ECHO none
\i :abs_builddir/results/denorm_advisor_apply_items.sql
\set ECHO all
\set ON_ERROR_STOP off
SELECT * FROM da_test.catalog_changes();
UPDATE products SET name = upper(name) WHERE id <= 20;
INSERT INTO order_items (order_id, product_id, qty, unit_price) VALUES (1, 3, 1, 1.00);
SELECT denorm_advisor.verify(:items_id) AS inconsistent;
\set ECHO none
\i :abs_builddir/results/denorm_advisor_rollback_items.sql
\set ECHO all
\set ON_ERROR_STOP off
SELECT count(*) AS catalog_changes FROM da_test.catalog_changes();

-- 3. the counter (applied although another candidate serves its query
--    better: ddl() works for any candidate and says so)
SELECT line FROM regexp_split_to_table(denorm_advisor.ddl(:counter_id), E'\n') line
 WHERE line LIKE '-- WARNING%';
SELECT denorm_advisor.ddl(:counter_id) \g (format=unaligned tuples_only=on) :abs_builddir/results/denorm_advisor_apply_counter.sql
SELECT denorm_advisor.rollback_ddl(:counter_id) \g (format=unaligned tuples_only=on) :abs_builddir/results/denorm_advisor_rollback_counter.sql
\set ECHO none
\i :abs_builddir/results/denorm_advisor_apply_counter.sql
\set ECHO all
\set ON_ERROR_STOP off
SELECT * FROM da_test.catalog_changes();
SELECT denorm_advisor.verify(:counter_id) AS inconsistent;
SELECT p.query_id, da_test.differences(p.query, p.rewritten, c.city) AS differences
  FROM da_test.predicted p, (SELECT DISTINCT city FROM customers ORDER BY 1 LIMIT 5) c
 WHERE p.candidate_id = :counter_id
 ORDER BY c.city LIMIT 1;
INSERT INTO orders (customer_id, ordered_at, status, ship_address)
SELECT i % 50 + 1, now(), 'new', 'there' FROM generate_series(1, 200) i;
UPDATE orders SET customer_id = customer_id % 900 + 2 WHERE id % 17 = 0;
DELETE FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE id % 19 = 0);
DELETE FROM orders WHERE id % 19 = 0;
SELECT denorm_advisor.verify(:counter_id) AS inconsistent;
SELECT sum(orders_count) = (SELECT count(*) FROM orders) AS counts_add_up FROM customers;
TRUNCATE order_items, orders;
SELECT denorm_advisor.verify(:counter_id) AS inconsistent, max(orders_count) AS max_count FROM customers;
\set ECHO none
\i :abs_builddir/results/denorm_advisor_rollback_counter.sql
\set ECHO all
\set ON_ERROR_STOP off
SELECT count(*) AS catalog_changes FROM da_test.catalog_changes();

-- reload the orders for what follows
SET client_min_messages = warning;
\i :shop
RESET client_min_messages;
DROP TABLE da_test.before;
CREATE TABLE da_test.before AS SELECT da_test.catalog_state() AS item;
-- new tables: new candidates
SELECT count(*) FROM denorm_advisor.recommend();
SELECT id AS copy_id FROM denorm_advisor.candidates
 WHERE kind = 'copy_column' AND target LIKE 'orders %' \gset
SELECT id AS items_id FROM denorm_advisor.candidates
 WHERE kind = 'copy_column' AND target LIKE 'order_items %' \gset
SELECT id AS counter_id FROM denorm_advisor.candidates WHERE kind = 'counter' \gset
SELECT id AS view_id FROM denorm_advisor.candidates
 WHERE kind = 'matview' AND details->>'query_id' = 'q3' \gset

-- 4. online => false: one transaction, plain SQL
BEGIN;
DO $$ BEGIN EXECUTE denorm_advisor.ddl(
    (SELECT id FROM denorm_advisor.candidates WHERE kind = 'copy_column' AND target LIKE 'orders %'), false); END $$;
SELECT denorm_advisor.verify(:copy_id) AS inconsistent;
DO $$ BEGIN EXECUTE denorm_advisor.rollback_ddl(
    (SELECT id FROM denorm_advisor.candidates WHERE kind = 'copy_column' AND target LIKE 'orders %'), false); END $$;
SELECT count(*) AS catalog_changes FROM da_test.catalog_changes();
COMMIT;
SELECT position(E'\\set' IN denorm_advisor.ddl(:copy_id, false)) = 0 AS no_psql_commands,
       position('CONCURRENTLY' IN denorm_advisor.ddl(:items_id, false)) = 0 AS no_concurrently;

-- 5. the materialized view: consistent after creation, stale after writes
--    until REFRESH
BEGIN;
DO $$ BEGIN EXECUTE denorm_advisor.ddl(
    (SELECT id FROM denorm_advisor.candidates WHERE kind = 'matview' AND details->>'query_id' = 'q3'), false); END $$;
SELECT denorm_advisor.verify(:view_id) AS stale_rows;
SELECT p.query_id, da_test.differences(p.query, p.rewritten, NULL::int) AS differences
  FROM da_test.predicted p WHERE p.candidate_id = :view_id;
UPDATE order_items SET qty = qty + 1 WHERE id % 3 = 0;
SELECT denorm_advisor.verify(:view_id) > 0 AS stale_after_writes;
DO $$ BEGIN EXECUTE format('REFRESH MATERIALIZED VIEW %I',
    (SELECT details->>'name' FROM denorm_advisor.candidates WHERE kind = 'matview' AND details->>'query_id' = 'q3')); END $$;
SELECT denorm_advisor.verify(:view_id) AS stale_rows;
ROLLBACK;

-- 6. names that need quoting, two keys to one parent, privileges: both
--    copies apply side by side, writers need no privilege on the other
--    table (the trigger functions are SECURITY DEFINER), the graph
--    escapes the names, and both roll back to the catalog before
CREATE SCHEMA "My Shop";
CREATE TABLE "My Shop"."Cit y" (id int PRIMARY KEY, "Name" text NOT NULL, meta json);
CREATE TABLE "My Shop".trip (id int PRIMARY KEY,
    from_id int NOT NULL REFERENCES "My Shop"."Cit y",
    to_id int NOT NULL REFERENCES "My Shop"."Cit y", km int NOT NULL);
CREATE INDEX ON "My Shop".trip (from_id);
CREATE INDEX ON "My Shop".trip (to_id);
INSERT INTO "My Shop"."Cit y" SELECT i, 'city ' || i, '{}' FROM generate_series(1, 100) i;
INSERT INTO "My Shop".trip SELECT i, i % 100 + 1, (i * 7) % 100 + 1, i % 500 FROM generate_series(1, 5000) i;
ANALYZE "My Shop"."Cit y", "My Shop".trip;
SELECT denorm_advisor.clear_workload() >= 0 AS cleared;
SELECT denorm_advisor.add_query($$SELECT t.id, a."Name", b."Name", a.meta FROM "My Shop".trip t JOIN "My Shop"."Cit y" a ON a.id = t.from_id JOIN "My Shop"."Cit y" b ON b.id = t.to_id WHERE t.km = $1$$, 50000, 1);
-- each copy removes one of the two joins (and saves little here): both
-- are applied, whatever their status
SELECT count(*) >= 0 AS analysed FROM denorm_advisor.recommend(min_gain => 0);
SELECT kind, target FROM denorm_advisor.candidates WHERE kind = 'copy_column' ORDER BY target COLLATE "C";
DROP TABLE da_test.before;
CREATE TABLE da_test.before AS SELECT da_test.catalog_state() AS item;
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT id FROM denorm_advisor.candidates WHERE kind = 'copy_column' ORDER BY id LOOP
        EXECUTE denorm_advisor.ddl(c.id, false);
    END LOOP;
END
$$;
CREATE ROLE da_writer;
GRANT USAGE ON SCHEMA "My Shop" TO da_writer;
GRANT INSERT, UPDATE ON "My Shop".trip TO da_writer;
GRANT UPDATE ("Name") ON "My Shop"."Cit y" TO da_writer;
GRANT SELECT (id, "Name") ON "My Shop"."Cit y" TO da_writer;
SET ROLE da_writer;
INSERT INTO "My Shop".trip VALUES (9001, 5, 6, 10);
UPDATE "My Shop"."Cit y" SET "Name" = 'renamed' WHERE id = 5;
RESET ROLE;
SELECT sum(denorm_advisor.verify(id)) AS inconsistent FROM denorm_advisor.candidates
 WHERE kind = 'copy_column';
SELECT l AS escaped FROM regexp_split_to_table(denorm_advisor.schema_graph(), E'\n') l
 WHERE l LIKE '%Cit y%' ORDER BY l COLLATE "C";
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT id FROM denorm_advisor.candidates WHERE kind = 'copy_column' ORDER BY id LOOP
        EXECUTE denorm_advisor.rollback_ddl(c.id, false);
    END LOOP;
END
$$;
SELECT count(*) AS catalog_changes FROM da_test.catalog_changes();
REVOKE ALL ON "My Shop".trip, "My Shop"."Cit y" FROM da_writer;
REVOKE USAGE ON SCHEMA "My Shop" FROM da_writer;
DROP ROLE da_writer;
DROP SCHEMA "My Shop" CASCADE;

-- errors
SELECT denorm_advisor.ddl(NULL);
SELECT denorm_advisor.ddl(999);
SELECT * FROM denorm_advisor.explain(999);
SELECT denorm_advisor.rollback_ddl(999);
SELECT denorm_advisor.verify(999);
SELECT denorm_advisor.verify(:copy_id);
SELECT denorm_advisor.verify(:view_id);
SELECT denorm_advisor.verify(:counter_id);
SELECT denorm_advisor.ddl(min(id)) FROM denorm_advisor.candidates WHERE NOT details ? 'new_columns';
SELECT denorm_advisor.add_query(NULL, 1);
SELECT denorm_advisor.add_query('  ', 1);
SELECT denorm_advisor.add_query('SELECT 1', -1);
SELECT denorm_advisor.add_query('SELECT 1', 'NaN');
SELECT denorm_advisor.add_query('SELECT 1', NULL);
SELECT denorm_advisor.add_query('SELECT 1', 1, -5);
SELECT denorm_advisor.add_query('SELEC 1', 1);
SELECT denorm_advisor.add_query('SELECT 1; SELECT 2', 1);
SELECT denorm_advisor.add_query('CREATE TABLE t (a int)', 1);
SELECT denorm_advisor.add_query('SELECT * FROM no_such_table', 1);
SELECT denorm_advisor.add_query('SELECT * FROM orders WHERE id = $1 FOR UPDATE', 1);
SELECT denorm_advisor.add_query('UPDATE orders SET no_such_column = 1', 1);
-- what analysis would lock more than ACCESS SHARE, or cannot take
SELECT denorm_advisor.add_query('UPDATE orders SET status = ''x'' WHERE CURRENT OF c', 1);
SELECT denorm_advisor.add_query('SELECT 1 AS a INTO newtab', 1);
SELECT denorm_advisor.add_query('WITH d AS (DELETE FROM page_views RETURNING 1) SELECT count(*) FROM d', 1);
CREATE VIEW da_test.locked_orders AS SELECT * FROM orders FOR UPDATE;
SELECT denorm_advisor.add_query('SELECT * FROM da_test.locked_orders', 1);
DROP VIEW da_test.locked_orders;
SELECT relation::regclass, mode FROM pg_locks
 WHERE pid = pg_backend_pid() AND mode NOT IN ('AccessShareLock', 'ExclusiveLock');
SELECT * FROM denorm_advisor.recommend(budget_bytes => -1);
SELECT * FROM denorm_advisor.recommend(min_gain => 2);
SELECT * FROM denorm_advisor.recommend(min_gain => NULL);
SELECT denorm_advisor.schema_graph('svg');
SELECT * FROM denorm_advisor._whatif('SELECT 1', 'index', NULL, NULL, NULL);
SELECT * FROM denorm_advisor._whatif('DELETE FROM orders', 'matview', NULL, NULL, NULL);
-- the schema changed after recommend(): a clear error, not a broken script
CREATE TABLE da_test.p (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE da_test.c (id int PRIMARY KEY, p_id int NOT NULL REFERENCES da_test.p, v int NOT NULL);
CREATE INDEX ON da_test.c (p_id);
INSERT INTO da_test.p SELECT i, 'p' || i FROM generate_series(1, 50) i;
INSERT INTO da_test.c SELECT i, i % 50 + 1, i FROM generate_series(1, 2000) i;
ANALYZE da_test.p, da_test.c;
SELECT denorm_advisor.clear_workload() >= 0 AS cleared;
SELECT denorm_advisor.add_query($$SELECT c.id, p.name FROM da_test.c c JOIN da_test.p p ON p.id = c.p_id WHERE c.v = $1$$, 100000, 1);
SELECT count(*) FROM denorm_advisor.recommend(min_gain => 0);
SELECT id AS small_id FROM denorm_advisor.candidates WHERE kind = 'copy_column' \gset
ALTER TABLE da_test.p RENAME COLUMN name TO label;
SELECT denorm_advisor.ddl(:small_id);
ALTER TABLE da_test.p RENAME COLUMN label TO name;
ALTER TABLE da_test.c DROP CONSTRAINT c_p_id_fkey;
SELECT denorm_advisor.ddl(:small_id);
SELECT denorm_advisor.verify(:small_id);
DROP TABLE da_test.c;
SELECT denorm_advisor.rollback_ddl(:small_id);
DROP TABLE da_test.p;
SELECT count(*) AS left_behind FROM pg_class WHERE relpersistence = 't';

DROP SCHEMA da_test CASCADE;
DROP EXTENSION denorm_advisor;
DROP TABLE page_views, order_items, orders, products, customers, categories;

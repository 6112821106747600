--
-- denorm_advisor_recommend: the workload, the table profile, and the
-- recommendations on a deterministic "shop" schema (sql/include/
-- denorm_advisor_shop.sql at scale 0.01), with one planted case per
-- outcome:
--   q1  orders JOIN customers reading name, segment: a copy is recommended
--   q2  order_items JOIN products reading name, whose name is updated
--       100000 times an hour: the copy is write-hot
--   q3  orders JOIN customers reading address, which orders.ship_address
--       already holds as a snapshot: possibly intentional
--   q4  products JOIN page_views, count per product: a counter on products
--       is refused (hot parents: ten products take 90% of the views, which
--       are inserted 20 million times an hour); a view serves it instead
--   q5  count of orders per customer of a city: counter or view
--   q6  a three-table aggregate without parameters: a materialized view
-- Reasons are shown up to their first colon: the figures after it are in
-- denorm_advisor_apply and the docs.
--
CREATE EXTENSION denorm_advisor;
-- the time model's cache miss ratio fixed: otherwise it is measured
SET denorm_advisor.cache_miss_ratio = 0;
SET client_min_messages = warning;
\getenv abs_srcdir PG_ABS_SRCDIR
\set scale 0.01
\set shop :abs_srcdir '/sql/include/denorm_advisor_shop.sql'
\i :shop
RESET client_min_messages;

SELECT count(*) AS orders, (SELECT count(*) FROM order_items) AS items,
       (SELECT count(*) FROM page_views) AS views
FROM orders;

-- the workload: reads with measured mean times, and the writes
SELECT denorm_advisor.add_query($$SELECT o.id, o.ordered_at, c.name, c.segment FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.ordered_at >= $1 AND o.ordered_at < $1 + interval '1 day'$$, 20000, 1.5);
SELECT denorm_advisor.add_query($$SELECT oi.id, oi.qty, p.name FROM order_items oi JOIN products p ON p.id = oi.product_id WHERE oi.order_id = $1$$, 50000, 0.2);
SELECT denorm_advisor.add_query($$SELECT o.id, o.status, c.address FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1$$, 10000, 0.1);
SELECT denorm_advisor.add_query($$SELECT p.id, p.name, count(*) FROM products p JOIN page_views v ON v.product_id = p.id WHERE p.category_id = $1 GROUP BY p.id, p.name$$, 2000, 3);
SELECT denorm_advisor.add_query($$SELECT c.id, c.name, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.city = $1 GROUP BY c.id, c.name$$, 3000, 2);
SELECT denorm_advisor.add_query($$SELECT c.segment, count(*), sum(oi.qty) FROM order_items oi JOIN orders o ON o.id = oi.order_id JOIN customers c ON c.id = o.customer_id GROUP BY c.segment$$, 60, 30);
SELECT denorm_advisor.add_query($$INSERT INTO page_views (product_id, viewed_at, session_id) VALUES ($1, now(), $2)$$, 20000000);
SELECT denorm_advisor.add_query($$UPDATE products SET name = $1 WHERE id = $2$$, 100000);
SELECT denorm_advisor.add_query($$UPDATE customers SET segment = $1 WHERE id = $2$$, 10);
SELECT denorm_advisor.add_query($$INSERT INTO orders (customer_id, ordered_at, status, ship_address) VALUES ($1, now(), 'new', $2)$$, 3000);

-- each statement with its joins along foreign keys and the parent columns
-- it reads (the key itself is not: the child holds it), or what it writes
SELECT query_id, source, command, fk_name, child, parent, join_type,
       parent_columns, written_table, written_columns, time_measured
FROM denorm_advisor.workload()
ORDER BY query_id COLLATE "C", fk_name COLLATE "C";

-- the profile: fan-out and hot-parent share per foreign key
SELECT table_name, fk_name, parent, round(fanout::numeric, 2) AS fanout,
       round(top_parent_share::numeric, 2) AS top_share, fk_indexed
FROM denorm_advisor.table_profile()
WHERE fk_name IS NOT NULL
ORDER BY table_name::text COLLATE "C", fk_name COLLATE "C";
SELECT count(*) = 6 AS six_tables, bool_and(est_rows > 0) AS analysed,
       bool_and(row_width > 0) AS widths
FROM denorm_advisor.table_profile() WHERE fk_name IS NULL;

-- the recommendations, ranked; every cost drops
SELECT id, kind, target, queries, confidence,
       (SELECT bool_and(a < b) FROM unnest(cost_after, cost_before) u(a, b)) AS cheaper,
       net_ms_per_hour > 0 AS pays, extra_bytes > 0 AS grows
FROM denorm_advisor.recommend()
ORDER BY id;

-- every candidate, kept or rejected, and why
SELECT id, kind, target, status, split_part(reason, ':', 1) AS why
FROM denorm_advisor.candidates ORDER BY id;

-- the rewritten queries
SELECT c.id, cq.query_id, cq.cost_after < cq.cost_before AS cheaper,
       regexp_replace(cq.rewritten, '\s+', ' ', 'g') AS rewritten
FROM denorm_advisor.candidates c
JOIN denorm_advisor.candidate_queries cq ON cq.candidate_id = c.id
WHERE cq.reason IS NULL
ORDER BY c.id, cq.query_id COLLATE "C";

-- explain(): the decision with its numbers
SELECT line FROM denorm_advisor.explain(
    (SELECT id FROM denorm_advisor.candidates WHERE kind = 'copy_column' AND status = 'recommended')) line
WHERE line ~ '^(candidate|status|query)';
SELECT split_part(line, ';', 1) FROM denorm_advisor.explain(
    (SELECT id FROM denorm_advisor.candidates WHERE reason LIKE 'write-hot%')) line
WHERE line ~ '^(status|writes)';
SELECT split_part(line, ':', 3) FROM denorm_advisor.explain(
    (SELECT id FROM denorm_advisor.candidates WHERE reason LIKE 'possibly intentional%')) line
WHERE line ~ '^status';

-- the write model: copies pay per parent update x fan-out, counters per
-- child write; the hot-parent utilization is what refused the counter
SELECT kind, target, round(write_ms_added_per_hour::numeric, 1) AS write_ms_h,
       round((details->>'hot_parent_utilization')::numeric, 3) AS hot_util
FROM denorm_advisor.candidates
WHERE kind IN ('copy_column', 'counter')
ORDER BY id;

-- min_gain and the storage budget
SELECT count(*) AS kept FROM denorm_advisor.recommend(min_gain => 0.99);
SELECT why, count(*)
FROM (SELECT split_part(reason, ':', 1) AS why FROM denorm_advisor.candidates) c
GROUP BY why ORDER BY why COLLATE "C";
SELECT count(*) AS kept FROM denorm_advisor.recommend(budget_bytes => 100000);
SELECT id, kind, extra_bytes <= 100000 AS fits, split_part(reason, ':', 1) AS why
FROM denorm_advisor.candidates WHERE status = 'recommended' OR reason LIKE 'over budget%'
ORDER BY id;
SELECT sum(extra_bytes) <= 100000 AS within_budget
FROM denorm_advisor.candidates WHERE status = 'recommended';

-- the schema graph: tables, keys, hot joins, recommendations highlighted
SELECT count(*) FROM denorm_advisor.recommend();
SELECT line FROM regexp_split_to_table(denorm_advisor.schema_graph(), E'\n') line
WHERE line ~ '->' OR line ~ 'digraph'
ORDER BY line COLLATE "C";

-- safety: ACCESS SHARE only on user tables, no object left behind, the
-- shadows gone with their subtransactions
BEGIN;
SELECT count(*) > 0 AS some FROM denorm_advisor.recommend();
SELECT l.relation::regclass, l.mode
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND c.relnamespace = 'public'::regnamespace
  AND l.mode <> 'AccessShareLock';
COMMIT;
SELECT count(*) AS temp_relations FROM pg_class WHERE relpersistence = 't';
SELECT count(*) AS public_relations FROM pg_class WHERE relnamespace = 'public'::regnamespace;

-- a role sees its own workload and results only, and the advisor sees
-- only what the role may read
CREATE ROLE da_reader;
GRANT SELECT ON orders, order_items, products TO da_reader;
SET ROLE da_reader;
SELECT count(*) AS visible_queries FROM denorm_advisor.queries;
SELECT denorm_advisor.add_query($$SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1$$, 1000, 1);
SELECT denorm_advisor.add_query($$SELECT oi.id, p.name FROM order_items oi JOIN products p ON p.id = oi.product_id WHERE oi.order_id = $1$$, 1000, 1);
SELECT count(*) FROM denorm_advisor.recommend();
SELECT query_id, note FROM denorm_advisor.analysed_queries ORDER BY query_id COLLATE "C";
SELECT kind, target, status FROM denorm_advisor.candidates ORDER BY id;
SELECT table_name FROM denorm_advisor.table_profile() WHERE fk_name IS NULL ORDER BY table_name::text COLLATE "C";
RESET ROLE;
SELECT owner, count(*) FROM denorm_advisor.candidates GROUP BY owner ORDER BY owner COLLATE "C";
DELETE FROM denorm_advisor.candidate_queries WHERE owner = 'da_reader';
DELETE FROM denorm_advisor.candidates WHERE owner = 'da_reader';
DELETE FROM denorm_advisor.analysed_queries WHERE owner = 'da_reader';
DELETE FROM denorm_advisor.queries WHERE owner = 'da_reader';
REVOKE ALL ON orders, order_items, products FROM da_reader;
DROP ROLE da_reader;

-- the time budget stops the costing with a warning
SET denorm_advisor.time_budget = 1;
SELECT count(*) >= 0 AS partial FROM denorm_advisor.recommend();
RESET denorm_advisor.time_budget;

-- clear_workload
SELECT denorm_advisor.clear_workload();
SELECT count(*) FROM denorm_advisor.recommend();

DROP EXTENSION denorm_advisor;
DROP TABLE page_views, order_items, orders, products, customers, categories;

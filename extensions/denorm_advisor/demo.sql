-- denorm_advisor demo: a normalized shop, its workload, the advice with
-- its numbers, an apply script run and checked, rolled back, and the schema
-- graph (rendered when Graphviz is installed)
CREATE EXTENSION IF NOT EXISTS denorm_advisor;
\set QUIET on
SET client_min_messages = warning;
\set scale 0.05
\i ../../sql/include/denorm_advisor_shop.sql
RESET client_min_messages;
\set QUIET off

-- the workload: statements with their calls per hour and measured times
-- (pg_stat_statements or the collector provide them when installed)
SELECT denorm_advisor.add_query($$SELECT o.id, o.ordered_at, c.name, c.segment FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.ordered_at >= $1 AND o.ordered_at < $1 + interval '1 day'$$, 20000, 1.5);
SELECT denorm_advisor.add_query($$SELECT oi.id, oi.qty, p.name FROM order_items oi JOIN products p ON p.id = oi.product_id WHERE oi.order_id = $1$$, 50000, 0.2);
SELECT denorm_advisor.add_query($$SELECT o.id, o.status, c.address FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1$$, 10000, 0.1);
SELECT denorm_advisor.add_query($$SELECT p.id, p.name, count(*) FROM products p JOIN page_views v ON v.product_id = p.id WHERE p.category_id = $1 GROUP BY p.id, p.name$$, 2000, 3);
SELECT denorm_advisor.add_query($$INSERT INTO page_views (product_id, viewed_at, session_id) VALUES ($1, now(), $2)$$, 20000000);
SELECT denorm_advisor.add_query($$UPDATE products SET name = $1 WHERE id = $2$$, 100000);
SELECT denorm_advisor.add_query($$UPDATE customers SET segment = $1 WHERE id = $2$$, 10);

-- the joins along foreign keys, and what each statement reads or writes
SELECT query_id, command, fk_name, parent_columns, written_table, written_columns
FROM denorm_advisor.workload() ORDER BY query_id;

-- the advice: ranked, with the read time saved and the write time added
SELECT id, kind, target, round(read_ms_saved_per_hour) AS saved_ms_h,
       round(write_ms_added_per_hour) AS added_ms_h, pg_size_pretty(extra_bytes) AS size, confidence
FROM denorm_advisor.recommend();

-- and what it refused, and why
SELECT id, kind, target, left(reason, 110) AS reason
FROM denorm_advisor.candidates WHERE status = 'rejected' ORDER BY id;
SELECT * FROM denorm_advisor.explain(1);

-- apply the top recommendation with its generated script, as a DBA would
SELECT denorm_advisor.ddl(1) \g (format=unaligned tuples_only=on) /tmp/denorm_advisor_demo_apply.sql
SELECT denorm_advisor.rollback_ddl(1) \g (format=unaligned tuples_only=on) /tmp/denorm_advisor_demo_rollback.sql
\! head -40 /tmp/denorm_advisor_demo_apply.sql
EXPLAIN (COSTS OFF) SELECT o.id, o.ordered_at, c.name, c.segment FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.ordered_at >= '2024-03-01' AND o.ordered_at < '2024-03-02';
\set QUIET on
\i /tmp/denorm_advisor_demo_apply.sql
\set QUIET off
-- the rewritten query needs no join any more
SELECT query_id, regexp_replace(rewritten, '\s+', ' ', 'g') AS rewritten
FROM denorm_advisor.candidate_queries WHERE candidate_id = 1 AND cost_after < cost_before ORDER BY 1;
EXPLAIN (COSTS OFF) SELECT o.id, o.ordered_at, o.customers_name, o.customers_segment FROM orders o WHERE o.ordered_at >= '2024-03-01' AND o.ordered_at < '2024-03-02';
-- the triggers keep the copies right under writes
UPDATE customers SET name = name || ' (renamed)' WHERE id % 10 = 0;
INSERT INTO orders (customer_id, ordered_at, status, ship_address) VALUES (42, now(), 'new', 'somewhere');
SELECT denorm_advisor.verify(1) AS inconsistent_rows;
-- and the rollback script restores the schema
\set QUIET on
\i /tmp/denorm_advisor_demo_rollback.sql
\set QUIET off
SELECT count(*) AS leftover_columns FROM pg_attribute
WHERE attrelid = 'orders'::regclass AND attname LIKE 'customers\_%' AND NOT attisdropped;

-- the schema as a graph: hot joins by ms/h, recommendations in color
SELECT count(*) AS recommendations FROM denorm_advisor.recommend();
SELECT denorm_advisor.schema_graph() \g (format=unaligned tuples_only=on) /tmp/denorm_advisor_demo.dot
\! if command -v dot >/dev/null; then dot -Tsvg -o /tmp/denorm_advisor_demo.svg /tmp/denorm_advisor_demo.dot && echo "graph rendered: /tmp/denorm_advisor_demo.svg"; else echo "Graphviz not installed: the DOT text is in /tmp/denorm_advisor_demo.dot (apt-get install graphviz; dot -Tsvg)"; fi

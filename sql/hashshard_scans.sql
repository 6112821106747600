--
-- hashshard_scans: how scans, joins and aggregates run on the nodes, and
-- that their results equal those of the same queries on a local copy.
--   - several shards of one node read through cursors in small batches,
--     interleaved (fetch_size smaller than every shard)
--   - joins of co-located tables pushed down (inner and left), and the
--     same queries without partitionwise planning
--   - partial aggregates whose states are built on the nodes (avg of
--     integers and floats), combined locally
--   - parameterized inner scans rescanned by a nested loop
--   - TRUNCATE on the nodes, inside the transaction
--
-- query identifiers (EXPLAIN VERBOSE) depend on OIDs
SET compute_query_id = off;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS hashshard;
DROP DATABASE IF EXISTS hs_scan_n1;
DROP DATABASE IF EXISTS hs_scan_n2;
CREATE DATABASE hs_scan_n1;
CREATE DATABASE hs_scan_n2;
DO $$
BEGIN
  FOR i IN 1..2 LOOP
    EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER hashshard OPTIONS (host %L, port %L, dbname %L)',
                   'scan_n' || i, split_part(current_setting('unix_socket_directories'), ',', 1),
                   current_setting('port'), 'hs_scan_n' || i);
  END LOOP;
END $$;
CREATE USER MAPPING FOR CURRENT_USER SERVER scan_n1;
CREATE USER MAPPING FOR CURRENT_USER SERVER scan_n2;
RESET client_min_messages;

CREATE TABLE customers (id int PRIMARY KEY, name text, score float8);
CREATE TABLE orders (customer_id int, id int, qty int, PRIMARY KEY (customer_id, id));
INSERT INTO customers SELECT g, 'c' || g, g / 7.0 FROM generate_series(1, 400) g;
INSERT INTO orders SELECT g % 450 + 1, g, g % 13 FROM generate_series(1, 3000) g;
-- local copies to compare with
CREATE TABLE customers_l AS SELECT * FROM customers;
CREATE TABLE orders_l AS SELECT * FROM orders;
SET client_min_messages = warning;
SELECT hashshard.create_distributed_table('customers', 'id', 4, '{scan_n1,scan_n2}');
SELECT hashshard.create_distributed_table('orders', 'customer_id', 4, '{scan_n1,scan_n2}');
RESET client_min_messages;

-- cursors: every shard has more rows than fetch_size, two shards per node
ALTER SERVER scan_n1 OPTIONS (ADD fetch_size '7');
ALTER SERVER scan_n2 OPTIONS (ADD fetch_size '7');
SET hashshard.enable_partitionwise = off;
SELECT count(*), sum(qty), sum(id) FROM orders;
SELECT count(*), sum(qty), sum(id) FROM orders_l;
(SELECT * FROM orders EXCEPT SELECT * FROM orders_l)
UNION ALL (SELECT * FROM orders_l EXCEPT SELECT * FROM orders);
BEGIN;
SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id;
SELECT count(*) FROM orders_l o JOIN customers_l c ON c.id = o.customer_id;
COMMIT;
ALTER SERVER scan_n1 OPTIONS (DROP fetch_size);
ALTER SERVER scan_n2 OPTIONS (DROP fetch_size);
RESET hashshard.enable_partitionwise;

-- joins on the shard key run on the nodes
EXPLAIN (VERBOSE, COSTS OFF)
SELECT c.name, o.qty FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.qty = 3;
SELECT count(*), sum(o.qty), min(c.name) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.qty = 3;
SELECT count(*), sum(o.qty), min(c.name) FROM customers_l c JOIN orders_l o ON o.customer_id = c.id WHERE o.qty = 3;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT c.id, o.id FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND o.qty > 11;
SELECT count(*), count(o.id), sum(c.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND o.qty > 11;
SELECT count(*), count(o.id), sum(c.id) FROM customers_l c LEFT JOIN orders_l o ON o.customer_id = c.id AND o.qty > 11;
-- the same without partitionwise join: joined locally, same result
SET hashshard.enable_partitionwise = off;
SELECT count(*), count(o.id), sum(c.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND o.qty > 11;
RESET hashshard.enable_partitionwise;

-- partial aggregate states built on the nodes
EXPLAIN (VERBOSE, COSTS OFF) SELECT avg(qty), avg(score), stddev(score) FROM orders, customers WHERE false;
EXPLAIN (VERBOSE, COSTS OFF) SELECT avg(id), avg(score) FROM customers;
SELECT avg(id), round(avg(score)::numeric, 10) FROM customers;
SELECT avg(id), round(avg(score)::numeric, 10) FROM customers_l;
SELECT qty, avg(customer_id), count(*), max(id) FROM orders GROUP BY qty ORDER BY qty LIMIT 4;
SELECT qty, avg(customer_id), count(*), max(id) FROM orders_l GROUP BY qty ORDER BY qty LIMIT 4;
-- grouped by the shard key: the whole aggregate and HAVING run on the nodes
EXPLAIN (VERBOSE, COSTS OFF)
SELECT customer_id, count(*) FROM orders GROUP BY customer_id HAVING count(*) > 6;
SELECT customer_id, count(*) FROM orders GROUP BY customer_id HAVING count(*) > 6 ORDER BY 1 LIMIT 5;
SELECT customer_id, count(*) FROM orders_l GROUP BY customer_id HAVING count(*) > 6 ORDER BY 1 LIMIT 5;

-- a nested loop rescans a parameterized inner scan
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SELECT c.id, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id AND o.qty = c.id % 13)
FROM customers c WHERE c.id < 6 ORDER BY c.id;
SELECT c.id, (SELECT count(*) FROM orders_l o WHERE o.customer_id = c.id AND o.qty = c.id % 13)
FROM customers_l c WHERE c.id < 6 ORDER BY c.id;
RESET enable_hashjoin;
RESET enable_mergejoin;

-- errors caught by exception blocks (subtransactions) while outer scans of
-- the same nodes are open: the outer results survive
CREATE FUNCTION try_insert(i int) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO customers VALUES (i, 'again', 0);
  RETURN 'inserted';
EXCEPTION WHEN unique_violation THEN
  RETURN 'duplicate';
END $$;
SELECT id, try_insert(id) FROM customers WHERE id <= 4 ORDER BY id;
SELECT id, try_insert(id + 1000) FROM customers WHERE id <= 3 ORDER BY id;
BEGIN;
SELECT id, try_insert(id + 2000) FROM customers WHERE id <= 3 ORDER BY id;
SELECT id, try_insert(id + 2000) FROM customers WHERE id <= 3 ORDER BY id;
COMMIT;
SELECT count(*) FROM customers WHERE id > 1000;
DELETE FROM customers WHERE id > 1000;
DROP FUNCTION try_insert(int);

-- an error of a query sent before a savepoint, read after it: ROLLBACK TO
-- cannot undo it on the node, so the commit must fail, on both nodes
-- (ids 1 and 3 live on scan_n1 and scan_n2, id 5 on scan_n2)
SELECT id, hashshard.shard_for('customers', id) FROM customers WHERE id IN (1, 3, 5) ORDER BY id;
SELECT id, score FROM customers WHERE id IN (1, 3) ORDER BY id;
BEGIN;
UPDATE customers SET score = score + 1 WHERE id = 1;
UPDATE customers SET score = score + 1 WHERE id = 3;
DECLARE c CURSOR FOR SELECT * FROM customers WHERE id = 5 AND 100 / (id - id) > 0;
SAVEPOINT a;
SELECT name FROM customers WHERE id = 3;
ROLLBACK TO a;
COMMIT;
SELECT id, score FROM customers WHERE id IN (1, 3) ORDER BY id;
-- a node named twice
SELECT hashshard.create_distributed_table('customers_l', 'id', 2, '{scan_n1,scan_n1}');

-- TRUNCATE runs on the nodes and rolls back with the transaction
BEGIN;
TRUNCATE orders;
SELECT count(*) FROM orders;
ROLLBACK;
SELECT count(*) FROM orders;
TRUNCATE orders;
SELECT count(*) FROM orders;
SELECT sum(rows) FROM hashshard.shard_sizes('orders');

-- clean up
SET client_min_messages = warning;
SELECT hashshard.drop_distributed_table('orders');
SELECT hashshard.drop_distributed_table('customers');
DROP TABLE customers_l, orders_l;
DROP SERVER scan_n1 CASCADE;
DROP SERVER scan_n2 CASCADE;
DROP DATABASE hs_scan_n1;
DROP DATABASE hs_scan_n2;

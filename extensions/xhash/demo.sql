-- xhash demo: size against btree, a unique violation, multi-column lookups
CREATE EXTENSION IF NOT EXISTS xhash;

-- 200,000 URL-like keys of ~96 characters
CREATE TABLE demo_urls AS
SELECT g AS id,
       'https://www.example.com/' || md5(g::text) || '/' || md5((g * 7)::text) AS url
FROM generate_series(1, 200000) g;

CREATE INDEX demo_urls_btree ON demo_urls USING btree (url);
CREATE UNIQUE INDEX demo_urls_xhash ON demo_urls USING xhash (url);

-- the same keys in about a sixth of the space
SELECT c.relname AS index,
       pg_size_pretty(pg_relation_size(c.oid)) AS size,
       round(pg_relation_size(c.oid)::numeric / 200000, 1) AS bytes_per_row
FROM pg_class c
WHERE c.relname IN ('demo_urls_btree', 'demo_urls_xhash')
ORDER BY 1;

DROP INDEX demo_urls_btree;
EXPLAIN (COSTS OFF)
SELECT id FROM demo_urls
WHERE url = 'https://www.example.com/' || md5('4242') || '/' || md5('29694');

-- UNIQUE works as with btree: same SQLSTATE, message and detail
\set ON_ERROR_STOP 0
INSERT INTO demo_urls VALUES (0, 'https://www.example.com/' || md5('1') || '/' || md5('7'));
\set ON_ERROR_STOP 1

-- multi-column unique index, which core hash cannot do
CREATE TABLE demo_orders (customer int, order_no int, note text);
CREATE UNIQUE INDEX demo_orders_key ON demo_orders USING xhash (customer, order_no);
INSERT INTO demo_orders SELECT g % 1000, g / 1000, 'n' FROM generate_series(1, 50000) g;
EXPLAIN (COSTS OFF) SELECT note FROM demo_orders WHERE customer = 7 AND order_no = 3;

-- what the index looks like inside, and a clean bill of health
SELECT buckets, total_pages, live_entries, round(fill::numeric, 2) AS fill,
       round(bytes_per_entry::numeric, 1) AS bytes_per_entry
FROM xhash.xhash_stats('demo_urls_xhash');
SELECT count(*) AS problems FROM xhash.xhash_verify('demo_urls_xhash');

DROP TABLE demo_urls, demo_orders;

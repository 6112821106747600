-- result_cache demo: a slow query becomes fast, a write invalidates it, the
-- stats view shows what happened.  (make demo preloads result_cache.)
CREATE EXTENSION IF NOT EXISTS result_cache;
SELECT result_cache.reset();
SELECT result_cache.reset_stats();

CREATE TABLE demo_sales AS
SELECT g AS id, (g % 50) AS region, (random() * 1000)::int AS amount
FROM generate_series(1, 2000000) g;
ANALYZE demo_sales;

-- admission on second sight, the default (the demo's cluster has the test
-- settings, which store every miss)
SET result_cache.store_first_miss = off;

\timing on
-- the first run executes (a miss); a result is stored when its query
-- comes back (admission on second sight, result_cache.store_first_miss),
-- so the second run executes again and stores it
SELECT region, count(*), sum(amount) FROM demo_sales
WHERE region < 5 GROUP BY region ORDER BY region;
SELECT region, count(*), sum(amount) FROM demo_sales
WHERE region < 5 GROUP BY region ORDER BY region;
-- the third run is answered from shared memory, before planning: no plan
-- is made or executed
SELECT region, count(*), sum(amount) FROM demo_sales
WHERE region < 5 GROUP BY region ORDER BY region;
\timing off

-- a write to the table invalidates the result when it commits; the next
-- run executes and stores the new result at once (the query was seen)
UPDATE demo_sales SET amount = amount + 1000000 WHERE id = 1;
\timing on
SELECT region, count(*), sum(amount) FROM demo_sales
WHERE region < 5 GROUP BY region ORDER BY region;
SELECT region, count(*), sum(amount) FROM demo_sales
WHERE region < 5 GROUP BY region ORDER BY region;
\timing off

-- never cached: volatile functions, FOR UPDATE, ... (counted by reason)
SELECT count(*) FROM demo_sales WHERE amount > random() * 1000;

SELECT hits, hits_before_planning, misses, stores, bypasses, invalidations,
       entries,
       pg_size_pretty(memory_used) AS memory_used,
       pg_size_pretty(memory_limit) AS memory_limit
FROM result_cache.stats;
SELECT kind, reason, count FROM result_cache.reasons WHERE count > 0;
SELECT left(query, 60) AS query, rows, bytes, hits FROM result_cache.entries;

DROP TABLE demo_sales;

--
-- result_cache: the memory bound and LRU eviction.  The test cluster runs
-- with result_cache.max_memory = 8MB and max_entries = 1000
-- (extensions/result_cache/test.conf).  Thousands of distinct queries, and
-- results large enough to fill the memory, must never push memory_used or
-- entries over their limits; a query used between every two others must
-- survive the churn; a TOASTed 1 MB value comes back whole.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS result_cache;
RESET client_min_messages;
CREATE SCHEMA result_cache_memory;
SET search_path = result_cache_memory, public;
SELECT result_cache.reset();
SELECT result_cache.reset_stats();

SELECT current_setting('result_cache.max_memory') AS max_memory,
	   current_setting('result_cache.max_entries') AS max_entries;

CREATE TABLE nums AS SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 5000) g;
CREATE TABLE seen (memory_used bigint, memory_limit bigint, entries bigint, max_entries bigint);

-- 3000 distinct small queries, each followed by a use of one hot query and a
-- look at the counters
\set ECHO none
\o /dev/null
SELECT format('SELECT count(*) FROM nums WHERE n <= %s', g),
	   'SELECT count(*) FROM nums WHERE n > 4990',
	   'INSERT INTO seen SELECT memory_used, memory_limit, entries, max_entries FROM result_cache.stats'
FROM generate_series(1, 3000) g \gexec
\o
\set ECHO all
SELECT max(entries) AS max_entries_seen, max(max_entries) AS max_entries,
	   bool_and(memory_used <= memory_limit) AS within_memory
FROM seen;
SELECT evictions >= 2000 AS evicted, entries <= 1000 AS entries_bounded,
	   misses >= 3001 AS misses_counted, hits >= 2999 AS hot_hits
FROM result_cache.stats;
-- the hot query stayed cached all along: stored once, then only hits
SELECT query, hits FROM result_cache.entries WHERE query LIKE '%n > 4990%';

-- Larger results: 200 results of about 64 kB each (12.5 MB in all) through
-- an 8 MB cache
TRUNCATE seen;
\set ECHO none
\o /dev/null
SELECT format('SELECT n, h, h || h AS hh FROM nums WHERE n > %s AND n <= %s', g * 10, g * 10 + 600),
	   'INSERT INTO seen SELECT memory_used, memory_limit, entries, max_entries FROM result_cache.stats'
FROM generate_series(1, 200) g \gexec
\o
\set ECHO all
SELECT count(*) AS samples, bool_and(memory_used <= memory_limit) AS within_memory,
	   max(memory_used) > 4 * 1024 * 1024 AS filled_beyond_half
FROM seen;
SELECT memory_used <= memory_limit AS within_memory, entries < 200 AS some_evicted
FROM result_cache.stats;
-- the latest results are the ones kept
SELECT count(*) > 0 AS latest_kept FROM result_cache.entries
WHERE query LIKE '%n > 2000 AND n <= 2600%';
-- (approximate LRU: the older half lost more entries than the newer half)
SELECT count(*) FILTER (WHERE split_part(split_part(query, '> ', 2), ' ', 1)::int <= 1000)
	   < count(*) FILTER (WHERE split_part(split_part(query, '> ', 2), ' ', 1)::int > 1000)
	   AS older_evicted_more
FROM result_cache.entries WHERE query LIKE 'SELECT n, h, h || h%';

-- A TOASTed 1 MB value: stored detoasted, served whole
CREATE TABLE toasty (id int, big text);
INSERT INTO toasty SELECT 1, string_agg(md5(g::text), '') FROM generate_series(1, 32768) g;
SELECT pg_relation_size(reltoastrelid) > 0 AS in_toast_table
FROM pg_class WHERE relname = 'toasty';
SET result_cache.max_entry_size = '4MB';
SELECT result_cache.reset_stats();
SELECT big FROM toasty WHERE id = 1 \gset first_
-- stored on the first try, evicting what it had to
SELECT reason, count FROM result_cache.reasons WHERE count > 0 AND reason <> 'mutable';
SELECT big FROM toasty WHERE id = 1 \gset second_
SELECT rows, bytes > 1024 * 1024 AS stored_detoasted, hits
FROM result_cache.entries WHERE query LIKE 'SELECT big FROM toasty WHERE id = 1%';
SELECT count(*) FROM result_cache.reasons WHERE reason = 'no_memory' AND count > 0;
-- (compared with the cache off: the query texts themselves are 1 MB)
SET result_cache.enabled = off;
SELECT length(:'first_big') AS len, md5(:'first_big') = md5(:'second_big') AS same,
	   md5(:'second_big') = (SELECT md5(big) FROM toasty) AS right_value;
RESET result_cache.enabled;
-- over the entry size limit it is sent but not stored
SET result_cache.max_entry_size = '512kB';
SELECT result_cache.reset();
SELECT result_cache.reset_stats();
SELECT big FROM toasty WHERE id = 1 \gset third_
SELECT length(:'third_big') = 1048576 AS whole;
SELECT kind, reason, count FROM result_cache.reasons WHERE kind = 'reject' AND count > 0;
RESET result_cache.max_entry_size;
SELECT result_cache.reset();

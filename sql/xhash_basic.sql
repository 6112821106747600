--
-- xhash: operator classes, lookups, NULLs, multi-column, planner choices
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS xhash;
RESET client_min_messages;
CREATE SCHEMA xhash_basic;
SET search_path = xhash_basic, public;

-- every operator class validates
SELECT opcname, amvalidate(oid)
FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'xhash')
ORDER BY opcname;

-- one table with a column of every supported type
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE alltypes (
    i2 int2, i4 int4, i8 int8, o oid, b bool, c "char", n name, t text,
    vc varchar(20), bp char(5), ba bytea, u uuid, nu numeric, f4 float4,
    f8 float8, d date, ts timestamp, tz timestamptz, tm time, iv interval,
    ip inet, ci cidr, mac macaddr, j jsonb, e mood);
INSERT INTO alltypes
SELECT g, g, g * 1000000000::int8, g, g % 2 = 0, chr(65 + g % 26),
       'n' || g, 't' || g, 'v' || g, 'b' || (g % 1000), ('x' || g)::bytea,
       md5(g::text)::uuid, g / 7.0, g / 4.0, g / 8.0,
       date '2020-01-01' + g, timestamp '2020-01-01' + g * interval '1 minute',
       timestamptz '2020-01-01 00:00+00' + g * interval '1 hour',
       time '00:00' + g * interval '1 second', g * interval '1 day',
       ('10.0.' || (g / 256) || '.' || (g % 256))::inet,
       ('10.' || (g / 256) || '.' || (g % 256) || '.0/24')::cidr,
       ('08:00:2b:01:' || lpad(to_hex(g / 256), 2, '0') || ':' ||
        lpad(to_hex(g % 256), 2, '0'))::macaddr,
       jsonb_build_object('k', g), (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::mood
FROM generate_series(1, 3000) g;
INSERT INTO alltypes (i4) VALUES (NULL);

DO $$
DECLARE
    col text;
BEGIN
    FOREACH col IN ARRAY ARRAY['i2', 'i4', 'i8', 'o', 'b', 'c', 'n', 't', 'vc',
        'bp', 'ba', 'u', 'nu', 'f4', 'f8', 'd', 'ts', 'tz', 'tm', 'iv', 'ip',
        'ci', 'mac', 'j', 'e']
    LOOP
        EXECUTE format('CREATE INDEX alltypes_%s ON alltypes USING xhash (%I)',
                       col, col);
    END LOOP;
END
$$;

-- each index answers lookups exactly like a sequential scan
CREATE FUNCTION check_lookups(col text, probe text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    by_index bigint;
    by_seq bigint;
    plan text := '';
    line text;
BEGIN
    SET LOCAL enable_indexscan = on;
    SET LOCAL enable_seqscan = off;
    SET LOCAL enable_bitmapscan = off;
    FOR line IN EXECUTE format('EXPLAIN (COSTS OFF) SELECT count(*) FROM alltypes WHERE %I = %s',
                               col, probe)
    LOOP
        plan := plan || line;
    END LOOP;
    EXECUTE format('SELECT count(*) FROM alltypes WHERE %I = %s', col, probe)
        INTO by_index;
    SET LOCAL enable_seqscan = on;
    SET LOCAL enable_indexscan = off;
    EXECUTE format('SELECT count(*) FROM alltypes WHERE %I = %s', col, probe)
        INTO by_seq;
    RETURN format('%s: %s rows, %s', col, by_index,
                  CASE WHEN by_index = by_seq THEN 'same as seqscan'
                       ELSE 'MISMATCH ' || by_seq END) ||
           CASE WHEN plan LIKE '%Index Scan using alltypes_' || col || ' %' THEN ''
                ELSE ' (index not used)' END;
END
$$;

SELECT check_lookups(col, probe)
FROM (VALUES ('i2', '77::int2'), ('i4', '77'), ('i8', '77000000000::int8'),
             ('o', '77::oid'), ('b', 'true'), ('c', '''Z''::"char"'),
             ('n', '''n77''::name'), ('t', '''t77'''), ('vc', '''v77'''),
             ('bp', '''b77'''), ('ba', '''x77''::bytea'),
             ('u', 'md5(''77'')::uuid'), ('nu', '11'), ('f4', '19.25::float4'),
             ('f8', '9.625::float8'), ('d', 'date ''2020-03-18'''),
             ('ts', 'timestamp ''2020-01-01 01:17'''),
             ('tz', 'timestamptz ''2020-01-04 05:00+00'''),
             ('tm', 'time ''00:01:17'''), ('iv', 'interval ''77 days'''),
             ('ip', '''10.0.0.77''::inet'), ('ci', '''10.0.77.0/24''::cidr'),
             ('mac', '''08:00:2b:01:00:4d''::macaddr'),
             ('j', '''{"k": 77}''::jsonb'), ('e', '''happy''::mood'),
             ('t', '''no such key''')) AS p(col, probe);

-- cross-type equality within a family uses the index
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT i8 FROM alltypes WHERE i8 = 42::int4;
SELECT count(*) FROM alltypes WHERE i8 = 2000000000::int4;
SELECT count(*) FROM alltypes WHERE i2 = 77::int8;
SELECT count(*) FROM alltypes WHERE f8 = 9.625::float4;
SELECT count(*) FROM alltypes WHERE n = 'n77'::text;
-- IN lists through a bitmap scan
EXPLAIN (COSTS OFF) SELECT i4 FROM alltypes WHERE i4 IN (1, 2, 3, 4000);
SELECT i4 FROM alltypes WHERE i4 IN (1, 2, 3, 4000) ORDER BY i4;
-- NULL rows are indexed but never match "="
SELECT count(*) FROM alltypes WHERE i4 = NULL;
SELECT count(*) FROM alltypes WHERE i4 IS NULL;
RESET enable_seqscan;

-- multi-column: used only with "=" on every key column
CREATE TABLE mc (a int, b text, c int);
INSERT INTO mc SELECT g % 100, 'b' || (g % 37), g FROM generate_series(1, 5000) g;
INSERT INTO mc VALUES (NULL, 'b1', -1), (1, NULL, -2), (NULL, NULL, -3);
CREATE INDEX mc_ab ON mc USING xhash (a, b);
ANALYZE mc;
EXPLAIN (COSTS OFF) SELECT * FROM mc WHERE a = 5 AND b = 'b5';
SELECT count(*) FROM mc WHERE a = 5 AND b = 'b5';
-- only some columns: the planner never picks xhash by itself ...
EXPLAIN (COSTS OFF) SELECT * FROM mc WHERE b = 'b1';
-- ... and a forced scan still returns exactly the right rows (NULLs too)
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM mc WHERE b = 'b1';
SELECT count(*), sum(c) FROM mc WHERE b = 'b1';
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM mc WHERE a = 1;
SELECT count(*), sum(c) FROM mc WHERE a = 1;
-- a query that needs no column never gets an index-only scan on xhash
VACUUM mc;
EXPLAIN (COSTS OFF) SELECT count(*) FROM mc;
SELECT count(*) FROM mc;
RESET enable_bitmapscan;
RESET enable_seqscan;
SELECT count(*), sum(c) FROM mc WHERE b = 'b1';
SELECT count(*), sum(c) FROM mc WHERE a = 1;

-- 32 key columns is the limit
SELECT format('CREATE TABLE wide (%s)',
              string_agg(format('c%s int', g), ', ')) FROM generate_series(1, 33) g
\gexec
INSERT INTO wide SELECT g, g, g, g, g, g, g, g, g, g, g, g, g, g, g, g, g, g, g,
    g, g, g, g, g, g, g, g, g, g, g, g, g, g FROM generate_series(1, 100) g;
SELECT format('CREATE INDEX wide32 ON wide USING xhash (%s)',
              string_agg(format('c%s', g), ', ')) FROM generate_series(1, 32) g
\gexec
SELECT format('CREATE INDEX wide33 ON wide USING xhash (%s)',
              string_agg(format('c%s', g), ', ')) FROM generate_series(1, 33) g
\gexec
SET enable_seqscan = off;
SELECT format('SELECT c33 FROM wide WHERE %s',
              string_agg(format('c%s = 42', g), ' AND ')) FROM generate_series(1, 32) g
\gexec
RESET enable_seqscan;

-- partial and expression indexes
CREATE TABLE pe (id int, email text, active bool);
INSERT INTO pe SELECT g, 'User' || g || '@Example.com', g % 3 <> 0
FROM generate_series(1, 3000) g;
CREATE INDEX pe_lower ON pe USING xhash (lower(email));
CREATE INDEX pe_active ON pe USING xhash (id) WHERE active;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM pe WHERE lower(email) = 'user42@example.com';
SELECT id FROM pe WHERE lower(email) = 'user42@example.com';
EXPLAIN (COSTS OFF) SELECT id FROM pe WHERE id = 7 AND active;
SELECT id FROM pe WHERE id = 7 AND active;
SELECT id FROM pe WHERE id = 9 AND active;
RESET enable_seqscan;

-- nondeterministic ICU collation: equal strings hash equal
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE coll (s text COLLATE ci);
INSERT INTO coll SELECT 'Name' || g FROM generate_series(1, 2000) g;
CREATE INDEX coll_s ON coll USING xhash (s);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT s FROM coll WHERE s = 'NAME42';
SELECT s FROM coll WHERE s = 'NAME42';
SELECT s FROM coll WHERE s = 'name1999';
RESET enable_seqscan;

-- UNLOGGED tables and temporary tables
CREATE UNLOGGED TABLE ul (k int);
INSERT INTO ul SELECT generate_series(1, 1000);
CREATE INDEX ul_k ON ul USING xhash (k);
CREATE TEMP TABLE tmp (k int);
INSERT INTO tmp SELECT generate_series(1, 1000);
CREATE INDEX tmp_k ON tmp USING xhash (k);
SET enable_seqscan = off;
SELECT k FROM ul WHERE k = 500;
SELECT k FROM tmp WHERE k = 500;
RESET enable_seqscan;

-- reloptions
CREATE INDEX mc_ff ON mc USING xhash (c) WITH (fillfactor = 50);
CREATE INDEX mc_bad1 ON mc USING xhash (c) WITH (fillfactor = 5);
CREATE INDEX mc_bad2 ON mc USING xhash (c) WITH (debug_hash_bits = 0);
CREATE INDEX mc_bad3 ON mc USING xhash (c) WITH (nosuchoption = 1);
-- what xhash cannot do
CREATE INDEX mc_incl ON mc USING xhash (a) INCLUDE (b);
CREATE INDEX mc_desc ON mc USING xhash (a DESC);
CREATE INDEX pt_arr ON mc USING xhash ((ARRAY[a]));

-- every index is healthy
SELECT c.relname, v.*
FROM pg_class c
JOIN pg_am am ON am.oid = c.relam AND am.amname = 'xhash',
     LATERAL xhash.xhash_verify(c.oid) v
WHERE c.relpersistence <> 't';

--
-- denorm_advisor: check_normalization(), the normal-form checker.
-- Small deterministic tables with planted violations and decoys; the
-- checker must report exactly the planted ones.
--
CREATE EXTENSION denorm_advisor;
\set SHOW_CONTEXT never
CREATE SCHEMA nf;

-- 3NF: zip -> city exactly, zip -> region approximately (2 typos);
-- decoys: name is unique (a candidate key, nothing else), note is free text
-- with commas, fax is NULL-heavy, and six rows without a zip have cities
-- that disagree (rows with a NULL determinant are not evidence)
CREATE TABLE nf.customers (
    id int PRIMARY KEY,
    name text NOT NULL,
    zip text,
    city text,
    region text,
    note text,
    fax text
);
INSERT INTO nf.customers
SELECT i, 'Customer ' || i,
       CASE WHEN i % 37 = 5 THEN NULL ELSE lpad((10000 + i % 20)::text, 5, '0') END,
       'City ' || (i % 20) % 7,
       CASE WHEN i IN (41, 77) THEN 'Nort' ELSE (ARRAY['North', 'South', 'East', 'West'])[1 + (i % 20) % 4] END,
       'Called on day ' || i % 3 || ', asked about invoice ' || i % 3 || ', will call back',
       CASE WHEN i % 10 = 3 THEN '555-' || i END
FROM generate_series(1, 200) AS i;

-- 2NF: key (order_id, product_id); product_name depends on product_id and
-- order_date on order_id; qty depends on the whole key
CREATE TABLE nf.order_lines (
    order_id int,
    product_id int,
    qty int NOT NULL,
    product_name text NOT NULL,
    order_date date NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
INSERT INTO nf.order_lines
SELECT o, (o * 7 + l * 3) % 25 + 1, (o + l) % 4 + 1,
       (ARRAY['Lamp', 'Chair', 'Mug', 'Desk', 'Pen'])[((o * 7 + l * 3) % 25 + 1) % 5 + 1],
       date '2024-01-01' + o / 3
FROM generate_series(1, 60) AS o, generate_series(0, 3) AS l;

-- 2NF with a two-column determinant: key (school, year, student); the
-- headmaster depends on (school, year), on neither alone
CREATE TABLE nf.grades (
    school int,
    year int,
    student int,
    grade int NOT NULL,
    headmaster text NOT NULL,
    PRIMARY KEY (school, year, student)
);
INSERT INTO nf.grades
SELECT s, y, st, (s + y + st) % 5, 'H' || (s * 7 + y) % 13
FROM generate_series(1, 4) AS s, generate_series(2020, 2024) AS y, generate_series(1, 10) AS st;

-- BCNF: key (student, course); each instructor teaches one course
CREATE TABLE nf.enrollments (
    student text,
    course text,
    instructor text NOT NULL,
    PRIMARY KEY (student, course)
);
INSERT INTO nf.enrollments
SELECT 'S' || s, 'C' || c, 'I' || (c + 3 * (s % 2))
FROM generate_series(1, 30) AS s, generate_series(0, 2) AS c;

-- copies of referenced columns: product_name is an exact copy of
-- products.name; unit_price a snapshot of products.price (1 row in 7 was
-- sold at a discount); customer_city_snapshot an exact copy named as a
-- snapshot.  customer_tier depends on the foreign key customer_id but is
-- no copy: it belongs in customers
CREATE TABLE nf.products (
    product_id int PRIMARY KEY,
    name text NOT NULL,
    price numeric(8,2) NOT NULL
);
INSERT INTO nf.products
SELECT p, 'Product ' || p, 5 + (p % 8) * 1.25 FROM generate_series(1, 20) AS p;
CREATE TABLE nf.order_items (
    id int PRIMARY KEY,
    order_id int NOT NULL,
    product_id int NOT NULL REFERENCES nf.products,
    qty int NOT NULL,
    product_name text,
    unit_price numeric(8,2)
);
INSERT INTO nf.order_items
SELECT i, (i + 2) / 3, p.product_id, i % 3 + 1, p.name,
       CASE WHEN i % 7 = 0 THEN round(p.price * 0.9, 2) ELSE p.price END
FROM generate_series(1, 300) AS i JOIN nf.products p ON p.product_id = i % 20 + 1;
CREATE TABLE nf.invoices (
    id int PRIMARY KEY,
    customer_id int NOT NULL REFERENCES nf.customers,
    customer_city_snapshot text,
    customer_tier text
);
INSERT INTO nf.invoices
SELECT i, i % 50 + 1, c.city, (ARRAY['gold', 'silver', 'bronze'])[1 + (i % 50 + 1) % 3]
FROM generate_series(1, 100) AS i JOIN nf.customers c ON c.id = i % 50 + 1;

-- 1NF: phone1..phone3 (a repeating group), tags (comma-separated lists),
-- skills (an array used as a set, with a GIN index); decoy: scores, arrays
-- of a fixed length (positions, not a set)
CREATE TABLE nf.contacts (
    id int PRIMARY KEY,
    name text NOT NULL,
    phone1 text,
    phone2 text,
    phone3 text,
    tags text,
    skills text[],
    scores int[]
);
INSERT INTO nf.contacts
SELECT i, 'Contact ' || i,
       '555-01' || lpad(i::text, 3, '0'),
       CASE WHEN i % 2 = 0 THEN '555-02' || lpad(i::text, 3, '0') END,
       CASE WHEN i % 5 = 0 THEN '555-03' || lpad(i::text, 3, '0') END,
       array_to_string((ARRAY['black', 'blue', 'gold', 'green', 'red', 'white'])[1 + i % 6 : 1 + i % 6 + i % 3], ','),
       (ARRAY['c', 'go', 'java', 'perl', 'python', 'rust', 'sql'])[1 + i % 7 : 1 + i % 7 + (i % 7) % 3],
       ARRAY[i % 11, (i + 3) % 11, 7]
FROM generate_series(1, 100) AS i;
CREATE INDEX contacts_skills_gin ON nf.contacts USING gin (skills);

-- decoys: session_id repeats only in pairs whose two rows disagree on
-- device; os follows device except on 1 row in 13 (7.7%, more than the 5%
-- an approximate dependency may miss)
CREATE TABLE nf.events (
    id int PRIMARY KEY,
    session_id int NOT NULL,
    device text NOT NULL,
    os text NOT NULL
);
INSERT INTO nf.events
SELECT i, (i + 1) / 2, CASE WHEN i % 2 = 0 THEN 'phone' ELSE 'desktop' END,
       CASE WHEN i % 13 = 0 THEN 'other' WHEN i % 2 = 0 THEN 'android' ELSE 'windows' END
FROM generate_series(1, 3000) AS i;

-- a partitioned table: checked as a whole, not per partition
CREATE TABLE nf.readings (
    id int PRIMARY KEY,
    sensor_id int NOT NULL,
    sensor_name text NOT NULL,
    value int NOT NULL
) PARTITION BY RANGE (id);
CREATE TABLE nf.readings_1 PARTITION OF nf.readings FOR VALUES FROM (1) TO (101);
CREATE TABLE nf.readings_2 PARTITION OF nf.readings FOR VALUES FROM (101) TO (1000);
INSERT INTO nf.readings
SELECT i, i % 10, 'sensor ' || i % 10, i * 7 % 23 FROM generate_series(1, 200) AS i;

-- identifiers that need quoting
CREATE TABLE nf."Zip Codes" (
    "Id" int PRIMARY KEY,
    "Zip Code" text NOT NULL,
    "City Name" text NOT NULL
);
INSERT INTO nf."Zip Codes"
SELECT i, 'Z' || i % 12, 'Town ' || i % 12 % 5 FROM generate_series(1, 120) AS i;

-- nothing to find: an empty table, and a table whose only column cannot
-- be compared (json has no equality)
CREATE TABLE nf.empty (id int PRIMARY KEY, a int, b int);
CREATE TABLE nf.docs (body json);
INSERT INTO nf.docs SELECT json_build_object('n', i % 3) FROM generate_series(1, 50) AS i;

-- not tables: rejected when named, ignored when scanning
CREATE VIEW nf.events_v AS SELECT * FROM nf.events;
CREATE MATERIALIZED VIEW nf.events_mv AS SELECT * FROM nf.events;
CREATE SEQUENCE nf.seq;
CREATE TEMP TABLE nf_tmp AS SELECT i AS id, i % 5 AS a, i % 5 * 2 AS b FROM generate_series(1, 100) AS i;

-- ---------------------------------------------------------------------
-- What the whole-database scan reports: exactly the planted findings
-- (other tables of the database are filtered out)
-- ---------------------------------------------------------------------
SELECT table_name, finding, normal_form, lhs, rhs, exact, g3, support, possibly_intentional
FROM denorm_advisor.check_normalization()
WHERE table_name::text LIKE 'nf.%' OR table_name = 'nf_tmp'::regclass;

-- the same as counts, so that a regression shows
SELECT finding, coalesce(normal_form, '-') AS normal_form, count(*),
       count(*) FILTER (WHERE exact) AS exact, count(*) FILTER (WHERE possibly_intentional) AS possibly_intentional
FROM denorm_advisor.check_normalization()
WHERE table_name::text LIKE 'nf.%'
GROUP BY 1, 2
ORDER BY 1, 2;

-- every finding with its detail, example and suggestion
\pset format unaligned
\pset tuples_only on
SELECT format(E'---- %s: %s %s %s -> %s\n%s\nexample: %s\n%s', table_name, finding,
              coalesce(normal_form, '-'), coalesce(lhs::text, '-'), coalesce(rhs::text, '-'),
              detail, coalesce(example, '-'), coalesce(suggestion, '-'))
FROM denorm_advisor.check_normalization()
WHERE table_name::text LIKE 'nf.%' AND finding <> 'candidate key';
\pset tuples_only off
\pset format aligned

-- ---------------------------------------------------------------------
-- The suggestions are runnable: applied (then rolled back), the view that
-- replaces each table shows the same rows, except (counted twice, as the
-- old and the new row) the 2 region typos fixed and the 6 customers without
-- a zip, whose city and region had nowhere to go (the suggestion warns),
-- and the 42 snapshot prices, which then show the current price
-- ---------------------------------------------------------------------
CREATE FUNCTION nf.apply_and_compare(tbl regclass, which text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_name text := tbl::text;  -- the table is renamed: compare by name
    v_sql text;
    v_diff bigint;
BEGIN
    EXECUTE format('CREATE TEMP TABLE before_apply AS SELECT * FROM %s', tbl);
    SELECT f.suggestion INTO STRICT v_sql
    FROM denorm_advisor.check_normalization(tbl) AS f
    WHERE f.finding || ' ' || coalesce(f.normal_form, '') || ' ' || f.rhs::text = which;
    EXECUTE v_sql;
    EXECUTE format('SELECT count(*) FROM ((TABLE before_apply EXCEPT ALL TABLE %1$s)'
                   ' UNION ALL (TABLE %1$s EXCEPT ALL TABLE before_apply)) AS d', v_name)
    INTO v_diff;
    DROP TABLE before_apply;
    RETURN format('%s: %s rows differ', which, v_diff);
END
$$;
BEGIN;
SELECT nf.apply_and_compare('nf.customers', 'functional dependency 3NF {city,region}');
ROLLBACK;
BEGIN;
SELECT nf.apply_and_compare('nf.order_lines', 'functional dependency 2NF {product_name}');
ROLLBACK;
BEGIN;
SELECT nf.apply_and_compare('nf.order_lines', 'functional dependency 2NF {order_date}');
ROLLBACK;
BEGIN;
SELECT nf.apply_and_compare('nf.grades', 'functional dependency 2NF {headmaster}');
ROLLBACK;
BEGIN;
SELECT nf.apply_and_compare('nf.enrollments', 'functional dependency BCNF {course}');
ROLLBACK;
BEGIN;
SELECT nf.apply_and_compare('nf.invoices', 'functional dependency 3NF {customer_tier}');
ROLLBACK;
BEGIN;
SELECT nf.apply_and_compare('nf.order_items', 'copied column  {unit_price}');
ROLLBACK;
BEGIN;
SELECT nf.apply_and_compare('nf.order_items', 'copied column 3NF {product_name}');
ROLLBACK;
BEGIN;
SELECT nf.apply_and_compare('nf.contacts', '1NF delimited list 1NF {tags}');
ROLLBACK;
BEGIN;
SELECT nf.apply_and_compare('nf.contacts', '1NF array as set 1NF {skills}');
ROLLBACK;
BEGIN;
SELECT nf.apply_and_compare('nf.contacts', '1NF repeating group 1NF {phone1,phone2,phone3}');
ROLLBACK;
BEGIN;
SELECT nf.apply_and_compare('nf."Zip Codes"', 'functional dependency 3NF {"City Name"}');
ROLLBACK;

-- ---------------------------------------------------------------------
-- Sampling
-- ---------------------------------------------------------------------
-- a sample of 100 of the 200 customers finds what the whole table shows
SELECT count(*) AS findings,
       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM denorm_advisor.check_normalization('nf.customers') AS w
                                          WHERE (w.finding, w.lhs, w.rhs, w.exact, w.g3, w.support, w.detail)
                                                IS NOT DISTINCT FROM
                                                (s.finding, s.lhs, s.rhs, s.exact, s.g3, s.support, s.detail))) AS different
FROM denorm_advisor.check_normalization('nf.customers', 100) AS s;
-- the trap: on a small sample almost every session_id occurs once, and a
-- row alone cannot contradict session_id -> device: g3 computed over all
-- sampled rows is small although every repeated session disagrees ...
SELECT sum(n) AS sampled_rows, count(*) AS sessions, count(*) FILTER (WHERE n > 1) AS repeated,
       count(*) FILTER (WHERE n > 1 AND top < n) AS disagreeing,
       round(1 - sum(top)::numeric / sum(n), 3) AS naive_g3
FROM (SELECT session_id, sum(c) AS n, max(c) AS top
      FROM (SELECT session_id, device, count(*) AS c
            FROM nf.events TABLESAMPLE BERNOULLI (3.3) REPEATABLE (0)
            GROUP BY session_id, device) AS g
      GROUP BY session_id) AS s;
-- ... the checker wants repeated values as evidence and measures errors
-- against them, and confirms on the full table: only the key is reported
-- (os, which departs from device on 7.7% of the rows, is dropped too)
SELECT finding, lhs, rhs FROM denorm_advisor.check_normalization('nf.events', 100);

-- ---------------------------------------------------------------------
-- Safety: ACCESS SHARE locks only, no temporary objects, the caller's
-- privileges
-- ---------------------------------------------------------------------
BEGIN;
SELECT count(*) FROM denorm_advisor.check_normalization('nf.order_items');
SELECT DISTINCT l.mode
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND c.relnamespace = 'nf'::regnamespace;
COMMIT;
SELECT count(*) AS temp_relations FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relname <> 'nf_tmp';
SELECT p.proname, p.prosecdef
FROM pg_proc p
WHERE p.pronamespace = 'denorm_advisor'::regnamespace
  AND (p.proname = 'check_normalization' OR p.proname LIKE '\_nf\_%')
  AND p.prosecdef;

-- an own temporary table and a partition can be named
SELECT finding, normal_form, lhs, rhs FROM denorm_advisor.check_normalization('nf_tmp');
SELECT finding, normal_form, lhs, rhs FROM denorm_advisor.check_normalization('nf.readings_1');
-- nothing to find
SELECT finding, lhs, support FROM denorm_advisor.check_normalization('nf.empty');
SELECT count(*) FROM denorm_advisor.check_normalization('nf.docs');

-- a role that can read nf.customers, two columns of nf.enrollments and
-- nf.bad, whose row security policy fails for it
CREATE FUNCTION nf.boom() RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'boom'; END $$;
CREATE TABLE nf.bad (id int PRIMARY KEY, a int);
INSERT INTO nf.bad VALUES (1, 1);
ALTER TABLE nf.bad ENABLE ROW LEVEL SECURITY;
CREATE POLICY bad_policy ON nf.bad USING (nf.boom());
CREATE ROLE regress_nf_reader;
GRANT USAGE ON SCHEMA nf, denorm_advisor TO regress_nf_reader;
GRANT SELECT ON nf.customers, nf.bad TO regress_nf_reader;
GRANT SELECT (course, instructor) ON nf.enrollments TO regress_nf_reader;
SET ROLE regress_nf_reader;
-- other tables are skipped silently; nf.bad with a warning
SELECT table_name, finding, normal_form, lhs, rhs
FROM denorm_advisor.check_normalization()
WHERE table_name::text LIKE 'nf.%';
-- named, they are errors
SELECT count(*) FROM denorm_advisor.check_normalization('nf.products');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM denorm_advisor.check_normalization('nf.bad');
RESET ROLE;
-- a schema without USAGE, the table given by OID (a name would not resolve)
CREATE SCHEMA nf_private;
CREATE TABLE nf_private.t (id int PRIMARY KEY);
GRANT SELECT ON nf_private.t TO regress_nf_reader;
SET ROLE regress_nf_reader;
SELECT count(*) FROM denorm_advisor.check_normalization((SELECT oid FROM pg_class WHERE relname = 't' AND relnamespace = 'nf_private'::regnamespace)::regclass);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- ---------------------------------------------------------------------
-- Errors
-- ---------------------------------------------------------------------
SELECT count(*) FROM denorm_advisor.check_normalization('nf.customers', 99);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM denorm_advisor.check_normalization('nf.customers', 1000001);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM denorm_advisor.check_normalization('nf.customers', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM denorm_advisor.check_normalization('nf.events_v');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM denorm_advisor.check_normalization('nf.events_mv');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM denorm_advisor.check_normalization('nf.seq');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM denorm_advisor.check_normalization('nf.events_pkey');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM denorm_advisor.check_normalization(0::oid::regclass);
\echo :LAST_ERROR_SQLSTATE

-- ---------------------------------------------------------------------
-- The time budget
-- ---------------------------------------------------------------------
SET denorm_advisor.time_budget = 1;
SELECT count(*) FROM denorm_advisor.check_normalization('nf.customers');
SET denorm_advisor.time_budget = '10min';
SELECT count(*) FROM denorm_advisor.check_normalization('nf.customers');
RESET denorm_advisor.time_budget;
-- an invalid budget is rejected (by the setting itself once the module is
-- loaded, else by the checker): both say invalid_parameter_value
DO $$
BEGIN
    PERFORM set_config('denorm_advisor.time_budget', 'soon', true);
    PERFORM count(*) FROM denorm_advisor.check_normalization('nf.customers');
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE NOTICE 'time budget "soon" rejected: SQLSTATE %', SQLSTATE;
END
$$;

-- ---------------------------------------------------------------------
-- Clean up
-- ---------------------------------------------------------------------
SET client_min_messages = warning;
DROP OWNED BY regress_nf_reader;
DROP ROLE regress_nf_reader;
DROP SCHEMA nf, nf_private CASCADE;
DROP TABLE nf_tmp;
DROP EXTENSION denorm_advisor;

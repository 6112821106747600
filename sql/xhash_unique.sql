--
-- xhash: UNIQUE indexes, exclusion constraints, and the limits PostgreSQL 15
-- puts on any non-btree unique index
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS xhash;
RESET client_min_messages;
CREATE SCHEMA xhash_unique;
SET search_path = xhash_unique, public;

CREATE TABLE u (id int, email text, note text);
CREATE UNIQUE INDEX u_email ON u USING xhash (email);
INSERT INTO u SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 5000) g;

-- the same error as btree: SQLSTATE 23505, message and detail
DO $$
DECLARE
    st text;
    msg text;
    det text;
    con text;
    tab text;
BEGIN
    INSERT INTO u VALUES (0, 'user42@example.com');
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
        det = PG_EXCEPTION_DETAIL, con = CONSTRAINT_NAME, tab = TABLE_NAME;
    RAISE NOTICE 'SQLSTATE % on table % constraint %: % (%)', st, tab, con, msg, det;
END
$$;
INSERT INTO u VALUES (0, 'user42@example.com'), (0, 'new@example.com');
SELECT count(*) FROM u WHERE email = 'new@example.com';
-- within one statement too
INSERT INTO u VALUES (0, 'twice@example.com'), (0, 'twice@example.com');
-- an UPDATE that creates a duplicate
UPDATE u SET email = 'user1@example.com' WHERE id = 2;
-- an UPDATE that keeps the key, and one that swaps to a free key
UPDATE u SET note = 'x' WHERE id = 3;
UPDATE u SET email = 'moved@example.com' WHERE id = 4;
INSERT INTO u VALUES (4, 'user4@example.com');
-- a deleted key can be reused in the same transaction
BEGIN;
DELETE FROM u WHERE id = 5;
INSERT INTO u VALUES (5, 'user5@example.com');
COMMIT;
-- a key whose inserting transaction aborted is free
BEGIN;
INSERT INTO u VALUES (-1, 'aborted@example.com');
ROLLBACK;
INSERT INTO u VALUES (-1, 'aborted@example.com');

-- the same behaviour as btree on the same data
CREATE TABLE ub (id int, email text);
CREATE UNIQUE INDEX ub_email ON ub USING btree (email);
INSERT INTO ub SELECT id, email FROM u;
INSERT INTO ub VALUES (0, 'user42@example.com');

-- NULLs: distinct by default ...
INSERT INTO u VALUES (100001, NULL), (100002, NULL);
-- ... not with NULLS NOT DISTINCT
CREATE TABLE un (a int, b int);
CREATE UNIQUE INDEX un_ab ON un USING xhash (a, b) NULLS NOT DISTINCT;
INSERT INTO un VALUES (1, NULL), (NULL, 1), (NULL, NULL);
INSERT INTO un VALUES (1, NULL);
INSERT INTO un VALUES (NULL, NULL);
INSERT INTO un VALUES (1, 1), (2, 1);
INSERT INTO un VALUES (2, 1);

-- CREATE UNIQUE INDEX over duplicates fails like btree's
CREATE TABLE dup (k text);
INSERT INTO dup SELECT 'k' || g FROM generate_series(1, 1000) g;
INSERT INTO dup VALUES ('k500');
CREATE UNIQUE INDEX dup_k ON dup USING xhash (k);
DELETE FROM dup WHERE ctid = (SELECT max(ctid) FROM dup);
CREATE UNIQUE INDEX dup_k ON dup USING xhash (k);
-- rows deleted before the build do not count
DROP INDEX dup_k;
INSERT INTO dup VALUES ('k7');
DELETE FROM dup WHERE ctid = (SELECT max(ctid) FROM dup);
CREATE UNIQUE INDEX dup_k ON dup USING xhash (k);
REINDEX INDEX dup_k;
INSERT INTO dup VALUES ('k7');

-- forced hash collisions: every key shares one of 4 hashes, so uniqueness
-- must be decided by comparing the real values
CREATE TABLE col (k text);
CREATE UNIQUE INDEX col_k ON col USING xhash (k) WITH (debug_hash_bits = 2);
INSERT INTO col SELECT 'c' || g FROM generate_series(1, 2000) g;
SELECT hash_bits, live_entries FROM xhash.xhash_stats('col_k');
INSERT INTO col VALUES ('c1999');
INSERT INTO col VALUES ('c2001');
SET enable_seqscan = off;
SELECT k FROM col WHERE k = 'c777';
SELECT count(*) FROM col WHERE k IN ('c1', 'c2', 'nope');
RESET enable_seqscan;
CREATE TABLE coldup (k text);
INSERT INTO coldup SELECT 'c' || g FROM generate_series(1, 300) g;
INSERT INTO coldup VALUES ('c300');
CREATE UNIQUE INDEX coldup_k ON coldup USING xhash (k) WITH (debug_hash_bits = 1);

-- multi-column and expression unique indexes
CREATE TABLE mu (a int, b text);
CREATE UNIQUE INDEX mu_ab ON mu USING xhash (a, b);
INSERT INTO mu SELECT g % 50, 'b' || (g / 50) FROM generate_series(1, 2500) g;
INSERT INTO mu VALUES (1, 'b1');
INSERT INTO mu VALUES (1, 'b1000');
CREATE UNIQUE INDEX u_lower ON u USING xhash (lower(email));
INSERT INTO u VALUES (0, 'USER43@EXAMPLE.COM');
-- partial unique index: only active rows must be unique
CREATE TABLE pu (k int, active bool);
CREATE UNIQUE INDEX pu_k ON pu USING xhash (k) WHERE active;
INSERT INTO pu VALUES (1, true), (1, false), (1, false);
INSERT INTO pu VALUES (1, true);

-- exclusion constraints: the form that also supports ON CONFLICT DO NOTHING
-- and DEFERRABLE
CREATE TABLE ex (a int, b text,
                 EXCLUDE USING xhash (a WITH =, b WITH =));
INSERT INTO ex VALUES (1, 'x'), (1, 'y'), (2, 'x');
INSERT INTO ex VALUES (1, 'x');
INSERT INTO ex VALUES (1, 'x') ON CONFLICT DO NOTHING;
INSERT INTO ex VALUES (1, 'z') ON CONFLICT DO NOTHING;
SELECT * FROM ex ORDER BY a, b;
CREATE TABLE exd (k int, EXCLUDE USING xhash (k WITH =) DEFERRABLE INITIALLY DEFERRED);
BEGIN;
INSERT INTO exd VALUES (1), (1);
DELETE FROM exd WHERE ctid = (SELECT max(ctid) FROM exd);
COMMIT;
BEGIN;
INSERT INTO exd VALUES (1);
COMMIT;
SELECT count(*) FROM exd;

-- PostgreSQL 15 limits on every non-btree unique index (docs give the
-- workarounds): ON CONFLICT on the table ...
INSERT INTO u VALUES (0, 'user1@example.com') ON CONFLICT DO NOTHING;
INSERT INTO u VALUES (0, 'user1@example.com') ON CONFLICT (email) DO NOTHING;
-- ... even when the arbiter is a btree index of the same table ...
CREATE TABLE both_idx (id int, k text);
CREATE UNIQUE INDEX both_id ON both_idx (id);
CREATE UNIQUE INDEX both_k ON both_idx USING xhash (k);
INSERT INTO both_idx VALUES (1, 'a') ON CONFLICT (id) DO NOTHING;
-- ... a UNIQUE or PRIMARY KEY constraint using it ...
ALTER TABLE u ADD CONSTRAINT u_email_key UNIQUE USING INDEX u_email;
ALTER TABLE u ADD CONSTRAINT u_email_pkey PRIMARY KEY USING INDEX u_email;
-- ... a foreign key referencing it ...
CREATE TABLE child (email text REFERENCES u (email));
-- ... and unique indexes on partitioned tables
CREATE TABLE parted (k int) PARTITION BY HASH (k);
CREATE UNIQUE INDEX parted_k ON parted USING xhash (k);
-- a non-unique xhash index on a partitioned table is fine
CREATE INDEX parted_k ON parted USING xhash (k);
CREATE TABLE parted_0 PARTITION OF parted FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO parted SELECT generate_series(1, 100);
SET enable_seqscan = off;
SELECT k FROM parted WHERE k = 42;
RESET enable_seqscan;

SELECT c.relname, v.*
FROM pg_class c
JOIN pg_am am ON am.oid = c.relam AND am.amname = 'xhash',
     LATERAL xhash.xhash_verify(c.oid) v
WHERE c.relkind = 'i';

--
-- hashshard: every user-facing error: bad arguments of the functions, tables
-- that cannot be distributed, invalid options of servers, user mappings and
-- foreign tables, unsupported statements, missing user mappings and
-- passwords, privileges.
--
-- Not here: a node without max_prepared_transactions (the setting is per
-- cluster, and the loopback nodes of this cluster allow prepared
-- transactions): the TAP tests cover it.
--
-- The nodes of this file are the databases hs_errors_node1..2 and the
-- servers enode1..2; everything is dropped at the end.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS hashshard;
RESET client_min_messages;
\set coord :DBNAME

--
-- no nodes at all: in a database of its own
--
CREATE DATABASE hs_errors_fresh;
\c hs_errors_fresh
SET client_min_messages = warning;
CREATE EXTENSION hashshard;
RESET client_min_messages;
CREATE TABLE lonely (id int PRIMARY KEY);
SELECT hashshard.create_distributed_table('lonely', 'id');
SELECT * FROM hashshard.nodes;
SELECT * FROM hashshard.recover_prepared();
SELECT * FROM hashshard.prepared_transactions();
\c :coord
DROP DATABASE hs_errors_fresh;

SELECT format('CREATE DATABASE %I', 'hs_errors_node' || g)
FROM generate_series(1, 2) g \gexec
DO $$
BEGIN
    FOR g IN 1..2 LOOP
        EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER hashshard OPTIONS (host %L, port %L, dbname %L)',
                       'enode' || g, split_part(current_setting('unix_socket_directories'), ',', 1),
                       current_setting('port'), 'hs_errors_node' || g);
        EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I', 'enode' || g);
    END LOOP;
END
$$;

CREATE SCHEMA hs_errors;
SET search_path = hs_errors, public;

--
-- options of the wrapper, its servers, user mappings and foreign tables
--
CREATE SERVER bad FOREIGN DATA WRAPPER hashshard OPTIONS (colour 'blue');
CREATE SERVER bad FOREIGN DATA WRAPPER hashshard OPTIONS (user 'alice');
CREATE SERVER bad FOREIGN DATA WRAPPER hashshard OPTIONS (password 'secret');
CREATE SERVER bad FOREIGN DATA WRAPPER hashshard OPTIONS (options '-c work_mem=1GB');
CREATE SERVER bad FOREIGN DATA WRAPPER hashshard OPTIONS (fetch_size '0');
CREATE SERVER bad FOREIGN DATA WRAPPER hashshard OPTIONS (fetch_size 'many');
CREATE SERVER bad FOREIGN DATA WRAPPER hashshard OPTIONS (batch_size '1000001');
CREATE SERVER bad FOREIGN DATA WRAPPER hashshard OPTIONS (batch_size '-1');
ALTER SERVER enode1 OPTIONS (ADD fetch_size '1.5');
-- valid ones
CREATE SERVER good FOREIGN DATA WRAPPER hashshard
    OPTIONS (host '/nonexistent', port '5432', dbname 'x', connect_timeout '5',
             sslmode 'disable', application_name 'app', fetch_size '500', batch_size '50');
CREATE USER MAPPING FOR CURRENT_USER SERVER good OPTIONS (host 'elsewhere');
CREATE USER MAPPING FOR CURRENT_USER SERVER good OPTIONS (dbname 'other');
CREATE USER MAPPING FOR CURRENT_USER SERVER good OPTIONS (user 'u', password 'pw-secret-1', sslpassword 'q');
-- an unreachable node: hashshard.nodes reports it, without the password
SELECT node, reachable, max_prepared_transactions,
       error LIKE '%/nonexistent/.s.PGSQL.5432%' AS names_socket,
       position('pw-secret' IN error) = 0 AS no_password
FROM hashshard.nodes WHERE node = 'good';
DROP SERVER good CASCADE;
ALTER FOREIGN DATA WRAPPER hashshard OPTIONS (ADD something 'x');
CREATE FOREIGN TABLE ft (a int) SERVER enode1 OPTIONS (schema 'x');
CREATE FOREIGN TABLE ft (a int) SERVER enode1 OPTIONS (schema_name 'x', table_name 'y', updatable 'false');
CREATE FOREIGN TABLE ft (a int) SERVER enode1 OPTIONS (schema_name 'x', table_name 'y');
DROP FOREIGN TABLE ft;

--
-- arguments of create_distributed_table
--
CREATE TABLE t (id int PRIMARY KEY, k text, v int);
SELECT hashshard.create_distributed_table('t', 'id', 3);
SELECT hashshard.create_distributed_table('t', 'id', 0);
SELECT hashshard.create_distributed_table('t', 'id', -4);
SELECT hashshard.create_distributed_table('t', 'id', 8192);
SELECT hashshard.create_distributed_table(NULL, 'id');
SELECT hashshard.create_distributed_table('t', NULL);
SELECT hashshard.create_distributed_table('t', 'id', 2, ARRAY['enode1', NULL]::name[]);
SELECT hashshard.create_distributed_table('t', 'id', 2, '{enode1,nosuchnode}');
SELECT hashshard.create_distributed_table('t', 'id', 2, '{}');
SELECT hashshard.create_distributed_table('t', 'nosuchcolumn', 2);
SELECT hashshard.create_distributed_table('t', 'ctid', 2);
SELECT hashshard.create_distributed_table('nosuchtable', 'id', 2);
-- a server of another wrapper is not a node
CREATE FOREIGN DATA WRAPPER other_fdw;
CREATE SERVER other FOREIGN DATA WRAPPER other_fdw;
SELECT hashshard.create_distributed_table('t', 'id', 2, '{other}');
DROP FOREIGN DATA WRAPPER other_fdw CASCADE;
-- a key type without hash operator class
CREATE TABLE pts (p point, id int);
SELECT hashshard.create_distributed_table('pts', 'p', 2);
-- the shard key is a generated column
CREATE TABLE gen (a int, b int GENERATED ALWAYS AS (a * 2) STORED);
SELECT hashshard.create_distributed_table('gen', 'b', 2);
-- already distributed (the error says so, not that a shard name is taken)
SELECT hashshard.create_distributed_table('t', 'id', 2);
SELECT hashshard.create_distributed_table('t', 'id', 2);
SELECT hashshard.create_distributed_table('t_0', 'id', 2);
-- a shard name that is taken, or too long
CREATE TABLE taken (id int);
CREATE TABLE taken_1 (x int);
SELECT hashshard.create_distributed_table('taken', 'id', 2);
CREATE TABLE a_table_name_that_is_long_enough_to_make_shard_names_too_long (id int);
SELECT hashshard.create_distributed_table('a_table_name_that_is_long_enough_to_make_shard_names_too_long', 'id', 16);

--
-- tables that cannot be distributed
--
CREATE TEMP TABLE tmp (id int);
SELECT hashshard.create_distributed_table('tmp', 'id', 2);
CREATE UNLOGGED TABLE unl (id int);
SELECT hashshard.create_distributed_table('unl', 'id', 2);
CREATE VIEW vw AS SELECT 1 AS id;
SELECT hashshard.create_distributed_table('vw', 'id', 2);
CREATE TABLE parted (id int) PARTITION BY HASH (id);
CREATE TABLE parted_p PARTITION OF parted FOR VALUES WITH (MODULUS 1, REMAINDER 0);
SELECT hashshard.create_distributed_table('parted', 'id', 2);
SELECT hashshard.create_distributed_table('parted_p', 'id', 2);
CREATE TABLE parent (id int);
CREATE TABLE child () INHERITS (parent);
SELECT hashshard.create_distributed_table('parent', 'id', 2);
SELECT hashshard.create_distributed_table('child', 'id', 2);
-- unique keys must include the shard key
CREATE TABLE uq (id int, email text UNIQUE);
SELECT hashshard.create_distributed_table('uq', 'id', 2);
CREATE TABLE uqi (id int PRIMARY KEY, email text);
CREATE UNIQUE INDEX uqi_email ON uqi (email);
SELECT hashshard.create_distributed_table('uqi', 'id', 2);
CREATE TABLE pk (id int, other int PRIMARY KEY);
SELECT hashshard.create_distributed_table('pk', 'id', 2);
-- foreign keys, either way, and exclusion constraints
CREATE TABLE referenced (id int PRIMARY KEY);
CREATE TABLE referencing (id int, ref int REFERENCES referenced);
SELECT hashshard.create_distributed_table('referencing', 'id', 2);
SELECT hashshard.create_distributed_table('referenced', 'id', 2);
CREATE TABLE excl (id int, EXCLUDE USING btree (id WITH =));
SELECT hashshard.create_distributed_table('excl', 'id', 2);
-- views and rules that depend on the table
CREATE TABLE viewed (id int);
CREATE VIEW viewed_v AS SELECT id FROM viewed;
SELECT hashshard.create_distributed_table('viewed', 'id', 2);
DROP VIEW viewed_v;
CREATE TABLE ruled (id int);
CREATE TABLE ruled_log (id int);
CREATE RULE ruled_r AS ON INSERT TO ruled DO ALSO INSERT INTO ruled_log VALUES (NEW.id);
-- (refused like views, with an error naming the rule: the rule must not
-- disappear)
DO $$
BEGIN
    PERFORM hashshard.create_distributed_table('ruled', 'id', 2);
    RAISE NOTICE 'distributed';
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'refused';
END
$$;
SELECT rulename FROM pg_rules WHERE tablename = 'ruled';
SELECT hashshard.drop_distributed_table(relid) FROM hashshard.distributed_tables
WHERE relid = 'ruled'::regclass;
-- triggers
CREATE TABLE trig (id int);
CREATE FUNCTION trig_f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER trig_t BEFORE INSERT ON trig FOR EACH ROW EXECUTE FUNCTION trig_f();
SELECT hashshard.create_distributed_table('trig', 'id', 2);
-- identity columns
CREATE TABLE ident (id int GENERATED ALWAYS AS IDENTITY, v int);
SELECT hashshard.create_distributed_table('ident', 'v', 2);
-- types that are not built in
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TABLE moods (id int, m mood);
SELECT hashshard.create_distributed_table('moods', 'id', 2);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TABLE doms (id posint);
SELECT hashshard.create_distributed_table('doms', 'id', 2);
-- row-level security
CREATE TABLE rls (id int);
ALTER TABLE rls ENABLE ROW LEVEL SECURITY;
SELECT hashshard.create_distributed_table('rls', 'id', 2);
-- nothing was left behind by the failures
SELECT relid FROM hashshard.distributed_tables ORDER BY relid::text;
SELECT relname FROM pg_class WHERE relname LIKE 'hs_new_%';

--
-- the other functions
--
SELECT hashshard.undistribute_table('uq');
SELECT hashshard.drop_distributed_table('uq');
SELECT hashshard.shard_sizes('uq');
SELECT hashshard.shard_for('uq', 1);
SELECT hashshard.undistribute_table(NULL);
SELECT hashshard.drop_distributed_table(NULL);
SELECT hashshard.shard_sizes(NULL);
SELECT hashshard.shard_for(NULL, 1);
-- shard_for: the key must have the shard key's type
SELECT hashshard.shard_for('t', 1::bigint);
SELECT hashshard.shard_for('t', '1'::text);
SELECT hashshard.shard_for('t', '1');
SELECT hashshard.shard_for('t', 1), hashshard.shard_for('t', NULL::int);

--
-- statements distributed tables do not support
--
INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2);
INSERT INTO t VALUES (1, 'a', 1) ON CONFLICT DO NOTHING;
INSERT INTO t VALUES (1, 'a', 1) ON CONFLICT (id) DO UPDATE SET v = excluded.v;
INSERT INTO t_0 VALUES (1, 'a', 1) ON CONFLICT DO NOTHING;
MERGE INTO t USING (VALUES (1)) s(id) ON t.id = s.id WHEN MATCHED THEN DELETE;
UPDATE t SET id = 3 WHERE id = 1;
BEGIN;
INSERT INTO t VALUES (3, 'c', 3);
PREPARE TRANSACTION 'hs_errors';
SELECT * FROM t ORDER BY id;
-- indexes: a unique one cannot be created on foreign partitions; others are
-- created on the coordinator only (documented: create them on the nodes)
CREATE UNIQUE INDEX t_id ON t (id);
CREATE INDEX t_k ON t (k);
DROP INDEX t_k;
-- a plain DROP TABLE forgets the metadata but leaves the shard tables
CREATE TABLE dropped (id int);
SELECT hashshard.create_distributed_table('dropped', 'id', 2);
DROP TABLE dropped;
SELECT count(*) FROM hashshard.shard_placements WHERE relid::text = 'dropped';
\c hs_errors_node1
SELECT relname FROM pg_class WHERE relnamespace = 'hs_errors'::regnamespace ORDER BY 1;
DROP TABLE hs_errors.dropped_0;
\c hs_errors_node2
DROP TABLE hs_errors.dropped_1;
\c :coord
SET search_path = hs_errors, public;

--
-- users: privileges, user mappings and passwords
--
CREATE ROLE hs_errors_user;
GRANT USAGE, CREATE ON SCHEMA hs_errors TO hs_errors_user;
CREATE TABLE owned (id int PRIMARY KEY);
ALTER TABLE owned OWNER TO hs_errors_user;
SET ROLE hs_errors_user;
-- no user mapping on the nodes for this role
SELECT hashshard.create_distributed_table('owned', 'id', 2);
SELECT node, reachable, error FROM hashshard.nodes ORDER BY node;
-- not the owner
SELECT hashshard.undistribute_table('t');
SELECT hashshard.drop_distributed_table('t');
-- no SELECT privilege
SELECT * FROM t;
SELECT * FROM hashshard.shard_sizes('t');
INSERT INTO t VALUES (10, 'x', 10);
-- recovery is for superusers unless granted
SELECT * FROM hashshard.recover_prepared();
SELECT * FROM hashshard.prepared_transactions();
-- the metadata is readable
SELECT table_name, shard, node FROM hashshard.shards WHERE table_name = 't'::regclass ORDER BY shard;
SELECT count(*) FROM hashshard.commit_records;
RESET ROLE;
GRANT SELECT, INSERT ON t TO hs_errors_user;
SET ROLE hs_errors_user;
-- with the privilege but without a user mapping
SELECT * FROM t ORDER BY id;
RESET ROLE;
-- a user mapping without a password: refused for a non-superuser
CREATE USER MAPPING FOR hs_errors_user SERVER enode1;
CREATE USER MAPPING FOR hs_errors_user SERVER enode2;
SET ROLE hs_errors_user;
SELECT * FROM t ORDER BY id;
INSERT INTO t VALUES (10, 'x', 10);
SELECT * FROM hashshard.shard_sizes('t');
SELECT node, reachable, error FROM hashshard.nodes ORDER BY node;
-- distributing a table writes hashshard's metadata: refused up front
SELECT hashshard.create_distributed_table('owned', 'id', 2);
RESET ROLE;
GRANT INSERT, DELETE ON hashshard.distributed_tables, hashshard.shard_placements TO hs_errors_user;
SET ROLE hs_errors_user;
-- creating shards needs USAGE on the nodes (terse: the context names a
-- temporary table)
\set VERBOSITY terse
SELECT hashshard.create_distributed_table('owned', 'id', 2);
\set VERBOSITY default
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER enode1, enode2 TO hs_errors_user;
SET ROLE hs_errors_user;
SELECT hashshard.create_distributed_table('owned', 'id', 2);
SELECT hashshard.create_distributed_table('taken', 'id', 2, '{enode1}');
SELECT relname FROM pg_class WHERE relname LIKE 'hs_new_%';
RESET ROLE;
-- with a password, but the node does not ask for it (trust authentication
-- in this cluster): refused too, and the password is never shown
ALTER USER MAPPING FOR hs_errors_user SERVER enode1 OPTIONS (ADD password 'secret-pw');
ALTER USER MAPPING FOR hs_errors_user SERVER enode2 OPTIONS (ADD password 'secret-pw');
SET ROLE hs_errors_user;
SELECT * FROM t ORDER BY id;
SELECT node, reachable, error FROM hashshard.nodes ORDER BY node;
RESET ROLE;
-- the superuser's mapping needs no password
SELECT * FROM t ORDER BY id;
SELECT id, hashshard.shard_for('t', id) FROM t ORDER BY id;
REVOKE ALL ON t FROM hs_errors_user;
REVOKE ALL ON FOREIGN SERVER enode1, enode2 FROM hs_errors_user;
DROP USER MAPPING FOR hs_errors_user SERVER enode1;
DROP USER MAPPING FOR hs_errors_user SERVER enode2;
DROP TABLE owned;
REVOKE ALL ON SCHEMA hs_errors FROM hs_errors_user;
REVOKE ALL ON hashshard.distributed_tables, hashshard.shard_placements FROM hs_errors_user;
DROP ROLE hs_errors_user;

--
-- clean up
--
SELECT hashshard.drop_distributed_table('t');
SELECT count(*) FROM hashshard.shard_placements WHERE remote_schema = 'hs_errors';
SELECT * FROM hashshard.prepared_transactions();
SET client_min_messages = warning;
DROP SCHEMA hs_errors CASCADE;
DROP SERVER enode1, enode2 CASCADE;
RESET client_min_messages;
SELECT format('DROP DATABASE %I WITH (FORCE)', 'hs_errors_node' || g)
FROM generate_series(1, 2) g \gexec

/* extensions/hashshard/hashshard--1.0.0.sql -- install script of hashshard */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION hashshard" to load this file. \quit

-- The schema "hashshard" is created by CREATE EXTENSION (control file).

/* ------------------------------------------------------------------------
 * The foreign-data wrapper: nodes are its foreign servers
 * ------------------------------------------------------------------------ */
CREATE FUNCTION hashshard.fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME', 'hashshard_fdw_handler'
LANGUAGE C STRICT;
COMMENT ON FUNCTION hashshard.fdw_handler() IS
'hashshard: handler of the hashshard foreign-data wrapper';

CREATE FUNCTION hashshard.fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME', 'hashshard_fdw_validator'
LANGUAGE C STRICT;
COMMENT ON FUNCTION hashshard.fdw_validator(text[], oid) IS
'hashshard: checks the options of hashshard servers, user mappings and foreign tables';

CREATE FOREIGN DATA WRAPPER hashshard
  HANDLER hashshard.fdw_handler
  VALIDATOR hashshard.fdw_validator;
COMMENT ON FOREIGN DATA WRAPPER hashshard IS
'hashshard: nodes holding the shards of distributed tables are servers of this wrapper';

/* ------------------------------------------------------------------------
 * Metadata (kept by pg_dump)
 * ------------------------------------------------------------------------ */
CREATE TABLE hashshard.distributed_tables (
	relid regclass PRIMARY KEY,
	shard_key name NOT NULL,
	shard_count int NOT NULL CHECK (shard_count > 0 AND shard_count & (shard_count - 1) = 0),
	local_ddl text[] NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hashshard.distributed_tables IS
'hashshard: one row per distributed table: its shard key, shard count and the constraint and index definitions the local table had';

CREATE TABLE hashshard.shard_placements (
	relid regclass NOT NULL REFERENCES hashshard.distributed_tables ON DELETE CASCADE,
	shard int NOT NULL,
	partition regclass NOT NULL,
	node name NOT NULL,
	remote_schema name NOT NULL,
	remote_table name NOT NULL,
	state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'moving')),
	PRIMARY KEY (relid, shard)
);
COMMENT ON TABLE hashshard.shard_placements IS
'hashshard: where each shard of each distributed table lives';

CREATE TABLE hashshard.commit_records (
	gid text PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hashshard.commit_records IS
'hashshard: the commit decision of each multi-node transaction (two-phase commit); recovery commits prepared transactions that have a record and deletes records once resolved';

SELECT pg_catalog.pg_extension_config_dump('hashshard.distributed_tables', '');
SELECT pg_catalog.pg_extension_config_dump('hashshard.shard_placements', '');
SELECT pg_catalog.pg_extension_config_dump('hashshard.commit_records', '');

/* ------------------------------------------------------------------------
 * Metadata follows DROP TABLE / DROP FOREIGN TABLE
 * ------------------------------------------------------------------------ */
CREATE FUNCTION hashshard.on_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
BEGIN
	-- a distributed table dropped with DROP TABLE: its shards stay on the nodes
	FOR r IN
		SELECT p.node, p.remote_schema, p.remote_table
		FROM hashshard.shard_placements p
		WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = p.partition)
		ORDER BY p.relid, p.shard
	LOOP
		RAISE WARNING 'shard table %.% on node "%" was not dropped',
			quote_ident(r.remote_schema), quote_ident(r.remote_table), r.node
			USING HINT = 'Drop it on the node, or use hashshard.drop_distributed_table() next time.';
	END LOOP;
	DELETE FROM hashshard.shard_placements p
		WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = p.partition);
	DELETE FROM hashshard.distributed_tables d
		WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = d.relid);
END;
$$;
COMMENT ON FUNCTION hashshard.on_sql_drop() IS
'hashshard: keeps the metadata in step with DROP TABLE of a distributed table or of one of its shards (warns that the shard tables stay on the nodes)';
REVOKE ALL ON FUNCTION hashshard.on_sql_drop() FROM PUBLIC;

CREATE EVENT TRIGGER hashshard_sql_drop ON sql_drop
	WHEN TAG IN ('DROP TABLE', 'DROP FOREIGN TABLE', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION hashshard.on_sql_drop();

/* ------------------------------------------------------------------------
 * Distributed tables
 * ------------------------------------------------------------------------ */
CREATE FUNCTION hashshard.create_distributed_table(
	tbl regclass, shard_key name, shard_count int DEFAULT 32,
	nodes name[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'hashshard_create_distributed_table'
LANGUAGE C;
COMMENT ON FUNCTION hashshard.create_distributed_table(regclass, name, int, name[]) IS
'hashshard: turns a local table into a hash-partitioned table whose shards live on the nodes; moves its rows and returns how many';

CREATE FUNCTION hashshard.undistribute_table(tbl regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'hashshard_undistribute_table'
LANGUAGE C STRICT;
COMMENT ON FUNCTION hashshard.undistribute_table(regclass) IS
'hashshard: brings the rows of a distributed table back into a local table of the same name and drops the shards; returns the number of rows';

CREATE FUNCTION hashshard.drop_distributed_table(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'hashshard_drop_distributed_table'
LANGUAGE C STRICT;
COMMENT ON FUNCTION hashshard.drop_distributed_table(regclass) IS
'hashshard: drops a distributed table and its shard tables on the nodes';

CREATE FUNCTION hashshard.shard_for(tbl regclass, key anyelement)
RETURNS int
AS 'MODULE_PATHNAME', 'hashshard_shard_for'
LANGUAGE C STABLE;
COMMENT ON FUNCTION hashshard.shard_for(regclass, anyelement) IS
'hashshard: the shard (partition remainder) that holds a shard key value';

CREATE FUNCTION hashshard.shard_sizes(tbl regclass,
	OUT shard int, OUT node name, OUT rows bigint, OUT bytes bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'hashshard_shard_sizes'
LANGUAGE C STRICT;
COMMENT ON FUNCTION hashshard.shard_sizes(regclass) IS
'hashshard: rows and bytes of every shard of a distributed table, fetched from the nodes';

/* ------------------------------------------------------------------------
 * Two-phase commit
 * ------------------------------------------------------------------------ */
CREATE FUNCTION hashshard.prepared_transactions(
	OUT node name, OUT gid text, OUT prepared timestamptz, OUT owner name,
	OUT database name, OUT has_commit_record bool, OUT local_xact_running bool)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'hashshard_prepared_transactions'
LANGUAGE C;
COMMENT ON FUNCTION hashshard.prepared_transactions() IS
'hashshard: the prepared transactions of this coordinator database on every node, with what recovery would do';

CREATE FUNCTION hashshard.recover_prepared(
	OUT node name, OUT gid text, OUT action text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'hashshard_recover_prepared'
LANGUAGE C;
COMMENT ON FUNCTION hashshard.recover_prepared() IS
'hashshard: resolves in-doubt transactions on every node: commits those with a commit record, rolls back those without one whose coordinator transaction ended';

/* ------------------------------------------------------------------------
 * Observability
 * ------------------------------------------------------------------------ */
CREATE FUNCTION hashshard.node_health(
	OUT node name, OUT host text, OUT port text, OUT dbname text,
	OUT reachable bool, OUT server_version text,
	OUT max_prepared_transactions int, OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'hashshard_node_health'
LANGUAGE C;
COMMENT ON FUNCTION hashshard.node_health() IS
'hashshard: connects to every node and reports whether it is reachable, its version and its max_prepared_transactions';

CREATE VIEW hashshard.nodes AS
	SELECT * FROM hashshard.node_health();
COMMENT ON VIEW hashshard.nodes IS
'hashshard: every node (server of the hashshard wrapper) with a health check';

CREATE VIEW hashshard.shards AS
	SELECT p.relid AS table_name, p.shard, d.shard_count AS modulus,
	       p.shard AS remainder, p.node, p.partition,
	       format('%I.%I', p.remote_schema, p.remote_table) AS remote_table,
	       p.state
	FROM hashshard.shard_placements p
	JOIN hashshard.distributed_tables d USING (relid);
COMMENT ON VIEW hashshard.shards IS
'hashshard: every shard: table, shard number, modulus and remainder, node, local partition, remote table and state';

REVOKE ALL ON hashshard.commit_records FROM PUBLIC;
GRANT SELECT ON hashshard.distributed_tables, hashshard.shard_placements,
	hashshard.shards, hashshard.nodes TO PUBLIC;
GRANT USAGE ON SCHEMA hashshard TO PUBLIC;
REVOKE ALL ON FUNCTION hashshard.recover_prepared() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashshard.prepared_transactions() FROM PUBLIC;

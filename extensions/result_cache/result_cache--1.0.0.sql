/* extensions/result_cache/result_cache--1.0.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION result_cache" to load this file. \quit

-- Tables whose SELECTs may be cached when result_cache.mode = 'tables'.
CREATE TABLE result_cache.tables (
	relid regclass PRIMARY KEY,
	enabled_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('result_cache.tables', '');
COMMENT ON TABLE result_cache.tables IS
'Tables, materialized views and partitioned tables whose SELECTs result_cache may cache when result_cache.mode = ''tables''; maintained by enable_table() and disable_table()';

CREATE FUNCTION result_cache.stats_row(
	OUT hits bigint,
	OUT hits_before_planning bigint,
	OUT misses bigint,
	OUT stores bigint,
	OUT bypasses bigint,
	OUT rejects bigint,
	OUT evictions bigint,
	OUT invalidations bigint,
	OUT entries bigint,
	OUT max_entries bigint,
	OUT memory_used bigint,
	OUT memory_limit bigint,
	OUT stats_reset timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'result_cache_stats'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION result_cache.stats_row() IS
'Counters of result_cache (the row behind the view result_cache.stats)';

CREATE VIEW result_cache.stats AS
	SELECT * FROM result_cache.stats_row();
COMMENT ON VIEW result_cache.stats IS
'result_cache counters: hits (and how many of them were served before planning), misses, stores, bypasses, rejects, evictions, invalidations, entries and memory in use';

CREATE FUNCTION result_cache.reason_counts(
	OUT kind text,
	OUT reason text,
	OUT count bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'result_cache_reasons'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION result_cache.reason_counts() IS
'Bypass and reject counters by reason (the rows behind the view result_cache.reasons)';

CREATE VIEW result_cache.reasons AS
	SELECT * FROM result_cache.reason_counts();
COMMENT ON VIEW result_cache.reasons IS
'Why SELECTs bypassed the cache (kind bypass) or were executed but not stored (kind reject), with counts';

CREATE FUNCTION result_cache.entries_raw(
	OUT dbid oid,
	OUT userid oid,
	OUT query text,
	OUT rows bigint,
	OUT bytes bigint,
	OUT hits bigint,
	OUT created timestamptz,
	OUT last_used timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'result_cache_entries'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION result_cache.entries_raw() IS
'The cached entries, by database and user OID (the rows behind the view result_cache.entries)';

CREATE VIEW result_cache.entries AS
	SELECT d.datname, r.rolname AS usename, e.query, e.rows, e.bytes,
		   e.hits, e.created, e.last_used
	FROM result_cache.entries_raw() AS e
	LEFT JOIN pg_catalog.pg_database AS d ON d.oid = e.dbid
	LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = e.userid;
COMMENT ON VIEW result_cache.entries IS
'The cached results: database, user, statement text (other users'' texts need pg_read_all_stats), rows, bytes, hits, created, last used';

CREATE FUNCTION result_cache.reset()
RETURNS void
AS 'MODULE_PATHNAME', 'result_cache_reset'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION result_cache.reset() IS
'Drops every cached result';

CREATE FUNCTION result_cache.reset_stats()
RETURNS void
AS 'MODULE_PATHNAME', 'result_cache_reset_stats'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION result_cache.reset_stats() IS
'Sets every result_cache counter back to zero';

CREATE FUNCTION result_cache.invalidate(rel regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'result_cache_invalidate'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION result_cache.invalidate(regclass) IS
'Invalidates every cached result that reads the relation';

CREATE FUNCTION result_cache.enable_table(rel regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	kind "char";
BEGIN
	PERFORM result_cache.invalidate(rel);
	SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = rel;
	IF kind NOT IN ('r', 'p', 'm') THEN
		RAISE EXCEPTION 'cannot enable caching for "%"', rel
			USING ERRCODE = 'wrong_object_type',
				  DETAIL = 'Only tables, partitioned tables and materialized views can be enabled.',
				  HINT = 'Views are cached when the tables they read are enabled.';
	END IF;
	INSERT INTO result_cache.tables (relid) VALUES (rel)
		ON CONFLICT (relid) DO NOTHING;
END;
$$;
COMMENT ON FUNCTION result_cache.enable_table(regclass) IS
'Lets result_cache cache SELECTs that read this table when result_cache.mode = ''tables'' (partitions of an enabled partitioned table are enabled too)';

CREATE FUNCTION result_cache.disable_table(rel regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM result_cache.invalidate(rel);
	DELETE FROM result_cache.tables WHERE relid = rel;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'caching is not enabled for "%"', rel
			USING ERRCODE = 'undefined_object',
				  HINT = 'See the table result_cache.tables for the enabled tables.';
	END IF;
END;
$$;
COMMENT ON FUNCTION result_cache.disable_table(regclass) IS
'Stops result_cache.mode = ''tables'' from caching SELECTs that read this table';

-- Statistics and entries concern the whole server: superusers and
-- pg_read_all_stats decide who sees them.
REVOKE ALL ON FUNCTION result_cache.reset() FROM PUBLIC;
REVOKE ALL ON FUNCTION result_cache.reset_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION result_cache.invalidate(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION result_cache.enable_table(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION result_cache.disable_table(regclass) FROM PUBLIC;
GRANT SELECT ON result_cache.tables TO PUBLIC;

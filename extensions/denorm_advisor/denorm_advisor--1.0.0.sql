/* extensions/denorm_advisor/denorm_advisor--1.0.0.sql -- install script of denorm_advisor */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION denorm_advisor" to load this file. \quit

-- The schema "denorm_advisor" is created by CREATE EXTENSION (control file).
--
-- Layout of this script:
--   1. C functions (parse, analyse, what-if cost; src/)
--   2. the workload: add_query, the pg_stat_statements reader, workload()
--   3. table_profile()
--   4. recommend(), explain(): candidates, write cost, greedy pick
--   5. ddl(), rollback_ddl(), verify()
--   6. schema_graph()
--   7. check_normalization()
--
-- Results are kept per role: the tables carry the owning role and row
-- level security shows each role its own rows only.  Every function runs
-- with the caller's privileges (no SECURITY DEFINER).

/* ------------------------------------------------------------------------
 * 1. C functions
 * ------------------------------------------------------------------------ */
CREATE FUNCTION denorm_advisor._statement(sql text,
    OUT command text, OUT cost float8, OUT est_rows float8, OUT width int,
    OUT written_table regclass, OUT written_columns text[],
    OUT read_tables regclass[])
RETURNS record
AS 'MODULE_PATHNAME', 'denorm_advisor_statement'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION denorm_advisor._statement(text) IS
'denorm_advisor (internal): command, generic-plan cost and rows, written table and columns, relations read of one workload statement';

CREATE FUNCTION denorm_advisor._fk_joins(sql text,
    OUT fk oid, OUT child regclass, OUT parent regclass, OUT join_type text,
    OUT parent_columns text[], OUT copyable boolean, OUT copy_reason text,
    OUT counter_sums text[], OUT counter_reason text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'denorm_advisor_fk_joins'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION denorm_advisor._fk_joins(text) IS
'denorm_advisor (internal): the joins of a SELECT along foreign keys, the parent columns it reads, and whether a copy or a counter could replace each';

CREATE FUNCTION denorm_advisor._whatif(sql text, kind text, fk oid,
    columns text[], name text,
    OUT cost_before float8, OUT cost_after float8, OUT rel_rows float8,
    OUT added_width int, OUT rewritten text, OUT definition text,
    OUT new_columns text[], OUT index_columns text[],
    OUT unique_columns text[], OUT reason text,
    OUT time_before float8, OUT time_after float8)
RETURNS record
AS 'MODULE_PATHNAME', 'denorm_advisor_whatif'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION denorm_advisor._whatif(text, text, oid, text[], text) IS
'denorm_advisor (internal): generic-plan cost of a SELECT before and after a candidate, planned against a hypothetical relation inside a rolled-back subtransaction, and the time-model costs (page costs scaled by the cache miss ratio, plus output_row_cost per result row)';

CREATE FUNCTION denorm_advisor._loaded()
RETURNS boolean
AS 'MODULE_PATHNAME', 'denorm_advisor_loaded'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION denorm_advisor._loaded() IS
'denorm_advisor (internal): loads the library (and so defines the denorm_advisor.* settings); returns true';

CREATE FUNCTION denorm_advisor.collector_active()
RETURNS boolean
AS 'MODULE_PATHNAME', 'denorm_advisor_collector_active'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION denorm_advisor.collector_active() IS
'denorm_advisor: is the workload collector running (library in shared_preload_libraries)?';

CREATE FUNCTION denorm_advisor.collected(
    OUT dbid oid, OUT userid oid, OUT queryid bigint, OUT query text,
    OUT sampled_calls bigint, OUT calls_per_hour float8, OUT mean_time_ms float8,
    OUT mean_rows float8, OUT joins text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'denorm_advisor_collected'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION denorm_advisor.collected() IS
'denorm_advisor: the queries the collector sampled: calls (and calls per hour scaled by the sample rate), mean time and rows, and the joins of the executed plans; other roles'' texts need pg_read_all_stats';

CREATE FUNCTION denorm_advisor.collector_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'denorm_advisor_collector_reset'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION denorm_advisor.collector_reset() IS
'denorm_advisor: forget every collected query (superusers and roles granted EXECUTE)';
REVOKE EXECUTE ON FUNCTION denorm_advisor.collector_reset() FROM PUBLIC;

/* ------------------------------------------------------------------------
 * Result tables, one set of rows per role (row level security)
 * ------------------------------------------------------------------------ */
CREATE TABLE denorm_advisor.queries (
    id              bigserial PRIMARY KEY,
    owner           name NOT NULL DEFAULT current_user,
    query           text NOT NULL,
    calls_per_hour  float8 NOT NULL,
    mean_time_ms    float8,
    added_at        timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE denorm_advisor.queries IS
'denorm_advisor: statements added to the workload with add_query (each role sees its own)';

CREATE TABLE denorm_advisor.analysed_queries (
    owner           name NOT NULL DEFAULT current_user,
    query_id        text NOT NULL,
    query           text NOT NULL,
    source          text NOT NULL,
    calls_per_hour  float8 NOT NULL,
    mean_time_ms    float8,
    time_measured   boolean NOT NULL,
    command         text,
    plan_cost       float8,
    est_rows        float8,
    written_table   regclass,
    written_columns text[],
    read_tables     regclass[],
    note            text,
    PRIMARY KEY (owner, query_id)
);
COMMENT ON TABLE denorm_advisor.analysed_queries IS
'denorm_advisor: the workload as the last recommend() of each role analysed it';

CREATE TABLE denorm_advisor.candidates (
    owner           name NOT NULL DEFAULT current_user,
    id              int NOT NULL,
    kind            text NOT NULL,
    target          text NOT NULL,
    source          text NOT NULL,
    status          text NOT NULL,
    reason          text,
    read_ms_saved_per_hour   float8,
    write_ms_added_per_hour  float8,
    net_ms_per_hour float8,
    gain            float8,
    extra_bytes     bigint,
    confidence      text,
    details         jsonb NOT NULL,
    PRIMARY KEY (owner, id)
);
COMMENT ON TABLE denorm_advisor.candidates IS
'denorm_advisor: every candidate of the last recommend() of each role, kept or rejected, with what ddl() needs';

CREATE TABLE denorm_advisor.candidate_queries (
    owner           name NOT NULL DEFAULT current_user,
    candidate_id    int NOT NULL,
    query_id        text NOT NULL,
    columns         text[],
    cost_before     float8,
    cost_after      float8,
    time_before     float8,
    time_after      float8,
    rewritten       text,
    reason          text,
    PRIMARY KEY (owner, candidate_id, query_id)
);
COMMENT ON TABLE denorm_advisor.candidate_queries IS
'denorm_advisor: per candidate, each workload query it was costed for: generic-plan cost before and after, time-model cost before and after (their ratio is the predicted speedup), the rewritten query, or why it does not apply';

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['queries', 'analysed_queries', 'candidates', 'candidate_queries'] LOOP
        EXECUTE format('ALTER TABLE denorm_advisor.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY own_rows ON denorm_advisor.%I USING (owner = current_user) WITH CHECK (owner = current_user)', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON denorm_advisor.%I TO PUBLIC', t);
    END LOOP;
END
$$;
GRANT USAGE ON SCHEMA denorm_advisor TO PUBLIC;
GRANT USAGE ON SEQUENCE denorm_advisor.queries_id_seq TO PUBLIC;
-- the given workload survives pg_dump; the analysis results are recomputed
SELECT pg_catalog.pg_extension_config_dump('denorm_advisor.queries', '');
SELECT pg_catalog.pg_extension_config_dump('denorm_advisor.queries_id_seq', '');

/* ------------------------------------------------------------------------
 * 2. The workload
 * ------------------------------------------------------------------------ */
CREATE FUNCTION denorm_advisor.add_query(sql text, calls_per_hour float8,
                                         mean_time_ms float8 DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    IF sql IS NULL OR btrim(sql) = '' THEN
        RAISE EXCEPTION 'the statement must not be empty'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass one SELECT, INSERT, UPDATE, DELETE or MERGE statement; $1, $2 ... stand for parameters.';
    END IF;
    IF calls_per_hour IS NULL OR calls_per_hour < 0 OR calls_per_hour = 'Infinity' OR calls_per_hour = 'NaN' THEN
        RAISE EXCEPTION 'calls_per_hour must be a finite number >= 0, not %', coalesce(calls_per_hour::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give how many times an hour the application runs the statement.';
    END IF;
    IF mean_time_ms < 0 OR mean_time_ms = 'Infinity' OR mean_time_ms = 'NaN' THEN
        RAISE EXCEPTION 'mean_time_ms must be a finite number >= 0, not %', mean_time_ms
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the measured mean execution time, or NULL to estimate it from the plan cost.';
    END IF;
    -- refuse what cannot be analysed now, not at recommend() time
    PERFORM denorm_advisor._statement(sql);
    INSERT INTO denorm_advisor.queries (query, calls_per_hour, mean_time_ms)
    VALUES (sql, calls_per_hour, mean_time_ms)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION denorm_advisor.add_query(text, float8, float8) IS
'denorm_advisor: add a statement to the workload with its calls per hour (and measured mean time in ms, else estimated from its plan cost); returns its id (query id q<id>)';

CREATE FUNCTION denorm_advisor.clear_workload()
RETURNS bigint
LANGUAGE sql AS $$
    WITH d AS (DELETE FROM denorm_advisor.queries WHERE owner = current_user RETURNING 1)
    SELECT count(*) FROM d;
$$;
COMMENT ON FUNCTION denorm_advisor.clear_workload() IS
'denorm_advisor: remove the statements the calling role added with add_query; returns how many';

/*
 * _workload_raw: the statements to analyse, from add_query and, when the
 * extension is installed in this database, from pg_stat_statements (this
 * database, top-level statements whose text the caller may see; calls per
 * hour since its last reset).
 */
CREATE FUNCTION denorm_advisor._workload_raw(
    OUT query_id text, OUT query text, OUT source text,
    OUT calls_per_hour float8, OUT mean_time_ms float8)
RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE
    pss_schema name;
    hours float8;
BEGIN
    RETURN QUERY
        SELECT 'q' || q.id, q.query, 'add_query'::text, q.calls_per_hour, q.mean_time_ms
          FROM denorm_advisor.queries q
         WHERE q.owner = current_user
         ORDER BY q.id;

    SELECT n.nspname INTO pss_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_stat_statements';
    IF pss_schema IS NULL OR NOT current_setting('denorm_advisor.use_pg_stat_statements')::boolean THEN
        -- the collector, when it runs: this database, the caller's queries
        IF denorm_advisor.collector_active() THEN
            RETURN QUERY
                SELECT 'col:' || c.queryid, c.query, 'collector'::text, c.calls_per_hour, c.mean_time_ms
                  FROM denorm_advisor.collected() c
                 WHERE c.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND c.userid = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                   AND c.query !~* 'denorm_advisor|pg_catalog\.|pg_stat'
                 ORDER BY c.calls_per_hour * c.mean_time_ms DESC, c.queryid;
        END IF;
        RETURN;
    END IF;
    BEGIN
        EXECUTE format('SELECT greatest(extract(epoch FROM now() - stats_reset) / 3600, 1.0 / 60) FROM %I.pg_stat_statements_info', pss_schema)
            INTO hours;
        RETURN QUERY EXECUTE format($q$
            -- normalization turns a typed literal (interval '1 day') into
            -- "interval $3", which does not parse: make it a cast
            SELECT 'pss:' || s.queryid,
                   regexp_replace(s.query,
                       '\m(interval|date|time|timetz|timestamp|timestamptz|numeric|text|int2|int4|int8|bigint|integer|smallint|boolean|bool|float4|float8|real|double precision|timestamp with time zone|timestamp without time zone|time with time zone|time without time zone|jsonb|json|uuid|bytea|inet)\s+\$(\d+)',
                       '$\2::\1', 'gi'),
                   'pg_stat_statements'::text,
                   s.calls / $1, s.mean_exec_time
              FROM %I.pg_stat_statements s
             WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND s.toplevel AND s.calls > 0 AND s.queryid IS NOT NULL
               AND s.query !~* 'denorm_advisor|pg_catalog\.|pg_stat|^\s*(begin|commit|rollback|set|show|explain|analyze|vacuum|copy|create|alter|drop|grant|revoke|truncate|lock|prepare|execute|deallocate|discard|listen|notify|checkpoint|reset)\M'
             ORDER BY s.total_exec_time DESC, s.queryid$q$, pss_schema)
            USING hours;
    EXCEPTION WHEN undefined_table OR object_not_in_prerequisite_state OR insufficient_privilege THEN
        -- installed but not preloaded, or not readable: no such workload
        RETURN;
    END;
END
$$;
COMMENT ON FUNCTION denorm_advisor._workload_raw() IS
'denorm_advisor (internal): the statements of the workload, from add_query and pg_stat_statements';

/*
 * _analyse_workload: analyse every statement into analysed_queries.
 * A statement that does not parse (other database, dropped table) is kept
 * with its error as a note and takes no further part.
 */
CREATE FUNCTION denorm_advisor._analyse_workload()
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    w record;
    st record;
    denied text;
BEGIN
    PERFORM denorm_advisor._loaded();     -- the denorm_advisor.* settings
    DELETE FROM denorm_advisor.analysed_queries WHERE owner = current_user;
    FOR w IN SELECT * FROM denorm_advisor._workload_raw() LOOP
        BEGIN
            st := denorm_advisor._statement(w.query);
            -- the advisor reads what the caller may read, nothing else
            SELECT string_agg(DISTINCT t::text, ', ') INTO denied
              FROM unnest(st.read_tables) t
             WHERE st.command = 'SELECT' AND NOT has_table_privilege(t, 'SELECT');
            IF denied IS NOT NULL THEN
                RAISE EXCEPTION 'permission denied for table %', denied
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            INSERT INTO denorm_advisor.analysed_queries
                (query_id, query, source, calls_per_hour, mean_time_ms, time_measured,
                 command, plan_cost, est_rows, written_table, written_columns, read_tables)
            VALUES (w.query_id, w.query, w.source, w.calls_per_hour, w.mean_time_ms,
                    w.mean_time_ms IS NOT NULL, st.command, st.cost, st.est_rows,
                    st.written_table, st.written_columns, st.read_tables)
            ON CONFLICT DO NOTHING;
        EXCEPTION WHEN query_canceled THEN
            RAISE;
        WHEN OTHERS THEN
            INSERT INTO denorm_advisor.analysed_queries
                (query_id, query, source, calls_per_hour, mean_time_ms, time_measured, note)
            VALUES (w.query_id, w.query, w.source, w.calls_per_hour, w.mean_time_ms,
                    w.mean_time_ms IS NOT NULL, 'not analysed: ' || SQLERRM)
            ON CONFLICT DO NOTHING;
        END;
    END LOOP;

    -- statements without a measured time: plan cost times the ms per cost
    -- unit measured on the statements that have one (or the GUC)
    UPDATE denorm_advisor.analysed_queries a
       SET mean_time_ms = a.plan_cost * denorm_advisor._ms_per_cost()
     WHERE a.owner = current_user AND a.mean_time_ms IS NULL AND a.plan_cost IS NOT NULL;
END
$$;
COMMENT ON FUNCTION denorm_advisor._analyse_workload() IS
'denorm_advisor (internal): analyse the workload into analysed_queries (command, cost, written columns, relations read)';

CREATE FUNCTION denorm_advisor._ms_per_cost()
RETURNS float8
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY mean_time_ms / plan_cost)
           FROM denorm_advisor.analysed_queries
          WHERE owner = current_user AND time_measured AND command = 'SELECT'
            AND plan_cost > 0 AND mean_time_ms > 0),
        current_setting('denorm_advisor.ms_per_cost_unit')::float8);
$$;
COMMENT ON FUNCTION denorm_advisor._ms_per_cost() IS
'denorm_advisor (internal): milliseconds per planner cost unit: median over measured SELECTs of the workload, else denorm_advisor.ms_per_cost_unit';

CREATE FUNCTION denorm_advisor.workload()
RETURNS TABLE (query_id text, query text, source text, calls_per_hour float8,
               mean_time_ms float8, time_measured boolean, command text,
               plan_cost float8, fk_name name, child regclass, parent regclass,
               join_type text, parent_columns text[], written_table regclass,
               written_columns text[], note text)
LANGUAGE plpgsql AS $$
DECLARE
    a record;
    j record;
    found_join boolean;
BEGIN
    PERFORM denorm_advisor._analyse_workload();
    FOR a IN SELECT * FROM denorm_advisor.analysed_queries aq
              WHERE aq.owner = current_user ORDER BY aq.calls_per_hour * coalesce(aq.mean_time_ms, 0) DESC, aq.query_id LOOP
        found_join := false;
        IF a.command = 'SELECT' THEN
            FOR j IN SELECT f.*, c.conname FROM denorm_advisor._fk_joins(a.query) f
                       JOIN pg_constraint c ON c.oid = f.fk ORDER BY c.conname LOOP
                found_join := true;
                RETURN QUERY SELECT a.query_id, a.query, a.source, a.calls_per_hour, a.mean_time_ms,
                    a.time_measured, a.command, a.plan_cost, j.conname, j.child, j.parent, j.join_type,
                    j.parent_columns, a.written_table, a.written_columns, a.note;
            END LOOP;
        END IF;
        IF NOT found_join THEN
            RETURN QUERY SELECT a.query_id, a.query, a.source, a.calls_per_hour, a.mean_time_ms,
                a.time_measured, a.command, a.plan_cost, NULL::name, NULL::regclass, NULL::regclass,
                NULL::text, NULL::text[], a.written_table, a.written_columns, a.note;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION denorm_advisor.workload() IS
'denorm_advisor: the workload (add_query and pg_stat_statements), one row per statement and join along a foreign key, with the parent columns the statement reads, or the table and columns it writes';

/* ------------------------------------------------------------------------
 * 3. table_profile()
 * ------------------------------------------------------------------------ */
CREATE FUNCTION denorm_advisor._stats_hours()
RETURNS float8
LANGUAGE sql STABLE AS $$
    SELECT greatest(extract(epoch FROM now() - coalesce(
               (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()),
               pg_postmaster_start_time())) / 3600, 1.0 / 60);
$$;
COMMENT ON FUNCTION denorm_advisor._stats_hours() IS
'denorm_advisor (internal): hours the cumulative statistics of this database cover';

/* The share of the children held by the most referenced parent */
CREATE FUNCTION denorm_advisor._top_parent_share(fk oid)
RETURNS float8
LANGUAGE sql STABLE AS $$
    SELECT CASE
           WHEN s.most_common_freqs IS NOT NULL THEN s.most_common_freqs[1]::float8
           WHEN s.n_distinct > 0 THEN 1.0 / s.n_distinct
           WHEN s.n_distinct < 0 THEN 1.0 / greatest(-s.n_distinct * greatest(cl.reltuples, 1), 1)
           END
      FROM pg_constraint c
      JOIN pg_class cl ON cl.oid = c.conrelid
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
      JOIN pg_stats s ON s.schemaname = cl.relnamespace::regnamespace::name
                     AND s.tablename = cl.relname AND s.attname = a.attname
                     AND NOT s.inherited
     WHERE c.oid = fk;
$$;
COMMENT ON FUNCTION denorm_advisor._top_parent_share(oid) IS
'denorm_advisor (internal): share of the children of a foreign key that reference its most referenced parent (from pg_stats; NULL when not analysed)';

CREATE FUNCTION denorm_advisor._fk_indexed(fk oid)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_constraint c JOIN pg_index i ON i.indrelid = c.conrelid
         WHERE c.oid = fk AND i.indisvalid AND i.indpred IS NULL
           AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
           AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey);
$$;
COMMENT ON FUNCTION denorm_advisor._fk_indexed(oid) IS
'denorm_advisor (internal): does an index lead with the columns of the foreign key?';

CREATE FUNCTION denorm_advisor.table_profile()
RETURNS TABLE (table_name regclass, fk_name name, parent regclass, est_rows float8,
               total_bytes bigint, row_width int, reads_per_hour float8,
               writes_per_hour float8, fk_check_reads_per_hour float8,
               read_share float8, fanout float8, top_parent_share float8,
               fk_indexed boolean)
LANGUAGE sql STABLE AS $$
    WITH hours AS (SELECT denorm_advisor._stats_hours() AS h),
    tabs AS (
        SELECT c.oid, c.reltuples, c.relname, c.relnamespace
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'denorm_advisor')
           AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
           AND has_table_privilege(c.oid, 'SELECT')
    ),
    act AS (
        SELECT t.oid,
               (coalesce(s.seq_scan, 0) + coalesce(s.idx_scan, 0)) / h.h AS reads,
               (coalesce(s.n_tup_ins, 0) + coalesce(s.n_tup_upd, 0) + coalesce(s.n_tup_del, 0)) / h.h AS writes,
               (coalesce(s.n_tup_ins, 0) + coalesce(s.n_tup_upd, 0)) / h.h AS child_writes
          FROM tabs t CROSS JOIN hours h LEFT JOIN pg_stat_user_tables s ON s.relid = t.oid
    ),
    -- every insert or update of a child checks its parent with an index scan
    fkchecks AS (
        SELECT k.confrelid AS oid, sum(a.child_writes) AS checks
          FROM pg_constraint k JOIN act a ON a.oid = k.conrelid
         WHERE k.contype = 'f' GROUP BY k.confrelid
    ),
    widths AS (
        SELECT t.oid, sum(s.avg_width)::int AS width
          FROM tabs t JOIN pg_stats s ON s.schemaname = t.relnamespace::regnamespace::name
                                      AND s.tablename = t.relname AND NOT s.inherited
         GROUP BY t.oid
    ),
    base AS (
        SELECT t.oid::regclass AS table_name, t.reltuples::float8 AS est_rows,
               pg_total_relation_size(t.oid) AS total_bytes, w.width AS row_width,
               greatest(a.reads - coalesce(f.checks, 0), 0) AS reads_per_hour,
               a.writes AS writes_per_hour, coalesce(f.checks, 0) AS fk_check_reads_per_hour
          FROM tabs t JOIN act a ON a.oid = t.oid
          LEFT JOIN fkchecks f ON f.oid = t.oid LEFT JOIN widths w ON w.oid = t.oid
    )
    SELECT b.table_name, NULL::name, NULL::regclass, b.est_rows, b.total_bytes, b.row_width,
           b.reads_per_hour, b.writes_per_hour, b.fk_check_reads_per_hour,
           CASE WHEN b.reads_per_hour + b.writes_per_hour > 0
                THEN b.reads_per_hour / (b.reads_per_hour + b.writes_per_hour) END,
           NULL::float8, NULL::float8, NULL::boolean
      FROM base b
    UNION ALL
    SELECT b.table_name, k.conname, k.confrelid::regclass, b.est_rows, NULL, NULL, NULL, NULL, NULL, NULL,
           b.est_rows / greatest(p.reltuples, 1),
           denorm_advisor._top_parent_share(k.oid),
           denorm_advisor._fk_indexed(k.oid)
      FROM base b JOIN pg_constraint k ON k.conrelid = b.table_name AND k.contype = 'f'
      JOIN pg_class p ON p.oid = k.confrelid
    ORDER BY 1, 2 NULLS FIRST;
$$;
COMMENT ON FUNCTION denorm_advisor.table_profile() IS
'denorm_advisor: per readable table its size, row width and read/write rates per hour (reads corrected for foreign-key checks), and per foreign key its fan-out, hot-parent share and whether the child''s key is indexed';

/* ------------------------------------------------------------------------
 * 4. recommend() and explain()
 * ------------------------------------------------------------------------ */

/* Rows per hour the workload's write statements of kinds cmds write to
 * tbl, counting only those that set one of cols (NULL: any column) */
CREATE FUNCTION denorm_advisor._write_rows(tbl oid, cmds text[], cols text[])
RETURNS float8
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(a.calls_per_hour * greatest(coalesce(a.est_rows, 1), 1)), 0)
      FROM denorm_advisor.analysed_queries a
     WHERE a.owner = current_user AND a.written_table = tbl
       AND a.command = ANY (cmds)
       AND (cols IS NULL OR a.command <> 'UPDATE' OR a.written_columns && cols);
$$;
COMMENT ON FUNCTION denorm_advisor._write_rows(oid, text[], text[]) IS
'denorm_advisor (internal): rows per hour the workload''s statements of the given commands write to a table (UPDATEs only when they set one of the given columns)';

CREATE FUNCTION denorm_advisor._fk_columns(fk oid, OUT child_cols text[], OUT parent_cols text[],
                                           OUT on_update "char", OUT on_delete "char")
RETURNS record
LANGUAGE sql STABLE AS $$
    SELECT ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
           ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                   JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
           c.confupdtype, c.confdeltype
      FROM pg_constraint c WHERE c.oid = fk;
$$;
COMMENT ON FUNCTION denorm_advisor._fk_columns(oid) IS
'denorm_advisor (internal): the child and parent column names of a foreign key and its ON UPDATE / ON DELETE actions';

/*
 * _write_cost: the write-cost model of a candidate (docs: "Write cost").
 *   copy_column  parent rows updated in a copied column x fan-out x
 *                row_update_ms, plus child writes x trigger_ms (the FOR SHARE
 *                lookup), plus child inserts x trigger_ms / 2 for a new
 *                index on the child's key;
 *   counter      child inserts, deletes and key/summed-column updates x
 *                (row_update_ms + trigger_ms), plus the waits on the
 *                hottest parent row: its lock is busy
 *                u = writes/s x top share x lock_hold_ms, each write waits
 *                u/(1-u) x lock_hold_ms;
 *   matview      REFRESH (its plan cost in ms) every refresh interval when
 *                a table it reads is written.
 * utilization is u of the hottest parent row (counter, copy).
 */
CREATE FUNCTION denorm_advisor._write_cost(kind text, d jsonb,
    OUT write_ms float8, OUT utilization float8, OUT explanation text)
RETURNS record
LANGUAGE plpgsql STABLE AS $$
DECLARE
    fkc record;
    child oid := (d->>'child')::oid;
    parent oid := (d->>'parent')::oid;
    cols text[];
    fanout float8;
    share float8;
    hold float8 := current_setting('denorm_advisor.lock_hold_ms')::float8;
    row_ms float8 := current_setting('denorm_advisor.row_update_ms')::float8;
    trig_ms float8 := current_setting('denorm_advisor.trigger_ms')::float8;
    parent_rows float8;
    child_rows float8;
    child_ins float8;
    idx_ms float8 := 0;
    waits float8 := 0;
    tables regclass[];
    written float8;
    refresh_ms float8;
    interval_s int := extract(epoch FROM current_setting('denorm_advisor.matview_refresh_interval')::interval);
BEGIN
    IF kind = 'matview' THEN
        SELECT a.read_tables INTO tables FROM denorm_advisor.analysed_queries a
         WHERE a.owner = current_user AND a.query_id = d->>'query_id';
        SELECT coalesce(sum(denorm_advisor._write_rows(t, ARRAY['INSERT', 'UPDATE', 'DELETE', 'MERGE'], NULL)), 0)
          INTO written FROM unnest(tables) t;
        refresh_ms := (d->>'definition_cost')::float8 * denorm_advisor._ms_per_cost();
        IF written > 0 THEN
            write_ms := refresh_ms * 3600.0 / interval_s;
            explanation := format('REFRESH (~%s ms) every %s s, since its tables are written (%s rows/h); results are up to %s s stale',
                                  round(refresh_ms::numeric, 2), interval_s, round(written::numeric), interval_s);
        ELSE
            write_ms := 0;
            explanation := 'its tables are not written by the workload: refresh after bulk loads only';
        END IF;
        utilization := 0;
        RETURN;
    END IF;

    fkc := denorm_advisor._fk_columns((d->>'fk')::oid);
    SELECT greatest(reltuples, 1) INTO parent_rows FROM pg_class WHERE oid = parent;
    SELECT greatest(reltuples, 0) INTO child_rows FROM pg_class WHERE oid = child;
    fanout := child_rows / parent_rows;
    share := coalesce(denorm_advisor._top_parent_share((d->>'fk')::oid), 1.0 / parent_rows);

    IF kind = 'copy_column' THEN
        SELECT array_agg(x) INTO cols FROM jsonb_array_elements_text(d->'columns') x;
        written := denorm_advisor._write_rows(parent, ARRAY['UPDATE', 'MERGE'], cols || fkc.parent_cols);
        child_ins := denorm_advisor._write_rows(child, ARRAY['INSERT', 'MERGE'], NULL);
        child_rows := child_ins + denorm_advisor._write_rows(child, ARRAY['UPDATE'], fkc.child_cols);
        IF NOT denorm_advisor._fk_indexed((d->>'fk')::oid) THEN
            idx_ms := child_ins * trig_ms / 2;
        END IF;
        -- child writes hold the hottest parent FOR SHARE; parent updates wait
        utilization := CASE WHEN written > 0 THEN child_rows / 3600.0 * share * hold / 1000.0 ELSE 0 END;
        IF utilization < 1 AND written > 0 THEN
            waits := written / parent_rows * utilization / (1 - utilization) * hold;
        END IF;
        write_ms := written * fanout * row_ms + child_rows * trig_ms + idx_ms + waits;
        explanation := format('parent rows updated in a copied column: %s/h x fan-out %s x %s ms = %s ms/h; child writes: %s/h x %s ms = %s ms/h%s',
                              round(written::numeric, 1), round(fanout::numeric, 2), row_ms,
                              round((written * fanout * row_ms)::numeric, 1),
                              round(child_rows::numeric, 1), trig_ms, round((child_rows * trig_ms)::numeric, 1),
                              CASE WHEN idx_ms > 0 THEN format('; new index on %s(%s): %s ms/h', child::regclass,
                                   array_to_string(fkc.child_cols, ', '), round(idx_ms::numeric, 1)) ELSE '' END);
    ELSE
        SELECT array_agg(x) INTO cols FROM jsonb_array_elements_text(d->'sums') x;
        child_rows := denorm_advisor._write_rows(child, ARRAY['INSERT', 'DELETE', 'MERGE'], NULL)
                    + denorm_advisor._write_rows(child, ARRAY['UPDATE'], coalesce(cols, '{}') || fkc.child_cols);
        utilization := child_rows / 3600.0 * share * hold / 1000.0;
        IF utilization < 1 THEN
            waits := child_rows * share * utilization / (1 - utilization) * hold;
        END IF;
        write_ms := child_rows * (row_ms + trig_ms) + waits;
        explanation := format('child writes: %s/h x (%s + %s) ms = %s ms/h; hottest parent holds %s%% of the children: its row is locked %s%% of the time, waits %s ms/h',
                              round(child_rows::numeric, 1), row_ms, trig_ms,
                              round((child_rows * (row_ms + trig_ms))::numeric, 1),
                              round((share * 100)::numeric, 2), round((least(utilization, 1) * 100)::numeric, 2),
                              round(waits::numeric, 1));
    END IF;
END
$$;
COMMENT ON FUNCTION denorm_advisor._write_cost(text, jsonb) IS
'denorm_advisor (internal): write time per hour a candidate adds, the lock utilization of its hottest parent row, and how both were computed';

/*
 * _snapshot_copies: child columns that already hold (most of the time)
 * the value of a parent column a copy candidate would copy: an existing
 * snapshot (possibly intentional: an order's price at order time) or an
 * existing redundant copy.  Sampled on about 2000 child rows (BERNOULLI,
 * fixed seed).
 */
CREATE FUNCTION denorm_advisor._snapshot_copies(d jsonb)
RETURNS TABLE (child_column text, parent_column text, equal_share float8, sampled bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    fkc record := denorm_advisor._fk_columns((d->>'fk')::oid);
    pc text;
    cc record;
    joincond text;
    total bigint;
    same bigint;
BEGIN
    SELECT string_agg(format('p.%I = c.%I', p, c), ' AND ')
      INTO joincond FROM unnest(fkc.parent_cols, fkc.child_cols) AS k(p, c);
    FOR pc IN SELECT jsonb_array_elements_text(d->'columns') LOOP
        FOR cc IN
            SELECT a.attname::text AS name
              FROM pg_attribute a
             WHERE a.attrelid = (d->>'child')::oid AND a.attnum > 0 AND NOT a.attisdropped
               AND a.attname::text <> ALL (fkc.child_cols)
               AND a.atttypid = (SELECT atttypid FROM pg_attribute
                                  WHERE attrelid = (d->>'parent')::oid AND attname = pc)
             ORDER BY a.attnum
        LOOP
            -- about 2000 rows spread over the table, the same ones every run;
            -- rows whose parent value is NULL say nothing
            EXECUTE format('SELECT count(*), count(*) FILTER (WHERE c.%I = p.%I) FROM %s c TABLESAMPLE BERNOULLI (%s) REPEATABLE (42) JOIN %s p ON %s WHERE p.%I IS NOT NULL',
                           cc.name, pc, (d->>'child')::oid::regclass,
                           least(100, 200000.0 / greatest((SELECT reltuples FROM pg_class WHERE oid = (d->>'child')::oid), 1)),
                           (d->>'parent')::oid::regclass, joincond, pc)
               INTO total, same;
            IF total >= 20 AND same >= total * 0.5 THEN
                child_column := cc.name;
                parent_column := pc;
                equal_share := same::float8 / total;
                sampled := total;
                RETURN NEXT;
            END IF;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION denorm_advisor._snapshot_copies(jsonb) IS
'denorm_advisor (internal): child columns whose values mostly equal a parent column a copy candidate would copy (existing snapshot or redundant copy), on a sample of about 2000 rows';

CREATE FUNCTION denorm_advisor.recommend(budget_bytes bigint DEFAULT NULL,
                                         min_gain float8 DEFAULT 0.05)
RETURNS TABLE (id int, kind text, target text, source text, queries text[],
               cost_before float8[], cost_after float8[], speedup float8[], rewritten text[],
               read_ms_saved_per_hour float8, write_ms_added_per_hour float8,
               net_ms_per_hour float8, extra_bytes bigint, confidence text,
               reason text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    t0 timestamptz := clock_timestamp();
    budget_ms int;
    stopped boolean := false;
    a record;
    j record;
    c record;
    q record;
    r record;
    w_ms float8;
    w_util float8;
    w_expl text;
    snap record;
    n int := 0;
    cid int;
    d jsonb;
    mvname text;
    saved float8;
    affected_ms float8;
    nq int;
    nbetter int;
    all_measured boolean;
    xbytes float8;
    best jsonb := '{}';
    used bigint := 0;
    snapcache jsonb := '{}';
    snapcols text[];
    col text;
    cols text[];
    pass int;
    status_ text;
    reason_ text;
    conf text;
    fkc record;
BEGIN
    IF budget_bytes < 0 THEN
        RAISE EXCEPTION 'budget_bytes must be >= 0 or NULL, not %', budget_bytes
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'NULL means no storage budget.';
    END IF;
    IF min_gain IS NULL OR min_gain < 0 OR min_gain > 1 OR min_gain = 'NaN' THEN
        RAISE EXCEPTION 'min_gain must be between 0 and 1, not %', coalesce(min_gain::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'min_gain is the share of the affected queries'' time a candidate must save (0.05 = 5%).';
    END IF;

    PERFORM denorm_advisor._analyse_workload();
    budget_ms := extract(epoch FROM current_setting('denorm_advisor.time_budget')::interval) * 1000;
    DELETE FROM denorm_advisor.candidate_queries WHERE owner = current_user;
    DELETE FROM denorm_advisor.candidates WHERE owner = current_user;

    /* 1. candidates: one copy per foreign key, one counter per foreign
     *    key, one materialized view per query */
    FOR a IN SELECT * FROM denorm_advisor.analysed_queries
              WHERE owner = current_user AND command = 'SELECT' AND note IS NULL
              ORDER BY calls_per_hour * mean_time_ms DESC, query_id LOOP
        FOR j IN SELECT * FROM denorm_advisor._fk_joins(a.query) ORDER BY fk LOOP
            IF j.copyable THEN
                -- columns a child column already holds as a snapshot go to a
                -- candidate of their own, rejected below: the others stay
                snapcols := '{}';
                FOREACH col IN ARRAY j.parent_columns LOOP
                    IF NOT snapcache ? (j.fk || '.' || col) THEN
                        snapcache := snapcache || jsonb_build_object(j.fk || '.' || col,
                            EXISTS (SELECT 1 FROM denorm_advisor._snapshot_copies(jsonb_build_object(
                                        'fk', j.fk, 'child', j.child::oid, 'parent', j.parent::oid,
                                        'columns', jsonb_build_array(col)))));
                    END IF;
                    IF (snapcache->>(j.fk || '.' || col))::boolean THEN
                        snapcols := snapcols || col;
                    END IF;
                END LOOP;
                FOR snap IN SELECT x.is_snap FROM (VALUES (false), (true)) x(is_snap)
                             WHERE x.is_snap = (cardinality(snapcols) > 0)
                                OR (NOT x.is_snap AND cardinality(snapcols) < cardinality(j.parent_columns)) LOOP
                    SELECT cd.id INTO cid FROM denorm_advisor.candidates cd
                     WHERE cd.owner = current_user AND cd.kind = 'copy_column' AND (cd.details->>'fk')::oid = j.fk
                       AND (cd.details->>'snapshot')::boolean = snap.is_snap;
                    IF NOT FOUND THEN
                        n := n + 1;
                        cid := n;
                        INSERT INTO denorm_advisor.candidates (id, kind, target, source, status, details)
                        VALUES (cid, 'copy_column', '', '', 'pending',
                                jsonb_build_object('fk', j.fk, 'child', j.child::oid, 'parent', j.parent::oid,
                                                   'snapshot', snap.is_snap, 'columns', '[]'::jsonb));
                    END IF;
                    UPDATE denorm_advisor.candidates cd
                       SET details = jsonb_set(cd.details, '{columns}', to_jsonb(ARRAY(
                               SELECT DISTINCT x FROM (SELECT jsonb_array_elements_text(cd.details->'columns')
                                                       UNION
                                                       SELECT u FROM unnest(j.parent_columns) u
                                                        WHERE snap.is_snap OR u <> ALL (snapcols)) s(x)
                                ORDER BY x)))
                     WHERE cd.owner = current_user AND cd.id = cid;
                    INSERT INTO denorm_advisor.candidate_queries (candidate_id, query_id, columns)
                    VALUES (cid, a.query_id, j.parent_columns) ON CONFLICT DO NOTHING;
                END LOOP;
            END IF;
            IF j.counter_sums IS NOT NULL THEN
                SELECT cd.id INTO cid FROM denorm_advisor.candidates cd
                 WHERE cd.owner = current_user AND cd.kind = 'counter' AND (cd.details->>'fk')::oid = j.fk;
                IF NOT FOUND THEN
                    n := n + 1;
                    cid := n;
                    INSERT INTO denorm_advisor.candidates (id, kind, target, source, status, details)
                    VALUES (cid, 'counter', '', '', 'pending',
                            jsonb_build_object('fk', j.fk, 'child', j.child::oid, 'parent', j.parent::oid,
                                               'sums', to_jsonb(j.counter_sums)));
                ELSE
                    UPDATE denorm_advisor.candidates cd
                       SET details = jsonb_set(cd.details, '{sums}', to_jsonb(ARRAY(
                               SELECT DISTINCT x FROM (SELECT jsonb_array_elements_text(cd.details->'sums')
                                                       UNION SELECT unnest(j.counter_sums)) s(x) ORDER BY x)))
                     WHERE cd.owner = current_user AND cd.id = cid;
                END IF;
                INSERT INTO denorm_advisor.candidate_queries (candidate_id, query_id, columns)
                VALUES (cid, a.query_id, j.counter_sums) ON CONFLICT DO NOTHING;
            END IF;
        END LOOP;

        -- a materialized view for an aggregate, or for a join no copy can remove
        IF a.query ~* '\mgroup\s+by\M'
           OR (cardinality(a.read_tables) >= 2
               AND NOT EXISTS (SELECT 1 FROM denorm_advisor.candidate_queries cq
                                JOIN denorm_advisor.candidates cd ON cd.owner = cq.owner AND cd.id = cq.candidate_id
                               WHERE cq.owner = current_user AND cq.query_id = a.query_id
                                 AND cd.kind = 'copy_column')) THEN
            SELECT left(left(string_agg(DISTINCT cl.relname, '_' ORDER BY cl.relname), 30)
                   || '_' || regexp_replace(lower(a.query_id), '[^a-z0-9_]', '_', 'g'), 60) || '_mv'
              INTO mvname
              FROM unnest(a.read_tables) t JOIN pg_class cl ON cl.oid = t;
            n := n + 1;
            INSERT INTO denorm_advisor.candidates (id, kind, target, source, status, details)
            VALUES (n, 'matview', '', '', 'pending',
                    jsonb_build_object('query_id', a.query_id, 'name', mvname));
            INSERT INTO denorm_advisor.candidate_queries (candidate_id, query_id)
            VALUES (n, a.query_id);
        END IF;
    END LOOP;

    /* 2. what-if cost of every candidate for each of its queries; then
     *    a copy or counter keeps only the columns of the queries it makes
     *    faster (a slower query keeps its original text), and those queries
     *    are costed again with the smaller relation */
    <<costing>>
    FOR pass IN 1 .. 2 LOOP
        FOR c IN SELECT * FROM denorm_advisor.candidates cd WHERE cd.owner = current_user ORDER BY cd.id LOOP
            IF pass = 2 THEN
                SELECT ARRAY(SELECT DISTINCT x FROM unnest(cq.columns) x ORDER BY x)
                  INTO cols
                  FROM (SELECT array_agg(u) AS columns
                          FROM denorm_advisor.candidate_queries q2, unnest(q2.columns) u
                         WHERE q2.owner = current_user AND q2.candidate_id = c.id
                           AND q2.reason IS NULL AND q2.time_after < q2.time_before) cq;
                CONTINUE WHEN c.kind = 'matview' OR cols IS NULL OR cardinality(cols) = 0
                    OR cols @> ARRAY(SELECT jsonb_array_elements_text(coalesce(c.details->'columns', c.details->'sums')));
                UPDATE denorm_advisor.candidate_queries cq
                   SET reason = 'left out: the candidate does not make it faster'
                 WHERE cq.owner = current_user AND cq.candidate_id = c.id
                   AND (cq.reason IS NOT NULL OR NOT cq.time_after < cq.time_before);
                c.details := (c.details - 'new_columns')
                             || jsonb_build_object(CASE WHEN c.kind = 'counter' THEN 'sums' ELSE 'columns' END, to_jsonb(cols));
                UPDATE denorm_advisor.candidates cd SET details = c.details
                 WHERE cd.owner = current_user AND cd.id = c.id;
            END IF;
            FOR q IN SELECT cq.query_id, aq.query FROM denorm_advisor.candidate_queries cq
                       JOIN denorm_advisor.analysed_queries aq ON aq.owner = cq.owner AND aq.query_id = cq.query_id
                      WHERE cq.owner = current_user AND cq.candidate_id = c.id
                        AND (pass = 1 OR cq.reason IS NULL)
                      ORDER BY cq.query_id LOOP
                IF clock_timestamp() - t0 > budget_ms * interval '1 ms' THEN
                    stopped := true;
                    EXIT costing;
                END IF;
                r := denorm_advisor._whatif(q.query, c.kind, (c.details->>'fk')::oid,
                         ARRAY(SELECT jsonb_array_elements_text(coalesce(c.details->'columns', c.details->'sums'))),
                         c.details->>'name');
                UPDATE denorm_advisor.candidate_queries cq
                   SET cost_before = r.cost_before, cost_after = r.cost_after,
                       time_before = r.time_before, time_after = r.time_after,
                       rewritten = r.rewritten, reason = r.reason
                 WHERE cq.owner = current_user AND cq.candidate_id = c.id AND cq.query_id = q.query_id;
                IF r.reason IS NULL AND NOT (c.details ? 'new_columns') THEN
                    d := c.details || jsonb_build_object('new_columns', r.new_columns,
                             'index_columns', r.index_columns, 'unique_columns', r.unique_columns,
                             'rel_rows', r.rel_rows, 'added_width', r.added_width);
                    IF r.definition IS NOT NULL THEN
                        d := d || jsonb_build_object('definition', r.definition,
                                 'definition_cost', (denorm_advisor._statement(r.definition)).cost);
                    END IF;
                    UPDATE denorm_advisor.candidates cd SET details = d
                     WHERE cd.owner = current_user AND cd.id = c.id;
                    c.details := d;
                END IF;
            END LOOP;
        END LOOP;
    END LOOP;
    IF stopped THEN
        RAISE WARNING 'denorm_advisor.recommend stopped at the time budget (%): the result is partial', budget_ms || ' ms'
            USING HINT = 'Raise denorm_advisor.time_budget, or narrow the workload.';
        DELETE FROM denorm_advisor.candidate_queries cq
         WHERE cq.owner = current_user AND cq.cost_before IS NULL AND cq.reason IS NULL;
    END IF;

    /* 3. read gain, write cost, size and confidence of each candidate */
    FOR c IN SELECT * FROM denorm_advisor.candidates cd WHERE cd.owner = current_user ORDER BY cd.id LOOP
        -- only the queries the candidate makes cheaper count: the
        -- application keeps the original of the others
        SELECT coalesce(sum(aq.calls_per_hour * aq.mean_time_ms * (1 - cq.time_after / cq.time_before))
                            FILTER (WHERE cq.time_after < cq.time_before), 0),
               coalesce(sum(aq.calls_per_hour * aq.mean_time_ms) FILTER (WHERE cq.time_after < cq.time_before), 0),
               count(*), coalesce(bool_and(aq.time_measured), true),
               count(*) FILTER (WHERE cq.time_after < cq.time_before)
          INTO saved, affected_ms, nq, all_measured, nbetter
          FROM denorm_advisor.candidate_queries cq
          JOIN denorm_advisor.analysed_queries aq ON aq.owner = cq.owner AND aq.query_id = cq.query_id
         WHERE cq.owner = current_user AND cq.candidate_id = c.id
           AND cq.reason IS NULL AND cq.time_before > 0;

        d := c.details;
        status_ := 'pending';
        reason_ := NULL;
        IF nq = 0 THEN
            status_ := 'rejected';
            SELECT 'no query of the workload can use it: ' || string_agg(DISTINCT cq.reason, '; ')
              INTO reason_ FROM denorm_advisor.candidate_queries cq
             WHERE cq.owner = current_user AND cq.candidate_id = c.id;
            reason_ := coalesce(reason_, 'not costed: time budget exceeded');
            w_ms := NULL;
            w_util := NULL;
            w_expl := NULL;
        ELSE
            SELECT * INTO w_ms, w_util, w_expl FROM denorm_advisor._write_cost(c.kind, d);
        END IF;

        -- target, source, bytes
        IF c.kind = 'copy_column' THEN
            c.target := format('%s (%s)', (d->>'child')::oid::regclass,
                               array_to_string(ARRAY(SELECT jsonb_array_elements_text(coalesce(d->'new_columns', d->'columns'))), ', '));
            c.source := format('%s (%s) via %s', (d->>'parent')::oid::regclass,
                               array_to_string(ARRAY(SELECT jsonb_array_elements_text(d->'columns')), ', '),
                               (SELECT conname FROM pg_constraint WHERE oid = (d->>'fk')::oid));
            xbytes := coalesce((d->>'rel_rows')::float8 * ((d->>'added_width')::float8 + 1), 0)
                      + CASE WHEN denorm_advisor._fk_indexed((d->>'fk')::oid) THEN 0
                             ELSE coalesce((d->>'rel_rows')::float8, 0) * 24 END;
        ELSIF c.kind = 'counter' THEN
            c.target := format('%s (%s)', (d->>'parent')::oid::regclass,
                               array_to_string(ARRAY(SELECT jsonb_array_elements_text(d->'new_columns')), ', '));
            c.source := format('count(*)%s of %s via %s',
                               (SELECT string_agg(format(', sum(%s)', x), '') FROM jsonb_array_elements_text(d->'sums') x),
                               (d->>'child')::oid::regclass,
                               (SELECT conname FROM pg_constraint WHERE oid = (d->>'fk')::oid));
            xbytes := coalesce((d->>'rel_rows')::float8 * (d->>'added_width')::float8, 0);
        ELSE
            c.target := format('materialized view %s', d->>'name');
            c.source := format('query %s', d->>'query_id');
            xbytes := coalesce((d->>'rel_rows')::float8 * ((d->>'added_width')::float8 + 28) * 1.1
                               + (d->>'rel_rows')::float8 * 24 * (CASE WHEN jsonb_array_length(d->'unique_columns') > 0 THEN 1 ELSE 0 END
                                                                + CASE WHEN jsonb_array_length(d->'index_columns') > 0 THEN 1 ELSE 0 END), 0);
        END IF;

        conf := CASE WHEN all_measured THEN 'high' ELSE 'medium' END;
        IF EXISTS (SELECT 1 FROM pg_class WHERE oid IN ((d->>'child')::oid, (d->>'parent')::oid) AND reltuples < 0) THEN
            conf := 'low';
        END IF;

        IF status_ = 'pending' AND nbetter = 0 THEN
            status_ := 'rejected';
            reason_ := 'no gain: the rewritten queries would not be cheaper than the originals';
        END IF;
        IF status_ = 'pending' THEN
            IF c.kind = 'matview' AND w_ms > 0 THEN
                conf := 'low';
            END IF;
            IF c.kind IN ('copy_column', 'counter') AND w_util >= current_setting('denorm_advisor.hot_parent_limit')::float8 THEN
                status_ := 'rejected';
                reason_ := format('hot parent: the row of the most referenced parent would be locked %s%% of the time (limit %s%%); %s',
                                  round((least(w_util, 1) * 100)::numeric, 1),
                                  round((current_setting('denorm_advisor.hot_parent_limit')::float8 * 100)::numeric, 1),
                                  w_expl);
            ELSIF c.kind IN ('copy_column', 'counter') AND EXISTS (
                      SELECT 1 FROM pg_constraint k
                       WHERE k.oid = (d->>'fk')::oid
                         AND (NOT k.convalidated OR k.condeferrable OR k.conrelid = k.confrelid)) THEN
                status_ := 'rejected';
                reason_ := 'the foreign key is NOT VALID, DEFERRABLE or self-referencing: a child may lack its parent, get it only at commit, or be its own parent, and then the rewritten query or the triggers would differ from the join';
            ELSIF c.kind = 'counter' AND (denorm_advisor._fk_columns((d->>'fk')::oid)).on_update IN ('c', 'n', 'd') THEN
                status_ := 'rejected';
                reason_ := 'the foreign key changes the child''s key ON UPDATE (CASCADE, SET NULL or SET DEFAULT): a counter trigger cannot follow a parent''s key change';
            END IF;
        END IF;
        IF status_ = 'pending' AND c.kind = 'copy_column' AND (d->>'snapshot')::boolean THEN
            SELECT * INTO snap FROM denorm_advisor._snapshot_copies(d) s ORDER BY s.equal_share DESC LIMIT 1;
            IF FOUND THEN
                status_ := 'rejected';
                IF snap.equal_share >= 1 THEN
                    reason_ := format('existing copy: %s.%s already equals %s.%s on all %s sampled rows; rewrite the queries to read it instead of adding another copy',
                                      (d->>'child')::oid::regclass, snap.child_column,
                                      (d->>'parent')::oid::regclass, snap.parent_column, snap.sampled);
                ELSE
                    reason_ := format('possibly intentional copy: %s.%s equals %s.%s on %s%% of %s sampled rows, like a value kept as it was at write time (a snapshot); a copy kept current by triggers would be a second, different value',
                                      (d->>'child')::oid::regclass, snap.child_column,
                                      (d->>'parent')::oid::regclass, snap.parent_column,
                                      round((snap.equal_share * 100)::numeric, 1), snap.sampled);
                END IF;
            END IF;
        END IF;
        IF status_ = 'pending' AND saved - w_ms <= 0 THEN
            status_ := 'rejected';
            reason_ := format('write-hot: maintenance would cost %s ms/h against %s ms/h of reads saved; %s',
                              round(w_ms::numeric, 1), round(saved::numeric, 1), w_expl);
        END IF;
        IF status_ = 'pending' AND affected_ms > 0 AND saved / affected_ms < min_gain THEN
            status_ := 'rejected';
            reason_ := format('below min_gain: saves %s%% of the affected queries'' time (min_gain %s%%)',
                              round((saved / affected_ms * 100)::numeric, 1), round((min_gain * 100)::numeric, 1));
        END IF;

        UPDATE denorm_advisor.candidates cd
           SET target = c.target, source = c.source, status = status_, reason = reason_,
               read_ms_saved_per_hour = CASE WHEN nq > 0 THEN saved END,
               write_ms_added_per_hour = w_ms,
               net_ms_per_hour = CASE WHEN nq > 0 THEN saved - w_ms END,
               gain = CASE WHEN affected_ms > 0 THEN saved / affected_ms END,
               extra_bytes = xbytes::bigint, confidence = conf,
               details = d || jsonb_build_object('write_model', w_expl,
                                                 'hot_parent_utilization', w_util)
         WHERE cd.owner = current_user AND cd.id = c.id;
    END LOOP;

    /* 4. greedy pick: repeatedly the candidate with the best net benefit
     *    beyond what the picks so far save on the same queries (the
     *    application sends, per query, the best rewrite: savings of two
     *    candidates for one query do not add up), within the budget */
    LOOP
        SELECT cd.id, cd.extra_bytes, cd.write_ms_added_per_hour, m.saved, m.nq, m.affected, m.gains
          INTO c
          FROM denorm_advisor.candidates cd
          CROSS JOIN LATERAL (
              SELECT coalesce(sum(greatest(g.gain - coalesce((best->>g.query_id)::float8, 0), 0)), 0) AS saved,
                     coalesce(sum(g.read_ms), 0) AS affected,
                     count(*) AS nq,
                     jsonb_object_agg(g.query_id, g.gain) AS gains
                FROM (SELECT cq.query_id,
                             aq.calls_per_hour * aq.mean_time_ms * (1 - cq.time_after / cq.time_before) AS gain,
                             aq.calls_per_hour * aq.mean_time_ms AS read_ms
                        FROM denorm_advisor.candidate_queries cq
                        JOIN denorm_advisor.analysed_queries aq ON aq.owner = cq.owner AND aq.query_id = cq.query_id
                       WHERE cq.owner = cd.owner AND cq.candidate_id = cd.id
                         AND cq.reason IS NULL AND cq.time_before > 0
                         AND cq.time_after < cq.time_before) g) m
         WHERE cd.owner = current_user AND cd.status = 'pending'
           AND (budget_bytes IS NULL OR used + cd.extra_bytes <= budget_bytes)
           AND m.nq > 0 AND m.saved - cd.write_ms_added_per_hour > 0
           AND m.saved / greatest(m.affected, 1e-9) >= min_gain
           -- a copy and a counter on one foreign key deadlock (see ddl())
           AND NOT EXISTS (SELECT 1 FROM denorm_advisor.candidates o
                            WHERE o.owner = cd.owner AND o.status = 'recommended'
                              AND o.kind IN ('copy_column', 'counter') AND cd.kind IN ('copy_column', 'counter')
                              AND o.kind <> cd.kind AND o.details->>'fk' = cd.details->>'fk')
         ORDER BY m.saved - cd.write_ms_added_per_hour DESC, cd.id
         LIMIT 1;
        EXIT WHEN NOT FOUND;
        UPDATE denorm_advisor.candidates cd
           SET status = 'recommended',
               read_ms_saved_per_hour = c.saved,
               net_ms_per_hour = c.saved - cd.write_ms_added_per_hour,
               gain = c.saved / greatest(c.affected, 1e-9),
               reason = format('saves %s%% of the time of %s quer%s (%s ms/h); writes: %s',
                               round((c.saved / greatest(c.affected, 1e-9) * 100)::numeric, 1), c.nq,
                               CASE WHEN c.nq = 1 THEN 'y' ELSE 'ies' END,
                               round(c.saved::numeric, 1), cd.details->>'write_model')
         WHERE cd.owner = current_user AND cd.id = c.id;
        -- the best saving per query so far
        SELECT best || coalesce(jsonb_object_agg(k, greatest(v::float8, coalesce((best->>k)::float8, 0))), '{}')
          INTO best FROM jsonb_each_text(c.gains) e(k, v);
        used := used + c.extra_bytes;
    END LOOP;
    -- the candidates left: over the budget, or serving queries a pick serves
    UPDATE denorm_advisor.candidates cd
       SET status = 'rejected',
           reason = CASE
               WHEN EXISTS (SELECT 1 FROM denorm_advisor.candidates o
                             WHERE o.owner = cd.owner AND o.status = 'recommended'
                               AND o.kind IN ('copy_column', 'counter') AND cd.kind IN ('copy_column', 'counter')
                               AND o.kind <> cd.kind AND o.details->>'fk' = cd.details->>'fk')
               THEN format('conflicts: the recommended %s on the same foreign key (%s) would deadlock with it',
                           CASE WHEN cd.kind = 'counter' THEN 'copy' ELSE 'counter' END,
                           (SELECT string_agg(o.target, ', ') FROM denorm_advisor.candidates o
                             WHERE o.owner = cd.owner AND o.status = 'recommended'
                               AND o.kind <> cd.kind AND o.details->>'fk' = cd.details->>'fk'))
               WHEN budget_bytes IS NOT NULL AND used + cd.extra_bytes > budget_bytes
               THEN format('over budget: needs %s, %s of the %s budget left',
                           pg_size_pretty(cd.extra_bytes), pg_size_pretty(greatest(budget_bytes - used, 0)),
                           pg_size_pretty(budget_bytes))
               ELSE format('overlaps: a better recommendation for the same queries (%s',
                           (SELECT string_agg(DISTINCT o.target, ', ')
                              FROM denorm_advisor.candidates o
                              JOIN denorm_advisor.candidate_queries oq ON oq.owner = o.owner AND oq.candidate_id = o.id
                              JOIN denorm_advisor.candidate_queries mq ON mq.owner = cd.owner AND mq.candidate_id = cd.id
                                                                      AND mq.query_id = oq.query_id
                             WHERE o.owner = current_user AND o.status = 'recommended'
                               AND oq.reason IS NULL AND mq.reason IS NULL
                               AND oq.time_after < oq.time_before AND mq.time_after < mq.time_before)
                          || ' saves more on them than this candidate would add)')
               END
     WHERE cd.owner = current_user AND cd.status = 'pending';

    /* 5. final ids: recommendations by net benefit, then the rejected */
    -- the same deterministic order twice: children first, then parents
    UPDATE denorm_advisor.candidate_queries cq SET candidate_id = -m.new_id
      FROM (SELECT cd.id, row_number() OVER (ORDER BY cd.status = 'recommended' DESC,
                   cd.net_ms_per_hour DESC NULLS LAST, cd.kind, cd.target, cd.id) AS new_id
              FROM denorm_advisor.candidates cd WHERE cd.owner = current_user) m
     WHERE cq.owner = current_user AND cq.candidate_id = m.id;
    UPDATE denorm_advisor.candidates cd SET id = -m.new_id
      FROM (SELECT cd2.id, row_number() OVER (ORDER BY cd2.status = 'recommended' DESC,
                   cd2.net_ms_per_hour DESC NULLS LAST, cd2.kind, cd2.target, cd2.id) AS new_id
              FROM denorm_advisor.candidates cd2 WHERE cd2.owner = current_user) m
     WHERE cd.owner = current_user AND cd.id = m.id;
    UPDATE denorm_advisor.candidate_queries cq SET candidate_id = -cq.candidate_id WHERE cq.owner = current_user;
    UPDATE denorm_advisor.candidates cd SET id = -cd.id WHERE cd.owner = current_user;

    RETURN QUERY
    SELECT cd.id, cd.kind, cd.target, cd.source,
           ARRAY(SELECT cq.query_id FROM denorm_advisor.candidate_queries cq
                  WHERE cq.owner = cd.owner AND cq.candidate_id = cd.id AND cq.reason IS NULL AND cq.time_after < cq.time_before ORDER BY cq.query_id),
           ARRAY(SELECT cq.cost_before FROM denorm_advisor.candidate_queries cq
                  WHERE cq.owner = cd.owner AND cq.candidate_id = cd.id AND cq.reason IS NULL AND cq.time_after < cq.time_before ORDER BY cq.query_id),
           ARRAY(SELECT cq.cost_after FROM denorm_advisor.candidate_queries cq
                  WHERE cq.owner = cd.owner AND cq.candidate_id = cd.id AND cq.reason IS NULL AND cq.time_after < cq.time_before ORDER BY cq.query_id),
           ARRAY(SELECT cq.time_before / cq.time_after FROM denorm_advisor.candidate_queries cq
                  WHERE cq.owner = cd.owner AND cq.candidate_id = cd.id AND cq.reason IS NULL AND cq.time_after < cq.time_before ORDER BY cq.query_id),
           ARRAY(SELECT cq.rewritten FROM denorm_advisor.candidate_queries cq
                  WHERE cq.owner = cd.owner AND cq.candidate_id = cd.id AND cq.reason IS NULL AND cq.time_after < cq.time_before ORDER BY cq.query_id),
           cd.read_ms_saved_per_hour, cd.write_ms_added_per_hour, cd.net_ms_per_hour,
           cd.extra_bytes, cd.confidence, cd.reason
      FROM denorm_advisor.candidates cd
     WHERE cd.owner = current_user AND cd.status = 'recommended'
     ORDER BY cd.id;
END
$$;
COMMENT ON FUNCTION denorm_advisor.recommend(bigint, float8) IS
'denorm_advisor: ranked denormalizations (copy_column, counter, matview) whose read time saved beats their write cost, from what-if generic-plan costs; rejected candidates are kept for explain()';

/* A candidate of the caller's last recommend(), or a clear error */
CREATE FUNCTION denorm_advisor._candidate(candidate_id int)
RETURNS denorm_advisor.candidates
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c denorm_advisor.candidates;
BEGIN
    IF candidate_id IS NULL THEN
        RAISE EXCEPTION 'the candidate id must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Use an id from denorm_advisor.recommend() or denorm_advisor.candidates.';
    END IF;
    PERFORM denorm_advisor._loaded();     -- the denorm_advisor.* settings
    SELECT * INTO c FROM denorm_advisor.candidates cd
     WHERE cd.owner = current_user AND cd.id = candidate_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no candidate % in the last recommend() of role %', candidate_id, current_user
            USING ERRCODE = 'no_data_found',
                  HINT = 'Run denorm_advisor.recommend() first; ids are those of the last run (see denorm_advisor.candidates).';
    END IF;
    RETURN c;
END
$$;
COMMENT ON FUNCTION denorm_advisor._candidate(int) IS
'denorm_advisor (internal): a candidate of the calling role''s last recommend(), or an error naming what to run';

CREATE FUNCTION denorm_advisor.explain(id int)
RETURNS SETOF text
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    c denorm_advisor.candidates := denorm_advisor._candidate(id);
    q record;
BEGIN
    RETURN NEXT format('candidate %s: %s %s <- %s', c.id, c.kind, c.target, c.source);
    RETURN NEXT format('status: %s: %s', c.status, coalesce(c.reason, ''));
    IF c.read_ms_saved_per_hour IS NOT NULL THEN
        RETURN NEXT format('reads: saves %s ms/h, %s%% of the affected queries'' time',
                           round(c.read_ms_saved_per_hour::numeric, 1), round((coalesce(c.gain, 0) * 100)::numeric, 1));
        RETURN NEXT format('writes: adds %s ms/h: %s', round(coalesce(c.write_ms_added_per_hour, 0)::numeric, 1),
                           coalesce(c.details->>'write_model', ''));
        RETURN NEXT format('net: %s ms/h; extra storage: %s; confidence: %s',
                           round(c.net_ms_per_hour::numeric, 1), pg_size_pretty(c.extra_bytes), c.confidence);
    END IF;
    FOR q IN SELECT cq.*, aq.calls_per_hour, aq.mean_time_ms, aq.time_measured, aq.query
               FROM denorm_advisor.candidate_queries cq
               JOIN denorm_advisor.analysed_queries aq ON aq.owner = cq.owner AND aq.query_id = cq.query_id
              WHERE cq.owner = current_user AND cq.candidate_id = c.id ORDER BY cq.query_id LOOP
        IF q.reason IS NULL AND q.cost_before IS NOT NULL THEN
            RETURN NEXT format('query %s (%s calls/h, %s ms %s): plan cost %s -> %s, predicted speedup %sx',
                               q.query_id, round(q.calls_per_hour::numeric, 1), round(q.mean_time_ms::numeric, 3),
                               CASE WHEN q.time_measured THEN 'measured' ELSE 'estimated' END,
                               round(q.cost_before::numeric, 2), round(q.cost_after::numeric, 2),
                               round((q.time_before / greatest(q.time_after, 0.000001))::numeric, 2));
            RETURN NEXT '  ' || regexp_replace(q.query, '\s+', ' ', 'g');
            RETURN NEXT '  => ' || regexp_replace(q.rewritten, '\s+', ' ', 'g');
        ELSE
            RETURN NEXT format('query %s: does not apply: %s', q.query_id, coalesce(q.reason, 'not costed (time budget)'));
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION denorm_advisor.explain(int) IS
'denorm_advisor: why a candidate of the last recommend() was kept or rejected: gain, write model, size, and per query the costs before and after and the rewritten query';

/* ------------------------------------------------------------------------
 * 5. ddl(), rollback_ddl(), verify()
 * ------------------------------------------------------------------------ */

/* Names and columns the scripts of a candidate use (deterministic: the
 * same candidate always names its objects the same way) */
CREATE FUNCTION denorm_advisor._script_names(c denorm_advisor.candidates,
    OUT child text, OUT parent text, OUT child_schema name, OUT parent_schema name,
    OUT fk_child text[], OUT fk_parent text[], OUT columns text[], OUT new_columns text[],
    OUT new_types text[], OUT fn_fill text, OUT fn_push text, OUT index_name text,
    OUT needs_index boolean, OUT trigger_base text)
RETURNS record
LANGUAGE plpgsql STABLE AS $$
DECLARE
    d jsonb := c.details;
    fkc record;
    crel name;
    prel name;
BEGIN
    IF NOT d ? 'new_columns' THEN
        RAISE EXCEPTION 'candidate % was not costed: it has no script', c.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'See denorm_advisor.explain() for why no query could use it.';
    END IF;
    IF c.kind = 'matview' THEN
        RETURN;
    END IF;
    SELECT relname, relnamespace::regnamespace::name INTO crel, child_schema FROM pg_class WHERE oid = (d->>'child')::oid;
    SELECT relname, relnamespace::regnamespace::name INTO prel, parent_schema FROM pg_class WHERE oid = (d->>'parent')::oid;
    IF crel IS NULL OR prel IS NULL THEN
        RAISE EXCEPTION 'a table of candidate % no longer exists', c.id
            USING ERRCODE = 'undefined_table', HINT = 'Run denorm_advisor.recommend() again.';
    END IF;
    -- schema-qualified: the triggers must not depend on a search_path
    child := format('%I.%I', child_schema, crel);
    parent := format('%I.%I', parent_schema, prel);
    fkc := denorm_advisor._fk_columns((d->>'fk')::oid);
    fk_child := fkc.child_cols;
    fk_parent := fkc.parent_cols;
    new_columns := ARRAY(SELECT jsonb_array_elements_text(d->'new_columns'));
    IF c.kind = 'copy_column' THEN
        columns := ARRAY(SELECT x FROM jsonb_array_elements_text(d->'columns') x WHERE x <> ALL (fkc.parent_cols));
        new_types := ARRAY(SELECT format_type(a.atttypid, a.atttypmod)
                                  || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                                          THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END
                             FROM unnest(columns) WITH ORDINALITY u(col, i)
                             JOIN pg_attribute a ON a.attrelid = (d->>'parent')::oid AND a.attname = u.col
                             JOIN pg_type t ON t.oid = a.atttypid
                            ORDER BY u.i);
        fn_fill := left(format('da_copy_%s_%s_fill', crel, prel), 63);
        fn_push := left(format('da_copy_%s_%s_push', crel, prel), 63);
        trigger_base := left(format('da_copy_%s_%s', crel, prel), 56);
    ELSE
        columns := ARRAY(SELECT jsonb_array_elements_text(d->'sums'));
        new_types := ARRAY['bigint'] || ARRAY(
                             SELECT CASE WHEN a.atttypid IN ('int2'::regtype, 'int4'::regtype) THEN 'bigint'
                                         WHEN a.atttypid = 'int8'::regtype THEN 'numeric'
                                         ELSE format_type(a.atttypid, NULL) END
                               FROM unnest(columns) WITH ORDINALITY u(col, i)
                               JOIN pg_attribute a ON a.attrelid = (d->>'child')::oid AND a.attname = u.col
                              ORDER BY u.i);
        fn_fill := left(format('da_count_%s_%s', prel, crel), 63);
        trigger_base := left(format('da_count_%s_%s', prel, crel), 56);
    END IF;
    needs_index := NOT denorm_advisor._fk_indexed((d->>'fk')::oid);
    index_name := left(format('%s_%s_da_idx', crel, array_to_string(fkc.child_cols, '_')), 63);
END
$$;
COMMENT ON FUNCTION denorm_advisor._script_names(denorm_advisor.candidates) IS
'denorm_advisor (internal): the tables, columns, types and object names the apply and rollback scripts of a candidate use';

/* The rewritten queries of a candidate as SQL comments */
CREATE FUNCTION denorm_advisor._rewrite_comments(c denorm_advisor.candidates)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(format(E'-- %s (%s calls/h):\n--   %s\n-- becomes\n--   %s\n',
                                      cq.query_id, round(aq.calls_per_hour::numeric, 1),
                                      regexp_replace(aq.query, '\s+', ' ', 'g'),
                                      regexp_replace(cq.rewritten, '\s+', ' ', 'g')), E'--\n' ORDER BY cq.query_id),
                    E'-- (no query rewritten)\n')
      FROM denorm_advisor.candidate_queries cq
      JOIN denorm_advisor.analysed_queries aq ON aq.owner = cq.owner AND aq.query_id = cq.query_id
     WHERE cq.owner = current_user AND cq.candidate_id = c.id AND cq.reason IS NULL
       AND cq.rewritten IS NOT NULL AND cq.time_after < cq.time_before;
$$;
COMMENT ON FUNCTION denorm_advisor._rewrite_comments(denorm_advisor.candidates) IS
'denorm_advisor (internal): the queries a candidate rewrites, before and after, as SQL comments';

CREATE FUNCTION denorm_advisor.ddl(id int, online boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    c denorm_advisor.candidates := denorm_advisor._candidate(id);
    n record;
    s text;
    keyeq text;
    keynull text;
    unchanged text;
    counts text;
    mismatch text;
    mvq text;
    mvschema name;
BEGIN
    n := denorm_advisor._script_names(c);
    -- a copy and a counter on one foreign key would deadlock: the copy
    -- locks the parent FOR SHARE, the counter then updates it
    IF c.kind IN ('copy_column', 'counter') AND EXISTS (
           SELECT 1 FROM pg_trigger t
            WHERE t.tgrelid = (c.details->>'child')::oid
              AND t.tgname IN (left(format('da_count_%s_%s', (c.details->>'parent')::oid::regclass::name,
                                           (c.details->>'child')::oid::regclass::name), 56) || '_ins',
                               left(format('da_copy_%s_%s', (c.details->>'child')::oid::regclass::name,
                                           (c.details->>'parent')::oid::regclass::name), 56) || '_fill')
              AND t.tgname NOT LIKE n.trigger_base || '%') THEN
        RAISE EXCEPTION 'candidate % conflicts with the % applied on the same foreign key', c.id,
                        CASE WHEN c.kind = 'counter' THEN 'copy' ELSE 'counter' END
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The copy''s trigger locks the parent row FOR SHARE and the counter''s then updates it: two writers of children of one parent would deadlock.',
                  HINT = 'Keep one of them: apply the rollback_ddl() script of the other first.';
    END IF;
    s := format(E'-- denorm_advisor: apply candidate %s (%s)\n-- target: %s\n-- source: %s\n',
                c.id, c.kind, c.target, c.source);
    IF c.status <> 'recommended' THEN
        s := s || format(E'-- WARNING: this candidate was rejected: %s\n', c.reason);
    ELSE
        s := s || format(E'-- net benefit %s ms/h, extra storage %s, confidence %s\n',
                         round(c.net_ms_per_hour::numeric, 1), pg_size_pretty(c.extra_bytes), c.confidence);
    END IF;
    IF online AND c.kind = 'matview' THEN
        s := s || E'-- Run as it is with psql -f.  Keep the script of\n'
               || E'-- denorm_advisor.rollback_ddl() with it.\n'
               || E'\\set ON_ERROR_STOP on\nSET lock_timeout = ''10s'';\n\n';
    ELSIF online THEN
        s := s || E'-- Run as it is with psql -f, outside a transaction block: CREATE INDEX\n'
               || E'-- CONCURRENTLY and the batched backfill commit as they go.  Keep the\n'
               || E'-- script of denorm_advisor.rollback_ddl() with it.\n'
               || E'\\set ON_ERROR_STOP on\nSET lock_timeout = ''10s'';\n\n';
    ELSE
        s := s || E'-- One transaction (online => false): plain SQL, no psql commands; the\n'
               || E'-- index build and the backfill block writes to the child until commit.\n'
               || E'-- Keep the script of denorm_advisor.rollback_ddl() with it.\n'
               || E'SET LOCAL lock_timeout = ''10s'';\n\n';
    END IF;

    IF c.kind = 'matview' THEN
        SELECT cl.relnamespace::regnamespace::name INTO mvschema
          FROM denorm_advisor.analysed_queries aq, unnest(aq.read_tables) WITH ORDINALITY t(rel, i)
          JOIN pg_class cl ON cl.oid = t.rel
         WHERE aq.owner = current_user AND aq.query_id = c.details->>'query_id' ORDER BY t.i LIMIT 1;
        mvq := format('%I.%I', mvschema, c.details->>'name');
        s := s || format(E'-- 1. the materialized view\nCREATE MATERIALIZED VIEW %s (%s) AS\n%s;\n',
                         mvq, (SELECT string_agg(quote_ident(x), ', ') FROM jsonb_array_elements_text(c.details->'new_columns') x),
                         rtrim(c.details->>'definition', E'; \n'));
        IF jsonb_array_length(c.details->'unique_columns') > 0 THEN
            s := s || format(E'-- a unique index: REFRESH ... CONCURRENTLY needs one\nCREATE UNIQUE INDEX %I ON %s (%s);\n',
                             left(c.details->>'name' || '_key', 63), mvq,
                             (SELECT string_agg(quote_ident(x), ', ') FROM jsonb_array_elements_text(c.details->'unique_columns') x));
        END IF;
        IF jsonb_array_length(c.details->'index_columns') > 0 THEN
            s := s || format(E'-- the columns the queries filter with parameters\nCREATE INDEX %I ON %s (%s);\n',
                             left(c.details->>'name' || '_filter_idx', 63), mvq,
                             (SELECT string_agg(quote_ident(x), ', ') FROM jsonb_array_elements_text(c.details->'index_columns') x));
        END IF;
        s := s || format(E'ANALYZE %s;\n\n-- 2. refresh strategy: %s\n', mvq, c.details->>'write_model');
        IF jsonb_array_length(c.details->'unique_columns') > 0 THEN
            s := s || format(E'--   REFRESH MATERIALIZED VIEW CONCURRENTLY %s;\n', mvq);
        ELSE
            s := s || format(E'--   REFRESH MATERIALIZED VIEW %s;  (no unique key: blocks readers while it runs)\n', mvq);
        END IF;
        s := s || format(E'--   every %s, e.g. from cron or pg_cron.\n', current_setting('denorm_advisor.matview_refresh_interval'))
               || E'-- PostgreSQL never reads a materialized view by itself: the application\n'
               || E'-- must send the rewritten queries.\n\n-- 3. queries to rewrite\n'
               || denorm_advisor._rewrite_comments(c);
        RETURN s;
    END IF;

    IF c.kind = 'copy_column' THEN
        SELECT string_agg(format('p.%I = NEW.%I', p, k), ' AND '),
               string_agg(format('NEW.%I IS NULL', k), ' OR ')
          INTO keyeq, keynull FROM unnest(n.fk_parent, n.fk_child) AS u(p, k);
        SELECT string_agg(format('NEW.%I IS NOT DISTINCT FROM OLD.%I', x, x), E'\n       AND ')
          INTO unchanged FROM unnest(n.fk_child || n.new_columns) x;
        -- a row not filled yet (the backfill may have passed its page before
        -- an update moved it there) is filled by its next update
        unchanged := unchanged || E'\n       AND NOT (' ||
            (SELECT string_agg(format('NEW.%I IS NOT NULL', k), ' AND ') FROM unnest(n.fk_child) k) || ' AND ' ||
            (SELECT string_agg(format('NEW.%I IS NULL', x), ' AND ') FROM unnest(n.new_columns) x) || ')';
        s := s || format(E'-- 1. the copies (nullable, no default: no table rewrite)\nALTER TABLE %s\n    %s;\n\n',
                         n.child, (SELECT string_agg(format('ADD COLUMN %I %s', col, typ), E',\n    ')
                                     FROM unnest(n.new_columns, n.new_types) u(col, typ)));
        IF n.needs_index THEN
            s := s || format(E'-- 2. index the child''s foreign key: a parent update finds its children\nCREATE INDEX %sIF NOT EXISTS %I ON %s (%s);\n\n',
                             CASE WHEN online THEN 'CONCURRENTLY ' ELSE '' END, n.index_name, n.child, (SELECT string_agg(quote_ident(x), ', ') FROM unnest(n.fk_child) x));
        ELSE
            s := s || E'-- 2. the child''s foreign key is indexed already\n\n';
        END IF;
        s := s || format(E'-- 3. triggers keeping the copies equal to the parent\n'
            || E'CREATE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql AS $da$\n'
            || E'BEGIN\n'
            || E'    IF TG_OP = ''UPDATE''\n       AND %s THEN\n'
            || E'        RETURN NEW;         -- the key and the copies stay, the copies are set\n'
            || E'    END IF;\n'
            || E'    IF %s THEN\n%s'
            || E'    ELSE\n'
            || E'        -- FOR SHARE: an update of the parent row waits for this transaction,\n'
            || E'        -- so its propagation then sees this row; without the lock a copy\n'
            || E'        -- written concurrently with a parent update keeps the old value\n'
            || E'        SELECT %s\n          INTO %s\n          FROM %s p\n         WHERE %s\n           FOR SHARE;\n'
            || E'    END IF;\n    RETURN NEW;\nEND\n$da$;\n'
            || E'CREATE TRIGGER %I BEFORE INSERT OR UPDATE ON %s\n    FOR EACH ROW EXECUTE FUNCTION %I.%I();\n\n',
            n.child_schema, n.fn_fill, unchanged, keynull,
            (SELECT string_agg(format(E'        NEW.%I := NULL;\n', x), '') FROM unnest(n.new_columns) x),
            (SELECT string_agg(format('p.%I', x), ', ') FROM unnest(n.columns) x),
            (SELECT string_agg(format('NEW.%I', x), ', ') FROM unnest(n.new_columns) x),
            n.parent, keyeq, n.trigger_base || '_fill', n.child, n.child_schema, n.fn_fill);
        s := s || format(E'CREATE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql AS $da$\n'
            || E'BEGIN\n'
            || E'    -- at REPEATABLE READ or SERIALIZABLE this UPDATE would not see\n'
            || E'    -- children committed after the snapshot: they would keep the old value\n'
            || E'    IF current_setting(''transaction_isolation'') <> ''read committed'' THEN\n'
            || E'        RAISE EXCEPTION ''columns of %s copied by denorm_advisor change at READ COMMITTED only''\n'
            || E'            USING ERRCODE = ''serialization_failure'',\n'
            || E'                  HINT = ''Run the update in a READ COMMITTED transaction.'';\n'
            || E'    END IF;\n'
            || E'    UPDATE %s c\n       SET %s\n     WHERE %s\n       AND (%s);\n    RETURN NULL;\nEND\n$da$;\n'
            || E'CREATE TRIGGER %I AFTER UPDATE OF %s ON %s\n    FOR EACH ROW\n    WHEN (%s)\n    EXECUTE FUNCTION %I.%I();\n\n',
            n.parent_schema, n.fn_push, replace(n.parent, '''', ''''''), n.child,
            (SELECT string_agg(format('%I = NEW.%I', nc, pc), E',\n           ') FROM unnest(n.new_columns, n.columns) u(nc, pc)),
            (SELECT string_agg(format('c.%I = NEW.%I', k, p), ' AND ') FROM unnest(n.fk_child, n.fk_parent) u(k, p)),
            (SELECT string_agg(format('c.%I IS DISTINCT FROM NEW.%I', nc, pc), ' OR ') FROM unnest(n.new_columns, n.columns) u(nc, pc)),
            n.trigger_base || '_push',
            (SELECT string_agg(quote_ident(x), ', ') FROM unnest(n.columns) x), n.parent,
            (SELECT string_agg(format('OLD.%I IS DISTINCT FROM NEW.%I', x, x), ' OR ') FROM unnest(n.columns) x),
            n.parent_schema, n.fn_push);
        IF online THEN
        s := s || format(E'-- 4. backfill in batches of 1000 pages, each its own transaction;\n'
                || E'--    the parent rows are read FOR SHARE, as the trigger does\n'
                || E'DO $da$\nDECLARE\n    pages bigint := pg_relation_size(%L) / current_setting(''block_size'')::bigint;\n'
                || E'    b bigint := 0;\nBEGIN\n    WHILE b <= pages LOOP\n'
                || E'        UPDATE %s c\n           SET (%s) = (SELECT %s FROM %s p WHERE %s FOR SHARE)\n'
                || E'         WHERE c.ctid >= format(''(%%s,0)'', b)::tid AND c.ctid < format(''(%%s,0)'', b + 1000)::tid\n'
                || E'           AND %s;\n        COMMIT;\n        b := b + 1000;\n    END LOOP;\nEND\n$da$;\nANALYZE %s;\n\n',
                n.child, n.child,
                (SELECT string_agg(quote_ident(x), ', ') FROM unnest(n.new_columns) x),
                (SELECT string_agg(format('p.%I', x), ', ') FROM unnest(n.columns) x), n.parent,
                (SELECT string_agg(format('p.%I = c.%I', p, k), ' AND ') FROM unnest(n.fk_parent, n.fk_child) u(p, k)),
                (SELECT string_agg(format('c.%I IS NOT NULL', k), ' AND ') FROM unnest(n.fk_child) k),
                n.child);
            s := s || format(E'-- 4b. catch-up: rows an update moved behind the backfill before it\n'
                || E'--     reached them\n'
                || E'UPDATE %s c\n   SET (%s) = (SELECT %s FROM %s p WHERE %s FOR SHARE)\n'
                || E' WHERE %s\n   AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s AND %s);\n\n',
                n.child,
                (SELECT string_agg(quote_ident(x), ', ') FROM unnest(n.new_columns) x),
                (SELECT string_agg(format('p.%I', x), ', ') FROM unnest(n.columns) x), n.parent,
                (SELECT string_agg(format('p.%I = c.%I', p, k), ' AND ') FROM unnest(n.fk_parent, n.fk_child) u(p, k)),
                (SELECT string_agg(format('c.%I IS NOT NULL', k), ' AND ') FROM unnest(n.fk_child) k),
                n.parent,
                (SELECT string_agg(format('p.%I = c.%I', p, k), ' AND ') FROM unnest(n.fk_parent, n.fk_child) u(p, k)),
                (SELECT string_agg(format('p.%I IS NOT DISTINCT FROM c.%I', pc, nc), ' AND ') FROM unnest(n.columns, n.new_columns) u(pc, nc)));
        ELSE
            s := s || format(E'-- 4. backfill; the parent rows are read FOR SHARE, as the trigger does\n'
                || E'UPDATE %s c\n   SET (%s) = (SELECT %s FROM %s p WHERE %s FOR SHARE)\n WHERE %s;\nANALYZE %s;\n\n',
                n.child,
                (SELECT string_agg(quote_ident(x), ', ') FROM unnest(n.new_columns) x),
                (SELECT string_agg(format('p.%I', x), ', ') FROM unnest(n.columns) x), n.parent,
                (SELECT string_agg(format('p.%I = c.%I', p, k), ' AND ') FROM unnest(n.fk_parent, n.fk_child) u(p, k)),
                (SELECT string_agg(format('c.%I IS NOT NULL', k), ' AND ') FROM unnest(n.fk_child) k),
                n.child);
        END IF;
    ELSE
        -- counter
        counts := format('%I = (SELECT count(*) FROM %s c WHERE %s)', n.new_columns[1], n.child,
                         (SELECT string_agg(format('c.%I = p.%I', k, p), ' AND ') FROM unnest(n.fk_child, n.fk_parent) u(k, p)))
                  || coalesce((SELECT string_agg(format(E',\n           %I = (SELECT coalesce(sum(c.%I), 0) FROM %s c WHERE %s)', nc, sc, n.child,
                                                        (SELECT string_agg(format('c.%I = p.%I', k, p), ' AND ') FROM unnest(n.fk_child, n.fk_parent) u(k, p))), '')
                                 FROM unnest(n.new_columns[2:], n.columns) u(nc, sc)), '');
        mismatch := format('p.%I <> (SELECT count(*) FROM %s c WHERE %s)', n.new_columns[1], n.child,
                           (SELECT string_agg(format('c.%I = p.%I', k, p), ' AND ') FROM unnest(n.fk_child, n.fk_parent) u(k, p)))
                  || coalesce((SELECT string_agg(format(E'\n         OR p.%I <> (SELECT coalesce(sum(c.%I), 0) FROM %s c WHERE %s)', nc, sc, n.child,
                                                        (SELECT string_agg(format('c.%I = p.%I', k, p), ' AND ') FROM unnest(n.fk_child, n.fk_parent) u(k, p))), '')
                                 FROM unnest(n.new_columns[2:], n.columns) u(nc, sc)), '');
        s := s || format(E'-- 1. the counters (NOT NULL DEFAULT 0: no table rewrite)\nALTER TABLE %s\n    %s;\n\n',
                         n.parent, (SELECT string_agg(format('ADD COLUMN %I %s NOT NULL DEFAULT 0', col, typ), E',\n    ')
                                      FROM unnest(n.new_columns, n.new_types) u(col, typ)));
        IF n.needs_index THEN
            s := s || format(E'-- 2. index the child''s foreign key: the backfill counts per parent\nCREATE INDEX %sIF NOT EXISTS %I ON %s (%s);\n\n',
                             CASE WHEN online THEN 'CONCURRENTLY ' ELSE '' END, n.index_name, n.child, (SELECT string_agg(quote_ident(x), ', ') FROM unnest(n.fk_child) x));
        ELSE
            s := s || E'-- 2. the child''s foreign key is indexed already\n\n';
        END IF;
        s := s || format(E'-- 3. triggers: every child write moves the counters of its parent;\n'
            || E'--    the parent row stays locked until the writing transaction ends\n'
            || E'CREATE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql AS $da$\nBEGIN\n'
            || E'    IF TG_OP = ''TRUNCATE'' THEN\n        UPDATE %s SET %s;\n        RETURN NULL;\n    END IF;\n'
            || E'    IF TG_OP IN (''UPDATE'', ''DELETE'') AND NOT (%s) THEN\n        UPDATE %s\n           SET %s\n         WHERE %s;\n    END IF;\n'
            || E'    IF TG_OP IN (''UPDATE'', ''INSERT'') AND NOT (%s) THEN\n        UPDATE %s\n           SET %s\n         WHERE %s;\n    END IF;\n'
            || E'    RETURN NULL;\nEND\n$da$;\n'
            || E'CREATE TRIGGER %I AFTER INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %I.%I();\n'
            || E'CREATE TRIGGER %I AFTER DELETE ON %s FOR EACH ROW EXECUTE FUNCTION %I.%I();\n'
            || E'CREATE TRIGGER %I AFTER UPDATE OF %s ON %s FOR EACH ROW\n    WHEN (%s)\n    EXECUTE FUNCTION %I.%I();\n'
            || E'CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %I.%I();\n\n',
            n.child_schema, n.fn_fill,
            n.parent, (SELECT string_agg(format('%I = 0', x), ', ') FROM unnest(n.new_columns) x),
            (SELECT string_agg(format('OLD.%I IS NULL', k), ' OR ') FROM unnest(n.fk_child) k), n.parent,
            format('%I = %I - 1', n.new_columns[1], n.new_columns[1])
              || coalesce((SELECT string_agg(format(E',\n               %I = %I - OLD.%I', nc, nc, sc), '')
                             FROM unnest(n.new_columns[2:], n.columns) u(nc, sc)), ''),
            (SELECT string_agg(format('%I = OLD.%I', p, k), ' AND ') FROM unnest(n.fk_parent, n.fk_child) u(p, k)),
            (SELECT string_agg(format('NEW.%I IS NULL', k), ' OR ') FROM unnest(n.fk_child) k), n.parent,
            format('%I = %I + 1', n.new_columns[1], n.new_columns[1])
              || coalesce((SELECT string_agg(format(E',\n               %I = %I + NEW.%I', nc, nc, sc), '')
                             FROM unnest(n.new_columns[2:], n.columns) u(nc, sc)), ''),
            (SELECT string_agg(format('%I = NEW.%I', p, k), ' AND ') FROM unnest(n.fk_parent, n.fk_child) u(p, k)),
            n.trigger_base || '_ins', n.child, n.child_schema, n.fn_fill,
            n.trigger_base || '_del', n.child, n.child_schema, n.fn_fill,
            n.trigger_base || '_upd', (SELECT string_agg(quote_ident(x), ', ') FROM unnest(n.fk_child || n.columns) x), n.child,
            (SELECT string_agg(format('OLD.%I IS DISTINCT FROM NEW.%I', x, x), ' OR ') FROM unnest(n.fk_child || n.columns) x),
            n.child_schema, n.fn_fill,
            n.trigger_base || '_trunc', n.child, n.child_schema, n.fn_fill);
        IF online THEN
        s := s || format(E'-- 4. backfill in batches of 1000 pages, each its own transaction: lock\n'
                || E'--    the batch''s parents first (writers in flight finish, later ones\n'
                || E'--    wait), then count with a new snapshot that sees every committed child\n'
                || E'DO $da$\nDECLARE\n    pages bigint := pg_relation_size(%L) / current_setting(''block_size'')::bigint;\n'
                || E'    b bigint := 0;\nBEGIN\n    WHILE b <= pages LOOP\n'
                || E'        PERFORM 1 FROM %s p\n          WHERE p.ctid >= format(''(%%s,0)'', b)::tid AND p.ctid < format(''(%%s,0)'', b + 1000)::tid\n            FOR UPDATE;\n'
                || E'        UPDATE %s p\n           SET %s\n'
                || E'         WHERE p.ctid >= format(''(%%s,0)'', b)::tid AND p.ctid < format(''(%%s,0)'', b + 1000)::tid;\n'
                || E'        COMMIT;\n        b := b + 1000;\n    END LOOP;\nEND\n$da$;\nANALYZE %s;\n\n',
                n.parent, n.parent, n.parent,
                format('%I = (SELECT count(*) FROM %s c WHERE %s)', n.new_columns[1], n.child,
                       (SELECT string_agg(format('c.%I = p.%I', k, p), ' AND ') FROM unnest(n.fk_child, n.fk_parent) u(k, p)))
                  || coalesce((SELECT string_agg(format(E',\n               %I = (SELECT coalesce(sum(c.%I), 0) FROM %s c WHERE %s)', nc, sc, n.child,
                                                        (SELECT string_agg(format('c.%I = p.%I', k, p), ' AND ') FROM unnest(n.fk_child, n.fk_parent) u(k, p))), '')
                                 FROM unnest(n.new_columns[2:], n.columns) u(nc, sc)), ''),
                n.parent);
            s := s || format(E'-- 4b. catch-up: parents an update moved behind the backfill before it\n'
                || E'--     reached them: lock the wrong ones, then count again\n'
                || E'DO $da$\nBEGIN\n    PERFORM 1 FROM %s p\n      WHERE %s\n        FOR UPDATE;\n'
                || E'    UPDATE %s p\n       SET %s\n     WHERE %s;\nEND\n$da$;\n\n',
                n.parent, mismatch, n.parent, counts, mismatch);
        ELSE
            s := s || format(E'-- 4. backfill: lock the parents first (writers in flight finish, later\n'
                || E'--    ones wait), then count with a new snapshot that sees every\n'
                || E'--    committed child (READ COMMITTED)\n'
                || E'SELECT count(*) AS locked_parents FROM (SELECT 1 FROM %s FOR UPDATE) p;\n'
                || E'UPDATE %s p\n   SET %s;\nANALYZE %s;\n\n',
                n.parent, n.parent,
                format('%I = (SELECT count(*) FROM %s c WHERE %s)', n.new_columns[1], n.child,
                       (SELECT string_agg(format('c.%I = p.%I', k, p), ' AND ') FROM unnest(n.fk_child, n.fk_parent) u(k, p)))
                  || coalesce((SELECT string_agg(format(E',\n       %I = (SELECT coalesce(sum(c.%I), 0) FROM %s c WHERE %s)', nc, sc, n.child,
                                                        (SELECT string_agg(format('c.%I = p.%I', k, p), ' AND ') FROM unnest(n.fk_child, n.fk_parent) u(k, p))), '')
                                 FROM unnest(n.new_columns[2:], n.columns) u(nc, sc)), ''),
                n.parent);
        END IF;
    END IF;
    s := s || E'-- 5. queries to rewrite (the application sends these instead)\n' || denorm_advisor._rewrite_comments(c)
           || format(E'-- check: SELECT denorm_advisor.verify(%s);  -- 0 when consistent\n', c.id);
    RETURN s;
END
$$;
COMMENT ON FUNCTION denorm_advisor.ddl(int, boolean) IS
'denorm_advisor: the apply script of a candidate: columns, index on the child''s foreign key, maintenance triggers (parent row read FOR SHARE), backfill, and the rewritten queries as comments; online (default) runs with psql -f outside a transaction block (CREATE INDEX CONCURRENTLY, backfill committed in batches), online => false is one plain SQL script that runs inside a transaction';

CREATE FUNCTION denorm_advisor.rollback_ddl(id int, online boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    c denorm_advisor.candidates := denorm_advisor._candidate(id);
    n record;
    s text;
    mvschema name;
BEGIN
    n := denorm_advisor._script_names(c);
    s := format(E'-- denorm_advisor: roll back candidate %s (%s)\n-- drops exactly what denorm_advisor.ddl(%s) created, nothing else\n%s',
                c.id, c.kind, c.id,
                CASE WHEN online THEN E'\\set ON_ERROR_STOP on\nSET lock_timeout = ''10s'';\n'
                     ELSE E'SET LOCAL lock_timeout = ''10s'';\n' END);
    IF c.kind = 'matview' THEN
        SELECT cl.relnamespace::regnamespace::name INTO mvschema
          FROM denorm_advisor.analysed_queries aq, unnest(aq.read_tables) WITH ORDINALITY t(rel, i)
          JOIN pg_class cl ON cl.oid = t.rel
         WHERE aq.owner = current_user AND aq.query_id = c.details->>'query_id' ORDER BY t.i LIMIT 1;
        RETURN s || format(E'DROP MATERIALIZED VIEW IF EXISTS %I.%I;\n', mvschema, c.details->>'name');
    END IF;
    IF c.kind = 'copy_column' THEN
        s := s || format(E'DROP TRIGGER IF EXISTS %I ON %s;\nDROP FUNCTION IF EXISTS %I.%I();\n',
                         n.trigger_base || '_push', n.parent, n.parent_schema, n.fn_push)
               || format(E'DROP TRIGGER IF EXISTS %I ON %s;\nDROP FUNCTION IF EXISTS %I.%I();\n',
                         n.trigger_base || '_fill', n.child, n.child_schema, n.fn_fill);
        IF n.needs_index THEN
            s := s || format(E'DROP INDEX %sIF EXISTS %I.%I;\n', CASE WHEN online THEN 'CONCURRENTLY ' ELSE '' END, n.child_schema, n.index_name);
        END IF;
        s := s || format(E'ALTER TABLE %s\n    %s;\n', n.child,
                         (SELECT string_agg(format('DROP COLUMN IF EXISTS %I', x), E',\n    ') FROM unnest(n.new_columns) x));
    ELSE
        s := s || format(E'DROP TRIGGER IF EXISTS %I ON %s;\nDROP TRIGGER IF EXISTS %I ON %s;\nDROP TRIGGER IF EXISTS %I ON %s;\nDROP TRIGGER IF EXISTS %I ON %s;\nDROP FUNCTION IF EXISTS %I.%I();\n',
                         n.trigger_base || '_ins', n.child, n.trigger_base || '_del', n.child,
                         n.trigger_base || '_upd', n.child, n.trigger_base || '_trunc', n.child,
                         n.child_schema, n.fn_fill);
        IF n.needs_index THEN
            s := s || format(E'DROP INDEX %sIF EXISTS %I.%I;\n', CASE WHEN online THEN 'CONCURRENTLY ' ELSE '' END, n.child_schema, n.index_name);
        END IF;
        s := s || format(E'ALTER TABLE %s\n    %s;\n', n.parent,
                         (SELECT string_agg(format('DROP COLUMN IF EXISTS %I', x), E',\n    ') FROM unnest(n.new_columns) x));
    END IF;
    RETURN s;
END
$$;
COMMENT ON FUNCTION denorm_advisor.rollback_ddl(int, boolean) IS
'denorm_advisor: the script that restores the schema as it was before ddl(): drops the triggers, functions, index, columns or view it created, nothing else';

CREATE FUNCTION denorm_advisor.verify(id int)
RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    c denorm_advisor.candidates := denorm_advisor._candidate(id);
    n record;
    bad bigint;
    col text;
    mv regclass;
BEGIN
    n := denorm_advisor._script_names(c);
    IF c.kind = 'matview' THEN
        SELECT to_regclass(format('%I.%I', cl.relnamespace::regnamespace::name, c.details->>'name')) INTO mv
          FROM denorm_advisor.analysed_queries aq, unnest(aq.read_tables) WITH ORDINALITY t(rel, i)
          JOIN pg_class cl ON cl.oid = t.rel
         WHERE aq.owner = current_user AND aq.query_id = c.details->>'query_id' ORDER BY t.i LIMIT 1;
        IF mv IS NULL THEN
            RAISE EXCEPTION 'candidate % is not applied: materialized view "%" does not exist', c.id, c.details->>'name'
                USING ERRCODE = 'undefined_table', HINT = format('Apply the script of denorm_advisor.ddl(%s) first.', c.id);
        END IF;
        -- rows the view has and its definition has not, and the other way
        EXECUTE format('SELECT count(*) FROM ((TABLE %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL TABLE %s)) x',
                       mv, rtrim(c.details->>'definition', E'; \n'), rtrim(c.details->>'definition', E'; \n'), mv)
            INTO bad;
        RETURN bad;
    END IF;
    FOREACH col IN ARRAY n.new_columns LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_attribute
                        WHERE attrelid = (CASE WHEN c.kind = 'copy_column' THEN c.details->>'child' ELSE c.details->>'parent' END)::oid
                          AND attname = col AND NOT attisdropped) THEN
            RAISE EXCEPTION 'candidate % is not applied: column "%" does not exist', c.id, col
                USING ERRCODE = 'undefined_column', HINT = format('Apply the script of denorm_advisor.ddl(%s) first.', c.id);
        END IF;
    END LOOP;
    IF c.kind = 'copy_column' THEN
        EXECUTE format('SELECT count(*) FROM %s c LEFT JOIN %s p ON %s WHERE %s',
                       n.child, n.parent,
                       (SELECT string_agg(format('p.%I = c.%I', p, k), ' AND ') FROM unnest(n.fk_parent, n.fk_child) u(p, k)),
                       (SELECT string_agg(format('c.%I IS DISTINCT FROM p.%I', nc, pc), ' OR ') FROM unnest(n.new_columns, n.columns) u(nc, pc)))
            INTO bad;
    ELSE
        EXECUTE format('SELECT count(*) FROM %s p LEFT JOIN (SELECT %s, count(*) AS n%s FROM %s GROUP BY %s) k ON %s WHERE p.%I <> coalesce(k.n, 0)%s',
                       n.parent,
                       (SELECT string_agg(quote_ident(k), ', ') FROM unnest(n.fk_child) k),
                       coalesce((SELECT string_agg(format(', sum(%I) AS s%s', sc, i), '') FROM unnest(n.columns) WITH ORDINALITY u(sc, i)), ''),
                       n.child,
                       (SELECT string_agg(quote_ident(k), ', ') FROM unnest(n.fk_child) k),
                       (SELECT string_agg(format('k.%I = p.%I', k, p), ' AND ') FROM unnest(n.fk_child, n.fk_parent) u(k, p)),
                       n.new_columns[1],
                       coalesce((SELECT string_agg(format(' OR p.%I <> coalesce(k.s%s, 0)', nc, i), '')
                                   FROM unnest(n.new_columns[2:]) WITH ORDINALITY u(nc, i)), ''))
            INTO bad;
    END IF;
    RETURN bad;
END
$$;
COMMENT ON FUNCTION denorm_advisor.verify(int) IS
'denorm_advisor: number of inconsistent rows of an applied candidate (copies differing from the parent, counters differing from the children, view rows differing from its definition); 0 when healthy';

/* ------------------------------------------------------------------------
 * 6. schema_graph()
 * ------------------------------------------------------------------------ */
CREATE FUNCTION denorm_advisor.schema_graph(format text DEFAULT 'dot')
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s text;
    t record;
    k record;
    c record;
    hot jsonb := '{}';
    a record;
    j record;
    maxms float8;
    ms float8;
    label text;
    attrs text;
BEGIN
    IF format IS NULL OR lower(format) <> 'dot' THEN
        RAISE EXCEPTION 'unknown graph format "%"', coalesce(format, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The format is ''dot'' (Graphviz); render it with: dot -Tsvg -o schema.svg';
    END IF;

    -- time per hour of the analysed queries that join along each key
    FOR a IN SELECT * FROM denorm_advisor.analysed_queries
              WHERE owner = current_user AND command = 'SELECT' AND note IS NULL LOOP
        BEGIN
            FOR j IN SELECT * FROM denorm_advisor._fk_joins(a.query) LOOP
                hot := jsonb_set(hot, ARRAY[j.fk::text],
                                 to_jsonb(coalesce((hot->>j.fk::text)::float8, 0) + a.calls_per_hour * coalesce(a.mean_time_ms, 0)));
            END LOOP;
        EXCEPTION WHEN query_canceled THEN
            RAISE;
        WHEN OTHERS THEN
            NULL;               -- a statement that no longer parses adds nothing
        END;
    END LOOP;
    SELECT max(v::float8) INTO maxms FROM jsonb_each_text(hot) e(k, v);

    s := E'digraph schema {\n  graph [rankdir=LR, fontname="Helvetica", label="denorm_advisor: foreign keys (child -> parent), hot joins in ms/h, recommendations in color", labelloc=t];\n'
      || E'  node [shape=box, style=rounded, fontname="Helvetica"];\n  edge [fontname="Helvetica", fontsize=10];\n';
    FOR t IN SELECT cl.oid, cl.oid::regclass::text AS name, greatest(cl.reltuples, 0)::bigint AS rows
               FROM pg_class cl JOIN pg_namespace ns ON ns.oid = cl.relnamespace
              WHERE cl.relkind IN ('r', 'p') AND NOT cl.relispartition
                AND ns.nspname NOT IN ('pg_catalog', 'information_schema', 'denorm_advisor')
                AND ns.nspname NOT LIKE 'pg_toast%' AND ns.nspname NOT LIKE 'pg_temp%'
                AND has_table_privilege(cl.oid, 'SELECT')
              ORDER BY 2 LOOP
        s := s || format(E'  "%s" [label="%s\\n%s rows"];\n', t.name, t.name, t.rows);
    END LOOP;
    FOR k IN SELECT con.oid, con.conname, con.conrelid::regclass::text AS child, con.confrelid::regclass::text AS parent
               FROM pg_constraint con
              WHERE con.contype = 'f' AND has_table_privilege(con.conrelid, 'SELECT')
                AND has_table_privilege(con.confrelid, 'SELECT')
                AND con.connamespace NOT IN ('pg_catalog'::regnamespace, 'denorm_advisor'::regnamespace)
              ORDER BY 3, 2 LOOP
        ms := (hot->>k.oid::text)::float8;
        label := k.conname;
        attrs := '';
        IF ms IS NOT NULL AND maxms > 0 THEN
            label := label || format('\n%s ms/h', round(ms::numeric, 1));
            attrs := format(', penwidth=%s', round((1 + 4 * ms / maxms)::numeric, 1));
        END IF;
        FOR c IN SELECT cd.id, cd.kind, cd.target FROM denorm_advisor.candidates cd
                  WHERE cd.owner = current_user AND cd.status = 'recommended'
                    AND cd.kind IN ('copy_column', 'counter') AND (cd.details->>'fk')::oid = k.oid
                  ORDER BY cd.id LOOP
            label := label || format('\n#%s %s: %s', c.id, c.kind, replace(c.target, '"', ''''));
            attrs := attrs || CASE WHEN c.kind = 'copy_column' THEN ', color="red", fontcolor="red"'
                                   ELSE ', color="blue", fontcolor="blue"' END;
        END LOOP;
        s := s || format(E'  "%s" -> "%s" [label="%s"%s];\n', k.child, k.parent, label, attrs);
    END LOOP;
    FOR c IN SELECT cd.id, cd.details->>'name' AS name, aq.read_tables
               FROM denorm_advisor.candidates cd
               JOIN denorm_advisor.analysed_queries aq ON aq.owner = cd.owner AND aq.query_id = cd.details->>'query_id'
              WHERE cd.owner = current_user AND cd.status = 'recommended' AND cd.kind = 'matview'
              ORDER BY cd.id LOOP
        s := s || format(E'  "%s" [label="#%s materialized view\\n%s", style="dashed", color="darkgreen", fontcolor="darkgreen"];\n',
                         c.name, c.id, c.name);
        s := s || (SELECT string_agg(format(E'  "%s" -> "%s" [style=dashed, color="darkgreen"];\n', c.name, r::text), '' ORDER BY r::text)
                     FROM unnest(c.read_tables) r);
    END LOOP;
    RETURN s || E'}\n';
END
$$;
COMMENT ON FUNCTION denorm_advisor.schema_graph(text) IS
'denorm_advisor: the schema as a Graphviz DOT graph: tables, foreign keys, hot joins weighted by ms/h of the analysed workload, recommendations of the last recommend() highlighted';

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
    -- a key of several columns: the least share of its columns bounds the
    -- share of the combination from above
    SELECT min(CASE
           WHEN s.most_common_freqs IS NOT NULL THEN s.most_common_freqs[1]::float8
           WHEN s.n_distinct > 0 THEN 1.0 / s.n_distinct
           WHEN s.n_distinct < 0 THEN 1.0 / greatest(-s.n_distinct * greatest(cl.reltuples, 1), 1)
           END)
      FROM pg_constraint c
      JOIN pg_class cl ON cl.oid = c.conrelid
      JOIN pg_namespace ns ON ns.oid = cl.relnamespace
      CROSS JOIN LATERAL unnest(c.conkey) k(attnum)
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
      JOIN pg_stats s ON s.schemaname = ns.nspname
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
          FROM tabs t JOIN pg_namespace ns ON ns.oid = t.relnamespace
          JOIN pg_stats s ON s.schemaname = ns.nspname
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
 *   matview      REFRESH (its plan cost in ms, plus refresh_row_ms per view
 *                row for the comparison CONCURRENTLY makes) every refresh
 *                interval when a table it reads is written.
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
        -- REFRESH ... CONCURRENTLY runs the definition, then compares the
        -- new rows with the old ones and applies the difference: per row
        refresh_ms := (d->>'definition_cost')::float8 * denorm_advisor._ms_per_cost()
                      + coalesce((d->>'rel_rows')::float8, 0)
                        * current_setting('denorm_advisor.refresh_row_ms')::float8;
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
 * existing redundant copy.  Sampled on about 2000 child rows (SYSTEM,
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
            BEGIN
                -- SYSTEM reads only the sampled pages; the text images
                -- compare every type, also those without "="
                EXECUTE format('SELECT count(*), count(*) FILTER (WHERE c.%I::text = p.%I::text) FROM %s c TABLESAMPLE SYSTEM (%s) REPEATABLE (42) JOIN %s p ON %s WHERE p.%I IS NOT NULL',
                               cc.name, pc, (d->>'child')::oid::regclass,
                               least(100, 200000.0 / greatest((SELECT reltuples FROM pg_class WHERE oid = (d->>'child')::oid), 1)),
                               (d->>'parent')::oid::regclass, joincond, pc)
                   INTO total, same;
            EXCEPTION WHEN undefined_function THEN
                CONTINUE;
            END;
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

/*
 * _speedup: the latency ratio a client sees, before / after.  The time
 * model scales the statement's execution time (mean_ms) by the ratio of
 * its time-model costs; what a client waits for also holds the round trip
 * and executor start-up, denorm_advisor.statement_overhead_ms, which no
 * rewrite removes.
 */
CREATE FUNCTION denorm_advisor._speedup(mean_ms float8, time_before float8, time_after float8)
RETURNS float8
LANGUAGE sql STABLE AS $$
    SELECT (o + coalesce(mean_ms, 0)) / greatest(o + coalesce(mean_ms, 0) * time_after / time_before, 1e-9)
      FROM (SELECT current_setting('denorm_advisor.statement_overhead_ms')::float8 AS o) s;
$$;
COMMENT ON FUNCTION denorm_advisor._speedup(float8, float8, float8) IS
'denorm_advisor (internal): predicted latency ratio of a rewritten statement: (overhead + mean) / (overhead + mean x time_after / time_before)';

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
    <<generation>>
    FOR a IN SELECT * FROM denorm_advisor.analysed_queries
              WHERE owner = current_user AND command = 'SELECT' AND note IS NULL
              ORDER BY calls_per_hour * mean_time_ms DESC, query_id LOOP
        IF clock_timestamp() - t0 > budget_ms * interval '1 ms' THEN
            stopped := true;
            EXIT generation;
        END IF;
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
            -- named after its tables and its query text: stable across runs
            SELECT left(string_agg(DISTINCT cl.relname, '_' ORDER BY cl.relname), 40)
                   || '_' || left(md5(a.query), 8) || '_mv'
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
                -- narrowing without re-costing would leave no script
                IF clock_timestamp() - t0 > budget_ms * interval '1 ms' THEN
                    stopped := true;
                    EXIT costing;
                END IF;
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
                   AND cq.reason IS NULL AND NOT cq.time_after < cq.time_before;
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
                           || CASE WHEN c.kind IN ('copy_column', 'counter')
                                   THEN jsonb_build_object('needs_index', NOT denorm_advisor._fk_indexed((d->>'fk')::oid))
                                   ELSE '{}' END
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
           ARRAY(SELECT denorm_advisor._speedup(aq.mean_time_ms, cq.time_before, cq.time_after)
                   FROM denorm_advisor.candidate_queries cq
                   JOIN denorm_advisor.analysed_queries aq ON aq.owner = cq.owner AND aq.query_id = cq.query_id
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
                               round(denorm_advisor._speedup(q.mean_time_ms, q.time_before, q.time_after)::numeric, 2));
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
/* A name of at most 63 bytes: long ones keep a prefix and a hash */
CREATE FUNCTION denorm_advisor._short_name(base text, suffix text DEFAULT '')
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN octet_length(base || suffix) <= 63 THEN base || suffix
                ELSE left(base, 40) || '_' || left(md5(base), 8) || suffix END;
$$;
COMMENT ON FUNCTION denorm_advisor._short_name(text, text) IS
'denorm_advisor (internal): base || suffix when it fits in 63 bytes, else a prefix of base, 8 hex digits of its md5, and suffix (distinct names stay distinct)';

/* The base of the names of a copy's or counter's objects: the kind, the
 * child and the foreign key, so that two keys between the same tables
 * never share a name */
CREATE FUNCTION denorm_advisor._object_base(kind text, fk oid)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN kind = 'counter' THEN 'da_count_' ELSE 'da_copy_' END
           || cl.relname || '_' || k.conname
      FROM pg_constraint k JOIN pg_class cl ON cl.oid = k.conrelid
     WHERE k.oid = fk;
$$;
COMMENT ON FUNCTION denorm_advisor._object_base(text, oid) IS
'denorm_advisor (internal): the base of the trigger and function names of a copy or counter over a foreign key';

CREATE FUNCTION denorm_advisor._script_names(c denorm_advisor.candidates,
    OUT child text, OUT parent text, OUT child_schema name, OUT parent_schema name,
    OUT fk_child text[], OUT fk_parent text[], OUT columns text[], OUT new_columns text[],
    OUT new_types text[], OUT fn_fill text, OUT fn_push text, OUT index_name text,
    OUT needs_index boolean, OUT trigger_base text)
RETURNS record
LANGUAGE plpgsql STABLE
-- format_type() then qualifies every type outside pg_catalog
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d jsonb := c.details;
    fkc record;
    crel name;
    prel name;
    missing text;
    base text;
BEGIN
    IF NOT d ? 'new_columns' THEN
        RAISE EXCEPTION 'candidate % was not costed: it has no script', c.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'See denorm_advisor.explain() for why no query could use it.';
    END IF;
    IF c.kind = 'matview' THEN
        RETURN;
    END IF;
    SELECT cl.relname, ns.nspname INTO crel, child_schema
      FROM pg_class cl JOIN pg_namespace ns ON ns.oid = cl.relnamespace WHERE cl.oid = (d->>'child')::oid;
    SELECT cl.relname, ns.nspname INTO prel, parent_schema
      FROM pg_class cl JOIN pg_namespace ns ON ns.oid = cl.relnamespace WHERE cl.oid = (d->>'parent')::oid;
    IF crel IS NULL OR prel IS NULL THEN
        RAISE EXCEPTION 'a table of candidate % no longer exists', c.id
            USING ERRCODE = 'undefined_table', HINT = 'Run denorm_advisor.recommend() again.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE oid = (d->>'fk')::oid) THEN
        RAISE EXCEPTION 'the foreign key of candidate % no longer exists', c.id
            USING ERRCODE = 'undefined_object', HINT = 'Run denorm_advisor.recommend() again.';
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
        SELECT string_agg(x, ', ') INTO missing FROM unnest(columns) x
         WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = (d->>'parent')::oid
                              AND a.attname = x AND NOT a.attisdropped);
        -- a domain's base type: a copy is NULL where the key is
        new_types := ARRAY(SELECT format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
                                              CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END)
                                  || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                                          THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END
                             FROM unnest(columns) WITH ORDINALITY u(col, i)
                             JOIN pg_attribute a ON a.attrelid = (d->>'parent')::oid AND a.attname = u.col
                             JOIN pg_type t ON t.oid = a.atttypid
                            ORDER BY u.i);
    ELSE
        columns := ARRAY(SELECT jsonb_array_elements_text(d->'sums'));
        SELECT string_agg(x, ', ') INTO missing FROM unnest(columns) x
         WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = (d->>'child')::oid
                              AND a.attname = x AND NOT a.attisdropped);
        new_types := ARRAY['bigint'] || ARRAY(
                             SELECT CASE WHEN a.atttypid IN ('int2'::regtype, 'int4'::regtype) THEN 'bigint'
                                         WHEN a.atttypid = 'int8'::regtype THEN 'numeric'
                                         ELSE format_type(a.atttypid, NULL) END
                               FROM unnest(columns) WITH ORDINALITY u(col, i)
                               JOIN pg_attribute a ON a.attrelid = (d->>'child')::oid AND a.attname = u.col
                              ORDER BY u.i);
    END IF;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'column % of candidate % no longer exists', missing, c.id
            USING ERRCODE = 'undefined_column', HINT = 'Run denorm_advisor.recommend() again.';
    END IF;
    base := denorm_advisor._object_base(c.kind, (d->>'fk')::oid);
    trigger_base := denorm_advisor._short_name(base);
    IF c.kind = 'copy_column' THEN
        fn_fill := denorm_advisor._short_name(base, '_fill');
        fn_push := denorm_advisor._short_name(base, '_push');
    ELSE
        fn_fill := denorm_advisor._short_name(base);
    END IF;
    -- room for the longest trigger suffix, _trunc
    trigger_base := CASE WHEN octet_length(base) <= 57 THEN base
                         ELSE left(base, 40) || '_' || left(md5(base), 8) END;
    -- whether the index is the script's own was decided by recommend()
    needs_index := coalesce((d->>'needs_index')::boolean, NOT denorm_advisor._fk_indexed((d->>'fk')::oid));
    index_name := denorm_advisor._short_name(format('%s_%s', crel, array_to_string(fkc.child_cols, '_')), '_da_idx');
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
    search_schemas text;
    mvq text;
    mvschema name;
BEGIN
    n := denorm_advisor._script_names(c);
    -- a copy and a counter on one foreign key would deadlock: the copy
    -- locks the parent FOR SHARE, the counter then updates it
    IF c.kind IN ('copy_column', 'counter') AND EXISTS (
           SELECT 1 FROM pg_trigger t
            WHERE t.tgrelid = (c.details->>'child')::oid
              AND t.tgname IN (
                  (SELECT CASE WHEN octet_length(b) <= 57 THEN b ELSE left(b, 40) || '_' || left(md5(b), 8) END
                     FROM denorm_advisor._object_base(
                              CASE WHEN c.kind = 'counter' THEN 'copy_column' ELSE 'counter' END,
                              (c.details->>'fk')::oid) b)
                  || CASE WHEN c.kind = 'counter' THEN '_fill' ELSE '_ins' END)) THEN
        RAISE EXCEPTION 'candidate % conflicts with the % applied on the same foreign key', c.id,
                        CASE WHEN c.kind = 'counter' THEN 'copy' ELSE 'counter' END
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The copy''s trigger locks the parent row FOR SHARE and the counter''s then updates it: two writers of children of one parent would deadlock.',
                  HINT = 'Keep one of them: apply the rollback_ddl() script of the other first.';
    END IF;
    -- the trigger functions find the operators of the tables' types there
    search_schemas := CASE WHEN n.child_schema = n.parent_schema THEN quote_ident(n.child_schema)
                           ELSE quote_ident(n.child_schema) || ', ' || quote_ident(n.parent_schema) END;
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
        SELECT (SELECT nspname FROM pg_namespace WHERE oid = cl.relnamespace) INTO mvschema
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
        SELECT string_agg(format('NEW.%I::text IS NOT DISTINCT FROM OLD.%I::text', x, x), E'\n       AND ')
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
            || E'-- SECURITY DEFINER: the writers of a table need no privilege on the\n'
            || E'-- other one, as with the triggers of a foreign key\n'
            || E'CREATE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER\n'
            || E'    SET search_path = pg_catalog, %s, pg_temp AS $da$\n'
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
            n.child_schema, n.fn_fill, search_schemas, unchanged, keynull,
            (SELECT string_agg(format(E'        NEW.%I := NULL;\n', x), '') FROM unnest(n.new_columns) x),
            (SELECT string_agg(format('p.%I', x), ', ') FROM unnest(n.columns) x),
            (SELECT string_agg(format('NEW.%I', x), ', ') FROM unnest(n.new_columns) x),
            n.parent, keyeq, n.trigger_base || '_fill', n.child, n.child_schema, n.fn_fill);
        s := s || format(E'CREATE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER\n'
            || E'    SET search_path = pg_catalog, %s, pg_temp AS $da$\n'
            || E'BEGIN\n'
            || E'    -- at REPEATABLE READ or SERIALIZABLE this UPDATE would not see\n'
            || E'    -- children committed after the snapshot: they would keep the old value\n'
            || E'    IF current_setting(''transaction_isolation'') <> ''read committed'' THEN\n'
            || E'        RAISE EXCEPTION ''columns of %s copied by denorm_advisor change at READ COMMITTED only''\n'
            || E'            USING ERRCODE = ''feature_not_supported'',\n'
            || E'                  HINT = ''Run the update in a READ COMMITTED transaction.'';\n'
            || E'    END IF;\n'
            || E'    UPDATE %s c\n       SET %s\n     WHERE %s\n       AND (%s);\n    RETURN NULL;\nEND\n$da$;\n'
            || E'CREATE TRIGGER %I AFTER UPDATE ON %s\n    FOR EACH ROW\n    WHEN (%s)\n    EXECUTE FUNCTION %I.%I();\n\n',
            n.parent_schema, n.fn_push, search_schemas, replace(n.parent, '''', ''''''), n.child,
            (SELECT string_agg(format('%I = NEW.%I', nc, pc), E',\n           ') FROM unnest(n.new_columns, n.columns) u(nc, pc)),
            (SELECT string_agg(format('c.%I = NEW.%I', k, p), ' AND ') FROM unnest(n.fk_child, n.fk_parent) u(k, p)),
            (SELECT string_agg(format('c.%I::text IS DISTINCT FROM NEW.%I::text', nc, pc), ' OR ') FROM unnest(n.new_columns, n.columns) u(nc, pc)),
            n.trigger_base || '_push', n.parent,
            (SELECT string_agg(format('OLD.%I::text IS DISTINCT FROM NEW.%I::text', x, x), ' OR ') FROM unnest(n.columns) x),
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
                (SELECT string_agg(format('p.%I::text IS NOT DISTINCT FROM c.%I::text', pc, nc), ' AND ') FROM unnest(n.columns, n.new_columns) u(pc, nc)));
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
            || E'CREATE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER\n'
            || E'    SET search_path = pg_catalog, %s, pg_temp AS $da$\nBEGIN\n'
            || E'    IF TG_OP = ''TRUNCATE'' THEN\n        UPDATE %s SET %s;\n        RETURN NULL;\n    END IF;\n'
            || E'    IF TG_OP IN (''UPDATE'', ''DELETE'') AND NOT (%s) THEN\n        UPDATE %s\n           SET %s\n         WHERE %s;\n    END IF;\n'
            || E'    IF TG_OP IN (''UPDATE'', ''INSERT'') AND NOT (%s) THEN\n        UPDATE %s\n           SET %s\n         WHERE %s;\n    END IF;\n'
            || E'    RETURN NULL;\nEND\n$da$;\n'
            || E'CREATE TRIGGER %I AFTER INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %I.%I();\n'
            || E'CREATE TRIGGER %I AFTER DELETE ON %s FOR EACH ROW EXECUTE FUNCTION %I.%I();\n'
            || E'CREATE TRIGGER %I AFTER UPDATE ON %s FOR EACH ROW\n    WHEN (%s)\n    EXECUTE FUNCTION %I.%I();\n'
            || E'CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %I.%I();\n\n',
            n.child_schema, n.fn_fill, search_schemas,
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
            n.trigger_base || '_upd', n.child,
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
        SELECT (SELECT nspname FROM pg_namespace WHERE oid = cl.relnamespace) INTO mvschema
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
        SELECT to_regclass(format('%I.%I', (SELECT nspname FROM pg_namespace WHERE oid = cl.relnamespace), c.details->>'name')) INTO mv
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
                       (SELECT string_agg(format('c.%I::text IS DISTINCT FROM p.%I::text', nc, pc), ' OR ') FROM unnest(n.new_columns, n.columns) u(nc, pc)))
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
/* A string as the inside of a DOT quoted string */
CREATE FUNCTION denorm_advisor._dot_escape(x text)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT replace(replace(x, '\', '\\'), '"', '\"');
$$;
COMMENT ON FUNCTION denorm_advisor._dot_escape(text) IS
'denorm_advisor (internal): escape backslashes and double quotes for a DOT quoted string';

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
        s := s || format(E'  "%s" [label="%s\\n%s rows"];\n', denorm_advisor._dot_escape(t.name), denorm_advisor._dot_escape(t.name), t.rows);
    END LOOP;
    FOR k IN SELECT con.oid, con.conname, con.conrelid::regclass::text AS child, con.confrelid::regclass::text AS parent
               FROM pg_constraint con
              WHERE con.contype = 'f' AND has_table_privilege(con.conrelid, 'SELECT')
                AND has_table_privilege(con.confrelid, 'SELECT')
                AND con.connamespace NOT IN ('pg_catalog'::regnamespace, 'denorm_advisor'::regnamespace)
              ORDER BY 3, 2 LOOP
        ms := (hot->>k.oid::text)::float8;
        label := denorm_advisor._dot_escape(k.conname);
        attrs := '';
        IF ms IS NOT NULL AND maxms > 0 THEN
            label := label || format('\n%s ms/h', round(ms::numeric, 1));
            attrs := format(', penwidth=%s', round((1 + 4 * ms / maxms)::numeric, 1));
        END IF;
        FOR c IN SELECT cd.id, cd.kind, cd.target FROM denorm_advisor.candidates cd
                  WHERE cd.owner = current_user AND cd.status = 'recommended'
                    AND cd.kind IN ('copy_column', 'counter') AND (cd.details->>'fk')::oid = k.oid
                  ORDER BY cd.id LOOP
            label := label || format('\n#%s %s: %s', c.id, c.kind, denorm_advisor._dot_escape(c.target));
            attrs := attrs || CASE WHEN c.kind = 'copy_column' THEN ', color="red", fontcolor="red"'
                                   ELSE ', color="blue", fontcolor="blue"' END;
        END LOOP;
        s := s || format(E'  "%s" -> "%s" [label="%s"%s];\n', denorm_advisor._dot_escape(k.child), denorm_advisor._dot_escape(k.parent), label, attrs);
    END LOOP;
    FOR c IN SELECT cd.id, cd.details->>'name' AS name, aq.read_tables
               FROM denorm_advisor.candidates cd
               JOIN denorm_advisor.analysed_queries aq ON aq.owner = cd.owner AND aq.query_id = cd.details->>'query_id'
              WHERE cd.owner = current_user AND cd.status = 'recommended' AND cd.kind = 'matview'
              ORDER BY cd.id LOOP
        s := s || format(E'  "%s" [label="#%s materialized view\\n%s", style="dashed", color="darkgreen", fontcolor="darkgreen"];\n',
                         denorm_advisor._dot_escape(c.name), c.id, denorm_advisor._dot_escape(c.name));
        s := s || (SELECT string_agg(format(E'  "%s" -> "%s" [style=dashed, color="darkgreen"];\n', denorm_advisor._dot_escape(c.name), denorm_advisor._dot_escape(r::text)), '' ORDER BY r::text)
                     FROM unnest(c.read_tables) r);
    END LOOP;
    RETURN s || E'}\n';
END
$$;
COMMENT ON FUNCTION denorm_advisor.schema_graph(text) IS
'denorm_advisor: the schema as a Graphviz DOT graph: tables, foreign keys, hot joins weighted by ms/h of the analysed workload, recommendations of the last recommend() highlighted';

/* ------------------------------------------------------------------------
 * 7. check_normalization()
 * ------------------------------------------------------------------------ */
/* ------------------------------------------------------------------------
 * denorm_advisor.check_normalization(): the normal-form checker
 *
 * What it reports, per table: candidate keys; functional dependencies
 * (FDs) X -> Y found in the data that violate 2NF, 3NF or BCNF; columns
 * that copy a column of a table referenced by a foreign key (flagged
 * "possibly intentional" when they look like snapshots); 1NF smells
 * (delimited lists in text columns, arrays used as sets, repeating column
 * groups).  Each finding carries an example from the data and a suggested
 * decomposition (DDL, migration, compatibility view) as text; nothing is
 * ever executed.
 *
 * Method.  Exact FD discovery (TANE, HyFD) is exponential in the number of
 * columns, so the search is limited to determinants of one or two columns
 * and done in two stages:
 *   1. Sample.  Up to sample_rows rows are read once: the whole table when
 *      it is that small, else TABLESAMPLE BERNOULLI with the fixed seed
 *      REPEATABLE (0) (and synchronized scans off), so that the same data
 *      gives the same sample.  Each value becomes a 64-bit hash from its
 *      type's own hash function (1.0 and 1.00 are one numeric), NULL the
 *      code 0; the codes are kept as a bigint array per column in a
 *      PL/pgSQL variable.  No temporary table: nothing can be left behind,
 *      and the checker also runs in read-only transactions and on standbys.
 *   2. Discover on the sample.  The error of X -> Y is g3: the smallest
 *      fraction of rows to delete for it to hold.  One GROUP BY per column
 *      pair gives both directions.  On large samples each pair is first
 *      grouped on a 5,000-row subsample and dropped when both directions
 *      fail there by far (an exact FD cannot fail on a subset), which spares
 *      most unrelated pairs.  Two-column LHS are tried where they can
 *      matter: pairs inside composite keys of 3+ columns (2NF), and pairs
 *      (a, b) that each carry information about y (far fewer distinct
 *      (a, y) than independence would give) without determining it alone.
 *   3. Confirm on the full table, one hash aggregate per candidate LHS: its
 *      support, and for each candidate y whether every group holds a single
 *      y (min = max).  Candidates that are not exact there get one more scan
 *      measuring their g3 (GROUPING SETS over all of them).  Only confirmed
 *      FDs are reported; "exact" means on every row, at the time of the scan.
 *   4. Reduce to what a decomposition needs: x -> z goes when x -> y -> z
 *      holds exactly through a y that does not determine x; of two columns
 *      that determine each other only the earlier one keeps its FDs;
 *      (a, b) -> y goes when a or b alone determines y, or y determines both.
 * Candidate keys are the declared PRIMARY KEY / UNIQUE constraints and
 * unique indexes (no predicate, no expression), plus single columns (and,
 * on tables without any declared key, column pairs) unique and never NULL
 * on the sample, then confirmed on the full table.
 *
 * Invariants (the traps this design avoids):
 * - Support.  A row whose LHS value occurs once can never violate X -> Y,
 *   so a nearly unique X "determines" everything (CREATE STATISTICS
 *   dependencies falls for this).  An FD needs at least 3 LHS values that
 *   repeat and 1% of the rows repeating an LHS value, and its error is
 *   measured against the repeated rows, not against all rows.
 * - Approximate FDs (dirty data) are kept only if at most 5% of the
 *   repeated rows disagree (so g3 <= 0.05), the groups that disagree keep a
 *   clear majority (80%: a tie between two values is two facts, not a
 *   typo), and Y is not nearly constant (any X "predicts" a 99% value).
 * - NULL: rows whose LHS has a NULL are skipped (an unknown determinant
 *   asserts nothing); on the right-hand side NULL is a value like any
 *   other, so "NULL here, 'Paris' there" for one zip is a violation.
 * - Nothing is reported with a key as the determinant: an FD whose LHS
 *   contains a candidate key violates no normal form.
 * - A column that copies a referenced column is one finding ("copied
 *   column"), and the FDs it takes part in are not reported again.
 * - Safety: the functions run with the caller's privileges (no SECURITY
 *   DEFINER) and only read: ACCESS SHARE locks on the table and the tables
 *   its foreign keys reference, no temporary objects.  Tables and columns
 *   the caller cannot SELECT are skipped when scanning the database and
 *   raise insufficient_privilege when named.  Identifiers are always
 *   quoted (%I), values passed as literals (%L) or parameters.
 * - Time budget: denorm_advisor.time_budget (milliseconds, default 60000)
 *   is checked between steps; a table not finished in time contributes no
 *   rows at all, and a WARNING names every table that was not checked.
 *   One step (one scan of a large table) can overrun the budget.
 * ------------------------------------------------------------------------
 */

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/*
 * The time budget in milliseconds.  The module defines the setting with
 * GUC_UNIT_MS, so current_setting() shows units ("1min"); in a session that
 * has not loaded the module yet, SET leaves a placeholder string instead.
 * Both are parsed here; unset means the default.
 */
CREATE FUNCTION denorm_advisor._nf_time_budget_ms()
RETURNS bigint
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_raw text := current_setting('denorm_advisor.time_budget', true);
    v_m text[];
BEGIN
    IF v_raw IS NULL OR btrim(v_raw) = '' THEN
        RETURN 60000;
    END IF;
    v_m := regexp_match(v_raw, '^\s*([0-9]{1,12})\s*(ms|s|min|h|d)?\s*$');
    IF v_m IS NULL THEN
        RAISE EXCEPTION 'invalid value for parameter "denorm_advisor.time_budget": "%"', v_raw
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set it to a number of milliseconds (default 60000).';
    END IF;
    RETURN v_m[1]::bigint * CASE coalesce(v_m[2], 'ms')
                                WHEN 'ms' THEN 1
                                WHEN 's' THEN 1000
                                WHEN 'min' THEN 60000
                                WHEN 'h' THEN 3600000
                                ELSE 86400000 END;
END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_time_budget_ms() IS
'denorm_advisor (internal): the setting denorm_advisor.time_budget in milliseconds (default 60000, 0 = no limit)';

/*
 * Raised between steps when the time budget is spent; check_normalization()
 * catches SQLSTATE DAN01 and drops the unfinished table's rows.
 */
CREATE FUNCTION denorm_advisor._nf_check_deadline(p_deadline timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF clock_timestamp() > p_deadline THEN
        RAISE EXCEPTION 'denorm_advisor.time_budget exceeded'
            USING ERRCODE = 'DAN01';
    END IF;
END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_check_deadline(timestamptz) IS
'denorm_advisor (internal): raises SQLSTATE DAN01 once the normalization checker''s time budget is spent';

/*
 * Progress for the curious DBA (SET client_min_messages = debug1): one
 * DEBUG line per step with its duration; returns the new step start.
 */
CREATE FUNCTION denorm_advisor._nf_debug_step(p_rel text, p_step text, p_since timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    RAISE DEBUG 'denorm_advisor.check_normalization: %: % in % ms', p_rel, p_step,
        round(extract(epoch FROM clock_timestamp() - p_since) * 1000);
    RETURN clock_timestamp();
END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_debug_step(text, text, timestamptz) IS
'denorm_advisor (internal): DEBUG message with the duration of one step of the normalization checker';

/*
 * What the checker can do with values of a type: 'h' = hash them with the
 * type's own extended hash function (hash_record_extended), 'e' = group
 * them (an equality operator), 'o' = sort them, 'm' = min() and max()
 * (not every sortable type has them: bit varying, ranges).  Found by asking the
 * parser and the type cache rather than by re-implementing their rules
 * (domains, binary-coercible opclasses, arrays of hashable elements...).
 */
CREATE FUNCTION denorm_advisor._nf_type_caps(p_type regtype)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_caps text := '';
BEGIN
    BEGIN
        EXECUTE format('SELECT pg_catalog.hash_record_extended(ROW(NULL::%s), 0)', p_type);
        v_caps := v_caps || 'h';
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    BEGIN
        EXECUTE format('SELECT 1 FROM (SELECT NULL::%s AS v) s GROUP BY v', p_type);
        v_caps := v_caps || 'e';
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    BEGIN
        EXECUTE format('SELECT 1 FROM (SELECT NULL::%s AS v) s ORDER BY v', p_type);
        v_caps := v_caps || 'o';
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    BEGIN
        EXECUTE format('SELECT min(v) = max(v) FROM (SELECT NULL::%s AS v) s', p_type);
        v_caps := v_caps || 'm';
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    RETURN v_caps;
END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_type_caps(regtype) IS
'denorm_advisor (internal): h = hashable, e = groupable, o = sortable, m = has min/max: what the normalization checker can do with a type';

/*
 * Statistics of one sampled column, given as hash codes (0 = NULL):
 * non-NULL rows, distinct non-NULL values, values occurring more than once
 * and the rows they cover, and the count of the most common value (NULL
 * counted as a value) for the "nearly constant" test.
 */
CREATE FUNCTION denorm_advisor._nf_column_stats(bigint[],
    OUT nonnull bigint, OUT ndistinct bigint, OUT multi_groups bigint,
    OUT multi_rows bigint, OUT mode_count bigint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT coalesce(sum(g.c) FILTER (WHERE g.v <> 0), 0)::bigint,
       count(*) FILTER (WHERE g.v <> 0),
       count(*) FILTER (WHERE g.v <> 0 AND g.c > 1),
       coalesce(sum(g.c) FILTER (WHERE g.v <> 0 AND g.c > 1), 0)::bigint,
       coalesce(max(g.c), 0)
FROM (SELECT u.v, count(*) AS c
      FROM (SELECT unnest($1) AS v) AS u
      GROUP BY u.v) AS g
$$;
COMMENT ON FUNCTION denorm_advisor._nf_column_stats(bigint[]) IS
'denorm_advisor (internal): non-NULL, distinct and repeated value counts of one sampled column of hash codes (0 = NULL)';

/*
 * One GROUP BY (x, y) over two sampled columns answers both directions:
 * kept_xy = sum over non-NULL x of the count of its most common y, so
 * g3(x -> y) = 1 - kept_xy / nonnull(x); conflicting_xy = rows of the x
 * values that have more than one y (for the majority test); pairs = the
 * number of distinct (x, y), NULLs included (key and independence tests).
 * unnest() in the select list zips the arrays and is several times faster
 * than unnest(a, b) in FROM.
 */
CREATE FUNCTION denorm_advisor._nf_pair_stats(bigint[], bigint[],
    OUT kept_xy bigint, OUT kept_yx bigint,
    OUT conflicting_xy bigint, OUT conflicting_yx bigint, OUT pairs bigint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT coalesce(sum(h.m) FILTER (WHERE h.gx = 0 AND h.x <> 0), 0)::bigint,
       coalesce(sum(h.m) FILTER (WHERE h.gy = 0 AND h.y <> 0), 0)::bigint,
       coalesce(sum(h.n) FILTER (WHERE h.gx = 0 AND h.x <> 0 AND h.k > 1), 0)::bigint,
       coalesce(sum(h.n) FILTER (WHERE h.gy = 0 AND h.y <> 0 AND h.k > 1), 0)::bigint,
       coalesce(sum(h.k) FILTER (WHERE h.gx = 0), 0)::bigint
FROM (SELECT grouping(g.x) AS gx, grouping(g.y) AS gy, g.x, g.y,
             max(g.c) AS m, sum(g.c) AS n, count(*) AS k
      FROM (SELECT u.x, u.y, count(*) AS c
            FROM (SELECT unnest($1) AS x, unnest($2) AS y) AS u
            GROUP BY u.x, u.y) AS g
      GROUP BY GROUPING SETS ((g.x), (g.y))) AS h
$$;
COMMENT ON FUNCTION denorm_advisor._nf_pair_stats(bigint[], bigint[]) IS
'denorm_advisor (internal): g3 numerators, conflicting rows and distinct pairs of two sampled columns, both directions from one GROUP BY';

/*
 * The codes of a two-column LHS: one code per row, 0 when either part is
 * NULL (such rows are skipped as LHS).  Row order is kept (no ORDER BY is
 * needed: the aggregate reads the zipped arrays in order).
 */
CREATE FUNCTION denorm_advisor._nf_combine(bigint[], bigint[])
RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT array_agg(CASE WHEN u.a = 0 OR u.b = 0 THEN 0
                      ELSE pg_catalog.hash_record_extended(ROW(u.a, u.b), 0) END)
FROM (SELECT unnest($1) AS a, unnest($2) AS b) AS u
$$;
COMMENT ON FUNCTION denorm_advisor._nf_combine(bigint[], bigint[]) IS
'denorm_advisor (internal): hash codes of a two-column left-hand side from the codes of its columns';

/*
 * Is X -> Y (with viol violating rows) a dependency worth keeping?  Exact
 * ones always are.  Approximate ones: at most p_eps of the repeated rows
 * violate (g3 = viol / rows <= viol / repeated), the groups that disagree
 * keep a majority (viol <= p_majority * conflicting rows), and Y is not so
 * skewed that any X would "predict" it (e0 = share of rows outside Y's most
 * common value; viol / repeated must be well below it).  The discovery
 * stage passes looser limits than the confirmation.
 */
CREATE FUNCTION denorm_advisor._nf_fd_accept(p_viol bigint, p_repeated bigint,
    p_conflicting bigint, p_e0 double precision, p_eps double precision,
    p_majority double precision, p_skew double precision)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT p_viol = 0
       OR (p_repeated > 0
           AND p_viol <= p_eps * p_repeated
           AND p_viol <= p_majority * p_conflicting
           AND p_viol <= p_skew * p_e0 * p_repeated)
$$;
COMMENT ON FUNCTION denorm_advisor._nf_fd_accept(bigint, bigint, bigint, double precision, double precision, double precision, double precision) IS
'denorm_advisor (internal): the acceptance test for exact and approximate functional dependencies';

/*
 * Which normal form X -> Y violates, given the candidate keys as jsonb
 * ([{"cols": [...], "minimal": true}, ...]); NULL when it violates none
 * (X contains a key).  Prime attributes are the columns of minimal keys.
 */
CREATE FUNCTION denorm_advisor._nf_classify(p_lhs text[], p_rhs text, p_keys jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CASE
         WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(p_keys) AS k
                      WHERE k->'cols' <@ to_jsonb(p_lhs)) THEN NULL
         WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(p_keys) AS k
                      WHERE (k->>'minimal')::boolean AND k->'cols' ? p_rhs) THEN 'BCNF'
         WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(p_keys) AS k
                      WHERE (k->>'minimal')::boolean
                        AND to_jsonb(p_lhs) <@ (k->'cols')
                        AND jsonb_array_length(k->'cols') > cardinality(p_lhs)) THEN '2NF'
         ELSE '3NF'
       END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_classify(text[], text, jsonb) IS
'denorm_advisor (internal): the normal form (2NF, 3NF, BCNF) a functional dependency violates, NULL if none';

/*
 * Column names that say "this is a copy kept on purpose": a value at the
 * time of an event (price_at_order), a snapshot, history, an address
 * written on a shipment or bill.
 */
CREATE FUNCTION denorm_advisor._nf_snapshot_name(p_column text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT lower(p_column) ~ ('(_at_(order|purchase|sale|booking|checkout|signup|creation|time|invoice|shipment)'
                          '|snapshot|histor|as_of|_then$|^orig(inal)?_|^(ship|shipping|billing|delivery)_)')
$$;
COMMENT ON FUNCTION denorm_advisor._nf_snapshot_name(text) IS
'denorm_advisor (internal): does a column name suggest an intentional snapshot copy (price_at_order, ship_address, ...)';

/*
 * A new relation name derived from a table: "<table>_<suffix>", cut to
 * NAMEDATALEN - 1 bytes without splitting a character (unquoted; it goes
 * in the table's schema).
 */
CREATE FUNCTION denorm_advisor._nf_new_name(p_rel regclass, p_suffix text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_name text;
BEGIN
    SELECT c.relname || '_' || p_suffix INTO v_name
    FROM pg_catalog.pg_class c
    WHERE c.oid = p_rel;
    WHILE octet_length(v_name) > 63 LOOP
        v_name := left(v_name, -1);
    END LOOP;
    RETURN v_name;
END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_new_name(regclass, text) IS
'denorm_advisor (internal): the name "<table>_<suffix>" (at most 63 bytes) for a relation in a suggested decomposition';

/* The quoted, schema-qualified name of a relation (whatever search_path). */
CREATE FUNCTION denorm_advisor._nf_qualified(p_rel regclass)
RETURNS text
LANGUAGE sql STABLE
AS $$
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = p_rel
$$;
COMMENT ON FUNCTION denorm_advisor._nf_qualified(regclass) IS
'denorm_advisor (internal): the quoted, schema-qualified name of a relation';

/*
 * SQL text that renders a column reference as an example value: numbers
 * and booleans bare, everything else as a quoted literal, cut at 60
 * characters.
 */
CREATE FUNCTION denorm_advisor._nf_show(p_expr text, p_category text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CASE WHEN p_category IN ('N', 'B')
            THEN format('coalesce((%s)::text, ''NULL'')', p_expr)
            ELSE format('coalesce(quote_literal(left((%s)::text, 60)), ''NULL'')', p_expr) END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_show(text, text) IS
'denorm_advisor (internal): SQL expression text that shows a value in an example';

/*
 * A warning line for suggestions on a table that views (or materialized
 * views) read: DROP COLUMN fails while they exist, so they must be dropped
 * first and recreated on the compatibility view.  NULL when there are none.
 */
CREATE FUNCTION denorm_advisor._nf_dependents_note(p_rel regclass)
RETURNS text
LANGUAGE sql STABLE
AS $$
SELECT format('-- views read %s: drop %s before the DROP COLUMN and recreate them on the new view',
              denorm_advisor._nf_qualified(p_rel),
              string_agg(DISTINCT denorm_advisor._nf_qualified(r.ev_class), ', '))
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
  AND d.refobjid = p_rel AND r.ev_class <> p_rel
HAVING count(*) > 0
$$;
COMMENT ON FUNCTION denorm_advisor._nf_dependents_note(regclass) IS
'denorm_advisor (internal): warning line naming the views that must be recreated when a suggested decomposition is applied';

/*
 * The last lines of every suggested decomposition: rename the table to
 * "<table>_base" and put a view with the original name and column order in
 * its place, so that readers keep working.  p_cols / p_exprs give the
 * expressions of the columns that moved; the others read t.<column>.
 */
CREATE FUNCTION denorm_advisor._nf_view_sql(p_rel regclass, p_cols text[], p_exprs text[], p_join text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_nsp name;
    v_name name;
    v_select text;
BEGIN
    SELECT n.nspname, c.relname INTO v_nsp, v_name
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = p_rel;
    SELECT string_agg(CASE WHEN x.pos IS NULL THEN format('t.%I', a.attname)
                           WHEN p_exprs[x.pos] = format('%s.%I', split_part(p_exprs[x.pos], '.', 1), a.attname)
                           THEN p_exprs[x.pos]
                           ELSE format('%s AS %I', p_exprs[x.pos], a.attname) END,
                      ', ' ORDER BY a.attnum)
    INTO v_select
    FROM pg_catalog.pg_attribute a
    CROSS JOIN LATERAL (SELECT array_position(p_cols, a.attname::text) AS pos) x
    WHERE a.attrelid = p_rel AND a.attnum > 0 AND NOT a.attisdropped;
    RETURN format(E'-- a view with the original name and shape keeps readers working\n'
                  'ALTER TABLE %I.%I RENAME TO %I;\n'
                  'CREATE VIEW %I.%I AS\n'
                  '    SELECT %s\n'
                  '    FROM %I.%I t%s;',
                  v_nsp, v_name, denorm_advisor._nf_new_name(p_rel, 'base'),
                  v_nsp, v_name, v_select,
                  v_nsp, denorm_advisor._nf_new_name(p_rel, 'base'), p_join);
END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_view_sql(regclass, text[], text[], text) IS
'denorm_advisor (internal): SQL text of the compatibility view that ends each suggested decomposition';

/*
 * "name type [COLLATE c]" of a column, for the CREATE TABLE of a suggested
 * decomposition; p_as renames it (the element column of a 1NF split).
 */
CREATE FUNCTION denorm_advisor._nf_column_def(p_rel regclass, p_col text, p_as text DEFAULT NULL)
RETURNS text
LANGUAGE sql STABLE
AS $$
SELECT format('%I %s%s', coalesce(p_as, a.attname),
              pg_catalog.format_type(a.atttypid, a.atttypmod),
              CASE WHEN a.attcollation <> t.typcollation
                   THEN ' COLLATE ' || (SELECT format('%I.%I', cn.nspname, co.collname)
                                        FROM pg_catalog.pg_collation co
                                        JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                                        WHERE co.oid = a.attcollation)
                   ELSE '' END)
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = p_rel AND a.attname = p_col
$$;
COMMENT ON FUNCTION denorm_advisor._nf_column_def(regclass, text, text) IS
'denorm_advisor (internal): column definition text (name, type, collation) for suggested DDL';

/*
 * The suggested decomposition for X -> Y (one LHS, the RHS columns that
 * move with it).  Three shapes:
 *  - X is exactly the columns of a foreign key and the referenced table has
 *    no column of that name: the columns move into the referenced table;
 *  - otherwise a new table keyed by X takes them, with a foreign key from
 *    the original table (and an index on it, unless one exists);
 *  - BCNF (Y is part of a key): the same, and the key that loses Y is
 *    replaced by (key - Y) + X, which the split cannot preserve as a
 *    constraint: said so in the text.
 * Approximate columns are first made to agree with their group's majority.
 * Each shape ends with the compatibility view.
 */
CREATE FUNCTION denorm_advisor._nf_suggest_split(p_rel regclass, p_lhs text[], p_rhs text[],
    p_approx text[], p_nf text, p_keys jsonb, p_null_lhs bigint)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_rel text := denorm_advisor._nf_qualified(p_rel);
    v_nsp name;
    v_lines text[] := '{}';
    v_lhs text;
    v_rhs text;
    v_nn text;
    v_new_name text;
    v_new text;
    v_y text;
    v_fk record;
    v_key jsonb;
    v_newkey text[];
    v_exprs text[];
BEGIN
    SELECT n.nspname INTO v_nsp
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = p_rel;
    SELECT string_agg(quote_ident(x), ', ' ORDER BY o),
           string_agg(format('%I IS NOT NULL', x), ' AND ' ORDER BY o)
    INTO v_lhs, v_nn
    FROM unnest(p_lhs) WITH ORDINALITY AS u(x, o);
    SELECT string_agg(quote_ident(x), ', ' ORDER BY o) INTO v_rhs
    FROM unnest(p_rhs) WITH ORDINALITY AS u(x, o);

    v_lines := v_lines || denorm_advisor._nf_dependents_note(p_rel);
    IF p_null_lhs > 0 THEN
        v_lines := v_lines || format('-- caution: %s rows have no %s (NULL): their %s cannot move and would read as NULL in the view; fill in %s first, or keep those values elsewhere',
                                     p_null_lhs, v_lhs, v_rhs, v_lhs);
    END IF;
    IF cardinality(p_approx) > 0 THEN
        v_lines := v_lines || format('-- first make the rows that disagree agree with the most common value of their %s, e.g.:', v_lhs);
        FOREACH v_y IN ARRAY p_approx LOOP
            v_lines := v_lines || format(
                E'UPDATE %s t SET %I = m.%I\n'
                '    FROM (SELECT DISTINCT ON (%s) %s, %I FROM %s WHERE %s\n'
                '          GROUP BY %s, %I ORDER BY %s, count(*) DESC) m\n'
                '    WHERE %s AND t.%I IS DISTINCT FROM m.%I;',
                v_rel, v_y, v_y,
                v_lhs, v_lhs, v_y, v_rel, v_nn,
                v_lhs, v_y, v_lhs,
                (SELECT string_agg(format('m.%I = t.%I', x, x), ' AND ') FROM unnest(p_lhs) AS x),
                v_y, v_y);
        END LOOP;
    END IF;

    /* X is a foreign key: move the columns to the referenced table */
    IF p_nf <> 'BCNF' THEN
        SELECT con.confrelid::regclass AS parent,
               array_agg(a.attname::text ORDER BY x.ord) AS fk_cols,
               array_agg(pa.attname::text ORDER BY x.ord) AS pk_cols
        INTO v_fk
        FROM pg_catalog.pg_constraint con
        CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS x(ck, pk, ord)
        JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = x.ck
        JOIN pg_catalog.pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = x.pk
        WHERE con.conrelid = p_rel AND con.contype = 'f'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute pa2
                          WHERE pa2.attrelid = con.confrelid AND pa2.attname = ANY (p_rhs)
                            AND NOT pa2.attisdropped)
        GROUP BY con.oid, con.conname, con.confrelid
        HAVING array_agg(a.attname::text ORDER BY a.attname) =
               (SELECT array_agg(x ORDER BY x) FROM unnest(p_lhs) AS x)
        ORDER BY con.conname
        LIMIT 1;
        IF v_fk.parent IS NOT NULL THEN
            v_lines := v_lines || format('-- %s references %s: the dependent columns belong there',
                                         v_lhs, denorm_advisor._nf_qualified(v_fk.parent));
            v_lines := v_lines || format('ALTER TABLE %s %s;', denorm_advisor._nf_qualified(v_fk.parent),
                                         (SELECT string_agg('ADD COLUMN ' || denorm_advisor._nf_column_def(p_rel, y), ', ' ORDER BY o)
                                          FROM unnest(p_rhs) WITH ORDINALITY AS u(y, o)));
            v_lines := v_lines || format(
                E'UPDATE %s p SET %s\n'
                '    FROM (SELECT DISTINCT %s, %s FROM %s WHERE %s) s\n'
                '    WHERE %s;',
                denorm_advisor._nf_qualified(v_fk.parent),
                (SELECT string_agg(format('%I = s.%I', y, y), ', ' ORDER BY o) FROM unnest(p_rhs) WITH ORDINALITY AS u(y, o)),
                v_lhs, v_rhs, v_rel, v_nn,
                (SELECT string_agg(format('p.%I = s.%I', u.pk, u.fk), ' AND ')
                 FROM unnest(v_fk.pk_cols, v_fk.fk_cols) AS u(pk, fk)));
            v_lines := v_lines || format('ALTER TABLE %s %s;', v_rel,
                                         (SELECT string_agg(format('DROP COLUMN %I', y), ', ' ORDER BY o)
                                          FROM unnest(p_rhs) WITH ORDINALITY AS u(y, o)));
            SELECT array_agg(format('p.%I', y) ORDER BY o) INTO v_exprs
            FROM unnest(p_rhs) WITH ORDINALITY AS u(y, o);
            v_lines := v_lines || denorm_advisor._nf_view_sql(p_rel, p_rhs, v_exprs,
                format(' LEFT JOIN %s p ON %s', denorm_advisor._nf_qualified(v_fk.parent),
                       (SELECT string_agg(format('p.%I = t.%I', u.pk, u.fk), ' AND ')
                        FROM unnest(v_fk.pk_cols, v_fk.fk_cols) AS u(pk, fk))));
            RETURN array_to_string(v_lines, E'\n');
        END IF;
    END IF;

    /* a new table keyed by X */
    v_new_name := denorm_advisor._nf_new_name(p_rel, array_to_string(p_lhs, '_'));
    v_new := format('%I.%I', v_nsp, v_new_name);
    v_lines := v_lines || format(E'CREATE TABLE %s (\n    %s,\n    PRIMARY KEY (%s)\n);',
        v_new,
        (SELECT string_agg(denorm_advisor._nf_column_def(p_rel, x) || ' NOT NULL', E',\n    ' ORDER BY o)
         FROM unnest(p_lhs) WITH ORDINALITY AS u(x, o))
        || E',\n    ' ||
        (SELECT string_agg(denorm_advisor._nf_column_def(p_rel, y), E',\n    ' ORDER BY o)
         FROM unnest(p_rhs) WITH ORDINALITY AS u(y, o)),
        v_lhs);
    v_lines := v_lines || format(E'INSERT INTO %s (%s, %s)\n    SELECT DISTINCT %s, %s FROM %s WHERE %s;',
                                 v_new, v_lhs, v_rhs, v_lhs, v_rhs, v_rel, v_nn);
    v_lines := v_lines || format('ALTER TABLE %s ADD FOREIGN KEY (%s) REFERENCES %s (%s);',
                                 v_rel, v_lhs, v_new, v_lhs);
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                   WHERE i.indrelid = p_rel
                     AND i.indnkeyatts >= cardinality(p_lhs)
                     AND (SELECT array_agg(a.attname::text ORDER BY a.attname)
                          FROM generate_series(0, cardinality(p_lhs) - 1) AS g
                          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[g])
                         = (SELECT array_agg(x ORDER BY x) FROM unnest(p_lhs) AS x)) THEN
        v_lines := v_lines || format('CREATE INDEX ON %s (%s);', v_rel, v_lhs);
    END IF;
    IF p_nf = 'BCNF' THEN
        /* the minimal key that loses its column: replace it by (K - Y) + X */
        SELECT k INTO v_key
        FROM jsonb_array_elements(p_keys) AS k
        WHERE (k->>'minimal')::boolean AND k->'cols' ?| p_rhs
        ORDER BY (k->>'source') NOT LIKE 'PRIMARY KEY%', k->>'source'
        LIMIT 1;
        SELECT array_agg(x ORDER BY o) INTO v_newkey
        FROM (SELECT x, o FROM jsonb_array_elements_text(v_key->'cols') WITH ORDINALITY AS u(x, o)
              WHERE x <> ALL (p_rhs)
              UNION ALL
              SELECT x, 1000 + o FROM unnest(p_lhs) WITH ORDINALITY AS u(x, o)) AS s;
        v_lines := v_lines || format('-- BCNF: %s is part of the key (%s), which becomes (%s); the dependency (%s) -> %s cannot be declared any more after the split: keeping the table as it is (it is in 3NF) is a common choice',
            v_rhs,
            (SELECT string_agg(quote_ident(x), ', ') FROM jsonb_array_elements_text(v_key->'cols') AS x),
            (SELECT string_agg(quote_ident(x), ', ') FROM unnest(v_newkey) AS x),
            (SELECT string_agg(quote_ident(x), ', ') FROM jsonb_array_elements_text(v_key->'cols') AS x),
            (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
             FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = p_rel AND a.attnum > 0 AND NOT a.attisdropped
               AND NOT (v_key->'cols') ? a.attname));
        v_lines := v_lines || format('ALTER TABLE %s %s;', v_rel,
                                     (SELECT string_agg(format('DROP COLUMN %I', y), ', ' ORDER BY o)
                                      FROM unnest(p_rhs) WITH ORDINALITY AS u(y, o)));
        v_lines := v_lines || format('ALTER TABLE %s ADD %s (%s);', v_rel,
                                     CASE WHEN v_key->>'source' LIKE 'PRIMARY KEY%' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END,
                                     (SELECT string_agg(quote_ident(x), ', ') FROM unnest(v_newkey) AS x));
    ELSE
        v_lines := v_lines || format('ALTER TABLE %s %s;', v_rel,
                                     (SELECT string_agg(format('DROP COLUMN %I', y), ', ' ORDER BY o)
                                      FROM unnest(p_rhs) WITH ORDINALITY AS u(y, o)));
    END IF;
    SELECT array_agg(format('n.%I', y) ORDER BY o) INTO v_exprs
    FROM unnest(p_rhs) WITH ORDINALITY AS u(y, o);
    v_lines := v_lines || denorm_advisor._nf_view_sql(p_rel, p_rhs, v_exprs,
        format(' LEFT JOIN %s n ON %s', v_new,
               (SELECT string_agg(format('n.%I = t.%I', x, x), ' AND ') FROM unnest(p_lhs) AS x)));
    RETURN array_to_string(v_lines, E'\n');
END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_suggest_split(regclass, text[], text[], text[], text, jsonb, bigint) IS
'denorm_advisor (internal): suggested decomposition (DDL, migration, compatibility view) for a functional dependency that violates 2NF, 3NF or BCNF';

/*
 * The suggestion for a column that copies a column of a referenced table.
 * A snapshot (values diverge, or the name says so) is left alone unless
 * the DBA decides it must follow the referenced value; an exact copy is
 * dropped and read through the foreign key.
 */
CREATE FUNCTION denorm_advisor._nf_suggest_copy(p_rel regclass, p_fk_cols text[], p_parent regclass,
    p_pk_cols text[], p_col text, p_parent_col text, p_differ bigint, p_snapshot_name boolean,
    p_unjoined bigint)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_rel text := denorm_advisor._nf_qualified(p_rel);
    v_parent text := denorm_advisor._nf_qualified(p_parent);
    v_on text;
    v_lines text[] := '{}';
BEGIN
    SELECT string_agg(format('p.%I = t.%I', u.pk, u.fk), ' AND ') INTO v_on
    FROM unnest(p_pk_cols, p_fk_cols) AS u(pk, fk);
    IF p_differ > 0 OR p_snapshot_name THEN
        v_lines := v_lines || format('-- possibly intentional: %s',
            CASE WHEN p_differ > 0
                 THEN format('%I differs from %s.%I on %s rows, as a value recorded when the row was written (a price or an address at order time) would; keep it if that is its purpose',
                             p_col, v_parent, p_parent_col, p_differ)
                 ELSE format('the name %I suggests a snapshot of %s.%I taken when the row was written; keep it if so',
                             p_col, v_parent, p_parent_col) END);
        v_lines := v_lines || format('-- if it must always equal %s.%I instead, drop it and read that column through the foreign key:',
                                     v_parent, p_parent_col);
        IF p_differ > 0 THEN
            v_lines := v_lines || format('-- (the %s differing rows then show the current value)', p_differ);
        END IF;
    ELSE
        v_lines := v_lines || format('-- %I repeats %s.%I through the foreign key (%s): read it from there',
                                     p_col, v_parent, p_parent_col,
                                     (SELECT string_agg(quote_ident(x), ', ') FROM unnest(p_fk_cols) AS x));
    END IF;
    IF p_unjoined > 0 THEN
        v_lines := v_lines || format('-- caution: %s rows have no referenced row (a NULL foreign key): their %I would read as NULL',
                                     p_unjoined, p_col);
    END IF;
    v_lines := v_lines || denorm_advisor._nf_dependents_note(p_rel);
    v_lines := v_lines || format('ALTER TABLE %s DROP COLUMN %I;', v_rel, p_col);
    v_lines := v_lines || denorm_advisor._nf_view_sql(p_rel, ARRAY[p_col], ARRAY[format('p.%I', p_parent_col)],
                                                      format(' LEFT JOIN %s p ON %s', v_parent, v_on));
    RETURN array_to_string(v_lines, E'\n');
END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_suggest_copy(regclass, text[], regclass, text[], text, text, bigint, boolean, bigint) IS
'denorm_advisor (internal): suggestion for a column copied from a referenced table (keep a snapshot, or drop and join)';

/*
 * The 1NF decompositions: one row per element in a new table keyed by the
 * table's key.  p_kind: 'list' (delimited text; element order kept in
 * column n), 'array' (a set: one row per distinct element), 'group'
 * (repeating columns; n = the column's number).
 */
CREATE FUNCTION denorm_advisor._nf_suggest_1nf(p_rel regclass, p_kind text, p_cols text[],
    p_delim text, p_base text, p_key text[], p_key_declared boolean)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_rel text := denorm_advisor._nf_qualified(p_rel);
    v_nsp name;
    v_new text;
    v_key text;
    v_keydefs text;
    v_elem text;
    v_elemtype text;
    v_lines text[] := '{}';
    v_exprs text[];
    v_on text;
    v_sortable boolean;
BEGIN
    IF p_key IS NULL THEN
        RETURN format('-- %s has no key: declare one (a PRIMARY KEY) first; then move %s into a table of its own with one row per value, keyed by that key',
                      v_rel, (SELECT string_agg(quote_ident(x), ', ') FROM unnest(p_cols) AS x));
    END IF;
    SELECT n.nspname INTO v_nsp
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = p_rel;
    v_lines := v_lines || denorm_advisor._nf_dependents_note(p_rel);
    v_new := format('%I.%I', v_nsp, denorm_advisor._nf_new_name(p_rel, CASE WHEN p_kind = 'group' THEN p_base ELSE p_cols[1] END));
    SELECT string_agg(quote_ident(x), ', ' ORDER BY o),
           string_agg(denorm_advisor._nf_column_def(p_rel, x) || ' NOT NULL', E',\n    ' ORDER BY o)
    INTO v_key, v_keydefs
    FROM unnest(p_key) WITH ORDINALITY AS u(x, o);
    SELECT string_agg(format('e.%I = t.%I', x, x), ' AND ') INTO v_on FROM unnest(p_key) AS x;
    v_elem := CASE WHEN p_kind = 'group' THEN p_base ELSE p_cols[1] END;
    IF v_elem = ANY (p_key) OR v_elem = 'n' THEN
        v_elem := v_elem || '_value';
    END IF;

    IF p_kind = 'list' THEN
        v_elemtype := 'text';
    ELSIF p_kind = 'array' THEN
        SELECT pg_catalog.format_type(t.typelem, a.atttypmod), denorm_advisor._nf_type_caps(t.typelem) LIKE '%o%'
        INTO v_elemtype, v_sortable
        FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = p_rel AND a.attname = p_cols[1];
    ELSE
        SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO v_elemtype
        FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = p_rel AND a.attname = p_cols[1];
    END IF;

    v_lines := v_lines || format(E'CREATE TABLE %s (\n    %s,\n    %s%I %s NOT NULL,\n    PRIMARY KEY (%s, %s)%s\n);',
        v_new, v_keydefs,
        CASE WHEN p_kind = 'array' THEN '' ELSE E'n integer NOT NULL,\n    ' END,
        v_elem, v_elemtype,
        v_key, CASE WHEN p_kind = 'array' THEN quote_ident(v_elem) ELSE 'n' END,
        CASE WHEN p_key_declared
             THEN format(E',\n    FOREIGN KEY (%s) REFERENCES %s (%s)', v_key, v_rel, v_key)
             ELSE '' END);
    IF p_kind = 'list' THEN
        v_lines := v_lines || format(
            E'INSERT INTO %s (%s, n, %I)\n'
            '    SELECT %s, e.n, btrim(e.v)\n'
            '    FROM %s t, unnest(string_to_array(btrim(t.%I, '' []{}()''), %L)) WITH ORDINALITY AS e(v, n)\n'
            '    WHERE btrim(e.v) <> '''';',
            v_new, v_key, v_elem,
            (SELECT string_agg(format('t.%I', x), ', ') FROM unnest(p_key) AS x),
            v_rel, p_cols[1], p_delim);
        v_exprs := ARRAY[format('(SELECT string_agg(e.%I, %L ORDER BY e.n) FROM %s e WHERE %s)',
                                v_elem, p_delim, v_new, v_on)];
    ELSIF p_kind = 'array' THEN
        v_lines := v_lines || format(
            E'INSERT INTO %s (%s, %I)\n'
            '    SELECT DISTINCT %s, e.v\n'
            '    FROM %s t, unnest(t.%I) AS e(v)\n'
            '    WHERE e.v IS NOT NULL;',
            v_new, v_key, v_elem,
            (SELECT string_agg(format('t.%I', x), ', ') FROM unnest(p_key) AS x),
            v_rel, p_cols[1]);
        v_exprs := ARRAY[format('(SELECT array_agg(e.%I%s) FROM %s e WHERE %s)',
                                v_elem, CASE WHEN v_sortable THEN format(' ORDER BY e.%I', v_elem) ELSE '' END,
                                v_new, v_on)];
    ELSE
        v_lines := v_lines || format(E'INSERT INTO %s (%s, n, %I)\n    %s;',
            v_new, v_key, v_elem,
            (SELECT string_agg(format('SELECT %s, %s, %I FROM %s WHERE %I IS NOT NULL',
                                      v_key, substring(x FROM '([0-9]+)$')::int, x, v_rel, x),
                               E'\n    UNION ALL ' ORDER BY o)
             FROM unnest(p_cols) WITH ORDINALITY AS u(x, o)));
        SELECT array_agg(format('(SELECT e.%I FROM %s e WHERE %s AND e.n = %s)',
                                v_elem, v_new, v_on, substring(x FROM '([0-9]+)$')::int) ORDER BY o)
        INTO v_exprs
        FROM unnest(p_cols) WITH ORDINALITY AS u(x, o);
    END IF;
    v_lines := v_lines || format('ALTER TABLE %s %s;', v_rel,
                                 (SELECT string_agg(format('DROP COLUMN %I', x), ', ' ORDER BY o)
                                  FROM unnest(p_cols) WITH ORDINALITY AS u(x, o)));
    v_lines := v_lines || denorm_advisor._nf_view_sql(p_rel, p_cols, v_exprs, '');
    RETURN array_to_string(v_lines, E'\n');
END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_suggest_1nf(regclass, text, text[], text, text, text[], boolean) IS
'denorm_advisor (internal): suggested 1NF decomposition (one row per element) for a delimited list, an array used as a set or a repeating column group';

/* ------------------------------------------------------------------------
 * The checker of one table
 * ------------------------------------------------------------------------ */

/*
 * Everything check_normalization() reports for one table, in no particular
 * order.  Raises SQLSTATE DAN01 when the deadline passes (the caller then
 * drops the table's rows: a table is reported completely or not at all).
 * The steps, each one query unless said otherwise:
 *   columns and declared keys (catalog); row count; one sample query that
 *   also computes the 1NF statistics of text and array columns; per-column
 *   statistics of the sample; single-column keys confirmed in one scan;
 *   pair statistics (one GROUP BY per column pair); pair keys (tables
 *   without a declared key) confirmed in one scan; FD candidates; one scan
 *   per candidate LHS to confirm; copies of referenced columns (a sampled
 *   join, then one scan per foreign key); 1NF counts (one scan); one query
 *   per reported finding for its example.
 */
CREATE FUNCTION denorm_advisor._nf_check_table(p_rel regclass, p_sample_rows integer, p_deadline timestamptz)
RETURNS TABLE (table_name regclass, finding text, normal_form text, lhs text[], rhs text[],
               exact boolean, g3 double precision, support bigint, possibly_intentional boolean,
               detail text, example text, suggestion text)
LANGUAGE plpgsql
/*
 * BERNOULLI picks the same rows for the same seed, but a synchronized scan
 * starts wherever another scan of the table is, so LIMIT would keep a
 * different subset (and the arrays another order): off, for reproducible
 * results.
 */
SET synchronize_seqscans = off
AS $fn$
#variable_conflict use_column
DECLARE
    /* thresholds, explained in the header of this file */
    c_min_groups CONSTANT integer := 3;
    c_min_repeated CONSTANT float8 := 0.01;
    c_eps CONSTANT float8 := 0.05;
    c_majority CONSTANT float8 := 0.20;
    c_skew CONSTANT float8 := 0.25;
    c_eps_sample CONSTANT float8 := 0.10;
    c_majority_sample CONSTANT float8 := 0.30;
    c_skew_sample CONSTANT float8 := 0.50;
    c_max_lhs2 CONSTANT integer := 100;
    c_max_pair_keys CONSTANT integer := 30;
    c_sub CONSTANT integer := 5000;
    /* 1NF lists: an item is 1 to 3 words of "word" characters */
    c_item CONSTANT text := '[[:alnum:]_@#&+/:.''-]+( [[:alnum:]_@#&+/:.''-]+){0,2}';
    c_delims CONSTANT text[] := ARRAY[',', ';', '|'];

    v_rel text := denorm_advisor._nf_qualified(p_rel);
    v_t timestamptz := clock_timestamp();
    v_total bigint;
    v_n integer;
    v_target integer;
    v_from text;
    v_sql text;
    v_s record;
    r record;
    st record;
    ps record;
    i integer;
    j integer;
    x integer;
    y integer;
    v_txt text;
    v_arr text[];

    /* the analysed columns (readable, groupable, not composite) */
    k integer := 0;
    v_col text[] := '{}';
    v_cat text[] := '{}';
    v_caps text[] := '{}';
    v_basetype oid[] := '{}';
    v_gen boolean[] := '{}';
    v_elemcaps text[] := '{}';
    v_capcache jsonb := '{}';

    /* per-column sample statistics */
    v_nonnull bigint[];
    v_nd bigint[];
    v_mg bigint[];
    v_mode bigint[];
    v_card bigint[];
    v_ckey boolean[];

    /* pair statistics, index (i - 1) * k + j with i < j */
    v_kxy bigint[];
    v_kyx bigint[];
    v_cxy bigint[];
    v_cyx bigint[];
    v_pairs bigint[];
    v_fdsample boolean[];
    /* the subsample, and the pair counts of the independence test */
    v_sub record;
    v_snn bigint[];
    v_snd bigint[];
    v_dpairs bigint[];
    v_dcard bigint[];
    v_dn integer;
    v_dir_ij boolean;
    v_dir_ji boolean;
    v_pairkey boolean;

    v_keys jsonb := '[]';
    v_ndeclared integer;
    v_cand_lhs text[] := '{}';
    v_cand_rhs integer[] := '{}';
    v_rhs integer[];
    v_comb bigint[];
    v_tried integer := 0;
    v_fds jsonb := '[]';
    v_fds_all jsonb := '[]';
    v_copies jsonb := '[]';
    v_prime text[];
    v_key text[];
    v_key_declared boolean;
    v_ints integer[];
    v_counts bigint[];

    /* 1NF */
    v_text_idx integer[] := '{}';
    v_array_idx integer[] := '{}';
    v_onenf jsonb := '[]';
BEGIN
    /* -------- columns -------- */
    FOR r IN
        SELECT a.attname::text AS name, a.attgenerated <> '' AS generated,
               bt.oid AS basetype, bt.typtype, bt.typcategory::text AS cat, bt.typelem
        FROM pg_catalog.pg_attribute a
        JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
        JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
        WHERE a.attrelid = p_rel AND a.attnum > 0 AND NOT a.attisdropped
          AND has_column_privilege(p_rel, a.attnum, 'SELECT')
        ORDER BY a.attnum
    LOOP
        CONTINUE WHEN r.typtype NOT IN ('b', 'e', 'r', 'm');
        IF NOT v_capcache ? r.basetype::text THEN
            v_capcache := v_capcache || jsonb_build_object(r.basetype::text, denorm_advisor._nf_type_caps(r.basetype));
        END IF;
        CONTINUE WHEN v_capcache->>r.basetype::text NOT LIKE '%e%';
        k := k + 1;
        v_col := v_col || r.name;
        v_cat := v_cat || r.cat;
        v_caps := v_caps || (v_capcache->>r.basetype::text);
        v_basetype := v_basetype || r.basetype;
        v_gen := v_gen || r.generated;
        IF r.cat = 'A' AND r.typelem <> 0 THEN
            IF NOT v_capcache ? r.typelem::text THEN
                v_capcache := v_capcache || jsonb_build_object(r.typelem::text, denorm_advisor._nf_type_caps(r.typelem));
            END IF;
            v_elemcaps := v_elemcaps || (v_capcache->>r.typelem::text);
            IF v_capcache->>r.typelem::text LIKE '%e%' THEN
                v_array_idx := v_array_idx || k;
            END IF;
        ELSE
            v_elemcaps := v_elemcaps || ''::text;
            IF r.cat = 'S' THEN
                v_text_idx := v_text_idx || k;
            END IF;
        END IF;
    END LOOP;

    /* -------- declared keys: PRIMARY KEY, UNIQUE, unique indexes -------- */
    FOR r IN
        SELECT array_agg(a.attname::text ORDER BY x.ord) AS cols,
               CASE max(con.contype)
                    WHEN 'p' THEN format('PRIMARY KEY %I', max(con.conname))
                    WHEN 'u' THEN format('UNIQUE constraint %I', max(con.conname))
                    ELSE format('unique index %I', max(ic.relname)) END AS source
        FROM pg_catalog.pg_index i
        JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
        LEFT JOIN pg_catalog.pg_constraint con
               ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u')
        CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS x(attnum, ord)
        JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = x.attnum
        WHERE i.indrelid = p_rel AND i.indisunique AND i.indisvalid
          AND i.indpred IS NULL AND i.indexprs IS NULL AND x.ord <= i.indnkeyatts
        GROUP BY i.indexrelid
        ORDER BY max(con.contype) = 'p' DESC, 2
    LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(v_keys) AS kk
                              WHERE kk->'cols' @> to_jsonb(r.cols) AND kk->'cols' <@ to_jsonb(r.cols));
        v_keys := v_keys || jsonb_build_array(jsonb_build_object('cols', to_jsonb(r.cols), 'source', r.source,
                                                                 'declared', true));
    END LOOP;
    v_ndeclared := jsonb_array_length(v_keys);

    PERFORM denorm_advisor._nf_check_deadline(p_deadline);
    EXECUTE format('SELECT count(*) FROM %s', v_rel) INTO v_total;
    v_t := denorm_advisor._nf_debug_step(v_rel, format('catalog and count (%s rows, %s columns analysed)', v_total, k), v_t);

    IF v_total > 0 AND k > 0 THEN
        /* -------- the sample: one read, codes and 1NF statistics -------- */
        PERFORM denorm_advisor._nf_check_deadline(p_deadline);
        /* 8 bytes per cell: keep a sample under ~400 MB whatever the width */
        v_target := least(p_sample_rows, greatest(100, 50000000 / k));
        IF v_total <= v_target THEN
            v_from := format('%s t', v_rel);
        ELSE
            /* expected size v_target; LIMIT only trims the odd excess */
            v_from := format('%s t TABLESAMPLE BERNOULLI (%s) REPEATABLE (0) LIMIT %s', v_rel,
                             round(100.0 * v_target / v_total, 6), v_target);
        END IF;
        SELECT 'WITH s AS MATERIALIZED (SELECT '
               || string_agg(format('t.%I AS c%s', v_col[i], i), ', ' ORDER BY i)
               || coalesce((SELECT ', ' || string_agg(format(
                      'CASE WHEN t.%1$I IS NULL THEN NULL'
                      ' WHEN t.%1$I::text ~ %2$L THEN -1'
                      ' WHEN t.%1$I::text ~ %3$L THEN 0'
                      ' WHEN strpos(t.%1$I::text, '','') > 0 AND t.%1$I::text ~ %4$L THEN 1'
                      ' WHEN strpos(t.%1$I::text, '';'') > 0 AND t.%1$I::text ~ %5$L THEN 2'
                      ' WHEN strpos(t.%1$I::text, ''|'') > 0 AND t.%1$I::text ~ %6$L THEN 3'
                      ' ELSE -1 END AS lk%7$s',
                      v_col[ti], '^\s*-?[0-9]+,[0-9]+\s*$',
                      '^\s*[\[{(]?\s*' || c_item || '\s*[\]})]?\s*$',
                      '^\s*[\[{(]?\s*' || c_item || '(\s*,\s*' || c_item || ')+\s*[\]})]?\s*$',
                      '^\s*[\[{(]?\s*' || c_item || '(\s*;\s*' || c_item || ')+\s*[\]})]?\s*$',
                      '^\s*[\[{(]?\s*' || c_item || '(\s*\|\s*' || c_item || ')+\s*[\]})]?\s*$',
                      ti), ', ')
                   FROM unnest(v_text_idx) AS ti), '')
               || format(' FROM %s)', v_from)
               || ' SELECT count(*)::integer AS n, ARRAY['
               || string_agg(format('array_agg(CASE WHEN s.c%1$s IS NULL THEN 0::bigint ELSE %2$s END)', i,
                                    CASE WHEN v_caps[i] LIKE '%h%'
                                         THEN format('pg_catalog.hash_record_extended(ROW(s.c%s), 0)', i)
                                         ELSE format('pg_catalog.hashtextextended(s.c%s::text, 0)', i) END),
                             ', ' ORDER BY i)
               || '] AS codes, '
               || coalesce((SELECT 'ARRAY[' || string_agg(format(
                      'count(*) FILTER (WHERE s.lk%1$s = 0), count(*) FILTER (WHERE s.lk%1$s = 1),'
                      ' count(*) FILTER (WHERE s.lk%1$s = 2), count(*) FILTER (WHERE s.lk%1$s = 3)', ti), ', ')
                      || ']::bigint[]'
                   FROM unnest(v_text_idx) AS ti), '''{}''::bigint[]') || ' AS tstats, '
               || coalesce((SELECT 'ARRAY[' || string_agg(format(
                      'min(s.c%1$s::text COLLATE "C") FILTER (WHERE s.lk%1$s = 1),'
                      ' min(s.c%1$s::text COLLATE "C") FILTER (WHERE s.lk%1$s = 2),'
                      ' min(s.c%1$s::text COLLATE "C") FILTER (WHERE s.lk%1$s = 3)', ti), ', ')
                      || ']::text[]'
                   FROM unnest(v_text_idx) AS ti), '''{}''::text[]') || ' AS texamples, '
               || coalesce((SELECT 'ARRAY[' || string_agg(format(
                      'count(*) FILTER (WHERE cardinality(s.c%1$s) >= 2),'
                      ' count(*) FILTER (WHERE cardinality(s.c%1$s) >= 2 AND cardinality(s.c%1$s) ='
                      ' (SELECT count(*) FROM (SELECT DISTINCT e FROM unnest(s.c%1$s) AS e) AS d)),'
                      ' count(DISTINCT cardinality(s.c%1$s)),'
                      ' coalesce(max(array_ndims(s.c%1$s)), 0),'
                      ' (SELECT count(*) FROM s AS s2, unnest(s2.c%1$s) AS e),'
                      ' (SELECT count(*) FROM (SELECT DISTINCT e FROM s AS s2, unnest(s2.c%1$s) AS e) AS d), %2$s',
                      ai,
                      CASE WHEN v_elemcaps[ai] LIKE '%o%' THEN format(
                          'count(*) FILTER (WHERE cardinality(s.c%1$s) >= 2'
                          ' AND s.c%1$s = (SELECT array_agg(e ORDER BY e) FROM unnest(s.c%1$s) AS e)),'
                          ' count(DISTINCT s.c%1$s) FILTER (WHERE cardinality(s.c%1$s) >= 2),'
                          ' count(DISTINCT (SELECT array_agg(e ORDER BY e) FROM unnest(s.c%1$s) AS e))'
                          ' FILTER (WHERE cardinality(s.c%1$s) >= 2)', ai)
                           ELSE '-1, -1, -1' END), ', ')
                      || ']::bigint[]'
                   FROM unnest(v_array_idx) AS ai), '''{}''::bigint[]') || ' AS astats, '
               || coalesce((SELECT 'ARRAY[' || string_agg(format(
                      'min(s.c%1$s::text COLLATE "C") FILTER (WHERE cardinality(s.c%1$s) >= 2)', ai), ', ')
                      || ']::text[]'
                   FROM unnest(v_array_idx) AS ai), '''{}''::text[]') || ' AS aexamples'
               || ' FROM s'
        INTO v_sql
        FROM generate_series(1, k) AS i;
        EXECUTE v_sql INTO v_s;
        v_n := v_s.n;
        v_t := denorm_advisor._nf_debug_step(v_rel, format('sample of %s rows', v_n), v_t);
    ELSE
        v_n := 0;
    END IF;

    IF v_n > 0 THEN
        /* -------- per-column statistics -------- */
        v_nonnull := array_fill(0::bigint, ARRAY[k]);
        v_nd := v_nonnull;
        v_mg := v_nonnull;
        v_mode := v_nonnull;
        v_card := v_nonnull;
        v_ckey := array_fill(false, ARRAY[k]);
        FOR i IN 1 .. k LOOP
            PERFORM denorm_advisor._nf_check_deadline(p_deadline);
            SELECT * INTO st FROM denorm_advisor._nf_column_stats(v_s.codes[i:i][1:v_n]);
            v_nonnull[i] := st.nonnull;
            v_nd[i] := st.ndistinct;
            v_mg[i] := st.multi_groups;
            v_mode[i] := st.mode_count;
            v_card[i] := st.ndistinct + CASE WHEN st.nonnull < v_n THEN 1 ELSE 0 END;
            v_ckey[i] := EXISTS (SELECT 1 FROM jsonb_array_elements(v_keys) AS kk
                                 WHERE kk->'cols' = jsonb_build_array(v_col[i]));
        END LOOP;

        v_t := denorm_advisor._nf_debug_step(v_rel, 'column statistics', v_t);

        /* -------- single-column keys: unique and NULL-free on the sample, then on the table -------- */
        SELECT array_agg(i ORDER BY i) INTO v_rhs
        FROM generate_series(1, k) AS i
        WHERE v_nonnull[i] = v_n AND v_nd[i] = v_n AND v_n >= 2 AND NOT v_ckey[i];
        IF v_rhs IS NOT NULL THEN
            PERFORM denorm_advisor._nf_check_deadline(p_deadline);
            EXECUTE format('SELECT coalesce(array_agg(DISTINCT q.i), ''{}'') FROM'
                           ' (SELECT CASE %s END AS i FROM %s t GROUP BY GROUPING SETS (%s)'
                           ' HAVING count(*) > 1 OR %s) AS q',
                           (SELECT string_agg(format('WHEN GROUPING(t.%I) = 0 THEN %s', v_col[c], c), ' ') FROM unnest(v_rhs) AS c),
                           v_rel,
                           (SELECT string_agg(format('(t.%I)', v_col[c]), ', ') FROM unnest(v_rhs) AS c),
                           (SELECT string_agg(format('(GROUPING(t.%1$I) = 0 AND t.%1$I IS NULL)', v_col[c]), ' OR ') FROM unnest(v_rhs) AS c))
            INTO v_cand_rhs;
            FOREACH i IN ARRAY v_rhs LOOP
                CONTINUE WHEN i = ANY (v_cand_rhs);
                v_ckey[i] := true;
                v_keys := v_keys || jsonb_build_array(jsonb_build_object('cols', jsonb_build_array(v_col[i]),
                                                                         'source', 'discovered', 'declared', false));
            END LOOP;
            v_cand_rhs := '{}';
        END IF;

        v_t := denorm_advisor._nf_debug_step(v_rel, 'single-column keys', v_t);

        /* -------- pair statistics on the sample -------- */
        v_kxy := array_fill(NULL::bigint, ARRAY[k * k]);
        v_kyx := v_kxy;
        v_cxy := v_kxy;
        v_cyx := v_kxy;
        v_pairs := v_kxy;
        v_dpairs := v_kxy;
        v_fdsample := array_fill(false, ARRAY[k * k]);
        /*
         * On a large sample every pair is first grouped on a strided
         * subsample of about c_sub rows.  A direction that fails there by
         * far (more than half of 20+ repeated rows disagree) is dead; a pair
         * with both directions dead is not grouped on the full sample.  An
         * exact FD never fails on a subset of the rows, and an approximate
         * one (at most 5% disagree) does not fail at 50% on 20 rows, so
         * nothing is lost; most pairs of unrelated columns die cheaply.
         * The subsample's pair counts also feed the independence test of
         * the two-column search (v_dpairs, v_dcard, v_dn).
         */
        v_dcard := v_card;
        v_dn := v_n;
        IF v_n > 2 * c_sub THEN
            SELECT array_agg(ARRAY(SELECT v_s.codes[c][g] FROM generate_series(1, v_n, v_n / c_sub) AS g) ORDER BY c) AS codes
            INTO v_sub
            FROM generate_series(1, k) AS c;
            v_dn := cardinality(v_sub.codes[1:1][:]);
            v_snn := array_fill(0::bigint, ARRAY[k]);
            v_snd := v_snn;
            FOR i IN 1 .. k LOOP
                SELECT * INTO st FROM denorm_advisor._nf_column_stats(v_sub.codes[i:i][1:v_dn]);
                v_snn[i] := st.nonnull;
                v_snd[i] := st.ndistinct;
                v_dcard[i] := st.ndistinct + CASE WHEN st.nonnull < v_dn THEN 1 ELSE 0 END;
            END LOOP;
        END IF;
        FOR i IN 1 .. k - 1 LOOP
            FOR j IN i + 1 .. k LOOP
                /* a direction is worth computing if its LHS repeats and its RHS varies */
                v_dir_ij := NOT v_ckey[i] AND v_mg[i] >= c_min_groups AND NOT v_gen[j] AND NOT v_ckey[j] AND v_card[j] >= 2;
                v_dir_ji := NOT v_ckey[j] AND v_mg[j] >= c_min_groups AND NOT v_gen[i] AND NOT v_ckey[i] AND v_card[i] >= 2;
                v_pairkey := v_ndeclared = 0 AND NOT v_ckey[i] AND NOT v_ckey[j]
                             AND v_nonnull[i] = v_n AND v_nonnull[j] = v_n;
                CONTINUE WHEN NOT (v_dir_ij OR v_dir_ji OR v_pairkey);
                PERFORM denorm_advisor._nf_check_deadline(p_deadline);
                IF v_dn < v_n THEN
                    SELECT * INTO ps FROM denorm_advisor._nf_pair_stats(v_sub.codes[i:i][1:v_dn], v_sub.codes[j:j][1:v_dn]);
                    v_dpairs[(i - 1) * k + j] := ps.pairs;
                    v_dir_ij := v_dir_ij AND NOT (v_snn[i] - v_snd[i] >= 20
                                                  AND v_snn[i] - ps.kept_xy > 0.5 * (v_snn[i] - v_snd[i]));
                    v_dir_ji := v_dir_ji AND NOT (v_snn[j] - v_snd[j] >= 20
                                                  AND v_snn[j] - ps.kept_yx > 0.5 * (v_snn[j] - v_snd[j]));
                    v_pairkey := v_pairkey AND ps.pairs = v_dn;
                    CONTINUE WHEN NOT (v_dir_ij OR v_dir_ji OR v_pairkey);
                END IF;
                SELECT * INTO ps FROM denorm_advisor._nf_pair_stats(v_s.codes[i:i][1:v_n], v_s.codes[j:j][1:v_n]);
                v_kxy[(i - 1) * k + j] := ps.kept_xy;
                v_kyx[(i - 1) * k + j] := ps.kept_yx;
                v_cxy[(i - 1) * k + j] := ps.conflicting_xy;
                v_cyx[(i - 1) * k + j] := ps.conflicting_yx;
                v_pairs[(i - 1) * k + j] := ps.pairs;
                IF v_dn = v_n THEN
                    v_dpairs[(i - 1) * k + j] := ps.pairs;
                END IF;
            END LOOP;
        END LOOP;

        v_t := denorm_advisor._nf_debug_step(v_rel, format('%s column pairs grouped on the sample', (SELECT count(*) FROM unnest(v_pairs) AS pp WHERE pp IS NOT NULL)), v_t);

        /* -------- pair keys, on tables that declare no key at all -------- */
        IF v_ndeclared = 0 THEN
            SELECT array_agg(q.i ORDER BY q.w, q.i), array_agg(q.j ORDER BY q.w, q.i) INTO v_rhs, v_cand_rhs
            FROM (SELECT i, j, v_nd[i] * v_nd[j] AS w
                  FROM generate_series(1, k) AS i, generate_series(1, k) AS j
                  WHERE i < j AND v_pairs[(i - 1) * k + j] = v_n AND v_nonnull[i] = v_n AND v_nonnull[j] = v_n
                    AND NOT v_ckey[i] AND NOT v_ckey[j]
                  ORDER BY w, i, j
                  LIMIT c_max_pair_keys) AS q;
            IF v_rhs IS NOT NULL THEN
                PERFORM denorm_advisor._nf_check_deadline(p_deadline);
                EXECUTE format('SELECT coalesce(array_agg(DISTINCT q.p), ''{}'') FROM'
                               ' (SELECT CASE %s END AS p FROM %s t GROUP BY GROUPING SETS (%s)'
                               ' HAVING count(*) > 1 OR %s) AS q',
                               (SELECT string_agg(format('WHEN GROUPING(t.%I) = 0 AND GROUPING(t.%I) = 0 THEN %s',
                                                         v_col[v_rhs[p]], v_col[v_cand_rhs[p]], p), ' ')
                                FROM generate_subscripts(v_rhs, 1) AS p),
                               v_rel,
                               (SELECT string_agg(format('(t.%I, t.%I)', v_col[v_rhs[p]], v_col[v_cand_rhs[p]]), ', ')
                                FROM generate_subscripts(v_rhs, 1) AS p),
                               (SELECT string_agg(format('(GROUPING(t.%1$I) = 0 AND GROUPING(t.%2$I) = 0 AND (t.%1$I IS NULL OR t.%2$I IS NULL))',
                                                         v_col[v_rhs[p]], v_col[v_cand_rhs[p]]), ' OR ')
                                FROM generate_subscripts(v_rhs, 1) AS p))
                INTO v_ints;
                FOR x IN 1 .. cardinality(v_rhs) LOOP
                    CONTINUE WHEN x = ANY (v_ints);
                    v_keys := v_keys || jsonb_build_array(jsonb_build_object(
                        'cols', jsonb_build_array(v_col[v_rhs[x]], v_col[v_cand_rhs[x]]),
                        'source', 'discovered', 'declared', false));
                END LOOP;
            END IF;
            v_cand_rhs := '{}';
        END IF;
    END IF;

    /* a key is minimal unless another key is a proper subset of it */
    SELECT coalesce(jsonb_agg(kk || jsonb_build_object('minimal', NOT EXISTS (
               SELECT 1 FROM jsonb_array_elements(v_keys) AS k2
               WHERE k2->'cols' <@ (kk->'cols') AND NOT k2->'cols' @> (kk->'cols'))) ORDER BY o), '[]')
    INTO v_keys
    FROM jsonb_array_elements(v_keys) WITH ORDINALITY AS u(kk, o);

    IF v_n > 0 THEN
        /* -------- FD candidates with a one-column LHS -------- */
        FOR x IN 1 .. k LOOP
            CONTINUE WHEN v_ckey[x] OR v_mg[x] < c_min_groups;
            FOR y IN 1 .. k LOOP
                CONTINUE WHEN y = x OR v_gen[y] OR v_ckey[y] OR v_card[y] < 2;
                i := least(x, y);
                j := greatest(x, y);
                CONTINUE WHEN v_kxy[(i - 1) * k + j] IS NULL;
                IF denorm_advisor._nf_fd_accept(
                       v_nonnull[x] - CASE WHEN x < y THEN v_kxy[(i - 1) * k + j] ELSE v_kyx[(i - 1) * k + j] END,
                       v_nonnull[x] - v_nd[x],
                       CASE WHEN x < y THEN v_cxy[(i - 1) * k + j] ELSE v_cyx[(i - 1) * k + j] END,
                       1.0 - v_mode[y]::float8 / v_n,
                       c_eps_sample, c_majority_sample, c_skew_sample) THEN
                    v_fdsample[(x - 1) * k + y] := true;
                    v_cand_lhs := v_cand_lhs || ARRAY[v_col[x]]::text;
                    v_cand_rhs := v_cand_rhs || y;
                END IF;
            END LOOP;
        END LOOP;

        /*
         * -------- FD candidates with a two-column LHS --------
         * (a) pairs inside a composite key of 3+ columns, for 2NF;
         * (b) pairs (a, b) where each of a and b carries information about
         *     y (far fewer distinct (a, y) than independence would give)
         *     but neither determines it alone, e.g. (region, store_no) ->
         *     store_name.
         */
        FOR r IN
            WITH cand AS (
                SELECT a, b, y, 1 AS pri, 0::float8 AS w
                FROM jsonb_array_elements(v_keys) AS kk,
                     generate_series(1, k) AS a, generate_series(1, k) AS b, generate_series(1, k) AS y
                WHERE (kk->>'minimal')::boolean AND jsonb_array_length(kk->'cols') >= 3
                  AND a < b AND kk->'cols' ? v_col[a] AND kk->'cols' ? v_col[b]
                  AND y <> a AND y <> b AND NOT v_gen[y] AND NOT v_ckey[y] AND v_card[y] >= 2
                  AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v_keys) AS k2
                                  WHERE (k2->>'minimal')::boolean AND k2->'cols' ? v_col[y])
                UNION
                SELECT a, b, y, 2, dep_a + dep_b
                FROM (SELECT a, b, y,
                             v_dpairs[(least(a, y) - 1) * k + greatest(a, y)]
                               / (v_dcard[a] * v_dcard[y] * (1 - exp(-least(v_dn::float8 / (v_dcard[a] * v_dcard[y]), 700)))) AS dep_a,
                             v_dpairs[(least(b, y) - 1) * k + greatest(b, y)]
                               / (v_dcard[b] * v_dcard[y] * (1 - exp(-least(v_dn::float8 / (v_dcard[b] * v_dcard[y]), 700)))) AS dep_b
                      FROM generate_series(1, k) AS a, generate_series(1, k) AS b, generate_series(1, k) AS y
                      WHERE a < b AND y <> a AND y <> b
                        AND NOT v_ckey[a] AND NOT v_ckey[b] AND NOT v_gen[y] AND NOT v_ckey[y] AND v_card[y] >= 2
                        AND v_dcard[a] >= 2 AND v_dcard[b] >= 2 AND v_dcard[y] >= 2
                        AND v_dpairs[(least(a, y) - 1) * k + greatest(a, y)] IS NOT NULL
                        AND v_dpairs[(least(b, y) - 1) * k + greatest(b, y)] IS NOT NULL) AS d
                WHERE dep_a <= 0.5 AND dep_b <= 0.5
            )
            SELECT c.a, c.b, array_agg(c.y ORDER BY c.y) AS ys
            FROM (SELECT DISTINCT ON (a, b, y) a, b, y, pri, w FROM cand ORDER BY a, b, y, pri) AS c
            WHERE NOT v_fdsample[(c.a - 1) * k + c.y] AND NOT v_fdsample[(c.b - 1) * k + c.y]
            GROUP BY c.a, c.b
            ORDER BY min(c.pri), min(c.w), c.a, c.b
        LOOP
            EXIT WHEN v_tried >= c_max_lhs2;
            PERFORM denorm_advisor._nf_check_deadline(p_deadline);
            v_comb := denorm_advisor._nf_combine(v_s.codes[r.a:r.a][1:v_n], v_s.codes[r.b:r.b][1:v_n]);
            SELECT * INTO st FROM denorm_advisor._nf_column_stats(v_comb);
            CONTINUE WHEN st.multi_groups < c_min_groups;
            FOREACH y IN ARRAY r.ys LOOP
                EXIT WHEN v_tried >= c_max_lhs2;
                v_tried := v_tried + 1;
                PERFORM denorm_advisor._nf_check_deadline(p_deadline);
                SELECT * INTO ps FROM denorm_advisor._nf_pair_stats(v_comb, v_s.codes[y:y][1:v_n]);
                IF denorm_advisor._nf_fd_accept(st.nonnull - ps.kept_xy, st.nonnull - st.ndistinct, ps.conflicting_xy,
                                                1.0 - v_mode[y]::float8 / v_n,
                                                c_eps_sample, c_majority_sample, c_skew_sample) THEN
                    v_cand_lhs := v_cand_lhs || ARRAY[v_col[r.a], v_col[r.b]]::text;
                    v_cand_rhs := v_cand_rhs || y;
                END IF;
            END LOOP;
        END LOOP;

        v_t := denorm_advisor._nf_debug_step(v_rel, format('%s candidates (%s two-column LHS tried)', cardinality(v_cand_rhs), v_tried), v_t);

        /*
         * -------- confirm on the full table --------
         * Per LHS, one hash aggregate over the table: its support, the most
         * repeated LHS value (for the example), and for every candidate y
         * whose type has min() and max(), whether each group holds one y
         * (min = max, no NULL mixed in): enough for the usual exact case.
         * Candidates that are not exact there (or have no min/max) get one
         * more scan that measures their g3 (GROUPING SETS over them all).
         */
        FOR r IN
            SELECT c.l::text[] AS l, array_agg(c.y ORDER BY c.y) AS ys,
                   array_agg(c.y ORDER BY c.y) FILTER (WHERE v_caps[c.y] LIKE '%m%') AS sortable
            FROM unnest(v_cand_lhs, v_cand_rhs) AS c(l, y)
            GROUP BY c.l
            ORDER BY c.l COLLATE "C"
        LOOP
            PERFORM denorm_advisor._nf_check_deadline(p_deadline);
            EXECUTE format(
                'WITH g AS MATERIALIZED ('
                '  SELECT count(*) AS n, ARRAY[%1$s]::text[] AS xt, ARRAY[%2$s]::boolean[] AS one'
                '  FROM %3$s t WHERE %4$s GROUP BY %5$s)'
                ' SELECT count(*) AS groups, count(*) FILTER (WHERE g.n > 1) AS multi_groups,'
                ' coalesce(sum(g.n), 0)::bigint AS nx, coalesce(sum(g.n) FILTER (WHERE g.n > 1), 0)::bigint AS multi_rows,'
                ' %6$s AS bad,'
                ' (SELECT t.xt FROM g AS t ORDER BY t.n DESC, t.xt LIMIT 1) AS top,'
                ' max(g.n) AS top_n'
                ' FROM g',
                (SELECT string_agg(format('t.%I::text COLLATE "C"', xx), ', ') FROM unnest(r.l) AS xx),
                coalesce((SELECT string_agg(format('count(t.%1$I) = 0 OR (count(t.%1$I) = count(*) AND min(t.%1$I) = max(t.%1$I))',
                                                   v_col[yy]), ', ')
                          FROM unnest(r.sortable) AS yy), ''),
                v_rel,
                (SELECT string_agg(format('t.%I IS NOT NULL', xx), ' AND ') FROM unnest(r.l) AS xx),
                (SELECT string_agg(format('t.%I', xx), ', ') FROM unnest(r.l) AS xx),
                coalesce((SELECT 'ARRAY[' || string_agg(format('count(*) FILTER (WHERE NOT g.one[%s])', o), ', ') || ']::bigint[]'
                          FROM generate_subscripts(r.sortable, 1) AS o), '''{}''::bigint[]'))
            INTO ps;
            CONTINUE WHEN ps.multi_groups < c_min_groups OR ps.nx - ps.groups < c_min_repeated * ps.nx;
            v_ints := '{}';
            FOREACH y IN ARRAY r.ys LOOP
                IF array_position(r.sortable, y) IS NOT NULL AND ps.bad[array_position(r.sortable, y)] = 0 THEN
                    v_fds := v_fds || jsonb_build_array(jsonb_build_object(
                        'lhs', to_jsonb(r.l), 'rhs', v_col[y], 'exact', true, 'g3', 0,
                        'viol', 0, 'nx', ps.nx, 'groups', ps.groups, 'support', ps.multi_rows,
                        'top', to_jsonb(ps.top), 'top_n', ps.top_n));
                ELSE
                    v_ints := v_ints || y;
                END IF;
            END LOOP;
            CONTINUE WHEN cardinality(v_ints) = 0;

            PERFORM denorm_advisor._nf_check_deadline(p_deadline);
            v_sql := format(
                'SELECT q.i, sum(q.m)::bigint AS kept, sum(q.n)::bigint AS nx,'
                ' coalesce(sum(q.n) FILTER (WHERE q.m < q.n), 0)::bigint AS conflicting'
                ' FROM (SELECT g.i, %1$s, max(g.c) AS m, sum(g.c) AS n'
                '       FROM (SELECT CASE %2$s END AS i, %3$s, count(*) AS c FROM %4$s t WHERE %5$s'
                '             GROUP BY GROUPING SETS (%6$s)) AS g'
                '       GROUP BY g.i, %1$s) AS q'
                ' GROUP BY q.i',
                (SELECT string_agg(format('g.x%s', o), ', ') FROM generate_subscripts(r.l, 1) AS o),
                (SELECT string_agg(format('WHEN GROUPING(t.%I) = 0 THEN %s', v_col[yy], yy), ' ') FROM unnest(v_ints) AS yy),
                (SELECT string_agg(format('t.%I AS x%s', r.l[o], o), ', ') FROM generate_subscripts(r.l, 1) AS o),
                v_rel,
                (SELECT string_agg(format('t.%I IS NOT NULL', xx), ' AND ') FROM unnest(r.l) AS xx),
                (SELECT string_agg(format('(%s, t.%I)',
                                          (SELECT string_agg(format('t.%I', xx), ', ') FROM unnest(r.l) AS xx),
                                          v_col[yy]), ', ')
                 FROM unnest(v_ints) AS yy));
            FOR st IN EXECUTE v_sql LOOP
                CONTINUE WHEN NOT denorm_advisor._nf_fd_accept(st.nx - st.kept, ps.nx - ps.groups, st.conflicting,
                                                               1.0 - v_mode[st.i]::float8 / v_n,
                                                               c_eps, c_majority, c_skew);
                v_fds := v_fds || jsonb_build_array(jsonb_build_object(
                    'lhs', to_jsonb(r.l), 'rhs', v_col[st.i], 'exact', st.kept = st.nx,
                    'g3', round((st.nx - st.kept)::numeric / st.nx, 6),
                    'viol', st.nx - st.kept, 'nx', st.nx, 'groups', ps.groups,
                    'support', ps.multi_rows, 'top', to_jsonb(ps.top), 'top_n', ps.top_n));
            END LOOP;
        END LOOP;

        v_t := denorm_advisor._nf_debug_step(v_rel, format('confirmation: %s dependencies hold', jsonb_array_length(v_fds)), v_t);

        /*
         * Keep the dependencies a decomposition needs: (a, b) -> y goes if a
         * or b alone determines y exactly, or if y determines a and b (the
         * three are one entity, keyed by y); x -> z goes if x -> y -> z holds
         * exactly through a y that does not determine x (zip -> city ->
         * state: zip -> state is implied); of two columns that determine
         * each other, only the first one's dependencies stay.
         */
        v_fds_all := v_fds;
        SELECT coalesce(jsonb_agg(f.fd ORDER BY f.o), '[]') INTO v_fds
        FROM jsonb_array_elements(v_fds) WITH ORDINALITY AS f(fd, o)
        WHERE NOT EXISTS (
                  SELECT 1 FROM jsonb_array_elements(v_fds) AS g
                  WHERE jsonb_array_length(f.fd->'lhs') = 2 AND jsonb_array_length(g->'lhs') = 1
                    AND f.fd->'lhs' @> (g->'lhs') AND g->'rhs' = f.fd->'rhs' AND (g->>'exact')::boolean)
          /* (a, b) -> y where y -> a and y -> b: y is the real determinant */
          AND NOT (jsonb_array_length(f.fd->'lhs') = 2
                   AND (SELECT count(*) FROM jsonb_array_elements(v_fds) AS g
                        WHERE g->'lhs' = jsonb_build_array(f.fd->'rhs') AND f.fd->'lhs' ? (g->>'rhs')) = 2)
          AND NOT (jsonb_array_length(f.fd->'lhs') = 1 AND (f.fd->>'exact')::boolean AND EXISTS (
                  SELECT 1
                  FROM jsonb_array_elements(v_fds) AS xy, jsonb_array_elements(v_fds) AS yz
                  WHERE xy->'lhs' = f.fd->'lhs' AND (xy->>'exact')::boolean
                    AND yz->'lhs' = jsonb_build_array(xy->'rhs') AND yz->'rhs' = f.fd->'rhs'
                    AND (yz->>'exact')::boolean
                    AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v_fds) AS yx
                                    WHERE yx->'lhs' = yz->'lhs' AND yx->'rhs' = f.fd->'lhs'->0
                                      AND (yx->>'exact')::boolean)
                    /* if y and z determine each other, only the earlier one may stand for the other */
                    AND (array_position(v_col, xy->>'rhs') < array_position(v_col, f.fd->>'rhs')
                         OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v_fds) AS zy
                                        WHERE zy->'lhs' = jsonb_build_array(f.fd->'rhs') AND zy->'rhs' = xy->'rhs'
                                          AND (zy->>'exact')::boolean))))
          /* y -> ... where y and an earlier column x determine each other: x speaks for both */
          AND NOT (jsonb_array_length(f.fd->'lhs') = 1 AND EXISTS (
                  SELECT 1
                  FROM jsonb_array_elements(v_fds) AS yx, jsonb_array_elements(v_fds) AS xy
                  WHERE yx->'lhs' = f.fd->'lhs' AND (yx->>'exact')::boolean
                    AND xy->'lhs' = jsonb_build_array(yx->'rhs') AND xy->'rhs' = f.fd->'lhs'->0
                    AND (xy->>'exact')::boolean
                    AND array_position(v_col, yx->>'rhs') < array_position(v_col, f.fd->'lhs'->>0)));
    END IF;

    v_prime := ARRAY(SELECT DISTINCT c FROM jsonb_array_elements(v_keys) AS kk, jsonb_array_elements_text(kk->'cols') AS c
                     WHERE (kk->>'minimal')::boolean);
    /* the key a 1NF split hangs its new table on: the first minimal key (primary key first) */
    SELECT ARRAY(SELECT jsonb_array_elements_text(kk->'cols')), (kk->>'declared')::boolean
    INTO v_key, v_key_declared
    FROM jsonb_array_elements(v_keys) WITH ORDINALITY AS u(kk, o)
    WHERE (kk->>'minimal')::boolean
    ORDER BY o
    LIMIT 1;

    IF v_n > 0 THEN
        /*
         * -------- copies of referenced columns --------
         * For each foreign key, each non-key column y of this table and
         * each column z of the referenced table with a comparable type:
         * how often y = z on a sampled join; where it is mostly equal (and
         * z varies: not a status shared by chance), count on the full join.
         */
        FOR r IN
            SELECT con.conname, con.confrelid::regclass AS parent,
                   array_agg(a.attname::text ORDER BY x.ord) AS fk_cols,
                   array_agg(pa.attname::text ORDER BY x.ord) AS pk_cols
            FROM pg_catalog.pg_constraint con
            CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS x(ck, pk, ord)
            JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = x.ck
            JOIN pg_catalog.pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = x.pk
            JOIN pg_catalog.pg_class pc ON pc.oid = con.confrelid
            WHERE con.conrelid = p_rel AND con.contype = 'f'
              AND has_schema_privilege(pc.relnamespace, 'USAGE')
            GROUP BY con.oid, con.conname, con.confrelid
            HAVING bool_and(has_column_privilege(con.confrelid, pa.attnum, 'SELECT'))
               AND bool_and(a.attname::text = ANY (v_col))
            ORDER BY con.conname
        LOOP
            PERFORM denorm_advisor._nf_check_deadline(p_deadline);
            SELECT array_agg(q.yi ORDER BY q.yi, q.attnum), array_agg(q.zname ORDER BY q.yi, q.attnum)
            INTO v_ints, v_arr
            FROM (SELECT yi, z.attnum, z.attname::text AS zname
                  FROM generate_series(1, k) AS yi,
                       (SELECT pa.attnum, pa.attname, bt.oid AS basetype, bt.typcategory::text AS cat
                        FROM pg_catalog.pg_attribute pa
                        JOIN pg_catalog.pg_type t ON t.oid = pa.atttypid
                        JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
                        WHERE pa.attrelid = r.parent AND pa.attnum > 0 AND NOT pa.attisdropped
                          AND has_column_privilege(r.parent, pa.attnum, 'SELECT')
                          AND pa.attname::text <> ALL (r.pk_cols)) AS z
                  WHERE v_col[yi] <> ALL (r.fk_cols) AND NOT v_gen[yi] AND v_col[yi] <> ALL (v_prime)
                    AND v_cat[yi] <> 'A'
                    AND (z.basetype = v_basetype[yi] OR (z.cat = v_cat[yi] AND z.cat IN ('S', 'N', 'D')))
                    AND denorm_advisor._nf_type_caps(z.basetype) LIKE '%o%') AS q;
            CONTINUE WHEN v_ints IS NULL;
            BEGIN
                EXECUTE format(
                    'WITH s AS MATERIALIZED (SELECT %s FROM %s)'
                    ' SELECT count(*) AS joined, ARRAY[%s]::bigint[] AS eq, ARRAY[%s]::bigint[] AS comparable,'
                    ' ARRAY[%s]::bigint[] AS zdistinct'
                    ' FROM s JOIN %s p ON %s',
                    (SELECT string_agg(DISTINCT format('t.%I', c), ', ')
                     FROM (SELECT unnest(r.fk_cols) UNION SELECT v_col[yi] FROM unnest(v_ints) AS yi) AS u(c)),
                    v_from,
                    (SELECT string_agg(format('count(*) FILTER (WHERE s.%I = p.%I)', v_col[v_ints[o]], v_arr[o]), ', ' ORDER BY o)
                     FROM generate_subscripts(v_ints, 1) AS o),
                    (SELECT string_agg(format('count(*) FILTER (WHERE s.%I IS NOT NULL AND p.%I IS NOT NULL)', v_col[v_ints[o]], v_arr[o]), ', ' ORDER BY o)
                     FROM generate_subscripts(v_ints, 1) AS o),
                    (SELECT string_agg(format('count(DISTINCT p.%I) FILTER (WHERE s.%I = p.%I)', v_arr[o], v_col[v_ints[o]], v_arr[o]), ', ' ORDER BY o)
                     FROM generate_subscripts(v_ints, 1) AS o),
                    denorm_advisor._nf_qualified(r.parent),
                    (SELECT string_agg(format('p.%I = s.%I', u.pk, u.fk), ' AND ') FROM unnest(r.pk_cols, r.fk_cols) AS u(pk, fk)))
                INTO st;
            EXCEPTION WHEN undefined_function THEN
                /* no = between the two types in this search_path: not comparable */
                CONTINUE;
            END;
            /* per y, the best matching z */
            SELECT array_agg(q.yi ORDER BY q.yi), array_agg(q.z ORDER BY q.yi) INTO v_ints, v_arr
            FROM (SELECT DISTINCT ON (v_ints[o]) v_ints[o] AS yi, v_arr[o] AS z
                  FROM generate_subscripts(v_ints, 1) AS o
                  WHERE st.comparable[o] >= 3 AND st.eq[o] >= 0.5 * st.comparable[o] AND st.zdistinct[o] >= 4
                  ORDER BY v_ints[o], st.eq[o] DESC, o) AS q;
            CONTINUE WHEN v_ints IS NULL;
            PERFORM denorm_advisor._nf_check_deadline(p_deadline);
            EXECUTE format(
                'SELECT count(*) AS joined, ARRAY[%s]::bigint[] AS eq FROM %s t JOIN %s p ON %s',
                (SELECT string_agg(format('count(*) FILTER (WHERE t.%I IS NOT DISTINCT FROM p.%I)', v_col[v_ints[o]], v_arr[o]), ', ' ORDER BY o)
                 FROM generate_subscripts(v_ints, 1) AS o),
                v_rel, denorm_advisor._nf_qualified(r.parent),
                (SELECT string_agg(format('p.%I = t.%I', u.pk, u.fk), ' AND ') FROM unnest(r.pk_cols, r.fk_cols) AS u(pk, fk)))
            INTO st;
            FOR o IN 1 .. cardinality(v_ints) LOOP
                CONTINUE WHEN st.joined = 0 OR st.eq[o] < 0.5 * st.joined;
                v_copies := v_copies || jsonb_build_array(jsonb_build_object(
                    'fk_cols', to_jsonb(r.fk_cols), 'pk_cols', to_jsonb(r.pk_cols), 'parent', r.parent::oid,
                    'col', v_col[v_ints[o]], 'parent_col', v_arr[o], 'cat', v_cat[v_ints[o]],
                    'joined', st.joined, 'equal', st.eq[o]));
            END LOOP;
        END LOOP;

        v_t := denorm_advisor._nf_debug_step(v_rel, format('%s copied columns', jsonb_array_length(v_copies)), v_t);

        /*
         * -------- 1NF: delimited lists --------
         * A column is a list column when, on the sample, at least 20% of its
         * values are 2+ items separated by one delimiter (',' ';' '|', the
         * whole value optionally in brackets), at least 90% are items or
         * lists of items (an item: 1 to 3 words, no sentence punctuation),
         * and the items come from a vocabulary (at most half as many
         * distinct items as item occurrences): free text with commas fails
         * the shape or the vocabulary test.
         */
        FOR o IN 1 .. cardinality(v_text_idx) LOOP
            i := v_text_idx[o];
            FOR j IN 1 .. 3 LOOP
                CONTINUE WHEN v_s.tstats[(o - 1) * 4 + 1 + j] < greatest(3, 0.2 * v_nonnull[i])
                           OR v_s.tstats[(o - 1) * 4 + 1 + j] + v_s.tstats[(o - 1) * 4 + 1] < 0.9 * v_nonnull[i];
                PERFORM denorm_advisor._nf_check_deadline(p_deadline);
                EXECUTE format('SELECT count(*) AS items, count(DISTINCT lower(e)) AS distinct_items'
                               ' FROM (SELECT t.%I::text AS c FROM %s) AS s,'
                               ' regexp_split_to_table(btrim(s.c, '' []{}()''), %L) AS e'
                               ' WHERE s.c ~ %L',
                               v_col[i], v_from, '\s*' || CASE j WHEN 1 THEN ',' WHEN 2 THEN ';' ELSE '\|' END || '\s*',
                               '^\s*[\[{(]?\s*' || c_item || '(\s*' || CASE j WHEN 1 THEN ',' WHEN 2 THEN ';' ELSE '\|' END
                               || '\s*' || c_item || ')+\s*[\]})]?\s*$')
                INTO st;
                CONTINUE WHEN st.distinct_items > 0.5 * st.items;
                v_onenf := v_onenf || jsonb_build_array(jsonb_build_object(
                    'kind', 'list', 'cols', jsonb_build_array(v_col[i]), 'delim', c_delims[j],
                    'lists', v_s.tstats[(o - 1) * 4 + 1 + j], 'nonnull', v_nonnull[i],
                    'items', st.items, 'distinct_items', st.distinct_items,
                    'example', v_s.texamples[(o - 1) * 3 + j],
                    'cond', format('t.%I::text ~ %L', v_col[i],
                                   '^\s*[\[{(]?\s*' || c_item || '(\s*' || CASE j WHEN 1 THEN ',' WHEN 2 THEN ';' ELSE '\|' END
                                   || '\s*' || c_item || ')+\s*[\]})]?\s*$')));
            END LOOP;
        END LOOP;

        /*
         * -------- 1NF: arrays used as sets --------
         * One-dimensional arrays of which at least 20% (sampled) hold 2+
         * elements, no element twice in any array, lengths that vary (a
         * fixed length means positions: a vector, a point), and elements
         * from a vocabulary (at most half as many distinct elements as
         * occurrences).  Whether order matters cannot be seen from data
         * alone; the detail says how many arrays are sorted and whether one
         * set appears in several orders, and whether a GIN index serves
         * membership searches.
         */
        FOR o IN 1 .. cardinality(v_array_idx) LOOP
            i := v_array_idx[o];
            v_ints := v_s.astats[(o - 1) * 9 + 1 : (o - 1) * 9 + 9];
            CONTINUE WHEN v_ints[4] <> 1 OR v_ints[1] < greatest(3, 0.2 * v_nonnull[i])
                       OR v_ints[2] < v_ints[1] OR v_ints[3] < 2 OR v_ints[6] > 0.5 * v_ints[5];
            v_onenf := v_onenf || jsonb_build_array(jsonb_build_object(
                'kind', 'array', 'cols', jsonb_build_array(v_col[i]),
                'multi', v_ints[1], 'nonnull', v_nonnull[i], 'elems', v_ints[5], 'distinct_elems', v_ints[6],
                'sorted', v_ints[7], 'distinct_arrays', v_ints[8], 'distinct_sets', v_ints[9],
                'example', v_s.aexamples[o],
                'gin', (SELECT string_agg(quote_ident(ic.relname), ', ' ORDER BY ic.relname)
                        FROM pg_catalog.pg_index ix
                        JOIN pg_catalog.pg_class ic ON ic.oid = ix.indexrelid
                        JOIN pg_catalog.pg_am am ON am.oid = ic.relam
                        JOIN pg_catalog.pg_attribute a ON a.attrelid = ix.indrelid AND a.attname = v_col[i]
                        WHERE ix.indrelid = p_rel AND am.amname = 'gin' AND a.attnum = ANY (ix.indkey::int2[])),
                'cond', format('cardinality(t.%I) >= 2', v_col[i])));
        END LOOP;
    END IF;

    /*
     * -------- 1NF: repeating groups --------
     * Readable columns with one base name, consecutive number suffixes and
     * one type: three or more (phone1, phone2, phone3), or two of which the
     * second is NULL more often than the first (addr_1, addr_2): two
     * always-filled columns (date1, date2) are as often two attributes.
     */
    FOR r IN
        SELECT g.base, array_agg(g.attname ORDER BY g.num) AS cols
        FROM (SELECT a.attname::text AS attname, a.atttypid, a.atttypmod, a.attnum,
                     lower((regexp_match(a.attname, '^(.*[^0-9_])_?([0-9]+)$'))[1]) AS base,
                     ((regexp_match(a.attname, '^(.*[^0-9_])_?([0-9]+)$'))[2])::numeric AS num
              FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = p_rel AND a.attnum > 0 AND NOT a.attisdropped
                AND has_column_privilege(p_rel, a.attnum, 'SELECT')) AS g
        WHERE g.base IS NOT NULL
        GROUP BY g.base, g.atttypid, g.atttypmod
        HAVING count(*) >= 2 AND count(DISTINCT g.num) = count(*) AND max(g.num) - min(g.num) + 1 = count(*)
        ORDER BY g.base
    LOOP
        /* two columns (addr_1, addr_2) count only if the second is NULL more often */
        CONTINUE WHEN cardinality(r.cols) = 2
                  AND NOT (v_n > 0 AND array_position(v_col, r.cols[1]) IS NOT NULL
                           AND array_position(v_col, r.cols[2]) IS NOT NULL
                           AND v_nonnull[array_position(v_col, r.cols[2])] < v_nonnull[array_position(v_col, r.cols[1])]);
        v_onenf := v_onenf || jsonb_build_array(jsonb_build_object(
            'kind', 'group', 'cols', to_jsonb(r.cols), 'base', r.base,
            'fill', CASE WHEN v_n = 0 THEN 'no rows'
                         ELSE (SELECT string_agg(CASE WHEN array_position(v_col, c) IS NOT NULL
                                                      THEN format('%I %s%%', c, round(100.0 * v_nonnull[array_position(v_col, c)] / v_n))
                                                      ELSE format('%I ?', c) END, ', ' ORDER BY o)
                               FROM unnest(r.cols) WITH ORDINALITY AS u(c, o)) END,
            'cond', (SELECT string_agg(format('(t.%I IS NOT NULL)::int', c), ' + ') FROM unnest(r.cols) AS c) || ' >= 2'));
    END LOOP;

    /* the 1NF findings' rows in the full table, one scan for all */
    IF jsonb_array_length(v_onenf) > 0 AND v_total > 0 THEN
        PERFORM denorm_advisor._nf_check_deadline(p_deadline);
        EXECUTE format('SELECT ARRAY[%s]::bigint[] FROM %s t',
                       (SELECT string_agg(format('count(*) FILTER (WHERE %s)', f->>'cond'), ', ' ORDER BY o)
                        FROM jsonb_array_elements(v_onenf) WITH ORDINALITY AS u(f, o)),
                       v_rel)
        INTO v_counts;
        SELECT jsonb_agg(f || jsonb_build_object('support', v_counts[o]) ORDER BY o) INTO v_onenf
        FROM jsonb_array_elements(v_onenf) WITH ORDINALITY AS u(f, o);
    END IF;

    v_t := denorm_advisor._nf_debug_step(v_rel, format('1NF: %s findings', jsonb_array_length(v_onenf)), v_t);

    /* -------- output: candidate keys -------- */
    table_name := p_rel;
    FOR r IN
        SELECT ARRAY(SELECT jsonb_array_elements_text(kk->'cols')) AS cols, kk->>'source' AS source,
               (kk->>'declared')::boolean AS declared, (kk->>'minimal')::boolean AS minimal,
               (SELECT string_agg(format('(%s)', (SELECT string_agg(quote_ident(c), ', ')
                                                  FROM jsonb_array_elements_text(k2->'cols') AS c)), ', ')
                FROM jsonb_array_elements(v_keys) AS k2
                WHERE k2->'cols' <@ (kk->'cols') AND NOT k2->'cols' @> (kk->'cols')) AS subkeys
        FROM jsonb_array_elements(v_keys) AS kk
    LOOP
        finding := 'candidate key';
        normal_form := NULL;
        lhs := r.cols;
        rhs := NULL;
        exact := true;
        g3 := NULL;
        support := v_total;
        possibly_intentional := false;
        example := NULL;
        IF r.declared THEN
            detail := r.source || CASE WHEN r.minimal THEN ''
                                       ELSE format('; not minimal: %s is unique by itself', r.subkeys) END;
            suggestion := NULL;
        ELSE
            detail := format('discovered: unique and never NULL in all %s rows, but no constraint declares it', v_total);
            suggestion := format(E'-- if (%1$s) identifies a row by design, declare it:\nALTER TABLE %2$s ADD UNIQUE (%1$s);',
                                 (SELECT string_agg(quote_ident(c), ', ') FROM unnest(r.cols) AS c), v_rel);
        END IF;
        RETURN NEXT;
    END LOOP;

    /*
     * A copy of a referenced column is reported as such, and the FDs it
     * takes part in are not reported on their own: they come with the copy
     * (product_name copied with product_id "determines" product_id when
     * names are unique) and go away with it, or are part of a snapshot.
     */
    SELECT coalesce(jsonb_agg(fd ORDER BY o), '[]') INTO v_fds
    FROM jsonb_array_elements(v_fds) WITH ORDINALITY AS u(fd, o)
    WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v_copies) AS c
                      WHERE c->'col' = fd->'rhs' OR fd->'lhs' ? (c->>'col'));

    /* -------- output: functional dependencies, one row per LHS and normal form -------- */
    FOR r IN
        SELECT f.l, f.nf, array_agg(f.rhs ORDER BY f.rhs) AS rhs,
               bool_and(f.exact) AS exact, max(f.g3) AS g3, max(f.support) AS support,
               max(f.nx) AS nx, max(f.nx - f.groups) AS repeated,
               coalesce(array_agg(f.rhs ORDER BY f.rhs) FILTER (WHERE NOT f.exact), '{}') AS approx,
               array_agg(f.rhs ORDER BY f.rhs) FILTER (WHERE f.exact) AS exact_rhs,
               string_agg(format('%I: %s rows disagree with the most common value of their group (g3 = %s)',
                                 f.rhs, f.viol, f.g3), '; ' ORDER BY f.rhs) FILTER (WHERE NOT f.exact) AS approx_detail,
               bool_or(denorm_advisor._nf_snapshot_name(f.rhs)) AS snapshot_name,
               min(f.top::text)::text[] AS top, max(f.top_n) AS top_n,
               string_agg(quote_ident(f.rhs), ', ' ORDER BY f.rhs) FILTER (WHERE denorm_advisor._nf_snapshot_name(f.rhs)) AS snapshot_cols
        FROM (SELECT ARRAY(SELECT jsonb_array_elements_text(fd->'lhs')) AS l, fd->>'rhs' AS rhs,
                     (fd->>'exact')::boolean AS exact, (fd->>'g3')::float8 AS g3,
                     (fd->>'support')::bigint AS support, (fd->>'nx')::bigint AS nx,
                     (fd->>'groups')::bigint AS groups, (fd->>'viol')::bigint AS viol,
                     ARRAY(SELECT jsonb_array_elements_text(fd->'top')) AS top, (fd->>'top_n')::bigint AS top_n,
                     denorm_advisor._nf_classify(ARRAY(SELECT jsonb_array_elements_text(fd->'lhs')), fd->>'rhs', v_keys) AS nf
              FROM jsonb_array_elements(v_fds) AS fd) AS f
        WHERE f.nf IS NOT NULL
        GROUP BY f.l, f.nf
    LOOP
        PERFORM denorm_advisor._nf_check_deadline(p_deadline);
        finding := 'functional dependency';
        normal_form := r.nf;
        lhs := r.l;
        rhs := r.rhs;
        exact := r.exact;
        g3 := r.g3;
        support := r.support;
        possibly_intentional := r.snapshot_name;
        v_txt := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(r.l) AS c);
        detail := CASE r.nf
                 WHEN '2NF' THEN format('%s %s on %s, a proper subset of the key (%s): a partial dependency',
                     (SELECT string_agg(quote_ident(c), ', ') FROM unnest(r.rhs) AS c),
                     CASE WHEN cardinality(r.rhs) = 1 THEN 'depends' ELSE 'depend' END, v_txt,
                     (SELECT string_agg(quote_ident(c), ', ')
                      FROM jsonb_array_elements_text((SELECT k3->'cols' FROM jsonb_array_elements(v_keys) AS k3
                                                      WHERE (k3->>'minimal')::boolean AND k3->'cols' @> to_jsonb(r.l)
                                                      LIMIT 1)) AS c))
                 WHEN '3NF' THEN format('%s %s on %s, which is not a key: a transitive dependency%s',
                     (SELECT string_agg(quote_ident(c), ', ') FROM unnest(r.rhs) AS c),
                     CASE WHEN cardinality(r.rhs) = 1 THEN 'depends' ELSE 'depend' END, v_txt,
                     CASE WHEN cardinality(v_key) > 0
                          THEN format(' (%s) -> (%s) -> (%s)',
                                      (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_key) AS c), v_txt,
                                      (SELECT string_agg(quote_ident(c), ', ') FROM unnest(r.rhs) AS c))
                          ELSE '' END)
                 ELSE format('%s, part of a key, %s on %s, which is not a key',
                     (SELECT string_agg(quote_ident(c), ', ') FROM unnest(r.rhs) AS c),
                     CASE WHEN cardinality(r.rhs) = 1 THEN 'depends' ELSE 'depend' END, v_txt)
               END
            || format('; %s of %s rows repeat a value of %s', r.repeated, r.nx, v_txt)
            || CASE WHEN v_total > r.nx THEN format(' (%s rows with a NULL in it are not counted)', v_total - r.nx) ELSE '' END
            || coalesce((SELECT format('; %s and %s determine each other', v_txt,
                                       string_agg(quote_ident(fd->'lhs'->>0), ', ' ORDER BY fd->'lhs'->>0))
                         FROM jsonb_array_elements(v_fds_all) AS fd
                         WHERE cardinality(r.l) = 1 AND (fd->>'exact')::boolean
                           AND jsonb_array_length(fd->'lhs') = 1 AND fd->'lhs'->>0 = ANY (r.rhs)
                           AND fd->>'rhs' = r.l[1]
                         HAVING count(*) > 0), '')
            || CASE WHEN r.approx_detail IS NOT NULL THEN '; approximate: ' || r.approx_detail ELSE '' END
            || CASE WHEN r.snapshot_name THEN format('; possibly intentional: the name of %s suggests a snapshot', r.snapshot_cols)
                    ELSE '' END;
        /* the example: the most repeated LHS value and its dependent values, or a disagreeing group */
        example := NULL;
        IF r.exact_rhs IS NOT NULL THEN
            /* the most repeated LHS value (found by the confirmation) and its dependent values */
            EXECUTE format('SELECT %s FROM %s t WHERE %s LIMIT 1',
                           (SELECT string_agg(format('%L || %s', quote_ident(c) || ' = ',
                                                     denorm_advisor._nf_show(format('t.%I', c), v_cat[array_position(v_col, c)])),
                                              ' || '', '' || ') FROM unnest(r.exact_rhs) AS c),
                           v_rel,
                           (SELECT string_agg(format('t.%I::text COLLATE "C" = $1[%s]', c, o), ' AND ')
                            FROM unnest(r.l) WITH ORDINALITY AS u(c, o)))
            INTO v_txt
            USING r.top;
            example := (SELECT string_agg(quote_ident(c) || ' = '
                                          || CASE WHEN v_cat[array_position(v_col, c)] IN ('N', 'B') THEN r.top[o]
                                                  ELSE quote_literal(left(r.top[o], 60)) END, ', ')
                        FROM unnest(r.l) WITH ORDINALITY AS u(c, o))
                       || format(' has %s, repeated in %s rows', v_txt, r.top_n);
        END IF;
        IF cardinality(r.approx) > 0 THEN
            EXECUTE format('WITH g AS (SELECT %1$s, t.%2$I AS y, count(*) AS c FROM %3$s t WHERE %4$s GROUP BY %5$s, t.%2$I),'
                           ' v AS (SELECT %6$s FROM g GROUP BY %6$s HAVING count(*) > 1'
                           '       ORDER BY sum(g.c) DESC, %7$s LIMIT 1)'
                           ' SELECT %8$s || '' has '' || string_agg(%9$L || %10$s || '' in '' || g.c'
                           '        || CASE WHEN g.c = 1 THEN '' row'' ELSE '' rows'' END, '', '' ORDER BY g.k) FILTER (WHERE g.k <= 3)'
                           '        || CASE WHEN count(*) > 3 THEN format('' and %%s more values'', count(*) - 3) ELSE '''' END'
                           ' FROM (SELECT g.*, row_number() OVER (ORDER BY g.c DESC, g.y::text COLLATE "C") AS k'
                           '       FROM g JOIN v USING (%6$s)) AS g'
                           ' GROUP BY %6$s',
                           (SELECT string_agg(format('t.%I AS x%s', c, o), ', ') FROM unnest(r.l) WITH ORDINALITY AS u(c, o)),
                           r.approx[1], v_rel,
                           (SELECT string_agg(format('t.%I IS NOT NULL', c), ' AND ') FROM unnest(r.l) AS c),
                           (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(r.l) AS c),
                           (SELECT string_agg(format('x%s', o), ', ') FROM generate_subscripts(r.l, 1) AS o),
                           (SELECT string_agg(format('x%s::text COLLATE "C"', o), ', ') FROM generate_subscripts(r.l, 1) AS o),
                           (SELECT string_agg(format('%L || %s', quote_ident(c) || ' = ',
                                                     denorm_advisor._nf_show(format('x%s', o), v_cat[array_position(v_col, c)])),
                                              ' || '', '' || ') FROM unnest(r.l) WITH ORDINALITY AS u(c, o)),
                           quote_ident(r.approx[1]) || ' = ',
                           denorm_advisor._nf_show('g.y', v_cat[array_position(v_col, r.approx[1])]))
            INTO v_txt;
            example := concat_ws('; ', example, v_txt);
        END IF;
        suggestion := denorm_advisor._nf_suggest_split(p_rel, r.l, r.rhs, r.approx, r.nf, v_keys, v_total - r.nx);
        RETURN NEXT;
    END LOOP;

    /* -------- output: copies of referenced columns -------- */
    FOR r IN
        SELECT ARRAY(SELECT jsonb_array_elements_text(c->'fk_cols')) AS fk_cols,
               ARRAY(SELECT jsonb_array_elements_text(c->'pk_cols')) AS pk_cols,
               (c->>'parent')::oid::regclass AS parent, c->>'col' AS col, c->>'parent_col' AS parent_col,
               c->>'cat' AS cat, (c->>'joined')::bigint AS joined, (c->>'equal')::bigint AS equal,
               denorm_advisor._nf_snapshot_name(c->>'col') AS snapshot_name
        FROM jsonb_array_elements(v_copies) AS c
    LOOP
        PERFORM denorm_advisor._nf_check_deadline(p_deadline);
        finding := 'copied column';
        lhs := r.fk_cols;
        rhs := ARRAY[r.col];
        exact := r.equal = r.joined;
        /* an exact copy is an exact FD fk -> col; a diverging one is no FD */
        normal_form := CASE WHEN r.equal = r.joined THEN denorm_advisor._nf_classify(r.fk_cols, r.col, v_keys) END;
        g3 := CASE WHEN r.equal = r.joined THEN 0 END;
        support := r.joined;
        possibly_intentional := r.equal < r.joined OR r.snapshot_name;
        v_txt := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(r.fk_cols) AS c);
        detail := CASE WHEN r.equal = r.joined
                       THEN format('%I equals %s.%I on all %s rows, joined through the foreign key (%s): a copy of the referenced column%s',
                                   r.col, denorm_advisor._nf_qualified(r.parent), r.parent_col, r.joined, v_txt,
                                   CASE WHEN r.snapshot_name
                                        THEN format('; possibly intentional: the name %I suggests a snapshot', r.col)
                                        ELSE '' END)
                       ELSE format('%I equals %s.%I on %s of %s rows (%s%%), joined through the foreign key (%s); %s rows differ, as a value recorded when the row was written would%s: possibly intentional (a snapshot)',
                                   r.col, denorm_advisor._nf_qualified(r.parent), r.parent_col, r.equal, r.joined,
                                   round(100.0 * r.equal / r.joined, 1), v_txt, r.joined - r.equal,
                                   CASE WHEN r.snapshot_name THEN format(' (and as the name %I suggests)', r.col) ELSE '' END) END;
        IF r.equal < r.joined THEN
            EXECUTE format('SELECT %s || '': '' || %L || %s || '' where '' || %L || %s'
                           ' FROM %s t JOIN %s p ON %s WHERE t.%I IS DISTINCT FROM p.%I ORDER BY %s LIMIT 1',
                           (SELECT string_agg(format('%L || %s', quote_ident(c) || ' = ',
                                                     denorm_advisor._nf_show(format('t.%I', c), v_cat[array_position(v_col, c)])),
                                              ' || '', '' || ') FROM unnest(r.fk_cols) AS c),
                           quote_ident(r.col) || ' = ', denorm_advisor._nf_show(format('t.%I', r.col), r.cat),
                           format('%s.%I = ', denorm_advisor._nf_qualified(r.parent), r.parent_col),
                           denorm_advisor._nf_show(format('p.%I', r.parent_col), r.cat),
                           v_rel, denorm_advisor._nf_qualified(r.parent),
                           (SELECT string_agg(format('p.%I = t.%I', u.pk, u.fk), ' AND ') FROM unnest(r.pk_cols, r.fk_cols) AS u(pk, fk)),
                           r.col, r.parent_col,
                           (SELECT string_agg(format('t.%I::text COLLATE "C"', c), ', ') FROM unnest(r.fk_cols) AS c))
            INTO example;
        ELSE
            EXECUTE format('SELECT %s || '' has '' || %L || %s || format('', repeated in %%s rows'', q.c) FROM'
                           ' (SELECT %s, t.%I, count(*) AS c FROM %s t WHERE %s GROUP BY %s, t.%I'
                           '  ORDER BY count(*) DESC, %s LIMIT 1) AS q',
                           (SELECT string_agg(format('%L || %s', quote_ident(c) || ' = ',
                                                     denorm_advisor._nf_show(format('q.%I', c), v_cat[array_position(v_col, c)])),
                                              ' || '', '' || ') FROM unnest(r.fk_cols) AS c),
                           quote_ident(r.col) || ' = ', denorm_advisor._nf_show(format('q.%I', r.col), r.cat),
                           (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(r.fk_cols) AS c),
                           r.col, v_rel,
                           (SELECT string_agg(format('t.%I IS NOT NULL', c), ' AND ') FROM unnest(r.fk_cols) AS c),
                           (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(r.fk_cols) AS c),
                           r.col,
                           (SELECT string_agg(format('t.%I::text COLLATE "C"', c), ', ') FROM unnest(r.fk_cols) AS c))
            INTO example;
        END IF;
        suggestion := denorm_advisor._nf_suggest_copy(p_rel, r.fk_cols, r.parent, r.pk_cols, r.col, r.parent_col,
                                                      r.joined - r.equal, r.snapshot_name, v_total - r.joined);
        RETURN NEXT;
    END LOOP;

    /* -------- output: 1NF -------- */
    FOR r IN SELECT f FROM jsonb_array_elements(v_onenf) AS f LOOP
        PERFORM denorm_advisor._nf_check_deadline(p_deadline);
        normal_form := '1NF';
        lhs := NULL;
        rhs := ARRAY(SELECT jsonb_array_elements_text(r.f->'cols'));
        exact := NULL;
        g3 := NULL;
        support := (r.f->>'support')::bigint;
        possibly_intentional := false;
        CASE r.f->>'kind'
            WHEN 'list' THEN
                finding := '1NF delimited list';
                detail := format('%s of %s sampled values are lists of 2 or more items separated by %L; %s distinct items in %s occurrences',
                                 r.f->>'lists', r.f->>'nonnull', r.f->>'delim', r.f->>'distinct_items', r.f->>'items');
                example := format('%I = %s', rhs[1], quote_literal(left(r.f->>'example', 60)));
            WHEN 'array' THEN
                finding := '1NF array as set';
                detail := format('%s of %s sampled arrays have 2 or more elements, none repeated within an array, lengths vary; %s distinct elements in %s occurrences',
                                 r.f->>'multi', r.f->>'nonnull', r.f->>'distinct_elems', r.f->>'elems')
                    || CASE WHEN (r.f->>'sorted')::bigint >= 0
                            THEN CASE WHEN r.f->>'sorted' = r.f->>'multi' THEN '; all of them are sorted'
                                      ELSE format('; %s of them are sorted', r.f->>'sorted') END
                                 || CASE WHEN (r.f->>'distinct_sets')::bigint < (r.f->>'distinct_arrays')::bigint
                                         THEN '; one set appears in several orders' ELSE '' END
                            ELSE '' END
                    || CASE WHEN r.f->>'gin' IS NOT NULL
                            THEN format('; searched by membership: GIN index %s', r.f->>'gin') ELSE '' END;
                example := format('%I = %s', rhs[1], quote_literal(left(r.f->>'example', 60)));
            ELSE
                finding := '1NF repeating group';
                detail := format('%s repeat one attribute (%s, numbered, one type); filled in the sample: %s',
                                 (SELECT string_agg(quote_ident(c), ', ') FROM unnest(rhs) AS c),
                                 quote_literal(r.f->>'base'), r.f->>'fill');
                EXECUTE format('SELECT %s FROM %s t WHERE %s ORDER BY %s LIMIT 1',
                               (SELECT string_agg(format('%L || %s', quote_ident(c) || ' = ',
                                                         denorm_advisor._nf_show(format('t.%I', c),
                                                                                 coalesce(v_cat[array_position(v_col, c)], 'S'))),
                                                  ' || '', '' || ')
                                FROM unnest(coalesce(v_key, '{}') || rhs) AS c),
                               v_rel, r.f->>'cond',
                               coalesce((SELECT string_agg(format('t.%I::text COLLATE "C"', c), ', ') FROM unnest(v_key) AS c), '1'))
                INTO example;
        END CASE;
        suggestion := denorm_advisor._nf_suggest_1nf(p_rel, r.f->>'kind', rhs, r.f->>'delim', r.f->>'base',
                                                     v_key, v_key_declared);
        RETURN NEXT;
    END LOOP;
    v_t := denorm_advisor._nf_debug_step(v_rel, 'examples and suggestions', v_t);
END
$fn$;
COMMENT ON FUNCTION denorm_advisor._nf_check_table(regclass, integer, timestamptz) IS
'denorm_advisor (internal): the normalization findings of one table (check_normalization() calls it per table)';

/* ------------------------------------------------------------------------
 * The entry point
 * ------------------------------------------------------------------------ */

CREATE FUNCTION denorm_advisor.check_normalization(tbl regclass DEFAULT NULL, sample_rows integer DEFAULT 50000)
RETURNS TABLE (table_name regclass, finding text, normal_form text, lhs text[], rhs text[],
               exact boolean, g3 double precision, support bigint, possibly_intentional boolean,
               detail text, example text, suggestion text)
LANGUAGE plpgsql
AS $fn$
#variable_conflict use_column
DECLARE
    v_budget bigint;
    v_deadline timestamptz;
    v_rel regclass;
    v_info record;
    v_rels regclass[];
    v_skipped text[] := '{}';
    v_msg text;
    v_state text;
BEGIN
    IF sample_rows IS NULL OR sample_rows < 100 OR sample_rows > 1000000 THEN
        RAISE EXCEPTION 'sample_rows must be between 100 and 1000000, not %', coalesce(sample_rows::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The default, 50000, estimates dependencies well; more rows cost more time and memory (8 bytes per row and column).';
    END IF;
    v_budget := denorm_advisor._nf_time_budget_ms();
    v_deadline := CASE WHEN v_budget = 0 THEN 'infinity'::timestamptz
                       ELSE clock_timestamp() + v_budget * interval '1 millisecond' END;

    IF tbl IS NOT NULL THEN
        SELECT c.relkind, c.relname, n.nspname, n.oid AS nsp
        INTO v_info
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = tbl;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid
                USING ERRCODE = 'undefined_table';
        END IF;
        IF v_info.relkind NOT IN ('r', 'p') THEN
            RAISE EXCEPTION '"%" is not a table', tbl
                USING ERRCODE = 'wrong_object_type',
                      DETAIL = format('"%s" is %s.', tbl,
                                      CASE v_info.relkind WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view'
                                           WHEN 'S' THEN 'a sequence' WHEN 'i' THEN 'an index' WHEN 'I' THEN 'an index'
                                           WHEN 'f' THEN 'a foreign table' WHEN 'c' THEN 'a composite type'
                                           WHEN 't' THEN 'a TOAST table' ELSE 'not a table' END),
                      HINT = 'check_normalization() reads ordinary and partitioned tables; check the tables a view or materialized view reads.';
        END IF;
        IF NOT has_schema_privilege(v_info.nsp, 'USAGE') THEN
            RAISE EXCEPTION 'permission denied for schema %', v_info.nspname
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'check_normalization() runs with your privileges: it needs USAGE on the schema and SELECT on the table.';
        END IF;
        IF NOT has_any_column_privilege(tbl, 'SELECT') THEN
            RAISE EXCEPTION 'permission denied for table %', v_info.relname
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'check_normalization() runs with your privileges: it needs SELECT on the table (or on the columns to check).';
        END IF;
        v_rels := ARRAY[tbl];
    ELSE
        /*
         * Every table the caller can read: no system schemas, not the
         * extension's own, no temporary tables, no tables that belong to an
         * extension, partitioned tables as a whole (not their partitions),
         * and no foreign tables or partitioned tables with foreign
         * partitions (each scan would read a remote server).
         */
        SELECT coalesce(array_agg(c.oid::regclass ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"), '{}')
        INTO v_rels
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence <> 't'
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'denorm_advisor')
          AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
          AND has_schema_privilege(n.oid, 'USAGE')
          AND has_any_column_privilege(c.oid, 'SELECT')
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                          WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
          AND NOT (c.relkind = 'p' AND EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(c.oid) AS pt
                                               JOIN pg_catalog.pg_class pc ON pc.oid = pt.relid
                                               WHERE pc.relkind = 'f'));
    END IF;

    FOREACH v_rel IN ARRAY v_rels LOOP
        IF clock_timestamp() > v_deadline THEN
            v_skipped := v_skipped || v_rel::text;
            CONTINUE;
        END IF;
        BEGIN
            RETURN QUERY
                SELECT f.*
                FROM denorm_advisor._nf_check_table(v_rel, sample_rows, v_deadline) AS f
                ORDER BY f.normal_form COLLATE "C" NULLS FIRST, f.finding COLLATE "C",
                         f.lhs::text COLLATE "C", f.rhs::text COLLATE "C";
        EXCEPTION
            WHEN SQLSTATE 'DAN01' THEN
                v_skipped := v_skipped || v_rel::text;
            WHEN OTHERS THEN
                IF tbl IS NOT NULL THEN
                    RAISE;
                END IF;
                /* a table dropped meanwhile, a broken type...: skip it, say so */
                GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_state = RETURNED_SQLSTATE;
                RAISE WARNING 'table % skipped: %', v_rel, v_msg
                    USING DETAIL = format('SQLSTATE %s', v_state);
        END;
    END LOOP;

    IF cardinality(v_skipped) > 0 THEN
        RAISE WARNING 'time budget of % ms exceeded: the result is partial', v_budget
            USING DETAIL = format('Not checked: %s%s.',
                                  array_to_string(v_skipped[1:20], ', '),
                                  CASE WHEN cardinality(v_skipped) > 20
                                       THEN format(' and %s more', cardinality(v_skipped) - 20) ELSE '' END),
                  HINT = 'Raise denorm_advisor.time_budget (milliseconds), lower sample_rows, or check one table at a time.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION denorm_advisor.check_normalization(regclass, integer) IS
'denorm_advisor: normal-form check of one table or of every readable table: candidate keys, functional dependencies violating 2NF/3NF/BCNF, copies of referenced columns, 1NF smells, with examples and suggested decompositions';

/* ------------------------------------------------------------------------
 * normalization.sql -- denorm_advisor.check_normalization(): the normal-form
 * checker (pasted verbatim into denorm_advisor--1.0.0.sql)
 *
 * What it reports, per table: candidate keys; functional dependencies
 * (FDs) X -> Y found in the data that violate 2NF, 3NF or BCNF; columns
 * that copy a column of a table referenced by a foreign key (flagged
 * "possibly intentional" when they are snapshots); 1NF smells (delimited
 * lists in text columns, arrays used as sets, repeating column groups).
 * Each finding carries an example from the data and a suggested
 * decomposition (DDL, migration, compatibility view) as text; nothing is
 * ever executed.
 *
 * Method.  Exact FD discovery (TANE, HyFD) is exponential in the number of
 * columns, so the search is limited and two-staged:
 *   1. Sample.  Up to sample_rows rows are read once (the whole table when
 *      it is that small, else TABLESAMPLE BERNOULLI with a fixed REPEATABLE
 *      seed, so the same data gives the same sample).  Every column value is
 *      reduced to a 64-bit hash of its type's own hash function (so that
 *      1.0 and 1.00 are one numeric value), NULL to the code 0, and the
 *      codes are kept as one bigint array per column in a PL/pgSQL variable.
 *      No temporary table is created: nothing can be left behind, and the
 *      checker also runs in read-only transactions and on hot standbys.
 *   2. Discover on the sample, with g3 as the error of an FD: the smallest
 *      fraction of rows to delete for X -> Y to hold.  Every pair of
 *      columns is grouped once (both directions from one GROUP BY); LHS of
 *      two columns are tried only where they can matter: inside composite
 *      keys of three or more columns (2NF) and for pairs of columns that
 *      each carry information about Y but do not determine it alone.
 *   3. Confirm every candidate exactly on the full table, one scan per LHS
 *      (GROUPING SETS over all its candidate right-hand sides).  Only
 *      confirmed FDs are reported; "exact" means it holds on every row.
 * Candidate keys are the declared PRIMARY KEY / UNIQUE constraints and
 * unique indexes, plus single columns (and, on tables without any declared
 * key, pairs) that are unique and never NULL, confirmed on the full table.
 *
 * Invariants (the traps this design avoids):
 * - Support.  A row whose LHS value occurs once can never violate X -> Y,
 *   so a nearly unique X "determines" everything (CREATE STATISTICS
 *   dependencies falls for this).  An FD needs at least 3 LHS values that
 *   repeat and at least 1% of the rows repeating an LHS value, and its
 *   error threshold is measured against the repeated rows, not all rows.
 * - Approximate FDs (dirty data) are kept only if at most 5% of the
 *   repeated rows disagree (hence g3 <= 0.05), the groups that disagree
 *   keep a clear majority (80% on average: a tie between two values is two
 *   facts, not a typo), and Y is not nearly constant.
 * - NULL: rows whose LHS has a NULL are skipped (an unknown determinant
 *   asserts nothing); on the right-hand side NULL is a value like any
 *   other, so "NULL here, 'Paris' there" for one zip is a violation.
 * - An FD whose LHS contains a candidate key is never reported; nothing is
 *   reported with a key column as the determinant.
 * - Safety: the functions run with the caller's privileges (no SECURITY
 *   DEFINER) and only read: ACCESS SHARE locks on user tables, no
 *   temporary objects.  Tables and columns the caller cannot SELECT are
 *   skipped when scanning the database and raise insufficient_privilege
 *   when named.  Identifiers are always quoted with %I.
 * - Time budget: denorm_advisor.time_budget (milliseconds, default 60000,
 *   0 = none) is checked between steps; a table that is not finished in
 *   time contributes no rows at all, and a WARNING names every table that
 *   was not checked.  One step (one scan) can overrun the budget.
 * ------------------------------------------------------------------------
 */

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/*
 * The time budget in milliseconds.  The C module may define the GUC with
 * GUC_UNIT_MS, in which case current_setting() shows units ("1min"), so
 * those are parsed too; an unset placeholder means the default.
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
                  HINT = 'Set it to a number of milliseconds (default 60000), or 0 for no limit.';
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
 * them (an equality operator), 'o' = sort them.  Found by asking the
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
    RETURN v_caps;
END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_type_caps(regtype) IS
'denorm_advisor (internal): h = hashable, e = groupable, o = sortable: what the normalization checker can do with a type';

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
                          '|snapshot|histor|as_of|_then$|^orig(inal)?_|^(ship|shipping|bill|billing|delivery|invoice)_)')
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
    p_approx text[], p_nf text, p_keys jsonb)
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
COMMENT ON FUNCTION denorm_advisor._nf_suggest_split(regclass, text[], text[], text[], text, jsonb) IS
'denorm_advisor (internal): suggested decomposition (DDL, migration, compatibility view) for a functional dependency that violates 2NF, 3NF or BCNF';

/*
 * The suggestion for a column that copies a column of a referenced table.
 * A snapshot (values diverge, or the name says so) is left alone unless
 * the DBA decides it must follow the referenced value; an exact copy is
 * dropped and read through the foreign key.
 */
CREATE FUNCTION denorm_advisor._nf_suggest_copy(p_rel regclass, p_fk_cols text[], p_parent regclass,
    p_pk_cols text[], p_col text, p_parent_col text, p_differ bigint, p_snapshot_name boolean)
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
    v_lines := v_lines || format('ALTER TABLE %s DROP COLUMN %I;', v_rel, p_col);
    v_lines := v_lines || denorm_advisor._nf_view_sql(p_rel, ARRAY[p_col], ARRAY[format('p.%I', p_parent_col)],
                                                      format(' LEFT JOIN %s p ON %s', v_parent, v_on));
    RETURN array_to_string(v_lines, E'\n');
END
$$;
COMMENT ON FUNCTION denorm_advisor._nf_suggest_copy(regclass, text[], regclass, text[], text, text, bigint, boolean) IS
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
    v_lhs text[];
    v_rhs integer[];
    v_comb bigint[];
    v_tried integer := 0;
    v_fds jsonb := '[]';
    v_copies jsonb := '[]';
    v_prime text[];
    v_key text[];
    v_key_declared boolean;
    v_ints integer[];
    v_fd jsonb;

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
            v_from := format('%s t TABLESAMPLE BERNOULLI (%s) REPEATABLE (0) LIMIT %s', v_rel,
                             round(least(100, 100.0 * (v_target * 1.1 + 10) / v_total), 6), v_target);
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
            SELECT array_agg(ARRAY(SELECT v_s.codes[c][g] FROM generate_series(1, v_n, v_n / c_sub) AS g) ORDER BY c) AS codes,
                   count(*) AS k
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

        /* -------- confirm on the full table: one scan per LHS -------- */
        FOR r IN
            SELECT c.l::text[] AS l, array_agg(c.y ORDER BY c.y) AS ys
            FROM unnest(v_cand_lhs, v_cand_rhs) AS c(l, y)
            GROUP BY c.l
            ORDER BY c.l COLLATE "C"
        LOOP
            PERFORM denorm_advisor._nf_check_deadline(p_deadline);
            v_sql := format(
                'SELECT q.i, sum(q.m)::bigint AS kept, sum(q.n)::bigint AS nx, count(*) AS groups,'
                ' count(*) FILTER (WHERE q.n > 1) AS multi_groups,'
                ' coalesce(sum(q.n) FILTER (WHERE q.n > 1), 0)::bigint AS multi_rows,'
                ' coalesce(sum(q.n) FILTER (WHERE q.m < q.n), 0)::bigint AS conflicting'
                ' FROM (SELECT g.i, %1$s, max(g.c) AS m, sum(g.c) AS n'
                '       FROM (SELECT CASE %2$s END AS i, %3$s, count(*) AS c FROM %4$s t WHERE %5$s'
                '             GROUP BY GROUPING SETS (%6$s)) AS g'
                '       GROUP BY g.i, %1$s) AS q'
                ' GROUP BY q.i',
                (SELECT string_agg(format('g.x%s', o), ', ') FROM generate_subscripts(r.l, 1) AS o),
                (SELECT string_agg(format('WHEN GROUPING(t.%I) = 0 THEN %s', v_col[yy], yy), ' ') FROM unnest(r.ys) AS yy),
                (SELECT string_agg(format('t.%I AS x%s', r.l[o], o), ', ') FROM generate_subscripts(r.l, 1) AS o),
                v_rel,
                (SELECT string_agg(format('t.%I IS NOT NULL', xx), ' AND ') FROM unnest(r.l) AS xx),
                (SELECT string_agg(format('(%s, t.%I)',
                                          (SELECT string_agg(format('t.%I', xx), ', ') FROM unnest(r.l) AS xx),
                                          v_col[yy]), ', ')
                 FROM unnest(r.ys) AS yy));
            FOR st IN EXECUTE v_sql LOOP
                CONTINUE WHEN st.multi_groups < c_min_groups
                           OR st.nx - st.groups < c_min_repeated * st.nx;
                CONTINUE WHEN NOT denorm_advisor._nf_fd_accept(st.nx - st.kept, st.nx - st.groups, st.conflicting,
                                                               1.0 - v_mode[st.i]::float8 / v_n,
                                                               c_eps, c_majority, c_skew);
                v_fds := v_fds || jsonb_build_array(jsonb_build_object(
                    'lhs', to_jsonb(r.l), 'rhs', v_col[st.i], 'exact', st.kept = st.nx,
                    'g3', round((st.nx - st.kept)::numeric / st.nx, 6),
                    'viol', st.nx - st.kept, 'nx', st.nx, 'groups', st.groups,
                    'support', st.multi_rows));
            END LOOP;
        END LOOP;

        v_t := denorm_advisor._nf_debug_step(v_rel, format('confirmation: %s dependencies hold', jsonb_array_length(v_fds)), v_t);

        /*
         * Keep the dependencies a decomposition needs: (a, b) -> y goes if a
         * or b alone determines y exactly, or if y determines a and b (the
         * three are one entity, keyed by y); x -> z goes if x -> y -> z holds
         * exactly through a y that does not determine x (zip -> city ->
         * state: zip -> state is implied).
         */
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
                                      AND (yx->>'exact')::boolean)));
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
            'fill', (SELECT string_agg(format('%I %s%%', c,
                                              CASE WHEN v_n > 0 AND array_position(v_col, c) IS NOT NULL
                                                   THEN round(100.0 * v_nonnull[array_position(v_col, c)] / v_n)::text
                                                   ELSE '?' END), ', ' ORDER BY o)
                     FROM unnest(r.cols) WITH ORDINALITY AS u(c, o)),
            'cond', (SELECT string_agg(format('(t.%I IS NOT NULL)::int', c), ' + ') FROM unnest(r.cols) AS c) || ' >= 2'));
    END LOOP;

    /* the 1NF findings' rows in the full table, one scan for all */
    IF jsonb_array_length(v_onenf) > 0 AND v_total > 0 THEN
        PERFORM denorm_advisor._nf_check_deadline(p_deadline);
        EXECUTE format('SELECT ARRAY[%s]::bigint[] FROM %s t',
                       (SELECT string_agg(format('count(*) FILTER (WHERE %s)', f->>'cond'), ', ' ORDER BY o)
                        FROM jsonb_array_elements(v_onenf) WITH ORDINALITY AS u(f, o)),
                       v_rel)
        INTO v_kxy;
        SELECT jsonb_agg(f || jsonb_build_object('support', v_kxy[o]) ORDER BY o) INTO v_onenf
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
               string_agg(quote_ident(f.rhs), ', ' ORDER BY f.rhs) FILTER (WHERE denorm_advisor._nf_snapshot_name(f.rhs)) AS snapshot_cols
        FROM (SELECT ARRAY(SELECT jsonb_array_elements_text(fd->'lhs')) AS l, fd->>'rhs' AS rhs,
                     (fd->>'exact')::boolean AS exact, (fd->>'g3')::float8 AS g3,
                     (fd->>'support')::bigint AS support, (fd->>'nx')::bigint AS nx,
                     (fd->>'groups')::bigint AS groups, (fd->>'viol')::bigint AS viol,
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
            || CASE WHEN r.approx_detail IS NOT NULL THEN '; approximate: ' || r.approx_detail ELSE '' END
            || CASE WHEN r.snapshot_name THEN format('; possibly intentional: the name of %s suggests a snapshot', r.snapshot_cols)
                    ELSE '' END;
        /* the example: the most repeated LHS value and its dependent values, or a disagreeing group */
        example := NULL;
        IF r.exact_rhs IS NOT NULL THEN
            EXECUTE format('SELECT %s || '' has '' || %s || format('' in all %%s rows'', q.c) FROM'
                           ' (SELECT %s, %s, count(*) AS c FROM %s t WHERE %s GROUP BY %s, %s'
                           '  ORDER BY count(*) DESC, %s LIMIT 1) AS q',
                           (SELECT string_agg(format('%L || %s', quote_ident(c) || ' = ',
                                                     denorm_advisor._nf_show(format('q.%I', c), v_cat[array_position(v_col, c)])),
                                              ' || '', '' || ') FROM unnest(r.l) AS c),
                           (SELECT string_agg(format('%L || %s', quote_ident(c) || ' = ',
                                                     denorm_advisor._nf_show(format('q.%I', c), v_cat[array_position(v_col, c)])),
                                              ' || '', '' || ') FROM unnest(r.exact_rhs) AS c),
                           (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(r.l) AS c),
                           (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(r.exact_rhs) AS c),
                           v_rel,
                           (SELECT string_agg(format('t.%I IS NOT NULL', c), ' AND ') FROM unnest(r.l) AS c),
                           (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(r.l) AS c),
                           (SELECT string_agg(format('t.%I', c), ', ') FROM unnest(r.exact_rhs) AS c),
                           (SELECT string_agg(format('t.%I::text COLLATE "C"', c), ', ') FROM unnest(r.l) AS c))
            INTO example;
        END IF;
        IF cardinality(r.approx) > 0 THEN
            EXECUTE format('WITH g AS (SELECT %1$s, t.%2$I AS y, count(*) AS c FROM %3$s t WHERE %4$s GROUP BY %5$s, t.%2$I),'
                           ' v AS (SELECT %6$s FROM g GROUP BY %6$s HAVING count(*) > 1'
                           '       ORDER BY sum(g.c) DESC, %7$s LIMIT 1)'
                           ' SELECT %8$s || '' has '' || string_agg(%9$L || %10$s || '' in '' || g.c'
                           '        || CASE WHEN g.c = 1 THEN '' row'' ELSE '' rows'' END, '', '' ORDER BY g.c DESC, g.y::text COLLATE "C")'
                           ' FROM g JOIN v USING (%6$s) GROUP BY %6$s',
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
        suggestion := denorm_advisor._nf_suggest_split(p_rel, r.l, r.rhs, r.approx, r.nf, v_keys);
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
                       THEN format('%I equals %s.%I on all %s rows, joined through the foreign key (%s): a copy of the referenced column',
                                   r.col, denorm_advisor._nf_qualified(r.parent), r.parent_col, r.joined, v_txt)
                       ELSE format('%I equals %s.%I on %s of %s rows (%s%%), joined through the foreign key (%s); %s rows differ, as a value recorded when the row was written would: possibly intentional',
                                   r.col, denorm_advisor._nf_qualified(r.parent), r.parent_col, r.equal, r.joined,
                                   round(100.0 * r.equal / r.joined, 1), v_txt, r.joined - r.equal) END
                  || CASE WHEN r.snapshot_name THEN format('; the name %I suggests a snapshot: possibly intentional', r.col) ELSE '' END;
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
            EXECUTE format('SELECT %s || '' has '' || %L || %s || format('' in all %%s rows'', q.c) FROM'
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
                                                      r.joined - r.equal, r.snapshot_name);
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
        SELECT c.relkind, c.relpersistence, c.relname, n.nspname, n.oid AS nsp,
               pg_catalog.pg_is_other_temp_schema(n.oid) AS other_temp
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
        IF v_info.other_temp THEN
            RAISE EXCEPTION 'cannot check temporary tables of other sessions'
                USING ERRCODE = 'feature_not_supported';
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
                  HINT = 'Raise denorm_advisor.time_budget (milliseconds, 0 = no limit), lower sample_rows, or check one table at a time.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION denorm_advisor.check_normalization(regclass, integer) IS
'denorm_advisor: normal-form check of one table or of every readable table: candidate keys, functional dependencies violating 2NF/3NF/BCNF, copies of referenced columns, 1NF smells, with examples and suggested decompositions';

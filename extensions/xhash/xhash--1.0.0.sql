/* extensions/xhash/xhash--1.0.0.sql */

\echo Use "CREATE EXTENSION xhash" to load this file. \quit

CREATE FUNCTION xhash.xhashhandler(internal)
RETURNS index_am_handler
AS 'MODULE_PATHNAME', 'xhashhandler'
LANGUAGE C STRICT;

CREATE ACCESS METHOD xhash TYPE INDEX HANDLER xhash.xhashhandler;
COMMENT ON ACCESS METHOD xhash IS
  'compact hash index with UNIQUE and multi-column support';
COMMENT ON FUNCTION xhash.xhashhandler(internal) IS
  'index access method handler of xhash';

/*
 * Operator families and classes.  Opfamilies belong to one access method,
 * so core hash's cannot be reused: each family below mirrors core hash's
 * family of the same name member for member (the same "=" operators,
 * cross-type ones included, and the same hash functions), so xhash hashes
 * and compares exactly as PostgreSQL's hash joins and hash indexes do.
 * varchar uses text_ops (binary coercible), cidr uses inet_ops' family.
 */
DO $$
DECLARE
    fam record;
    cls record;
    op record;
    fn record;
    hash_am oid := (SELECT oid FROM pg_catalog.pg_am WHERE amname = 'hash');
BEGIN
    FOR fam IN
        SELECT f.oid, f.opfname
        FROM pg_catalog.pg_opfamily f
        WHERE f.opfmethod = hash_am
          AND f.opfnamespace = 'pg_catalog'::regnamespace
          AND f.opfname IN ('integer_ops', 'oid_ops', 'bool_ops', 'char_ops',
                            'text_ops', 'bpchar_ops', 'bytea_ops', 'uuid_ops',
                            'numeric_ops', 'float_ops', 'date_ops',
                            'timestamp_ops', 'timestamptz_ops', 'time_ops',
                            'interval_ops', 'network_ops', 'macaddr_ops',
                            'jsonb_ops', 'enum_ops')
        ORDER BY f.opfname
    LOOP
        EXECUTE format('CREATE OPERATOR FAMILY xhash.%I USING xhash',
                       fam.opfname);
        EXECUTE format('COMMENT ON OPERATOR FAMILY xhash.%I USING xhash IS %L',
                       fam.opfname,
                       'xhash mirror of core hash family ' || fam.opfname);

        /* one default opclass per input type, with its "=" and hash functions */
        FOR cls IN
            SELECT c.opcname, c.opcintype
            FROM pg_catalog.pg_opclass c
            WHERE c.opcfamily = fam.oid AND c.opcdefault
              AND c.opcname <> 'varchar_ops'
            ORDER BY c.opcname
        LOOP
            EXECUTE format(
                'CREATE OPERATOR CLASS xhash.%I DEFAULT FOR TYPE %s USING xhash '
                'FAMILY xhash.%I AS OPERATOR 1 = (%s, %s), '
                'FUNCTION 1 %s(%s), FUNCTION 2 %s(%s, int8)',
                cls.opcname, cls.opcintype::regtype, fam.opfname,
                cls.opcintype::regtype, cls.opcintype::regtype,
                (SELECT p.amproc::regproc FROM pg_catalog.pg_amproc p
                  WHERE p.amprocfamily = fam.oid AND p.amprocnum = 1
                    AND p.amproclefttype = cls.opcintype),
                (SELECT pr.proargtypes[0]::regtype
                   FROM pg_catalog.pg_amproc p
                   JOIN pg_catalog.pg_proc pr ON pr.oid = p.amproc
                  WHERE p.amprocfamily = fam.oid AND p.amprocnum = 1
                    AND p.amproclefttype = cls.opcintype),
                (SELECT p.amproc::regproc FROM pg_catalog.pg_amproc p
                  WHERE p.amprocfamily = fam.oid AND p.amprocnum = 2
                    AND p.amproclefttype = cls.opcintype),
                (SELECT pr.proargtypes[0]::regtype
                   FROM pg_catalog.pg_amproc p
                   JOIN pg_catalog.pg_proc pr ON pr.oid = p.amproc
                  WHERE p.amprocfamily = fam.oid AND p.amprocnum = 2
                    AND p.amproclefttype = cls.opcintype));
            EXECUTE format('COMMENT ON OPERATOR CLASS xhash.%I USING xhash IS %L',
                           cls.opcname,
                           'default xhash operator class for ' ||
                           cls.opcintype::regtype);
        END LOOP;

        /* cross-type "=" operators of the family (e.g. int8 = int4) */
        FOR op IN
            SELECT a.amopopr, a.amoplefttype, a.amoprighttype
            FROM pg_catalog.pg_amop a
            WHERE a.amopfamily = fam.oid
              AND a.amoplefttype <> a.amoprighttype
            ORDER BY a.amoplefttype, a.amoprighttype
        LOOP
            EXECUTE format(
                'ALTER OPERATOR FAMILY xhash.%I USING xhash ADD OPERATOR 1 = (%s, %s)',
                fam.opfname, op.amoplefttype::regtype, op.amoprighttype::regtype);
        END LOOP;
    END LOOP;
END
$$;

CREATE FUNCTION xhash.xhash_verify(index regclass,
                                   OUT blkno bigint, OUT problem text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'xhash_verify'
LANGUAGE C STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION xhash.xhash_verify(regclass) IS
  'check an xhash index''s structure and that it indexes every row of its table; one row per problem, none when healthy';

CREATE FUNCTION xhash.xhash_stats(index regclass,
    OUT buckets bigint, OUT primary_pages bigint, OUT overflow_pages bigint,
    OUT free_pages bigint, OUT unused_pages bigint, OUT total_pages bigint,
    OUT live_entries bigint, OUT dead_entries bigint,
    OUT leftover_entries bigint, OUT fill float8,
    OUT bytes_per_entry float8, OUT splits bigint,
    OUT max_chain_pages bigint, OUT hash_bits int)
RETURNS record
AS 'MODULE_PATHNAME', 'xhash_stats'
LANGUAGE C STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION xhash.xhash_stats(regclass) IS
  'size and fill figures of an xhash index: buckets, pages, live and dead entries, bytes per entry, splits';

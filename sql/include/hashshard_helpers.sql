-- sql/include/hashshard_helpers.sql -- helpers shared by the hashshard
-- regression tests (included with \i, see sql/hashshard_basic.sql)

-- EXPLAIN (VERBOSE, COSTS OFF) without the query identifier (shown because
-- result_cache, preloaded in every test cluster, enables query ids)
CREATE FUNCTION explain(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
        CONTINUE WHEN l LIKE 'Query Identifier:%';
        RETURN NEXT l;
    END LOOP;
END
$$;

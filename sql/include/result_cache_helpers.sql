-- sql/include/result_cache_helpers.sql -- included by the result_cache
-- regression tests (\i :abs_srcdir/sql/include/result_cache_helpers.sql),
-- in the test's own schema.
--
-- rc_last() reports what the statements since its previous call did to the
-- counters: "hit", "miss, store", "miss, reject <reason>", "bypass <reason>"
-- (xN when it happened N times).  Its own call is a bypass (it is volatile)
-- and is left out.
CREATE TABLE rc_prev (c jsonb);
INSERT INTO rc_prev VALUES ('{}');
CREATE FUNCTION rc_counters() RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('hit', hits, 'miss', misses, 'store', stores)
		|| coalesce((SELECT jsonb_object_agg(kind || ' ' || reason, count)
					 FROM result_cache.reasons WHERE count > 0), '{}')
	FROM result_cache.stats $$;
CREATE FUNCTION rc_last() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	cur jsonb := rc_counters();
	prev jsonb;
	k text;
	d bigint;
	parts text[] := '{}';
BEGIN
	SELECT c INTO prev FROM rc_prev;
	FOR k IN SELECT jsonb_object_keys(cur) ORDER BY 1 LOOP
		d := (cur ->> k)::bigint - coalesce((prev ->> k)::bigint, 0);
		IF k = 'bypass mutable' THEN
			d := d - 1;			-- this call
		END IF;
		IF d > 0 THEN
			parts := parts || CASE WHEN d = 1 THEN k ELSE k || ' x' || d END;
		END IF;
	END LOOP;
	UPDATE rc_prev SET c = cur;
	RETURN coalesce(array_to_string(parts, ', '), '');
END $$;

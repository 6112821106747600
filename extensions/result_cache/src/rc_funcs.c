/*-------------------------------------------------------------------------
 *
 * rc_funcs.c
 *		SQL-callable functions of result_cache: statistics, the list of
 *		entries, reset and invalidation.
 *
 * All of them fail with a clear error when the library was not preloaded.
 * Query texts of other users' entries are shown only to roles with the
 * privileges of pg_read_all_stats (as pg_stat_statements does).
 *
 * IDENTIFICATION
 *	  extensions/result_cache/src/rc_funcs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "result_cache.h"

PG_FUNCTION_INFO_V1(result_cache_stats);
PG_FUNCTION_INFO_V1(result_cache_reasons);
PG_FUNCTION_INFO_V1(result_cache_entries);
PG_FUNCTION_INFO_V1(result_cache_reset);
PG_FUNCTION_INFO_V1(result_cache_reset_stats);
PG_FUNCTION_INFO_V1(result_cache_invalidate);

#define RC_STATS_COLS		13

/* One row of counters (behind the view result_cache.stats) */
Datum
result_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[RC_STATS_COLS];
	bool		nulls[RC_STATS_COLS] = {0};
	uint64		bypasses = 0;
	uint64		rejects = 0;
	TimestampTz reset;
	int			i;

	rc_require_loaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	for (i = 1; i < RC_NREASONS; i++)
	{
		uint64		n = rc_counter_sum(RC_CTR_REASONS + i);

		if (i >= RC_FIRST_REJECT)
			rejects += n;
		else
			bypasses += n;
	}
	SpinLockAcquire(&rc_shared->mutex);
	reset = rc_shared->stats_reset;
	SpinLockRelease(&rc_shared->mutex);

	values[0] = Int64GetDatum(rc_counter_sum(RC_CTR_HITS));
	values[1] = Int64GetDatum(rc_counter_sum(RC_CTR_HITS_BEFORE_PLANNING));
	values[2] = Int64GetDatum(rc_counter_sum(RC_CTR_MISSES));
	values[3] = Int64GetDatum(rc_counter_sum(RC_CTR_STORES));
	values[4] = Int64GetDatum(bypasses);
	values[5] = Int64GetDatum(rejects);
	values[6] = Int64GetDatum(rc_counter_sum(RC_CTR_EVICTIONS));
	values[7] = Int64GetDatum(rc_counter_sum(RC_CTR_INVALIDATIONS));
	values[8] = Int64GetDatum(pg_atomic_read_u32(&rc_shared->nentries));
	values[9] = Int64GetDatum(rc_shared->max_entries);
	values[10] = Int64GetDatum(pg_atomic_read_u64(&rc_shared->memory_used));
	values[11] = Int64GetDatum(rc_shared->max_memory);
	values[12] = TimestampTzGetDatum(reset);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* Bypass and reject counters by reason */
Datum
result_cache_reasons(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	rc_require_loaded();
	InitMaterializedSRF(fcinfo, 0);
	for (i = 1; i < RC_NREASONS; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {0};

		values[0] = CStringGetTextDatum(i >= RC_FIRST_REJECT ? "reject" : "bypass");
		values[1] = CStringGetTextDatum(rc_reason_names[i]);
		values[2] = Int64GetDatum(rc_counter_sum(RC_CTR_REASONS + i));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * The cached entries.  Each partition is read under its lock in shared
 * mode; the texts are copied out before it is released.
 */
Datum
result_cache_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RcSlot	   *slots;
	Oid			me = GetUserId();
	bool		see_all;
	int			p;

	rc_require_loaded();
	InitMaterializedSRF(fcinfo, 0);
	see_all = has_privs_of_role(me, ROLE_PG_READ_ALL_STATS);
	slots = rc_slots();

	for (p = 0; p < RC_NPARTITIONS; p++)
	{
		LWLock	   *lock = &rc_shared->partition_locks[p].lock;
		int32		i;

		LWLockAcquire(lock, LW_SHARED);
		for (i = 0; i < rc_shared->max_entries; i++)
		{
			RcSlot	   *s = &slots[i];
			Datum		values[8];
			bool		nulls[8] = {0};
			char	   *qtext;
			bool		found;

			if (!s->in_use ||
				(s->hash & (rc_shared->nbuckets - 1)) % RC_NPARTITIONS != p)
				continue;
			qtext = rc_slot_text(s, i, &found);
			if (!found)
				continue;
			values[0] = ObjectIdGetDatum(s->dbid);
			values[1] = ObjectIdGetDatum(s->userid);
			if (see_all || s->userid == me)
				values[2] = CStringGetTextDatum(qtext);
			else
				values[2] = CStringGetTextDatum("<insufficient privilege>");
			values[3] = Int64GetDatum(s->rows);
			values[4] = Int64GetDatum(s->bytes);
			values[5] = Int64GetDatum(pg_atomic_read_u64(&s->hits));
			values[6] = TimestampTzGetDatum(s->created);
			values[7] = TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&s->last_used));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
								 nulls);
			pfree(qtext);
		}
		LWLockRelease(lock);
	}
	return (Datum) 0;
}

/* Drop every entry; entries being stored concurrently see the new epoch */
Datum
result_cache_reset(PG_FUNCTION_ARGS)
{
	rc_require_loaded();
	pg_atomic_fetch_add_u64(&rc_shared->epoch, 1);
	rc_remove_all();
	PG_RETURN_VOID();
}

Datum
result_cache_reset_stats(PG_FUNCTION_ARGS)
{
	rc_require_loaded();
	rc_counters_reset();
	SpinLockAcquire(&rc_shared->mutex);
	rc_shared->stats_reset = GetCurrentTimestamp();
	SpinLockRelease(&rc_shared->mutex);
	PG_RETURN_VOID();
}

/* Invalidate every entry that reads a relation */
Datum
result_cache_invalidate(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);

	rc_require_loaded();
	if (!OidIsValid(relid) || get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("Pass an existing table, view or materialized view.")));
	rc_bump_relation(MyDatabaseId, relid);
	PG_RETURN_VOID();
}

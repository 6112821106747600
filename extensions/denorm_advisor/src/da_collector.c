/*-------------------------------------------------------------------------
 *
 * da_collector.c
 *	  The optional workload collector: joins, rows and time of sampled
 *	  executions, in shared memory.
 *
 * With the library in shared_preload_libraries and
 * denorm_advisor.collect_sample_rate > 0, a top-level SELECT is sampled
 * with that probability when its executor starts.  A sampled execution
 * runs with row and time instrumentation; when it ends, the collector
 * records, per (database, user, query id), the query text (its first
 * DA_TEXT_LEN bytes), the sampled calls, their total time and rows, and
 * the joins of the executed plan: for every join node the base relations
 * of its two sides and the rows it produced.  recommend() reads the
 * entries of the current database and user as a workload source when
 * pg_stat_statements is not installed, scaling calls by the sample rate.
 *
 * Invariants:
 *	C1	Unsampled executions pay one random draw and nothing else; the
 *		shared lock is taken only at the end of sampled ones.
 *	C2	The table never grows beyond denorm_advisor.collect_max entries: a
 *		new query replaces the entry with the fewest sampled calls.
 *	C3	Only the owner of an entry, or a member of pg_read_all_stats, sees
 *		its query text (as pg_stat_statements does).
 *	C4	Previous executor and shared-memory hooks are always chained.
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/denorm_advisor/src/da_collector.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "access/parallel.h"
#include "catalog/pg_authid.h"
#include "common/pg_prng.h"
#include "executor/executor.h"
#include "executor/instrument.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "parser/parsetree.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/queryjumble.h"
#include "utils/timestamp.h"

#include "denorm_advisor.h"

#define DA_TEXT_LEN		1024	/* bytes of query text kept */
#define DA_JOINS_LEN	256		/* bytes of join description kept */

/* One collected query */
typedef struct DaCollected
{
	Oid			dbid;
	Oid			userid;
	uint64		queryid;		/* 0: slot free */
	int64		calls;			/* sampled executions */
	double		total_ms;
	double		rows;
	TimestampTz first_seen;
	char		joins[DA_JOINS_LEN];
	char text[	DA_TEXT_LEN];
} DaCollected;

/* The shared state */
typedef struct DaCollectorShared
{
	LWLock	   *lock;
	TimestampTz reset_at;
	int			nentries;
	DaCollected entries[FLEXIBLE_ARRAY_MEMBER];
} DaCollectorShared;

double		da_collect_sample_rate = 0.01;
int			da_collect_max = 1000;

static DaCollectorShared *da_shared = NULL;
static int	da_nesting = 0;
static QueryDesc *da_sampled_desc = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

PG_FUNCTION_INFO_V1(denorm_advisor_collected);
PG_FUNCTION_INFO_V1(denorm_advisor_collector_reset);
PG_FUNCTION_INFO_V1(denorm_advisor_collector_active);

/* Bytes of shared memory the collector needs */
static Size
collector_size(void)
{
	return add_size(offsetof(DaCollectorShared, entries),
					mul_size(da_collect_max, sizeof(DaCollected)));
}

/* shmem_request_hook: reserve the table and its lock (C4: chained) */
static void
da_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(collector_size());
	RequestNamedLWLockTranche("denorm_advisor", 1);
}

/* shmem_startup_hook: create or attach to the table (C4: chained) */
static void
da_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	da_shared = ShmemInitStruct("denorm_advisor collector", collector_size(), &found);
	if (!found)
	{
		memset(da_shared, 0, collector_size());
		da_shared->lock = &(GetNamedLWLockTranche("denorm_advisor"))->lock;
		da_shared->reset_at = GetCurrentTimestamp();
		da_shared->nentries = da_collect_max;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* ------------------------------------------------------------------------
 * Executor hooks
 * ------------------------------------------------------------------------ */

static void
da_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	bool		sampled;

	/* C1: a draw per top-level SELECT, instrumentation only when sampled */
	sampled = da_nesting == 0 && da_shared != NULL && !IsParallelWorker() &&
		da_collect_sample_rate > 0 &&
		queryDesc->operation == CMD_SELECT &&
		queryDesc->plannedstmt->queryId != UINT64CONST(0) &&
		!(eflags & EXEC_FLAG_EXPLAIN_ONLY) &&
		pg_prng_double(&pg_global_prng_state) < da_collect_sample_rate;
	if (sampled)
		queryDesc->instrument_options |= INSTRUMENT_ROWS | INSTRUMENT_TIMER;
	else if (da_nesting == 0)
		da_sampled_desc = NULL; /* a sampled query that failed ended here */

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if (sampled)
	{
		if (queryDesc->totaltime == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);

			queryDesc->totaltime = InstrAlloc(1, INSTRUMENT_ALL, false);
			MemoryContextSwitchTo(old);
		}
		da_sampled_desc = queryDesc;
	}
}

static void
da_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count,
			   bool execute_once)
{
	da_nesting++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		da_nesting--;
	}
	PG_END_TRY();
}

static void
da_ExecutorFinish(QueryDesc *queryDesc)
{
	da_nesting++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		da_nesting--;
	}
	PG_END_TRY();
}

/* The base relations a plan subtree scans, as "a, b" */
static void
scanned_relations(PlanState *ps, EState *estate, StringInfo out)
{
	Plan	   *plan;

	if (ps == NULL)
		return;
	plan = ps->plan;
	switch (nodeTag(plan))
	{
		case T_SeqScan:
		case T_SampleScan:
		case T_IndexScan:
		case T_IndexOnlyScan:
		case T_BitmapHeapScan:
		case T_TidScan:
		case T_TidRangeScan:
			{
				Index		rti = ((Scan *) plan)->scanrelid;
				RangeTblEntry *rte = rt_fetch(rti, estate->es_range_table);
				char	   *name = get_rel_name(rte->relid);

				if (name && out->len + strlen(name) + 3 < DA_JOINS_LEN)
					appendStringInfo(out, "%s%s", out->len > 0 && out->data[out->len - 1] != '(' ? ", " : "", name);
				return;
			}
		default:
			break;
	}
	scanned_relations(outerPlanState(ps), estate, out);
	scanned_relations(innerPlanState(ps), estate, out);
}

/* Describe the join nodes of the plan: "(a) x (b): rows; ..." */
static void
describe_joins(PlanState *ps, EState *estate, StringInfo out)
{
	if (ps == NULL)
		return;
	if (IsA(ps->plan, NestLoop) || IsA(ps->plan, HashJoin) ||
		IsA(ps->plan, MergeJoin))
	{
		StringInfoData left,
					right;
		double		rows = 0;

		initStringInfo(&left);
		initStringInfo(&right);
		scanned_relations(outerPlanState(ps), estate, &left);
		scanned_relations(innerPlanState(ps), estate, &right);
		if (ps->instrument)
			rows = ps->instrument->ntuples + ps->instrument->tuplecount;
		if (out->len + left.len + right.len + 32 < DA_JOINS_LEN)
			appendStringInfo(out, "%s(%s) x (%s): %.0f", out->len ? "; " : "",
							 left.data, right.data, rows);
	}
	describe_joins(outerPlanState(ps), estate, out);
	describe_joins(innerPlanState(ps), estate, out);
}

/* The statement's own text (a simple-protocol string may hold several) */
static void
statement_text(QueryDesc *queryDesc, char *dest)
{
	const char *src = queryDesc->sourceText ? queryDesc->sourceText : "";
	int			loc = queryDesc->plannedstmt->stmt_location;
	int			len = queryDesc->plannedstmt->stmt_len;
	int			srclen = strlen(src);

	if (loc < 0 || loc > srclen)
		loc = 0;
	if (len <= 0 || loc + len > srclen)
		len = srclen - loc;
	while (len > 0 && isspace((unsigned char) src[loc]))
	{
		loc++;
		len--;
	}
	len = Min(len, DA_TEXT_LEN - 1);
	/* do not cut a multibyte character */
	len = pg_mbcliplen(src + loc, len, len);
	memcpy(dest, src + loc, len);
	dest[len] = '\0';
}

/*
 * record_execution
 *		Add a sampled execution to its entry (C2: replacing the entry with
 *		the fewest calls when the query is new and the table is full).
 */
static void
record_execution(QueryDesc *queryDesc)
{
	uint64		queryid = queryDesc->plannedstmt->queryId;
	Oid			dbid = MyDatabaseId;
	Oid			userid = GetUserId();
	double		ms = queryDesc->totaltime->total * 1000.0;
	double		rows = queryDesc->totaltime->ntuples;
	StringInfoData joins;
	DaCollected *entry = NULL;
	DaCollected *victim = NULL;

	initStringInfo(&joins);
	describe_joins(queryDesc->planstate, queryDesc->estate, &joins);

	LWLockAcquire(da_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < da_shared->nentries; i++)
	{
		DaCollected *e = &da_shared->entries[i];

		if (e->queryid == queryid && e->dbid == dbid && e->userid == userid)
		{
			entry = e;
			break;
		}
		if (victim == NULL || e->calls < victim->calls)
			victim = e;
	}
	if (entry == NULL && victim != NULL)
	{
		entry = victim;
		memset(entry, 0, sizeof(DaCollected));
		entry->dbid = dbid;
		entry->userid = userid;
		entry->queryid = queryid;
		entry->first_seen = GetCurrentTimestamp();
		statement_text(queryDesc, entry->text);
	}
	if (entry != NULL)
	{
		entry->calls++;
		entry->total_ms += ms;
		entry->rows += rows;
		strlcpy(entry->joins, joins.data, DA_JOINS_LEN);
	}
	LWLockRelease(da_shared->lock);
}

static void
da_ExecutorEnd(QueryDesc *queryDesc)
{
	if (queryDesc == da_sampled_desc && queryDesc->totaltime &&
		da_shared != NULL)
	{
		InstrEndLoop(queryDesc->totaltime);
		record_execution(queryDesc);
	}
	if (queryDesc == da_sampled_desc)
		da_sampled_desc = NULL;
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/*
 * da_collector_init
 *		From _PG_init: the settings always; the hooks only when the
 *		library is preloaded (the collector needs shared memory).
 */
void
da_collector_init(void)
{
	DefineCustomRealVariable("denorm_advisor.collect_sample_rate",
							 "Share of top-level SELECT executions the collector samples.",
							 "0 turns the collector off. Sampled executions run with row and time instrumentation.",
							 &da_collect_sample_rate,
							 0.01, 0.0, 1.0,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	/* a postmaster setting can only be defined while preloading */
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("denorm_advisor.collect_max",
							"Queries the collector keeps.",
							NULL,
							&da_collect_max,
							1000, 10, 100000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	EnableQueryId();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = da_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = da_shmem_startup;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = da_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = da_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = da_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = da_ExecutorEnd;
}

/* ------------------------------------------------------------------------
 * SQL functions
 * ------------------------------------------------------------------------ */

/* Error out, with the fix, when the collector does not run here */
static void
require_collector(void)
{
	if (da_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the denorm_advisor collector is not running"),
				 errhint("Add denorm_advisor to shared_preload_libraries and restart the server; denorm_advisor.collect_sample_rate sets the share of executions it samples.")));
}

/*
 * denorm_advisor.collector_active() -> boolean
 *		Is the collector running in this server?
 */
Datum
denorm_advisor_collector_active(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(da_shared != NULL);
}

/*
 * denorm_advisor.collected()
 *		The collected queries: database, user, query id, text (C3), sampled
 *		calls, estimated calls per hour, mean time, mean rows, joins.
 */
Datum
denorm_advisor_collected(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all_texts;
	double		hours;
	TimestampTz reset_at;

	require_collector();
	InitMaterializedSRF(fcinfo, 0);
	all_texts = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);

	LWLockAcquire(da_shared->lock, LW_SHARED);
	reset_at = da_shared->reset_at;
	for (int i = 0; i < da_shared->nentries; i++)
	{
		DaCollected *e = &da_shared->entries[i];
		Datum		values[9];
		bool		nulls[9];

		if (e->queryid == 0)
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[0] = ObjectIdGetDatum(e->dbid);
		values[1] = ObjectIdGetDatum(e->userid);
		values[2] = Int64GetDatum((int64) e->queryid);
		if (all_texts || e->userid == GetUserId())
		{
			values[3] = CStringGetTextDatum(e->text);
			values[8] = CStringGetTextDatum(e->joins);
		}
		else
		{
			values[3] = CStringGetTextDatum("<insufficient privilege>");
			nulls[8] = true;
		}
		values[4] = Int64GetDatum(e->calls);
		/* the entry's own window: it may be younger than the last reset */
		hours = Max((double) (GetCurrentTimestamp() - Max(e->first_seen, reset_at)) /
					USECS_PER_SEC / 3600.0, 1.0 / 60);
		values[5] = Float8GetDatum(da_collect_sample_rate > 0 ?
								   e->calls / da_collect_sample_rate / hours : 0);
		values[6] = Float8GetDatum(e->calls > 0 ? e->total_ms / e->calls : 0);
		values[7] = Float8GetDatum(e->calls > 0 ? e->rows / e->calls : 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(da_shared->lock);
	return (Datum) 0;
}

/*
 * denorm_advisor.collector_reset()
 *		Forget every collected query (superusers, or roles granted EXECUTE).
 */
Datum
denorm_advisor_collector_reset(PG_FUNCTION_ARGS)
{
	require_collector();
	LWLockAcquire(da_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < da_shared->nentries; i++)
		da_shared->entries[i].queryid = 0;
	for (int i = 0; i < da_shared->nentries; i++)
		da_shared->entries[i].calls = 0;
	da_shared->reset_at = GetCurrentTimestamp();
	LWLockRelease(da_shared->lock);
	PG_RETURN_VOID();
}

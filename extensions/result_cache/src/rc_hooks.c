/*-------------------------------------------------------------------------
 *
 * rc_hooks.c
 *		Entry point of result_cache: GUCs and the planner, executor and
 *		utility hooks that serve and capture results.
 *
 * Flow of a top-level SELECT (see result_cache.h for the invariants):
 *	planner hook		verdict on the Query -> marker item in the plan
 *	ExecutorStart		run-time checks, key, capture of the dependencies'
 *						generations, fresh snapshot, standard ExecutorStart
 *						(locks and permission checks on every hit), lookup
 *	ExecutorRun			hit: send the stored rows to the portal's receiver;
 *						miss: run the plan through a tee receiver, store
 *	ExecutorEnd			record tuple-routing targets of writes
 *
 * Every hook chains to the previous one; nesting levels are restored in
 * PG_FINALLY so that an error leaves them right.
 *
 * IDENTIFICATION
 *	  extensions/result_cache/src/rc_hooks.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>

#include "access/detoast.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "executor/instrument.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "parser/analyze.h"
#include "parser/parsetree.h"
#include "portability/instr_time.h"
#include "storage/ipc.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/queryjumble.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "result_cache.h"

PG_MODULE_MAGIC;

/* GUC variables */
int			rc_mode = RC_MODE_ALL;
bool		rc_enabled = true;
int			rc_max_memory_kb = 65536;
int			rc_max_entries = 16384;
int			rc_max_entry_size_kb = 1024;
double		rc_min_exec_time = 0.0;
bool		rc_store_first_miss = false;
int			rc_debug_pause_at = RC_PAUSE_NONE;

static const struct config_enum_entry rc_mode_options[] = {
	{"off", RC_MODE_OFF, false},
	{"all", RC_MODE_ALL, false},
	{"tables", RC_MODE_TABLES, false},
	{NULL, 0, false}
};

static const struct config_enum_entry rc_pause_options[] = {
	{"none", RC_PAUSE_NONE, false},
	{"before_capture", RC_PAUSE_BEFORE_CAPTURE, false},
	{"after_capture", RC_PAUSE_AFTER_CAPTURE, false},
	{"before_store", RC_PAUSE_BEFORE_STORE, false},
	{"pre_commit", RC_PAUSE_PRE_COMMIT, false},
	{"after_finish_prepared", RC_PAUSE_AFTER_FINISH_PREPARED, false},
	{NULL, 0, false}
};

/* Saved hook values */
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;
static planner_hook_type prev_planner_hook = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* Nesting depth of executor/utility and planner calls */
static int	exec_nested_level = 0;
static int	plan_nested_level = 0;

/*
 * State of one top-level SELECT looked up at ExecutorStart, kept until its
 * executor memory goes away.  A backend can have several open portals
 * (extended protocol), hence a list keyed by QueryDesc.
 */
typedef struct RcQueryState
{
	QueryDesc  *qd;
	RcLookup   *lk;
	bool		hit;
	bool		standin;		/* served before planning: never execute */
	Size		off;			/* hit: bytes of data already sent */
	bool		ran;
	char	   *data;			/* hit: copy of the stored tuples */
	Size		len;
	uint64		ntuples;
	/* miss: capture */
	MemoryContext cxt;
	bool		capturing;
	StringInfoData tuples;
	uint64		ncaptured;
	Size		limit;
	RcReason	reject;
	struct RcQueryState *next;
	MemoryContextCallback cb;
} RcQueryState;

static RcQueryState *rc_states = NULL;

/* The Query of the latest top-level analysis by exec_simple_query */
static Query *rc_simple_query = NULL;

/*
 * The stand-in plan rc_plan_hit returned, and the rows it copied, until
 * ExecutorStart takes them over; or, when rc_plan_hit missed, the plan
 * made instead and the key rc_plan_hit built, which ExecutorStart reuses
 * (cleared by the next planner call and at transaction end)
 */
static PlannedStmt *rc_missed_pstmt = NULL;
static RcLookup *rc_missed_lk = NULL;
static PlannedStmt *rc_standin_pstmt = NULL;
static uint32 rc_standin_serial = 0;	/* of rc_standin_pstmt */
static uint32 rc_standin_counter = 0;
static char *rc_standin_data = NULL;
static Size rc_standin_len = 0;
static uint64 rc_standin_ntuples = 0;

/* A DestReceiver that copies rows on their way to the real one */
typedef struct RcTee
{
	DestReceiver pub;
	DestReceiver *inner;
	RcQueryState *st;
} RcTee;

void		_PG_init(void);

static void rc_shmem_request(void);
static void rc_hooks_xact_callback(XactEvent event, void *arg);
static void rc_post_parse_analyze(ParseState *pstate, Query *query,
								  JumbleState *jstate);
static void rc_shmem_startup_hook(void);
static PlannedStmt *rc_planner(Query *parse, const char *query_string,
							   int cursorOptions, ParamListInfo boundParams);
static void rc_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void rc_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
						   uint64 count, bool execute_once);
static void rc_ExecutorFinish(QueryDesc *queryDesc);
static void rc_ExecutorEnd(QueryDesc *queryDesc);
static void rc_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
							  bool readOnlyTree,
							  ProcessUtilityContext context, ParamListInfo params,
							  QueryEnvironment *queryEnv,
							  DestReceiver *dest, QueryCompletion *qc);

/*
 * Module load: define the GUCs and install the hooks.  Only when preloaded:
 * loaded later (by CREATE EXTENSION's functions), the module stays inert
 * and its SQL functions report that it must be preloaded.
 */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomEnumVariable("result_cache.mode",
							 "Which SELECTs result_cache may cache.",
							 "off: none; all: every cacheable SELECT; tables: only SELECTs whose tables were enabled with result_cache.enable_table().",
							 &rc_mode, RC_MODE_ALL, rc_mode_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("result_cache.enabled",
							 "Lets this session use result_cache.",
							 "Applications that must always execute their queries can turn it off.",
							 &rc_enabled, true, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("result_cache.max_memory",
							"Shared memory for cached results.",
							NULL,
							&rc_max_memory_kb, 65536, 1024, INT_MAX / 2,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("result_cache.max_entries",
							"Maximum number of cached results.",
							NULL,
							&rc_max_entries, 16384, 16, 1 << 24,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("result_cache.max_entry_size",
							"Largest result that is cached.",
							"Larger results are executed normally and counted as rejected (too_large).",
							&rc_max_entry_size_kb, 1024, 1, MaxAllocSize / 1024,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomRealVariable("result_cache.min_exec_time",
							 "Only results whose execution took at least this long (milliseconds) are cached.",
							 NULL,
							 &rc_min_exec_time, 0.0, 0.0, DBL_MAX,
							 PGC_SUSET, GUC_UNIT_MS,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("result_cache.store_first_miss",
							 "Stores a result the first time its query misses.",
							 "Off: a result is stored only when its query missed recently before (admission on second sight), so that one-off queries cost no copy and no eviction.",
							 &rc_store_first_miss, false, PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("result_cache.debug_pause_at",
							 "Test only: wait on an advisory lock at this point.",
							 NULL,
							 &rc_debug_pause_at, RC_PAUSE_NONE, rc_pause_options,
							 PGC_SUSET, GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("result_cache");

	/* the key includes the query's structure (compute_query_id = auto) */
	EnableQueryId();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rc_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rc_shmem_startup_hook;
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = rc_post_parse_analyze;
	prev_planner_hook = planner_hook;
	planner_hook = rc_planner;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = rc_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = rc_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = rc_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = rc_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = rc_ProcessUtility;

	rc_invalidate_init();
	RegisterXactCallback(rc_hooks_xact_callback, NULL);
}

/* Forget what the planner left for an executor that never came */
static void
rc_hooks_xact_callback(XactEvent event, void *arg)
{
	/*
	 * A stand-in was made and never started: a plan cache may keep a copy (a
	 * Bind that failed after planning).  Make every cached plan of this
	 * backend be checked again (this only sets flags).
	 */
	if (event == XACT_EVENT_ABORT && rc_standin_pstmt != NULL)
		ResetPlanCache();
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
	{
		rc_simple_query = NULL;
		rc_standin_pstmt = NULL;
		rc_standin_data = NULL;
		rc_missed_pstmt = NULL;
		rc_missed_lk = NULL;
	}
}

static void
rc_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(rc_shmem_size());
	RequestNamedLWLockTranche("result_cache", RC_NPARTITIONS + 1);
}

static void
rc_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	rc_shmem_startup();
}

/* Does the result have a column of anonymous record type (or array)? */
static bool
rc_has_record_column(TupleDesc tupdesc)
{
	int			i;

	for (i = 0; i < tupdesc->natts; i++)
	{
		Oid			t = getBaseType(TupleDescAttr(tupdesc, i)->atttypid);

		if (t == RECORDOID || t == RECORDARRAYOID)
			return true;
	}
	return false;
}

/* A marker item of the plan (negative cacheId: matches no invalidation) */
static PlanInvalItem *
rc_item(int cacheId, uint32 value)
{
	PlanInvalItem *item = makeNode(PlanInvalItem);

	item->cacheId = cacheId;
	item->hashValue = value;
	return item;
}

/*
 * Post-parse-analysis hook: remember the Query of the latest top-level
 * analysis that can only be exec_simple_query's (see rc_planner).
 */
static void
rc_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);

	if (exec_nested_level == 0 && plan_nested_level == 0)
		rc_simple_query = (pstate->parentParseState == NULL &&
						   pstate->p_paramref_hook == NULL &&
						   pstate->p_sourcetext != NULL &&
						   pstate->p_sourcetext == debug_query_string &&
						   query->commandType == CMD_SELECT &&
						   query->utilityStmt == NULL) ? query : NULL;
}

/*
 * A hit served before planning: try it for a simple-protocol SELECT whose
 * Query the planner hook was given.  Returns a stand-in plan, or NULL to
 * plan normally (the executor hooks then count why it bypassed or missed);
 * after a lookup that missed, *missed is the key, for ExecutorStart.
 *
 * The stand-in is a Result node whose target list has the query's output
 * columns (names, types, typmods, collations, originating table and
 * column, so that the client sees the same row description) as NULL
 * constants, and an empty range table.  It is never executed: the rows
 * copied here are sent by rc_ExecutorRun.  Conditions, as at ExecutorStart
 * (rc_prepare): cache enabled, not in recovery, READ COMMITTED, a table to
 * read, every relation passes rc_check_relations, no own writes to the
 * entry's dependencies (I3), no anonymous record column.  Privileges are
 * checked on every relation of every query level before the lookup, with
 * the same errors an execution would raise.  The lookup happens after the
 * snapshot exec_simple_query took for analysis and planning (it is the
 * active snapshot now): I2 holds with that snapshot as the reader's.  The
 * relations are locked already (parse analysis and the rewriter lock
 * everything they read).
 */
static PlannedStmt *
rc_plan_hit(Query *parse, const char *query_string, uint64 consts,
			uint64 sig, RcLookup **missed)
{
	List	   *rtes;
	TupleDesc	tupdesc;
	RcLookup   *lk;
	char	   *data;
	Size		len;
	uint64		ntuples;
	int32	   *typmods;
	Result	   *res;
	PlannedStmt *pstmt;
	PlanInvalItem *marker;
	List	   *tlist = NIL;
	AttrNumber	resno = 1;
	ListCell   *lc;

	if (rc_mode == RC_MODE_OFF || !rc_enabled || RecoveryInProgress() ||
		IsolationUsesXactSnapshot() || !ActiveSnapshotSet())
		return NULL;
	rtes = rc_query_relations(parse);
	if (rtes == NIL || rc_check_relations(rtes) != RC_OK)
		return NULL;
	foreach(lc, rtes)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		/* own writes to a relation named here: no need to look (I3) */
		if (rc_xact_wrote_deps(1, &rte->relid))
			return NULL;

		/*
		 * The children of an inheritance parent are only known to the
		 * planner, which leaves out other sessions' temporary ones: the entry
		 * another session stored may lack this session's (and
		 * rc_check_relations would refuse them).  Plan it.
		 */
		if (rte->inh && rte->relkind == RELKIND_RELATION &&
			has_subclass(rte->relid))
			return NULL;
	}
	tupdesc = ExecCleanTypeFromTL(parse->targetList);
	if (rc_has_record_column(tupdesc))
		return NULL;

	lk = palloc0(sizeof(RcLookup));
	rc_build_query_key(parse, query_string, consts, sig, lk);
	typmods = palloc(Max(tupdesc->natts, 1) * sizeof(int32));
	if (!rc_lookup(lk, tupdesc, true, &data, &len, &ntuples, typmods))
	{
		*missed = lk;
		return NULL;
	}

	/*
	 * The privileges an execution would check, on every relation of every
	 * query level (views as their owner).  This may refuse what the planner
	 * would leave out (a CTE never referenced, a sublink folded away): then
	 * plan, and let the execution decide.
	 */
	if (!ExecCheckRTPerms(rtes, false))
	{
		pfree(data);
		return NULL;
	}

	foreach(lc, parse->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Node	   *expr = (Node *) tle->expr;
		TargetEntry *ntle;

		if (tle->resjunk)
			continue;
		/* the typmod of the plan that stored the entry (folding may set it) */
		ntle = makeTargetEntry((Expr *) makeNullConst(exprType(expr),
													  typmods[resno - 1],
													  exprCollation(expr)),
							   resno, tle->resname, false);
		resno++;
		ntle->resorigtbl = tle->resorigtbl;
		ntle->resorigcol = tle->resorigcol;
		tlist = lappend(tlist, ntle);
	}
	res = makeNode(Result);
	res->plan.targetlist = tlist;
	res->plan.plan_rows = (Cardinality) ntuples;

	marker = makeNode(PlanInvalItem);
	marker->cacheId = RC_STANDIN_CACHEID;
	marker->hashValue = ++rc_standin_counter;

	/*
	 * Should a plan cache keep it (see rc_planner), rc_ExecutorStart
	 * invalidates it at its first use, and an abort before that resets the
	 * plan cache; transient and role-dependent as a further guard.
	 */
	pstmt = makeNode(PlannedStmt);
	pstmt->commandType = CMD_SELECT;
	pstmt->queryId = parse->queryId;
	pstmt->canSetTag = parse->canSetTag;
	pstmt->transientPlan = true;
	pstmt->dependsOnRole = true;
	pstmt->planTree = (Plan *) res;
	pstmt->invalItems = list_make1(marker);
	pstmt->stmt_location = parse->stmt_location;
	pstmt->stmt_len = parse->stmt_len;

	rc_standin_serial = marker->hashValue;
	rc_standin_pstmt = pstmt;
	rc_standin_data = data;
	rc_standin_len = len;
	rc_standin_ntuples = ntuples;
	return pstmt;
}

/*
 * Planner hook: judge the rewritten Query before planning (planning
 * rewrites it in place) and leave the verdict, the constants' hash and the
 * signature in the plan.  Only plans made at top level are judged; the
 * others are never served from the cache.
 *
 * A simple-protocol SELECT is served before planning when it hits
 * (rc_plan_hit): exec_simple_query's plans are used once and never kept.
 * The Query must be the one the latest top-level analysis made
 * (rc_post_parse_analyze: source text equal to debug_query_string, no
 * parameter hooks), planned with that text, no parameters and
 * exec_simple_query's cursor options.  One path of the extended protocol
 * matches too: a Bind that revalidates a cached statement without
 * parameters re-analyses it with debug_query_string as its text and plans
 * that very Query (RevalidateCachedQuery, BuildCachedPlan).  The plan
 * cache then keeps a copy of the stand-in, which rc_ExecutorStart
 * recognises by its serial number, serves (the portal may be fetched in
 * parts, by later messages, or by FETCH), and invalidates, so that the
 * next Bind plans again.  Should the Bind fail between planning and
 * ExecutorStart, the abort resets this backend's plan cache; the stand-in
 * is also marked transient and role-dependent.
 */
static PlannedStmt *
rc_planner(Query *parse, const char *query_string, int cursorOptions,
		   ParamListInfo boundParams)
{
	PlannedStmt *result;
	volatile bool judge;
	volatile RcReason verdict = RC_OK;
	uint64		consts = 0;
	uint64		sig = 0;
	bool		simple = (parse == rc_simple_query);
	RcLookup   *volatile missed = NULL;

	rc_simple_query = NULL;
	rc_standin_pstmt = NULL;
	rc_missed_pstmt = NULL;
	rc_missed_lk = NULL;

	judge = rc_shared != NULL && exec_nested_level == 0 &&
		plan_nested_level == 0 && parse->commandType == CMD_SELECT;
	if (judge)
	{
		verdict = rc_query_verdict(parse);

		/*
		 * Without a table to read (SELECT 1), ExecutorStart bypasses the
		 * cache (no_tables): spare the hashes.
		 */
		if (verdict == RC_OK &&
			(parse->rtable != NIL || parse->hasSubLinks ||
			 parse->cteList != NIL))
		{
			rc_query_hashes(parse, &consts, &sig);
			if (simple && query_string == debug_query_string &&
				query_string != NULL && boundParams == NULL &&
				cursorOptions == CURSOR_OPT_PARALLEL_OK)
			{
				RcLookup   *m = NULL;

				result = rc_plan_hit(parse, query_string, consts, sig, &m);
				if (result != NULL)
					return result;
				missed = m;
			}
		}
	}

	plan_nested_level++;
	PG_TRY();
	{
		if (prev_planner_hook)
			result = prev_planner_hook(parse, query_string, cursorOptions,
									   boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions,
									  boundParams);
	}
	PG_FINALLY();
	{
		plan_nested_level--;
	}
	PG_END_TRY();

	if (judge)
	{
		PlanInvalItem *marker = makeNode(PlanInvalItem);

		marker->cacheId = RC_MARKER_CACHEID;
		marker->hashValue = (uint32) verdict;
		result->invalItems = lappend(result->invalItems, marker);
		if (verdict == RC_OK)
		{
			result->invalItems = lappend(result->invalItems,
										 rc_item(RC_CONSTS_LO_CACHEID, (uint32) consts));
			result->invalItems = lappend(result->invalItems,
										 rc_item(RC_CONSTS_HI_CACHEID, (uint32) (consts >> 32)));
			result->invalItems = lappend(result->invalItems,
										 rc_item(RC_SIG_LO_CACHEID, (uint32) sig));
			result->invalItems = lappend(result->invalItems,
										 rc_item(RC_SIG_HI_CACHEID, (uint32) (sig >> 32)));
			rc_plan_type_deps(result);
		}
	}
	if (missed != NULL)
	{
		rc_missed_pstmt = result;
		rc_missed_lk = missed;
	}
	return result;
}

/* Record the result relations of a writing statement (any nesting level) */
static void
rc_note_writes(QueryDesc *qd, int eflags)
{
	PlannedStmt *pstmt = qd->plannedstmt;
	ListCell   *lc;

	if (pstmt->commandType == CMD_SELECT && !pstmt->hasModifyingCTE)
		return;
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;					/* plain EXPLAIN writes nothing */
	foreach(lc, pstmt->resultRelations)
		rc_record_write(rt_fetch(lfirst_int(lc), pstmt->rtable)->relid);
	/* the tables the rows land in through tuple routing: see ExecutorEnd */
}

static bool
rc_dest_is_client(DestReceiver *dest)
{
	return dest->mydest == DestRemote || dest->mydest == DestRemoteExecute ||
		dest->mydest == DestRemoteSimple;
}

/*
 * Before the standard ExecutorStart of a top-level SELECT: decide whether
 * it may use the cache, build its key, capture the generations of what it
 * reads and replace the snapshot PortalStart took by a fresh one
 * (invariant I1).  Returns NULL (after counting the reason) when the query
 * bypasses the cache.
 */
static RcLookup *
rc_prepare(QueryDesc *qd, int eflags, RcLookup *missed)
{
	PlannedStmt *pstmt = qd->plannedstmt;
	bool		has_marker;
	RcReason	r;
	RcLookup   *lk;

	r = rc_plan_verdict(pstmt, &has_marker);
	if (!has_marker)
		return NULL;			/* not planned at top level */

	if (rc_mode == RC_MODE_OFF || !rc_enabled)
		r = RC_BYPASS_DISABLED;
	else if (RecoveryInProgress())
		r = RC_BYPASS_RECOVERY;
	else if (IsolationUsesXactSnapshot())
		r = RC_BYPASS_ISOLATION;
	else if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) || qd->instrument_options != 0)
		r = RC_BYPASS_EXPLAIN;
	else if (r == RC_OK && pstmt->relationOids == NIL)
		r = RC_BYPASS_NO_TABLES;	/* SELECT 1: executing costs less */
	else if (r == RC_OK)
		r = rc_check_relations(pstmt->rtable);
	if (r == RC_OK && rc_xact_wrote(pstmt))
		r = RC_BYPASS_OWN_WRITES;

	if (r != RC_OK)
	{
		rc_count(r);
		return NULL;
	}

	if (missed != NULL)
	{
		/* the planner hook built this key and missed: no second lookup */
		lk = missed;
		lk->missed = true;
		r = RC_OK;
	}
	else
	{
		lk = palloc0(sizeof(RcLookup));
		r = rc_build_key(qd, lk);
	}
	if (r == RC_OK)
		r = rc_build_deps(pstmt, lk);
	if (r != RC_OK)
	{
		rc_count(r);
		return NULL;
	}

	rc_pause(RC_PAUSE_BEFORE_CAPTURE);
	rc_capture_gens(lk);
	rc_pause(RC_PAUSE_AFTER_CAPTURE);

	/* The execution must not see less than what the capture covers */
	if (qd->snapshot != NULL)
	{
		UnregisterSnapshot(qd->snapshot);
		qd->snapshot = RegisterSnapshot(GetTransactionSnapshot());
	}
	return lk;
}

static void
rc_forget_state(void *arg)
{
	RcQueryState *st = (RcQueryState *) arg;
	RcQueryState **p;

	for (p = &rc_states; *p != NULL; p = &(*p)->next)
	{
		if (*p == st)
		{
			*p = st->next;
			break;
		}
	}
}

/* Keep st findable by rc_ExecutorRun until the executor's memory goes */
static void
rc_track_state(RcQueryState *st, EState *estate)
{
	st->cb.func = rc_forget_state;
	st->cb.arg = st;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, &st->cb);
	st->next = rc_states;
	rc_states = st;
}

static RcQueryState *
rc_find_state(QueryDesc *qd)
{
	RcQueryState *st;

	for (st = rc_states; st != NULL; st = st->next)
		if (st->qd == qd)
			return st;
	return NULL;
}

/*
 * A stand-in plan reached the executor in a way rc_plan_hit does not
 * expect (it cannot: see rc_planner).  Executing it would return its NULL
 * constants, so fail instead.
 */
static void
rc_standin_lost(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("result_cache: a result served before planning was executed in an unexpected way"),
			 errhint("Run the statement again with result_cache.enabled = off, and report this.")));
}

/*
 * Make the plan cache plan again instead of reusing the active portal's
 * cached plan, a copy of a stand-in (see rc_planner).
 */
static void
rc_invalidate_portal_plan(PlannedStmt *pstmt)
{
	if (ActivePortal != NULL && ActivePortal->cplan != NULL &&
		list_member_ptr(ActivePortal->cplan->stmt_list, pstmt))
		ActivePortal->cplan->is_valid = false;
}

/* Is this plan a stand-in made by rc_plan_hit? */
static bool
rc_is_standin(PlannedStmt *pstmt)
{
	return list_length(pstmt->invalItems) == 1 &&
		((PlanInvalItem *) linitial(pstmt->invalItems))->cacheId == RC_STANDIN_CACHEID;
}

/*
 * ExecutorStart of a stand-in plan: start it normally (a Result node over
 * no relation: cheap, and the portal gets its tuple descriptor) and take
 * over the rows the planner hook copied.  cached: the plan is a plan
 * cache's copy of the stand-in.
 */
static void
rc_start_standin(QueryDesc *queryDesc, int eflags, bool cached)
{
	EState	   *estate;
	MemoryContext old;
	RcQueryState *st;

	/*
	 * A plan cache's copy (a Bind, see rc_planner): never use it again, and
	 * keep the rows as long as the portal, which may be fetched by later
	 * messages (the copy was made in MessageContext).
	 */
	if (cached)
		rc_invalidate_portal_plan(queryDesc->plannedstmt);

	rc_standin_pstmt = NULL;
	rc_standin_serial = 0;
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	estate = queryDesc->estate;
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	st = palloc0(sizeof(RcQueryState));
	st->qd = queryDesc;
	st->cxt = estate->es_query_cxt;
	st->hit = true;
	st->standin = true;
	if (cached)
	{
		st->data = palloc(Max(rc_standin_len, 1));
		memcpy(st->data, rc_standin_data, rc_standin_len);
	}
	else
		st->data = rc_standin_data; /* lives until the portal is dropped */
	st->len = rc_standin_len;
	st->ntuples = rc_standin_ntuples;
	rc_track_state(st, estate);
	MemoryContextSwitchTo(old);
	rc_standin_data = NULL;
}

static void
rc_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	RcLookup   *lk = NULL;
	PlannedStmt *missed_pstmt = NULL;
	RcLookup   *missed_lk = NULL;

	if (rc_is_standin(queryDesc->plannedstmt))
	{
		PlannedStmt *pstmt = queryDesc->plannedstmt;

		if (rc_standin_pstmt == NULL ||
			((PlanInvalItem *) linitial(pstmt->invalItems))->hashValue != rc_standin_serial)
		{
			/* a plan cache's copy left from a failed Bind: drop it, fail */
			rc_invalidate_portal_plan(pstmt);
			rc_standin_lost();
		}
		rc_start_standin(queryDesc, eflags, pstmt != rc_standin_pstmt);
		return;
	}

	/* the key of a pre-planning miss is for the plan made right after it */
	if (exec_nested_level == 0 && plan_nested_level == 0)
	{
		missed_pstmt = rc_missed_pstmt;
		missed_lk = rc_missed_lk;
		rc_missed_pstmt = NULL;
		rc_missed_lk = NULL;
	}

	if (rc_shared != NULL)
	{
		rc_note_writes(queryDesc, eflags);

		/*
		 * A top-level SELECT started by PortalStart (which gives no receiver
		 * yet: it is set before ExecutorRun).  Statements run by SPI at top
		 * level (deferred triggers at commit, background workers) and rule
		 * actions of a multi-query portal have a receiver already: they never
		 * use the cache.
		 */
		if (exec_nested_level == 0 && plan_nested_level == 0 &&
			queryDesc->operation == CMD_SELECT &&
			queryDesc->dest->mydest == DestNone)
			lk = rc_prepare(queryDesc, eflags,
							queryDesc->plannedstmt == missed_pstmt ? missed_lk : NULL);
		else if (exec_nested_level == 0 && plan_nested_level == 0 &&
				 queryDesc->plannedstmt->hasModifyingCTE &&
				 rc_mode != RC_MODE_OFF && rc_enabled)
			rc_count(RC_BYPASS_MODIFYING_CTE);	/* run by PortalRunMulti */
	}

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if (lk != NULL && rc_has_record_column(queryDesc->tupDesc))
	{
		/*
		 * Anonymous record datums carry a type modifier that only means
		 * something in the backend that made them: never share them.
		 */
		rc_count(RC_BYPASS_RECORD_TYPE);
		lk = NULL;
	}
	if (lk != NULL)
	{
		EState	   *estate = queryDesc->estate;
		MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
		RcQueryState *st = palloc0(sizeof(RcQueryState));

		st->qd = queryDesc;
		st->lk = lk;
		st->cxt = estate->es_query_cxt;
		st->hit = !lk->missed &&
			rc_lookup(lk, queryDesc->tupDesc, false, &st->data, &st->len,
					  &st->ntuples, NULL);
		rc_track_state(st, estate);
		MemoryContextSwitchTo(old);
	}
}

/*
 * Send the stored rows of a hit to the portal's receiver: all of them, or
 * (count > 0, a stand-in fetched in parts) the next count, or none (a
 * NoMovement fetch of a portal at its end).
 */
static void
rc_serve_hit(QueryDesc *qd, RcQueryState *st, bool execute_once,
			 bool none, uint64 count)
{
	EState	   *estate = qd->estate;
	DestReceiver *dest = qd->dest;
	MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
	TupleTableSlot *slot;

	if (!execute_once)
		qd->already_executed = true;	/* as standard_ExecutorRun */
	if (qd->totaltime)
		InstrStartNode(qd->totaltime);

	slot = MakeSingleTupleTableSlot(qd->tupDesc, &TTSOpsMinimalTuple);
	dest->rStartup(dest, qd->operation, qd->tupDesc);
	estate->es_processed = 0;
	while (!none && st->off < st->len &&
		   (count == 0 || estate->es_processed < count))
	{
		MinimalTuple tup = (MinimalTuple) (st->data + st->off);

		ExecStoreMinimalTuple(tup, slot, false);
		estate->es_processed++;
		st->off += MAXALIGN(tup->t_len);
		if (!dest->receiveSlot(slot, dest))
			break;
	}
	dest->rShutdown(dest);
	ExecDropSingleTupleTableSlot(slot);

	if (qd->totaltime)
		InstrStopNode(qd->totaltime, estate->es_processed);
	MemoryContextSwitchTo(old);
}

/* Copy one row of a miss; stop copying once over the size limit */
static void
rc_capture_slot(RcQueryState *st, TupleTableSlot *slot)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;
	MemoryContext old = MemoryContextSwitchTo(st->cxt);
	MinimalTuple tup;
	bool		external = false;
	bool		should_free = false;
	int			i;

	slot_getallattrs(slot);
	for (i = 0; i < desc->natts; i++)
	{
		if (TupleDescAttr(desc, i)->attlen == -1 && !slot->tts_isnull[i] &&
			VARATT_IS_EXTERNAL(DatumGetPointer(slot->tts_values[i])))
		{
			external = true;
			break;
		}
	}
	if (external)
	{
		/* stored rows must not point into TOAST tables */
		Datum	   *values = palloc(desc->natts * sizeof(Datum));

		for (i = 0; i < desc->natts; i++)
		{
			values[i] = slot->tts_values[i];
			if (TupleDescAttr(desc, i)->attlen == -1 && !slot->tts_isnull[i] &&
				VARATT_IS_EXTERNAL(DatumGetPointer(values[i])))
				values[i] = PointerGetDatum(detoast_external_attr((struct varlena *)
																  DatumGetPointer(values[i])));
		}
		tup = heap_form_minimal_tuple(desc, values, slot->tts_isnull);
		should_free = true;
	}
	else
		tup = ExecFetchSlotMinimalTuple(slot, &should_free);

	if (st->tuples.len + MAXALIGN(tup->t_len) > st->limit)
	{
		st->capturing = false;
		st->reject = RC_REJECT_TOO_LARGE;
		pfree(st->tuples.data);
		st->tuples.data = NULL;
	}
	else
	{
		Size		pad = MAXALIGN(tup->t_len) - tup->t_len;

		appendBinaryStringInfo(&st->tuples, (char *) tup, tup->t_len);
		if (pad > 0)
		{
			static const char zeros[MAXIMUM_ALIGNOF] = {0};

			appendBinaryStringInfo(&st->tuples, zeros, pad);
		}
		st->ncaptured++;
	}
	if (should_free)
		pfree(tup);
	MemoryContextSwitchTo(old);
}

static bool
rc_tee_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RcTee	   *tee = (RcTee *) self;

	if (tee->st->capturing)
		rc_capture_slot(tee->st, slot);
	return tee->inner->receiveSlot(slot, tee->inner);
}

static void
rc_tee_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	RcTee	   *tee = (RcTee *) self;

	tee->inner->rStartup(tee->inner, operation, typeinfo);
}

static void
rc_tee_shutdown(DestReceiver *self)
{
	RcTee	   *tee = (RcTee *) self;

	tee->inner->rShutdown(tee->inner);
}

static void
rc_tee_destroy(DestReceiver *self)
{
	/* the tee lives in executor memory; the inner one is not ours */
}

/*
 * ExecutorRun: serve a hit, or run a miss through the tee and store its
 * result.  Partial fetches and receivers other than the client run
 * normally.
 */
static void
rc_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count,
			   bool execute_once)
{
	RcQueryState *volatile st = NULL;
	DestReceiver *saved_dest = queryDesc->dest;
	RcTee	   *tee = NULL;
	instr_time	start;

	if (rc_states != NULL &&
		(exec_nested_level == 0 || rc_is_standin(queryDesc->plannedstmt)))
	{
		st = rc_find_state(queryDesc);
		if (st != NULL && st->standin)
		{
			/*
			 * Forward only (its portal cannot scroll: a Result node without
			 * input does not support backward scans), in one go or, from a
			 * Bind's portal, in parts.
			 */
			if (ScanDirectionIsBackward(direction))
				rc_standin_lost();
			st->ran = true;
		}
		else if (st != NULL && st->ran)
			st = NULL;
		else if (st != NULL)
		{
			st->ran = true;
			if (count != 0 || !ScanDirectionIsForward(direction))
			{
				rc_count(RC_BYPASS_PARTIAL_FETCH);
				st = NULL;
			}
			else if (!rc_dest_is_client(queryDesc->dest))
			{
				rc_count(RC_BYPASS_NOT_CLIENT);
				st = NULL;
			}
		}
	}

	if ((st == NULL || !st->standin) && rc_is_standin(queryDesc->plannedstmt))
		rc_standin_lost();
	if (st != NULL && st->hit)
	{
		if (st->off == 0)
		{
			rc_counter_add(RC_CTR_HITS, 1);
			if (st->standin)
				rc_counter_add(RC_CTR_HITS_BEFORE_PLANNING, 1);
		}
		rc_serve_hit(queryDesc, st, execute_once,
					 ScanDirectionIsNoMovement(direction),
					 st->standin ? count : 0);
		return;
	}

	if (st != NULL && !rc_admit(st->lk->hash))
	{
		/* first sight of this key: execute without copying anything */
		rc_counter_add(RC_CTR_MISSES, 1);
		rc_count(RC_REJECT_FIRST_SIGHT);
		st = NULL;
	}
	if (st != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(st->cxt);

		rc_counter_add(RC_CTR_MISSES, 1);
		st->capturing = true;
		st->limit = (Size) rc_max_entry_size_kb * 1024;
		initStringInfo(&st->tuples);
		tee = palloc0(sizeof(RcTee));
		tee->pub.receiveSlot = rc_tee_receive;
		tee->pub.rStartup = rc_tee_startup;
		tee->pub.rShutdown = rc_tee_shutdown;
		tee->pub.rDestroy = rc_tee_destroy;
		tee->pub.mydest = saved_dest->mydest;
		tee->inner = saved_dest;
		tee->st = st;
		queryDesc->dest = (DestReceiver *) tee;
		MemoryContextSwitchTo(old);
		INSTR_TIME_SET_CURRENT(start);
	}

	exec_nested_level++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		exec_nested_level--;
		queryDesc->dest = saved_dest;
	}
	PG_END_TRY();

	if (st != NULL)
	{
		RcReason	r = st->reject;

		if (r == RC_OK && rc_min_exec_time > 0)
		{
			instr_time	elapsed;

			INSTR_TIME_SET_CURRENT(elapsed);
			INSTR_TIME_SUBTRACT(elapsed, start);
			if (INSTR_TIME_GET_MILLISEC(elapsed) < rc_min_exec_time)
				r = RC_REJECT_MIN_EXEC_TIME;
		}
		if (r == RC_OK)
			r = rc_store(st->lk, queryDesc->tupDesc, &st->tuples,
						 st->ncaptured);
		if (r != RC_OK)
			rc_count(r);
		st->capturing = false;
		if (st->tuples.data)
		{
			pfree(st->tuples.data);
			st->tuples.data = NULL;
		}
	}
}

static void
rc_ExecutorFinish(QueryDesc *queryDesc)
{
	exec_nested_level++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		exec_nested_level--;
	}
	PG_END_TRY();
}

/*
 * ExecutorEnd: the leaf partitions rows were routed to are only known once
 * the statement ran; remember them as written.
 */
static void
rc_ExecutorEnd(QueryDesc *queryDesc)
{
	if (rc_shared != NULL && queryDesc->estate != NULL)
	{
		ListCell   *lc;

		foreach(lc, queryDesc->estate->es_tuple_routing_result_relations)
		{
			ResultRelInfo *rri = (ResultRelInfo *) lfirst(lc);

			rc_record_write(RelationGetRelid(rri->ri_RelationDesc));
		}
	}
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/*
 * Does a utility statement of this kind leave data and definitions alone
 * (or have its writes seen by the executor hooks)?
 */
static bool
rc_utility_is_harmless(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_TransactionStmt:
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_ExplainStmt:
		case T_DeclareCursorStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_PrepareStmt:
		case T_ExecuteStmt:
		case T_DeallocateStmt:
		case T_LockStmt:
		case T_NotifyStmt:
		case T_ListenStmt:
		case T_UnlistenStmt:
		case T_CheckPointStmt:
		case T_DiscardStmt:
		case T_CallStmt:
		case T_DoStmt:
		case T_VacuumStmt:
		case T_LoadStmt:
		case T_ConstraintsSetStmt:
		case T_CopyStmt:
			return true;
		default:
			return false;
	}
}

/* Count SELECTs that bypass the cache because of how they are run */
static void
rc_count_utility_bypass(Node *parsetree)
{
	if (IsA(parsetree, DeclareCursorStmt))
	{
		DeclareCursorStmt *d = (DeclareCursorStmt *) parsetree;

		if (d->query && IsA(d->query, Query) &&
			((Query *) d->query)->commandType == CMD_SELECT)
			rc_count(RC_BYPASS_CURSOR);
	}
	else if (IsA(parsetree, ExplainStmt))
	{
		ExplainStmt *e = (ExplainStmt *) parsetree;
		ListCell   *lc;

		foreach(lc, e->options)
		{
			DefElem    *opt = (DefElem *) lfirst(lc);

			if (strcmp(opt->defname, "analyze") == 0 && defGetBoolean(opt) &&
				e->query && IsA(e->query, Query) &&
				((Query *) e->query)->commandType == CMD_SELECT)
				rc_count(RC_BYPASS_EXPLAIN);
		}
	}
}

/*
 * ProcessUtility: COPY FROM writes a table (and, into a partitioned table,
 * any of its partitions); 2PC statements hand over in-flight counts; any
 * other statement that may change data or definitions makes the rest of
 * the transaction bypass the cache (I3).  Relcache invalidations of DDL are
 * collected at PRE_COMMIT.
 */
static void
rc_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (rc_shared != NULL)
	{
		rc_twophase_utility(parsetree);
		if (!rc_utility_is_harmless(parsetree))
			rc_record_ddl();
		if (exec_nested_level == 0 && rc_mode != RC_MODE_OFF && rc_enabled)
			rc_count_utility_bypass(parsetree);
	}

	exec_nested_level++;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		exec_nested_level--;
	}
	PG_END_TRY();

	if (rc_shared != NULL)
	{
		/*
		 * Test only: COMMIT/ROLLBACK PREPARED has released its GID (another
		 * session may PREPARE it again) but not yet freed its entry.
		 */
		if (IsA(parsetree, TransactionStmt) &&
			(((TransactionStmt *) parsetree)->kind == TRANS_STMT_COMMIT_PREPARED ||
			 ((TransactionStmt *) parsetree)->kind == TRANS_STMT_ROLLBACK_PREPARED))
			rc_pause(RC_PAUSE_AFTER_FINISH_PREPARED);
		rc_twophase_finished(parsetree);
	}

	if (rc_shared != NULL && IsA(parsetree, CopyStmt))
	{
		CopyStmt   *copy = (CopyStmt *) parsetree;

		if (copy->is_from && copy->relation != NULL)
		{
			Oid			relid = RangeVarGetRelid(copy->relation, NoLock, true);

			if (OidIsValid(relid))
				rc_record_write_tree(relid);
		}
	}
}

/*-------------------------------------------------------------------------
 *
 * hs_main.c
 *	  Module initialisation: GUCs, the planner hook, the recovery worker.
 *
 * hashshard works without preloading: the wrapper's handler loads the
 * library at the first use of a distributed table.  Preloading it
 * (shared_preload_libraries) adds the background worker that resolves
 * in-doubt two-phase transactions every hashshard.recovery_interval, and
 * installs the planner hook from the first query of every session.
 *
 * The planner hook turns on partitionwise aggregation and join for the
 * planning of a query that reads a distributed table (when
 * hashshard.enable_partitionwise is on): that is what lets every shard
 * aggregate on its node.  The settings are restored after planning (also
 * on error) and the previous planner hook is always called.
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/hashshard/src/hs_main.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/planner.h"
#include "parser/parsetree.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "hashshard.h"

PG_MODULE_MAGIC;

int			hs_recovery_interval = 60;
bool		hs_enable_partitionwise = true;
int			hs_debug_fault = HS_FAULT_NONE;
char	   *hs_debug_pause_file = NULL;

static const struct config_enum_entry hs_fault_options[] = {
	{"none", HS_FAULT_NONE, false},
	{"error_after_prepare", HS_FAULT_ERROR_AFTER_PREPARE, false},
	{"exit_after_prepare", HS_FAULT_EXIT_AFTER_PREPARE, false},
	{"skip_commit_prepared", HS_FAULT_SKIP_COMMIT_PREPARED, false},
	{"pause_after_prepare", HS_FAULT_PAUSE_AFTER_PREPARE, false},
	{"pause_after_commit", HS_FAULT_PAUSE_AFTER_COMMIT, false},
	{NULL, 0, false}
};

static planner_hook_type prev_planner_hook = NULL;

void		_PG_init(void);

/*
 * hs_query_reads_distributed
 *		Does the query (or a subquery) read a partitioned table registered
 *		as distributed?
 */
static bool
hs_rte_walker(Node *node, void *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION &&
			rte->relkind == RELKIND_PARTITIONED_TABLE &&
			hs_is_distributed(rte->relid))
			return true;
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, hs_rte_walker, ctx,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, hs_rte_walker, ctx);
}

static PlannedStmt *
hs_planner(Query *parse, const char *query_string, int cursorOptions,
		   ParamListInfo boundParams)
{
	bool		save_agg = enable_partitionwise_aggregate;
	bool		save_join = enable_partitionwise_join;
	bool		flip;
	PlannedStmt *result;

	/*
	 * The two settings are switched directly for the duration of planning
	 * (and restored even on error), rather than through the GUC machinery,
	 * which would cost a nest level per query.
	 */
	flip = hs_enable_partitionwise && (!save_agg || !save_join) &&
		IsTransactionState() && hs_rte_walker((Node *) parse, NULL);
	if (!flip)
	{
		if (prev_planner_hook)
			return prev_planner_hook(parse, query_string, cursorOptions, boundParams);
		return standard_planner(parse, query_string, cursorOptions, boundParams);
	}
	PG_TRY();
	{
		enable_partitionwise_aggregate = true;
		enable_partitionwise_join = true;
		if (prev_planner_hook)
			result = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions, boundParams);
	}
	PG_FINALLY();
	{
		enable_partitionwise_aggregate = save_agg;
		enable_partitionwise_join = save_join;
	}
	PG_END_TRY();
	return result;
}

void
_PG_init(void)
{
	DefineCustomIntVariable("hashshard.recovery_interval",
							"Seconds between runs of the recovery of in-doubt two-phase transactions (0 disables the background worker).",
							"Needs hashshard in shared_preload_libraries.",
							&hs_recovery_interval,
							60, 0, 86400,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("hashshard.enable_partitionwise",
							 "Plans queries on distributed tables with partitionwise aggregation and join, so shards aggregate and join on their nodes.",
							 NULL,
							 &hs_enable_partitionwise,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("hashshard.debug_fault",
							 "Injects a fault into two-phase commit (tests only).",
							 NULL,
							 &hs_debug_fault,
							 HS_FAULT_NONE, hs_fault_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("hashshard.debug_pause_file",
							   "With debug_fault = pause_after_commit, the commit waits while this file exists (tests only).",
							   NULL,
							   &hs_debug_pause_file,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
	MarkGUCPrefixReserved("hashshard");

	prev_planner_hook = planner_hook;
	planner_hook = hs_planner;

	if (process_shared_preload_libraries_in_progress)
		hs_register_recovery_worker();
}

/*-------------------------------------------------------------------------
 *
 * xhcost.c
 *		xhash cost estimation.
 *
 * With "=" on every key column a scan reads one bucket (usually one page),
 * and a unique index returns at most one row per lookup, so the estimate is
 * genericcostestimate's with that row count; it has no tree descent, so it
 * beats btree's for the same lookup.  With keys on only some columns the
 * scan must read the whole index (hashes of partial keys mean nothing), so
 * such paths get a prohibitive penalty (pgvector's pattern): the planner
 * never picks them on its own, yet a scan forced by enable_* settings still
 * costs less than a disabled plan and returns correct rows.
 *
 * IDENTIFICATION
 *	  extensions/xhash/src/xhcost.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/selfuncs.h"
#include "xhash.h"

/* Below disable_cost (1e10), far above any sane plan */
#define XH_PARTIAL_KEY_PENALTY	1.0e9
/* Far above disable_cost: an index-only scan loses to any other plan */
#define XH_INDEX_ONLY_PENALTY	1.0e15

/*
 * amcostestimate
 */
void
xhcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
			   Cost *indexStartupCost, Cost *indexTotalCost,
			   Selectivity *indexSelectivity, double *indexCorrelation,
			   double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	GenericCosts costs;
	bool		keyed[INDEX_MAX_KEYS];
	bool		all = true;
	ListCell   *lc;
	int			i;

	memset(keyed, 0, sizeof(keyed));
	foreach(lc, path->indexclauses)
	{
		IndexClause *iclause = lfirst_node(IndexClause, lc);

		keyed[iclause->indexcol] = true;
	}
	for (i = 0; i < index->nkeycolumns; i++)
		all = all && keyed[i];

	MemSet(&costs, 0, sizeof(costs));
	if (all && index->unique)
		costs.numIndexTuples = 1.0;
	genericcostestimate(root, path, loop_count, &costs);

	if (!all)
	{
		double		pages = Max(index->pages, 1);

		costs.indexStartupCost += XH_PARTIAL_KEY_PENALTY;
		costs.indexTotalCost = costs.indexStartupCost +
			pages * seq_page_cost +
			index->tuples * (cpu_index_tuple_cost + cpu_operator_cost);
		costs.numIndexPages = pages;
	}

	/*
	 * Never an index-only scan: xhash returns no column, and a scan that
	 * needs none (count(*) over a forced full scan) would trust the
	 * visibility map for TIDs that VACUUM may have removed and recycled after
	 * the scan collected them.  A plain index scan visits the heap.
	 */
	if (path->path.pathtype == T_IndexOnlyScan)
	{
		costs.indexStartupCost += XH_INDEX_ONLY_PENALTY;
		costs.indexTotalCost += XH_INDEX_ONLY_PENALTY;
	}

	*indexStartupCost = costs.indexStartupCost;
	*indexTotalCost = costs.indexTotalCost;
	*indexSelectivity = costs.indexSelectivity;
	*indexCorrelation = 0.0;	/* hash order is unrelated to heap order */
	*indexPages = costs.numIndexPages;
}

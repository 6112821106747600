/*-------------------------------------------------------------------------
 *
 * hs_fdw.c
 *	  The hashshard foreign-data wrapper: planning and execution of scans,
 *	  aggregates pushed down per shard, and writes on shard tables.
 *
 * Each shard of a distributed table is one foreign table; PostgreSQL's
 * partitioning calls this wrapper once per shard that survives pruning.
 *
 * Scans.  The WHERE clauses that are shippable (hs_deparse.c) run on the
 * node; only the columns the query needs are fetched.  A query's ORDER BY
 * is offered as a sorted path, so a MergeAppend over the shards merges
 * sorted streams, and when the whole query is an ORDER BY ... LIMIT n over
 * one distributed table with every clause shipped, each shard returns at
 * most n rows.  A scan's query is sent when the scan starts (hs_conn.c
 * queues it behind others on the same node), so all nodes work at once;
 * its result is read in one piece, or, when more rows than the node's
 * fetch_size are expected, through a cursor in batches.  A point query on
 * the shard key outside a transaction block is one round trip.
 *
 * Aggregates.  With partitionwise aggregation, each shard's partial
 * aggregate (count, sum, min, max, avg and any built-in aggregate whose
 * state is its result, with GROUP BY) is computed on the node and combined
 * locally; when GROUP BY contains the shard key the whole aggregate, HAVING
 * included, runs on the nodes.
 *
 * Writes.  INSERT sends batch_size rows per multi-row INSERT; COPY FROM
 * (and rows moved by create_distributed_table) are buffered per shard and
 * sent with the COPY protocol; UPDATE and DELETE whose clauses are all
 * shippable run as one remote statement per shard (direct modify), others
 * through the row's ctid fetched FOR UPDATE in the same remote transaction.
 * RETURNING is supported on all of them.  TRUNCATE runs on the nodes.  Assigning the shard key is
 * refused at plan time (invariant C7 of hashshard.h).
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/hashshard/src/hs_fdw.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/xact.h"
#include "access/table.h"
#include <math.h>

#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/appendinfo.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/inherit.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/prep.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "optimizer/tlist.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/typcache.h"

#include "hashshard.h"

PG_FUNCTION_INFO_V1(hashshard_fdw_handler);

/* cost model: a round trip, and the transfer of one row */
#define HS_STARTUP_COST		100.0
#define HS_TUPLE_COST		0.01

/* COPY buffer flush thresholds */
#define HS_COPY_FLUSH_BYTES	(1024 * 1024)

/* planner state of a hashshard relation (RelOptInfo->fdw_private) */
typedef struct HsRelInfo
{
	bool		is_upper;
	bool		partial;		/* partial aggregation */
	Oid			serverid;
	Oid			userid;
	List	   *remote_conds;	/* RestrictInfos shipped */
	List	   *local_conds;	/* RestrictInfos evaluated locally */
	Bitmapset  *attrs_used;		/* columns needed (FirstLowInvalid offset) */
	RelOptInfo *base;			/* upper rel: the scanned base rel */
	List	   *grouped_tlist;	/* upper rel: remote target list */
	List	   *having;			/* upper rel: shipped HAVING quals */
	int			ngroupcols;		/* upper rel: grouping columns */
	List	   *group_positions;	/* upper rel: tlist positions of GROUP BY */
	bool		is_join;
	RelOptInfo *outerrel;		/* join rel: its two base relations */
	RelOptInfo *innerrel;
	JoinType	jointype;
	List	   *join_conds;		/* join rel: ON clauses (Exprs) */
	List	   *join_where;		/* join rel: WHERE clauses (Exprs) */
	bool		no_stats;		/* never analyzed: row counts are guesses */
} HsRelInfo;

/* fdw_private of a ForeignScan plan */
enum HsScanPrivate
{
	HSP_SQL,					/* String: remote query, params as ${n} */
	HSP_ATTRS,					/* IntList: retrieved attnums or positions */
	HSP_CURSOR,					/* Integer: fetch through a cursor */
	HSP_WRITE,					/* Integer: scan of a result relation */
	HSP_SERVER,					/* Integer: server oid */
	HSP_NODE					/* String: node name, for EXPLAIN */
};

/* fdw_private of a direct modify */
enum HsDirectPrivate
{
	HSD_SQL,
	HSD_ATTRS,					/* IntList: RETURNING attnums */
	HSD_SERVER,
	HSD_NODE,
	HSD_SETTAG
};

/* fdw_private of a row-by-row modify */
enum HsModifyPrivate
{
	HSM_TARGETS,				/* IntList: assigned/inserted attnums */
	HSM_RETURNING,				/* IntList: RETURNING attnums */
	HSM_SERVER
};

/* executor state of INSERT/UPDATE/DELETE/COPY on a shard */
typedef struct HsModifyState
{
	HsConn	   *hc;
	Relation	rel;
	CmdType		op;
	List	   *target_attrs;
	List	   *returning_attrs;
	bool		copy_mode;		/* COPY FROM: buffer rows, COPY protocol */
	StringInfoData copybuf;
	int			copyrows;
	int			batch_size;
	AttInMetadata *attinmeta;
	FmgrInfo   *out_funcs;		/* per attribute */
	AttrNumber	ctid_attno;		/* junk ctid in the plan's output */
	MemoryContext temp_cxt;
	char	   *relname_sql;	/* schema.table on the node */
	char	   *nodename;
} HsModifyState;

/* executor state of a direct UPDATE/DELETE */
typedef struct HsDirectState
{
	HsScanState ss;				/* result rows of RETURNING */
	bool		done;
	bool		settag;
	Relation	rel;
} HsDirectState;

static List *hs_deparse_join(PlannerInfo *root, RelOptInfo *joinrel,
							 HsRelInfo *ri, StringInfo buf, List **params,
							 List **scan_tlist);

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/*
 * hs_rel_userid
 *		The user whose mapping a relation is accessed with.
 */
static Oid
hs_rel_userid(PlannerInfo *root, RelOptInfo *rel)
{
	if (OidIsValid(rel->userid))
		return rel->userid;
	return GetUserId();
}

/*
 * hs_transmit_value
 *		A datum as text in the transmission modes (see hs_deparse.c).
 */
static char *
hs_transmit_value(FmgrInfo *flinfo, Datum value)
{
	return hs_output_value(flinfo, value);
}

/*
 * hs_shard_key_assigned
 *		C7: refuse an UPDATE assigning the shard key of a distributed table.
 */
static void
hs_check_shard_key_update(PlannerInfo *root, Index rti, RelOptInfo *rel)
{
	RangeTblEntry *rte = planner_rt_fetch(rti, root);
	Oid			parent;
	int			keyatt;
	Bitmapset  *updated;
	Relation	r;
	const char *keyname;
	AttrNumber	childatt;

	if (rel == NULL)
		return;
	parent = hs_parent_of(rte->relid);
	if (!OidIsValid(parent))
		return;
	keyatt = hs_shard_key_attnum(parent);
	if (keyatt <= 0)
		return;
	keyname = get_attname(parent, keyatt, false);
	childatt = get_attnum(rte->relid, keyname);
	updated = get_rel_all_updated_cols(root, rel);
	if (!bms_is_member(childatt - FirstLowInvalidHeapAttributeNumber, updated))
		return;
	r = table_open(parent, NoLock);
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot update the shard key \"%s\" of distributed table \"%s\"",
					keyname, RelationGetRelationName(r)),
			 errdetail("The new value could belong to another shard."),
			 errhint("DELETE the row and INSERT it with the new key in the same transaction.")));
}

/* ------------------------------------------------------------------------
 * Planning scans
 * ------------------------------------------------------------------------ */

static void
hsGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	HsRelInfo  *ri = palloc0(sizeof(HsRelInfo));
	ForeignTable *ft = GetForeignTable(foreigntableid);
	ListCell   *lc;
	Selectivity sel;

	ri->serverid = ft->serverid;
	ri->userid = hs_rel_userid(root, baserel);
	baserel->fdw_private = ri;

	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst(lc);

		if (hs_is_shippable(root, baserel, rinfo->clause, false, false))
			ri->remote_conds = lappend(ri->remote_conds, rinfo);
		else
			ri->local_conds = lappend(ri->local_conds, rinfo);
	}
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid,
				   &ri->attrs_used);
	foreach(lc, ri->local_conds)
		pull_varattnos((Node *) ((RestrictInfo *) lfirst(lc))->clause,
					   baserel->relid, &ri->attrs_used);

	/* without statistics, assume a modest table (and read it by cursor) */
	if (baserel->tuples < 0)
	{
		baserel->tuples = 1000;
		ri->no_stats = true;
	}
	sel = clauselist_selectivity(root, baserel->baserestrictinfo, 0,
								 JOIN_INNER, NULL);
	baserel->rows = clamp_row_est(baserel->tuples * sel);
}

/*
 * hs_useful_pathkeys
 *		The query's ORDER BY, if every key is a shippable expression of the
 *		relation sorted by its type's default btree order and default
 *		collation.
 */
static List *
hs_useful_pathkeys(PlannerInfo *root, RelOptInfo *rel)
{
	ListCell   *lc;

	if (root->query_pathkeys == NIL)
		return NIL;
	foreach(lc, root->query_pathkeys)
	{
		PathKey    *pk = lfirst(lc);
		EquivalenceClass *ec = pk->pk_eclass;
		Expr	   *em_expr = NULL;
		ListCell   *lc2;
		Oid			opclass;
		TypeCacheEntry *tce;

		if (ec->ec_has_volatile)
			return NIL;
		foreach(lc2, ec->ec_members)
		{
			EquivalenceMember *em = lfirst(lc2);

			if (bms_is_subset(em->em_relids, rel->relids) &&
				!bms_is_empty(em->em_relids) &&
				hs_is_shippable(root, rel, em->em_expr, false, false))
			{
				em_expr = em->em_expr;
				break;
			}
		}
		if (em_expr == NULL)
			return NIL;
		tce = lookup_type_cache(exprType((Node *) em_expr), TYPECACHE_BTREE_OPFAMILY);
		opclass = GetDefaultOpClass(exprType((Node *) em_expr), BTREE_AM_OID);
		if (!OidIsValid(opclass) || tce->btree_opf != pk->pk_opfamily ||
			(pk->pk_eclass->ec_collation != InvalidOid &&
			 pk->pk_eclass->ec_collation != DEFAULT_COLLATION_OID))
			return NIL;
	}
	return root->query_pathkeys;
}

/*
 * hs_pathkey_expr
 *		The member of a pathkey's class that belongs to the relation.
 */
static Expr *
hs_pathkey_expr(PlannerInfo *root, RelOptInfo *rel, PathKey *pk)
{
	ListCell   *lc;

	foreach(lc, pk->pk_eclass->ec_members)
	{
		EquivalenceMember *em = lfirst(lc);

		if (bms_is_subset(em->em_relids, rel->relids) &&
			!bms_is_empty(em->em_relids) &&
			hs_is_shippable(root, rel, em->em_expr, false, false))
			return em->em_expr;
	}
	elog(ERROR, "hashshard: no shippable pathkey member");
	return NULL;
}

static void
hsGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	HsRelInfo  *ri = baserel->fdw_private;
	double		rows = baserel->rows;
	Cost		startup = HS_STARTUP_COST;
	Cost		run;
	List	   *pathkeys;

	/* the node scans (its cost) and sends the surviving rows */
	run = baserel->tuples * cpu_tuple_cost * 0.5 + rows * HS_TUPLE_COST +
		rows * cpu_tuple_cost;
	if (ri->remote_conds != NIL && ri->local_conds == NIL && rows <= 10)
		run = rows * (HS_TUPLE_COST + cpu_tuple_cost);	/* index lookup */
	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel, NULL, rows, startup,
									 startup + run, NIL,
									 baserel->lateral_relids, NULL, NIL));

	/* sorted on the node: lets MergeAppend merge shards, LIMIT stop early */
	pathkeys = hs_useful_pathkeys(root, baserel);
	if (pathkeys != NIL)
	{
		double		limit = -1;
		Cost		sort_run = run * 1.1 + rows * cpu_operator_cost *
		Max(1.0, log(Max(rows, 2.0)) / log(2.0));

		if (root->limit_tuples > 0 && ri->local_conds == NIL &&
			root->parse->limitOption == LIMIT_OPTION_COUNT &&
			list_length(pathkeys) == list_length(root->query_pathkeys) &&
			bms_membership(root->all_baserels) == BMS_SINGLETON &&
			root->parse->commandType == CMD_SELECT &&
			root->parse->rowMarks == NIL)
		{
			limit = root->limit_tuples;
			if (limit < rows)
			{
				sort_run = sort_run * limit / rows;
				rows = limit;
			}
		}
		add_path(baserel, (Path *)
				 create_foreignscan_path(root, baserel, NULL, rows,
										 startup, startup + sort_run, pathkeys,
										 baserel->lateral_relids, NULL,
										 list_make2(makeInteger(1),
													makeInteger((int) limit))));
	}
}

/*
 * hs_deparse_select
 *		SELECT for a base relation: needed columns, shipped clauses, and the
 *		ORDER BY / LIMIT of the path.  Returns retrieved attnums.
 */
static List *
hs_deparse_select(PlannerInfo *root, RelOptInfo *rel, Relation r,
				  HsRelInfo *ri, List *remote_exprs, List *pathkeys,
				  double limit, bool for_update, StringInfo buf,
				  List **params)
{
	List	   *attrs = NIL;
	bool		first = true;
	int			i;
	HsDeparseCtx ctx;
	bool		all = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber,
									ri->attrs_used);
	TupleDesc	desc = RelationGetDescr(r);

	appendStringInfoString(buf, "SELECT ");
	for (i = 1; i <= desc->natts; i++)
	{
		if (TupleDescAttr(desc, i - 1)->attisdropped)
			continue;
		if (!all && !bms_is_member(i - FirstLowInvalidHeapAttributeNumber,
								   ri->attrs_used))
			continue;
		if (!first)
			appendStringInfoString(buf, ", ");
		first = false;
		appendStringInfo(buf, "r%d.", rel->relid);
		hs_deparse_column(buf, r, i);
		attrs = lappend_int(attrs, i);
	}
	if (for_update ||
		bms_is_member(SelfItemPointerAttributeNumber - FirstLowInvalidHeapAttributeNumber,
					  ri->attrs_used))
	{
		if (!first)
			appendStringInfoString(buf, ", ");
		first = false;
		appendStringInfo(buf, "r%d.ctid", rel->relid);
		attrs = lappend_int(attrs, SelfItemPointerAttributeNumber);
	}
	if (first)
		appendStringInfoString(buf, "NULL");
	appendStringInfoString(buf, " FROM ");
	hs_deparse_relation(buf, r);
	appendStringInfo(buf, " r%d", rel->relid);

	ctx.root = root;
	ctx.rel = rel;
	ctx.buf = buf;
	ctx.params = params;
	ctx.upper = false;
	ctx.partial = false;
	ctx.relids = rel->relids;
	if (remote_exprs != NIL)
	{
		ListCell   *lc;

		appendStringInfoString(buf, " WHERE ");
		first = true;
		foreach(lc, remote_exprs)
		{
			if (!first)
				appendStringInfoString(buf, " AND ");
			first = false;
			hs_deparse_expr(&ctx, lfirst(lc));
		}
	}
	if (pathkeys != NIL)
	{
		ListCell   *lc;

		appendStringInfoString(buf, " ORDER BY ");
		first = true;
		foreach(lc, pathkeys)
		{
			PathKey    *pk = lfirst(lc);

			if (!first)
				appendStringInfoString(buf, ", ");
			first = false;
			hs_deparse_expr(&ctx, hs_pathkey_expr(root, rel, pk));
			appendStringInfoString(buf, pk->pk_strategy == BTLessStrategyNumber ?
								   " ASC" : " DESC");
			appendStringInfoString(buf, pk->pk_nulls_first ?
								   " NULLS FIRST" : " NULLS LAST");
		}
		if (limit > 0)
			appendStringInfo(buf, " LIMIT %.0f", limit);
	}
	if (for_update)
		appendStringInfoString(buf, " FOR UPDATE");
	return attrs;
}

/*
 * hs_is_result_rel
 *		Is the relation (or its parent) the target of UPDATE/DELETE?
 */
static bool
hs_is_result_rel(PlannerInfo *root, RelOptInfo *rel)
{
	Index		target = root->parse->resultRelation;

	if (target == 0 || root->parse->commandType == CMD_SELECT ||
		root->parse->commandType == CMD_INSERT)
		return false;
	if (rel->relid == target)
		return true;
	return bms_is_member(target, rel->top_parent_relids);
}

static ForeignScan *
hsGetForeignPlan(PlannerInfo *root, RelOptInfo *foreignrel,
				 Oid foreigntableid, ForeignPath *best_path, List *tlist,
				 List *scan_clauses, Plan *outer_plan)
{
	HsRelInfo  *ri = foreignrel->fdw_private;
	StringInfoData sql;
	List	   *params = NIL;
	List	   *attrs;
	List	   *local_exprs = NIL;
	List	   *remote_exprs = NIL;
	List	   *fdw_scan_tlist = NIL;
	Index		scan_relid;
	bool		for_update = false;
	bool		use_cursor;
	ListCell   *lc;
	ForeignServer *server = GetForeignServer(ri->serverid);
	int			fetch_size = hs_option_int(server->options, "fetch_size", 10000);
	ForeignScan *fsplan;

	initStringInfo(&sql);
	if (ri->is_join)
	{
		scan_relid = 0;
		attrs = hs_deparse_join(root, foreignrel, ri, &sql, &params,
								&fdw_scan_tlist);
		/* every clause runs on the node */
		local_exprs = NIL;
	}
	else if (!ri->is_upper)
	{
		Relation	r;
		double		limit = -1;

		scan_relid = foreignrel->relid;
		foreach(lc, scan_clauses)
		{
			RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

			if (rinfo->pseudoconstant)
				continue;
			if (list_member_ptr(ri->remote_conds, rinfo))
				remote_exprs = lappend(remote_exprs, rinfo->clause);
			else if (hs_is_shippable(root, foreignrel, rinfo->clause, false, false))
				remote_exprs = lappend(remote_exprs, rinfo->clause);
			else
				local_exprs = lappend(local_exprs, rinfo->clause);
		}
		if (best_path->fdw_private != NIL)
			limit = intVal(lsecond(best_path->fdw_private));
		for_update = hs_is_result_rel(root, foreignrel);
		r = table_open(foreigntableid, NoLock);
		attrs = hs_deparse_select(root, foreignrel, r, ri, remote_exprs,
								  best_path->path.pathkeys, limit, for_update,
								  &sql, &params);
		table_close(r, NoLock);
		if (!for_update)
		{
			/* SELECT ... FOR UPDATE / FOR SHARE locks the rows on the node */
			PlanRowMark *rc = get_plan_rowmark(root->rowMarks, foreignrel->relid);

			if (rc != NULL && rc->strength != LCS_NONE)
				appendStringInfoString(&sql,
									   rc->strength >= LCS_FORNOKEYUPDATE ?
									   " FOR UPDATE" : " FOR SHARE");
			if (rc != NULL && rc->waitPolicy == LockWaitSkip && rc->strength != LCS_NONE)
				appendStringInfoString(&sql, " SKIP LOCKED");
			else if (rc != NULL && rc->waitPolicy == LockWaitError && rc->strength != LCS_NONE)
				appendStringInfoString(&sql, " NOWAIT");
		}
	}
	else
	{
		HsDeparseCtx ctx;
		RelOptInfo *base = ri->base;
		HsRelInfo  *bri = base->fdw_private;
		Relation	r;
		bool		first = true;
		int			pos = 0;

		scan_relid = 0;
		ctx.root = root;
		ctx.rel = base;
		ctx.buf = &sql;
		ctx.params = &params;
		ctx.upper = true;
		ctx.partial = ri->partial;
		ctx.relids = base->relids;
		attrs = NIL;
		fdw_scan_tlist = ri->grouped_tlist;
		appendStringInfoString(&sql, "SELECT ");
		foreach(lc, fdw_scan_tlist)
		{
			TargetEntry *te = lfirst(lc);

			if (!first)
				appendStringInfoString(&sql, ", ");
			first = false;
			hs_deparse_expr(&ctx, te->expr);
			attrs = lappend_int(attrs, ++pos);
		}
		appendStringInfoString(&sql, " FROM ");
		r = table_open(planner_rt_fetch(base->relid, root)->relid, NoLock);
		hs_deparse_relation(&sql, r);
		table_close(r, NoLock);
		appendStringInfo(&sql, " r%d", base->relid);
		ctx.upper = false;
		ctx.partial = false;
		if (bri->remote_conds != NIL)
		{
			appendStringInfoString(&sql, " WHERE ");
			first = true;
			foreach(lc, bri->remote_conds)
			{
				if (!first)
					appendStringInfoString(&sql, " AND ");
				first = false;
				hs_deparse_expr(&ctx, ((RestrictInfo *) lfirst(lc))->clause);
			}
		}
		if (ri->group_positions != NIL)
		{
			appendStringInfoString(&sql, " GROUP BY ");
			first = true;
			foreach(lc, ri->group_positions)
			{
				appendStringInfo(&sql, "%s%d", first ? "" : ", ", lfirst_int(lc));
				first = false;
			}
		}
		if (ri->having != NIL)
		{
			ctx.upper = true;
			appendStringInfoString(&sql, " HAVING ");
			first = true;
			foreach(lc, ri->having)
			{
				if (!first)
					appendStringInfoString(&sql, " AND ");
				first = false;
				hs_deparse_expr(&ctx, lfirst(lc));
			}
		}
	}

	/*
	 * Read through a cursor when more rows than fetch_size are expected, or
	 * when the shard was never analyzed and this is not a lookup of a few
	 * rows: its size is unknown, and a whole result is held in memory.
	 */
	use_cursor = (best_path->path.rows > fetch_size) ||
		(!ri->is_upper && !ri->is_join && ri->no_stats &&
		 best_path->path.rows > 100);

	fsplan = make_foreignscan(tlist, local_exprs, scan_relid, params,
							  list_make5(makeString(sql.data), attrs,
										 makeInteger(use_cursor),
										 makeInteger(for_update),
										 makeInteger((int) ri->serverid)),
							  fdw_scan_tlist, NIL, outer_plan);
	fsplan->fdw_private = lappend(fsplan->fdw_private,
								  makeString(server->servername));
	return fsplan;
}

/* ------------------------------------------------------------------------
 * Joins pushed down
 * ------------------------------------------------------------------------ */

/*
 * hsGetForeignJoinPaths
 *		An inner or left join of two shards on the same node, for the same
 *		user, with every clause shippable, runs on the node.  With
 *		partitionwise join this is the join of two tables distributed on
 *		the same key with the same shard count, shard by shard.
 */
static void
hsGetForeignJoinPaths(PlannerInfo *root, RelOptInfo *joinrel,
					  RelOptInfo *outerrel, RelOptInfo *innerrel,
					  JoinType jointype, JoinPathExtraData *extra)
{
	HsRelInfo  *ori = outerrel->fdw_private;
	HsRelInfo  *iri = innerrel->fdw_private;
	HsRelInfo  *ri;
	List	   *on = NIL;
	List	   *where = NIL;
	ListCell   *lc;
	double		rows;
	Cost		startup;
	Cost		total;

	if (joinrel->fdw_private != NULL || ori == NULL || iri == NULL)
		return;
	if (ori->is_upper || iri->is_upper || ori->is_join || iri->is_join)
		return;
	if (jointype != JOIN_INNER && jointype != JOIN_LEFT)
		return;
	if (ori->serverid != iri->serverid || ori->userid != iri->userid)
		return;
	if (ori->local_conds != NIL || iri->local_conds != NIL)
		return;
	/* no row locks or EvalPlanQual rechecks through a remote join */
	if (root->parse->commandType != CMD_SELECT || root->parse->rowMarks != NIL)
		return;
	foreach(lc, joinrel->reltarget->exprs)
	{
		Node	   *e = lfirst(lc);

		if (!IsA(e, Var) || ((Var *) e)->varattno <= 0)
			return;
	}
	foreach(lc, extra->restrictlist)
	{
		RestrictInfo *rinfo = lfirst(lc);

		if (!hs_is_shippable(root, joinrel, rinfo->clause, false, false))
			return;
		if (jointype == JOIN_LEFT && RINFO_IS_PUSHED_DOWN(rinfo, joinrel->relids))
			where = lappend(where, rinfo->clause);
		else
			on = lappend(on, rinfo->clause);
	}
	/* the sides' own clauses: WHERE, except the nullable side's (ON) */
	foreach(lc, ori->remote_conds)
		where = lappend(where, ((RestrictInfo *) lfirst(lc))->clause);
	foreach(lc, iri->remote_conds)
	{
		if (jointype == JOIN_LEFT)
			on = lappend(on, ((RestrictInfo *) lfirst(lc))->clause);
		else
			where = lappend(where, ((RestrictInfo *) lfirst(lc))->clause);
	}

	ri = palloc0(sizeof(HsRelInfo));
	ri->is_join = true;
	ri->serverid = ori->serverid;
	ri->userid = ori->userid;
	ri->outerrel = outerrel;
	ri->innerrel = innerrel;
	ri->jointype = jointype;
	ri->join_conds = on;
	ri->join_where = where;
	joinrel->fdw_private = ri;

	rows = joinrel->rows;
	startup = HS_STARTUP_COST;
	total = startup + (outerrel->rows + innerrel->rows) * cpu_operator_cost +
		rows * (HS_TUPLE_COST + cpu_tuple_cost);
	add_path(joinrel, (Path *)
			 create_foreign_join_path(root, joinrel, NULL, rows, startup, total,
									  NIL, joinrel->lateral_relids, NULL, NIL));
}

/*
 * hs_deparse_join
 *		SELECT of a join rel: its target Vars, FROM a JOIN b ON ... WHERE.
 */
static List *
hs_deparse_join(PlannerInfo *root, RelOptInfo *joinrel, HsRelInfo *ri,
				StringInfo buf, List **params, List **scan_tlist)
{
	HsDeparseCtx ctx;
	ListCell   *lc;
	bool		first = true;
	List	   *attrs = NIL;
	int			pos = 0;
	Relation	r;

	ctx.root = root;
	ctx.rel = joinrel;
	ctx.buf = buf;
	ctx.params = params;
	ctx.upper = false;
	ctx.partial = false;
	ctx.relids = joinrel->relids;
	*scan_tlist = NIL;
	appendStringInfoString(buf, "SELECT ");
	foreach(lc, joinrel->reltarget->exprs)
	{
		Expr	   *e = lfirst(lc);

		if (!first)
			appendStringInfoString(buf, ", ");
		first = false;
		hs_deparse_expr(&ctx, e);
		pos++;
		*scan_tlist = lappend(*scan_tlist, makeTargetEntry(e, pos, NULL, false));
		attrs = lappend_int(attrs, pos);
	}
	if (first)
		appendStringInfoString(buf, "NULL");
	appendStringInfoString(buf, " FROM ");
	r = table_open(planner_rt_fetch(ri->outerrel->relid, root)->relid, NoLock);
	hs_deparse_relation(buf, r);
	table_close(r, NoLock);
	appendStringInfo(buf, " r%d %s JOIN ", ri->outerrel->relid,
					 ri->jointype == JOIN_LEFT ? "LEFT" : "INNER");
	r = table_open(planner_rt_fetch(ri->innerrel->relid, root)->relid, NoLock);
	hs_deparse_relation(buf, r);
	table_close(r, NoLock);
	appendStringInfo(buf, " r%d ON (", ri->innerrel->relid);
	if (ri->join_conds == NIL)
		appendStringInfoString(buf, "TRUE");
	first = true;
	foreach(lc, ri->join_conds)
	{
		if (!first)
			appendStringInfoString(buf, " AND ");
		first = false;
		hs_deparse_expr(&ctx, lfirst(lc));
	}
	appendStringInfoChar(buf, ')');
	first = true;
	foreach(lc, ri->join_where)
	{
		appendStringInfoString(buf, first ? " WHERE " : " AND ");
		first = false;
		hs_deparse_expr(&ctx, lfirst(lc));
	}
	return attrs;
}

/* ------------------------------------------------------------------------
 * Aggregates pushed down
 * ------------------------------------------------------------------------ */

static void
hsGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage,
					   RelOptInfo *input_rel, RelOptInfo *output_rel,
					   void *extra)
{
	HsRelInfo  *bri = input_rel->fdw_private;
	HsRelInfo  *ri;
	GroupPathExtraData *gextra = extra;
	PathTarget *target = output_rel->reltarget;
	List	   *tlist = NIL;
	List	   *positions = NIL;
	List	   *having = NIL;
	ListCell   *lc;
	int			i;
	bool		partial;
	double		groups;
	Cost		startup;
	Cost		total;
	Query	   *parse = root->parse;

	if (bri == NULL || bri->is_upper || output_rel->fdw_private != NULL)
		return;
	if (stage != UPPERREL_GROUP_AGG && stage != UPPERREL_PARTIAL_GROUP_AGG)
		return;
	if (input_rel->reloptkind != RELOPT_BASEREL &&
		input_rel->reloptkind != RELOPT_OTHER_MEMBER_REL)
		return;
	if (bri->local_conds != NIL || parse->groupingSets)
		return;
	partial = (stage == UPPERREL_PARTIAL_GROUP_AGG);

	i = 0;
	foreach(lc, target->exprs)
	{
		Expr	   *expr = lfirst(lc);
		Index		sgref = get_pathtarget_sortgroupref(target, i);
		TargetEntry *te;

		i++;
		if (!hs_is_shippable(root, input_rel, expr, true, partial))
			return;
		te = makeTargetEntry(expr, i, NULL, false);
		te->ressortgroupref = sgref;
		tlist = lappend(tlist, te);
		if (sgref != 0 && get_sortgroupref_clause_noerr(sgref, parse->groupClause))
			positions = lappend_int(positions, i);
		else if (!IsA(expr, Aggref) && contain_var_clause((Node *) expr) &&
				 !IsA(expr, Const))
		{
			/* a column outside GROUP BY and aggregates: not for us */
			if (!IsA(expr, Var) || sgref == 0)
				return;
		}
	}
	if (!partial && gextra->havingQual != NULL)
	{
		/* the planner keeps HAVING as an implicit-AND list */
		List	   *quals = IsA(gextra->havingQual, List) ?
		(List *) gextra->havingQual :
		make_ands_implicit((Expr *) gextra->havingQual);

		foreach(lc, quals)
		{
			Expr	   *q = lfirst(lc);

			if (!hs_is_shippable(root, input_rel, q, true, false))
				return;
			/* a HAVING aggregate must be in the target to be fetched */
			having = lappend(having, q);
		}
		/* aggregates used only in HAVING are computed remotely too */
	}

	ri = palloc0(sizeof(HsRelInfo));
	ri->is_upper = true;
	ri->partial = partial;
	ri->serverid = bri->serverid;
	ri->userid = bri->userid;
	ri->base = input_rel;
	ri->grouped_tlist = tlist;
	ri->group_positions = positions;
	ri->having = having;
	output_rel->fdw_private = ri;

	if (positions == NIL)
		groups = 1;
	else
	{
		List	   *gexprs = NIL;

		foreach(lc, positions)
			gexprs = lappend(gexprs,
							 ((TargetEntry *) list_nth(tlist, lfirst_int(lc) - 1))->expr);
		groups = estimate_num_groups(root, gexprs, input_rel->rows, NULL, NULL);
	}
	/* the node aggregates (cheaper than shipping rows), sends the groups */
	startup = HS_STARTUP_COST + input_rel->rows * cpu_operator_cost * 0.5;
	total = startup + groups * (HS_TUPLE_COST + cpu_tuple_cost);
	add_path(output_rel, (Path *)
			 create_foreign_upper_path(root, output_rel, target, groups,
									   startup, total, NIL, NULL, NIL));
}

/*
 * hs_scan_userid
 *		The user whose mapping a scan uses: the owner of the view or the
 *		current user, as the permission checks do; for an aggregate or
 *		direct modify, the lowest-numbered relation it covers.
 */
static Oid
hs_scan_userid(ForeignScan *fsplan, EState *estate)
{
	int			rti = fsplan->scan.scanrelid;
	RangeTblEntry *rte;

	if (rti == 0)
		rti = bms_next_member(fsplan->fs_relids, -1);
	rte = exec_rt_fetch(rti, estate);
	return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
}

/* ------------------------------------------------------------------------
 * Executing scans
 * ------------------------------------------------------------------------ */

typedef struct HsForeignScanState
{
	HsScanState hs;
	bool		write;
	List	   *param_exprs;
	bool		has_exec_params;
	MemoryContext row_cxt;
	char	   *node;
} HsForeignScanState;

/*
 * hs_release_result
 *		Memory-context callback: libpq results are malloc'd, so the scan's
 *		current result is freed when the query's memory goes, also when an
 *		error ends the query without EndForeignScan.
 */
static void
hs_release_result(void *arg)
{
	HsScanState *hs = arg;

	if (hs->res)
	{
		PQclear(hs->res);
		hs->res = NULL;
	}
	/* a portal dropped without ExecutorEnd: the connection forgets it */
	if (hs->hc != NULL)
	{
		hs->hc->queue = list_delete_ptr(hs->hc->queue, hs);
		if (hs->hc->busy == hs)
		{
			hs->hc->busy = NULL;
			hs->hc->discard_next = true;
		}
		hs->hc = NULL;
	}
}

static void
hs_register_release(HsScanState *hs, MemoryContext cxt)
{
	MemoryContextCallback *cb = MemoryContextAlloc(cxt, sizeof(MemoryContextCallback));

	cb->func = hs_release_result;
	cb->arg = hs;
	MemoryContextRegisterResetCallback(cxt, cb);
}

static bool
has_exec_param_walker(Node *node, void *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXEC)
		return true;
	return expression_tree_walker(node, has_exec_param_walker, ctx);
}

/*
 * hs_compute_params
 *		Evaluate the parameters of the remote query as typed literals.
 */
static void
hs_compute_params(HsScanState *hs, List *param_states, List *param_exprs,
				  ExprContext *econtext)
{
	ListCell   *lc,
			   *lc2;
	int			i = 0;
	MemoryContext old = MemoryContextSwitchTo(econtext->ecxt_per_query_memory);

	forboth(lc, param_states, lc2, param_exprs)
	{
		ExprState  *es = lfirst(lc);
		bool		isnull;
		Datum		d = ExecEvalExpr(es, econtext, &isnull);
		Oid			type = exprType(lfirst(lc2));

		hs->param_types[i] = type;
		if (isnull)
			hs->param_values[i] = NULL;
		else
		{
			Oid			outfunc;
			bool		varlena;
			FmgrInfo	flinfo;

			getTypeOutputInfo(type, &outfunc, &varlena);
			fmgr_info(outfunc, &flinfo);
			hs->param_values[i] = hs_output_value(&flinfo, d);
		}
		i++;
	}
	MemoryContextSwitchTo(old);
}

static void
hsBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	HsForeignScanState *fs;
	Oid			userid;
	Oid			serverid;
	TupleDesc	desc;

	fs = palloc0(sizeof(HsForeignScanState));
	node->fdw_state = fs;
	fs->node = strVal(list_nth(fsplan->fdw_private, HSP_NODE));
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	userid = hs_scan_userid(fsplan, estate);
	serverid = (Oid) intVal(list_nth(fsplan->fdw_private, HSP_SERVER));
	fs->write = intVal(list_nth(fsplan->fdw_private, HSP_WRITE)) != 0;
	fs->hs.hc = hs_get_conn(serverid, userid, fs->write);
	fs->hs.sql = strVal(list_nth(fsplan->fdw_private, HSP_SQL));
	fs->hs.retrieved_attrs = (List *) list_nth(fsplan->fdw_private, HSP_ATTRS);
	fs->hs.use_cursor = intVal(list_nth(fsplan->fdw_private, HSP_CURSOR)) != 0;
	fs->param_exprs = fsplan->fdw_exprs;
	fs->hs.param_exprs = ExecInitExprList(fsplan->fdw_exprs, (PlanState *) node);
	fs->hs.nparams = list_length(fsplan->fdw_exprs);
	fs->hs.param_values = palloc0(sizeof(char *) * (fs->hs.nparams + 1));
	fs->hs.param_types = palloc0(sizeof(Oid) * (fs->hs.nparams + 1));
	fs->has_exec_params = has_exec_param_walker((Node *) fsplan->fdw_exprs, NULL);
	fs->hs.econtext = node->ss.ps.ps_ExprContext;
	fs->row_cxt = AllocSetContextCreate(estate->es_query_cxt, "hashshard row",
										ALLOCSET_SMALL_SIZES);
	hs_register_release(&fs->hs, estate->es_query_cxt);
	fs->hs.nest_level = GetCurrentTransactionNestLevel();
	fs->hs.fetch_size = fs->hs.hc->fetch_size;
	if (fsplan->scan.scanrelid > 0)
		desc = RelationGetDescr(node->ss.ss_currentRelation);
	else
		desc = node->ss.ss_ScanTupleSlot->tts_tupleDescriptor;
	fs->hs.tupdesc = desc;
	fs->hs.attinmeta = TupleDescGetAttInMetadata(desc);
	fs->hs.force_xact = fs->write;
	if (fs->write)
		hs_mark_written(fs->hs.hc);

	/* start the remote query now, unless it waits for outer values */
	if (!fs->has_exec_params)
	{
		hs_compute_params(&fs->hs, fs->hs.param_exprs, fs->param_exprs,
						  fs->hs.econtext);
		hs_scan_send(&fs->hs);
	}
}

/*
 * hs_store_row
 *		Turn row "row" of the scan's current result into a tuple in slot.
 */
static void
hs_store_row(HsScanState *hs, MemoryContext row_cxt, TupleTableSlot *slot,
			 bool by_position)
{
	int			natts = hs->tupdesc->natts;
	char	  **values;
	ItemPointer ctid = NULL;
	HeapTuple	tup;
	ListCell   *lc;
	int			col = 0;
	MemoryContext old;

	MemoryContextReset(row_cxt);
	old = MemoryContextSwitchTo(row_cxt);
	values = palloc0(sizeof(char *) * natts);
	foreach(lc, hs->retrieved_attrs)
	{
		int			att = lfirst_int(lc);
		char	   *v = PQgetisnull(hs->res, hs->next_row, col) ? NULL :
		PQgetvalue(hs->res, hs->next_row, col);

		if (att == SelfItemPointerAttributeNumber)
		{
			if (v)
				ctid = (ItemPointer) DatumGetPointer(DirectFunctionCall1(tidin,
																		 CStringGetDatum(v)));
		}
		else if (att > 0)
			values[att - 1] = v;
		col++;
	}
	tup = BuildTupleFromCStrings(hs->attinmeta, values);
	if (ctid)
		tup->t_self = *ctid;
	MemoryContextSwitchTo(old);
	ExecStoreHeapTuple(tup, slot, false);
	hs->next_row++;
}

/*
 * hs_next_batch
 *		Make the scan's next batch current; false at the end.
 */
static bool
hs_next_batch(HsScanState *hs)
{
	for (;;)
	{
		if (hs->eof)
			return false;
		if (hs->res != NULL && hs->next_row < hs->nrows)
			return true;
		if (hs->res != NULL)
		{
			/* the batch is used up; a full batch of a cursor means more */
			bool		more = hs->use_cursor && hs->nrows == hs->fetch_size;

			PQclear(hs->res);
			hs->res = NULL;
			hs->have_result = false;
			if (!more)
			{
				hs->eof = true;
				return false;
			}
			hs_scan_send(hs);
		}
		/* (the result may arrive early, read by another scan's drain) */
		hs_scan_wait(hs);
		CHECK_FOR_INTERRUPTS();
		if (hs->res == NULL)
			elog(ERROR, "hashshard: scan of node \"%s\" has no result to read",
				 hs->hc->nodename);
	}
}

static TupleTableSlot *
hsIterateForeignScan(ForeignScanState *node)
{
	HsForeignScanState *fs = node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	if (!fs->hs.sent && !fs->hs.have_result && fs->hs.res == NULL &&
		!fs->hs.eof && fs->has_exec_params)
	{
		hs_compute_params(&fs->hs, fs->hs.param_exprs, fs->param_exprs,
						  fs->hs.econtext);
	}
	if (!hs_next_batch(&fs->hs))
		return ExecClearTuple(slot);
	hs_store_row(&fs->hs, fs->row_cxt, slot, false);
	return slot;
}

static void
hsReScanForeignScan(ForeignScanState *node)
{
	HsForeignScanState *fs = node->fdw_state;

	/* forget the current result; a cursor is left to the transaction end */
	hs_scan_dequeue(&fs->hs);
	fs->hs.sent = false;
	fs->hs.have_result = false;
	fs->hs.eof = false;
	fs->hs.cursor_open = false;
	fs->hs.next_row = fs->hs.nrows = 0;
	if (!fs->has_exec_params)
		hs_scan_send(&fs->hs);
}

static void
hsEndForeignScan(ForeignScanState *node)
{
	HsForeignScanState *fs = node->fdw_state;

	if (fs == NULL || fs->hs.hc == NULL)
		return;
	hs_scan_dequeue(&fs->hs);
}

/*
 * hs_explain_sql
 *		The remote SQL as EXPLAIN shows it: parameters as $n.
 */
static char *
hs_explain_sql(const char *sql, List *params)
{
	StringInfoData buf;
	const char *p;

	initStringInfo(&buf);
	for (p = sql; *p; p++)
	{
		if (p[0] == HS_PARAM_OPEN)
		{
			char	   *end;
			long		n = strtol(p + 1, &end, 10);
			Node	   *e = (n >= 1 && n <= list_length(params)) ?
			list_nth(params, n - 1) : NULL;

			/* constants are shown as literals, parameters as $n */
			if (e && IsA(e, Const))
				hs_deparse_literal(&buf, ((Const *) e)->constvalue,
								   ((Const *) e)->consttype,
								   ((Const *) e)->constisnull);
			else if (e && IsA(e, Param) && ((Param *) e)->paramkind == PARAM_EXTERN)
				appendStringInfo(&buf, "$%d", ((Param *) e)->paramid);
			else
				appendStringInfo(&buf, "$%ld", n);
			p = end;
			continue;
		}
		appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

static void
hsExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;

	ExplainPropertyText("Node", strVal(list_nth(fsplan->fdw_private, HSP_NODE)), es);
	if (es->verbose)
		ExplainPropertyText("Remote SQL",
							hs_explain_sql(strVal(list_nth(fsplan->fdw_private, HSP_SQL)),
										   fsplan->fdw_exprs),
							es);
}

/* ------------------------------------------------------------------------
 * Row-by-row INSERT / UPDATE / DELETE and COPY
 * ------------------------------------------------------------------------ */

static void
hsAddForeignUpdateTargets(PlannerInfo *root, Index rtindex,
						  RangeTblEntry *target_rte, Relation target_relation)
{
	Var		   *var = makeVar(rtindex, SelfItemPointerAttributeNumber, TIDOID,
							  -1, InvalidOid, 0);

	add_row_identity_var(root, var, rtindex, "ctid");
}

static List *
hs_returning_attrs(Relation rel, List *returning, Index rti)
{
	Bitmapset  *attrs = NULL;
	List	   *out = NIL;
	int			i;

	pull_varattnos((Node *) returning, rti, &attrs);
	for (i = 1; i <= RelationGetDescr(rel)->natts; i++)
	{
		if (TupleDescAttr(RelationGetDescr(rel), i - 1)->attisdropped)
			continue;
		if (bms_is_member(i - FirstLowInvalidHeapAttributeNumber, attrs) ||
			bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs))
			out = lappend_int(out, i);
	}
	return out;
}

static List *
hsPlanForeignModify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
					int subplan_index)
{
	CmdType		op = plan->operation;
	RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
	Relation	rel = table_open(rte->relid, NoLock);
	List	   *targets = NIL;
	List	   *returning = NIL;
	int			i;

	if (op == CMD_UPDATE)
		hs_check_shard_key_update(root, resultRelation,
								  find_base_rel(root, resultRelation));
	if (op == CMD_INSERT || op == CMD_UPDATE)
	{
		if (op == CMD_INSERT)
		{
			for (i = 1; i <= RelationGetDescr(rel)->natts; i++)
			{
				Form_pg_attribute a = TupleDescAttr(RelationGetDescr(rel), i - 1);

				if (!a->attisdropped)
					targets = lappend_int(targets, i);
			}
		}
		else
		{
			List	   *colnos = list_nth(plan->updateColnosLists, subplan_index);
			ListCell   *lc;
			RelOptInfo *r = find_base_rel(root, resultRelation);
			List	   *ptl = NIL;

			get_translated_update_targetlist(root, resultRelation, &ptl, &colnos);
			(void) r;
			foreach(lc, colnos)
			{
				if (!TupleDescAttr(RelationGetDescr(rel), lfirst_int(lc) - 1)->attgenerated)
					targets = lappend_int(targets, lfirst_int(lc));
			}
			/* stored generated columns are computed here: send their values */
			for (i = 1; i <= RelationGetDescr(rel)->natts; i++)
			{
				Form_pg_attribute a = TupleDescAttr(RelationGetDescr(rel), i - 1);

				if (!a->attisdropped && a->attgenerated)
					targets = lappend_int(targets, i);
			}
		}
	}
	if (plan->returningLists)
		returning = hs_returning_attrs(rel,
									   list_nth(plan->returningLists, subplan_index),
									   resultRelation);
	if (plan->onConflictAction != ONCONFLICT_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("INSERT ... ON CONFLICT is not supported on distributed table shards")));
	table_close(rel, NoLock);
	return list_make3(targets, returning,
					  makeInteger((int) GetForeignTable(rte->relid)->serverid));
}

static void
hs_init_modify(HsModifyState *ms, EState *estate, ResultRelInfo *rinfo,
			   CmdType op, List *targets, List *returning, Oid userid)
{
	Relation	rel = rinfo->ri_RelationDesc;
	TupleDesc	desc = RelationGetDescr(rel);
	ForeignTable *ft = GetForeignTable(RelationGetRelid(rel));
	StringInfoData buf;
	int			i;

	ms->rel = rel;
	ms->op = op;
	ms->target_attrs = targets;
	ms->returning_attrs = returning;
	ms->hc = hs_get_conn(ft->serverid, userid, true);
	hs_mark_written(ms->hc);
	ms->nodename = ms->hc->nodename;
	ms->attinmeta = TupleDescGetAttInMetadata(desc);
	ms->out_funcs = palloc0(sizeof(FmgrInfo) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Oid			f;
		bool		varlena;

		if (TupleDescAttr(desc, i)->attisdropped)
			continue;
		getTypeOutputInfo(TupleDescAttr(desc, i)->atttypid, &f, &varlena);
		fmgr_info(f, &ms->out_funcs[i]);
	}
	ms->temp_cxt = AllocSetContextCreate(estate->es_query_cxt, "hashshard modify",
										 ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&buf);
	hs_deparse_relation(&buf, rel);
	ms->relname_sql = buf.data;
	ms->batch_size = ms->hc->batch_size;
}

static void
hsBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					 List *fdw_private, int subplan_index, int eflags)
{
	HsModifyState *ms = palloc0(sizeof(HsModifyState));
	Oid			userid;
	RangeTblEntry *rte;
	EState	   *estate = mtstate->ps.state;

	rinfo->ri_FdwState = ms;
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	rte = exec_rt_fetch(rinfo->ri_RangeTableIndex, estate);
	userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	hs_init_modify(ms, estate, rinfo, mtstate->operation,
				   (List *) linitial(fdw_private), (List *) lsecond(fdw_private),
				   userid);
	if (mtstate->operation == CMD_UPDATE || mtstate->operation == CMD_DELETE)
	{
		Plan	   *subplan = outerPlanState(mtstate)->plan;

		ms->ctid_attno = ExecFindJunkAttributeInTlist(subplan->targetlist, "ctid");
		if (!AttributeNumberIsValid(ms->ctid_attno))
			elog(ERROR, "hashshard: could not find junk ctid column");
	}
}

/*
 * hs_append_values
 *		"(v1, v2, ...)" of the target attributes of a slot.
 */
static void
hs_append_values(HsModifyState *ms, StringInfo buf, TupleTableSlot *slot)
{
	ListCell   *lc;
	bool		first = true;

	slot_getallattrs(slot);
	appendStringInfoChar(buf, '(');
	foreach(lc, ms->target_attrs)
	{
		int			att = lfirst_int(lc);
		Form_pg_attribute a = TupleDescAttr(RelationGetDescr(ms->rel), att - 1);

		if (!first)
			appendStringInfoString(buf, ", ");
		first = false;
		if (slot->tts_isnull[att - 1])
			appendStringInfoString(buf, "NULL");
		else
		{
			char	   *s = hs_transmit_value(&ms->out_funcs[att - 1],
											  slot->tts_values[att - 1]);

			appendStringInfoString(buf, quote_literal_cstr(s));
		}
		appendStringInfoString(buf, "::");
		appendStringInfoString(buf, format_type_extended(a->atttypid, a->atttypmod,
														 FORMAT_TYPE_FORCE_QUALIFY |
														 FORMAT_TYPE_TYPEMOD_GIVEN));
	}
	appendStringInfoChar(buf, ')');
}

static void
hs_append_returning(HsModifyState *ms, StringInfo buf)
{
	ListCell   *lc;
	bool		first = true;

	if (ms->returning_attrs == NIL)
		return;
	appendStringInfoString(buf, " RETURNING ");
	foreach(lc, ms->returning_attrs)
	{
		if (!first)
			appendStringInfoString(buf, ", ");
		first = false;
		hs_deparse_column(buf, ms->rel, lfirst_int(lc));
	}
}

/*
 * hs_store_returning
 *		Store row i of a RETURNING result into the slot.
 */
static void
hs_store_returning(HsModifyState *ms, PGresult *res, int row,
				   TupleTableSlot *slot)
{
	int			natts = RelationGetDescr(ms->rel)->natts;
	char	  **values = palloc0(sizeof(char *) * natts);
	ListCell   *lc;
	int			col = 0;
	HeapTuple	tup;

	foreach(lc, ms->returning_attrs)
	{
		int			att = lfirst_int(lc);

		if (!PQgetisnull(res, row, col))
			values[att - 1] = PQgetvalue(res, row, col);
		col++;
	}
	tup = BuildTupleFromCStrings(ms->attinmeta, values);
	ExecForceStoreHeapTuple(tup, slot, true);
}

static void
hs_insert_rows(HsModifyState *ms, TupleTableSlot **slots, int n)
{
	StringInfoData buf;
	ListCell   *lc;
	bool		first = true;
	PGresult   *res;
	int			i;
	MemoryContext old = MemoryContextSwitchTo(ms->temp_cxt);

	initStringInfo(&buf);
	appendStringInfo(&buf, "INSERT INTO %s (", ms->relname_sql);
	foreach(lc, ms->target_attrs)
	{
		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		hs_deparse_column(&buf, ms->rel, lfirst_int(lc));
	}
	appendStringInfoString(&buf, ") VALUES ");
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		hs_append_values(ms, &buf, slots[i]);
	}
	hs_append_returning(ms, &buf);
	res = hs_exec(ms->hc, buf.data, true);
	if (ms->returning_attrs != NIL)
	{
		for (i = 0; i < n && i < PQntuples(res); i++)
			hs_store_returning(ms, res, i, slots[i]);
	}
	PQclear(res);
	MemoryContextSwitchTo(old);
	MemoryContextReset(ms->temp_cxt);
}

/*
 * hs_copy_flush
 *		Send the buffered COPY rows of a shard with the COPY protocol.  The
 *		result is read later (hs_conn_drain: by the next command on the
 *		connection, at the end of the statement at the latest).
 */
static void
hs_copy_flush(HsModifyState *ms)
{
	StringInfoData cmd;
	StringInfoData prefix;
	ListCell   *lc;
	bool		first = true;
	PGresult   *res;
	char	   *sql;

	if (ms->copyrows == 0)
		return;
	initStringInfo(&cmd);
	appendStringInfo(&cmd, "COPY %s (", ms->relname_sql);
	foreach(lc, ms->target_attrs)
	{
		if (!first)
			appendStringInfoString(&cmd, ", ");
		first = false;
		hs_deparse_column(&cmd, ms->rel, lfirst_int(lc));
	}
	appendStringInfoString(&cmd, ") FROM STDIN");
	initStringInfo(&prefix);
	hs_conn_begin_command(ms->hc, &prefix);
	appendStringInfoString(&prefix, cmd.data);
	sql = cmd.data;
	if (!PQsendQuery(ms->hc->conn, prefix.data))
	{
		ms->hc->broken = true;
		hs_report_result(ERROR, NULL, ms->hc, sql);
	}
	res = hs_get_result(ms->hc, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		hs_report_result(ERROR, res, ms->hc, sql);
	PQclear(res);
	if (PQputCopyData(ms->hc->conn, ms->copybuf.data, ms->copybuf.len) != 1 ||
		PQputCopyEnd(ms->hc->conn, NULL) != 1)
	{
		ms->hc->broken = true;
		hs_report_result(ERROR, NULL, ms->hc, sql);
	}
	/* the node loads the rows while we route the next ones */
	ms->hc->copy_pending = true;
	if (hs_moving_rows)
		hs_move_progress(ms->copyrows);
	resetStringInfo(&ms->copybuf);
	ms->copyrows = 0;
}

/*
 * hs_copy_append
 *		One row in COPY text format.
 */
static void
hs_copy_append(HsModifyState *ms, TupleTableSlot *slot)
{
	ListCell   *lc;
	bool		first = true;
	MemoryContext old = MemoryContextSwitchTo(ms->temp_cxt);

	slot_getallattrs(slot);
	foreach(lc, ms->target_attrs)
	{
		int			att = lfirst_int(lc);

		if (!first)
			appendStringInfoChar(&ms->copybuf, '\t');
		first = false;
		if (slot->tts_isnull[att - 1])
			appendStringInfoString(&ms->copybuf, "\\N");
		else
		{
			char	   *s = hs_transmit_value(&ms->out_funcs[att - 1],
											  slot->tts_values[att - 1]);
			char	   *p = s;

			/* copy runs of ordinary characters, escape the rest */
			for (;;)
			{
				size_t		run = strcspn(p, "\\\t\n\r");

				appendBinaryStringInfo(&ms->copybuf, p, run);
				p += run;
				if (*p == '\0')
					break;
				appendStringInfoChar(&ms->copybuf, '\\');
				appendStringInfoChar(&ms->copybuf,
									 *p == '\t' ? 't' : *p == '\n' ? 'n' :
									 *p == '\r' ? 'r' : '\\');
				p++;
			}
		}
	}
	appendStringInfoChar(&ms->copybuf, '\n');
	ms->copyrows++;
	MemoryContextSwitchTo(old);
	MemoryContextReset(ms->temp_cxt);
	if (ms->copybuf.len >= HS_COPY_FLUSH_BYTES)
		hs_copy_flush(ms);
}

static TupleTableSlot *
hsExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
					TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	HsModifyState *ms = rinfo->ri_FdwState;

	if (ms->copy_mode)
	{
		hs_copy_append(ms, slot);
		return slot;
	}
	hs_insert_rows(ms, &slot, 1);
	return slot;
}

static TupleTableSlot **
hsExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo,
						 TupleTableSlot **slots, TupleTableSlot **planSlots,
						 int *numSlots)
{
	HsModifyState *ms = rinfo->ri_FdwState;

	if (ms->copy_mode)
	{
		int			i;

		for (i = 0; i < *numSlots; i++)
			hs_copy_append(ms, slots[i]);
		return slots;
	}
	hs_insert_rows(ms, slots, *numSlots);
	return slots;
}

static int
hsGetForeignModifyBatchSize(ResultRelInfo *rinfo)
{
	HsModifyState *ms = rinfo->ri_FdwState;

	if (ms == NULL || ms->hc == NULL)
		return 1;
	/* rows must come back one at a time for RETURNING and row triggers */
	if (ms->returning_attrs != NIL || rinfo->ri_WithCheckOptions != NIL ||
		(rinfo->ri_TrigDesc &&
		 (rinfo->ri_TrigDesc->trig_insert_after_row ||
		  rinfo->ri_TrigDesc->trig_insert_before_row)))
		return 1;
	return Max(1, ms->batch_size);
}

/*
 * hs_modify_by_ctid
 *		UPDATE or DELETE one row identified by the ctid its scan fetched.
 */
static TupleTableSlot *
hs_modify_by_ctid(HsModifyState *ms, TupleTableSlot *slot,
				  TupleTableSlot *planSlot)
{
	bool		isnull;
	Datum		d = ExecGetJunkAttribute(planSlot, ms->ctid_attno, &isnull);
	StringInfoData buf;
	PGresult   *res;
	MemoryContext old = MemoryContextSwitchTo(ms->temp_cxt);
	char	   *tid;

	if (isnull)
		elog(ERROR, "hashshard: ctid is NULL");
	tid = DatumGetCString(DirectFunctionCall1(tidout, d));
	initStringInfo(&buf);
	if (ms->op == CMD_UPDATE)
	{
		ListCell   *lc;
		bool		first = true;

		slot_getallattrs(slot);
		appendStringInfo(&buf, "UPDATE %s SET ", ms->relname_sql);
		foreach(lc, ms->target_attrs)
		{
			int			att = lfirst_int(lc);
			Form_pg_attribute a = TupleDescAttr(RelationGetDescr(ms->rel), att - 1);

			if (!first)
				appendStringInfoString(&buf, ", ");
			first = false;
			hs_deparse_column(&buf, ms->rel, att);
			appendStringInfoString(&buf, " = ");
			if (slot->tts_isnull[att - 1])
				appendStringInfoString(&buf, "NULL");
			else
				appendStringInfoString(&buf,
									   quote_literal_cstr(hs_transmit_value(&ms->out_funcs[att - 1],
																			slot->tts_values[att - 1])));
			appendStringInfo(&buf, "::%s",
							 format_type_extended(a->atttypid, a->atttypmod,
												  FORMAT_TYPE_FORCE_QUALIFY |
												  FORMAT_TYPE_TYPEMOD_GIVEN));
		}
	}
	else
		appendStringInfo(&buf, "DELETE FROM %s", ms->relname_sql);
	appendStringInfo(&buf, " WHERE ctid = '%s'::pg_catalog.tid", tid);
	hs_append_returning(ms, &buf);
	res = hs_exec(ms->hc, buf.data, true);
	MemoryContextSwitchTo(old);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0)
	{
		PQclear(res);
		MemoryContextReset(ms->temp_cxt);
		return NULL;			/* the row is gone: nothing done */
	}
	if (strcmp(PQcmdTuples(res), "0") == 0)
	{
		PQclear(res);
		MemoryContextReset(ms->temp_cxt);
		return NULL;
	}
	if (ms->returning_attrs != NIL)
		hs_store_returning(ms, res, 0, slot);
	PQclear(res);
	MemoryContextReset(ms->temp_cxt);
	return slot;
}

static TupleTableSlot *
hsExecForeignUpdate(EState *estate, ResultRelInfo *rinfo,
					TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	return hs_modify_by_ctid(rinfo->ri_FdwState, slot, planSlot);
}

static TupleTableSlot *
hsExecForeignDelete(EState *estate, ResultRelInfo *rinfo,
					TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	return hs_modify_by_ctid(rinfo->ri_FdwState, slot, planSlot);
}

static void
hsEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	HsModifyState *ms = rinfo->ri_FdwState;

	if (ms && ms->copy_mode && ms->hc)
	{
		hs_copy_flush(ms);
		hs_conn_drain(ms->hc);
	}
}

/*
 * hsBeginForeignInsert
 *		Rows routed to a shard by INSERT into the parent or COPY FROM.
 *		COPY (no plan) buffers rows per shard for the COPY protocol.
 */
static void
hsBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	HsModifyState *ms = palloc0(sizeof(HsModifyState));
	Relation	rel = rinfo->ri_RelationDesc;
	List	   *targets = NIL;
	List	   *returning = NIL;
	int			i;
	EState	   *estate = mtstate->ps.state;
	Oid			userid;
	RangeTblEntry *rte;
	ResultRelInfo *root_rinfo = rinfo->ri_RootResultRelInfo ?
	rinfo->ri_RootResultRelInfo : rinfo;

	if (mtstate->ps.plan != NULL &&
		((ModifyTable *) mtstate->ps.plan)->onConflictAction != ONCONFLICT_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("INSERT ... ON CONFLICT is not supported on distributed tables"),
				 errhint("The shard tables enforce the unique constraints; catch the error or check first.")));
	for (i = 1; i <= RelationGetDescr(rel)->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(RelationGetDescr(rel), i - 1);

		if (!a->attisdropped)
			targets = lappend_int(targets, i);
	}
	if (mtstate->ps.plan != NULL && rinfo->ri_returningList != NIL)
	{
		/* RETURNING of a routed insert: fetch every column */
		for (i = 1; i <= RelationGetDescr(rel)->natts; i++)
			if (!TupleDescAttr(RelationGetDescr(rel), i - 1)->attisdropped)
				returning = lappend_int(returning, i);
	}
	rte = exec_rt_fetch(root_rinfo->ri_RangeTableIndex, estate);
	userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	hs_init_modify(ms, estate, rinfo, CMD_INSERT, targets, returning, userid);
	ms->copy_mode = (mtstate->ps.plan == NULL) || hs_moving_rows;
	if (ms->copy_mode)
		initStringInfo(&ms->copybuf);
	rinfo->ri_FdwState = ms;
}

static void
hsEndForeignInsert(EState *estate, ResultRelInfo *rinfo)
{
	HsModifyState *ms = rinfo->ri_FdwState;

	if (ms && ms->copy_mode && ms->hc)
	{
		hs_copy_flush(ms);
		hs_conn_drain(ms->hc);
	}
}

static int
hsIsForeignRelUpdatable(Relation rel)
{
	return (1 << CMD_INSERT) | (1 << CMD_UPDATE) | (1 << CMD_DELETE);
}

static void
hsExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					   List *fdw_private, int subplan_index, ExplainState *es)
{
	Oid			serverid = (Oid) intVal(lthird(fdw_private));

	ExplainPropertyText("Node", GetForeignServer(serverid)->servername, es);
	if (es->verbose && mtstate->operation == CMD_INSERT)
		ExplainPropertyInteger("Batch Size", NULL,
							   hs_option_int(GetForeignServer(serverid)->options,
											 "batch_size", 100), es);
}

/* ------------------------------------------------------------------------
 * Direct UPDATE / DELETE
 * ------------------------------------------------------------------------ */

static ForeignScan *
hs_find_subplan_scan(ModifyTable *plan, Index rti, int subplan_index)
{
	Plan	   *sub = outerPlan(plan);

	if (IsA(sub, Result) && outerPlan(sub) != NULL)
		sub = outerPlan(sub);
	if (IsA(sub, Append))
	{
		ListCell   *lc;

		foreach(lc, ((Append *) sub)->appendplans)
		{
			Plan	   *p = lfirst(lc);

			if (IsA(p, ForeignScan) && ((ForeignScan *) p)->scan.scanrelid == rti)
				return (ForeignScan *) p;
		}
		return NULL;
	}
	if (IsA(sub, ForeignScan) && ((ForeignScan *) sub)->scan.scanrelid == rti)
		return (ForeignScan *) sub;
	return NULL;
}

static bool
hsPlanDirectModify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
				   int subplan_index)
{
	CmdType		op = plan->operation;
	ForeignScan *fscan;
	RelOptInfo *rel;
	HsRelInfo  *ri;
	RangeTblEntry *rte;
	Relation	r;
	List	   *ptl = NIL;
	List	   *colnos = NIL;
	List	   *returning = NIL;
	List	   *params = NIL;
	StringInfoData sql;
	HsDeparseCtx ctx;
	ListCell   *lc,
			   *lc2;
	bool		first;
	List	   *remote_exprs = NIL;

	if (op != CMD_UPDATE && op != CMD_DELETE)
		return false;
	fscan = hs_find_subplan_scan(plan, resultRelation, subplan_index);
	if (fscan == NULL || fscan->scan.plan.qual != NIL)
		return false;
	rel = root->simple_rel_array[resultRelation];
	ri = rel->fdw_private;
	if (ri == NULL || ri->local_conds != NIL)
		return false;
	rte = planner_rt_fetch(resultRelation, root);
	if (op == CMD_UPDATE)
	{
		hs_check_shard_key_update(root, resultRelation, rel);
		get_translated_update_targetlist(root, resultRelation, &ptl, &colnos);
		/* the first list_length(colnos) entries are the new values */
		forboth(lc, ptl, lc2, colnos)
		{
			TargetEntry *te = lfirst(lc);

			if (!hs_is_shippable(root, rel, te->expr, false, false))
				return false;
		}
	}
	r = table_open(rte->relid, NoLock);
	if (r->trigdesc &&
		(r->trigdesc->trig_update_after_row || r->trigdesc->trig_update_before_row ||
		 r->trigdesc->trig_delete_after_row || r->trigdesc->trig_delete_before_row))
	{
		table_close(r, NoLock);
		return false;
	}
	if (plan->returningLists)
		returning = hs_returning_attrs(r, list_nth(plan->returningLists, subplan_index),
									   resultRelation);

	foreach(lc, ri->remote_conds)
		remote_exprs = lappend(remote_exprs, ((RestrictInfo *) lfirst(lc))->clause);

	initStringInfo(&sql);
	ctx.root = root;
	ctx.rel = rel;
	ctx.buf = &sql;
	ctx.params = &params;
	ctx.upper = false;
	ctx.partial = false;
	ctx.relids = rel->relids;
	if (op == CMD_UPDATE)
	{
		appendStringInfoString(&sql, "UPDATE ");
		hs_deparse_relation(&sql, r);
		appendStringInfo(&sql, " r%d SET ", resultRelation);
		first = true;
		forboth(lc, ptl, lc2, colnos)
		{
			TargetEntry *te = lfirst(lc);
			int			att = lfirst_int(lc2);

			if (TupleDescAttr(RelationGetDescr(r), att - 1)->attgenerated)
				continue;
			if (!first)
				appendStringInfoString(&sql, ", ");
			first = false;
			hs_deparse_column(&sql, r, att);
			appendStringInfoString(&sql, " = ");
			hs_deparse_expr(&ctx, te->expr);
		}
	}
	else
	{
		appendStringInfoString(&sql, "DELETE FROM ");
		hs_deparse_relation(&sql, r);
		appendStringInfo(&sql, " r%d", resultRelation);
	}
	if (remote_exprs != NIL)
	{
		appendStringInfoString(&sql, " WHERE ");
		first = true;
		foreach(lc, remote_exprs)
		{
			if (!first)
				appendStringInfoString(&sql, " AND ");
			first = false;
			hs_deparse_expr(&ctx, lfirst(lc));
		}
	}
	if (returning != NIL)
	{
		appendStringInfoString(&sql, " RETURNING ");
		first = true;
		foreach(lc, returning)
		{
			if (!first)
				appendStringInfoString(&sql, ", ");
			first = false;
			appendStringInfo(&sql, "r%d.", resultRelation);
			hs_deparse_column(&sql, r, lfirst_int(lc));
		}
	}
	fscan->operation = op;
	fscan->resultRelation = resultRelation;
	fscan->fdw_exprs = params;
	fscan->fdw_private = list_make5(makeString(sql.data), returning,
									makeInteger((int) ri->serverid),
									makeString(GetForeignServer(ri->serverid)->servername),
									makeInteger(plan->canSetTag));
	table_close(r, NoLock);
	return true;
}

static void
hsBeginDirectModify(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	HsDirectState *ds = palloc0(sizeof(HsDirectState));
	Oid			userid;
	ResultRelInfo *rinfo = node->resultRelInfo;

	node->fdw_state = ds;
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	userid = hs_scan_userid(fsplan, estate);
	ds->rel = rinfo->ri_RelationDesc;
	ds->ss.hc = hs_get_conn((Oid) intVal(list_nth(fsplan->fdw_private, HSD_SERVER)),
							userid, true);
	hs_mark_written(ds->ss.hc);
	ds->ss.sql = strVal(list_nth(fsplan->fdw_private, HSD_SQL));
	ds->ss.retrieved_attrs = (List *) list_nth(fsplan->fdw_private, HSD_ATTRS);
	ds->settag = intVal(list_nth(fsplan->fdw_private, HSD_SETTAG)) != 0;
	ds->ss.param_exprs = ExecInitExprList(fsplan->fdw_exprs, (PlanState *) node);
	ds->ss.nparams = list_length(fsplan->fdw_exprs);
	ds->ss.param_values = palloc0(sizeof(char *) * (ds->ss.nparams + 1));
	ds->ss.param_types = palloc0(sizeof(Oid) * (ds->ss.nparams + 1));
	ds->ss.econtext = node->ss.ps.ps_ExprContext;
	ds->ss.tupdesc = RelationGetDescr(ds->rel);
	ds->ss.attinmeta = TupleDescGetAttInMetadata(ds->ss.tupdesc);
	ds->ss.batch_cxt = AllocSetContextCreate(estate->es_query_cxt,
											 "hashshard returning",
											 ALLOCSET_SMALL_SIZES);
	hs_register_release(&ds->ss, estate->es_query_cxt);
	(void) estate;
}

static TupleTableSlot *
hsIterateDirectModify(ForeignScanState *node)
{
	HsDirectState *ds = node->fdw_state;
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	EState	   *estate = node->ss.ps.state;

	if (!ds->done)
	{
		PGresult   *res;

		hs_compute_params(&ds->ss, ds->ss.param_exprs, fsplan->fdw_exprs,
						  ds->ss.econtext);
		res = hs_exec_params(ds->ss.hc, ds->ss.sql, ds->ss.nparams,
							 ds->ss.param_values, ds->ss.param_types, true);
		ds->done = true;
		if (ds->settag)
			estate->es_processed += atol(PQcmdTuples(res));
		if (ds->ss.retrieved_attrs != NIL)
		{
			ds->ss.res = res;
			ds->ss.nrows = PQntuples(res);
			ds->ss.next_row = 0;
		}
		else
			PQclear(res);
	}
	if (ds->ss.res == NULL || ds->ss.next_row >= ds->ss.nrows)
		return ExecClearTuple(slot);
	hs_store_row(&ds->ss, ds->ss.batch_cxt, slot, false);
	/* RETURNING is projected from this slot (see ExecModifyTable) */
	if (node->resultRelInfo->ri_projectReturning)
		node->resultRelInfo->ri_projectReturning->pi_exprContext->ecxt_scantuple = slot;
	return slot;
}

static void
hsEndDirectModify(ForeignScanState *node)
{
	HsDirectState *ds = node->fdw_state;

	if (ds && ds->ss.res)
	{
		PQclear(ds->ss.res);
		ds->ss.res = NULL;
	}
}

static void
hsExplainDirectModify(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;

	ExplainPropertyText("Node", strVal(list_nth(fsplan->fdw_private, HSD_NODE)), es);
	if (es->verbose)
		ExplainPropertyText("Remote SQL",
							hs_explain_sql(strVal(list_nth(fsplan->fdw_private, HSD_SQL)),
										   fsplan->fdw_exprs),
							es);
}

/* ------------------------------------------------------------------------
 * TRUNCATE
 * ------------------------------------------------------------------------ */

/*
 * hsExecForeignTruncate
 *		TRUNCATE of shards: one TRUNCATE per node (PostgreSQL groups the
 *		relations by server), inside the transaction, so it commits or
 *		rolls back with everything else.
 */
static void
hsExecForeignTruncate(List *rels, DropBehavior behavior, bool restart_seqs)
{
	StringInfoData sql;
	ListCell   *lc;
	HsConn	   *hc = NULL;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "TRUNCATE ");
	foreach(lc, rels)
	{
		Relation	rel = lfirst(lc);

		if (hc == NULL)
			hc = hs_get_conn(GetForeignTable(RelationGetRelid(rel))->serverid,
							 GetUserId(), true);
		if (lc != list_head(rels))
			appendStringInfoString(&sql, ", ");
		hs_deparse_relation(&sql, rel);
	}
	if (hc == NULL)
		return;
	if (restart_seqs)
		appendStringInfoString(&sql, " RESTART IDENTITY");
	if (behavior == DROP_CASCADE)
		appendStringInfoString(&sql, " CASCADE");
	hs_exec_command(hc, sql.data, true);
}

/* ------------------------------------------------------------------------
 * ANALYZE
 * ------------------------------------------------------------------------ */

/*
 * hs_acquire_sample
 *		Sample rows of a shard: the node picks a random subset of about
 *		targrows rows (TABLESAMPLE BERNOULLI at the needed rate).
 */
static int
hs_acquire_sample(Relation rel, int elevel, HeapTuple *rows, int targrows,
				  double *totalrows, double *totaldeadrows)
{
	ForeignTable *ft = GetForeignTable(RelationGetRelid(rel));
	HsConn	   *hc = hs_get_conn(ft->serverid, GetUserId(), false);
	StringInfoData sql;
	PGresult   *res;
	double		reltuples;
	double		pct;
	int			n = 0;
	int			i;
	int			col;
	TupleDesc	desc = RelationGetDescr(rel);
	AttInMetadata *meta = TupleDescGetAttInMetadata(desc);
	bool		first = true;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT reltuples FROM pg_catalog.pg_class WHERE oid = ");
	{
		StringInfoData rn;

		initStringInfo(&rn);
		hs_deparse_relation(&rn, rel);
		appendStringInfo(&sql, "%s::pg_catalog.regclass",
						 quote_literal_cstr(rn.data));
	}
	res = hs_exec(hc, sql.data, false);
	reltuples = PQntuples(res) > 0 ? strtod(PQgetvalue(res, 0, 0), NULL) : -1;
	PQclear(res);
	if (reltuples < 0)
	{
		resetStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT pg_catalog.count(*) FROM ");
		hs_deparse_relation(&sql, rel);
		res = hs_exec(hc, sql.data, false);
		reltuples = strtod(PQgetvalue(res, 0, 0), NULL);
		PQclear(res);
	}
	pct = reltuples > 0 ? Min(100.0, 100.0 * targrows / reltuples * 1.2) : 100.0;

	resetStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (i = 1; i <= desc->natts; i++)
	{
		if (TupleDescAttr(desc, i - 1)->attisdropped)
			continue;
		if (!first)
			appendStringInfoString(&sql, ", ");
		first = false;
		hs_deparse_column(&sql, rel, i);
	}
	if (first)
		appendStringInfoString(&sql, "NULL");
	appendStringInfoString(&sql, " FROM ");
	hs_deparse_relation(&sql, rel);
	if (pct < 100.0)
		appendStringInfo(&sql, " TABLESAMPLE BERNOULLI (%g)", pct);
	appendStringInfo(&sql, " LIMIT %d", targrows);
	res = hs_exec(hc, sql.data, false);
	for (i = 0; i < PQntuples(res) && n < targrows; i++)
	{
		char	  **values = palloc0(sizeof(char *) * desc->natts);
		int			att;

		col = 0;
		for (att = 1; att <= desc->natts; att++)
		{
			if (TupleDescAttr(desc, att - 1)->attisdropped)
				continue;
			if (!PQgetisnull(res, i, col))
				values[att - 1] = PQgetvalue(res, i, col);
			col++;
		}
		rows[n++] = BuildTupleFromCStrings(meta, values);
		pfree(values);
	}
	PQclear(res);
	*totalrows = Max(reltuples, n);
	*totaldeadrows = 0;
	return n;
}

static bool
hsAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func,
					  BlockNumber *totalpages)
{
	*func = hs_acquire_sample;
	*totalpages = 1;
	return true;
}

/*
 * hashshard_fdw_handler
 *		The FdwRoutine of the hashshard wrapper.
 */
Datum
hashshard_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *r = makeNode(FdwRoutine);

	r->GetForeignRelSize = hsGetForeignRelSize;
	r->GetForeignPaths = hsGetForeignPaths;
	r->GetForeignPlan = hsGetForeignPlan;
	r->BeginForeignScan = hsBeginForeignScan;
	r->IterateForeignScan = hsIterateForeignScan;
	r->ReScanForeignScan = hsReScanForeignScan;
	r->EndForeignScan = hsEndForeignScan;
	r->GetForeignUpperPaths = hsGetForeignUpperPaths;
	r->GetForeignJoinPaths = hsGetForeignJoinPaths;

	r->AddForeignUpdateTargets = hsAddForeignUpdateTargets;
	r->PlanForeignModify = hsPlanForeignModify;
	r->BeginForeignModify = hsBeginForeignModify;
	r->ExecForeignInsert = hsExecForeignInsert;
	r->ExecForeignBatchInsert = hsExecForeignBatchInsert;
	r->GetForeignModifyBatchSize = hsGetForeignModifyBatchSize;
	r->ExecForeignUpdate = hsExecForeignUpdate;
	r->ExecForeignDelete = hsExecForeignDelete;
	r->EndForeignModify = hsEndForeignModify;
	r->BeginForeignInsert = hsBeginForeignInsert;
	r->EndForeignInsert = hsEndForeignInsert;
	r->IsForeignRelUpdatable = hsIsForeignRelUpdatable;
	r->PlanDirectModify = hsPlanDirectModify;
	r->BeginDirectModify = hsBeginDirectModify;
	r->IterateDirectModify = hsIterateDirectModify;
	r->EndDirectModify = hsEndDirectModify;

	r->ExplainForeignScan = hsExplainForeignScan;
	r->ExplainForeignModify = hsExplainForeignModify;
	r->ExplainDirectModify = hsExplainDirectModify;
	r->AnalyzeForeignTable = hsAnalyzeForeignTable;
	r->ExecForeignTruncate = hsExecForeignTruncate;

	PG_RETURN_POINTER(r);
}

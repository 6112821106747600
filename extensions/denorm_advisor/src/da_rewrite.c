/*-------------------------------------------------------------------------
 *
 * da_rewrite.c
 *	  Rewrite a workload query for a denormalization candidate.
 *
 * Each rewrite works on an analysed query tree (a private copy the caller
 * hands over and which is modified in place) and returns the tree the
 * query would have once the candidate is applied, with the candidate's
 * relation standing as the shadow relation of da_whatif.c.  The tree is
 * planned for its cost and deparsed (pg_get_querydef) for the DBA.
 *
 *	copy_column	child JOIN parent ON <fk> reading parent columns becomes
 *				a scan of the child alone, reading its copies of them.
 *	counter		parent JOIN child ON <fk> GROUP BY <parent key> with
 *				count(*) / count(col) / sum(col) of the children becomes a
 *				scan of the parent reading its counter columns.
 *	matview		the query minus its parameterized conjuncts, ORDER BY and
 *				LIMIT becomes a materialized view definition; the query
 *				reads the view (da_whatif.c builds its text).
 *
 * Equivalence (invariant I4).  The rewrites rely on the flat shape of
 * da_query_shape: base relations, inner joins, and LEFT JOINs of one base
 * relation.  There every inner ON conjunct can move to WHERE.  Removing
 * the parent of an inner join keeps every child row whose key is not NULL
 * (the foreign key guarantees a parent exists), so "key IS NOT NULL" is
 * added for nullable keys; child LEFT JOIN parent keeps every child row
 * and needs nothing.  A counter replaces an inner join grouped by the
 * parent's key, which drops childless parents: "count > 0" is added.
 * Shapes outside these rules are refused with a reason.
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/denorm_advisor/src/da_rewrite.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "catalog/namespace.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "access/table.h"
#include "catalog/pg_index.h"
#include "parser/parse_oper.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/lsyscache.h"

#include "denorm_advisor.h"

static bool reset_syn_walker(Node *node, void *context);

/* ------------------------------------------------------------------------
 * Join tree surgery
 * ------------------------------------------------------------------------ */

/*
 * remove_conjuncts
 *		Drop the conjuncts of *quals that are (pointer-)members of remove.
 */
static void
remove_conjuncts(Node **quals, List *remove)
{
	if (*quals == NULL)
		return;
	if (list_member_ptr(remove, *quals))
	{
		*quals = NULL;
		return;
	}
	if (is_andclause(*quals))
	{
		BoolExpr   *b = (BoolExpr *) *quals;
		List	   *kept = NIL;
		ListCell   *lc;

		foreach(lc, b->args)
		{
			Node	   *arg = lfirst(lc);

			remove_conjuncts(&arg, remove);
			if (arg != NULL)
				kept = lappend(kept, arg);
		}
		if (kept == NIL)
			*quals = NULL;
		else if (list_length(kept) == 1)
			*quals = linitial(kept);
		else
			b->args = kept;
	}
}

/* remove_conjuncts over every qual of a join tree */
static void
remove_conjuncts_jointree(Node *node, List *remove)
{
	if (node == NULL)
		return;
	if (IsA(node, FromExpr))
	{
		FromExpr   *f = (FromExpr *) node;
		ListCell   *lc;

		remove_conjuncts(&f->quals, remove);
		foreach(lc, f->fromlist)
			remove_conjuncts_jointree(lfirst(lc), remove);
	}
	else if (IsA(node, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) node;

		remove_conjuncts(&j->quals, remove);
		remove_conjuncts_jointree(j->larg, remove);
		remove_conjuncts_jointree(j->rarg, remove);
	}
}

/* Is node a reference to base relation rti? */
static bool
is_rtref(Node *node, Index rti)
{
	return node && IsA(node, RangeTblRef) &&
		((RangeTblRef *) node)->rtindex == rti;
}

/*
 * rebuild_without
 *		Rebuild the join tree of a flat query without base relation rti:
 *		the other base relations in FROM, every remaining conjunct (and
 *		extra) in WHERE.
 *
 * Only called for queries whose LEFT JOINs are at most the one of rti
 * itself (child LEFT JOIN parent, whose ON clause held only the key, now
 * removed): then the inner conjuncts can all move to WHERE (da_query.c).
 * The join RTEs lose their JoinExprs; they become RTE_RESULT entries
 * nothing refers to, which neither the planner nor the deparser reads.
 */
static bool
rebuild_without(Query *query, Index rti, List *extra, const char **reason)
{
	DaQueryShape shape;
	List	   *fromlist = NIL;
	List	   *quals;
	ListCell   *lc;
	bool		found = false;

	da_query_shape(query, &shape);
	foreach(lc, shape.left_joins)
	{
		JoinExpr   *j = lfirst(lc);

		if (!is_rtref(j->rarg, rti))
		{
			*reason = "the query has outer joins besides the one the candidate removes";
			return false;
		}
		if (j->quals != NULL)
		{
			*reason = "the outer join's ON clause holds more than the foreign key";
			return false;
		}
		found = true;
	}
	foreach(lc, shape.rtis)
	{
		if ((Index) lfirst_int(lc) == rti)
		{
			found = true;
			continue;
		}
		fromlist = lappend(fromlist, makeNode(RangeTblRef));
		((RangeTblRef *) llast(fromlist))->rtindex = lfirst_int(lc);
	}
	if (!found)
	{
		*reason = "the relation is not part of the join tree";
		return false;
	}
	quals = list_concat(list_copy(shape.conjuncts), extra);
	query->jointree = makeFromExpr(fromlist,
								   quals ? (Node *) make_ands_explicit(quals) : NULL);
	(void) query_tree_walker(query, reset_syn_walker, NULL, QTW_IGNORE_JOINALIASES);

	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind != RTE_JOIN)
			continue;
		rte->rtekind = RTE_RESULT;
		rte->jointype = JOIN_INNER;
		rte->joinmergedcols = 0;
		rte->joinaliasvars = NIL;
		rte->joinleftcols = NIL;
		rte->joinrightcols = NIL;
		rte->join_using_alias = NULL;
		rte->eref = makeAlias(rte->eref->aliasname, NIL);
		rte->alias = NULL;
	}
	return true;
}

/* AND a list of quals into the WHERE clause */
static void
add_to_where(Query *query, List *quals)
{
	List	   *all = NIL;

	if (quals == NIL)
		return;
	if (query->jointree->quals)
		all = lappend(all, query->jointree->quals);
	all = list_concat(all, quals);
	query->jointree->quals = (Node *) make_ands_explicit(all);
}

/* ------------------------------------------------------------------------
 * Mapping columns to the shadow relation
 * ------------------------------------------------------------------------ */

typedef struct AggMap
{
	Aggref	   *agg;
	AttrNumber	newattno;
} AggMap;

typedef struct MapContext
{
	List	   *colmap;			/* DaColumnMap */
	List	   *aggmap;			/* AggMap */
	Index		target_rti;		/* the shadow's range table index */
	int			depth;
	bool		lenient;		/* unmapped Vars become NULLs, not failures */
	bool		failed;
} MapContext;

/* The shadow column of (rti, attno), or InvalidAttrNumber */
static AttrNumber
lookup_column(List *colmap, Index rti, AttrNumber attno)
{
	ListCell   *lc;

	foreach(lc, colmap)
	{
		DaColumnMap *m = lfirst(lc);

		if (m->rti == rti && m->attno == attno)
			return m->newattno;
	}
	return InvalidAttrNumber;
}

/* Does the map cover relation rti? */
static bool
maps_relation(List *colmap, Index rti)
{
	ListCell   *lc;

	foreach(lc, colmap)
		if (((DaColumnMap *) lfirst(lc))->rti == rti)
		return true;
	return false;
}

/*
 * map_mutator
 *		Replace the Vars of mapped relations (at ctx->depth) by Vars of the
 *		shadow, and mapped aggregates by the shadow's counter columns.
 */
static Node *
map_mutator(Node *node, MapContext *ctx)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;
		AttrNumber	newattno;
		Var		   *newvar;

		if (var->varlevelsup != ctx->depth ||
			!maps_relation(ctx->colmap, var->varno))
			return (Node *) copyObject(var);
		newattno = lookup_column(ctx->colmap, var->varno, var->varattno);
		if (newattno == InvalidAttrNumber)
		{
			if (!ctx->lenient)
				ctx->failed = true;
			return (Node *) makeNullConst(var->vartype, var->vartypmod,
										  var->varcollid);
		}
		newvar = copyObject(var);
		newvar->varno = ctx->target_rti;
		newvar->varattno = newattno;
		newvar->varnosyn = ctx->target_rti;
		newvar->varattnosyn = newattno;
		return (Node *) newvar;
	}
	if (IsA(node, Aggref) && ctx->aggmap != NIL &&
		((Aggref *) node)->agglevelsup == ctx->depth)
	{
		Aggref	   *agg = (Aggref *) node;
		ListCell   *lc;

		foreach(lc, ctx->aggmap)
		{
			AggMap	   *m = lfirst(lc);

			if (equal(m->agg, agg))
				return (Node *) makeVar(ctx->target_rti, m->newattno,
										agg->aggtype, -1, agg->aggcollid,
										ctx->depth);
		}
		ctx->failed = true;
		return node;
	}
	if (IsA(node, Query))
	{
		Query	   *result;

		ctx->depth++;
		result = query_tree_mutator((Query *) node, map_mutator, ctx,
									QTW_IGNORE_JOINALIASES);
		ctx->depth--;
		return (Node *) result;
	}
	return expression_tree_mutator(node, map_mutator, ctx);
}

/*
 * map_query
 *		Point every Var of the mapped relations (at this level and from
 *		sub-SELECTs) to the shadow's columns; replace mapped aggregates.
 *		The lists of join RTEs are mapped leniently: deparsing reads them,
 *		planning does not.
 */
static bool
map_query(Query *query, List *colmap, List *aggmap, Index target_rti)
{
	MapContext	ctx;
	ListCell   *lc;

	ctx.colmap = colmap;
	ctx.aggmap = aggmap;
	ctx.target_rti = target_rti;
	ctx.depth = 0;
	ctx.lenient = false;
	ctx.failed = false;
	(void) query_tree_mutator(query, map_mutator, &ctx,
							  QTW_IGNORE_JOINALIASES | QTW_DONT_COPY_QUERY);
	if (ctx.failed)
		return false;

	ctx.lenient = true;
	ctx.aggmap = NIL;
	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_JOIN)
			rte->joinaliasvars = (List *)
				map_mutator((Node *) rte->joinaliasvars, &ctx);
	}
	return true;
}

/* Flatten references to join outputs into references to base columns */
static void
flatten_join_vars(Query *query)
{
	query->targetList = (List *)
		flatten_join_alias_vars(query, (Node *) query->targetList);
	query->jointree = (FromExpr *)
		flatten_join_alias_vars(query, (Node *) query->jointree);
	query->havingQual = flatten_join_alias_vars(query, query->havingQual);
}

/* Make rti's entry the shadow relation, with the shadow's column names */
static void
point_rte_to_shadow(Query *query, Index rti, Oid shadow, List *colnames)
{
	RangeTblEntry *rte = rt_fetch(rti, query->rtable);
	Alias	   *eref = makeAlias(rte->eref->aliasname, NIL);
	ListCell   *lc;

	foreach(lc, colnames)
		eref->colnames = lappend(eref->colnames, makeString(pstrdup(lfirst(lc))));
	rte->relid = shadow;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = AccessShareLock;
	rte->eref = eref;
	if (rte->alias)
		rte->alias->colnames = NIL;
	rte->selectedCols = NULL;
}

/*
 * removal_refused
 *		Why the relation at rti cannot be taken out of the query, or NULL:
 *		its rows as the query sees them must be exactly its table's rows.
 *		Row level security, TABLESAMPLE and inheritance children change
 *		that, and the copy or counter triggers would not follow them.
 */
static const char *
removal_refused(Query *query, Index rti)
{
	RangeTblEntry *rte = rt_fetch(rti, query->rtable);
	Relation	rel;
	bool		rls;

	if (rte->tablesample != NULL)
		return "the query samples the relation the candidate removes (TABLESAMPLE)";
	if (rte->relkind == RELKIND_PARTITIONED_TABLE ||
		(rte->inh && has_subclass(rte->relid)))
		return "the relation the candidate removes is partitioned or has inheritance children";
	rel = table_open(rte->relid, AccessShareLock);
	rls = rel->rd_rel->relrowsecurity;
	table_close(rel, AccessShareLock);
	if (rls)
		return "the relation the candidate removes has row level security";
	return NULL;
}

/* Point every Var's syntactic position at its real one (join RTEs go) */
static bool
reset_syn_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		var->varnosyn = var->varno;
		var->varattnosyn = var->varattno;
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, reset_syn_walker, context,
								 QTW_IGNORE_JOINALIASES);
	return expression_tree_walker(node, reset_syn_walker, context);
}

/* ------------------------------------------------------------------------
 * copy_column
 * ------------------------------------------------------------------------ */

/*
 * da_rewrite_copy
 *		The query once the parent's columns are copied into the child.
 *
 * colmap maps the child's and the parent's columns (rti, attno) to the
 * shadow's; colnames holds the shadow's column names.  Returns NULL with
 * *reason set when the rewrite would not be equivalent.
 */
Query *
da_rewrite_copy(Query *query, DaFkJoin *join, Oid shadow, List *colmap,
				List **colnames, const char **reason)
{
	List	   *notnull = NIL;
	RangeTblEntry *crte = rt_fetch(join->child_rti, query->rtable);
	RangeTblEntry *prte = rt_fetch(join->parent_rti, query->rtable);

	*reason = NULL;
	if (join->parent_whole_row)
		*reason = "the query reads the whole parent row or a system column";
	else if (join->parent_joined_elsewhere)
		*reason = "the parent is joined to other relations too";
	else if (query->rowMarks != NIL)
		*reason = "the query locks rows (FOR UPDATE/SHARE)";
	else if (crte->relkind != RELKIND_RELATION || (crte->inh && has_subclass(crte->relid)))
		*reason = "the child is partitioned or has inheritance children";
	else if (query->constraintDeps != NIL)
		*reason = "the query groups by the parent's primary key and reads columns it determines";
	else
		*reason = removal_refused(query, join->parent_rti);
	if (*reason)
		return NULL;
	(void) prte;

	/* the key conjuncts go; join outputs become base columns */
	remove_conjuncts_jointree((Node *) query->jointree, join->key_quals);
	flatten_join_vars(query);

	/* an inner join dropped child rows whose key is NULL */
	if (join->jointype == JOIN_INNER)
	{
		for (int i = 0; i < join->nkeys; i++)
		{
			AttrNumber	attno = join->child_keys[i];
			NullTest   *nt;
			Oid			type;
			int32		typmod;
			Oid			coll;

			if (da_attnotnull(join->child, attno))
				continue;
			get_atttypetypmodcoll(join->child, attno, &type, &typmod, &coll);
			nt = makeNode(NullTest);
			nt->arg = (Expr *) makeVar(join->child_rti, attno, type, typmod,
									   coll, 0);
			nt->nulltesttype = IS_NOT_NULL;
			nt->argisrow = false;
			nt->location = -1;
			notnull = lappend(notnull, nt);
		}
	}
	if (!rebuild_without(query, join->parent_rti, notnull, reason))
		return NULL;

	if (!map_query(query, colmap, NIL, join->child_rti))
	{
		*reason = "the query reads a parent column the candidate does not copy";
		return NULL;
	}
	point_rte_to_shadow(query, join->child_rti, shadow, *colnames);
	return query;
}

/* ------------------------------------------------------------------------
 * counter
 * ------------------------------------------------------------------------ */

/* Context of the check that the child is read only inside aggregates */
typedef struct ChildUseContext
{
	DaFkJoin   *join;
	int			depth;
	bool		in_agg;
	bool		outside;
} ChildUseContext;

/* Note child Vars read outside the aggregates and the key conjuncts */
static bool
child_use_walker(Node *node, ChildUseContext *ctx)
{
	if (node == NULL)
		return false;
	if (ctx->depth == 0 && da_is_key_qual(ctx->join, node))
		return false;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		if (var->varlevelsup == ctx->depth &&
			var->varno == ctx->join->child_rti && !ctx->in_agg)
			ctx->outside = true;
		return false;
	}
	if (IsA(node, Aggref) && ((Aggref *) node)->agglevelsup == ctx->depth)
	{
		bool		save = ctx->in_agg;
		bool		result;

		ctx->in_agg = true;
		result = expression_tree_walker(node, child_use_walker, ctx);
		ctx->in_agg = save;
		return result;
	}
	if (IsA(node, Query))
	{
		bool		result;

		ctx->depth++;
		result = query_tree_walker((Query *) node, child_use_walker, ctx,
								   QTW_IGNORE_JOINALIASES);
		ctx->depth--;
		return result;
	}
	return expression_tree_walker(node, child_use_walker, ctx);
}

/* Collect the aggregates of the top level */
static bool
collect_aggs_walker(Node *node, List **aggs)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
	{
		if (((Aggref *) node)->agglevelsup == 0)
			*aggs = list_append_unique(*aggs, node);
		return false;			/* nested aggregates are refused later */
	}
	if (IsA(node, Query))
		return false;			/* aggregates of sub-SELECTs are theirs */
	return expression_tree_walker(node, collect_aggs_walker, aggs);
}

/*
 * da_counter_aggregates
 *		The aggregates a counter candidate would keep on the parent, or NIL
 *		with *reason when the query is not "parent JOIN child GROUP BY the
 *		parent key" with count(*), count(col) or sum(col) of the children.
 *
 * Each element is the Aggref; an aggregate's child column (for count(col)
 * and sum(col)) must be NOT NULL, so that the trigger-maintained value and
 * the aggregate agree on every parent that has children.
 */
List *
da_counter_aggregates(Query *query, DaFkJoin *join, const char **reason)
{
	List	   *aggs = NIL;
	Bitmapset  *grouped = NULL;
	ListCell   *lc;
	ChildUseContext ctx;
	DaQueryShape shape;

	*reason = NULL;
	if (!query->hasAggs || query->groupClause == NIL)
		*reason = "the query does not aggregate per parent";
	else if (query->groupingSets || query->hasWindowFuncs ||
			 query->distinctClause || query->rowMarks)
		*reason = "the query uses grouping sets, window functions, DISTINCT or FOR UPDATE";
	else if (join->jointype != JOIN_INNER)
		*reason = "the join is an outer join";
	else if (get_rel_relkind(join->parent) != RELKIND_RELATION)
		*reason = "the parent is not a plain table";
	else
		*reason = removal_refused(query, join->child_rti);
	if (*reason)
		return NIL;

	da_query_shape(query, &shape);
	if (!shape.flat || shape.left_joins != NIL)
	{
		*reason = "the query joins more than the parent and the child the counter replaces";
		return NIL;
	}

	/* grouped by the parent's referenced key (unique), and parent only */
	foreach(lc, query->groupClause)
	{
		SortGroupClause *sgc = lfirst(lc);
		TargetEntry *tle = get_sortgroupclause_tle(sgc, query->targetList);
		Var		   *var = (Var *) strip_implicit_coercions((Node *) tle->expr);

		if (!IsA(var, Var) || var->varlevelsup != 0 ||
			var->varno != join->parent_rti)
		{
			*reason = "the query groups by more than columns of the parent";
			return NIL;
		}
		grouped = bms_add_member(grouped, var->varattno);
	}
	for (int i = 0; i < join->nkeys; i++)
	{
		if (!bms_is_member(join->parent_keys[i], grouped))
		{
			*reason = "the query does not group by the parent's key";
			return NIL;
		}
	}

	/* the child is read only by the join and the aggregates */
	if (list_length(shape.rtis) != 2)
	{
		*reason = "the query joins more than the parent and the child the counter replaces";
		return NIL;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.join = join;
	(void) query_tree_walker(query, child_use_walker, &ctx,
							 QTW_IGNORE_JOINALIASES);
	if (ctx.outside)
	{
		*reason = "the query reads or filters child columns outside the aggregates";
		return NIL;
	}

	(void) collect_aggs_walker((Node *) query->targetList, &aggs);
	(void) collect_aggs_walker(query->havingQual, &aggs);
	foreach(lc, aggs)
	{
		Aggref	   *agg = lfirst(lc);
		char	   *fname = get_func_name(agg->aggfnoid);
		Oid			fnamespace = get_func_namespace(agg->aggfnoid);
		Var		   *arg;

		if (fnamespace != PG_CATALOG_NAMESPACE ||
			(strcmp(fname, "count") != 0 && strcmp(fname, "sum") != 0) ||
			agg->aggdistinct || agg->aggorder || agg->aggfilter ||
			agg->aggkind != AGGKIND_NORMAL)
		{
			*reason = "the query uses an aggregate other than count(*), count(col) or sum(col)";
			return NIL;
		}
		if (agg->aggstar)
			continue;
		arg = (Var *) strip_implicit_coercions((Node *) ((TargetEntry *) linitial(agg->args))->expr);
		if (list_length(agg->args) != 1 || !IsA(arg, Var) ||
			arg->varno != join->child_rti || arg->varlevelsup != 0 ||
			arg->varattno <= 0)
		{
			*reason = "an aggregate's argument is not a column of the child";
			return NIL;
		}
		if (!da_attnotnull(join->child, arg->varattno))
		{
			*reason = "an aggregated child column is nullable";
			return NIL;
		}
		/* a running sum is exact for integers and numeric only */
		if (strcmp(fname, "sum") == 0 &&
			arg->vartype != INT2OID && arg->vartype != INT4OID &&
			arg->vartype != INT8OID && arg->vartype != NUMERICOID)
		{
			*reason = "a sum over a type other than an integer or numeric cannot be kept exact";
			return NIL;
		}
	}
	return aggs;
}

/*
 * da_rewrite_counter
 *		The query once the parent keeps its counters: the parent alone,
 *		counter columns in place of the aggregates, childless parents
 *		filtered out (the inner join dropped them).
 *
 * colmap maps the parent's columns to the shadow's; aggs are the
 * aggregates of da_counter_aggregates and agg_attnos (an integer list) the
 * shadow columns holding them; count_attno is the children count.
 */
Query *
da_rewrite_counter(Query *query, DaFkJoin *join, Oid shadow, List *colmap,
				   List *aggs, List *agg_attnos, AttrNumber count_attno,
				   List **colnames, const char **reason)
{
	List	   *aggmap = NIL;
	ListCell   *lc1,
			   *lc2;
	Var		   *countvar;
	Oid			gtop;

	*reason = NULL;
	forboth(lc1, aggs, lc2, agg_attnos)
	{
		AggMap	   *m = palloc(sizeof(AggMap));

		m->agg = lfirst(lc1);
		m->newattno = lfirst_int(lc2);
		aggmap = lappend(aggmap, m);
	}

	remove_conjuncts_jointree((Node *) query->jointree, join->key_quals);
	flatten_join_vars(query);
	if (!rebuild_without(query, join->child_rti, NIL, reason))
		return NULL;

	/* HAVING becomes WHERE once every group is one parent row */
	if (query->havingQual)
	{
		add_to_where(query, list_make1(query->havingQual));
		query->havingQual = NULL;
	}
	query->groupClause = NIL;
	query->hasAggs = false;

	if (!map_query(query, colmap, aggmap, join->parent_rti))
	{
		*reason = "the query reads a column the counter candidate does not keep";
		return NULL;
	}

	/* childless parents were not in the inner join's result */
	countvar = makeVar(join->parent_rti, count_attno, INT8OID, -1,
					   InvalidOid, 0);
	gtop = OpernameGetOprid(list_make2(makeString("pg_catalog"), makeString(">")),
							INT8OID, INT8OID);
	add_to_where(query,
				 list_make1(make_opclause(gtop, BOOLOID, false,
										  (Expr *) countvar,
										  (Expr *) makeConst(INT8OID, -1, InvalidOid,
															 sizeof(int64), Int64GetDatum(0),
															 false, FLOAT8PASSBYVAL),
										  InvalidOid, InvalidOid)));
	point_rte_to_shadow(query, join->parent_rti, shadow, *colnames);
	return query;
}

/* ------------------------------------------------------------------------
 * matview
 * ------------------------------------------------------------------------ */

/* Does the tree hold a $n parameter, at any level? */
static bool
contains_param_walker(Node *node, void *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXTERN)
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, contains_param_walker, ctx, 0);
	return expression_tree_walker(node, contains_param_walker, ctx);
}

/* Does the query (any part of it) hold a $n parameter? */
static bool
query_has_params(Query *query)
{
	return query_tree_walker(query, contains_param_walker, NULL, 0);
}

/* The top-level entry whose expression is equal to expr, or NULL */
static TargetEntry *
tle_for_expr(List *tlist, Node *expr)
{
	ListCell   *lc;

	foreach(lc, tlist)
	{
		TargetEntry *tle = lfirst(lc);

		if (equal(tle->expr, expr))
			return tle;
	}
	return NULL;
}

/*
 * grouped_by_key
 *		Does the query group by every column of the primary key of var's
 *		relation?  Then var has one value per group.
 */
static bool
grouped_by_key(Query *query, Var *var)
{
	RangeTblEntry *rte = rt_fetch(var->varno, query->rtable);
	Relation	rel;
	Oid			pk;
	HeapTuple	tup;
	Form_pg_index index;
	bool		result = true;

	if (rte->rtekind != RTE_RELATION)
		return false;
	rel = table_open(rte->relid, AccessShareLock);
	pk = RelationGetPrimaryKeyIndex(rel);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(pk))
		return false;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk));
	if (!HeapTupleIsValid(tup))
		return false;
	index = (Form_pg_index) GETSTRUCT(tup);
	for (int k = 0; k < index->indnkeyatts && result; k++)
	{
		Var		   *keyvar = makeVar(var->varno, index->indkey.values[k],
									 InvalidOid, -1, InvalidOid, 0);
		ListCell   *lc;
		bool		found = false;

		foreach(lc, query->groupClause)
		{
			TargetEntry *tle = get_sortgroupclause_tle(lfirst(lc), query->targetList);
			Var		   *gv = (Var *) tle->expr;

			if (IsA(gv, Var) && gv->varno == keyvar->varno &&
				gv->varattno == keyvar->varattno && gv->varlevelsup == 0)
				found = true;
		}
		result = found;
	}
	ReleaseSysCache(tup);
	return result;
}

/* Group by var too (an output column) */
static void
add_group_column(Query *query, Var *var)
{
	RangeTblEntry *rte = rt_fetch(var->varno, query->rtable);
	TargetEntry *tle = tle_for_expr(query->targetList, (Node *) var);
	SortGroupClause *sgc = makeNode(SortGroupClause);
	Oid			sortop;
	Oid			eqop;
	bool		hashable;
	Index		ref = 0;
	ListCell   *lc;

	if (tle == NULL)
	{
		tle = makeTargetEntry((Expr *) copyObject(var),
							  list_length(query->targetList) + 1,
							  get_attname(rte->relid, var->varattno, false),
							  false);
		query->targetList = lappend(query->targetList, tle);
	}
	foreach(lc, query->targetList)
		ref = Max(ref, ((TargetEntry *) lfirst(lc))->ressortgroupref);
	tle->ressortgroupref = ref + 1;
	get_sort_group_operators(var->vartype, false, true, false,
							 &sortop, &eqop, NULL, &hashable);
	sgc->tleSortGroupRef = tle->ressortgroupref;
	sgc->eqop = eqop;
	sgc->sortop = sortop;
	sgc->nulls_first = false;
	sgc->hashable = hashable;
	query->groupClause = lappend(query->groupClause, sgc);
}

/*
 * da_matview_definition
 *		The materialized view a query would read: the query without its
 *		parameterized WHERE conjuncts (returned in *param_quals, to stay
 *		in the rewritten query), ORDER BY, LIMIT and OFFSET, with every
 *		column those need in its output.
 *
 * query is modified in place.  A conjunct with a parameter may stay
 * outside an aggregation only when its columns are grouping columns.
 */
Query *
da_matview_definition(Query *query, List **param_quals, const char **reason)
{
	DaQueryShape shape;
	ListCell   *lc;
	int			resno;

	*reason = NULL;
	*param_quals = NIL;
	da_query_shape(query, &shape);
	if (query->commandType != CMD_SELECT)
		*reason = "only SELECT can read a materialized view";
	else if (!shape.flat)
		*reason = "the query joins subqueries, functions or outer joins the rewrite does not handle";
	else if (list_length(shape.rtis) + list_length(shape.left_joins) < 2 &&
			 !query->hasAggs && query->groupClause == NIL)
		*reason = "the query neither joins nor aggregates";
	else if (query->rowMarks || query->distinctClause ||
			 query->hasWindowFuncs || query->groupingSets ||
			 query->limitOption == LIMIT_OPTION_WITH_TIES ||
			 query->hasTargetSRFs || query->cteList)
		*reason = "the query uses FOR UPDATE, DISTINCT, window functions, grouping sets, WITH TIES, set-returning functions or WITH";
	if (*reason)
		return NULL;

	/* left joins stay inside the view: only top conjuncts move out */
	flatten_join_vars(query);
	da_query_shape(query, &shape);
	foreach(lc, shape.conjuncts)
	{
		Node	   *qual = lfirst(lc);

		if (!contains_param_walker(qual, NULL))
			continue;
		if (checkExprHasSubLink(qual))
		{
			*reason = "a parameterized condition holds a sub-SELECT";
			return NULL;
		}
		*param_quals = lappend(*param_quals, qual);
	}
	if (*param_quals)
	{
		List	   *vars;

		remove_conjuncts_jointree((Node *) query->jointree, *param_quals);
		vars = pull_var_clause((Node *) *param_quals, 0);
		foreach(lc, vars)
		{
			Var		   *var = lfirst(lc);
			TargetEntry *tle = tle_for_expr(query->targetList, (Node *) var);

			if (query->hasAggs || query->groupClause != NIL)
			{
				if (tle != NULL && tle->ressortgroupref != 0 &&
					get_sortgroupref_clause_noerr(tle->ressortgroupref,
												  query->groupClause) != NULL)
					continue;
				if (!grouped_by_key(query, var))
				{
					*reason = "a parameterized condition filters a column the query does not group by";
					return NULL;
				}
				/* determined by the grouped key: grouping by it too is free */
				add_group_column(query, var);
			}
			else if (tle == NULL)
			{
				RangeTblEntry *rte = rt_fetch(var->varno, query->rtable);

				tle = makeTargetEntry((Expr *) copyObject(var),
									  list_length(query->targetList) + 1,
									  rte->rtekind == RTE_RELATION ?
									  get_attname(rte->relid, var->varattno, false) : NULL,
									  false);
				query->targetList = lappend(query->targetList, tle);
			}
		}
	}
	query->sortClause = NIL;
	query->limitCount = NULL;
	query->limitOffset = NULL;
	query->limitOption = LIMIT_OPTION_DEFAULT;
	if (query_has_params(query))
	{
		*reason = "the query has parameters outside WHERE conditions and LIMIT";
		return NULL;
	}

	/* every entry becomes an output column: junk ones are needed outside */
	resno = 0;
	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst(lc);

		tle->resjunk = false;
		tle->resno = ++resno;
	}
	return query;
}

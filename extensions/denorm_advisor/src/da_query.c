/*-------------------------------------------------------------------------
 *
 * da_query.c
 *	  Workload statements: parsing, generic-plan cost, joins along
 *	  foreign keys, and the SQL functions that expose them.
 *
 * A workload statement comes as text, often normalized by
 * pg_stat_statements ($1, $2 ... in place of constants).  It is parsed and
 * analysed with parse_analyze_varparams, which infers the parameters'
 * types, and rewritten (views expanded).  Its cost is the cost of its
 * generic plan: planned without parameter values, as a prepared statement
 * is under plan_cache_mode = force_generic_plan (binding NULLs instead
 * would give degenerate plans).
 *
 * The joins that matter are those of the top query level between two base
 * relations along a foreign key: child.fk = parent.key for every key
 * column, with the constraint's own equality operator, found among the
 * conjuncts of WHERE and of inner JOIN ... ON clauses, or alone in the ON
 * clause of child LEFT JOIN parent.  For each such join the analysis
 * records which columns of the parent the rest of the query reads and
 * whether anything but the child relates to the parent: that decides
 * whether copying those columns into the child makes the join disappear.
 *
 * Analysis needs no lock beyond the AccessShareLock parse analysis takes
 * (invariant I1) and reads no row.
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/denorm_advisor/src/da_query.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parsetree.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "rewrite/rewriteHandler.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "denorm_advisor.h"

PG_FUNCTION_INFO_V1(denorm_advisor_statement);
PG_FUNCTION_INFO_V1(denorm_advisor_fk_joins);

/*
 * workload_error_callback
 *		Point the cursor of a parse or analysis error into the workload
 *		statement, not into the SQL that called the advisor.
 */
static void
workload_error_callback(void *arg)
{
	const char *sql = (const char *) arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(sql);
	}
	errcontext("workload statement");
}

/*
 * raw_statement
 *		The one raw statement of a workload text.
 */
static RawStmt *
raw_statement(const char *sql)
{
	ErrorContextCallback errcallback;
	List	   *raw;

	errcallback.callback = workload_error_callback;
	errcallback.arg = unconstify(char *, sql);
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	raw = pg_parse_query(sql);
	error_context_stack = errcallback.previous;

	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a workload statement must be exactly one SQL statement"),
				 errdetail("The text holds %d statements.", list_length(raw)),
				 errhint("Add each statement of the workload on its own.")));
	return linitial_node(RawStmt, raw);
}

/*
 * unsafe_raw_walker
 *		Find in a raw parse tree what analysis or planning would turn into
 *		a lock stronger than ACCESS SHARE (a locking clause, a CTE that
 *		writes) or what a SELECT analysis cannot take (WHERE CURRENT OF, a
 *		SELECT ... INTO).  Returns the reason, or NULL.
 */
static bool
unsafe_raw_walker(Node *node, const char **reason)
{
	if (node == NULL)
		return false;
	if (IsA(node, SelectStmt))
	{
		SelectStmt *sel = (SelectStmt *) node;

		if (sel->lockingClause != NIL)
		{
			*reason = "statements that lock rows (FOR UPDATE/SHARE) are not analysed";
			return true;
		}
		if (sel->intoClause != NULL)
		{
			*reason = "SELECT ... INTO is not analysed";
			return true;
		}
	}
	else if (IsA(node, CommonTableExpr) &&
			 !IsA(((CommonTableExpr *) node)->ctequery, SelectStmt))
	{
		*reason = "statements with a data-modifying WITH query are not analysed";
		return true;
	}
	else if (IsA(node, CurrentOfExpr))
	{
		*reason = "WHERE CURRENT OF is not analysed";
		return true;
	}
	return raw_expression_tree_walker(node, unsafe_raw_walker, reason);
}

/*
 * check_views
 *		Refuse views whose definition locks rows: rewriting would take
 *		their tables in ROW SHARE mode.
 */
static void
check_views(Query *query)
{
	ListCell   *lc;

	foreach(lc, da_relations_of(query))
	{
		Oid			relid = lfirst_oid(lc);
		Relation	rel;
		Query	   *viewquery;

		if (get_rel_relkind(relid) != RELKIND_VIEW)
			continue;
		rel = table_open(relid, AccessShareLock);
		viewquery = get_view_query(rel);
		if (viewquery->rowMarks != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("view \"%s\" locks rows (FOR UPDATE/SHARE): statements reading it are not analysed",
							RelationGetRelationName(rel)),
					 errhint("denorm_advisor takes ACCESS SHARE locks only.")));
		check_views(viewquery);
		table_close(rel, AccessShareLock);
	}
}

/*
 * analyse_select
 *		Parse analysis and rewrite of a raw SELECT.  Analysis takes
 *		AccessShareLock on the relations read; statements that would take
 *		more are refused before (invariant I1).
 */
static Query *
analyse_select(RawStmt *raw, const char *sql, Oid **paramTypes,
			   int *numParams)
{
	Query	   *query;
	List	   *rewritten;
	ErrorContextCallback errcallback;
	const char *reason = NULL;

	if (unsafe_raw_walker(raw->stmt, &reason))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s", reason),
				 errhint("denorm_advisor analyses plain SELECT, INSERT, UPDATE, DELETE and MERGE statements, with ACCESS SHARE locks only.")));

	*paramTypes = NULL;
	*numParams = 0;
	errcallback.callback = workload_error_callback;
	errcallback.arg = unconstify(char *, sql);
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	query = parse_analyze_varparams(raw, sql, paramTypes, numParams, NULL);
	error_context_stack = errcallback.previous;
	if (query->commandType != CMD_SELECT || query->utilityStmt != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("only plain SELECT statements are analysed")));
	check_views(query);
	rewritten = pg_rewrite_query(query);
	if (list_length(rewritten) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the statement rewrites to %d queries", list_length(rewritten)),
				 errhint("Statements on relations with DO ALSO or DO INSTEAD rules cannot be costed.")));
	return linitial_node(Query, rewritten);
}

/*
 * da_parse_statement
 *		Parse, analyse and rewrite one workload SELECT.
 *
 * The text must be exactly one SELECT that rewrites to one query.
 * Parameter types are inferred.  Writes are described without parse
 * analysis (which would lock their target in ROW EXCLUSIVE mode): see
 * denorm_advisor_statement.
 */
Query *
da_parse_statement(const char *sql, Oid **paramTypes, int *numParams)
{
	RawStmt    *raw = raw_statement(sql);

	if (!IsA(raw->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("only a SELECT can be costed against a candidate"),
				 errhint("Writes enter the write-cost model through denorm_advisor._statement().")));
	return analyse_select(raw, sql, paramTypes, numParams);
}

/*
 * da_plan_cost
 *		Total cost of the generic plan of an analysed query.
 *
 * The query is copied: the planner scribbles on its input.  rows and width
 * (optional) get the estimates of the plan's top node.
 */
double
da_plan_cost(Query *query, const char *sql, double *rows, int *width)
{
	PlannedStmt *stmt;

	stmt = pg_plan_query(copyObject(query), sql, CURSOR_OPT_PARALLEL_OK, NULL);
	if (stmt->planTree == NULL)
		elog(ERROR, "a utility statement has no plan");
	if (rows)
		*rows = stmt->planTree->plan_rows;
	if (width)
		*width = stmt->planTree->plan_width;
	return stmt->planTree->total_cost;
}

/* ------------------------------------------------------------------------
 * The flattened top level of a query
 * ------------------------------------------------------------------------ */

/*
 * add_conjuncts
 *		Append the AND-ed parts of a qual to a list.
 */
static List *
add_conjuncts(List *list, Node *quals)
{
	if (quals == NULL)
		return list;
	if (is_andclause(quals))
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) quals)->args)
			list = add_conjuncts(list, lfirst(lc));
		return list;
	}
	return lappend(list, quals);
}

/* Is the range table entry a table (plain, partitioned) or matview? */
static bool
rti_is_base_relation(Query *query, Index rti)
{
	RangeTblEntry *rte = rt_fetch(rti, query->rtable);

	return rte->rtekind == RTE_RELATION &&
		(rte->relkind == RELKIND_RELATION ||
		 rte->relkind == RELKIND_MATVIEW ||
		 rte->relkind == RELKIND_PARTITIONED_TABLE);
}

/* Recursive part of da_query_shape: one join tree node */
static void
shape_walk(Query *query, Node *node, DaQueryShape *shape)
{
	if (node == NULL)
		return;
	if (IsA(node, RangeTblRef))
	{
		Index		rti = ((RangeTblRef *) node)->rtindex;

		if (rti_is_base_relation(query, rti))
			shape->rtis = lappend_int(shape->rtis, rti);
		else
			shape->flat = false;
	}
	else if (IsA(node, FromExpr))
	{
		FromExpr   *f = (FromExpr *) node;
		ListCell   *lc;

		foreach(lc, f->fromlist)
			shape_walk(query, lfirst(lc), shape);
		shape->conjuncts = add_conjuncts(shape->conjuncts, f->quals);
	}
	else if (IsA(node, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) node;

		if (j->jointype == JOIN_INNER)
		{
			shape_walk(query, j->larg, shape);
			shape_walk(query, j->rarg, shape);
			shape->conjuncts = add_conjuncts(shape->conjuncts, j->quals);
		}
		else if (j->jointype == JOIN_LEFT && IsA(j->rarg, RangeTblRef) &&
				 rti_is_base_relation(query,
									  ((RangeTblRef *) j->rarg)->rtindex))
		{
			shape_walk(query, j->larg, shape);
			shape->left_joins = lappend(shape->left_joins, j);
		}
		else
			shape->flat = false;
	}
	else
		shape->flat = false;
}

/*
 * da_query_shape
 *		Describe the top level of a query as base relations and conjuncts.
 *
 * "flat" means the join tree holds only base relations, inner joins and
 * LEFT JOINs whose nullable side is one base relation: then every inner
 * conjunct can be moved to WHERE without changing the result, which is
 * what the rewrites rely on.
 */
void
da_query_shape(Query *query, DaQueryShape *shape)
{
	memset(shape, 0, sizeof(*shape));
	shape->flat = true;
	shape_walk(query, (Node *) query->jointree, shape);
	if (query->setOperations != NULL)
		shape->flat = false;
}

/* ------------------------------------------------------------------------
 * Joins along foreign keys
 * ------------------------------------------------------------------------ */

/* Strip implicit casts that keep the value (binary-compatible relabels) */
static Node *
strip_relabel(Node *node)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node;
}

/*
 * qual_joins_columns
 *		Is qual "a.acol = b.bcol" (either order) with operator eqop or its
 *		commutator, for Vars of this query level?
 */
static bool
qual_joins_columns(Node *qual, Oid eqop, Index arti, AttrNumber acol,
				   Index brti, AttrNumber bcol)
{
	OpExpr	   *op;
	Var		   *l,
			   *r;

	if (!IsA(qual, OpExpr))
		return false;
	op = (OpExpr *) qual;
	if (list_length(op->args) != 2)
		return false;
	if (op->opno != eqop && op->opno != get_commutator(eqop))
		return false;
	l = (Var *) strip_relabel(linitial(op->args));
	r = (Var *) strip_relabel(lsecond(op->args));
	if (!IsA(l, Var) || !IsA(r, Var) || l->varlevelsup || r->varlevelsup)
		return false;
	if (l->varno == arti && l->varattno == acol &&
		r->varno == brti && r->varattno == bcol)
		return true;
	if (r->varno == arti && r->varattno == acol &&
		l->varno == brti && l->varattno == bcol)
		return true;
	return false;
}

/*
 * match_fk
 *		Find, among quals, one conjunct per key column of the foreign key
 *		fk between child_rti and parent_rti; NIL if any is missing.
 */
static List *
match_fk(ForeignKeyCacheInfo *fk, List *quals, Index child_rti,
		 Index parent_rti)
{
	List	   *found = NIL;

	for (int i = 0; i < fk->nkeys; i++)
	{
		ListCell   *lc;
		Node	   *hit = NULL;

		foreach(lc, quals)
		{
			if (qual_joins_columns(lfirst(lc), fk->conpfeqop[i],
								   child_rti, fk->conkey[i],
								   parent_rti, fk->confkey[i]))
			{
				hit = lfirst(lc);
				break;
			}
		}
		if (hit == NULL)
			return NIL;
		found = lappend(found, hit);
	}
	return found;
}

/* Context of the walker that records which columns a query reads */
typedef struct ColumnUseContext
{
	DaFkJoin   *join;
	int			depth;
} ColumnUseContext;

/*
 * column_use_walker
 *		Record the parent and child columns the query reads outside the
 *		join's key conjuncts, at every level (ctx->depth counts sub-SELECTs).
 */
static bool
column_use_walker(Node *node, ColumnUseContext *ctx)
{
	if (node == NULL)
		return false;
	if (list_member_ptr(ctx->join->key_quals, node))
		return false;			/* the join itself reads no payload */
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		if (var->varlevelsup != ctx->depth)
			return false;
		if (var->varno == ctx->join->parent_rti)
		{
			if (var->varattno <= 0)
				ctx->join->parent_whole_row = true;
			else
				ctx->join->parent_cols =
					bms_add_member(ctx->join->parent_cols,
								   var->varattno - FirstLowInvalidHeapAttributeNumber);
			if (ctx->depth > 0)
				ctx->join->parent_in_sublink = true;
		}
		else if (var->varno == ctx->join->child_rti && var->varattno > 0)
			ctx->join->child_cols =
				bms_add_member(ctx->join->child_cols,
							   var->varattno - FirstLowInvalidHeapAttributeNumber);
		return false;
	}
	if (IsA(node, Query))
	{
		bool		result;

		ctx->depth++;
		result = query_tree_walker((Query *) node, column_use_walker, ctx,
								   QTW_IGNORE_JOINALIASES);
		ctx->depth--;
		return result;
	}
	return expression_tree_walker(node, column_use_walker, ctx);
}

/*
 * describe_join
 *		Fill in what the rest of the query does with the parent.
 */
static void
describe_join(Query *query, DaQueryShape *shape, DaFkJoin *join)
{
	ColumnUseContext ctx;
	ListCell   *lc;

	ctx.join = join;
	ctx.depth = 0;
	(void) query_tree_walker(query, column_use_walker, &ctx,
							 QTW_IGNORE_JOINALIASES);

	/* does a conjunct relate the parent to a third relation? */
	foreach(lc, shape->conjuncts)
	{
		Node	   *qual = lfirst(lc);
		Bitmapset  *varnos;

		if (list_member_ptr(join->key_quals, qual))
			continue;
		varnos = pull_varnos(NULL, qual);
		if (bms_is_member(join->parent_rti, varnos))
		{
			varnos = bms_del_member(varnos, join->parent_rti);
			varnos = bms_del_member(varnos, join->child_rti);
			if (!bms_is_empty(varnos))
				join->parent_joined_elsewhere = true;
		}
	}
	foreach(lc, shape->left_joins)
	{
		JoinExpr   *j = lfirst(lc);

		if (((RangeTblRef *) j->rarg)->rtindex == join->parent_rti)
			continue;
		if (bms_is_member(join->parent_rti, pull_varnos(NULL, j->quals)))
			join->parent_joined_elsewhere = true;
	}
}

/*
 * fk_joins_between
 *		The joins along the foreign keys of child_rti's relation that
 *		reference parent_rti's relation.
 */
static List *
fk_joins_between(Query *query, DaQueryShape *shape, Index child_rti,
				 Index parent_rti, List *quals, JoinType jointype)
{
	RangeTblEntry *crte = rt_fetch(child_rti, query->rtable);
	RangeTblEntry *prte = rt_fetch(parent_rti, query->rtable);
	Relation	rel;
	List	   *fks;
	List	   *result = NIL;
	ListCell   *lc;

	/* parse analysis holds AccessShareLock on both already */
	rel = table_open(crte->relid, NoLock);
	fks = RelationGetFKeyList(rel);
	foreach(lc, fks)
	{
		ForeignKeyCacheInfo *fk = lfirst(lc);
		List	   *keyquals;
		DaFkJoin   *join;

		if (fk->confrelid != prte->relid)
			continue;
		keyquals = match_fk(fk, quals, child_rti, parent_rti);
		if (keyquals == NIL)
			continue;
		join = palloc0(sizeof(DaFkJoin));
		join->conoid = fk->conoid;
		join->child = crte->relid;
		join->parent = prte->relid;
		join->child_rti = child_rti;
		join->parent_rti = parent_rti;
		join->nkeys = fk->nkeys;
		memcpy(join->child_keys, fk->conkey, sizeof(AttrNumber) * fk->nkeys);
		memcpy(join->parent_keys, fk->confkey, sizeof(AttrNumber) * fk->nkeys);
		join->jointype = jointype;
		join->key_quals = keyquals;
		describe_join(query, shape, join);
		result = lappend(result, join);
	}
	table_close(rel, NoLock);
	return result;
}

/*
 * da_find_fk_joins
 *		Every join of the top level of query along a foreign key.
 */
List *
da_find_fk_joins(Query *query)
{
	DaQueryShape shape;
	List	   *result = NIL;
	ListCell   *lc1,
			   *lc2;

	if (query->commandType != CMD_SELECT)
		return NIL;
	da_query_shape(query, &shape);

	/* inner joins: any ordered pair of base relations */
	foreach(lc1, shape.rtis)
	{
		foreach(lc2, shape.rtis)
		{
			Index		c = lfirst_int(lc1);
			Index		p = lfirst_int(lc2);

			if (c == p)
				continue;
			result = list_concat(result,
								 fk_joins_between(query, &shape, c, p,
												  shape.conjuncts,
												  JOIN_INNER));
		}
	}

	/* child LEFT JOIN parent ON <key> */
	foreach(lc1, shape.left_joins)
	{
		JoinExpr   *j = lfirst(lc1);
		Index		p = ((RangeTblRef *) j->rarg)->rtindex;
		List	   *onquals = add_conjuncts(NIL, j->quals);

		foreach(lc2, shape.rtis)
		{
			Index		c = lfirst_int(lc2);

			result = list_concat(result,
								 fk_joins_between(query, &shape, c, p,
												  onquals, JOIN_LEFT));
		}
	}
	return result;
}

/*
 * da_attnotnull
 *		Is the column declared NOT NULL?
 */
bool
da_attnotnull(Oid relid, AttrNumber attno)
{
	HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
									  Int16GetDatum(attno));
	bool		result = false;

	if (HeapTupleIsValid(tup))
	{
		result = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
		ReleaseSysCache(tup);
	}
	return result;
}

/*
 * da_is_key_qual
 *		Is qual one of the conjuncts that make up the join?
 */
bool
da_is_key_qual(DaFkJoin *join, Node *qual)
{
	return list_member_ptr(join->key_quals, qual);
}

/* ------------------------------------------------------------------------
 * SQL functions
 * ------------------------------------------------------------------------ */

/* Column names of a relation for a set of attnos (join's bitmap encoding) */
static Datum
column_names(Oid relid, Bitmapset *cols)
{
	ArrayBuildState *astate = NULL;
	int			x = -1;

	while ((x = bms_next_member(cols, x)) >= 0)
	{
		AttrNumber	attno = x + FirstLowInvalidHeapAttributeNumber;

		astate = accumArrayResult(astate,
								  CStringGetTextDatum(get_attname(relid, attno, false)),
								  false, TEXTOID, CurrentMemoryContext);
	}
	if (astate == NULL)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	return makeArrayResult(astate, CurrentMemoryContext);
}

/* Collect the relations of every range table, at every level */
static bool
relations_walker(Node *node, List **relids)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION)
			*relids = list_append_unique_oid(*relids, rte->relid);
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, relations_walker, relids,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, relations_walker, relids);
}

/* The OIDs of the relations a query reads, at every level */
List *
da_relations_of(Query *query)
{
	List	   *relids = NIL;

	(void) query_tree_walker(query, relations_walker, &relids,
							 QTW_EXAMINE_RTES_BEFORE);
	return relids;
}

/*
 * relations_read
 *		Every relation a query reads, at every level (sub-SELECTs, CTEs;
 *		views are expanded): the caller must be able to read them all.
 */
static Datum
relations_read(Query *query)
{
	ArrayBuildState *reads = NULL;
	List	   *relids = da_relations_of(query);
	ListCell   *lc;

	foreach(lc, relids)
		reads = accumArrayResult(reads, ObjectIdGetDatum(lfirst_oid(lc)), false,
								 REGCLASSOID, CurrentMemoryContext);
	if (reads)
		return makeArrayResult(reads, CurrentMemoryContext);
	return PointerGetDatum(construct_empty_array(REGCLASSOID));
}

/* A raw "SELECT 1 FROM from WHERE where" */
static SelectStmt *
counting_select(List *from, Node *where, WithClause *with)
{
	SelectStmt *sel = makeNode(SelectStmt);
	ResTarget  *rt = makeNode(ResTarget);
	A_Const    *one = makeNode(A_Const);

	one->val.ival.type = T_Integer;
	one->val.ival.ival = 1;
	one->location = -1;
	rt->val = (Node *) one;
	rt->location = -1;
	sel->targetList = list_make1(rt);
	sel->fromClause = from;
	sel->whereClause = where;
	sel->withClause = with;
	return sel;
}

/*
 * describe_write
 *		The _statement() row of an INSERT, UPDATE, DELETE or MERGE, without
 *		parse analysis of the write itself, which would lock its target in
 *		ROW EXCLUSIVE mode (invariant I1): the target is looked up by name
 *		without a lock, the columns set are read from the raw tree, and the
 *		rows written per execution are the estimate of the SELECT of the
 *		rows the statement finds (analysed with ACCESS SHARE locks).
 */
static void
describe_write(RawStmt *raw, const char *sql, Datum *values, bool *nulls)
{
	Node	   *stmt = raw->stmt;
	RangeVar   *target;
	List	   *setcols = NIL;
	bool		allcols = false;
	SelectStmt *finder = NULL;
	double		rows = 1;
	double		cost = 0;
	int			width = 0;
	Oid			relid;
	Bitmapset  *cols = NULL;
	ListCell   *lc;
	Datum		reads;

	{
		const char *reason = NULL;

		if (unsafe_raw_walker(stmt, &reason))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s", reason),
					 errhint("denorm_advisor analyses plain SELECT, INSERT, UPDATE, DELETE and MERGE statements, with ACCESS SHARE locks only.")));
	}
	switch (nodeTag(stmt))
	{
		case T_InsertStmt:
			{
				InsertStmt *ins = (InsertStmt *) stmt;
				SelectStmt *src = (SelectStmt *) ins->selectStmt;

				values[0] = CStringGetTextDatum("INSERT");
				target = ins->relation;
				if (ins->cols)
					setcols = ins->cols;
				else
					allcols = true;
				if (src == NULL)
					rows = 1;	/* DEFAULT VALUES */
				else if (src->valuesLists)
					rows = list_length(src->valuesLists);
				else
				{
					finder = copyObject(src);
					if (finder->withClause == NULL)
						finder->withClause = ins->withClause;
				}
				break;
			}
		case T_UpdateStmt:
			{
				UpdateStmt *upd = (UpdateStmt *) stmt;

				values[0] = CStringGetTextDatum("UPDATE");
				target = upd->relation;
				setcols = upd->targetList;
				finder = counting_select(lcons(upd->relation, list_copy(upd->fromClause)),
										 upd->whereClause, upd->withClause);
				break;
			}
		case T_DeleteStmt:
			{
				DeleteStmt *del = (DeleteStmt *) stmt;

				values[0] = CStringGetTextDatum("DELETE");
				target = del->relation;
				finder = counting_select(lcons(del->relation, list_copy(del->usingClause)),
										 del->whereClause, del->withClause);
				break;
			}
		default:
			{
				MergeStmt  *merge = (MergeStmt *) stmt;

				values[0] = CStringGetTextDatum("MERGE");
				target = merge->relation;
				allcols = true;
				finder = counting_select(list_make1(merge->sourceRelation), NULL,
										 merge->withClause);
				break;
			}
	}

	relid = RangeVarGetRelid(target, NoLock, false);
	if (allcols)
	{
		HeapTuple	tup;

		for (AttrNumber attno = 1;; attno++)
		{
			tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attno));
			if (!HeapTupleIsValid(tup))
				break;
			if (!((Form_pg_attribute) GETSTRUCT(tup))->attisdropped)
				cols = bms_add_member(cols, attno - FirstLowInvalidHeapAttributeNumber);
			ReleaseSysCache(tup);
		}
	}
	foreach(lc, setcols)
	{
		ResTarget  *rt = lfirst(lc);
		AttrNumber	attno = get_attnum(relid, rt->name);

		if (attno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							rt->name, get_rel_name(relid))));
		cols = bms_add_member(cols, attno - FirstLowInvalidHeapAttributeNumber);
	}

	if (finder)
	{
		RawStmt    *fraw = makeNode(RawStmt);
		Oid		   *paramTypes;
		int			numParams;
		Query	   *query;

		fraw->stmt = (Node *) finder;
		fraw->stmt_location = raw->stmt_location;
		fraw->stmt_len = raw->stmt_len;
		query = analyse_select(fraw, sql, &paramTypes, &numParams);
		cost = da_plan_cost(query, sql, &rows, &width);
		reads = relations_read(query);
	}
	else
		reads = PointerGetDatum(construct_empty_array(REGCLASSOID));

	values[1] = Float8GetDatum(cost);
	values[2] = Float8GetDatum(Max(rows, 1.0));
	values[3] = Int32GetDatum(width);
	values[4] = ObjectIdGetDatum(relid);
	values[5] = column_names(relid, cols);
	values[6] = reads;
}

/*
 * denorm_advisor._statement(sql text)
 *		One row describing a workload statement: command, generic-plan
 *		cost and rows, the table it writes and the columns it sets, and the
 *		relations it reads.
 */
Datum
denorm_advisor_statement(PG_FUNCTION_ARGS)
{
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	RawStmt    *raw = raw_statement(sql);
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, 0, sizeof(nulls));

	if (IsA(raw->stmt, SelectStmt))
	{
		Oid		   *paramTypes;
		int			numParams;
		Query	   *query = analyse_select(raw, sql, &paramTypes, &numParams);
		double		rows;
		int			width;

		values[0] = CStringGetTextDatum("SELECT");
		values[1] = Float8GetDatum(da_plan_cost(query, sql, &rows, &width));
		values[2] = Float8GetDatum(rows);
		values[3] = Int32GetDatum(width);
		nulls[4] = nulls[5] = true;
		values[6] = relations_read(query);
	}
	else if (IsA(raw->stmt, InsertStmt) || IsA(raw->stmt, UpdateStmt) ||
			 IsA(raw->stmt, DeleteStmt) || IsA(raw->stmt, MergeStmt))
		describe_write(raw, sql, values, nulls);
	else
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a workload statement must be SELECT, INSERT, UPDATE, DELETE or MERGE"),
				 errhint("Utility statements (DDL, COPY, ...) are not part of the workload the advisor costs.")));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * denorm_advisor._fk_joins(sql text)
 *		One row per join of a SELECT along a foreign key: the constraint,
 *		child and parent, the join type, the parent's columns the query
 *		reads besides the key, and whether copying them into the child
 *		would make the join disappear (with the reason when not).
 */
Datum
denorm_advisor_fk_joins(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid		   *paramTypes;
	int			numParams;
	Query	   *query;
	List	   *joins;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	query = da_parse_statement(sql, &paramTypes, &numParams);
	joins = da_find_fk_joins(query);

	foreach(lc, joins)
	{
		DaFkJoin   *join = lfirst(lc);
		Datum		values[9];
		bool		nulls[9];
		const char *reason = NULL;
		const char *counter_reason = NULL;
		List	   *aggs;
		Bitmapset  *summed = NULL;
		ListCell   *lc2;
		DaQueryShape shape;

		memset(nulls, 0, sizeof(nulls));
		values[0] = ObjectIdGetDatum(join->conoid);
		values[1] = ObjectIdGetDatum(join->child);
		values[2] = ObjectIdGetDatum(join->parent);
		values[3] = CStringGetTextDatum(join->jointype == JOIN_INNER ? "inner" : "left");
		/* the key itself is in the child already */
		{
			Bitmapset  *payload = bms_copy(join->parent_cols);

			for (int i = 0; i < join->nkeys; i++)
				payload = bms_del_member(payload,
										 join->parent_keys[i] - FirstLowInvalidHeapAttributeNumber);
			values[4] = column_names(join->parent, payload);
			if (bms_is_empty(payload) && !join->parent_whole_row)
				join->parent_cols = NULL;	/* nothing to copy */
		}

		da_query_shape(query, &shape);
		if (!shape.flat)
			reason = "the query joins subqueries, functions or outer joins the rewrite does not handle";
		else if (join->parent_whole_row)
			reason = "the query reads the whole parent row or a system column";
		else if (join->parent_joined_elsewhere)
			reason = "the parent is joined to other relations too";
		else if (bms_is_empty(join->parent_cols))
			reason = "the query reads no parent column besides the key";
		else if (query->rowMarks != NIL)
			reason = "the query locks rows (FOR UPDATE/SHARE)";
		values[5] = BoolGetDatum(reason == NULL);
		if (reason)
			values[6] = CStringGetTextDatum(reason);
		else
			nulls[6] = true;

		/* would a counter on the parent replace the join and aggregates? */
		aggs = da_counter_aggregates(query, join, &counter_reason);
		foreach(lc2, aggs)
		{
			Aggref	   *agg = lfirst(lc2);
			Var		   *arg;

			if (agg->aggstar ||
				strcmp(get_func_name(agg->aggfnoid), "sum") != 0)
				continue;
			arg = (Var *) strip_implicit_coercions((Node *) ((TargetEntry *) linitial(agg->args))->expr);
			summed = bms_add_member(summed, arg->varattno - FirstLowInvalidHeapAttributeNumber);
		}
		if (counter_reason == NULL)
		{
			values[7] = column_names(join->child, summed);
			nulls[8] = true;
		}
		else
		{
			nulls[7] = true;
			values[8] = CStringGetTextDatum(counter_reason);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

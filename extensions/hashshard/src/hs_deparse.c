/*-------------------------------------------------------------------------
 *
 * hs_deparse.c
 *	  Which expressions can run on a node, and their SQL text.
 *
 * An expression is shippable when every object it names is built in (oid
 * below FirstGenbkiObjectId, so it exists with the same meaning on every
 * node), every function and operator is immutable, and every collation is
 * the default one (nodes are assumed to use the coordinator's default
 * collation, as documented).  Everything printed is qualified with its
 * schema, because the remote session's search_path is pg_catalog only.
 *
 * Relations are aliased r<relid> (their index in the planner's range
 * table), so one printer serves scans, joins and aggregates.
 *
 * Constants and parameters alike are printed as markers (HS_PARAM_OPEN n
 * HS_PARAM_CLOSE, shown as $n): when the query is
 * sent (hs_conn.c) their values, printed in the transmission modes (ISO
 * dates, postgres intervals, exact floats) whatever the session's DateStyle,
 * go either as the parameters of a statement prepared once per connection
 * on the node (the same text serves every value: the node parses and plans
 * it once), or, when the query must follow other commands in the same round
 * trip (opening the remote transaction), as typed literals ('...'::type).
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/hashshard/src/hs_deparse.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "hashshard.h"

typedef struct ShipCtx
{
	PlannerInfo *root;
	RelOptInfo *rel;
	bool		upper;
	bool		partial;
	bool		ok;
} ShipCtx;

static bool ship_walker(Node *node, ShipCtx *ctx);
static void deparse_op_name(StringInfo buf, Oid opno);
static void deparse_func_name(StringInfo buf, Oid funcid);
static void deparse_aggref(HsDeparseCtx *ctx, Aggref *agg);

/*
 * hs_is_builtin
 *		Objects created by initdb have the same oid and meaning everywhere.
 */
bool
hs_is_builtin(Oid objectid)
{
	return objectid < FirstGenbkiObjectId;
}

static bool
collation_ok(Oid collid)
{
	return collid == InvalidOid || collid == DEFAULT_COLLATION_OID;
}

/*
 * hs_partial_agg_kind
 *		How a partial aggregate's state is computed on a node: 1 when the
 *		state is the aggregate's own result (no final function, state not
 *		internal: count, sum of integers and floats, min, max, bool_and...),
 *		2 for avg over int2/int4 (int8[] {count, sum}), 3 for avg over
 *		float4/float8 (float8[] {N, Sx, Sxx}); 0: not shippable.
 */
static int
hs_partial_agg_kind(Aggref *agg)
{
	HeapTuple	tup;
	Form_pg_aggregate aggform;
	int			kind = 0;

	tup = SearchSysCache1(AGGFNOID, ObjectIdGetDatum(agg->aggfnoid));
	if (!HeapTupleIsValid(tup))
		return 0;
	aggform = (Form_pg_aggregate) GETSTRUCT(tup);
	if (aggform->aggkind == AGGKIND_NORMAL && agg->aggdistinct == NIL &&
		agg->aggorder == NIL)
	{
		if (aggform->aggfinalfn == InvalidOid &&
			aggform->aggtranstype != INTERNALOID &&
			OidIsValid(aggform->aggcombinefn))
			kind = 1;
		else if (aggform->aggtranstype == INT8ARRAYOID &&
				 strcmp(get_func_name(agg->aggfnoid), "avg") == 0 &&
				 (linitial_oid(agg->aggargtypes) == INT4OID ||
				  linitial_oid(agg->aggargtypes) == INT2OID))
			kind = 2;
		else if (aggform->aggtranstype == FLOAT8ARRAYOID &&
				 strcmp(get_func_name(agg->aggfnoid), "avg") == 0 &&
				 (linitial_oid(agg->aggargtypes) == FLOAT8OID ||
				  linitial_oid(agg->aggargtypes) == FLOAT4OID))
			kind = 3;
	}
	ReleaseSysCache(tup);
	return kind;
}

static bool
func_ok(Oid funcid)
{
	return hs_is_builtin(funcid) && func_volatile(funcid) == PROVOLATILE_IMMUTABLE;
}

static bool
ship_walker(Node *node, ShipCtx *ctx)
{
	if (node == NULL || !ctx->ok)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
			{
				Var		   *v = (Var *) node;

				if (v->varlevelsup != 0 ||
					!bms_is_member(v->varno, ctx->rel->relids) ||
					!collation_ok(v->varcollid) || !hs_is_builtin(v->vartype))
					ctx->ok = false;
				/* system columns other than ctid are not shipped */
				if (v->varattno < 0 && v->varattno != SelfItemPointerAttributeNumber)
					ctx->ok = false;
				/* whole-row references are not shipped */
				if (v->varattno == 0)
					ctx->ok = false;
				return false;
			}
		case T_Const:
			{
				Const	   *c = (Const *) node;

				if (!hs_is_builtin(c->consttype) || !collation_ok(c->constcollid))
					ctx->ok = false;
				return false;
			}
		case T_Param:
			{
				Param	   *p = (Param *) node;

				if ((p->paramkind != PARAM_EXTERN && p->paramkind != PARAM_EXEC) ||
					!hs_is_builtin(p->paramtype) || !collation_ok(p->paramcollid))
					ctx->ok = false;
				return false;
			}
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			{
				OpExpr	   *o = (OpExpr *) node;

				if (!hs_is_builtin(o->opno) || !func_ok(get_opcode(o->opno)) ||
					!collation_ok(o->inputcollid) || !collation_ok(o->opcollid))
					ctx->ok = false;
				break;
			}
		case T_ScalarArrayOpExpr:
			{
				ScalarArrayOpExpr *o = (ScalarArrayOpExpr *) node;

				if (!hs_is_builtin(o->opno) || !func_ok(get_opcode(o->opno)) ||
					!collation_ok(o->inputcollid))
					ctx->ok = false;
				break;
			}
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) node;

				if (!func_ok(f->funcid) || !collation_ok(f->inputcollid) ||
					!collation_ok(f->funccollid) || f->funcretset)
					ctx->ok = false;
				break;
			}
		case T_BoolExpr:
		case T_List:
			break;
		case T_NullTest:
			if (((NullTest *) node)->argisrow)
				ctx->ok = false;
			break;
		case T_BooleanTest:
			break;
		case T_RelabelType:
			{
				RelabelType *r = (RelabelType *) node;

				if (!hs_is_builtin(r->resulttype) || !collation_ok(r->resultcollid))
					ctx->ok = false;
				break;
			}
		case T_ArrayExpr:
			{
				ArrayExpr  *a = (ArrayExpr *) node;

				if (!hs_is_builtin(a->array_typeid) || a->multidims ||
					!collation_ok(a->array_collid))
					ctx->ok = false;
				break;
			}
		case T_CoalesceExpr:
			if (!hs_is_builtin(((CoalesceExpr *) node)->coalescetype) ||
				!collation_ok(((CoalesceExpr *) node)->coalescecollid))
				ctx->ok = false;
			break;
		case T_Aggref:
			{
				Aggref	   *agg = (Aggref *) node;

				if (!ctx->upper || agg->agglevelsup != 0 ||
					!func_ok(agg->aggfnoid) ||
					!collation_ok(agg->inputcollid) ||
					agg->aggorder != NIL || agg->aggdirectargs != NIL ||
					agg->aggvariadic)
				{
					ctx->ok = false;
					return false;
				}
				if (ctx->partial && hs_partial_agg_kind(agg) == 0)
				{
					ctx->ok = false;
					return false;
				}
				/* the arguments: TargetEntry list, and the filter */
				{
					ListCell   *lc;

					foreach(lc, agg->args)
					{
						TargetEntry *te = lfirst(lc);

						if (ship_walker((Node *) te->expr, ctx))
							return true;
					}
				}
				return ship_walker((Node *) agg->aggfilter, ctx);
			}
		default:
			ctx->ok = false;
			return false;
	}
	return expression_tree_walker(node, ship_walker, ctx);
}

/*
 * hs_is_shippable
 *		Can the expression, over relation rel, run on the node?
 */
bool
hs_is_shippable(PlannerInfo *root, RelOptInfo *rel, Expr *expr, bool upper,
				bool partial)
{
	ShipCtx		ctx;

	ctx.root = root;
	ctx.rel = rel;
	ctx.upper = upper;
	ctx.partial = partial;
	ctx.ok = true;
	(void) ship_walker((Node *) expr, &ctx);
	return ctx.ok;
}

/* ------------------------------------------------------------------------
 * Printing
 * ------------------------------------------------------------------------ */

static void
deparse_type(StringInfo buf, Oid type, int32 typmod)
{
	appendStringInfoString(buf,
						   format_type_extended(type, typmod,
												FORMAT_TYPE_FORCE_QUALIFY |
												FORMAT_TYPE_TYPEMOD_GIVEN));
}

/*
 * hs_output_value
 *		A value's text in the transmission modes: ISO dates, postgres
 *		intervals, floats that read back exactly.  The three output settings
 *		are switched directly (restored even on error) rather than through
 *		the GUC machinery, which would cost a nest level and report
 *		DateStyle to the client on every value.
 */
char *
hs_output_value(FmgrInfo *flinfo, Datum value)
{
	int			save_datestyle = DateStyle;
	int			save_intervalstyle = IntervalStyle;
	int			save_float = extra_float_digits;
	char	   *str;

	if (DateStyle == USE_ISO_DATES && IntervalStyle == INTSTYLE_POSTGRES &&
		extra_float_digits >= 3)
		return OutputFunctionCall(flinfo, value);
	PG_TRY();
	{
		DateStyle = USE_ISO_DATES;
		IntervalStyle = INTSTYLE_POSTGRES;
		extra_float_digits = 3;
		str = OutputFunctionCall(flinfo, value);
	}
	PG_FINALLY();
	{
		DateStyle = save_datestyle;
		IntervalStyle = save_intervalstyle;
		extra_float_digits = save_float;
	}
	PG_END_TRY();
	return str;
}

/*
 * hs_deparse_literal
 *		A typed literal, printed in the transmission modes.
 */
void
hs_deparse_literal(StringInfo buf, Datum value, Oid type, bool isnull)
{
	Oid			outfunc;
	bool		isvarlena;
	char	   *str;
	FmgrInfo	flinfo;

	if (isnull)
	{
		appendStringInfoString(buf, "NULL::");
		deparse_type(buf, type, -1);
		return;
	}
	getTypeOutputInfo(type, &outfunc, &isvarlena);
	fmgr_info(outfunc, &flinfo);
	str = hs_output_value(&flinfo, value);
	appendStringInfoString(buf, quote_literal_cstr(str));
	appendStringInfoString(buf, "::");
	deparse_type(buf, type, -1);
	pfree(str);
}

static void
deparse_op_name(StringInfo buf, Oid opno)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	Form_pg_operator op;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opno);
	op = (Form_pg_operator) GETSTRUCT(tup);
	appendStringInfo(buf, "OPERATOR(%s.%s)",
					 quote_identifier(get_namespace_name(op->oprnamespace)),
					 NameStr(op->oprname));
	ReleaseSysCache(tup);
}

static void
deparse_func_name(StringInfo buf, Oid funcid)
{
	appendStringInfo(buf, "%s.%s",
					 quote_identifier(get_namespace_name(get_func_namespace(funcid))),
					 quote_identifier(get_func_name(funcid)));
}

/*
 * hs_deparse_column
 *		A column of a relation, by name (remote columns carry local names).
 */
void
hs_deparse_column(StringInfo buf, Relation rel, int attnum)
{
	if (attnum == SelfItemPointerAttributeNumber)
		appendStringInfoString(buf, "ctid");
	else
		appendStringInfoString(buf,
							   quote_identifier(NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname)));
}

/*
 * hs_table_option
 *		A foreign partition's option, or dflt when it has none.
 */
static const char *
hs_table_option(Relation rel, const char *name, const char *dflt)
{
	ListCell   *lc;

	foreach(lc, GetForeignTable(RelationGetRelid(rel))->options)
	{
		DefElem    *d = lfirst(lc);

		if (strcmp(d->defname, name) == 0)
			return defGetString(d);
	}
	return dflt;
}

/*
 * hs_remote_schema / hs_remote_table
 *		The remote table of a foreign partition (its options; by default
 *		the partition's own schema and name).
 */
const char *
hs_remote_schema(Relation rel)
{
	return hs_table_option(rel, "schema_name",
						   get_namespace_name(RelationGetNamespace(rel)));
}

const char *
hs_remote_table(Relation rel)
{
	return hs_table_option(rel, "table_name", RelationGetRelationName(rel));
}

void
hs_deparse_relation(StringInfo buf, Relation rel)
{
	appendStringInfo(buf, "%s.%s", quote_identifier(hs_remote_schema(rel)),
					 quote_identifier(hs_remote_table(rel)));
}

static void
deparse_var(HsDeparseCtx *ctx, Var *v)
{
	RangeTblEntry *rte = planner_rt_fetch(v->varno, ctx->root);

	appendStringInfo(ctx->buf, "r%d.", v->varno);
	if (v->varattno == SelfItemPointerAttributeNumber)
		appendStringInfoString(ctx->buf, "ctid");
	else
		appendStringInfoString(ctx->buf,
							   quote_identifier(get_attname(rte->relid, v->varattno, false)));
}

static void
deparse_param(HsDeparseCtx *ctx, Expr *p)
{
	int			n = 1;
	ListCell   *lc;

	Assert(ctx->params != NULL);
	foreach(lc, *ctx->params)
	{
		if (equal(lfirst(lc), p))
			break;
		n++;
	}
	if (lc == NULL)
		*ctx->params = lappend(*ctx->params, p);
	appendStringInfo(ctx->buf, "%c%d%c", HS_PARAM_OPEN, n, HS_PARAM_CLOSE);
}

static void
deparse_list(HsDeparseCtx *ctx, List *args, const char *sep)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, args)
	{
		if (!first)
			appendStringInfoString(ctx->buf, sep);
		first = false;
		hs_deparse_expr(ctx, lfirst(lc));
	}
}

/*
 * hs_deparse_expr
 *		Print a shippable expression (hs_is_shippable said yes).
 */
void
hs_deparse_expr(HsDeparseCtx *ctx, Expr *expr)
{
	StringInfo	buf = ctx->buf;

	switch (nodeTag(expr))
	{
		case T_Var:
			deparse_var(ctx, (Var *) expr);
			break;
		case T_Const:
			/* a parameter too: the text stays the same for other values */
			deparse_param(ctx, expr);
			break;
		case T_Param:
			deparse_param(ctx, expr);
			break;
		case T_OpExpr:
		case T_NullIfExpr:
		case T_DistinctExpr:
			{
				OpExpr	   *o = (OpExpr *) expr;

				if (IsA(expr, NullIfExpr))
				{
					appendStringInfoString(buf, "NULLIF(");
					deparse_list(ctx, o->args, ", ");
					appendStringInfoChar(buf, ')');
					break;
				}
				appendStringInfoChar(buf, '(');
				if (list_length(o->args) == 2)
				{
					hs_deparse_expr(ctx, linitial(o->args));
					appendStringInfoChar(buf, ' ');
					if (IsA(expr, DistinctExpr))
						appendStringInfoString(buf, "IS DISTINCT FROM");
					else
						deparse_op_name(buf, o->opno);
					appendStringInfoChar(buf, ' ');
					hs_deparse_expr(ctx, lsecond(o->args));
				}
				else
				{
					deparse_op_name(buf, o->opno);
					appendStringInfoChar(buf, ' ');
					hs_deparse_expr(ctx, linitial(o->args));
				}
				appendStringInfoChar(buf, ')');
				break;
			}
		case T_ScalarArrayOpExpr:
			{
				ScalarArrayOpExpr *o = (ScalarArrayOpExpr *) expr;

				appendStringInfoChar(buf, '(');
				hs_deparse_expr(ctx, linitial(o->args));
				appendStringInfoChar(buf, ' ');
				deparse_op_name(buf, o->opno);
				appendStringInfoString(buf, o->useOr ? " ANY (" : " ALL (");
				hs_deparse_expr(ctx, lsecond(o->args));
				appendStringInfoString(buf, "))");
				break;
			}
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) expr;
				ListCell   *lc;
				bool		first = true;

				deparse_func_name(buf, f->funcid);
				appendStringInfoChar(buf, '(');
				foreach(lc, f->args)
				{
					if (!first)
						appendStringInfoString(buf, ", ");
					first = false;
					if (f->funcvariadic && lnext(f->args, lc) == NULL)
						appendStringInfoString(buf, "VARIADIC ");
					hs_deparse_expr(ctx, lfirst(lc));
				}
				appendStringInfoChar(buf, ')');
				break;
			}
		case T_BoolExpr:
			{
				BoolExpr   *b = (BoolExpr *) expr;

				appendStringInfoChar(buf, '(');
				if (b->boolop == NOT_EXPR)
				{
					appendStringInfoString(buf, "NOT ");
					hs_deparse_expr(ctx, linitial(b->args));
				}
				else
					deparse_list(ctx, b->args,
								 b->boolop == AND_EXPR ? " AND " : " OR ");
				appendStringInfoChar(buf, ')');
				break;
			}
		case T_NullTest:
			{
				NullTest   *n = (NullTest *) expr;

				appendStringInfoChar(buf, '(');
				hs_deparse_expr(ctx, n->arg);
				appendStringInfoString(buf, n->nulltesttype == IS_NULL ?
									   " IS NULL)" : " IS NOT NULL)");
				break;
			}
		case T_BooleanTest:
			{
				BooleanTest *b = (BooleanTest *) expr;
				static const char *const names[] = {
					" IS TRUE)", " IS NOT TRUE)", " IS FALSE)",
					" IS NOT FALSE)", " IS UNKNOWN)", " IS NOT UNKNOWN)"
				};

				appendStringInfoChar(buf, '(');
				hs_deparse_expr(ctx, b->arg);
				appendStringInfoString(buf, names[b->booltesttype]);
				break;
			}
		case T_RelabelType:
			{
				RelabelType *r = (RelabelType *) expr;

				appendStringInfoChar(buf, '(');
				hs_deparse_expr(ctx, r->arg);
				appendStringInfoString(buf, ")::");
				deparse_type(buf, r->resulttype, r->resulttypmod);
				break;
			}
		case T_ArrayExpr:
			{
				ArrayExpr  *a = (ArrayExpr *) expr;

				appendStringInfoString(buf, "ARRAY[");
				deparse_list(ctx, a->elements, ", ");
				appendStringInfoString(buf, "]::");
				deparse_type(buf, a->array_typeid, -1);
				break;
			}
		case T_CoalesceExpr:
			appendStringInfoString(buf, "COALESCE(");
			deparse_list(ctx, ((CoalesceExpr *) expr)->args, ", ");
			appendStringInfoChar(buf, ')');
			break;
		case T_Aggref:
			deparse_aggref(ctx, (Aggref *) expr);
			break;
		default:
			elog(ERROR, "hashshard: unsupported expression type %d",
				 (int) nodeTag(expr));
	}
}

/*
 * deparse_agg_args
 *		The arguments of an aggregate call (its TargetEntry list).
 */
static void
deparse_agg_args(HsDeparseCtx *ctx, Aggref *agg)
{
	ListCell   *lc;
	bool		first = true;

	if (agg->aggstar)
	{
		appendStringInfoChar(ctx->buf, '*');
		return;
	}
	if (agg->aggdistinct != NIL)
		appendStringInfoString(ctx->buf, "DISTINCT ");
	foreach(lc, agg->args)
	{
		TargetEntry *te = lfirst(lc);

		if (te->resjunk)
			continue;
		if (!first)
			appendStringInfoString(ctx->buf, ", ");
		first = false;
		hs_deparse_expr(ctx, te->expr);
	}
}

static void
deparse_filter(HsDeparseCtx *ctx, Aggref *agg)
{
	if (agg->aggfilter)
	{
		appendStringInfoString(ctx->buf, " FILTER (WHERE ");
		hs_deparse_expr(ctx, agg->aggfilter);
		appendStringInfoChar(ctx->buf, ')');
	}
}

/*
 * deparse_aggref
 *		An aggregate call, or for partial aggregation the expression that
 *		computes its transition state on the node (hs_partial_agg_kind).
 */
static void
deparse_aggref(HsDeparseCtx *ctx, Aggref *agg)
{
	StringInfo	buf = ctx->buf;
	int			kind = ctx->partial ? hs_partial_agg_kind(agg) : 1;
	Expr	   *arg = agg->args ? ((TargetEntry *) linitial(agg->args))->expr : NULL;

	if (kind == 1)
	{
		deparse_func_name(buf, agg->aggfnoid);
		appendStringInfoChar(buf, '(');
		deparse_agg_args(ctx, agg);
		appendStringInfoChar(buf, ')');
		deparse_filter(ctx, agg);
		return;
	}
	if (kind == 2)
	{
		appendStringInfoString(buf, "ARRAY[pg_catalog.count(");
		hs_deparse_expr(ctx, arg);
		appendStringInfoChar(buf, ')');
		deparse_filter(ctx, agg);
		appendStringInfoString(buf, ", COALESCE(pg_catalog.sum(");
		hs_deparse_expr(ctx, arg);
		appendStringInfoChar(buf, ')');
		deparse_filter(ctx, agg);
		appendStringInfoString(buf, ", 0)]::pg_catalog.int8[]");
		return;
	}
	Assert(kind == 3);
	/* {N, Sx, Sxx}: Sxx = var_pop * N (float8_accum's state) */
	appendStringInfoString(buf, "ARRAY[pg_catalog.count(");
	hs_deparse_expr(ctx, arg);
	appendStringInfoChar(buf, ')');
	deparse_filter(ctx, agg);
	appendStringInfoString(buf, "::pg_catalog.float8, COALESCE(pg_catalog.sum((");
	hs_deparse_expr(ctx, arg);
	appendStringInfoString(buf, ")::pg_catalog.float8)");
	deparse_filter(ctx, agg);
	appendStringInfoString(buf, ", 0), COALESCE(pg_catalog.var_pop((");
	hs_deparse_expr(ctx, arg);
	appendStringInfoString(buf, ")::pg_catalog.float8)");
	deparse_filter(ctx, agg);
	appendStringInfoString(buf, " * pg_catalog.count(");
	hs_deparse_expr(ctx, arg);
	appendStringInfoChar(buf, ')');
	deparse_filter(ctx, agg);
	appendStringInfoString(buf, ", 0)]::pg_catalog.float8[]");
}

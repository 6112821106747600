/*-------------------------------------------------------------------------
 *
 * rc_key.c
 *		What result_cache may cache, and the cache key of a query.
 *
 * Two verdicts decide whether a SELECT is cacheable:
 *	- at plan time (rc_query_verdict, on the rewritten Query, so views,
 *	  subqueries, CTEs and RLS quals are all seen): no mutable function or
 *	  SQL value function, no row marks, no modifying CTE, no TABLESAMPLE;
 *	- at execution time (rc_check_relations, on the plan's flat range
 *	  table): no temporary, catalog or foreign table, no sequence, no
 *	  relation with row-level security in effect for the current user, and
 *	  in mode "tables" only enabled tables.
 *
 * The key (rc_build_key) is every input that can change a cacheable
 * query's result for the same committed data: database, current user,
 * statement text, parameter types and values, the structure (queryId) and
 * constants of the analysed query, and the settings that change how the
 * text is parsed or how values are printed.  A signature of what the
 * query's names resolved to is stored alongside, so that a name that
 * resolves to a different object is a miss.  Both hashes are made on the
 * rewritten Query (rc_query_hashes), so that the same key can be built
 * before planning (rc_build_query_key) to serve a simple-protocol hit
 * without planning it.
 *
 * IDENTIFICATION
 *	  extensions/result_cache/src/rc_key.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/gin.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/partition.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "parser/parse_expr.h"
#include "parser/parser.h"
#include "pgtime.h"
#include "tsearch/ts_cache.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_locale.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/xml.h"

#include "result_cache.h"

/*
 * Settings that change how a statement is parsed or how its values are
 * printed are part of the key (rc_key_settings).  Planner settings are
 * absent on purpose: they change plans, not results.  client_encoding is
 * absent because conversion happens when the rows are sent, after the
 * cache.  The variables behind the settings are read directly (a
 * GetConfigOption() call per setting would cost more than the rest of the
 * lookup).
 */
static void
rc_key_str(StringInfo key, const char *v)
{
	appendStringInfoString(key, v ? v : "");
	appendStringInfoChar(key, '\0');
}

/*
 * The value of timezone_abbreviations, which has no exported variable:
 * the GUC's own variable is found once (built-in GUC records never move)
 * and read directly afterwards.
 */
static const char *
rc_tz_abbreviations(void)
{
	static char **var = NULL;

	if (var == NULL)
	{
		struct config_generic **vars = get_guc_variables();
		int			n = GetNumConfigOptions();
		int			i;

		for (i = 0; i < n; i++)
		{
			if (vars[i]->vartype == PGC_STRING &&
				strcmp(vars[i]->name, "timezone_abbreviations") == 0)
			{
				var = ((struct config_string *) vars[i])->variable;
				break;
			}
		}
		if (var == NULL)
			return GetConfigOption("timezone_abbreviations", true, false);
	}
	return *var;
}

static void
rc_key_settings(StringInfo key)
{
	int32		ints[13];

	ints[0] = DateStyle;
	ints[1] = DateOrder;
	ints[2] = IntervalStyle;
	ints[3] = extra_float_digits;
	ints[4] = bytea_output;
	ints[5] = standard_conforming_strings;
	ints[6] = xmloption;
	ints[7] = xmlbinary;
	ints[8] = Transform_null_equals;
	ints[9] = Array_nulls;
	ints[10] = backslash_quote;
	ints[11] = (quote_all_identifiers ? 1 : 0) | (row_security ? 2 : 0);
	ints[12] = GinFuzzySearchLimit;
	appendBinaryStringInfo(key, (char *) ints, sizeof(ints));
	rc_key_str(key, namespace_search_path);
	rc_key_str(key, session_timezone ? pg_get_timezone_name(session_timezone) : "");
	rc_key_str(key, locale_monetary);
	rc_key_str(key, locale_numeric);
	rc_key_str(key, locale_time);
	rc_key_str(key, TSCurrentConfig);
	rc_key_str(key, rc_tz_abbreviations());
}

typedef struct RcWalkContext
{
	RcReason	reason;
} RcWalkContext;

/*
 * Look at every Query of the tree (subqueries, CTEs, sublinks) for what
 * makes a SELECT uncacheable whatever its functions.
 */
static bool
rc_query_walker(Node *node, RcWalkContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;
		ListCell   *lc;

		if (q->rowMarks != NIL || q->hasForUpdate)
		{
			ctx->reason = RC_BYPASS_ROW_MARKS;
			return true;
		}
		if (q->hasModifyingCTE || q->commandType != CMD_SELECT)
		{
			ctx->reason = RC_BYPASS_MODIFYING_CTE;
			return true;
		}
		foreach(lc, q->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION && rte->tablesample != NULL)
			{
				ctx->reason = RC_BYPASS_TABLESAMPLE;
				return true;
			}
		}
		return query_tree_walker(q, rc_query_walker, (void *) ctx, 0);
	}
	return expression_tree_walker(node, rc_query_walker, (void *) ctx);
}

/*
 * The plan-time verdict on a rewritten SELECT: RC_OK if nothing in it
 * forbids caching, else the bypass reason.
 */
RcReason
rc_query_verdict(Query *parse)
{
	RcWalkContext ctx;

	if (parse->commandType != CMD_SELECT || parse->utilityStmt != NULL)
		return RC_BYPASS_MODIFYING_CTE;
	ctx.reason = RC_OK;
	if (rc_query_walker((Node *) parse, &ctx))
		return ctx.reason;
	if (contain_mutable_functions((Node *) parse))
		return RC_BYPASS_MUTABLE;
	return RC_OK;
}

/* The two hashes rc_query_hashes computes */
typedef struct RcHashes
{
	uint64		consts;
	uint64		sig;
} RcHashes;

static inline void
rc_sig_oid(RcHashes *h, uint32 tag, Oid oid)
{
	h->sig = hash_combine64(h->sig,
							hash_bytes_uint32_extended((uint32) oid, tag));
}

/*
 * Fold every Const of the tree (type, null flag, value bytes) into
 * h->consts, and every object a name resolved to (relations, functions,
 * operators, domains) into h->sig.
 */
static bool
rc_hashes_walker(Node *node, RcHashes *h)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Const:
			{
				Const	   *c = (Const *) node;
				uint64		v = c->consttype;

				if (c->constisnull)
					v ^= UINT64CONST(0x9E3779B97F4A7C15);
				else if (c->constbyval)
					v = hash_combine64(v, hash_bytes_extended((const unsigned char *) &c->constvalue,
															  sizeof(Datum), v));
				else if (c->constlen == -1)
				{
					struct varlena *d = pg_detoast_datum_packed((struct varlena *)
																DatumGetPointer(c->constvalue));

					v = hash_combine64(v, hash_bytes_extended((const unsigned char *) VARDATA_ANY(d),
															  VARSIZE_ANY_EXHDR(d), v));
				}
				else if (c->constlen == -2)
					v = hash_combine64(v, hash_bytes_extended((const unsigned char *) DatumGetCString(c->constvalue),
															  strlen(DatumGetCString(c->constvalue)), v));
				else
					v = hash_combine64(v, hash_bytes_extended((const unsigned char *) DatumGetPointer(c->constvalue),
															  c->constlen, v));
				h->consts = hash_combine64(h->consts, v);
				return false;
			}
		case T_RangeTblEntry:
			{
				RangeTblEntry *rte = (RangeTblEntry *) node;

				if (rte->rtekind == RTE_RELATION)
					rc_sig_oid(h, 'r', rte->relid);
				return false;	/* range_table_walker goes on inside */
			}
		case T_FuncExpr:
			rc_sig_oid(h, 'f', ((FuncExpr *) node)->funcid);
			break;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			rc_sig_oid(h, 'o', ((OpExpr *) node)->opno);
			break;
		case T_ScalarArrayOpExpr:
			rc_sig_oid(h, 'o', ((ScalarArrayOpExpr *) node)->opno);
			break;
		case T_Aggref:
			rc_sig_oid(h, 'a', ((Aggref *) node)->aggfnoid);
			break;
		case T_WindowFunc:
			rc_sig_oid(h, 'w', ((WindowFunc *) node)->winfnoid);
			break;
		case T_CoerceToDomain:
			rc_sig_oid(h, 'd', ((CoerceToDomain *) node)->resulttype);
			break;
		case T_Query:
			return query_tree_walker((Query *) node, rc_hashes_walker,
									 (void *) h, QTW_EXAMINE_RTES_BEFORE);
		default:
			break;
	}
	return expression_tree_walker(node, rc_hashes_walker, (void *) h);
}

/*
 * Two hashes of the rewritten query, made before planning (planning
 * rewrites the Query in place) and carried in the plan's marker items:
 *
 * consts: the values of the query's constants, as parse analysis made
 * them.  They are part of the key because the text alone does not
 * determine them: literals are read with the settings in force at parse
 * time (a statement prepared before SET TimeZone, or parsed before a SET
 * earlier in the same query string) and some are read from the clock
 * ('now', 'today').
 *
 * sig: what the query's names resolved to (every relation of every query
 * level, views and the tables of their definitions included, functions,
 * operators, domains).  It is stored with an entry, and a hit is refused
 * when it differs: a name that now resolves to another object is a miss
 * even when compute_query_id is off (queryId 0).  It is computed from the
 * Query, not the plan, so that a hit can be looked up before planning.
 */
void
rc_query_hashes(Query *parse, uint64 *consts, uint64 *sig)
{
	RcHashes	h;

	h.consts = UINT64CONST(0x52435F434F4E5354);
	h.sig = UINT64CONST(0x5243);
	rc_hashes_walker((Node *) parse, &h);
	*consts = h.consts;
	*sig = h.sig;
}

/* Collect the RTE_RELATION entries of every level of a query */
static bool
rc_relations_walker(Node *node, List **rtes)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION)
			*rtes = lappend(*rtes, rte);
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, rc_relations_walker,
								 (void *) rtes, QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, rc_relations_walker, (void *) rtes);
}

/*
 * Every relation a rewritten query reads, at any level (views, the tables
 * of their definitions, subqueries, sublinks, CTEs): the RTEs the planner
 * would put in the plan's flat range table, except the partitions and
 * inheritance children it adds (which carry no permissions to check).
 */
List *
rc_query_relations(Query *parse)
{
	List	   *rtes = NIL;

	rc_relations_walker((Node *) parse, &rtes);
	return rtes;
}

/*
 * The planner's verdict stored in the plan's marker item.  *has_marker is
 * false for plans made without result_cache's planner hook.
 */
RcReason
rc_plan_verdict(PlannedStmt *pstmt, bool *has_marker)
{
	ListCell   *lc;

	foreach(lc, pstmt->invalItems)
	{
		PlanInvalItem *item = (PlanInvalItem *) lfirst(lc);

		if (item->cacheId == RC_MARKER_CACHEID)
		{
			*has_marker = true;
			return (RcReason) item->hashValue;
		}
	}
	*has_marker = false;
	return RC_BYPASS_DISABLED;
}

/*
 * Per-backend cache of result_cache.tables (mode "tables"), reloaded when
 * the generation of that table moves (any write to it bumps it at commit).
 */
static Oid	rc_tables_relid = InvalidOid;
static uint64 rc_tables_gen = 0;
static Oid *rc_tables_oids = NULL;
static int	rc_tables_n = 0;

static void
rc_tables_load(void)
{
	Oid			nsp = get_namespace_oid("result_cache", true);
	Oid			relid;
	uint64		gen;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	int			cap = 16;
	Oid		   *oids;
	int			n = 0;

	relid = OidIsValid(nsp) ? get_relname_relid("tables", nsp) : InvalidOid;
	if (!OidIsValid(relid))
	{
		rc_tables_relid = InvalidOid;
		rc_tables_n = 0;
		return;
	}
	gen = pg_atomic_read_u64(&rc_shared->gens[rc_gen_slot(MyDatabaseId, relid)]);
	if (relid == rc_tables_relid && gen == rc_tables_gen)
		return;

	oids = MemoryContextAlloc(TopMemoryContext, cap * sizeof(Oid));
	rel = table_open(relid, AccessShareLock);
	scan = table_beginscan(rel, GetLatestSnapshot(), 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);

		if (isnull)
			continue;
		if (n == cap)
		{
			cap *= 2;
			oids = repalloc(oids, cap * sizeof(Oid));
		}
		oids[n++] = DatumGetObjectId(d);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	if (rc_tables_oids)
		pfree(rc_tables_oids);
	rc_tables_oids = oids;
	rc_tables_n = n;
	rc_tables_relid = relid;
	rc_tables_gen = gen;
}

/*
 * Mode "tables": is relid enabled, itself or through a partitioned
 * ancestor?
 */
bool
rc_table_enabled(Oid relid)
{
	int			i;

	rc_tables_load();
	for (i = 0; i < rc_tables_n; i++)
		if (rc_tables_oids[i] == relid)
			return true;
	if (rc_tables_n > 0 && get_rel_relispartition(relid))
	{
		List	   *ancestors = get_partition_ancestors(relid);
		ListCell   *lc;

		foreach(lc, ancestors)
		{
			for (i = 0; i < rc_tables_n; i++)
				if (rc_tables_oids[i] == lfirst_oid(lc))
					return true;
		}
	}
	return false;
}

/*
 * The execution-time verdict on the relations of a range table (a plan's,
 * or those rc_query_relations found).  The relations are already locked
 * (by parse analysis or AcquireExecutorLocks).
 */
RcReason
rc_check_relations(List *rtable)
{
	ListCell   *lc;

	foreach(lc, rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind != RTE_RELATION)
			continue;
		if (rte->relkind == RELKIND_FOREIGN_TABLE)
			return RC_BYPASS_FOREIGN_TABLE;
		if (rte->relkind == RELKIND_SEQUENCE)
			return RC_BYPASS_SEQUENCE;
		if (rte->relid < FirstNormalObjectId)
			return RC_BYPASS_CATALOG;
		if (get_rel_persistence(rte->relid) == RELPERSISTENCE_TEMP)
			return RC_BYPASS_TEMP_TABLE;
		if (check_enable_rls(rte->relid, InvalidOid, true) != RLS_NONE)
			return RC_BYPASS_RLS;
		if (rc_mode == RC_MODE_TABLES && rte->relkind != RELKIND_VIEW &&
			!rc_table_enabled(rte->relid))
			return RC_BYPASS_DISABLED;
	}
	return RC_OK;
}

/* Append a parameter's type, null flag and value bytes to the key */
static void
rc_key_param(StringInfo key, ParamExternData *prm)
{
	int16		typlen;
	bool		typbyval;

	appendBinaryStringInfo(key, (char *) &prm->ptype, sizeof(Oid));
	appendStringInfoChar(key, prm->isnull ? 'n' : 'v');
	if (prm->isnull || !OidIsValid(prm->ptype))
		return;
	get_typlenbyval(prm->ptype, &typlen, &typbyval);
	if (typbyval)
		appendBinaryStringInfo(key, (char *) &prm->value, sizeof(Datum));
	else if (typlen == -1)
	{
		struct varlena *v = pg_detoast_datum_packed((struct varlena *)
													DatumGetPointer(prm->value));
		uint32		len = VARSIZE_ANY_EXHDR(v);

		appendBinaryStringInfo(key, (char *) &len, sizeof(len));
		appendBinaryStringInfo(key, VARDATA_ANY(v), len);
	}
	else if (typlen == -2)
	{
		const char *s = DatumGetCString(prm->value);

		appendBinaryStringInfo(key, s, strlen(s) + 1);
	}
	else
		appendBinaryStringInfo(key, DatumGetPointer(prm->value), typlen);
}

/* The start of every key: database, user and settings */
static void
rc_key_begin(StringInfo key)
{
	Oid			userid = GetUserId();

	initStringInfo(key);
	appendBinaryStringInfo(key, (char *) &MyDatabaseId, sizeof(Oid));
	appendBinaryStringInfo(key, (char *) &userid, sizeof(Oid));
	rc_key_settings(key);
}

/*
 * The end of every key: the structure (queryId) and constants of the
 * analysed query, then the statement's text; and the key's hash.
 */
static void
rc_key_end(RcLookup *lk, uint64 queryId, uint64 consts, const char *qtext,
		   int loc, int len)
{
	StringInfo	key = &lk->key;

	loc = Max(loc, 0);
	if (len <= 0)
		len = strlen(qtext + loc);
	appendBinaryStringInfo(key, (char *) &queryId, sizeof(uint64));
	appendBinaryStringInfo(key, (char *) &consts, sizeof(uint64));
	lk->textoff = key->len;
	lk->textlen = len;
	appendBinaryStringInfo(key, qtext + loc, len);

	lk->hash = hash_bytes_extended((const unsigned char *) key->data,
								   key->len, 0);
	if (lk->hash == 0)
		lk->hash = 1;			/* 0 marks a free slot */
}

/*
 * The key of a simple-protocol statement looked up before planning: the
 * same key rc_build_key makes for its plan, without parameters (the simple
 * protocol has none) and without dependencies (a lookup validates the
 * entry's own).
 */
void
rc_build_query_key(Query *parse, const char *query_string, uint64 consts,
				   uint64 sig, RcLookup *lk)
{
	rc_key_begin(&lk->key);
	appendStringInfoChar(&lk->key, 'N');
	rc_key_end(lk, parse->queryId, consts, query_string,
			   parse->stmt_location, parse->stmt_len);
	lk->plansig = sig;
}

/*
 * Build the key of a top-level SELECT's execution.  Returns RC_OK, or
 * RC_BYPASS_PARAMS when its parameters cannot be keyed.
 */
RcReason
rc_build_key(QueryDesc *qd, RcLookup *lk)
{
	PlannedStmt *pstmt = qd->plannedstmt;
	StringInfo	key = &lk->key;
	ListCell   *lc;
	uint32		consts_lo = 0;
	uint32		consts_hi = 0;
	uint32		sig_lo = 0;
	uint32		sig_hi = 0;
	int			i;

	rc_key_begin(key);
	if (qd->params != NULL)
	{
		ParamListInfo params = qd->params;

		if (params->paramFetch != NULL || params->paramCompile != NULL)
			return RC_BYPASS_PARAMS;
		appendBinaryStringInfo(key, (char *) &params->numParams, sizeof(int));
		for (i = 0; i < params->numParams; i++)
			rc_key_param(key, &params->params[i]);
	}
	else
		appendStringInfoChar(key, 'N');

	/* the hashes the planner hook computed on the Query */
	foreach(lc, pstmt->invalItems)
	{
		PlanInvalItem *item = (PlanInvalItem *) lfirst(lc);

		if (item->cacheId == RC_CONSTS_LO_CACHEID)
			consts_lo = item->hashValue;
		else if (item->cacheId == RC_CONSTS_HI_CACHEID)
			consts_hi = item->hashValue;
		else if (item->cacheId == RC_SIG_LO_CACHEID)
			sig_lo = item->hashValue;
		else if (item->cacheId == RC_SIG_HI_CACHEID)
			sig_hi = item->hashValue;
	}
	rc_key_end(lk, pstmt->queryId,
			   ((uint64) consts_hi << 32) | consts_lo,
			   qd->sourceText ? qd->sourceText : "",
			   pstmt->stmt_location, pstmt->stmt_len);
	lk->plansig = ((uint64) sig_hi << 32) | sig_lo;
	return RC_OK;
}

/*
 * The dependencies of a top-level SELECT's plan, into lk.  Returns RC_OK,
 * or RC_BYPASS_TOO_MANY_RELATIONS.
 */
RcReason
rc_build_deps(PlannedStmt *pstmt, RcLookup *lk)
{
	ListCell   *lc;
	int			i;

	/*
	 * Dependencies: every relation of the plan, and the relation behind each
	 * named composite type among the result columns (ALTER TYPE sends a
	 * relcache invalidation for it), which the planner hook listed
	 * (rc_plan_type_deps).
	 */
	lk->ndeps = list_length(pstmt->relationOids);
	foreach(lc, pstmt->invalItems)
		if (((PlanInvalItem *) lfirst(lc))->cacheId == RC_TYPREL_CACHEID)
		lk->ndeps++;
	if (lk->ndeps > RC_MAX_DEPS)
		return RC_BYPASS_TOO_MANY_RELATIONS;
	lk->deps = palloc(Max(lk->ndeps, 1) * sizeof(Oid));
	lk->gens = palloc(Max(lk->ndeps, 1) * sizeof(uint64));
	i = 0;
	foreach(lc, pstmt->relationOids)
		lk->deps[i++] = lfirst_oid(lc);
	foreach(lc, pstmt->invalItems)
	{
		PlanInvalItem *item = (PlanInvalItem *) lfirst(lc);

		if (item->cacheId == RC_TYPREL_CACHEID)
			lk->deps[i++] = (Oid) item->hashValue;
	}
	Assert(i == lk->ndeps);
	return RC_OK;
}

/*
 * Planner hook, on a cacheable plan: list the relations behind the named
 * composite types (or arrays of them) among the result columns as marker
 * items, so that each execution does not look the types up again.
 */
void
rc_plan_type_deps(PlannedStmt *pstmt)
{
	ListCell   *lc;

	foreach(lc, pstmt->planTree->targetlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Oid			t;
		Oid			elem;
		Oid			typrelid;

		if (tle->resjunk)
			continue;
		t = getBaseType(exprType((Node *) tle->expr));
		elem = get_element_type(t);
		typrelid = get_typ_typrelid(OidIsValid(elem) ? getBaseType(elem) : t);
		if (OidIsValid(typrelid))
		{
			PlanInvalItem *item = makeNode(PlanInvalItem);

			item->cacheId = RC_TYPREL_CACHEID;
			item->hashValue = (uint32) typrelid;
			pstmt->invalItems = lappend(pstmt->invalItems, item);
		}
	}
}

/*-------------------------------------------------------------------------
 *
 * da_whatif.c
 *	  What-if costing of a candidate against a hypothetical relation.
 *
 * A candidate's relation (the child with its copies, the parent with its
 * counters, the materialized view) does not exist.  Faking relpages and
 * reltuples from SQL does not work, and altering a user table takes an
 * ACCESS EXCLUSIVE lock, so the relation is a "shadow": an empty
 * temporary table with the candidate's columns (and the indexes it would
 * have), created inside an internal subtransaction.  While the rewritten
 * query is planned, three hooks make the shadow look like the real
 * relation:
 *
 *	get_relation_info_hook	the tuples and pages it would have; its
 *							indexes get the pages and btree height of the
 *							source indexes (or an estimate for new ones);
 *	get_relation_stats_hook	the pg_statistic row of each column's source
 *							column, with a distinct count given as a
 *							fraction turned into an absolute count when
 *							the row counts differ (a parent's unique name
 *							copied into its children is not unique there);
 *	get_attavgwidth_hook	the source column's average width.
 *
 * Measured in design: within 0.5% of the real, ANALYZEd table.
 *
 * The subtransaction is rolled back before the SQL function returns, on
 * success and on error, and the shadow registry is emptied at the same
 * time (invariants I1, I2): the hooks act only during a what-if call.
 * A failure to plan is reported as the candidate's reason, except a
 * cancel, which is raised again.
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/denorm_advisor/src/da_whatif.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "parser/parsetree.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/ruleutils.h"
#include "utils/selfuncs.h"
#include "utils/syscache.h"

#include "denorm_advisor.h"

PG_FUNCTION_INFO_V1(denorm_advisor_whatif);

static char *shadow_as_name(const char *text, const char *name);
static char *shadow_as(const char *text, Oid relid);

/* Bytes a heap tuple costs beyond its data: header and line pointer */
/* The name of every shadow (temporary, inside a rolled-back subtransaction) */
#define DA_SHADOW_NAME	"denorm_advisor_shadow"

#define DA_TUPLE_OVERHEAD	(MAXALIGN(SizeofHeapTupleHeader) + sizeof(ItemIdData))

/* An index of a shadow and the sizes it stands for */
typedef struct DaShadowIndex
{
	Oid			indexoid;
	BlockNumber pages;
	int			tree_height;
} DaShadowIndex;

/* A registered shadow relation */
typedef struct DaShadow
{
	Oid			relid;
	double		tuples;
	BlockNumber pages;
	double		allvisfrac;
	int			natts;
	DaShadowColumn *cols;
	double	   *src_tuples;		/* per column: rows of its source */
	List	   *indexes;		/* DaShadowIndex */
} DaShadow;

/* The registry the hooks read; only non-empty inside a what-if call */
static List *da_shadows = NIL;
static MemoryContext da_shadow_cxt = NULL;

static get_relation_info_hook_type prev_get_relation_info_hook = NULL;
static get_relation_stats_hook_type prev_get_relation_stats_hook = NULL;
static get_attavgwidth_hook_type prev_get_attavgwidth_hook = NULL;

/* The registered shadow with this OID, or NULL */
static DaShadow *
find_shadow(Oid relid)
{
	ListCell   *lc;

	foreach(lc, da_shadows)
	{
		DaShadow   *s = lfirst(lc);

		if (s->relid == relid)
			return s;
	}
	return NULL;
}

/* Forget every shadow (invariant I2: at the end of every what-if) */
static void
reset_shadows(void)
{
	da_shadows = NIL;
	if (da_shadow_cxt)
		MemoryContextReset(da_shadow_cxt);
}

/* ------------------------------------------------------------------------
 * Planner hooks
 * ------------------------------------------------------------------------ */

/*
 * da_get_relation_info
 *		get_relation_info_hook: a shadow gets the rows and pages it stands for,
 *		its indexes those of their source indexes (I5: chained).
 */
static void
da_get_relation_info(PlannerInfo *root, Oid relid, bool inhparent,
					 RelOptInfo *rel)
{
	DaShadow   *s;
	ListCell   *lc;

	if (prev_get_relation_info_hook)
		prev_get_relation_info_hook(root, relid, inhparent, rel);
	if (da_shadows == NIL || (s = find_shadow(relid)) == NULL)
		return;

	rel->pages = s->pages;
	rel->tuples = s->tuples;
	rel->allvisfrac = s->allvisfrac;
	foreach(lc, rel->indexlist)
	{
		IndexOptInfo *info = lfirst(lc);
		ListCell   *lc2;

		foreach(lc2, s->indexes)
		{
			DaShadowIndex *si = lfirst(lc2);

			if (si->indexoid != info->indexoid)
				continue;
			info->pages = si->pages;
			info->tuples = s->tuples;
			if (info->relam == BTREE_AM_OID)
				info->tree_height = si->tree_height;
		}
	}
}

/*
 * da_get_relation_stats
 *		get_relation_stats_hook: a shadow column borrows the statistics of
 *		its source column (I5: other relations go to the previous hook).
 */
static bool
da_get_relation_stats(PlannerInfo *root, RangeTblEntry *rte,
					  AttrNumber attnum, VariableStatData *vardata)
{
	DaShadow   *s;
	DaShadowColumn *col;
	HeapTuple	tuple;
	Form_pg_statistic stats;
	bool		inh;

	if (da_shadows == NIL || rte->rtekind != RTE_RELATION ||
		(s = find_shadow(rte->relid)) == NULL)
	{
		if (prev_get_relation_stats_hook)
			return prev_get_relation_stats_hook(root, rte, attnum, vardata);
		return false;
	}

	/* a shadow has no statistics of its own: borrow or go without */
	if (attnum <= 0 || attnum > s->natts)
		return true;
	col = &s->cols[attnum - 1];
	if (!OidIsValid(col->srcrel))
		return true;

	inh = get_rel_relkind(col->srcrel) == RELKIND_PARTITIONED_TABLE;
	tuple = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(col->srcrel),
							Int16GetDatum(col->srcatt), BoolGetDatum(inh));
	if (!HeapTupleIsValid(tuple))
		return true;

	stats = (Form_pg_statistic) GETSTRUCT(tuple);
	if (stats->stadistinct < 0 && s->src_tuples[attnum - 1] > 0 &&
		fabs(s->tuples - s->src_tuples[attnum - 1]) > 0.01 * s->tuples)
	{
		/* a fraction of the source's rows is a count in the shadow */
		HeapTuple	copy = heap_copytuple(tuple);
		double		ndistinct = -stats->stadistinct * s->src_tuples[attnum - 1];

		ReleaseSysCache(tuple);
		((Form_pg_statistic) GETSTRUCT(copy))->stadistinct =
			(float4) Min(ndistinct, Max(s->tuples, 1.0));
		vardata->statsTuple = copy;
		vardata->freefunc = heap_freetuple;
	}
	else
	{
		vardata->statsTuple = tuple;
		vardata->freefunc = ReleaseSysCache;
	}
	/* the caller was checked for SELECT on every source relation */
	vardata->acl_ok = true;
	return true;
}

/* get_attavgwidth_hook: a shadow column's width is its source's */
static int32
da_get_attavgwidth(Oid relid, AttrNumber attnum)
{
	DaShadow   *s;

	if (da_shadows != NIL && (s = find_shadow(relid)) != NULL &&
		attnum > 0 && attnum <= s->natts &&
		OidIsValid(s->cols[attnum - 1].srcrel))
		return get_attavgwidth(s->cols[attnum - 1].srcrel,
							   s->cols[attnum - 1].srcatt);
	if (prev_get_attavgwidth_hook)
		return prev_get_attavgwidth_hook(relid, attnum);
	return 0;
}

/*
 * da_whatif_init
 *		Install the hooks (from _PG_init).  They cost one test of an empty
 *		list outside what-if calls.
 */
void
da_whatif_init(void)
{
	prev_get_relation_info_hook = get_relation_info_hook;
	get_relation_info_hook = da_get_relation_info;
	prev_get_relation_stats_hook = get_relation_stats_hook;
	get_relation_stats_hook = da_get_relation_stats;
	prev_get_attavgwidth_hook = get_attavgwidth_hook;
	get_attavgwidth_hook = da_get_attavgwidth;
}

/* ------------------------------------------------------------------------
 * Sizes
 * ------------------------------------------------------------------------ */

/* Average width of a column: its statistics, else its type's guess */
static int32
column_width(Oid relid, AttrNumber attno)
{
	int32		w = get_attavgwidth(relid, attno);

	if (w <= 0)
	{
		Oid			type;
		int32		typmod;
		Oid			coll;

		get_atttypetypmodcoll(relid, attno, &type, &typmod, &coll);
		w = get_typavgwidth(type, typmod);
	}
	return w;
}

/* Average width of a shadow column: its source's, else its type's */
static int32
shadow_column_width(DaShadowColumn *col)
{
	if (OidIsValid(col->srcrel))
		return column_width(col->srcrel, col->srcatt);
	return get_typavgwidth(col->type, col->typmod);
}

/* Heap pages holding tuples rows of width bytes, packed as by a load */
static BlockNumber
estimate_pages(double tuples, int32 width)
{
	double		per_page = floor((BLCKSZ - SizeOfPageHeaderData) /
								 (double) (MAXALIGN(width) + DA_TUPLE_OVERHEAD));

	return (BlockNumber) Max(1.0, ceil(tuples / Max(per_page, 1.0)));
}

/* A btree over tuples entries of width bytes: pages and height */
static void
estimate_btree(double tuples, int32 width, BlockNumber *pages, int *height)
{
	double		entry = MAXALIGN(sizeof(IndexTupleData) + width) + sizeof(ItemIdData);
	double		per_page = floor((BLCKSZ - SizeOfPageHeaderData - 16) * 0.9 / entry);
	double		leaves = ceil(tuples / Max(per_page, 1.0));

	*pages = (BlockNumber) Max(2.0, leaves + ceil(leaves / Max(per_page, 2.0)) + 1);
	*height = leaves <= 1 ? 0 : (int) ceil(log(leaves) / log(Max(per_page, 2.0)));
}

/* ------------------------------------------------------------------------
 * Shadow relations
 * ------------------------------------------------------------------------ */

/*
 * spi_utility
 *		Run a utility statement through SPI, staying in the caller's memory
 *		context: SPI leaves its own procedure context current, which
 *		SPI_finish frees with everything allocated in it.
 */
static void
spi_utility(const char *sql)
{
	MemoryContext save = CurrentMemoryContext;
	int			rc = SPI_execute(sql, false, 0);

	MemoryContextSwitchTo(save);
	if (rc != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed on \"%s\": %s", sql, SPI_result_code_string(rc));
}

/*
 * create_shadow
 *		Create the empty temporary table standing for a candidate's
 *		relation (inside the caller's subtransaction) and register it.
 */
static DaShadow *
create_shadow(const char *name, List *columns, double tuples,
			  BlockNumber pages, double allvisfrac)
{
	StringInfoData sql;
	ListCell   *lc;
	DaShadow   *s;
	MemoryContext old;
	int			i;
	bool		first = true;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TEMPORARY TABLE pg_temp.%s (",
					 quote_identifier(name));
	foreach(lc, columns)
	{
		DaShadowColumn *col = lfirst(lc);

		appendStringInfo(&sql, "%s%s %s", first ? "" : ", ",
						 quote_identifier(col->name),
						 format_type_with_typemod(col->type, col->typmod));
		if (OidIsValid(col->collation) &&
			col->collation != get_typcollation(col->type))
			appendStringInfo(&sql, " COLLATE %s",
							 generate_collation_name(col->collation));
		if (col->notnull)
			appendStringInfoString(&sql, " NOT NULL");
		first = false;
	}
	appendStringInfoChar(&sql, ')');
	spi_utility(sql.data);

	old = MemoryContextSwitchTo(da_shadow_cxt);
	s = palloc0(sizeof(DaShadow));
	s->relid = get_relname_relid(name, LookupCreationNamespace("pg_temp"));
	if (!OidIsValid(s->relid))
		elog(ERROR, "shadow relation \"%s\" not found", name);
	s->tuples = tuples;
	s->pages = pages;
	s->allvisfrac = allvisfrac;
	s->natts = list_length(columns);
	s->cols = palloc0(sizeof(DaShadowColumn) * Max(s->natts, 1));
	s->src_tuples = palloc0(sizeof(double) * Max(s->natts, 1));
	i = 0;
	foreach(lc, columns)
	{
		DaShadowColumn *col = lfirst(lc);

		s->cols[i] = *col;
		s->cols[i].name = pstrdup(col->name);
		if (OidIsValid(col->srcrel))
		{
			HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(col->srcrel));

			if (HeapTupleIsValid(tup))
			{
				s->src_tuples[i] = Max(((Form_pg_class) GETSTRUCT(tup))->reltuples, 0);
				ReleaseSysCache(tup);
			}
		}
		i++;
	}
	da_shadows = lappend(da_shadows, s);
	MemoryContextSwitchTo(old);
	return s;
}

/*
 * add_shadow_index
 *		Create an index of the shadow over the named columns, standing for
 *		srcindex (its sizes are borrowed) or, when srcindex is invalid, for
 *		a new btree (sizes estimated).
 */
static void
add_shadow_index(DaShadow *s, const char *relname, List *colnames,
				 bool unique, const char *amname, Oid srcindex)
{
	StringInfoData sql;
	ListCell   *lc;
	Relation	rel;
	List	   *before;
	List	   *after;
	DaShadowIndex *si;
	bool		first = true;
	int32		width = 0;

	rel = table_open(s->relid, AccessShareLock);
	before = RelationGetIndexList(rel);
	table_close(rel, AccessShareLock);

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE %sINDEX ON pg_temp.%s USING %s (",
					 unique ? "UNIQUE " : "", quote_identifier(relname),
					 quote_identifier(amname));
	foreach(lc, colnames)
	{
		char	   *colname = lfirst(lc);

		appendStringInfo(&sql, "%s%s", first ? "" : ", ",
						 quote_identifier(colname));
		for (int i = 0; i < s->natts; i++)
			if (strcmp(s->cols[i].name, colname) == 0)
				width += shadow_column_width(&s->cols[i]);
		first = false;
	}
	appendStringInfoChar(&sql, ')');
	spi_utility(sql.data);

	rel = table_open(s->relid, AccessShareLock);
	after = RelationGetIndexList(rel);
	table_close(rel, AccessShareLock);

	si = MemoryContextAllocZero(da_shadow_cxt, sizeof(DaShadowIndex));
	foreach(lc, after)
		if (!list_member_oid(before, lfirst_oid(lc)))
		si->indexoid = lfirst_oid(lc);

	if (OidIsValid(srcindex))
	{
		Relation	irel = index_open(srcindex, AccessShareLock);

		si->pages = RelationGetNumberOfBlocks(irel);
		si->tree_height = irel->rd_rel->relam == BTREE_AM_OID ?
			_bt_getrootheight(irel) : -1;
		index_close(irel, AccessShareLock);
	}
	else
		estimate_btree(s->tuples, width, &si->pages, &si->tree_height);

	{
		MemoryContext old = MemoryContextSwitchTo(da_shadow_cxt);

		s->indexes = lappend(s->indexes, si);
		MemoryContextSwitchTo(old);
	}
}

/*
 * shadow_copy_indexes
 *		Give the shadow the plain column indexes of relid (btree and hash,
 *		not partial, no expression), columns mapped by name.
 */
static void
shadow_copy_indexes(DaShadow *s, const char *shadowname, Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index index;
		List	   *cols = NIL;
		bool		usable;
		Oid			am;

		if (!HeapTupleIsValid(tup))
			continue;
		index = (Form_pg_index) GETSTRUCT(tup);
		{
			HeapTuple	ctup = SearchSysCache1(RELOID, ObjectIdGetDatum(indexoid));

			am = HeapTupleIsValid(ctup) ?
				((Form_pg_class) GETSTRUCT(ctup))->relam : InvalidOid;
			if (HeapTupleIsValid(ctup))
				ReleaseSysCache(ctup);
		}
		usable = index->indisvalid &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			(am == BTREE_AM_OID || am == HASH_AM_OID);
		for (int i = 0; usable && i < index->indnkeyatts; i++)
			cols = lappend(cols, get_attname(relid, index->indkey.values[i], false));
		if (usable)
			add_shadow_index(s, shadowname, cols, index->indisunique,
							 get_am_name(am), indexoid);
		ReleaseSysCache(tup);
	}
	table_close(rel, AccessShareLock);
}

/* A shadow column copied from relid.attno */
static DaShadowColumn *
column_from(Oid relid, AttrNumber attno, const char *name, bool notnull)
{
	DaShadowColumn *col = palloc0(sizeof(DaShadowColumn));

	col->name = pstrdup(name);
	get_atttypetypmodcoll(relid, attno, &col->type, &col->typmod,
						  &col->collation);
	col->notnull = notnull;
	col->srcrel = relid;
	col->srcatt = attno;
	return col;
}

/*
 * add_relation_columns
 *		Append the live columns of relid to a shadow's columns (statistics
 *		borrowed from themselves), their names, and the map from the
 *		query's (rti, attno) to the shadow's column.
 */
static void
add_relation_columns(Oid relid, Index rti, List **cols, List **colnames,
					 List **colmap)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		DaColumnMap *m;

		if (att->attisdropped)
			continue;
		*cols = lappend(*cols, column_from(relid, att->attnum,
										   NameStr(att->attname), att->attnotnull));
		*colnames = lappend(*colnames, pstrdup(NameStr(att->attname)));
		m = palloc(sizeof(DaColumnMap));
		m->rti = rti;
		m->attno = att->attnum;
		m->newattno = list_length(*cols);
		*colmap = lappend(*colmap, m);
	}
	table_close(rel, AccessShareLock);
}

/* Table sizes from pg_class */
static void
relation_sizes(Oid relid, double *tuples, BlockNumber *pages,
			   double *allvisfrac)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class form;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	form = (Form_pg_class) GETSTRUCT(tup);
	*tuples = Max(form->reltuples, 0);
	*pages = form->relpages;
	*allvisfrac = form->relpages > 0 ?
		Min(1.0, (double) form->relallvisible / form->relpages) : 0;
	ReleaseSysCache(tup);
}

/* Sum of the average widths of a relation's live columns */
static int32
relation_width(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	int32		width = 0;

	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			width += column_width(relid, i + 1);
	table_close(rel, AccessShareLock);
	return width;
}

/*
 * widened_shadow
 *		The shadow of relid with added_width more bytes per row: its rows,
 *		its pages grown in proportion to the row width, its indexes.
 */
static DaShadow *
widened_shadow(Oid relid, List *cols, int32 added_width, double *tuples)
{
	BlockNumber pages;
	double		allvisfrac;
	int32		width;
	DaShadow   *s;

	relation_sizes(relid, tuples, &pages, &allvisfrac);
	width = relation_width(relid);
	if (pages == 0)
		pages = estimate_pages(*tuples, width);
	pages = (BlockNumber) ceil(pages * (double) (MAXALIGN(width + added_width) + DA_TUPLE_OVERHEAD) /
							   (MAXALIGN(width) + DA_TUPLE_OVERHEAD));
	s = create_shadow(DA_SHADOW_NAME, cols, *tuples, pages, allvisfrac);
	shadow_copy_indexes(s, DA_SHADOW_NAME, relid);
	return s;
}

/* A new column name for relid: base, or base_copy when taken */
static char *
fresh_column_name(Oid relid, const char *base, List *taken)
{
	char		name[NAMEDATALEN];
	ListCell   *lc;
	bool		clash;

	strlcpy(name, base, NAMEDATALEN);
	for (int n = 0;; n++)
	{
		clash = get_attnum(relid, name) != InvalidAttrNumber;
		foreach(lc, taken)
			if (strcmp(lfirst(lc), name) == 0)
			clash = true;
		if (!clash)
			return pstrdup(name);
		snprintf(name, NAMEDATALEN, "%.*s_%d", NAMEDATALEN - 8, base, n + 1);
	}
}

/* ------------------------------------------------------------------------
 * The what-if call
 * ------------------------------------------------------------------------ */

/* Inputs and outputs of one what-if call */
typedef struct WhatIf
{
	/* input */
	const char *sql;
	const char *kind;
	Oid			conoid;
	List	   *columns;		/* char * */
	const char *name;
	Oid		   *ptypes;			/* the statement's parameter types */
	int			nparams;
	/* output, allocated in the caller's context */
	MemoryContext outcxt;
	double		cost_before;
	double		cost_after;
	double		time_before;	/* time-model costs (see time_cost) */
	double		time_after;
	Query	   *after;			/* the rewritten query, planned */
	const char *after_sql;
	double		rows;			/* rows of the candidate relation */
	int32		width;			/* its row width (estimated) */
	char	   *rewritten;
	char	   *definition;
	List	   *new_columns;	/* char *: added columns / view columns */
	List	   *index_columns;	/* char *: columns a new index needs */
	List	   *unique_columns; /* char *: a unique key of the view */
	const char *reason;
} WhatIf;

/* A copy of s in the caller's memory (it outlives SPI and the subxact) */
static char *
outstr(WhatIf *w, const char *s)
{
	return MemoryContextStrdup(w->outcxt, s);
}

/*
 * cast_params
 *		The rewritten text with every $n cast to the type the original
 *		statement gave it ($1 becomes $1::timestamp with time zone), so
 *		that it can be prepared as it is: deparsed parameters carry no type.
 *		String literals and quoted identifiers are left alone.
 */
static char *
cast_params(WhatIf *w, const char *sql)
{
	StringInfoData out;
	char		quote = 0;

	initStringInfo(&out);
	for (const char *p = sql; *p; p++)
	{
		if (quote)
		{
			if (*p == quote)
				quote = 0;
			appendStringInfoChar(&out, *p);
			continue;
		}
		if (*p == '\'' || *p == '"')
		{
			quote = *p;
			appendStringInfoChar(&out, *p);
			continue;
		}
		if (*p == '$' && isdigit((unsigned char) p[1]) &&
			(p == sql || !(isalnum((unsigned char) p[-1]) || p[-1] == '_')))
		{
			int			n = 0;
			const char *q = p + 1;

			while (isdigit((unsigned char) *q))
				n = n * 10 + (*q++ - '0');
			appendBinaryStringInfo(&out, p, q - p);
			if (n >= 1 && n <= w->nparams && OidIsValid(w->ptypes[n - 1]) &&
				strncmp(q, "::", 2) != 0)
				appendStringInfo(&out, "::%s", format_type_be(w->ptypes[n - 1]));
			p = q - 1;
			continue;
		}
		appendStringInfoChar(&out, *p);
	}
	return out.data;
}

/* The foreign-key join of the query for the candidate's constraint */
static DaFkJoin *
join_for(Query *query, Oid conoid)
{
	ListCell   *lc;

	foreach(lc, da_find_fk_joins(query))
	{
		DaFkJoin   *join = lfirst(lc);

		if (join->conoid == conoid)
			return join;
	}
	return NULL;
}

/* How many foreign keys of the child reference the join's parent */
static int
keys_to_parent(DaFkJoin *join)
{
	Relation	rel = table_open(join->child, AccessShareLock);
	ListCell   *lc;
	int			n = 0;

	foreach(lc, RelationGetFKeyList(rel))
		if (((ForeignKeyCacheInfo *) lfirst(lc))->confrelid == join->parent)
		n++;
	table_close(rel, AccessShareLock);
	return n;
}

/* Are the child's key values the parent's key values (see whatif_copy)? */
static bool
keys_identical(DaFkJoin *join)
{
	if (join->nkeys != 1)
		return false;
	for (int k = 0; k < join->nkeys; k++)
	{
		Oid			ctype,
					ptype,
					ccoll,
					pcoll;
		int32		ctypmod,
					ptypmod;

		get_atttypetypmodcoll(join->child, join->child_keys[k], &ctype, &ctypmod, &ccoll);
		get_atttypetypmodcoll(join->parent, join->parent_keys[k], &ptype, &ptypmod, &pcoll);
		if (ctype != ptype || ctypmod != ptypmod || ccoll != pcoll)
			return false;
		if (ctype != INT2OID && ctype != INT4OID && ctype != INT8OID &&
			ctype != OIDOID && ctype != UUIDOID && ctype != DATEOID &&
			ctype != TIMESTAMPOID && ctype != TIMESTAMPTZOID &&
			ctype != BOOLOID &&
			!((ctype == TEXTOID || ctype == VARCHAROID) &&
			  (ccoll == DEFAULT_COLLATION_OID || ccoll == C_COLLATION_OID)))
			return false;
	}
	return true;
}

/*
 * whatif_copy
 *		The child as it would be with the parent's columns copied: a shadow
 *		with the child's columns and indexes plus the copies, wider rows on
 *		more pages; then the query rewritten to read it.
 */
static void
whatif_copy(WhatIf *w, Query *query)
{
	DaFkJoin   *join = join_for(query, w->conoid);
	List	   *cols = NIL;
	List	   *colnames = NIL;
	List	   *colmap = NIL;
	List	   *added = NIL;
	ListCell   *lc;
	double		tuples;
	int32		added_width = 0;
	DaShadow   *s;
	Query	   *rewritten;

	if (join == NULL)
	{
		w->reason = "the query does not join along this foreign key";
		return;
	}

	/* the child's columns, then the copies */
	add_relation_columns(join->child, join->child_rti, &cols, &colnames, &colmap);

	/*
	 * Reading the parent's key is reading the child's foreign key, when the
	 * two are the same value: same type, typmod and collation, a type whose
	 * equality is identity, and a key of one column (a MATCH SIMPLE key of
	 * several may match with a NULL part).  Otherwise the query's parent key
	 * columns are not mapped and the candidate does not serve it.
	 */
	for (int k = 0; k < join->nkeys && keys_identical(join); k++)
	{
		DaColumnMap *m = palloc(sizeof(DaColumnMap));
		ListCell   *lc2;

		m->rti = join->parent_rti;
		m->attno = join->parent_keys[k];
		m->newattno = InvalidAttrNumber;
		foreach(lc2, colmap)
		{
			DaColumnMap *cm = lfirst(lc2);

			if (cm->rti == join->child_rti && cm->attno == join->child_keys[k])
				m->newattno = cm->newattno;
		}
		colmap = lappend(colmap, m);
	}

	foreach(lc, w->columns)
	{
		char	   *pcol = lfirst(lc);
		AttrNumber	pattno = get_attnum(join->parent, pcol);
		char		base[NAMEDATALEN * 2];
		char	   *newname;
		DaColumnMap *m;
		bool		is_key = false;

		if (pattno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							pcol, get_rel_name(join->parent))));
		for (int k = 0; k < join->nkeys; k++)
			if (join->parent_keys[k] == pattno)
				is_key = true;
		if (is_key)
			continue;
		/* two keys to one parent: name the copies after the key column */
		if (keys_to_parent(join) > 1)
			snprintf(base, sizeof(base), "%s_%s",
					 get_attname(join->child, join->child_keys[0], false), pcol);
		else
			snprintf(base, sizeof(base), "%s_%s", get_rel_name(join->parent), pcol);
		newname = fresh_column_name(join->child, base, added);
		added = lappend(added, newname);
		/* NOT NULL only if the key and the source column are */
		cols = lappend(cols, column_from(join->parent, pattno, newname, false));
		colnames = lappend(colnames, newname);
		added_width += column_width(join->parent, pattno);
		m = palloc(sizeof(DaColumnMap));
		m->rti = join->parent_rti;
		m->attno = pattno;
		m->newattno = list_length(cols);
		colmap = lappend(colmap, m);
	}

	s = widened_shadow(join->child, cols, added_width, &tuples);

	rewritten = da_rewrite_copy(query, join, s->relid, colmap, &colnames,
								&w->reason);
	if (rewritten == NULL)
		return;
	w->cost_after = da_plan_cost(rewritten, w->sql, NULL, NULL);
	w->after = rewritten;
	w->after_sql = w->sql;
	w->rewritten = outstr(w, cast_params(w, shadow_as(pg_get_querydef(rewritten, false),
													  join->child)));
	w->rows = tuples;
	w->width = added_width;
	foreach(lc, added)
		w->new_columns = lappend(w->new_columns, outstr(w, lfirst(lc)));
}

/*
 * whatif_counter
 *		The parent as it would be with its counters: a shadow with the
 *		parent's columns and indexes plus the children count and the sums;
 *		then the query rewritten to read them.
 */
static void
whatif_counter(WhatIf *w, Query *query)
{
	DaFkJoin   *join = join_for(query, w->conoid);
	List	   *aggs;
	List	   *cols = NIL;
	List	   *colnames = NIL;
	List	   *colmap = NIL;
	List	   *added = NIL;
	List	   *agg_attnos = NIL;
	ListCell   *lc;
	double		tuples;
	int32		added_width;
	AttrNumber	count_attno;
	DaShadow   *s;
	char		base[NAMEDATALEN * 2];
	DaShadowColumn *col;
	Query	   *rewritten;

	if (join == NULL)
	{
		w->reason = "the query does not join along this foreign key";
		return;
	}
	aggs = da_counter_aggregates(query, join, &w->reason);
	if (w->reason)
		return;

	add_relation_columns(join->parent, join->parent_rti, &cols, &colnames, &colmap);

	/* the children count, then one sum per summed column */
	snprintf(base, sizeof(base), "%s_count", get_rel_name(join->child));
	col = palloc0(sizeof(DaShadowColumn));
	col->name = fresh_column_name(join->parent, base, NIL);
	col->type = INT8OID;
	col->typmod = -1;
	col->notnull = true;
	cols = lappend(cols, col);
	colnames = lappend(colnames, col->name);
	added = lappend(added, col->name);
	count_attno = list_length(cols);
	added_width = 8;

	foreach(lc, w->columns)
	{
		char	   *ccol = lfirst(lc);
		AttrNumber	cattno = get_attnum(join->child, ccol);
		Oid			ctype;
		int32		ctypmod;
		Oid			ccoll;

		if (cattno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							ccol, get_rel_name(join->child))));
		get_atttypetypmodcoll(join->child, cattno, &ctype, &ctypmod, &ccoll);
		snprintf(base, sizeof(base), "%s_%s_sum", get_rel_name(join->child), ccol);
		col = palloc0(sizeof(DaShadowColumn));
		col->name = fresh_column_name(join->parent, base, added);
		/* sum's result type: int8 for int2/int4, numeric for int8 */
		col->type = (ctype == INT2OID || ctype == INT4OID) ? INT8OID :
			(ctype == INT8OID) ? NUMERICOID : ctype;
		col->typmod = -1;
		col->notnull = true;
		cols = lappend(cols, col);
		colnames = lappend(colnames, col->name);
		added = lappend(added, col->name);
		added_width += get_typavgwidth(col->type, -1);
	}

	/* map each aggregate to its column */
	foreach(lc, aggs)
	{
		Aggref	   *agg = lfirst(lc);
		char	   *fname = get_func_name(agg->aggfnoid);
		AttrNumber	target = InvalidAttrNumber;

		if (strcmp(fname, "count") == 0)
			target = count_attno;	/* count(col) of a NOT NULL col too */
		else
		{
			Var		   *arg = (Var *) strip_implicit_coercions((Node *) ((TargetEntry *) linitial(agg->args))->expr);
			char	   *cname = get_attname(join->child, arg->varattno, false);
			int			n = 0;
			ListCell   *lc2;

			foreach(lc2, w->columns)
			{
				if (strcmp(lfirst(lc2), cname) == 0)
					target = count_attno + 1 + n;
				n++;
			}
			if (target != InvalidAttrNumber &&
				agg->aggtype != ((DaShadowColumn *) list_nth(cols, target - 1))->type)
				target = InvalidAttrNumber;
		}
		if (target == InvalidAttrNumber)
		{
			w->reason = "the query sums a column the candidate does not keep";
			return;
		}
		agg_attnos = lappend_int(agg_attnos, target);
	}

	s = widened_shadow(join->parent, cols, added_width, &tuples);

	rewritten = da_rewrite_counter(query, join, s->relid, colmap, aggs,
								   agg_attnos, count_attno, &colnames,
								   &w->reason);
	if (rewritten == NULL)
		return;
	w->cost_after = da_plan_cost(rewritten, w->sql, NULL, NULL);
	w->after = rewritten;
	w->after_sql = w->sql;
	w->rewritten = outstr(w, cast_params(w, shadow_as(pg_get_querydef(rewritten, false),
													  join->parent)));
	w->rows = tuples;
	w->width = added_width;
	foreach(lc, added)
		w->new_columns = lappend(w->new_columns, outstr(w, lfirst(lc)));
}

/*
 * shadow_as_name
 *		The text with the shadow's name (qualified with the temporary schema
 *		or not) replaced by the given qualified name.
 */
static char *
shadow_as_name(const char *text, const char *name)
{
	StringInfoData out;
	char	   *tempq = psprintf("%s.%s",
								 quote_identifier(get_namespace_name(LookupCreationNamespace("pg_temp"))),
								 DA_SHADOW_NAME);
	const char *forms[] = {tempq, "pg_temp." DA_SHADOW_NAME, DA_SHADOW_NAME};
	const char *p = text;

	initStringInfo(&out);
	while (*p)
	{
		bool		done = false;

		for (int i = 0; i < lengthof(forms) && !done; i++)
		{
			size_t		len = strlen(forms[i]);

			if (strncmp(p, forms[i], len) == 0 &&
				(p == text ||!(isalnum((unsigned char) p[-1]) || p[-1] == '_')) &&
				!(isalnum((unsigned char) p[len]) || p[len] == '_'))
			{
				appendStringInfoString(&out, name);
				p += len;
				done = true;
			}
		}
		if (!done)
			appendStringInfoChar(&out, *p++);
	}
	return out.data;
}

/* The same, with the schema-qualified name of a relation */
static char *
shadow_as(const char *text, Oid relid)
{
	return shadow_as_name(text,
						  quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													 get_rel_name(relid)));
}

/*
 * view_name
 *		The qualified name of the materialized view: in the schema of the
 *		query's first relation, as ddl() creates it.
 */
static char *
view_name(WhatIf *w, Query *query)
{
	List	   *relids = da_relations_of(query);
	Oid			nsp = relids ? get_rel_namespace(linitial_oid(relids)) : PG_PUBLIC_NAMESPACE;

	return quote_qualified_identifier(get_namespace_name(nsp), w->name);
}

/* Context of the mapping of a view's source columns to its columns */
typedef struct ViewMapContext
{
	List	   *tlist;			/* the view definition's target list */
} ViewMapContext;

/* Point the Vars of a moved-out condition at the view's columns */
static Node *
view_map_mutator(Node *node, ViewMapContext *ctx)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var) && ((Var *) node)->varlevelsup == 0)
	{
		ListCell   *lc;

		foreach(lc, ctx->tlist)
		{
			TargetEntry *tle = lfirst(lc);

			if (equal(tle->expr, node))
				return (Node *) makeVar(1, tle->resno, exprType(node),
										exprTypmod(node),
										exprCollation(node), 0);
		}
		elog(ERROR, "a column of a parameterized condition is not in the view");
	}
	return expression_tree_mutator(node, view_map_mutator, ctx);
}

/* A unique column name among names, derived from base */
static char *
unique_name(List *names, const char *base)
{
	char		name[NAMEDATALEN];
	ListCell   *lc;
	bool		clash;

	strlcpy(name, base, NAMEDATALEN);
	for (int n = 1;; n++)
	{
		clash = false;
		foreach(lc, names)
			if (strcmp(lfirst(lc), name) == 0)
			clash = true;
		if (!clash)
			return pstrdup(name);
		snprintf(name, NAMEDATALEN, "%.*s_%d", NAMEDATALEN - 8, base, n + 1);
	}
}

/*
 * whatif_matview
 *		Cost the query reading a materialized view of itself: the view
 *		holds the join (or aggregate) without the parameterized
 *		conditions, which the query applies to the view, with an index
 *		over their columns; a unique index (needed by REFRESH ...
 *		CONCURRENTLY) over the grouping columns, or over the primary keys
 *		of the joined tables, which a join view then carries.
 */
static void
whatif_matview(WhatIf *w, Query *query)
{
	Query	   *orig = copyObject(query);
	List	   *param_quals;
	Query	   *def;
	List	   *names = NIL;
	List	   *cols = NIL;
	List	   *unique_cols = NIL;
	List	   *param_cols = NIL;
	ListCell   *lc;
	double		rows;
	int			width;
	DaShadow   *s;
	StringInfoData sql;
	List	   *dpcontext;
	ViewMapContext vctx;
	Oid		   *ptypes;
	int			nparams;
	Query	   *rewritten;
	int			i;
	bool		first;

	def = da_matview_definition(query, &param_quals, &w->reason);
	if (def == NULL)
		return;

	/* a join view carries the primary keys of its tables: its unique key */
	if (!def->hasAggs && def->groupClause == NIL)
	{
		DaQueryShape shape;
		bool		all_keyed = true;
		List	   *rtis;

		da_query_shape(def, &shape);
		rtis = list_copy(shape.rtis);
		foreach(lc, shape.left_joins)
			rtis = lappend_int(rtis, ((RangeTblRef *) ((JoinExpr *) lfirst(lc))->rarg)->rtindex);
		foreach(lc, rtis)
		{
			RangeTblEntry *rte = rt_fetch(lfirst_int(lc), def->rtable);
			Relation	rel = table_open(rte->relid, AccessShareLock);
			Oid			pk = RelationGetPrimaryKeyIndex(rel);

			table_close(rel, AccessShareLock);
			if (!OidIsValid(pk))
			{
				all_keyed = false;
				continue;
			}
			{
				HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk));
				Form_pg_index index;

				if (!HeapTupleIsValid(tup))
					elog(ERROR, "cache lookup failed for index %u", pk);
				index = (Form_pg_index) GETSTRUCT(tup);

				for (int k = 0; k < index->indnkeyatts; k++)
				{
					AttrNumber	attno = index->indkey.values[k];
					Oid			type;
					int32		typmod;
					Oid			coll;
					Var		   *var;
					TargetEntry *tle = NULL;
					ListCell   *lc2;

					get_atttypetypmodcoll(rte->relid, attno, &type, &typmod, &coll);
					var = makeVar(lfirst_int(lc), attno, type, typmod, coll, 0);
					foreach(lc2, def->targetList)
						if (equal(((TargetEntry *) lfirst(lc2))->expr, var))
						tle = lfirst(lc2);
					if (tle == NULL)
					{
						char		base[NAMEDATALEN * 2];

						snprintf(base, sizeof(base), "%s_%s",
								 rte->eref->aliasname,
								 get_attname(rte->relid, attno, false));
						tle = makeTargetEntry((Expr *) var,
											  list_length(def->targetList) + 1,
											  pstrdup(base), false);
						def->targetList = lappend(def->targetList, tle);
					}
					unique_cols = lappend_int(unique_cols, tle->resno);
				}
				ReleaseSysCache(tup);
			}
		}
		if (!all_keyed)
			unique_cols = NIL;
	}
	else
	{
		foreach(lc, def->groupClause)
		{
			TargetEntry *tle = get_sortgroupclause_tle(lfirst(lc), def->targetList);

			unique_cols = lappend_int(unique_cols, tle->resno);
		}
	}

	/* column names: the query's, else col_N; unique */
	i = 0;
	foreach(lc, def->targetList)
	{
		TargetEntry *tle = lfirst(lc);
		char		base[NAMEDATALEN];
		DaShadowColumn *col = palloc0(sizeof(DaShadowColumn));
		Node	   *expr = (Node *) tle->expr;

		i++;
		if (tle->resname && strcmp(tle->resname, "?column?") != 0)
			strlcpy(base, tle->resname, sizeof(base));
		else if (IsA(expr, Var) && ((Var *) expr)->varlevelsup == 0 &&
				 ((Var *) expr)->varattno > 0 &&
				 rt_fetch(((Var *) expr)->varno, def->rtable)->rtekind == RTE_RELATION)
			strlcpy(base, get_attname(rt_fetch(((Var *) expr)->varno, def->rtable)->relid,
									  ((Var *) expr)->varattno, false), sizeof(base));
		else
			snprintf(base, sizeof(base), "col_%d", i);
		tle->resname = unique_name(names, base);
		names = lappend(names, tle->resname);

		col->name = tle->resname;
		col->type = exprType(expr);
		col->typmod = exprTypmod(expr);
		col->collation = exprCollation(expr);
		if (IsA(expr, Var) && ((Var *) expr)->varlevelsup == 0)
		{
			RangeTblEntry *rte = rt_fetch(((Var *) expr)->varno, def->rtable);

			if (rte->rtekind == RTE_RELATION && ((Var *) expr)->varattno > 0)
			{
				col->srcrel = rte->relid;
				col->srcatt = ((Var *) expr)->varattno;
			}
		}
		cols = lappend(cols, col);
	}

	/* the columns the parameterized conditions filter */
	vctx.tlist = def->targetList;
	param_quals = (List *) view_map_mutator((Node *) param_quals, &vctx);
	foreach(lc, pull_var_clause((Node *) param_quals, 0))
		param_cols = list_append_unique_int(param_cols, ((Var *) lfirst(lc))->varattno);

	(void) da_plan_cost(def, w->sql, &rows, &width);
	rows = Max(rows, 1.0);
	w->rows = rows;
	w->width = width;
	s = create_shadow(DA_SHADOW_NAME, cols, rows, estimate_pages(rows, width), 0.0);

	if (unique_cols != NIL)
	{
		List	   *ucols = NIL;

		foreach(lc, unique_cols)
			ucols = lappend(ucols, list_nth(names, lfirst_int(lc) - 1));
		add_shadow_index(s, DA_SHADOW_NAME, ucols, true, "btree", InvalidOid);
		foreach(lc, ucols)
			w->unique_columns = lappend(w->unique_columns, outstr(w, lfirst(lc)));
	}
	if (param_cols != NIL)
	{
		List	   *pcols = NIL;

		foreach(lc, param_cols)
			pcols = lappend(pcols, list_nth(names, lfirst_int(lc) - 1));
		add_shadow_index(s, DA_SHADOW_NAME, pcols, false, "btree", InvalidOid);
		foreach(lc, pcols)
			w->index_columns = lappend(w->index_columns, outstr(w, lfirst(lc)));
	}

	/* the query reading the view */
	dpcontext = deparse_context_for(DA_SHADOW_NAME, s->relid);
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	first = true;
	i = 0;
	foreach(lc, orig->targetList)
	{
		TargetEntry *tle = lfirst(lc);
		char	   *vcol = list_nth(names, i++);

		if (tle->resjunk)
			continue;
		appendStringInfo(&sql, "%s%s", first ? "" : ", ", quote_identifier(vcol));
		if (tle->resname && strcmp(tle->resname, vcol) != 0)
			appendStringInfo(&sql, " AS %s", quote_identifier(tle->resname));
		first = false;
	}
	appendStringInfo(&sql, " FROM pg_temp.%s", DA_SHADOW_NAME);
	if (param_quals != NIL)
		appendStringInfo(&sql, " WHERE %s",
						 deparse_expression((Node *) make_ands_explicit(param_quals),
											dpcontext, false, false));
	first = true;
	foreach(lc, orig->sortClause)
	{
		SortGroupClause *sgc = lfirst(lc);
		TargetEntry *tle = get_sortgroupclause_tle(sgc, orig->targetList);
		Oid			opfamily;
		Oid			opcintype;
		int16		strategy;
		bool		desc = false;

		if (get_ordering_op_properties(sgc->sortop, &opfamily, &opcintype, &strategy))
			desc = (strategy == BTGreaterStrategyNumber);
		appendStringInfo(&sql, "%s%s%s%s", first ? " ORDER BY " : ", ",
						 quote_identifier(list_nth(names, tle->resno - 1)),
						 desc ? " DESC" : "",
						 sgc->nulls_first != desc ?
						 (sgc->nulls_first ? " NULLS FIRST" : " NULLS LAST") : "");
		first = false;
	}
	if (orig->limitCount)
		appendStringInfo(&sql, " LIMIT %s",
						 deparse_expression(orig->limitCount, dpcontext, false, false));
	if (orig->limitOffset)
		appendStringInfo(&sql, " OFFSET %s",
						 deparse_expression(orig->limitOffset, dpcontext, false, false));

	rewritten = da_parse_statement(sql.data, &ptypes, &nparams);
	w->cost_after = da_plan_cost(rewritten, sql.data, NULL, NULL);
	w->after = rewritten;
	w->after_sql = sql.data;
	w->rewritten = outstr(w, cast_params(w, shadow_as_name(sql.data, view_name(w, query))));
	w->definition = outstr(w, pg_get_querydef(def, true));
	foreach(lc, names)
		w->new_columns = lappend(w->new_columns, outstr(w, lfirst(lc)));
}

/*
 * time_cost
 *		The cost of a query under the time model: its plan costed with
 *		page costs scaled by the share of page reads that miss the buffer
 *		cache, plus denorm_advisor.output_row_cost per result row.
 *
 * The planner prices every page read as a disk read and does not price
 * sending the result; on a workload whose data is cached, which is the
 * common case, the first overstates what removing an index probe saves and
 * the second ignores the part of the time a rewrite does not change.
 * Measured on the benchmark (docs/bench/denorm_advisor.md): plain planner
 * costs predicted 31x and 53x where 4x was measured.
 */
static double
time_cost(Query *query, const char *sql)
{
	double		rows;
	double		cost = da_plan_cost(query, sql, &rows, NULL);

	return cost + da_output_row_cost * rows;
}

/*
 * time_costs
 *		The time-model costs before and after, planned with the page costs
 *		of the measured cache miss ratio (set for the subtransaction only:
 *		its rollback restores them).
 */
static void
time_costs(WhatIf *w, Query *before)
{
	double		miss = da_cache_miss_ratio();
	char		buf[64];

	snprintf(buf, sizeof(buf), "%g", Max(random_page_cost * miss, 0.0001));
	(void) set_config_option("random_page_cost", buf, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	snprintf(buf, sizeof(buf), "%g", Max(seq_page_cost * miss, 0.0001));
	(void) set_config_option("seq_page_cost", buf, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	w->time_before = time_cost(before, w->sql);
	w->time_after = time_cost(w->after, w->after_sql);
}

/* Run the candidate's what-if (inside the subtransaction) */
static void
whatif_run(WhatIf *w, Query *query)
{
	if (strcmp(w->kind, "copy_column") == 0)
		whatif_copy(w, query);
	else if (strcmp(w->kind, "counter") == 0)
		whatif_counter(w, query);
	else
		whatif_matview(w, query);
}

/*
 * whatif_in_subxact
 *		Run the what-if inside an internal subtransaction that is always
 *		rolled back: the shadows and their indexes vanish with it.  An
 *		error becomes the candidate's reason, except a cancel.
 */
static void
whatif_in_subxact(WhatIf *w, Query *query)
{
	ResourceOwner oldowner = CurrentResourceOwner;
	MemoryContext oldcxt = CurrentMemoryContext;

	if (da_shadow_cxt == NULL)
		da_shadow_cxt = AllocSetContextCreate(TopMemoryContext,
											  "denorm_advisor shadows",
											  ALLOCSET_SMALL_SIZES);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		Query	   *before = copyObject(query);

		/* deparsed names come out schema-qualified (rolled back with us) */
		(void) set_config_option("search_path", "", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);

		whatif_run(w, query);
		if (w->reason == NULL && w->after != NULL)
			time_costs(w, before);
		reset_shadows();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		reset_shadows();
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		w->reason = psprintf("planning the candidate failed: %s", edata->message);
	}
	PG_END_TRY();
}

/* A text[] of a list of C strings */
static Datum
text_array(List *strings)
{
	ArrayBuildState *astate = NULL;
	ListCell   *lc;

	foreach(lc, strings)
		astate = accumArrayResult(astate, CStringGetTextDatum(lfirst(lc)),
								  false, TEXTOID, CurrentMemoryContext);
	if (astate == NULL)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	return makeArrayResult(astate, CurrentMemoryContext);
}

/*
 * check_select_privileges
 *		The caller must be able to read every relation the query reads, at
 *		any level: the what-if borrows their statistics.  NULL, or the
 *		reason.
 */
static const char *
check_select_privileges(Query *query)
{
	ListCell   *lc;

	foreach(lc, da_relations_of(query))
	{
		Oid			relid = lfirst_oid(lc);

		if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
			pg_attribute_aclcheck_all(relid, GetUserId(), ACL_SELECT,
									  ACLMASK_ALL) != ACLCHECK_OK)
			return psprintf("permission denied for table %s",
							get_rel_name(relid));
	}
	return NULL;
}

/*
 * denorm_advisor._whatif(sql text, kind text, fk oid, columns text[],
 *						  name text)
 *		Cost a SELECT before and after a candidate.
 *
 * kind 'copy_column': copy the parent columns "columns" into the child of
 * foreign key fk; 'counter': keep on the parent of fk the children count
 * and the sums of the child columns "columns"; 'matview': a materialized
 * view named "name".  Returns the generic-plan costs, the candidate
 * relation's rows and added width, the rewritten query, the view's
 * definition, the columns added, the columns of the indexes the candidate
 * needs, and the reason when the candidate cannot serve the query.
 */
Datum
denorm_advisor_whatif(PG_FUNCTION_ARGS)
{
	WhatIf		w;
	TupleDesc	tupdesc;
	Query	   *query;
	Oid		   *ptypes;
	int			nparams;
	Datum		values[12];
	bool		nulls[12];
	int			ncols = 0;
	Datum	   *elems;
	bool	   *elemnulls;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the statement and the kind must not be NULL")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	memset(&w, 0, sizeof(w));
	w.outcxt = CurrentMemoryContext;
	w.sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	w.kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	w.conoid = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);
	w.name = PG_ARGISNULL(4) ? "da_matview" : text_to_cstring(PG_GETARG_TEXT_PP(4));
	if (strcmp(w.kind, "copy_column") != 0 && strcmp(w.kind, "counter") != 0 &&
		strcmp(w.kind, "matview") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown candidate kind \"%s\"", w.kind),
				 errhint("The kinds are copy_column, counter and matview.")));
	if (!PG_ARGISNULL(3))
	{
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, &elemnulls, &ncols);
		for (int i = 0; i < ncols; i++)
			if (!elemnulls[i])
				w.columns = lappend(w.columns, TextDatumGetCString(elems[i]));
	}

	query = da_parse_statement(w.sql, &ptypes, &nparams);
	w.ptypes = ptypes;
	w.nparams = nparams;
	if (query->commandType != CMD_SELECT)
		w.reason = "only a SELECT reads a denormalized relation";
	else
		w.reason = check_select_privileges(query);
	if (w.reason == NULL)
	{
		w.cost_before = da_plan_cost(query, w.sql, NULL, NULL);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* results must outlive SPI_finish: allocate them in ours */
		MemoryContextSwitchTo(w.outcxt);
		whatif_in_subxact(&w, copyObject(query));
		MemoryContextSwitchTo(w.outcxt);
		SPI_finish();
		MemoryContextSwitchTo(w.outcxt);
	}

	memset(nulls, 0, sizeof(nulls));
	values[0] = Float8GetDatum(w.cost_before);
	values[1] = Float8GetDatum(w.cost_after);
	values[2] = Float8GetDatum(w.rows);
	values[3] = Int32GetDatum(w.width);
	if (w.reason != NULL)
	{
		nulls[1] = nulls[2] = nulls[3] = nulls[4] = nulls[5] = true;
		if (w.cost_before == 0)
			nulls[0] = true;
	}
	if (w.rewritten)
		values[4] = CStringGetTextDatum(w.rewritten);
	else
		nulls[4] = true;
	if (w.definition)
		values[5] = CStringGetTextDatum(w.definition);
	else
		nulls[5] = true;
	values[6] = text_array(w.new_columns);
	values[7] = text_array(w.index_columns);
	values[8] = text_array(w.unique_columns);
	if (w.reason)
		values[9] = CStringGetTextDatum(w.reason);
	else
		nulls[9] = true;
	values[10] = Float8GetDatum(w.time_before);
	values[11] = Float8GetDatum(w.time_after);
	if (w.reason != NULL || w.time_before <= 0)
		nulls[10] = nulls[11] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

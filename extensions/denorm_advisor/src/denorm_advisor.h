/*-------------------------------------------------------------------------
 *
 * denorm_advisor.h
 *	  Shared declarations of the denorm_advisor extension.
 *
 * denorm_advisor reads a workload (pg_stat_statements, statements given
 * with add_query, or the optional collector), finds the joins that follow
 * foreign keys, and costs three kinds of denormalization without touching
 * a user table:
 *
 *	copy_column	parent columns copied into the child across a foreign key
 *				(the join to the parent disappears from the query);
 *	counter		count(*) / sum(col) of the children kept on the parent
 *				(the join and the aggregation disappear);
 *	matview		a materialized view of a hot join or aggregate (the query
 *				reads the view; PostgreSQL never rewrites to it by itself).
 *
 * The C code does what SQL cannot: it parses and analyses workload
 * statements (da_query.c), rewrites their query trees for a candidate
 * (da_rewrite.c), and costs the rewritten tree against a hypothetical
 * relation (da_whatif.c).  Candidate generation, the write-cost model, the
 * greedy pick, DDL generation and the normalization checker are SQL and
 * PL/pgSQL in the install script, where a DBA can read them.
 *
 * What-if costing (da_whatif.c).  A candidate's denormalized table is an
 * empty "shadow" temporary table created inside an internal
 * subtransaction, with the columns the candidate would have and the
 * indexes of the table it stands for.  While a rewritten query is planned,
 * three planner hooks make the shadow look like the real thing:
 * get_relation_info_hook gives it the tuples and pages it would have (and
 * its indexes the pages and height of their source indexes),
 * get_relation_stats_hook lends it the pg_statistic rows of the source
 * columns, get_attavgwidth_hook their widths.  The subtransaction is then
 * rolled back: nothing is left behind.
 *
 * Invariants:
 *	I1	No lock stronger than AccessShareLock is taken on a user table, and
 *		no user table is altered: candidates are planned against shadows.
 *	I2	Every shadow lives inside an internal subtransaction that is rolled
 *		back before the SQL function returns, also on error; the shadow
 *		registry the hooks read is emptied at the same point, so the hooks
 *		never act outside a what-if planning call.
 *	I3	Costs are those of generic plans: statements are analysed with
 *		parse_analyze_varparams and planned without parameter values, as
 *		a prepared statement under plan_cache_mode = force_generic_plan.
 *	I4	A rewrite is only produced when it returns the same rows as the
 *		original on every database state the candidate's triggers keep
 *		consistent; any query shape the rewriter does not prove equivalent
 *		is refused with a reason, never approximated.
 *	I5	Every hook chains to the previous one for relations that are not
 *		shadows.
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/denorm_advisor/src/denorm_advisor.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DENORM_ADVISOR_H
#define DENORM_ADVISOR_H

#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"

/* GUCs (da_main.c) */
extern int	da_time_budget;
extern double da_output_row_cost;
extern double da_cache_miss_setting;
extern double da_cache_miss_ratio(void);

/*
 * A join of a query along a foreign key: child.conkey = parent.confkey for
 * every key column, found among the conjuncts of WHERE and of inner JOIN
 * ... ON clauses of the top query level (or the ON clause of child LEFT
 * JOIN parent).
 */
typedef struct DaFkJoin
{
	Oid			conoid;			/* the foreign key constraint */
	Oid			child;			/* referencing relation */
	Oid			parent;			/* referenced relation */
	Index		child_rti;		/* range table indexes in the query */
	Index		parent_rti;
	int			nkeys;
	AttrNumber	child_keys[INDEX_MAX_KEYS];
	AttrNumber	parent_keys[INDEX_MAX_KEYS];
	JoinType	jointype;		/* JOIN_INNER, or JOIN_LEFT: child LEFT JOIN
								 * parent */
	List	   *key_quals;		/* the equality conjuncts of the key */
	Bitmapset  *parent_cols;	/* parent columns read elsewhere in the query
								 * (attno -
								 * FirstLowInvalidHeapAttributeNumber) */
	Bitmapset  *child_cols;		/* child columns read, same encoding */
	bool		parent_whole_row;	/* parent.* or a system column read */
	bool		parent_joined_elsewhere;	/* a conjunct relates parent to a
											 * third relation */
	bool		parent_in_sublink;	/* referenced from a sub-SELECT */
} DaFkJoin;

/* The top level of a query, flattened (da_query.c) */
typedef struct DaQueryShape
{
	List	   *rtis;			/* range table indexes of base relations */
	List	   *conjuncts;		/* WHERE and inner ON conjuncts */
	List	   *left_joins;		/* JoinExpr of every LEFT JOIN */
	bool		flat;			/* only base relations, inner joins and left
								 * joins of one base relation on the right */
} DaQueryShape;

/* da_query.c */
extern Query *da_parse_statement(const char *sql, Oid **paramTypes,
								 int *numParams);
extern void da_query_shape(Query *query, DaQueryShape *shape);
extern List *da_find_fk_joins(Query *query);
extern bool da_is_key_qual(DaFkJoin *join, Node *qual);
extern bool da_attnotnull(Oid relid, AttrNumber attno);
extern List *da_relations_of(Query *query);
extern double da_plan_cost(Query *query, const char *sql, double *rows,
						   int *width);

/* da_rewrite.c */
typedef struct DaColumnMap
{
	Index		rti;			/* relation of the original query */
	AttrNumber	attno;			/* its column */
	AttrNumber	newattno;		/* column of the shadow */
} DaColumnMap;

extern Query *da_rewrite_copy(Query *query, DaFkJoin *join, Oid shadow,
							  List *colmap, List **colnames,
							  const char **reason);
extern Query *da_rewrite_counter(Query *query, DaFkJoin *join, Oid shadow,
								 List *colmap, List *aggs, List *agg_attnos,
								 AttrNumber count_attno, List **colnames,
								 const char **reason);
extern List *da_counter_aggregates(Query *query, DaFkJoin *join,
								   const char **reason);
extern Query *da_matview_definition(Query *query, List **param_quals,
									const char **reason);

/* da_collector.c */
extern void da_collector_init(void);

/* da_whatif.c */
extern void da_whatif_init(void);
typedef struct DaShadowColumn
{
	char	   *name;
	Oid			type;
	int32		typmod;
	Oid			collation;
	bool		notnull;
	Oid			srcrel;			/* statistics borrowed from srcrel.srcatt */
	AttrNumber	srcatt;
} DaShadowColumn;

#endif							/* DENORM_ADVISOR_H */

/*-------------------------------------------------------------------------
 *
 * da_main.c
 *	  Module initialisation of denorm_advisor: GUCs and planner hooks.
 *
 * denorm_advisor works without preloading: the library is loaded by the
 * first call of one of its C functions, which registers the GUCs and
 * installs the what-if planner hooks (da_whatif.c).  The hooks act only on
 * shadow relations registered during a what-if call; for any other
 * relation they only pass the call on to the previous hook.
 *
 * The write-cost model's constants are GUCs so that a DBA can calibrate
 * them on the machine (docs/denorm_advisor.md, "Calibration").
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/denorm_advisor/src/da_main.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/guc.h"

#include "denorm_advisor.h"

PG_MODULE_MAGIC;

int			da_time_budget = 60000;
double		da_row_update_ms = 0.03;
double		da_trigger_ms = 0.02;
double		da_lock_hold_ms = 1.0;
double		da_hot_parent_limit = 0.3;
double		da_ms_per_cost_unit = 0.005;
int			da_matview_refresh_interval = 300;
bool		da_use_pg_stat_statements = true;
double		da_output_row_cost = 0.1;
double		da_refresh_row_ms = 0.025;
double		da_statement_overhead_ms = 0.1;
double		da_cache_miss_setting = -1;

void		_PG_init(void);

/*
 * _PG_init
 *		Register the GUCs and install the hooks.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("denorm_advisor.time_budget",
							"Time an analysis (recommend, check_normalization) may take.",
							"When it is exceeded the analysis stops with a warning and returns what it found so far.",
							&da_time_budget,
							60000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomRealVariable("denorm_advisor.row_update_ms",
							 "Write-cost model: milliseconds to update one child row when a copied parent column changes.",
							 NULL,
							 &da_row_update_ms,
							 0.03, 0.0, 1000.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("denorm_advisor.trigger_ms",
							 "Write-cost model: milliseconds a maintenance trigger adds to one child write.",
							 NULL,
							 &da_trigger_ms,
							 0.02, 0.0, 1000.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("denorm_advisor.lock_hold_ms",
							 "Write-cost model: milliseconds a writing transaction holds the parent row it locks.",
							 "Used to estimate the waits of counters and copies on hot parent rows.",
							 &da_lock_hold_ms,
							 1.0, 0.0, 100000.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("denorm_advisor.hot_parent_limit",
							 "Share of the time the hottest parent row may be locked by maintenance before a candidate is refused.",
							 "Counters update the parent row on every child write; copies lock it FOR SHARE.",
							 &da_hot_parent_limit,
							 0.3, 0.0, 1.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("denorm_advisor.ms_per_cost_unit",
							 "Milliseconds per planner cost unit for statements without a measured time.",
							 "Used only when no SELECT of the workload has a measured mean time.",
							 &da_ms_per_cost_unit,
							 0.005, 0.0, 1000.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("denorm_advisor.matview_refresh_interval",
							"How often a recommended materialized view is refreshed when its tables are written.",
							"Its refresh cost is charged at this rate; its results are this stale at most.",
							&da_matview_refresh_interval,
							300, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomRealVariable("denorm_advisor.output_row_cost",
							 "Time model: planner cost units per result row sent to the client.",
							 "The planner does not price sending the result; the time model adds this per row.",
							 &da_output_row_cost,
							 0.1, 0.0, 1000.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("denorm_advisor.refresh_row_ms",
							 "Write-cost model: milliseconds REFRESH MATERIALIZED VIEW CONCURRENTLY spends per view row.",
							 "Besides running the view's query, the refresh compares every new row with the old ones.",
							 &da_refresh_row_ms,
							 0.025, 0.0, 1000.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("denorm_advisor.statement_overhead_ms",
							 "Time model: milliseconds of round trip and executor start-up per statement, which no rewrite removes.",
							 "Used for the predicted speedup a client sees.",
							 &da_statement_overhead_ms,
							 0.1, 0.0, 1000.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("denorm_advisor.cache_miss_ratio",
							 "Time model: share of page reads that miss the buffer cache (-1: measured).",
							 "-1 takes 1 - blks_hit / (blks_hit + blks_read) of this database from pg_stat_database.",
							 &da_cache_miss_setting,
							 -1, -1, 1.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("denorm_advisor.use_pg_stat_statements",
							 "Read the workload from pg_stat_statements when it is installed.",
							 NULL,
							 &da_use_pg_stat_statements,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	da_collector_init();
	MarkGUCPrefixReserved("denorm_advisor");

	da_whatif_init();
}

/*
 * da_cache_miss_ratio
 *		denorm_advisor.cache_miss_ratio, or when it is -1 the share of this
 *		database's page reads that missed shared buffers (0 without data).
 */
double
da_cache_miss_ratio(void)
{
	PgStat_StatDBEntry *db;
	double		hits;
	double		reads;

	if (da_cache_miss_setting >= 0)
		return da_cache_miss_setting;
	db = pgstat_fetch_stat_dbentry(MyDatabaseId);
	if (db == NULL)
		return 0;
	hits = db->n_blocks_hit;
	reads = db->n_blocks_fetched - db->n_blocks_hit;
	if (hits + reads <= 0)
		return 0;
	return reads / (hits + reads);
}

PG_FUNCTION_INFO_V1(denorm_advisor_loaded);

/*
 * denorm_advisor._loaded()
 *		Returns true.  Calling it loads the library, which defines the
 *		GUCs that the SQL functions read.
 */
Datum
denorm_advisor_loaded(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(true);
}

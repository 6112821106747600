/*-------------------------------------------------------------------------
 *
 * hs_meta.c
 *	  Nodes, options and distributed-table metadata.
 *
 * Nodes are the foreign servers of the hashshard wrapper.  Server options
 * are libpq's connection options (except user and password, which belong
 * to user mappings) plus fetch_size and batch_size; foreign tables (the
 * shards) name their remote table with schema_name and table_name.
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/hashshard/src/hs_meta.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "hashshard.h"

PG_FUNCTION_INFO_V1(hashshard_fdw_validator);

/*
 * hs_libpq_option
 *		Is name a libpq connection option allowed on a server (true) or a
 *		user mapping (user, password)?
 */
static bool
hs_libpq_option(const char *name, bool for_user)
{
	PQconninfoOption *opts;
	PQconninfoOption *o;
	bool		found = false;

	if (for_user)
		return strcmp(name, "user") == 0 || strcmp(name, "password") == 0 ||
			strcmp(name, "sslpassword") == 0;
	if (strcmp(name, "user") == 0 || strcmp(name, "password") == 0 ||
		strcmp(name, "sslpassword") == 0 || strcmp(name, "client_encoding") == 0 ||
		strcmp(name, "fallback_application_name") == 0 ||
		strcmp(name, "replication") == 0 || strcmp(name, "options") == 0)
		return false;
	opts = PQconndefaults();
	if (opts == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	for (o = opts; o->keyword; o++)
	{
		/* debug options ("D") are not for users */
		if (strcmp(o->keyword, name) == 0 && strchr(o->dispchar, 'D') == NULL)
			found = true;
	}
	PQconninfoFree(opts);
	return found;
}

/*
 * hashshard_fdw_validator
 *		Check the options of the wrapper's servers, user mappings and
 *		foreign tables.
 */
Datum
hashshard_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);

	hs_check_node_options(options, catalog);
	PG_RETURN_VOID();
}

void
hs_check_node_options(List *options, Oid catalog)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = lfirst(lc);
		const char *name = d->defname;
		bool		ok = false;

		if (catalog == ForeignServerRelationId)
		{
			if (strcmp(name, "fetch_size") == 0 || strcmp(name, "batch_size") == 0)
			{
				char	   *end;
				long		v = strtol(defGetString(d), &end, 10);

				if (*end != '\0' || v < 1 || v > 1000000)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid value for option \"%s\": \"%s\"",
									name, defGetString(d)),
							 errhint("It must be an integer between 1 and 1000000.")));
				ok = true;
			}
			else
				ok = hs_libpq_option(name, false);
			if (!ok)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("invalid option \"%s\" for a hashshard node", name),
						 errhint("Valid options are libpq connection options (host, port, dbname, connect_timeout, sslmode, ...) except user and password, which belong to the user mapping, and fetch_size and batch_size.")));
		}
		else if (catalog == UserMappingRelationId)
		{
			if (!hs_libpq_option(name, true))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("invalid option \"%s\" for a hashshard user mapping", name),
						 errhint("Valid options are user, password and sslpassword.")));
		}
		else if (catalog == ForeignTableRelationId)
		{
			if (strcmp(name, "schema_name") != 0 && strcmp(name, "table_name") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("invalid option \"%s\" for a hashshard foreign table", name),
						 errhint("Valid options are schema_name and table_name.")));
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("the hashshard wrapper takes no options"),
					 errhint("Give options to its servers, user mappings and foreign tables.")));
	}
}

/*
 * hs_option_int
 *		An integer option, or dflt.
 */
int
hs_option_int(List *options, const char *name, int dflt)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = lfirst(lc);

		if (strcmp(d->defname, name) == 0)
			return atoi(defGetString(d));
	}
	return dflt;
}

Oid
hs_fdw_oid(void)
{
	return GetForeignDataWrapperByName(HS_FDW_NAME, false)->fdwid;
}

bool
hs_is_hashshard_server(ForeignServer *server)
{
	ForeignDataWrapper *fdw = GetForeignDataWrapperByName(HS_FDW_NAME, true);

	return fdw != NULL && server->fdwid == fdw->fdwid;
}

/*
 * hs_all_nodes
 *		Every server of the wrapper, sorted by name (ForeignServer *).
 */
static int
hs_server_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(((ForeignServer *) lfirst(a))->servername,
				  ((ForeignServer *) lfirst(b))->servername);
}

List *
hs_all_nodes(void)
{
	Relation	rel = table_open(ForeignServerRelationId, AccessShareLock);
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *out = NIL;
	Oid			fdw = hs_fdw_oid();

	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_foreign_server s = (Form_pg_foreign_server) GETSTRUCT(tup);

		if (s->srvfdw == fdw)
			out = lappend(out, GetForeignServer(s->oid));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	list_sort(out, hs_server_cmp);
	return out;
}

/*
 * hs_parent_of
 *		The hash-partitioned parent of a hashshard shard, or InvalidOid.
 */
Oid
hs_parent_of(Oid relid)
{
	if (!get_rel_relispartition(relid))
		return InvalidOid;
	return get_partition_parent(relid, true);
}

/*
 * hs_shard_key_attnum
 *		The single hash partition key column of a parent, or 0.
 */
int
hs_shard_key_attnum(Oid parent)
{
	Relation	rel = table_open(parent, NoLock);
	PartitionKey key;
	int			att = 0;

	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		key = RelationGetPartitionKey(rel);
		if (key->strategy == PARTITION_STRATEGY_HASH && key->partnatts == 1)
			att = key->partattrs[0];
	}
	table_close(rel, NoLock);
	return att;
}

/*
 * Backend-local cache of hs_is_distributed answers, keyed by relid.  An
 * entry goes when its relation's relcache entry is invalidated:
 * create_distributed_table invalidates the parent after recording it, and
 * DROP invalidates anyway.
 */
typedef struct HsDistEntry
{
	Oid			relid;
	bool		distributed;
} HsDistEntry;

static HTAB *hs_dist_cache = NULL;

static void
hs_dist_inval(Datum arg, Oid relid)
{
	if (hs_dist_cache == NULL)
		return;
	if (OidIsValid(relid))
		(void) hash_search(hs_dist_cache, &relid, HASH_REMOVE, NULL);
	else
	{
		HASH_SEQ_STATUS seq;
		HsDistEntry *e;

		hash_seq_init(&seq, hs_dist_cache);
		while ((e = hash_seq_search(&seq)) != NULL)
			(void) hash_search(hs_dist_cache, &e->relid, HASH_REMOVE, NULL);
	}
}

/*
 * hs_lookup_distributed
 *		Is relid registered in hashshard.distributed_tables?  (catalog read)
 */
static bool
hs_lookup_distributed(Oid relid)
{
	Oid			nsp = get_namespace_oid(HS_SCHEMA, true);
	Oid			tab;
	Oid			idx;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	bool		found;

	if (!OidIsValid(nsp))
		return false;
	tab = get_relname_relid("distributed_tables", nsp);
	idx = get_relname_relid("distributed_tables_pkey", nsp);
	if (!OidIsValid(tab) || !OidIsValid(idx))
		return false;
	rel = table_open(tab, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, idx, true, NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * hs_is_distributed
 *		Is relid a distributed table?  Cached per backend.
 */
bool
hs_is_distributed(Oid relid)
{
	HsDistEntry *e;
	bool		found;

	if (hs_dist_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(HsDistEntry);
		hs_dist_cache = hash_create("hashshard distributed tables", 64, &ctl,
									HASH_ELEM | HASH_BLOBS);
		CacheRegisterRelcacheCallback(hs_dist_inval, (Datum) 0);
	}
	e = hash_search(hs_dist_cache, &relid, HASH_FIND, &found);
	if (found)
		return e->distributed;
	found = hs_lookup_distributed(relid);
	e = hash_search(hs_dist_cache, &relid, HASH_ENTER, NULL);
	e->distributed = found;
	return found;
}

/*
 * hs_has_user_mapping
 *		Does the user (or PUBLIC) have a user mapping for the server?
 */
bool
hs_has_user_mapping(Oid userid, Oid serverid)
{
	return SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(userid),
								 ObjectIdGetDatum(serverid)) ||
		SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							  ObjectIdGetDatum(serverid));
}

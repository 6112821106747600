/*-------------------------------------------------------------------------
 *
 * hs_funcs.c
 *	  SQL functions: create, undistribute and drop distributed tables,
 *	  shard_for, shard_sizes, node_health.
 *
 * create_distributed_table() replaces a local table by a hash-partitioned
 * parent of the same name, owner, privileges, defaults and CHECK
 * constraints, whose partitions are hashshard foreign tables; it creates
 * the shard tables on the nodes (the table's columns, its primary key,
 * unique and CHECK constraints, and a CHECK constraint evaluating the
 * routing formula for the shard), moves the rows (with the COPY protocol,
 * reporting progress in pg_stat_progress_copy and, for large tables, as
 * notices) and records the metadata.  Everything, local and
 * remote, happens in the caller's transaction, so a failure anywhere
 * leaves nothing behind (the remote DDL commits with two-phase commit).
 *
 * Refused, with a hint: tables that are not plain permanent tables, are
 * partitioned or partitions, have inheritance children or parents, are
 * referenced by or reference foreign keys, have views or rules depending
 * on them, row-level security, user triggers, identity columns, exclusion
 * constraints, a unique constraint without the shard key, or columns of
 * types that are not built in.
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/hashshard/src/hs_funcs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/hash.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_am.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/progress.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "partitioning/partbounds.h"
#include "pgstat.h"
#include "partitioning/partdesc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "hashshard.h"

PG_FUNCTION_INFO_V1(hashshard_create_distributed_table);
PG_FUNCTION_INFO_V1(hashshard_undistribute_table);
PG_FUNCTION_INFO_V1(hashshard_drop_distributed_table);
PG_FUNCTION_INFO_V1(hashshard_shard_for);
PG_FUNCTION_INFO_V1(hashshard_shard_sizes);
PG_FUNCTION_INFO_V1(hashshard_node_health);

/* set while create_distributed_table moves rows: COPY-mode routing */
bool		hs_moving_rows = false;
static int64 hs_move_total = 0;
static int64 hs_move_done = 0;

/*
 * hs_move_progress
 *		Rows moved so far by create_distributed_table: shown in
 *		pg_stat_progress_copy (command COPY FROM, the table's relid) and,
 *		for large tables, as a NOTICE at every tenth.
 */
void
hs_move_progress(int64 rows)
{
	int64		before = hs_move_done;

	hs_move_done += rows;
	pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED, hs_move_done);
	if (hs_move_total >= 100000 &&
		before * 10 / hs_move_total != hs_move_done * 10 / hs_move_total)
		ereport(NOTICE,
				(errmsg("moved " INT64_FORMAT " of " INT64_FORMAT " rows",
						hs_move_done, hs_move_total)));
}

/* ------------------------------------------------------------------------
 * SPI helpers
 * ------------------------------------------------------------------------ */

static void
spi_exec(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "hashshard: SPI_execute failed (%d): %s", rc, sql);
}

/* first column of the first row as text, or NULL */
static char *
spi_value(const char *sql)
{
	if (SPI_execute(sql, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "hashshard: query failed: %s", sql);
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

static void
spi_exec_each(const char *sql_producing_commands)
{
	uint64		i;
	uint64		n;
	SPITupleTable *tt;
	List	   *cmds = NIL;
	ListCell   *lc;

	if (SPI_execute(sql_producing_commands, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "hashshard: query failed: %s", sql_producing_commands);
	tt = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
		cmds = lappend(cmds, SPI_getvalue(tt->vals[i], tt->tupdesc, 1));
	foreach(lc, cmds)
		spi_exec(lfirst(lc), SPI_OK_UTILITY);
}

/*
 * hs_check_metadata_privileges
 *		Distributing and dismantling tables writes hashshard's metadata:
 *		say so up front rather than after the work on the nodes.
 */
static void
hs_check_metadata_privileges(void)
{
	Oid			nsp = get_namespace_oid(HS_SCHEMA, false);
	Oid			tab = get_relname_relid("distributed_tables", nsp);
	Oid			plc = get_relname_relid("shard_placements", nsp);

	if (pg_class_aclcheck(tab, GetUserId(), ACL_INSERT) != ACLCHECK_OK ||
		pg_class_aclcheck(tab, GetUserId(), ACL_DELETE) != ACLCHECK_OK ||
		pg_class_aclcheck(plc, GetUserId(), ACL_INSERT) != ACLCHECK_OK ||
		pg_class_aclcheck(plc, GetUserId(), ACL_DELETE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to change hashshard's metadata"),
				 errdetail("Distributing or dismantling a table writes hashshard.distributed_tables and hashshard.shard_placements."),
				 errhint("A superuser may GRANT INSERT, DELETE ON hashshard.distributed_tables, hashshard.shard_placements TO this role.")));
}

/* ------------------------------------------------------------------------
 * Routing
 * ------------------------------------------------------------------------ */

/*
 * hs_hash_value
 *		The 64-bit partition hash of a key value of parent's key type.
 */
uint64
hs_hash_value(Relation parent, Datum value, bool isnull)
{
	PartitionKey key = RelationGetPartitionKey(parent);

	return compute_partition_hash_value(1, key->partsupfunc,
										key->partcollation, &value, &isnull);
}

/*
 * hs_check_expr
 *		SQL of the CHECK constraint that holds on shard "remainder" of
 *		"modulus" (a power of two): the routing formula, with the 64-bit
 *		modulo reduced to a bit mask so that int8 arithmetic cannot
 *		overflow.  NULL keys belong to shard 0.
 */
static char *
hs_check_expr(Oid hashfunc, const char *keycol, int modulus, int remainder)
{
	uint64		mask = (uint64) modulus - 1;
	uint64		c = hash_combine64(0, 0) & mask;

	return psprintf("CHECK (COALESCE(((%s.%s(%s, " INT64_FORMAT ") & " UINT64_FORMAT
					") + " UINT64_FORMAT ") & " UINT64_FORMAT ", 0) = %d)",
					quote_identifier(get_namespace_name(get_func_namespace(hashfunc))),
					quote_identifier(get_func_name(hashfunc)),
					quote_identifier(keycol), (int64) HASH_PARTITION_SEED,
					mask, c, mask, remainder);
}

/*
 * hs_take_over_table
 *		Give the table that replaces relid (tmpsql) relid's privileges and
 *		the sequences its columns own; returns relid's owner (quoted), for
 *		the caller to set once the new table has its final name.
 */
static char *
hs_take_over_table(Oid relid, const char *tmpsql)
{
	char	   *owner;

	owner = spi_value(psprintf("SELECT pg_catalog.quote_ident(r.rolname) FROM pg_catalog.pg_class c "
							   "JOIN pg_catalog.pg_roles r ON r.oid = c.relowner WHERE c.oid = %u",
							   relid));
	spi_exec_each(psprintf("SELECT pg_catalog.format('GRANT %%s ON %s TO %%s%%s', a.privilege_type, "
						   "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END, "
						   "CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) "
						   "FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a "
						   "LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee "
						   "WHERE c.oid = %u AND a.grantee <> c.relowner",
						   tmpsql, relid));
	spi_exec_each(psprintf("SELECT pg_catalog.format('ALTER SEQUENCE %%s OWNED BY %s.%%I', "
						   "d.objid::pg_catalog.regclass, a.attname) "
						   "FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attribute a "
						   "ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
						   "JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
						   "WHERE d.refobjid = %u AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
						   "AND d.deptype = 'a' AND d.objsubid = 0",
						   tmpsql, relid));
	return owner;
}

/* ------------------------------------------------------------------------
 * create_distributed_table
 * ------------------------------------------------------------------------ */

/*
 * hs_copy_columns
 *		The columns rows are copied by (stored generated ones are computed
 *		again by the target), as a quoted list.
 */
static char *
hs_copy_columns(Relation rel)
{
	StringInfoData buf;
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (a->attisdropped || a->attgenerated)
			continue;
		appendStringInfo(&buf, "%s%s", buf.len ? ", " : "",
						 quote_identifier(NameStr(a->attname)));
	}
	return buf.data;
}

static char *
hs_copy_columns_of(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	char	   *cols = hs_copy_columns(rel);

	table_close(rel, AccessShareLock);
	return cols;
}

/*
 * hs_move_rows
 *		INSERT the rows of the old table into the new parent: routed to the
 *		shards and sent with the COPY protocol (hs_moving_rows), progress
 *		in pg_stat_progress_copy.  Returns the number of rows.
 */
static int64
hs_move_rows(Oid relid, const char *tmpsql, const char *relsql, int64 total,
			 const char *cols)
{
	volatile int64 moved = 0;

	hs_moving_rows = true;
	hs_move_total = total;
	hs_move_done = 0;
	pgstat_progress_start_command(PROGRESS_COMMAND_COPY, relid);
	pgstat_progress_update_param(PROGRESS_COPY_COMMAND, PROGRESS_COPY_COMMAND_FROM);
	pgstat_progress_update_param(PROGRESS_COPY_TYPE, PROGRESS_COPY_TYPE_CALLBACK);
	PG_TRY();
	{
		if (SPI_execute(psprintf("INSERT INTO %s (%s) SELECT %s FROM ONLY %s", tmpsql,
								 cols, cols, relsql),
						false, 0) != SPI_OK_INSERT)
			elog(ERROR, "hashshard: moving rows failed");
		moved = SPI_processed;
	}
	PG_FINALLY();
	{
		hs_moving_rows = false;
		pgstat_progress_end_command();
	}
	PG_END_TRY();
	return moved;
}

static void
hs_refuse(Relation rel, const char *why, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot distribute table \"%s\": %s",
					RelationGetRelationName(rel), why),
			 hint ? errhint("%s", hint) : 0));
}

/*
 * hs_check_table
 *		Everything create_distributed_table refuses, checked up front.
 */
static void
hs_check_table(Relation rel, AttrNumber keyatt, const char *relsql)
{
	char	   *q;
	char	   *v;
	int			i;
	TupleDesc	desc = RelationGetDescr(rel);

	if (hs_is_distributed(RelationGetRelid(rel)))
		hs_refuse(rel, "it is already distributed", NULL);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		hs_refuse(rel, rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ?
				  "it is partitioned" : "it is not a table",
				  "Only plain tables can be distributed.");
	if (rel->rd_rel->relispartition)
		hs_refuse(rel, "it is a partition", "Distribute the partitioned table's data as a plain table.");
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
		hs_refuse(rel, "it is temporary or unlogged", NULL);
	if (rel->rd_rel->relhassubclass || has_superclass(RelationGetRelid(rel)))
		hs_refuse(rel, "it has inheritance parents or children", NULL);
	if (rel->rd_rel->relrowsecurity)
		hs_refuse(rel, "row-level security is enabled",
				  "Disable row-level security, distribute the table, then enable it on the distributed table.");
	if (rel->trigdesc != NULL)
	{
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
			if (!rel->trigdesc->triggers[i].tgisinternal)
				hs_refuse(rel, "it has triggers",
						  "Drop the triggers, distribute the table, then create them on the distributed table.");
	}
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (a->attisdropped)
			continue;
		if (a->attidentity)
			hs_refuse(rel, "it has an identity column",
					  "Use a column DEFAULT nextval(...) instead of an identity column.");
		if (!hs_is_builtin(a->atttypid))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot distribute table \"%s\": column \"%s\" has type %s, which is not built in",
							RelationGetRelationName(rel), NameStr(a->attname),
							format_type_be(a->atttypid)),
					 errhint("Nodes only know built-in types; use a built-in type for this column.")));
	}
	/* foreign keys in either direction, exclusion constraints */
	q = psprintf("SELECT pg_catalog.string_agg(conname::text || ' (' || contype::text || ')', ', ') FROM pg_catalog.pg_constraint "
				 "WHERE (conrelid = %u AND contype IN ('f', 'x')) OR confrelid = %u",
				 RelationGetRelid(rel), RelationGetRelid(rel));
	v = spi_value(q);
	if (v != NULL)
		hs_refuse(rel, psprintf("it has foreign key or exclusion constraints (%s)", v),
				  "Foreign keys cannot be enforced across nodes; drop them first.");
	/* views and rules depending on it */
	q = psprintf("SELECT pg_catalog.string_agg(DISTINCT r.ev_class::pg_catalog.regclass::text, ', ') "
				 "FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid "
				 "WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass "
				 "AND d.refobjid = %u AND r.ev_class <> %u",
				 RelationGetRelid(rel), RelationGetRelid(rel));
	v = spi_value(q);
	if (v != NULL)
		hs_refuse(rel, psprintf("views or rules depend on it (%s)", v),
				  "Drop them, distribute the table, then create them again.");
	q = psprintf("SELECT pg_catalog.string_agg(rulename::text, ', ') FROM pg_catalog.pg_rewrite "
				 "WHERE ev_class = %u", RelationGetRelid(rel));
	v = spi_value(q);
	if (v != NULL)
		hs_refuse(rel, psprintf("it has rules (%s)", v),
				  "Drop the rules, distribute the table, then create them on the distributed table.");
	/* every unique constraint or index must contain the shard key */
	q = psprintf("SELECT pg_catalog.string_agg(c.relname, ', ') FROM pg_catalog.pg_index i "
				 "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
				 "WHERE i.indrelid = %u AND i.indisunique "
				 "AND NOT (%d = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]))",
				 RelationGetRelid(rel), keyatt);
	v = spi_value(q);
	if (v != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("cannot distribute table \"%s\": unique index %s does not include the shard key \"%s\"",
						RelationGetRelationName(rel), v,
						NameStr(TupleDescAttr(desc, keyatt - 1)->attname)),
				 errdetail("Uniqueness is enforced within each shard, so a unique key must determine the shard."),
				 errhint("Add the shard key to the primary key or unique constraint, or choose a shard key it contains.")));
	(void) relsql;
}

/*
 * hs_remote_create_sql
 *		CREATE TABLE of one shard table on its node.
 */
static char *
hs_remote_create_sql(Relation rel, const char *rschema, const char *rtable,
					 const char *checkexpr, List *constraint_defs)
{
	StringInfoData buf;
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;
	bool		first = true;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE SCHEMA IF NOT EXISTS %s; CREATE TABLE %s.%s (",
					 quote_identifier(rschema), quote_identifier(rschema),
					 quote_identifier(rtable));
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (a->attisdropped)
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		appendStringInfo(&buf, "%s %s%s", quote_identifier(NameStr(a->attname)),
						 format_type_extended(a->atttypid, a->atttypmod,
											  FORMAT_TYPE_FORCE_QUALIFY |
											  FORMAT_TYPE_TYPEMOD_GIVEN),
						 a->attnotnull ? " NOT NULL" : "");
		if (a->attcollation != InvalidOid &&
			a->attcollation != get_typcollation(a->atttypid))
			appendStringInfo(&buf, " COLLATE %s",
							 generate_collation_name(a->attcollation));
	}
	foreach(lc, constraint_defs)
		appendStringInfo(&buf, ", %s", (char *) lfirst(lc));
	appendStringInfo(&buf, ", %s)", checkexpr);
	return buf.data;
}

Datum
hashshard_create_distributed_table(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *keyname;
	int			nshards;
	List	   *nodes = NIL;
	Relation	rel;
	AttrNumber	keyatt;
	Oid			keytype;
	Oid			opclass;
	Oid			opfamily;
	Oid			hashfunc;
	char	   *nspname;
	char	   *relname;
	char	   *relsql;
	char	   *tmpname;
	char	   *tmpsql;
	List	   *constraint_defs = NIL;
	List	   *local_ddl = NIL;
	List	   *index_templates = NIL;
	List	   *node_oids = NIL;
	ListCell   *lc;
	int			i;
	int64		moved = 0;
	char	   *owner;
	char	   *q;
	char	   *v;
	StringInfoData ddl_array;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table and shard key must not be NULL")));
	relid = PG_GETARG_OID(0);
	keyname = NameStr(*PG_GETARG_NAME(1));
	nshards = PG_ARGISNULL(2) ? 32 : PG_GETARG_INT32(2);
	if (nshards < 1 || nshards > HS_MAX_SHARDS || (nshards & (nshards - 1)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shard_count must be a power of two between 1 and %d, not %d",
						HS_MAX_SHARDS, nshards),
				 errhint("Powers of two let a shard split in two later: (m, r) becomes (2m, r) and (2m, r + m).")));

	/* the nodes */
	if (PG_ARGISNULL(3))
		nodes = hs_all_nodes();
	else
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(3);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(arr, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
						  &elems, &nulls, &n);
		for (i = 0; i < n; i++)
		{
			ForeignServer *s;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("node names must not be NULL")));
			s = GetForeignServerByName(NameStr(*DatumGetName(elems[i])), true);
			if (s == NULL || !hs_is_hashshard_server(s))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("node \"%s\" does not exist", NameStr(*DatumGetName(elems[i]))),
						 errhint("A node is a server of the hashshard wrapper: CREATE SERVER name FOREIGN DATA WRAPPER hashshard OPTIONS (host '...', port '...', dbname '...').")));
			if (list_member_oid(node_oids, s->serverid))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("node \"%s\" is named twice", s->servername),
						 errhint("Name each node once; shards are spread over the nodes in the order given.")));
			node_oids = lappend_oid(node_oids, s->serverid);
			nodes = lappend(nodes, s);
		}
	}
	if (nodes == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("there are no hashshard nodes"),
				 errhint("Create them with CREATE SERVER name FOREIGN DATA WRAPPER hashshard OPTIONS (host '...', port '...', dbname '...') and a user mapping each.")));
	foreach(lc, nodes)
	{
		ForeignServer *s = lfirst(lc);

		if (!hs_has_user_mapping(GetUserId(), s->serverid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no user mapping for user \"%s\" on node \"%s\"",
							GetUserNameFromId(GetUserId(), false), s->servername),
					 errhint("CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (user '...', password '...').",
							 quote_identifier(s->servername))));
	}

	rel = table_open(relid, AccessExclusiveLock);
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, RelationGetRelationName(rel));
	hs_check_metadata_privileges();
	keyatt = get_attnum(relid, keyname);
	if (keyatt <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist",
						keyname, RelationGetRelationName(rel)),
				 errhint("The shard key must be a column of the table.")));
	keytype = TupleDescAttr(RelationGetDescr(rel), keyatt - 1)->atttypid;
	if (TupleDescAttr(RelationGetDescr(rel), keyatt - 1)->attgenerated)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("the shard key \"%s\" must not be a generated column", keyname)));
	opclass = GetDefaultOpClass(keytype, HASH_AM_OID);
	if (!OidIsValid(opclass))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the shard key \"%s\" has type %s, which has no default hash operator class",
						keyname, format_type_be(keytype)),
				 errhint("Choose a shard key of a hashable type (integers, text, uuid, date, ...).")));
	opfamily = get_opclass_family(opclass);
	hashfunc = get_opfamily_proc(opfamily, get_opclass_input_type(opclass),
								 get_opclass_input_type(opclass), HASHEXTENDED_PROC);
	if (!OidIsValid(hashfunc) || !hs_is_builtin(hashfunc))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the shard key \"%s\" has type %s, whose hash function is not built in",
						keyname, format_type_be(keytype))));

	nspname = get_namespace_name(RelationGetNamespace(rel));
	relname = pstrdup(RelationGetRelationName(rel));
	relsql = psprintf("%s.%s", quote_identifier(nspname), quote_identifier(relname));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "hashshard: SPI_connect failed");
	hs_check_table(rel, keyatt, relsql);
	for (i = 0; i < nshards; i++)
	{
		char	   *pn = psprintf("%s_%d", relname, i);

		if (strlen(pn) >= NAMEDATALEN)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("shard name \"%s\" would be too long", pn),
					 errhint("Rename the table to a shorter name first.")));
		if (OidIsValid(get_relname_relid(pn, RelationGetNamespace(rel))))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("cannot distribute table \"%s\": relation \"%s\" already exists",
							relname, pn),
					 errhint("Shards are named <table>_<n>; rename the table or the other relation.")));
	}


	/* what the local table had: for the shards, and for undistribute */
	q = psprintf("SELECT pg_catalog.pg_get_constraintdef(oid), contype, "
				 "pg_catalog.quote_ident(conname) FROM pg_catalog.pg_constraint "
				 "WHERE conrelid = %u AND contype IN ('p', 'u', 'c') ORDER BY conname", relid);
	if (SPI_execute(q, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "hashshard: query failed");
	for (i = 0; i < (int) SPI_processed; i++)
	{
		char	   *def = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *typ = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);

		constraint_defs = lappend(constraint_defs, def);
		if (typ[0] != 'c')		/* CHECKs stay on the parent */
			local_ddl = lappend(local_ddl,
								psprintf("ALTER TABLE %s ADD CONSTRAINT %s %s",
										 relsql, name, def));
	}

	/*
	 * Indexes that are not constraints: kept for undistribute_table, and
	 * created on every shard table too (they serve the pushed-down WHERE
	 * clauses; a unique one holds per shard, and contains the shard key). The
	 * shard's copy is the definition with "name ON table" replaced.
	 */
	q = psprintf("SELECT pg_catalog.pg_get_indexdef(i.indexrelid), "
				 "pg_catalog.regexp_replace(pg_catalog.pg_get_indexdef(i.indexrelid), "
				 "'^CREATE (UNIQUE )?INDEX .*? ON (ONLY )?\\S+ USING ', "
				 "'CREATE \\1INDEX ON \x01 USING ') "
				 "FROM pg_catalog.pg_index i "
				 "WHERE i.indrelid = %u AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c "
				 "WHERE c.conindid = i.indexrelid AND c.conrelid = %u) ORDER BY i.indexrelid",
				 relid, relid);
	if (SPI_execute(q, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "hashshard: query failed");
	for (i = 0; i < (int) SPI_processed; i++)
	{
		char	   *def = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *tmpl = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (strchr(tmpl, '\x01') == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot distribute table \"%s\": cannot copy the definition of its index",
							RelationGetRelationName(rel)),
					 errdetail("%s", def),
					 errhint("Drop the index, distribute the table, then create it on the distributed table's shards.")));
		local_ddl = lappend(local_ddl, def);
		index_templates = lappend(index_templates, tmpl);
	}

	/* the new parent, under a temporary name */
	tmpname = psprintf("hs_new_%u", relid);
	tmpsql = psprintf("%s.%s", quote_identifier(nspname), quote_identifier(tmpname));
	spi_exec(psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
					  "INCLUDING GENERATED INCLUDING COMMENTS INCLUDING STORAGE "
					  "INCLUDING COMPRESSION) PARTITION BY HASH (%s)",
					  tmpsql, relsql, quote_identifier(keyname)), SPI_OK_UTILITY);

	/* the shards: local foreign partitions, remote tables */
	for (i = 0; i < nshards; i++)
	{
		ForeignServer *s = list_nth(nodes, i % list_length(nodes));
		char	   *pn = psprintf("%s_%d", relname, i);
		HsConn	   *hc;

		spi_exec(psprintf("CREATE FOREIGN TABLE %s.%s PARTITION OF %s "
						  "FOR VALUES WITH (MODULUS %d, REMAINDER %d) SERVER %s "
						  "OPTIONS (schema_name %s, table_name %s)",
						  quote_identifier(nspname), quote_identifier(pn), tmpsql,
						  nshards, i, quote_identifier(s->servername),
						  quote_literal_cstr(nspname), quote_literal_cstr(pn)),
				 SPI_OK_UTILITY);
		hc = hs_get_conn(s->serverid, GetUserId(), true);
		hs_exec_command(hc, hs_remote_create_sql(rel, nspname, pn,
												 hs_check_expr(hashfunc, keyname, nshards, i),
												 constraint_defs), true);
		foreach(lc, index_templates)
		{
			char	   *tmpl = lfirst(lc);
			char	   *at = strchr(tmpl, '\x01');

			hs_exec_command(hc, psprintf("%.*s%s.%s%s", (int) (at - tmpl), tmpl,
										 quote_identifier(nspname),
										 quote_identifier(pn), at + 1), true);
		}
	}

	/* move the rows, shard by shard with the COPY protocol */
	v = spi_value(psprintf("SELECT pg_catalog.count(*) FROM ONLY %s", relsql));
	if (v && strcmp(v, "0") != 0)
	{
		ereport(NOTICE,
				(errmsg("moving %s rows of \"%s\" to %d shards", v, relname, nshards)));
		moved = hs_move_rows(relid, tmpsql, relsql, strtoll(v, NULL, 10),
							 hs_copy_columns(rel));
	}

	/* swap: same owner, privileges, sequences, name */
	owner = hs_take_over_table(relid, tmpsql);
	table_close(rel, NoLock);
	spi_exec(psprintf("DROP TABLE %s", relsql), SPI_OK_UTILITY);
	spi_exec(psprintf("ALTER TABLE %s RENAME TO %s", tmpsql, quote_identifier(relname)),
			 SPI_OK_UTILITY);
	if (owner)
		spi_exec(psprintf("ALTER TABLE %s OWNER TO %s", relsql, owner), SPI_OK_UTILITY);

	/* metadata */
	initStringInfo(&ddl_array);
	appendStringInfoString(&ddl_array, "ARRAY[");
	foreach(lc, local_ddl)
	{
		if (lc != list_head(local_ddl))
			appendStringInfoString(&ddl_array, ", ");
		appendStringInfoString(&ddl_array, quote_literal_cstr(lfirst(lc)));
	}
	appendStringInfoString(&ddl_array, "]::text[]");
	spi_exec(psprintf("INSERT INTO hashshard.distributed_tables (relid, shard_key, shard_count, local_ddl) "
					  "VALUES (%s::pg_catalog.regclass, %s, %d, %s)",
					  quote_literal_cstr(relsql), quote_literal_cstr(keyname), nshards,
					  local_ddl ? ddl_array.data : "'{}'::text[]"),
			 SPI_OK_INSERT);
	for (i = 0; i < nshards; i++)
	{
		ForeignServer *s = list_nth(nodes, i % list_length(nodes));
		char	   *pn = psprintf("%s_%d", relname, i);

		spi_exec(psprintf("INSERT INTO hashshard.shard_placements "
						  "(relid, shard, partition, node, remote_schema, remote_table) "
						  "VALUES (%s::pg_catalog.regclass, %d, %s::pg_catalog.regclass, %s, %s, %s)",
						  quote_literal_cstr(relsql), i,
						  quote_literal_cstr(psprintf("%s.%s", quote_identifier(nspname),
													  quote_identifier(pn))),
						  quote_literal_cstr(s->servername), quote_literal_cstr(nspname),
						  quote_literal_cstr(pn)),
				 SPI_OK_INSERT);
	}
	/* backends' cached "is it distributed" answers for this relid go */
	CacheInvalidateRelcacheByRelid(get_relname_relid(relname, get_namespace_oid(nspname, false)));

	/* statistics for the planner: shard sizes drive the aggregate pushdown */
	if (moved > 0)
		spi_exec(psprintf("ANALYZE %s", relsql), SPI_OK_UTILITY);
	SPI_finish();
	PG_RETURN_INT64(moved);
}

/* ------------------------------------------------------------------------
 * undistribute_table, drop_distributed_table
 * ------------------------------------------------------------------------ */

/*
 * hs_lock_distributed
 *		Open a distributed table for dismantling (owner only).
 */
static char *
hs_lock_distributed(Oid relid, char **relname_out, Oid *nsp_out)
{
	Relation	rel;
	char	   *relsql;

	rel = table_open(relid, AccessExclusiveLock);
	if (!hs_is_distributed(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" is not distributed", RelationGetRelationName(rel)),
				 errhint("hashshard.distributed_tables lists the distributed tables.")));
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, RelationGetRelationName(rel));
	hs_check_metadata_privileges();
	*relname_out = pstrdup(RelationGetRelationName(rel));
	*nsp_out = RelationGetNamespace(rel);
	relsql = psprintf("%s.%s", quote_identifier(get_namespace_name(*nsp_out)),
					  quote_identifier(*relname_out));
	table_close(rel, NoLock);
	return relsql;
}

/*
 * hs_drop_remote_shards
 *		DROP the shard tables on their nodes (in this transaction).
 */
static void
hs_drop_remote_shards(Oid relid)
{
	char	   *q = psprintf("SELECT node, pg_catalog.format('DROP TABLE IF EXISTS %%I.%%I', remote_schema, remote_table) "
							 "FROM hashshard.shard_placements WHERE relid = %u ORDER BY shard", relid);
	uint64		i;
	List	   *work = NIL;
	ListCell   *lc;

	if (SPI_execute(q, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "hashshard: query failed");
	for (i = 0; i < SPI_processed; i++)
	{
		work = lappend(work, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		work = lappend(work, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	}
	for (lc = list_head(work); lc; lc = lnext(work, lnext(work, lc)))
	{
		ForeignServer *s = GetForeignServerByName(lfirst(lc), false);
		HsConn	   *hc = hs_get_conn(s->serverid, GetUserId(), true);

		hs_exec_command(hc, lfirst(lnext(work, lc)), true);
	}
}

Datum
hashshard_undistribute_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *relname;
	Oid			nsp;
	char	   *relsql = hs_lock_distributed(relid, &relname, &nsp);
	char	   *tmpsql = psprintf("%s.%s", quote_identifier(get_namespace_name(nsp)),
								  quote_identifier(psprintf("hs_old_%u", relid)));
	char	   *owner;
	int64		moved;
	uint64		i;
	List	   *ddl = NIL;
	char	   *cols;
	ListCell   *lc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "hashshard: SPI_connect failed");
	spi_exec(psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
					  "INCLUDING GENERATED INCLUDING COMMENTS INCLUDING STORAGE INCLUDING COMPRESSION)",
					  tmpsql, relsql), SPI_OK_UTILITY);
	cols = hs_copy_columns_of(relid);
	if (SPI_execute(psprintf("INSERT INTO %s (%s) SELECT %s FROM %s", tmpsql, cols, cols,
							 relsql), false, 0) != SPI_OK_INSERT)
		elog(ERROR, "hashshard: copying rows back failed");
	moved = SPI_processed;
	owner = hs_take_over_table(relid, tmpsql);
	if (SPI_execute(psprintf("SELECT pg_catalog.unnest(local_ddl) FROM hashshard.distributed_tables WHERE relid = %u",
							 relid), true, 0) != SPI_OK_SELECT)
		elog(ERROR, "hashshard: query failed");
	for (i = 0; i < SPI_processed; i++)
		ddl = lappend(ddl, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	hs_drop_remote_shards(relid);
	spi_exec(psprintf("DELETE FROM hashshard.distributed_tables WHERE relid = %u", relid),
			 SPI_OK_DELETE);
	spi_exec(psprintf("DROP TABLE %s", relsql), SPI_OK_UTILITY);
	spi_exec(psprintf("ALTER TABLE %s RENAME TO %s", tmpsql, quote_identifier(relname)),
			 SPI_OK_UTILITY);
	if (owner)
		spi_exec(psprintf("ALTER TABLE %s OWNER TO %s", relsql, owner), SPI_OK_UTILITY);
	foreach(lc, ddl)
		spi_exec(lfirst(lc), SPI_OK_UTILITY);
	SPI_finish();
	PG_RETURN_INT64(moved);
}

Datum
hashshard_drop_distributed_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *relname;
	Oid			nsp;
	char	   *relsql = hs_lock_distributed(relid, &relname, &nsp);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "hashshard: SPI_connect failed");
	hs_drop_remote_shards(relid);
	spi_exec(psprintf("DELETE FROM hashshard.distributed_tables WHERE relid = %u", relid),
			 SPI_OK_DELETE);
	spi_exec(psprintf("DROP TABLE %s", relsql), SPI_OK_UTILITY);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * shard_for, shard_sizes, node_health
 * ------------------------------------------------------------------------ */

Datum
hashshard_shard_for(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Relation	rel;
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	PartitionKey key;
	uint64		h;
	int			nparts;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	relid = PG_GETARG_OID(0);
	rel = table_open(relid, AccessShareLock);
	if (!hs_is_distributed(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" is not distributed", RelationGetRelationName(rel)),
				 errhint("hashshard.distributed_tables lists the distributed tables.")));
	key = RelationGetPartitionKey(rel);
	if (argtype != key->parttypid[0])
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the key has type %s but the shard key of \"%s\" has type %s",
						format_type_be(argtype), RelationGetRelationName(rel),
						format_type_be(key->parttypid[0])),
				 errhint("Cast the key to %s.", format_type_be(key->parttypid[0]))));
	h = hs_hash_value(rel, PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1),
					  PG_ARGISNULL(1));
	nparts = RelationGetPartitionDesc(rel, true)->nparts;
	table_close(rel, AccessShareLock);
	PG_RETURN_INT32((int32) (h % (uint64) nparts));
}

Datum
hashshard_shard_sizes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	uint64		i;
	List	   *work = NIL;
	ListCell   *lc;
	MemoryContext outer;
	Relation	rel = table_open(relid, AccessShareLock);

	if (!hs_is_distributed(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" is not distributed", RelationGetRelationName(rel)),
				 errhint("hashshard.distributed_tables lists the distributed tables.")));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
	table_close(rel, AccessShareLock);
	InitMaterializedSRF(fcinfo, 0);

	outer = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "hashshard: SPI_connect failed");
	if (SPI_execute(psprintf("SELECT shard, node, pg_catalog.format('%%I.%%I', remote_schema, remote_table) "
							 "FROM hashshard.shard_placements WHERE relid = %u ORDER BY shard", relid),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "hashshard: query failed");
	/* the list must outlive SPI_finish: build it in the caller's context */
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(outer);

		work = lappend(work, list_make3(pstrdup(SPI_getvalue(t, d, 1)),
										pstrdup(SPI_getvalue(t, d, 2)),
										pstrdup(SPI_getvalue(t, d, 3))));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	foreach(lc, work)
	{
		List	   *w = lfirst(lc);
		ForeignServer *s = GetForeignServerByName(lsecond(w), false);
		HsConn	   *hc = hs_get_conn(s->serverid, GetUserId(), false);
		char	   *sql = psprintf("SELECT pg_catalog.count(*), pg_catalog.pg_total_relation_size(%s::pg_catalog.regclass) FROM %s",
								   quote_literal_cstr(lthird(w)), (char *) lthird(w));
		PGresult   *res = hs_exec(hc, sql, false);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		NameData	node;

		namestrcpy(&node, lsecond(w));
		values[0] = Int32GetDatum(atoi(linitial(w)));
		values[1] = NameGetDatum(&node);
		values[2] = Int64GetDatum(strtoll(PQgetvalue(res, 0, 0), NULL, 10));
		values[3] = Int64GetDatum(strtoll(PQgetvalue(res, 0, 1), NULL, 10));
		PQclear(res);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
hashshard_node_health(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, hs_all_nodes())
	{
		ForeignServer *s = lfirst(lc);
		Datum		values[8];
		bool		nulls[8] = {0};
		NameData	node;
		char	   *err = NULL;
		PGconn	   *conn = NULL;
		bool		has_um = hs_has_user_mapping(GetUserId(), s->serverid);
		const char *host = NULL;
		const char *port = NULL;
		const char *dbname = NULL;
		ListCell   *lc2;

		foreach(lc2, s->options)
		{
			DefElem    *d = lfirst(lc2);

			if (strcmp(d->defname, "host") == 0)
				host = defGetString(d);
			else if (strcmp(d->defname, "port") == 0)
				port = defGetString(d);
			else if (strcmp(d->defname, "dbname") == 0)
				dbname = defGetString(d);
		}
		namestrcpy(&node, s->servername);
		values[0] = NameGetDatum(&node);
		values[1] = host ? CStringGetTextDatum(host) : (Datum) 0;
		nulls[1] = (host == NULL);
		values[2] = port ? CStringGetTextDatum(port) : (Datum) 0;
		nulls[2] = (port == NULL);
		values[3] = dbname ? CStringGetTextDatum(dbname) : (Datum) 0;
		nulls[3] = (dbname == NULL);
		if (!has_um)
			err = psprintf("no user mapping for user \"%s\"",
						   GetUserNameFromId(GetUserId(), false));
		else
			conn = hs_connect_standalone(s, GetUserMapping(GetUserId(), s->serverid),
										 false, &err);
		values[4] = BoolGetDatum(conn != NULL);
		if (conn != NULL)
		{
			PGresult   *res = PQexec(conn, "SELECT pg_catalog.current_setting('server_version'), "
									 "pg_catalog.current_setting('max_prepared_transactions')::int");

			if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
			{
				values[5] = CStringGetTextDatum(PQgetvalue(res, 0, 0));
				values[6] = Int32GetDatum(atoi(PQgetvalue(res, 0, 1)));
			}
			else
			{
				nulls[5] = nulls[6] = true;
				err = pchomp(PQerrorMessage(conn));
			}
			PQclear(res);
			PQfinish(conn);
		}
		else
			nulls[5] = nulls[6] = true;
		values[7] = err ? CStringGetTextDatum(err) : (Datum) 0;
		nulls[7] = (err == NULL);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

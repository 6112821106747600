/*-------------------------------------------------------------------------
 *
 * hs_recovery.c
 *	  Resolution of in-doubt two-phase transactions, by function and by
 *	  background worker.
 *
 * A prepared transaction on a node belongs to this coordinator database
 * when its gid starts with hs_<system identifier>_<database oid>_; the next
 * fields are the full transaction id of the coordinator transaction that
 * prepared it and a nonce (hs_conn.c hs_make_gid); the commit record's key
 * is the gid without its last field (the user mapping).  Invariant C5 of hashshard.h decides:
 *
 *	 1. a commit record with that transaction's gid is visible: COMMIT
 *		PREPARED (the coordinator committed; only the last step is missing);
 *	 2. else, the transaction is still running: leave it (it is between
 *		PREPARE and its local commit, and will finish the job itself);
 *	 3. else look for the record again, with a snapshot taken after step 2
 *		(the transaction may have committed in between): found, COMMIT
 *		PREPARED; not found, the transaction aborted or crashed before its
 *		local commit: ROLLBACK PREPARED.
 *
 * Records are deleted when every node was reachable and none holds an
 * unresolved prepared transaction for them: a record becomes visible only
 * after all its PREPAREs succeeded, so absence from every node (or
 * resolution by this run) means the transaction is complete everywhere.
 * Concurrent recoveries are serialized by an advisory lock.
 *
 * The background worker (with hashshard preloaded): a launcher that every
 * hashshard.recovery_interval seconds starts one short-lived worker per
 * database that allows connections; a worker does nothing in a database
 * without the extension.  Workers connect as the bootstrap superuser and
 * use its user mapping (or PUBLIC's) on each node.
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/hashshard/src/hs_recovery.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "hashshard.h"

PG_FUNCTION_INFO_V1(hashshard_prepared_transactions);
PG_FUNCTION_INFO_V1(hashshard_recover_prepared);

/* one prepared transaction found on a node */
typedef struct HsPrepared
{
	ForeignServer *server;
	char	   *gid;
	char	   *record_gid;		/* gid of its commit record */
	FullTransactionId fxid;
	char	   *prepared;
	char	   *owner;
	char	   *database;
	bool		resolved;		/* committed or rolled back by now */
} HsPrepared;

/*
 * hs_record_exists
 *		Is the commit record visible to a snapshot taken now?
 */
static bool
hs_record_exists(const char *gid)
{
	Oid			nsp = get_namespace_oid(HS_SCHEMA, false);
	Relation	rel = table_open(get_relname_relid("commit_records", nsp), AccessShareLock);
	Relation	idx = index_open(get_relname_relid("commit_records_pkey", nsp), AccessShareLock);
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(gid));
	scan = systable_beginscan_ordered(rel, idx, snap, 1, &key);
	found = HeapTupleIsValid(systable_getnext_ordered(scan, ForwardScanDirection));
	systable_endscan_ordered(scan);
	UnregisterSnapshot(snap);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * hs_list_prepared
 *		This database's prepared transactions on every node.  Nodes that
 *		cannot be reached are reported in *unreachable (names).
 */
static List *
hs_list_prepared(List **unreachable)
{
	List	   *out = NIL;
	ListCell   *lc;
	const char *prefix = hs_gid_like_prefix();

	foreach(lc, hs_all_nodes())
	{
		ForeignServer *s = lfirst(lc);
		char	   *err = NULL;
		PGconn	   *conn = NULL;
		PGresult   *res;
		char	   *sql;
		int			i;

		if (hs_has_user_mapping(GetUserId(), s->serverid))
			conn = hs_connect_standalone(s, GetUserMapping(GetUserId(), s->serverid),
										 false, &err);
		if (conn == NULL)
		{
			*unreachable = lappend(*unreachable, s->servername);
			continue;
		}
		/* the view shows every database of the node's cluster: only its own */
		sql = psprintf("SELECT gid, prepared, owner, database FROM pg_catalog.pg_prepared_xacts "
					   "WHERE pg_catalog.starts_with(gid, %s) "
					   "AND database = pg_catalog.current_database() ORDER BY gid",
					   quote_literal_cstr(prefix));
		res = PQexec(conn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			*unreachable = lappend(*unreachable, s->servername);
			PQclear(res);
			PQfinish(conn);
			continue;
		}
		for (i = 0; i < PQntuples(res); i++)
		{
			HsPrepared *p = palloc0(sizeof(HsPrepared));
			char	   *end;
			uint64		x;

			p->server = s;
			p->gid = pstrdup(PQgetvalue(res, i, 0));
			/* <prefix><full xid>x<nonce>_<user mapping>.<user> */
			x = strtou64(p->gid + strlen(prefix), &end, 10);
			if (end == p->gid + strlen(prefix) || *end != 'x' ||
				strrchr(end, '_') == NULL)
				continue;		/* not a gid of ours after all */
			p->fxid = FullTransactionIdFromU64(x);
			p->record_gid = pnstrdup(p->gid, strrchr(end, '_') - p->gid);
			p->prepared = pstrdup(PQgetvalue(res, i, 1));
			p->owner = pstrdup(PQgetvalue(res, i, 2));
			p->database = pstrdup(PQgetvalue(res, i, 3));
			out = lappend(out, p);
		}
		PQclear(res);
		PQfinish(conn);
	}
	return out;
}

/*
 * hs_xact_running
 *		Is the coordinator transaction still in progress?
 */
static bool
hs_xact_running(FullTransactionId fxid)
{
	FullTransactionId next = ReadNextFullTransactionId();

	if (!FullTransactionIdPrecedes(fxid, next))
		return false;			/* not ours: never assigned here */
	return TransactionIdIsInProgress(XidFromFullTransactionId(fxid));
}

/*
 * hs_resolve_one
 *		C5 for one prepared transaction; returns the action taken.
 */
static const char *
hs_resolve_one(HsPrepared *p)
{
	bool		commit;
	char	   *err = NULL;
	PGconn	   *conn;
	PGresult   *res;
	char	   *sql;
	const char *action;

	if (hs_record_exists(p->record_gid))
		commit = true;
	else if (hs_xact_running(p->fxid))
		return "in progress";
	else
		commit = hs_record_exists(p->record_gid);

	conn = hs_connect_standalone(p->server, GetUserMapping(GetUserId(), p->server->serverid),
								 false, &err);
	if (conn == NULL)
		return "node unreachable";
	sql = psprintf("%s PREPARED %s", commit ? "COMMIT" : "ROLLBACK",
				   quote_literal_cstr(p->gid));
	res = PQexec(conn, sql);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		action = commit ? "committed" : "rolled back";
	else
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		/* resolved meanwhile by its own transaction */
		if (state && strcmp(state, "42704") == 0)
			action = "already resolved";
		else
		{
			ereport(WARNING,
					(errmsg("node \"%s\": %s", p->server->servername,
							PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)),
					 errcontext("remote SQL command: %s", sql)));
			action = "failed";
		}
	}
	PQclear(res);
	PQfinish(conn);
	return action;
}

/*
 * hs_recover_prepared_internal
 *		Resolve everything; one row per prepared transaction into ts (when
 *		given).  Returns the number resolved.
 */
int
hs_recover_prepared_internal(bool verbose, Tuplestorestate *ts, TupleDesc tupdesc)
{
	List	   *unreachable = NIL;
	List	   *prepared;
	List	   *records = NIL;
	ListCell   *lc;
	int			resolved = 0;
	bool		deleted = false;
	LOCKTAG		tag;
	Oid			nsp = get_namespace_oid(HS_SCHEMA, false);
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;

	/* one recovery at a time per database */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, 7245002, 1);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);

	/* the records first (see the header: then the nodes) */
	rel = table_open(get_relname_relid("commit_records", nsp), RowExclusiveLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, InvalidOid, false, snap, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);

		records = lappend(records, list_make2(TextDatumGetCString(d),
											  palloc(sizeof(ItemPointerData))));
		*(ItemPointer) lsecond(llast(records)) = tup->t_self;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);

	prepared = hs_list_prepared(&unreachable);
	foreach(lc, prepared)
	{
		HsPrepared *p = lfirst(lc);
		const char *action = hs_resolve_one(p);

		if (strcmp(action, "committed") == 0 || strcmp(action, "rolled back") == 0 ||
			strcmp(action, "already resolved") == 0)
		{
			p->resolved = true;
			resolved++;
		}
		if (verbose || strcmp(action, "in progress") != 0)
			ereport(verbose ? NOTICE : LOG,
					(errmsg("hashshard recovery: %s on node \"%s\": %s",
							p->gid, p->server->servername, action)));
		if (ts)
		{
			Datum		values[3];
			bool		nulls[3] = {false, false, false};
			NameData	node;

			namestrcpy(&node, p->server->servername);
			values[0] = NameGetDatum(&node);
			values[1] = CStringGetTextDatum(p->gid);
			values[2] = CStringGetTextDatum(action);
			tuplestore_putvalues(ts, tupdesc, values, nulls);
		}
	}
	foreach(lc, unreachable)
	{
		if (ts)
		{
			Datum		values[3];
			bool		nulls[3] = {false, true, false};
			NameData	node;

			namestrcpy(&node, lfirst(lc));
			values[0] = NameGetDatum(&node);
			values[1] = (Datum) 0;
			values[2] = CStringGetTextDatum("node unreachable");
			tuplestore_putvalues(ts, tupdesc, values, nulls);
		}
		ereport(WARNING,
				(errmsg("hashshard recovery: node \"%s\" is unreachable", (char *) lfirst(lc)),
				 errdetail("Its in-doubt transactions are resolved once it can be reached.")));
	}

	/* records no node needs any more */
	if (unreachable == NIL)
	{
		foreach(lc, records)
		{
			List	   *r = lfirst(lc);
			ListCell   *lc2;
			bool		needed = false;

			foreach(lc2, prepared)
			{
				HsPrepared *p = lfirst(lc2);

				if (!p->resolved && strcmp(p->record_gid, linitial(r)) == 0)
					needed = true;
			}
			if (!needed)
			{
				simple_heap_delete(rel, (ItemPointer) lsecond(r));
				deleted = true;
			}
		}
	}
	/* written outside the executor: tell caches (result_cache) it changed */
	if (deleted)
		CacheInvalidateRelcache(rel);
	table_close(rel, RowExclusiveLock);
	return resolved;
}

Datum
hashshard_recover_prepared(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	(void) hs_recover_prepared_internal(false, rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

Datum
hashshard_prepared_transactions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *unreachable = NIL;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, hs_list_prepared(&unreachable))
	{
		HsPrepared *p = lfirst(lc);
		Datum		values[7];
		bool		nulls[7] = {0};
		NameData	node;
		NameData	owner;
		NameData	db;

		namestrcpy(&node, p->server->servername);
		namestrcpy(&owner, p->owner);
		namestrcpy(&db, p->database);
		values[0] = NameGetDatum(&node);
		values[1] = CStringGetTextDatum(p->gid);
		values[2] = DirectFunctionCall3(timestamptz_in, CStringGetDatum(p->prepared),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		values[3] = NameGetDatum(&owner);
		values[4] = NameGetDatum(&db);
		values[5] = BoolGetDatum(hs_record_exists(p->record_gid));
		values[6] = BoolGetDatum(hs_xact_running(p->fxid));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	foreach(lc, unreachable)
		ereport(WARNING,
				(errmsg("node \"%s\" is unreachable", (char *) lfirst(lc))));
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * Background workers
 * ------------------------------------------------------------------------ */

void
hs_register_recovery_worker(void)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 10;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "hashshard");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "hs_recovery_launcher_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "hashshard recovery launcher");
	snprintf(w.bgw_type, BGW_MAXLEN, "hashshard recovery");
	RegisterBackgroundWorker(&w);
}

/*
 * hs_recovery_launcher_main
 *		Every recovery_interval: one worker per connectable database, one
 *		after the other.
 */
void
hs_recovery_launcher_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	for (;;)
	{
		List	   *dbs = NIL;
		ListCell   *lc;
		long		wait_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (hs_recovery_interval > 0)
		{
			Relation	rel;
			TableScanDesc scan;
			HeapTuple	tup;

			StartTransactionCommand();
			(void) GetTransactionSnapshot();
			rel = table_open(DatabaseRelationId, AccessShareLock);
			scan = table_beginscan_catalog(rel, 0, NULL);
			while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
			{
				Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

				if (db->datallowconn && !db->datistemplate)
				{
					MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

					dbs = lappend_oid(dbs, db->oid);
					MemoryContextSwitchTo(old);
				}
			}
			table_endscan(scan);
			table_close(rel, AccessShareLock);
			CommitTransactionCommand();

			foreach(lc, dbs)
			{
				BackgroundWorker w;
				BackgroundWorkerHandle *h;
				pid_t		pid;

				memset(&w, 0, sizeof(w));
				w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
				w.bgw_start_time = BgWorkerStart_RecoveryFinished;
				w.bgw_restart_time = BGW_NEVER_RESTART;
				snprintf(w.bgw_library_name, BGW_MAXLEN, "hashshard");
				snprintf(w.bgw_function_name, BGW_MAXLEN, "hs_recovery_worker_main");
				snprintf(w.bgw_name, BGW_MAXLEN, "hashshard recovery worker");
				snprintf(w.bgw_type, BGW_MAXLEN, "hashshard recovery");
				w.bgw_main_arg = ObjectIdGetDatum(lfirst_oid(lc));
				w.bgw_notify_pid = MyProcPid;
				if (!RegisterDynamicBackgroundWorker(&w, &h))
					break;		/* no slot now: next round */
				if (WaitForBackgroundWorkerStartup(h, &pid) != BGWH_STARTED)
					continue;
				(void) WaitForBackgroundWorkerShutdown(h);
			}
			list_free(dbs);
		}
		wait_ms = hs_recovery_interval > 0 ? hs_recovery_interval * 1000L : 3600 * 1000L;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * hs_recovery_worker_main
 *		Resolve the in-doubt transactions of one database, then exit.
 */
void
hs_recovery_worker_main(Datum arg)
{
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (OidIsValid(get_extension_oid("hashshard", true)))
	{
		pgstat_report_activity(STATE_RUNNING, "hashshard recovery");
		(void) hs_recover_prepared_internal(false, NULL, NULL);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}

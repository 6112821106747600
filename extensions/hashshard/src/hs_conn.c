/*-------------------------------------------------------------------------
 *
 * hs_conn.c
 *	  Connections to nodes, remote transactions and two-phase commit.
 *
 * A backend keeps one libpq connection per user mapping and user (a PUBLIC
 * mapping serves several users, and the checks made when connecting depend
 * on the user) in a hash table in TopMemoryContext, reused across transactions (invariant C1
 * of hashshard.h).  Everything sent to a node goes through this file:
 *
 *	 - hs_exec()/hs_exec_command(): one synchronous round trip.  The text
 *	   sent is the connection's "prefix" (START TRANSACTION, SAVEPOINT or
 *	   RELEASE SAVEPOINT commands owed to the node, C2/C3) followed
 *	   by the command itself, as one simple-protocol query string, so that
 *	   opening a remote transaction costs no extra round trip.
 *	 - scans send their query ahead of time (hs_scan_send) and read it later
 *	   (hs_scan_wait); a connection runs one query at a time, so a scan that
 *	   finds its connection busy queues, and whoever needs the connection
 *	   first reads the result of the query in flight into the scan that owns
 *	   it (hs_conn_drain).  Queued scans are sent as soon as the connection
 *	   frees up, so every node keeps working while the executor consumes
 *	   another shard.
 *
 * Transaction callbacks implement C4: one-phase commit at PRE_COMMIT when at
 * most one node was written and nothing local, otherwise commit record, PREPARE TRANSACTION
 * on every written node, local commit, COMMIT PREPARED at COMMIT with
 * warnings only (an ERROR after the local commit would be a PANIC).  Abort
 * cancels queries in flight and rolls back (prepared) remote transactions,
 * within a deadline, with warnings only.
 *
 * A connection found dead before the first command of a transaction is
 * re-established, and that first command retried once: nothing was lost on
 * the node.  A connection that fails later is "broken": the transaction
 * fails and the connection is closed at its end.
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/hashshard/src/hs_conn.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "commands/defrem.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "hashshard.h"

/* how long abort and commit-prepared clean-up may wait for a node (ms) */
#define HS_CLEANUP_TIMEOUT_MS	30000

static HTAB *hs_conns = NULL;
static bool hs_xact_registered = false;
static bool hs_commit_started = false;	/* PRE_COMMIT processing done */
static unsigned int hs_cursor_counter = 0;

static void hs_xact_callback(XactEvent event, void *arg);
static void hs_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								SubTransactionId parentSubid, void *arg);
static void hs_inval_callback(Datum arg, int cacheid, uint32 hashvalue);
static PGconn *hs_connect(HsConn *hc);
static void hs_disconnect(HsConn *hc);
static bool hs_wait_socket(HsConn *hc, TimestampTz deadline);
static bool hs_send_raw(HsConn *hc, const char *query);
static char *hs_numbered_sql(const char *sql);
static PGresult *hs_collect(HsConn *hc, const char *sql, bool *conn_failed,
							TimestampTz deadline);
static void hs_build_prefix(HsConn *hc, StringInfo buf, bool write,
							bool force_xact);
static bool hs_cleanup_command(HsConn *hc, const char *sql);
static void hs_cancel_and_drain(HsConn *hc);
static void hs_pre_commit(void);
static void hs_collect_commits(List *sent);
static void hs_commit_prepared(void);
static void hs_abort_all(void);
static void hs_end_xact(void);
static void hs_fault_pause(void);
static void hs_forget_scans(HsConn *hc, int level);
static void hs_drain_quiet(HsConn *hc);

/* ------------------------------------------------------------------------
 * Connecting
 * ------------------------------------------------------------------------ */

/*
 * hs_xact_init
 *		Register the transaction callbacks and the connection table, once.
 */
void
hs_xact_init(void)
{
	HASHCTL		ctl;

	if (hs_xact_registered)
		return;
	ctl.keysize = 2 * sizeof(Oid);
	ctl.entrysize = sizeof(HsConn);
	hs_conns = hash_create("hashshard connections", 8, &ctl,
						   HASH_ELEM | HASH_BLOBS);
	RegisterXactCallback(hs_xact_callback, NULL);
	RegisterSubXactCallback(hs_subxact_callback, NULL);
	CacheRegisterSyscacheCallback(FOREIGNSERVEROID, hs_inval_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(USERMAPPINGOID, hs_inval_callback, (Datum) 0);
	hs_xact_registered = true;
}

/*
 * hs_inval_callback
 *		A server or user mapping changed: connections not in use by the
 *		current transaction are closed so the next use picks up the change.
 */
static void
hs_inval_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS seq;
	HsConn	   *hc;

	if (hs_conns == NULL)
		return;
	hash_seq_init(&seq, hs_conns);
	while ((hc = hash_seq_search(&seq)) != NULL)
	{
		if (hc->conn != NULL && !hc->used_in_xact)
			hs_disconnect(hc);
	}
}

/*
 * hs_conn_params
 *		Build the libpq keyword/value arrays of a node for a user mapping.
 *		The session options make the values exchanged as text unambiguous
 *		(ISO dates, UTC, exact floats) and every name the deparser prints
 *		is qualified, with search_path limited to pg_catalog.
 */
static void
hs_conn_params(ForeignServer *server, UserMapping *um,
			   const char ***kw_out, const char ***val_out)
{
	List	   *opts = list_concat(list_copy(server->options), um->options);
	int			n = list_length(opts) + 8;
	const char **kw = palloc0(sizeof(char *) * n);
	const char **val = palloc0(sizeof(char *) * n);
	int			i = 0;
	ListCell   *lc;

	/*
	 * Defaults the server's options may override (libpq keeps the last value
	 * of a keyword): do not wait forever for a node that does not answer a
	 * connection attempt, and notice a dead peer on an idle TCP connection.
	 */
	kw[i] = "connect_timeout";
	val[i] = "10";
	i++;
	kw[i] = "keepalives_idle";
	val[i] = "30";
	i++;
	kw[i] = "keepalives_interval";
	val[i] = "10";
	i++;
	kw[i] = "keepalives_count";
	val[i] = "3";
	i++;
	foreach(lc, opts)
	{
		DefElem    *d = lfirst(lc);

		/* hashshard's own options are not libpq's */
		if (strcmp(d->defname, "fetch_size") == 0 ||
			strcmp(d->defname, "batch_size") == 0)
			continue;
		kw[i] = d->defname;
		val[i] = defGetString(d);
		i++;
	}
	kw[i] = "fallback_application_name";
	val[i] = "hashshard";
	i++;
	kw[i] = "options";
	val[i] = "-c search_path=pg_catalog -c timezone=UTC -c datestyle=ISO "
		"-c intervalstyle=postgres -c extra_float_digits=3";
	i++;
	kw[i] = "client_encoding";
	val[i] = GetDatabaseEncodingName();
	i++;
	kw[i] = NULL;
	val[i] = NULL;
	*kw_out = kw;
	*val_out = val;
}

/*
 * hs_connect_standalone
 *		Open a connection that is not part of the transaction machinery
 *		(health checks, recovery).  On failure either raise an error or
 *		return NULL with *errmsg_out set.  Never shows the password.
 */
PGconn *
hs_connect_standalone(ForeignServer *server, UserMapping *um, bool raise,
					  char **errmsg_out)
{
	const char **kw;
	const char **val;
	PGconn	   *conn;
	bool		has_password = false;
	ListCell   *lc;

	foreach(lc, um->options)
	{
		if (strcmp(((DefElem *) lfirst(lc))->defname, "password") == 0)
			has_password = true;
	}
	if (!superuser_arg(um->userid) && !has_password)
	{
		if (!raise)
		{
			*errmsg_out = pstrdup("non-superusers must give a password in the user mapping");
			return NULL;
		}
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("password is required to connect to node \"%s\"",
						server->servername),
				 errdetail("Non-superusers must give a password in the user mapping."),
				 errhint("ALTER USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (ADD password '...').",
						 quote_identifier(server->servername))));
	}

	hs_conn_params(server, um, &kw, &val);
	conn = PQconnectdbParams(kw, val, false);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		char	   *msg = pchomp(conn ? PQerrorMessage(conn) : "out of memory");

		if (conn)
			PQfinish(conn);
		if (!raise)
		{
			*errmsg_out = msg;
			return NULL;
		}
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to node \"%s\"", server->servername),
				 errdetail_internal("%s", msg),
				 errhint("Check that the node is running and that the options of server \"%s\" and its user mapping are right (hashshard.nodes shows every node's state).",
						 server->servername)));
	}
	if (!superuser_arg(um->userid) && !PQconnectionUsedPassword(conn))
	{
		PQfinish(conn);
		if (!raise)
		{
			*errmsg_out = pstrdup("the node did not ask for the password");
			return NULL;
		}
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("node \"%s\" did not ask for a password", server->servername),
				 errdetail("Non-superusers may only connect to nodes that authenticate them by password."),
				 errhint("Configure password authentication for this user on the node.")));
	}
	return conn;
}

static PGconn *
hs_connect(HsConn *hc)
{
	ForeignServer *server = GetForeignServer(hc->serverid);
	UserMapping *um = GetUserMapping(hc->userid, hc->serverid);

	hc->conn = hs_connect_standalone(server, um, true, NULL);
	/* one wait set per connection, rather than one per wait */
	hc->wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(hc->wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(hc->wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(hc->wes, WL_SOCKET_READABLE, PQsocket(hc->conn), NULL, NULL);
	return hc->conn;
}

static void
hs_disconnect(HsConn *hc)
{
	if (hc->conn)
		PQfinish(hc->conn);
	hc->conn = NULL;
	if (hc->wes)
		FreeWaitEventSet(hc->wes);
	hc->wes = NULL;
	if (hc->stmts)
		hash_destroy(hc->stmts);
	hc->stmts = NULL;
	hc->nstmts = 0;
	hc->xact_depth = 0;
	hc->busy = NULL;
	hc->queue = NIL;
	hc->broken = false;
	hc->pending_release = 0;
}

/*
 * hs_get_conn
 *		The connection of this backend to a node for a user, opened or
 *		re-established as needed, and registered in the current transaction.
 */
HsConn *
hs_get_conn(Oid serverid, Oid userid, bool will_write)
{
	UserMapping *um;
	ForeignServer *server;
	HsConn	   *hc;
	bool		found;
	Oid			key[2];

	hs_xact_init();
	if (!hs_has_user_mapping(userid, serverid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no user mapping for user \"%s\" on node \"%s\"",
						GetUserNameFromId(userid, false),
						GetForeignServer(serverid)->servername),
				 errhint("CREATE USER MAPPING FOR %s SERVER %s OPTIONS (user '...', password '...').",
						 quote_identifier(GetUserNameFromId(userid, false)),
						 quote_identifier(GetForeignServer(serverid)->servername))));
	um = GetUserMapping(userid, serverid);
	key[0] = um->umid;
	key[1] = userid;
	hc = hash_search(hs_conns, key, HASH_ENTER, &found);
	if (!found)
		memset(((char *) hc) + 2 * sizeof(Oid), 0, sizeof(HsConn) - 2 * sizeof(Oid));
	if (hs_commit_started)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot use a distributed table while the transaction commits")));
	if (hc->broken && hc->used_in_xact)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("the connection to node \"%s\" was lost in this transaction",
						hc->nodename ? hc->nodename : "?"),
				 errhint("Roll the transaction back and retry it.")));
	server = GetForeignServer(serverid);
	hc->serverid = serverid;
	hc->userid = userid;
	if (hc->nodename == NULL || strcmp(hc->nodename, server->servername) != 0)
	{
		if (hc->nodename)
			pfree(hc->nodename);
		hc->nodename = MemoryContextStrdup(TopMemoryContext, server->servername);
	}
	hc->fetch_size = hs_option_int(server->options, "fetch_size", 10000);
	hc->batch_size = hs_option_int(server->options, "batch_size", 100);

	/*
	 * A connection that died while idle (node restarted: the socket reads as
	 * closed) is replaced before its first use in a transaction.
	 */
	if (hc->conn != NULL && !hc->used_in_xact &&
		(hc->broken || !PQconsumeInput(hc->conn) ||
		 PQstatus(hc->conn) != CONNECTION_OK))
		hs_disconnect(hc);
	if (hc->conn == NULL)
		hs_connect(hc);
	if (!hc->used_in_xact)
		hc->fresh = true;
	hc->used_in_xact = true;
	return hc;
}

/*
 * hs_reconnect_fresh
 *		The connection failed on its first command of the transaction: no
 *		remote state was lost (the node restarted, or our backend there
 *		ended), so reconnect and let the caller retry, once.  False when
 *		something already succeeded on it in this transaction.
 */
static bool
hs_reconnect_fresh(HsConn *hc)
{
	bool		wrote = hc->wrote;
	List	   *queue = hc->queue;	/* other scans still wait for it */

	if (!hc->fresh)
		return false;
	hc->fresh = false;
	hs_disconnect(hc);
	hs_connect(hc);
	hc->queue = queue;
	hc->wrote = wrote;
	return true;
}

/*
 * hs_mark_written
 *		The current transaction is about to write on this node.
 */
void
hs_mark_written(HsConn *hc)
{
	hc->wrote = true;
}

/* ------------------------------------------------------------------------
 * Sending and receiving
 * ------------------------------------------------------------------------ */

/*
 * hs_build_prefix
 *		Append to buf the commands the node is owed before the next one:
 *		lazily released savepoints, the opening of the remote transaction
 *		when needed (C2), and savepoints up to the current nesting level
 *		(C3).  Updates hc's state as if they had succeeded; a failure
 *		marks the connection broken.
 */
static void
hs_build_prefix(HsConn *hc, StringInfo buf, bool write, bool force_xact)
{
	int			level = GetCurrentTransactionNestLevel();
	bool		need_xact;

	if (hc->pending_release > 0)
	{
		appendStringInfo(buf, "RELEASE SAVEPOINT s%d; ", hc->pending_release);
		hc->pending_release = 0;
	}
	need_xact = write || force_xact || hc->wrote || IsTransactionBlock() ||
		XactIsoLevel >= XACT_REPEATABLE_READ || hc->xact_depth > 0;
	if (write)
		hc->wrote = true;
	if (!need_xact)
		return;
	if (hc->xact_depth == 0)
	{
		appendStringInfo(buf, "START TRANSACTION ISOLATION LEVEL %s; ",
						 XactIsoLevel >= XACT_REPEATABLE_READ ?
						 "REPEATABLE READ" : "READ COMMITTED");
		hc->xact_depth = 1;
	}
	while (hc->xact_depth < level)
	{
		hc->xact_depth++;
		appendStringInfo(buf, "SAVEPOINT s%d; ", hc->xact_depth);
	}
}

/*
 * hs_conn_begin_command
 *		Public form of hs_build_prefix for callers that compose their own
 *		query strings (COPY).
 */
void
hs_conn_begin_command(HsConn *hc, StringInfo prefix)
{
	hs_conn_drain(hc);
	hs_build_prefix(hc, prefix, true, true);
}

/*
 * hs_wait_socket
 *		Wait until the connection has a complete result, serving
 *		interrupts.  Returns false on a broken connection or when the
 *		deadline (0: none) passed.
 */
static bool
hs_wait_socket(HsConn *hc, TimestampTz deadline)
{
	while (PQisBusy(hc->conn))
	{
		long		timeout = -1;
		WaitEvent	ev;
		int			n;

		if (deadline != 0)
		{
			timeout = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
			if (timeout <= 0)
				return false;
		}
		n = WaitEventSetWait(hc->wes, timeout, &ev, 1, PG_WAIT_EXTENSION);
		if (n == 0)
			continue;			/* timed out: the deadline check decides */
		if (ev.events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if ((ev.events & WL_SOCKET_READABLE) && !PQconsumeInput(hc->conn))
			return false;
	}
	return true;
}

/*
 * hs_collect
 *		Read every result of the query string in flight.  Returns the last
 *		one (the caller's command), or NULL with *conn_failed when the
 *		connection broke.  An earlier failing result (of the prefix or of
 *		one of several commands) is returned instead of the last one.
 */
static PGresult *
hs_collect(HsConn *hc, const char *sql, bool *conn_failed,
		   TimestampTz deadline)
{
	PGresult   *last = NULL;
	PGresult   *failed = NULL;

	*conn_failed = false;
	for (;;)
	{
		PGresult   *res;

		if (!hs_wait_socket(hc, deadline))
		{
			*conn_failed = true;
			break;
		}
		res = PQgetResult(hc->conn);
		if (res == NULL)
			break;
		if (PQresultStatus(res) == PGRES_FATAL_ERROR && failed == NULL)
		{
			failed = res;
			continue;
		}
		if (PQresultStatus(res) == PGRES_COPY_IN ||
			PQresultStatus(res) == PGRES_COPY_OUT)
		{
			/* only hs_fdw.c's COPY path expects these */
			if (last)
				PQclear(last);
			return res;
		}
		if (last)
			PQclear(last);
		last = res;
	}
	if (*conn_failed || PQstatus(hc->conn) != CONNECTION_OK)
	{
		*conn_failed = true;
		if (failed)
			PQclear(failed);
		if (last)
			PQclear(last);
		return NULL;
	}
	if (failed)
	{
		if (last)
			PQclear(last);
		return failed;
	}
	return last;
}

/*
 * hs_report_result
 *		Raise the error of a failed remote command, with the node's SQLSTATE
 *		and message and the remote SQL as context.
 */
void
hs_report_result(int elevel, PGresult *res, HsConn *hc, const char *sql)
{
	char	   *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char	   *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char	   *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	char	   *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	int			code = ERRCODE_CONNECTION_FAILURE;
	char	   *msg;

	if (sqlstate && strlen(sqlstate) == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
							 sqlstate[3], sqlstate[4]);
	msg = pstrdup(primary ? primary :
				  (hc->conn ? pchomp(PQerrorMessage(hc->conn)) : "connection lost"));
	detail = detail ? pstrdup(detail) : NULL;
	hint = hint ? pstrdup(hint) : NULL;
	if (res)
		PQclear(res);

	ereport(ERROR,
			(errcode(code),
			 errmsg("node \"%s\": %s", hc->nodename, msg),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 sql ? errcontext("remote SQL command: %s", hs_numbered_sql(sql)) : 0));
	pg_unreachable();
}

/*
 * hs_send_raw
 *		Send a query string; false when the connection is dead.
 */
static bool
hs_send_raw(HsConn *hc, const char *query)
{
	return PQsendQuery(hc->conn, query) == 1;
}

/*
 * hs_roundtrip
 *		Send prefix + sql and collect the result.  When the connection turns
 *		out to be dead and this was the first command of the transaction on
 *		it (no remote state lost), reconnect and retry once.  Errors are
 *		raised; the caller owns the PGresult.
 */
static PGresult *
hs_roundtrip(HsConn *hc, const char *sql, bool write)
{
	StringInfoData buf;
	int			attempt;
	bool		saved_wrote = hc->wrote;

	hs_conn_drain(hc);
	for (attempt = 0;; attempt++)
	{
		PGresult   *res;
		bool		failed;

		initStringInfo(&buf);
		hs_build_prefix(hc, &buf, write, false);
		appendStringInfoString(&buf, sql);
		if (hs_send_raw(hc, buf.data))
			res = hs_collect(hc, sql, &failed, 0);
		else
		{
			res = NULL;
			failed = true;
		}
		if (!failed)
		{
			hc->fresh = false;
			if (PQresultStatus(res) == PGRES_FATAL_ERROR)
				hs_report_result(ERROR, res, hc, sql);
			pfree(buf.data);
			return res;
		}
		if (attempt == 0)
		{
			hc->wrote = saved_wrote;
			if (hs_reconnect_fresh(hc))
			{
				/* nothing was lost on the node: retry on a new connection */
				pfree(buf.data);
				continue;
			}
		}
		hc->broken = true;
		hs_report_result(ERROR, NULL, hc, sql);
	}
}

/*
 * hs_exec
 *		Run one command on a node (synchronously) and return its result.
 */
PGresult *
hs_exec(HsConn *hc, const char *sql, bool write)
{
	return hs_roundtrip(hc, sql, write);
}

/*
 * hs_exec_command
 *		Run one command on a node, discarding its result.
 */
void
hs_exec_command(HsConn *hc, const char *sql, bool write)
{
	PQclear(hs_roundtrip(hc, sql, write));
}

/*
 * hs_send_query / hs_get_result
 *		The same, in two halves, for callers that overlap several nodes
 *		(commit processing, COPY).  No retry.
 */
void
hs_send_query(HsConn *hc, const char *sql, bool write)
{
	StringInfoData buf;

	hs_conn_drain(hc);
	initStringInfo(&buf);
	hs_build_prefix(hc, &buf, write, false);
	appendStringInfoString(&buf, sql);
	if (!hs_send_raw(hc, buf.data))
	{
		hc->broken = true;
		hs_report_result(ERROR, NULL, hc, sql);
	}
	pfree(buf.data);
}

PGresult *
hs_get_result(HsConn *hc, const char *sql)
{
	bool		failed;
	PGresult   *res = hs_collect(hc, sql, &failed, 0);

	if (failed)
	{
		hc->broken = true;
		hs_report_result(ERROR, NULL, hc, sql);
	}
	hc->fresh = false;
	if (PQresultStatus(res) == PGRES_FATAL_ERROR)
		hs_report_result(ERROR, res, hc, sql);
	return res;
}

/* ------------------------------------------------------------------------
 * Scans sharing a connection
 * ------------------------------------------------------------------------ */

/*
 * hs_scan_text
 *		The text a scan sends now: its query (opening its cursor and
 *		fetching the first batch), or the next FETCH.
 */
static char *
hs_scan_text(HsScanState *ss)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (ss->use_cursor && ss->cursor_open)
	{
		appendStringInfo(&buf, "FETCH %d FROM hs_c%d", ss->fetch_size,
						 ss->cursor_no);
		return buf.data;
	}
	Assert(ss->use_cursor);
	ss->cursor_no = ++hs_cursor_counter;
	appendStringInfo(&buf, "DECLARE hs_c%d NO SCROLL CURSOR FOR ", ss->cursor_no);
	appendStringInfoString(&buf, hs_splice_params(ss->sql, ss->nparams,
												  ss->param_values,
												  ss->param_types));
	appendStringInfo(&buf, "; FETCH %d FROM hs_c%d", ss->fetch_size,
					 ss->cursor_no);
	ss->cursor_open = true;
	return buf.data;
}

/*
 * hs_splice_params
 *		The query text with each parameter marker n replaced by the typed
 *		literal of values[n-1] (simple protocol).
 */
char *
hs_splice_params(const char *sql, int nparams, char **values, Oid *types)
{
	StringInfoData buf;
	const char *p = sql;

	initStringInfo(&buf);
	while (*p)
	{
		if (p[0] == HS_PARAM_OPEN)
		{
			char	   *end;
			long		i = strtol(p + 1, &end, 10);

			if (*end != HS_PARAM_CLOSE || i < 1 || i > nparams)
				elog(ERROR, "hashshard: malformed parameter in remote query");
			if (values[i - 1] == NULL)
				appendStringInfoString(&buf, "NULL");
			else
				appendStringInfoString(&buf, quote_literal_cstr(values[i - 1]));
			appendStringInfo(&buf, "::%s",
							 format_type_extended(types[i - 1], -1,
												  FORMAT_TYPE_FORCE_QUALIFY));
			p = end + 1;
			continue;
		}
		appendStringInfoChar(&buf, *p);
		p++;
	}
	return buf.data;
}

/*
 * hs_numbered_sql
 *		The query text with parameter markers written $n, for a prepared
 *		statement and for messages.
 */
static char *
hs_numbered_sql(const char *sql)
{
	StringInfoData buf;
	const char *p;

	initStringInfo(&buf);
	for (p = sql; *p; p++)
	{
		if (p[0] == HS_PARAM_OPEN)
		{
			const char *end = strchr(p, HS_PARAM_CLOSE);

			if (end == NULL)
				elog(ERROR, "hashshard: malformed parameter in remote query");
			appendStringInfoChar(&buf, '$');
			appendBinaryStringInfo(&buf, p + 1, end - p - 1);
			p = end;
			continue;
		}
		appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

/* an entry of a connection's prepared statements */
typedef struct HsStmt
{
	char		key[NAMEDATALEN * 16];	/* query text (hash key) */
	char		name[24];
} HsStmt;

#define HS_MAX_STMTS 1000
#define HS_STMT_MAX_TEXT (NAMEDATALEN * 16 - 1)

/*
 * hs_prepared_name
 *		The name of the node's prepared statement for this query text,
 *		preparing it first (one round trip, once per connection).  NULL
 *		when the text is too long to cache or the cache is full: the caller
 *		then sends the query with literals.  The connection must be idle.
 */
static const char *
hs_prepared_name(HsConn *hc, const char *sql, int nparams, Oid *types)
{
	HsStmt	   *st;
	bool		found;
	PGresult   *res = NULL;
	char	   *numbered;
	StringInfoData key;
	int			i;
	bool		failed = false;
	char		name[24];

	/* the key is the text and the parameter types */
	initStringInfo(&key);
	appendStringInfoString(&key, sql);
	for (i = 0; i < nparams; i++)
		appendStringInfo(&key, "%c%u", i == 0 ? HS_PARAM_CLOSE : ',', types[i]);
	if (key.len > HS_STMT_MAX_TEXT)
		return NULL;
	if (hc->stmts == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(((HsStmt *) NULL)->key);
		ctl.entrysize = sizeof(HsStmt);
		hc->stmts = hash_create("hashshard prepared statements", 64, &ctl,
								HASH_ELEM | HASH_STRINGS);
	}
	st = hash_search(hc->stmts, key.data, HASH_FIND, &found);
	if (found)
		return st->name;
	if (hc->nstmts >= HS_MAX_STMTS)
		return NULL;
	numbered = hs_numbered_sql(sql);
	snprintf(name, sizeof(name), "hs_s%d", hc->nstmts + 1);
	/* sent and read like any query: interruptible, and retried once */
	if (!PQsendPrepare(hc->conn, name, numbered, nparams, types))
		failed = true;
	else
		res = hs_collect(hc, numbered, &failed, 0);
	if (failed && hs_reconnect_fresh(hc))
		return hs_prepared_name(hc, sql, nparams, types);
	if (failed)
	{
		hc->broken = true;
		hs_report_result(ERROR, NULL, hc, numbered);
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		hs_report_result(ERROR, res, hc, numbered);
	PQclear(res);
	st = hash_search(hc->stmts, key.data, HASH_ENTER, NULL);
	snprintf(st->name, sizeof(st->name), "hs_s%d", ++hc->nstmts);
	return st->name;
}

/*
 * hs_send_prepared_or_text
 *		Send a query with parameters: through the node's prepared statement
 *		when nothing must precede it (no prefix owed), else as one text with
 *		literals after the prefix.  False when the connection is dead.
 */
static bool
hs_send_prepared_or_text(HsConn *hc, StringInfo prefix, const char *sql,
						 int nparams, char **values, Oid *types, bool cursor)
{
	const char *name = NULL;

	if (prefix->len == 0 && !cursor)
		name = hs_prepared_name(hc, sql, nparams, types);
	if (name != NULL)
		return PQsendQueryPrepared(hc->conn, name, nparams,
								   (const char *const *) values,
								   NULL, NULL, 0) == 1;
	appendStringInfoString(prefix, hs_splice_params(sql, nparams, values, types));
	return hs_send_raw(hc, prefix->data);
}

/*
 * hs_exec_params
 *		One command with parameters, synchronously (direct UPDATE/DELETE).
 */
PGresult *
hs_exec_params(HsConn *hc, const char *sql, int nparams, char **values,
			   Oid *types, bool write)
{
	StringInfoData buf;
	PGresult   *res;

	bool		wrote = hc->wrote;
	bool		failed;
	int			attempt;

	hs_conn_drain(hc);
	for (attempt = 0;; attempt++)
	{
		initStringInfo(&buf);
		hs_build_prefix(hc, &buf, write, false);
		failed = !hs_send_prepared_or_text(hc, &buf, sql, nparams, values,
										   types, false);
		res = failed ? NULL : hs_collect(hc, sql, &failed, 0);
		pfree(buf.data);
		if (!failed)
			break;
		hc->wrote = wrote;
		if (attempt > 0 || !hs_reconnect_fresh(hc))
		{
			hc->broken = true;
			hs_report_result(ERROR, NULL, hc, sql);
		}
	}
	hc->fresh = false;
	if (PQresultStatus(res) == PGRES_FATAL_ERROR)
		hs_report_result(ERROR, res, hc, sql);
	return res;
}

/*
 * hs_scan_send
 *		Send the scan's query now if its connection is free, else queue it.
 */
void
hs_scan_send(HsScanState *ss)
{
	HsConn	   *hc = ss->hc;
	StringInfoData buf;
	const char *query;
	bool		ok;

	if (ss->sent)
		return;
	if (hc->busy != NULL && hc->busy != ss)
	{
		if (!list_member_ptr(hc->queue, ss))
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

			hc->queue = lappend(hc->queue, ss);
			MemoryContextSwitchTo(old);
		}
		return;
	}
	hc->queue = list_delete_ptr(hc->queue, ss);
	if (hc->copy_pending || hc->discard_next)
		hs_conn_drain(hc);
	initStringInfo(&buf);
	hs_build_prefix(hc, &buf, ss->force_xact, ss->use_cursor);
	if (ss->use_cursor)
	{
		query = hs_scan_text(ss);
		appendStringInfoString(&buf, query);
		ok = hs_send_raw(hc, buf.data);
	}
	else
	{
		query = ss->sql;
		ok = hs_send_prepared_or_text(hc, &buf, ss->sql, ss->nparams,
									  ss->param_values, ss->param_types, false);
	}
	if (!ok)
	{
		hc->broken = true;
		hs_report_result(ERROR, NULL, hc, query);
	}
	pfree(buf.data);
	ss->sent = true;
	hc->busy = ss;
}

/*
 * hs_conn_drain
 *		Read the result in flight on the connection into the scan that sent
 *		it, then send the next queued scan, so the connection is free for
 *		the caller (who sends before the queued scan is read: the caller
 *		wins, the queued one is re-queued).
 */
void
hs_conn_drain(HsConn *hc)
{
	HsScanState *ss = hc->busy;
	bool		failed;
	PGresult   *res;

	if (hc->copy_pending)
	{
		/* the end of a COPY sent without waiting (hs_fdw.c) */
		hc->copy_pending = false;
		res = hs_collect(hc, "COPY", &failed, 0);
		if (failed)
		{
			hc->broken = true;
			hs_report_result(ERROR, NULL, hc, "COPY ... FROM STDIN");
		}
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			hs_report_result(ERROR, res, hc, "COPY ... FROM STDIN");
		PQclear(res);
	}
	if (hc->discard_next)
	{
		/* the result of a scan whose query went away with its portal */
		hc->discard_next = false;
		res = hs_collect(hc, NULL, &failed, 0);
		if (res)
			PQclear(res);
		if (failed)
		{
			hc->broken = true;
			hs_report_result(ERROR, NULL, hc, NULL);
		}
	}
	if (ss == NULL)
		return;
	res = hs_collect(hc, ss->sql, &failed, 0);
	hc->busy = NULL;
	if (failed && hs_reconnect_fresh(hc))
	{
		/* send it again on the new connection */
		ss->sent = false;
		ss->cursor_open = false;
		hs_scan_send(ss);
		res = hs_collect(hc, ss->sql, &failed, 0);
		hc->busy = NULL;
	}
	if (failed)
	{
		ss->sent = false;
		hc->broken = true;
		hs_report_result(ERROR, NULL, hc, ss->sql);
	}
	hc->fresh = false;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		/* the scan is done for: it must not wait for this result again */
		ss->sent = false;
		ss->eof = true;
		hs_report_result(ERROR, res, hc, ss->sql);
	}
	if (ss->res)
		PQclear(ss->res);
	ss->res = res;
	ss->have_result = true;
	ss->sent = false;
	ss->next_row = 0;
	ss->nrows = PQntuples(res);
}

/*
 * hs_scan_wait
 *		Make sure the scan has its (next) result: send it if needed, wait
 *		for it, and start the next queued scan on the same connection.
 */
void
hs_scan_wait(HsScanState *ss)
{
	HsConn	   *hc = ss->hc;

	if (ss->have_result)
		return;
	if (!ss->sent)
	{
		hs_conn_drain(hc);
		hs_scan_send(ss);
	}
	Assert(hc->busy == ss);
	hs_conn_drain(hc);
	/* keep the node busy: send the next scan waiting for it */
	if (hc->queue != NIL)
		hs_scan_send((HsScanState *) linitial(hc->queue));
}

void
hs_scan_enqueue(HsScanState *ss)
{
	hs_scan_send(ss);
}

/*
 * hs_scan_dequeue
 *		The scan ends: forget it in its connection, reading away its result
 *		if it is in flight.
 */
void
hs_scan_dequeue(HsScanState *ss)
{
	HsConn	   *hc = ss->hc;

	if (hc == NULL)
		return;
	hc->queue = list_delete_ptr(hc->queue, ss);
	if (hc->busy == ss)
		hs_conn_drain(hc);
	if (ss->res)
	{
		PQclear(ss->res);
		ss->res = NULL;
	}
	if (ss->cursor_open && hc->conn)
	{
		/* closed with the next command, or by the end of the transaction */
		ss->cursor_open = false;
	}
	if (hc->queue != NIL && hc->busy == NULL)
		hs_scan_send((HsScanState *) linitial(hc->queue));
}

/* ------------------------------------------------------------------------
 * Transactions
 * ------------------------------------------------------------------------ */

/*
 * hs_gid_like_prefix
 *		"hs_<system identifier>_<database oid>_": the gids of this
 *		coordinator database.
 */
const char *
hs_gid_like_prefix(void)
{
	static char prefix[64];

	snprintf(prefix, sizeof(prefix), HS_GID_PREFIX "_" UINT64_FORMAT "_%u_",
			 GetSystemIdentifier(), MyDatabaseId);
	return prefix;
}

/*
 * hs_make_gid
 *		The gid of a transaction, the key of its commit record:
 *		<prefix><full xid>x<nonce>; its branch on one connection adds
 *		_<user mapping oid>.<user oid> (hs_pre_commit).  The nonce (this backend's start
 *		time and pid) tells apart two transactions that got the same id
 *		because a crash made the coordinator forget the first one's id: the
 *		second one's record then cannot decide for the first one's branches.
 */
char *
hs_make_gid(FullTransactionId fxid, Oid id)
{
	uint64		nonce = ((uint64) MyStartTimestamp << 16) ^ (uint64) MyProcPid;

	Assert(id == InvalidOid);
	return psprintf("%s" UINT64_FORMAT "x%08x%08x", hs_gid_like_prefix(),
					U64FromFullTransactionId(fxid),
					(uint32) (nonce >> 32), (uint32) nonce);
}

/*
 * hs_insert_commit_record
 *		Insert the commit decision's record in the current transaction.
 *		Written directly (not through SQL) so that any user's transaction
 *		can write it: the table is not granted to anyone.
 */
static void
hs_insert_commit_record(const char *gid)
{
	Oid			nsp = get_namespace_oid(HS_SCHEMA, false);
	Oid			relid = get_relname_relid("commit_records", nsp);
	Relation	rel;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	HeapTuple	tup;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table hashshard.commit_records does not exist"),
				 errhint("CREATE EXTENSION hashshard in this database.")));
	rel = table_open(relid, RowExclusiveLock);
	values[0] = CStringGetTextDatum(gid);
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	tup = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	CatalogTupleInsert(rel, tup);
	heap_freetuple(tup);
	/* written outside the executor: tell caches (result_cache) it changed */
	CacheInvalidateRelcache(rel);
	table_close(rel, NoLock);
}

/*
 * hs_collect_commits
 *		Collect the results of the COMMIT / PREPARE TRANSACTION commands in
 *		"sent" (pairs: connection, command), all of them, then raise the
 *		first failure.  A command that completed with another tag than its
 *		own (a failed remote transaction answers ROLLBACK) is a failure.
 */
static void
hs_collect_commits(List *sent)
{
	ListCell   *lc;
	PGresult   *error_res = NULL;
	HsConn	   *error_hc = NULL;
	char	   *error_sql = NULL;
	bool		error_tag = false;

	for (lc = list_head(sent); lc != NULL; lc = lnext(sent, lnext(sent, lc)))
	{
		HsConn	   *hc = lfirst(lc);
		char	   *sql = lfirst(lnext(sent, lc));
		PGresult   *res;
		bool		failed;
		bool		prepare = (strncmp(sql, "PREPARE", 7) == 0);

		res = hs_collect(hc, sql, &failed, 0);
		if (failed)
		{
			hc->broken = true;
			if (error_hc == NULL)
			{
				error_hc = hc;
				error_sql = sql;
			}
			continue;
		}
		if (PQresultStatus(res) == PGRES_FATAL_ERROR ||
			strcmp(PQcmdStatus(res), prepare ? "PREPARE TRANSACTION" : "COMMIT") != 0)
		{
			if (error_hc == NULL)
			{
				error_hc = hc;
				error_tag = (PQresultStatus(res) != PGRES_FATAL_ERROR);
				error_res = error_tag ? NULL : res;
				error_sql = sql;
			}
			if (error_res != res)
				PQclear(res);
			/* the remote transaction is gone (PREPARE failed or COMMIT) */
			hc->xact_depth = 0;
			if (hc->gid)
			{
				pfree(hc->gid);
				hc->gid = NULL;
			}
			continue;
		}
		PQclear(res);
		if (hc->gid)
			hc->prepared = true;
		hc->xact_depth = 0;
	}
	if (error_hc == NULL)
		return;
	if (error_tag)
		ereport(ERROR,
				(errcode(ERRCODE_TRANSACTION_ROLLBACK),
				 errmsg("the remote transaction on node \"%s\" was rolled back instead of committed",
						error_hc->nodename),
				 errdetail("An earlier error had aborted it on the node."),
				 errhint("The transaction was rolled back; retry it.")));
	if (error_res != NULL)
	{
		char	   *state = PQresultErrorField(error_res, PG_DIAG_SQLSTATE);

		if (state && strcmp(state, "55000") == 0 &&
			strncmp(error_sql, "PREPARE", 7) == 0)
		{
			PQclear(error_res);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("node \"%s\" does not allow prepared transactions",
							error_hc->nodename),
					 errdetail("A transaction that writes on several nodes commits with two-phase commit, and max_prepared_transactions is 0 on the node."),
					 errhint("Set max_prepared_transactions above 0 (at least max_connections) on node \"%s\" and restart it.",
							 error_hc->nodename)));
		}
	}
	hs_report_result(ERROR, error_res, error_hc, error_sql);
}

/*
 * hs_pre_commit
 *		C4, up to and including PREPARE.  Errors abort the local transaction
 *		(the abort callback rolls back what was prepared).
 */
static void
hs_pre_commit(void)
{
	HASH_SEQ_STATUS seq;
	HsConn	   *hc;
	int			nwritten = 0;
	bool		twophase;
	FullTransactionId fxid = InvalidFullTransactionId;
	List	   *sent = NIL;
	int			pass;

	hash_seq_init(&seq, hs_conns);
	while ((hc = hash_seq_search(&seq)) != NULL)
	{
		if (!hc->used_in_xact || hc->conn == NULL)
			continue;
		if (hc->broken)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("the connection to node \"%s\" was lost in this transaction",
							hc->nodename),
					 errhint("The transaction was rolled back; retry it.")));
		hs_conn_drain(hc);
		hc->queue = NIL;
		if (hc->xact_depth > 0 && hc->wrote)
			nwritten++;
	}

	/*
	 * Two-phase commit when several nodes were written, and also when one was
	 * and the transaction wrote locally too (it has an xid): then the local
	 * commit must be the decision, or a failure between the node's commit and
	 * ours would keep one half.
	 */
	twophase = nwritten > 1 ||
		(nwritten == 1 && TransactionIdIsValid(GetTopTransactionIdIfAny()));
	if (twophase)
	{
		fxid = GetTopFullTransactionId();
		/* part of the local transaction: it commits if and only if we do */
		hs_insert_commit_record(hs_make_gid(fxid, InvalidOid));
		CommandCounterIncrement();

		/*
		 * The commit must be durable before COMMIT PREPARED goes out
		 * (synchronous_commit may be off).  Our id need not be durable before
		 * the nodes prepare: the gid's nonce keeps a transaction that gets
		 * the same id after a crash from deciding for ours.
		 */
		ForceSyncCommit();
	}

	/*
	 * A remote transaction that an earlier error aborted would answer COMMIT
	 * or PREPARE with ROLLBACK, without an error: refuse to commit.
	 */
	hash_seq_init(&seq, hs_conns);
	while ((hc = hash_seq_search(&seq)) != NULL)
	{
		if (hc->used_in_xact && hc->conn != NULL && hc->xact_depth > 0 &&
			PQtransactionStatus(hc->conn) == PQTRANS_INERROR)
		{
			hash_seq_term(&seq);
			ereport(ERROR,
					(errcode(ERRCODE_IN_FAILED_SQL_TRANSACTION),
					 errmsg("the remote transaction on node \"%s\" was aborted by an earlier error",
							hc->nodename),
					 errdetail("An error on the node was caught locally (a savepoint or an exception block) where no remote savepoint could undo it."),
					 errhint("The transaction was rolled back; retry it.")));
		}
	}

	/*
	 * Send COMMIT or PREPARE TRANSACTION everywhere, then collect.  In one
	 * phase, nodes that were only read commit first: the written node's
	 * COMMIT goes last, once nothing else can fail.
	 */
	for (pass = 0; pass < 2; pass++)
	{
		hash_seq_init(&seq, hs_conns);
		while ((hc = hash_seq_search(&seq)) != NULL)
		{
			char	   *sql;

			if (!hc->used_in_xact || hc->conn == NULL || hc->xact_depth == 0)
				continue;
			if (!twophase && hc->wrote != (pass == 1))
				continue;
			if (twophase && pass == 1)
				continue;
			if (twophase && hc->wrote)
			{
				/* one branch per connection: per user mapping and user */
				hc->gid = MemoryContextStrdup(TopMemoryContext,
											  psprintf("%s_%u.%u",
													   hs_make_gid(fxid, InvalidOid),
													   hc->umid, hc->keyuser));
				sql = psprintf("PREPARE TRANSACTION '%s'", hc->gid);
			}
			else
				sql = pstrdup("COMMIT");
			if (!hs_send_raw(hc, sql))
			{
				hc->broken = true;
				hs_report_result(ERROR, NULL, hc, sql);
			}
			sent = lappend(sent, hc);
			sent = lappend(sent, sql);
		}
		if (!twophase && pass == 0)
		{
			/* read-only nodes: collect before the written one commits */
			hs_collect_commits(sent);
			sent = NIL;
		}
	}
	hs_collect_commits(sent);
	if (twophase)
	{
		if (hs_debug_fault == HS_FAULT_ERROR_AFTER_PREPARE)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("hashshard fault injected after PREPARE TRANSACTION")));
		if (hs_debug_fault == HS_FAULT_EXIT_AFTER_PREPARE)
		{
			ereport(LOG,
					(errmsg("hashshard fault: exiting after PREPARE TRANSACTION")));
			/* skip the abort processing: leave the nodes in doubt */
			hash_seq_init(&seq, hs_conns);
			while ((hc = hash_seq_search(&seq)) != NULL)
			{
				if (hc->conn)
					PQfinish(hc->conn);
				hc->conn = NULL;
			}
			proc_exit(1);
		}
		if (hs_debug_fault == HS_FAULT_PAUSE_AFTER_PREPARE)
			hs_fault_pause();
	}
	hs_commit_started = true;
}

/*
 * hs_fault_pause
 *		Test pause point: wait for (then release) advisory lock 7245001,
 *		which the test holds.
 */
static void
hs_fault_pause(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, 7245001, 1);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	LockRelease(&tag, ExclusiveLock, false);
}

/*
 * hs_cleanup_command
 *		Run a clean-up command (ROLLBACK, COMMIT PREPARED, ...) with a
 *		deadline, without raising errors.  Returns success.
 */
static bool
hs_cleanup_command(HsConn *hc, const char *sql)
{
	PGresult   *res;
	bool		failed;
	TimestampTz deadline;

	if (hc->conn == NULL || PQstatus(hc->conn) != CONNECTION_OK)
		return false;
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   HS_CLEANUP_TIMEOUT_MS);
	if (!PQsendQuery(hc->conn, sql))
		return false;
	res = hs_collect(hc, sql, &failed, deadline);
	if (failed)
		return false;
	if (PQresultStatus(res) == PGRES_FATAL_ERROR)
	{
		ereport(WARNING,
				(errmsg("node \"%s\": %s", hc->nodename,
						PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)),
				 errcontext("remote SQL command: %s", sql)));
		PQclear(res);
		return false;
	}
	PQclear(res);
	return true;
}

/*
 * hs_cancel_and_drain
 *		Cancel the query in flight (abort path) and read its results away.
 */
static void
hs_cancel_and_drain(HsConn *hc)
{
	PGcancel   *cancel;
	char		errbuf[256];
	bool		failed;
	PGresult   *res;

	if (hc->conn == NULL)
		return;
	if (PQtransactionStatus(hc->conn) == PQTRANS_ACTIVE)
	{
		cancel = PQgetCancel(hc->conn);
		if (cancel)
		{
			(void) PQcancel(cancel, errbuf, sizeof(errbuf));
			PQfreeCancel(cancel);
		}
		res = hs_collect(hc, NULL, &failed,
						 TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 HS_CLEANUP_TIMEOUT_MS));
		if (res)
			PQclear(res);
		if (failed)
			hc->broken = true;
	}
	/* a COPY left open: end it with an error */
	if (hc->conn && PQtransactionStatus(hc->conn) == PQTRANS_ACTIVE)
		hc->broken = true;
	hc->busy = NULL;
	hc->queue = NIL;
	hc->copy_pending = false;
	hc->discard_next = false;
}

/*
 * hs_commit_prepared
 *		C4, after the local commit: COMMIT PREPARED everywhere, overlapped,
 *		warnings only.
 */
static void
hs_commit_prepared(void)
{
	HASH_SEQ_STATUS seq;
	HsConn	   *hc;

	if (hs_debug_fault == HS_FAULT_PAUSE_AFTER_COMMIT && hs_debug_pause_file &&
		hs_debug_pause_file[0])
	{
		struct stat st;

		while (stat(hs_debug_pause_file, &st) == 0)
			pg_usleep(50000L);
	}
	/* send every COMMIT PREPARED first, then collect: one round trip */
	hash_seq_init(&seq, hs_conns);
	while ((hc = hash_seq_search(&seq)) != NULL)
	{
		char	   *sql;

		if (!hc->prepared)
			continue;
		if (hs_debug_fault == HS_FAULT_SKIP_COMMIT_PREPARED ||
			hc->conn == NULL || PQstatus(hc->conn) != CONNECTION_OK)
		{
			hc->broken = true;
			continue;
		}
		sql = psprintf("COMMIT PREPARED '%s'", hc->gid);
		if (!PQsendQuery(hc->conn, sql))
			hc->broken = true;
		pfree(sql);
	}
	hash_seq_init(&seq, hs_conns);
	while ((hc = hash_seq_search(&seq)) != NULL)
	{
		bool		ok = false;

		if (!hc->prepared)
			continue;
		if (!hc->broken)
		{
			bool		failed;
			PGresult   *res;

			res = hs_collect(hc, NULL, &failed,
							 TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														 HS_CLEANUP_TIMEOUT_MS));
			if (!failed && PQresultStatus(res) == PGRES_COMMAND_OK)
				ok = true;
			/* "does not exist": recovery committed it meanwhile */
			if (!failed && PQresultStatus(res) == PGRES_FATAL_ERROR &&
				PQresultErrorField(res, PG_DIAG_SQLSTATE) &&
				strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42704") == 0)
				ok = true;
			if (res)
				PQclear(res);
			if (failed)
				hc->broken = true;
		}
		if (!ok)
			ereport(WARNING,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not commit prepared transaction \"%s\" on node \"%s\"",
							hc->gid, hc->nodename),
					 errdetail("The transaction is committed; its changes on the node become visible when the prepared transaction is resolved."),
					 errhint("hashshard.recover_prepared() commits it once the node is reachable; with hashshard preloaded a background worker does it.")));
	}
}

/*
 * hs_abort_all
 *		Roll back every remote transaction of the aborting local one.
 */
static void
hs_abort_all(void)
{
	HASH_SEQ_STATUS seq;
	HsConn	   *hc;

	hash_seq_init(&seq, hs_conns);
	while ((hc = hash_seq_search(&seq)) != NULL)
	{
		if (!hc->used_in_xact || hc->conn == NULL)
			continue;
		hs_cancel_and_drain(hc);
		if (hc->broken)
			continue;
		if (hc->prepared)
		{
			char	   *sql = psprintf("ROLLBACK PREPARED '%s'", hc->gid);

			if (!hs_cleanup_command(hc, sql))
				hc->broken = true;
			pfree(sql);
		}
		else if (hc->xact_depth > 0 ||
				 PQtransactionStatus(hc->conn) != PQTRANS_IDLE)
		{
			if (!hs_cleanup_command(hc, "ROLLBACK"))
				hc->broken = true;
		}
	}
}

/*
 * hs_end_xact
 *		Reset per-transaction state; close broken connections.
 */
static void
hs_end_xact(void)
{
	HASH_SEQ_STATUS seq;
	HsConn	   *hc;

	hash_seq_init(&seq, hs_conns);
	while ((hc = hash_seq_search(&seq)) != NULL)
	{
		if (hc->broken ||
			(hc->conn && PQstatus(hc->conn) != CONNECTION_OK) ||
			(hc->conn && PQtransactionStatus(hc->conn) != PQTRANS_IDLE))
			hs_disconnect(hc);
		hc->xact_depth = 0;
		hc->pending_release = 0;
		hc->wrote = false;
		hc->prepared = false;
		hc->used_in_xact = false;
		hc->busy = NULL;
		hc->queue = NIL;
		hc->copy_pending = false;
		hc->discard_next = false;
		if (hc->gid)
			pfree(hc->gid);
		hc->gid = NULL;
	}
	hs_commit_started = false;
}

static void
hs_xact_callback(XactEvent event, void *arg)
{
	if (hs_conns == NULL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			hs_pre_commit();
			break;
		case XACT_EVENT_PRE_PREPARE:
			{
				HASH_SEQ_STATUS seq;
				HsConn	   *hc;

				hash_seq_init(&seq, hs_conns);
				while ((hc = hash_seq_search(&seq)) != NULL)
				{
					if (hc->used_in_xact && hc->xact_depth > 0)
					{
						hash_seq_term(&seq);
						ereport(ERROR,
								(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
								 errmsg("cannot PREPARE a transaction that used distributed tables"),
								 errhint("hashshard commits such transactions with its own two-phase commit; use COMMIT.")));
					}
				}
			}
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			hs_commit_prepared();
			hs_end_xact();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			hs_abort_all();
			hs_end_xact();
			break;
		case XACT_EVENT_PREPARE:
			hs_end_xact();
			break;
	}
}

/*
 * hs_forget_scans
 *		A subtransaction aborts: the scans it started go with its memory.
 *		Queued ones are dropped; one in flight is cancelled and its result
 *		read away.  Scans of outer levels are left alone.
 */
static void
hs_forget_scans(HsConn *hc, int level)
{
	ListCell   *lc;
	List	   *keep = NIL;
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	/* (the current context is reset when the subtransaction ends) */
	foreach(lc, hc->queue)
	{
		HsScanState *ss = lfirst(lc);

		if (ss->nest_level < level)
			keep = lappend(keep, ss);
	}
	MemoryContextSwitchTo(old);
	hc->queue = keep;
	if (hc->busy != NULL && hc->busy->nest_level >= level)
	{
		hc->busy = NULL;
		hs_cancel_and_drain(hc);
		hc->queue = keep;
	}
	if (hc->copy_pending)
		hs_cancel_and_drain(hc);
}

/*
 * hs_drain_quiet
 *		hs_conn_drain for the abort path: a failure marks the connection
 *		broken instead of raising an error.
 */
static void
hs_drain_quiet(HsConn *hc)
{
	HsScanState *ss = hc->busy;
	bool		failed;
	PGresult   *res;

	if (ss == NULL)
		return;
	hc->busy = NULL;
	res = hs_collect(hc, ss->sql, &failed,
					 TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												 HS_CLEANUP_TIMEOUT_MS));
	if (failed || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		hc->broken = true;
		if (res)
			PQclear(res);
		return;
	}
	if (ss->res)
		PQclear(ss->res);
	ss->res = res;
	ss->have_result = true;
	ss->sent = false;
	ss->next_row = 0;
	ss->nrows = PQntuples(res);
}

/*
 * hs_subxact_callback
 *		C3: roll back to / release the remote savepoints of the level.
 */
static void
hs_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	HASH_SEQ_STATUS seq;
	HsConn	   *hc;
	int			level;

	if (hs_conns == NULL ||
		(event != SUBXACT_EVENT_PRE_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB))
		return;
	level = GetCurrentTransactionNestLevel();
	hash_seq_init(&seq, hs_conns);
	while ((hc = hash_seq_search(&seq)) != NULL)
	{
		if (!hc->used_in_xact || hc->conn == NULL)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
			hs_forget_scans(hc, level);
		if (hc->xact_depth < level)
			continue;
		if (event == SUBXACT_EVENT_PRE_COMMIT_SUB)
		{
			hs_conn_drain(hc);
			/* released with the next command sent (or by COMMIT) */
			if (hc->pending_release == 0 || hc->pending_release > level)
				hc->pending_release = level;
			hc->xact_depth = level - 1;
		}
		else
		{
			char	   *sql;

			/* a scan of an outer level in flight: its result is kept */
			hs_drain_quiet(hc);
			if (hc->broken)
				continue;
			sql = psprintf("ROLLBACK TO SAVEPOINT s%d; RELEASE SAVEPOINT s%d",
						   level, level);
			if (!hs_cleanup_command(hc, sql))
				hc->broken = true;
			pfree(sql);
			hc->xact_depth = level - 1;
			if (hc->pending_release >= level)
				hc->pending_release = 0;
		}
	}
}

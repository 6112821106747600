/*-------------------------------------------------------------------------
 *
 * hashshard.h
 *	  Shared declarations of hashshard: hash-sharded tables whose partitions
 *	  are foreign tables on other PostgreSQL servers ("nodes").
 *
 * Architecture
 * ------------
 * A distributed table is a native PARTITION BY HASH (shard_key) parent with
 * shard_count (a power of two) partitions FOR VALUES WITH (MODULUS m,
 * REMAINDER r).  Every partition is a foreign table of the hashshard wrapper
 * whose server is the node holding the shard and whose options name the
 * remote table (schema_name, table_name).  PostgreSQL itself routes rows,
 * prunes partitions at plan and execution time and plans partitionwise
 * aggregates and joins; this extension supplies the foreign-data wrapper,
 * the connection and transaction management, the metadata and the
 * functions that create and dismantle distributed tables.
 *
 * Routing formula (what shard_for() and any client computes): with h the
 * key type's extended hash (default hash opclass, support function 2)
 * seeded with HASH_PARTITION_SEED, shard = hash_combine64(0, h) mod m as an
 * unsigned 64-bit value; a NULL key goes to shard 0.  Each remote shard
 * table carries a CHECK constraint evaluating the same formula, so a row
 * can never be stored on the wrong shard, whoever writes it.
 *
 * Invariants
 * ----------
 * C1  Within a local transaction a backend uses exactly one connection per
 *	   (node, user mapping): every statement of the transaction on that node
 *	   sees the transaction's earlier writes there.
 * C2  A remote transaction is opened lazily, by the first command sent on a
 *	   connection inside a local transaction block or by the first write.
 *	   Its isolation level is READ COMMITTED under a local READ COMMITTED
 *	   transaction and REPEATABLE READ otherwise.  A read outside any
 *	   transaction block runs in remote autocommit: one round trip.
 * C3  Local subtransactions map onto remote savepoints named s<level>,
 *	   created lazily before the first command at that level; a subtransaction
 *	   abort rolls the remote savepoint back, a subtransaction commit
 *	   releases it with the next command (no extra round trip).
 * C4  Commit: a transaction that wrote on at most one node and nothing
 *	   locally commits every remote transaction in one phase at PRE_COMMIT
 *	   (an error there aborts the local transaction).  One that wrote on two
 *	   or more nodes, or on one node and locally, inserts
 *	   its commit record (gid prefix) into hashshard.commit_records, then
 *	   sends PREPARE TRANSACTION to every written node (read-only nodes are
 *	   committed), all at PRE_COMMIT; the local commit is the decision;
 *	   COMMIT PREPARED follows at COMMIT and can only warn.
 * C5  A prepared transaction on a node whose gid carries this coordinator's
 *	   system identifier and database is committed by recovery if and only
 *	   if its commit record is visible, rolled back if the local transaction
 *	   that prepared it is no longer running and left no record, and left
 *	   alone while that transaction runs.  Records are deleted only once no
 *	   reachable node holds a prepared transaction for them and every node
 *	   was reachable.
 * C6  Errors never carry connection strings or passwords; EXPLAIN shows the
 *	   node name and the remote SQL only.  A non-superuser must connect with
 *	   a password from its user mapping.
 * C7  The shard key of a row is never updated in place on a node: plans
 *	   that would assign to the shard key column are refused at plan time,
 *	   and the remote CHECK constraint rejects any misrouted row anyway.
 *
 * Portions of the design follow contrib/postgres_fdw's documented behaviour;
 * the code is hashshard's own.
 *
 * Copyright (c) 2026, pgscale developers
 *
 * IDENTIFICATION
 *	  extensions/hashshard/src/hashshard.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef HASHSHARD_H
#define HASHSHARD_H

#include "access/htup.h"
#include "fmgr.h"
#include "funcapi.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "libpq-fe.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "utils/relcache.h"

#define HS_SCHEMA			"hashshard"
#define HS_FDW_NAME			"hashshard"
#define HS_MAX_SHARDS		4096
#define HS_GID_PREFIX		"hs"

/*
 * Parameters in remote query texts are written HS_PARAM_OPEN n
 * HS_PARAM_CLOSE: bytes no identifier or literal of ours contains, so the
 * markers cannot be confused with the query's own text.
 */
#define HS_PARAM_OPEN		'\x01'
#define HS_PARAM_CLOSE		'\x02'

/* Fault injection points of hashshard.debug_fault (tests only) */
typedef enum HsFault
{
	HS_FAULT_NONE,
	HS_FAULT_ERROR_AFTER_PREPARE,	/* ERROR once every node prepared */
	HS_FAULT_EXIT_AFTER_PREPARE,	/* process exit once prepared */
	HS_FAULT_SKIP_COMMIT_PREPARED,	/* drop connections instead of COMMIT
									 * PREPARED */
	HS_FAULT_PAUSE_AFTER_PREPARE,	/* wait on advisory lock 7245001 */
	HS_FAULT_PAUSE_AFTER_COMMIT /* sleep while debug_pause_file exists */
} HsFault;

/* GUCs (hs_main.c) */
extern int	hs_recovery_interval;
extern bool hs_enable_partitionwise;
extern int	hs_debug_fault;
extern char *hs_debug_pause_file;

/*
 * One connection of this backend to a node for one user mapping
 * (hs_conn.c).  The scan that currently owns the connection's in-flight
 * query is "busy"; others wait for it (hs_conn_drain).
 */
typedef struct HsConn HsConn;
typedef struct HsScanState HsScanState;

struct HsConn
{
	Oid			umid;			/* hash key: user mapping oid, then */
	Oid			keyuser;		/* the user: a PUBLIC mapping's connection is
								 * not shared between users */
	Oid			serverid;
	Oid			userid;
	PGconn	   *conn;
	struct WaitEventSet *wes;	/* latch + socket, kept with conn */
	char	   *nodename;		/* server name, for messages */
	int			xact_depth;		/* 0 none, 1 remote xact open, n savepoints */
	int			pending_release;	/* savepoint levels to release lazily */
	bool		wrote;			/* this local xact wrote on the node */
	bool		prepared;		/* PREPARE TRANSACTION succeeded */
	bool		broken;			/* state unknown: discard at end of xact */
	bool		used_in_xact;	/* touched during the current local xact */
	bool		fresh;			/* nothing succeeded on it yet in this xact */
	char	   *gid;			/* gid while prepared */
	HsScanState *busy;			/* scan whose result is in flight */
	bool		copy_pending;	/* a COPY's result is still to be read */
	List	   *queue;			/* scans waiting to send (HsScanState *) */
	int			fetch_size;
	int			batch_size;
	bool		discard_next;	/* a forgotten scan's result is in flight */
	HTAB	   *stmts;			/* prepared statements: text -> name */
	int			nstmts;
};

/* Scan state shared by hs_fdw.c and hs_conn.c */
struct HsScanState
{
	HsConn	   *hc;
	char	   *sql;			/* remote query, params as $n */
	List	   *param_exprs;	/* ExprState per $n */
	char	  **param_values;	/* text of each $n (NULL: null) */
	Oid		   *param_types;
	int			nparams;
	bool		use_cursor;		/* fetch in batches through a cursor */
	bool		force_xact;		/* needs a remote transaction (writes) */
	int			nest_level;		/* subtransaction level that started it */
	int			fetch_size;		/* batch size of its cursor, fixed at start */
	bool		sent;			/* query (or current FETCH) sent */
	bool		have_result;
	bool		eof;
	bool		cursor_open;
	int			cursor_no;
	PGresult   *res;			/* current batch */
	int			next_row;
	int			nrows;
	AttInMetadata *attinmeta;
	List	   *retrieved_attrs;	/* attnums (or tlist positions) per column */
	TupleTableSlot *slot;
	TupleDesc	tupdesc;
	MemoryContext batch_cxt;
	ExprContext *econtext;
};

/* hs_conn.c */
extern HsConn *hs_get_conn(Oid serverid, Oid userid, bool will_write);
extern void hs_conn_begin_command(HsConn *hc, StringInfo prefix);
extern PGresult *hs_exec(HsConn *hc, const char *sql, bool write);
extern void hs_exec_command(HsConn *hc, const char *sql, bool write);
extern void hs_send_query(HsConn *hc, const char *sql, bool write);
extern PGresult *hs_get_result(HsConn *hc, const char *sql);
extern void hs_report_result(int elevel, PGresult *res, HsConn *hc,
							 const char *sql) pg_attribute_noreturn();
extern void hs_conn_drain(HsConn *hc);
extern void hs_scan_enqueue(HsScanState *ss);
extern void hs_scan_dequeue(HsScanState *ss);
extern void hs_scan_wait(HsScanState *ss);
extern void hs_scan_send(HsScanState *ss);
extern void hs_xact_init(void);
extern PGconn *hs_connect_standalone(ForeignServer *server, UserMapping *um,
									 bool raise, char **errmsg_out);
extern void hs_mark_written(HsConn *hc);
extern char *hs_make_gid(FullTransactionId fxid, Oid id);
extern const char *hs_gid_like_prefix(void);
extern char *hs_splice_params(const char *sql, int nparams, char **values,
							  Oid *types);
extern PGresult *hs_exec_params(HsConn *hc, const char *sql, int nparams,
								char **values, Oid *types, bool write);

/* hs_deparse.c */
typedef struct HsDeparseCtx
{
	PlannerInfo *root;
	RelOptInfo *rel;			/* scan/join/upper relation */
	StringInfo	buf;
	List	  **params;			/* Params met, in $n order (NULL: check only) */
	Relids		relids;			/* base relations of the remote query */
	bool		upper;			/* deparsing an upper (grouping) target */
	bool		partial;		/* partial aggregation: emit states */
} HsDeparseCtx;

extern bool hs_is_shippable(PlannerInfo *root, RelOptInfo *rel, Expr *expr,
							bool upper, bool partial);
extern void hs_deparse_expr(HsDeparseCtx *ctx, Expr *expr);
extern void hs_deparse_relation(StringInfo buf, Relation rel);
extern void hs_deparse_column(StringInfo buf, Relation rel, int attnum);
extern void hs_deparse_literal(StringInfo buf, Datum value, Oid type,
							   bool isnull);
extern const char *hs_remote_schema(Relation rel);
extern const char *hs_remote_table(Relation rel);
extern bool hs_is_builtin(Oid objectid);
extern char *hs_output_value(FmgrInfo *flinfo, Datum value);

/* hs_fdw.c */
extern PGDLLEXPORT Datum hashshard_fdw_handler(PG_FUNCTION_ARGS);

/* hs_meta.c */
extern bool hs_is_hashshard_server(ForeignServer *server);
extern Oid	hs_fdw_oid(void);
extern List *hs_all_nodes(void);
extern int	hs_option_int(List *options, const char *name, int dflt);
extern void hs_check_node_options(List *options, Oid catalog);
extern bool hs_is_distributed(Oid relid);
extern Oid	hs_parent_of(Oid relid);
extern bool hs_has_user_mapping(Oid userid, Oid serverid);
extern int	hs_shard_key_attnum(Oid relid);

/* hs_funcs.c */
extern bool hs_moving_rows;
extern void hs_move_progress(int64 rows);
extern uint64 hs_hash_value(Relation parent, Datum value, bool isnull);

/* hs_recovery.c */
extern void hs_register_recovery_worker(void);
extern PGDLLEXPORT void hs_recovery_launcher_main(Datum arg);
extern PGDLLEXPORT void hs_recovery_worker_main(Datum arg);
extern int	hs_recover_prepared_internal(bool verbose, Tuplestorestate *ts,
										 TupleDesc tupdesc);

#endif							/* HASHSHARD_H */

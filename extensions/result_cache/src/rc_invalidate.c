/*-------------------------------------------------------------------------
 *
 * rc_invalidate.c
 *		Write tracking and commit-time invalidation of result_cache.
 *
 * A transaction remembers the relations it writes (rc_record_write, called
 * from the executor and utility hooks at every nesting level).  At
 * PRE_COMMIT the relcache invalidations the transaction queued (TRUNCATE,
 * ALTER, DROP, REFRESH MATERIALIZED VIEW, CREATE INDEX, ...) are added,
 * every relation is mapped to its counter slot and the slot's in-flight
 * count is raised; at COMMIT each generation is bumped and the in-flight
 * count dropped; at ABORT only the in-flight count is dropped.  The cost is
 * O(relations written), independent of the number of cached entries.
 *
 * Why in-flight counts: the commit becomes visible to other snapshots in
 * ProcArrayEndTransaction, between PRE_COMMIT and COMMIT.  A reader whose
 * snapshot sees the commit must not be served the old entry, and a reader
 * reading in the window sees the in-flight count (invariant I2).
 *
 * Commit and abort callbacks only do atomic arithmetic on an array built at
 * PRE_COMMIT (invariant I4).  See result_cache.h for the full list.
 *
 * IDENTIFICATION
 *	  extensions/result_cache/src/rc_invalidate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_inherits.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "replication/logicalworker.h"
#include "storage/ipc.h"
#include "storage/sinval.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "result_cache.h"

/* Relations written by the current transaction, in rc_xact_cxt */
static MemoryContext rc_xact_cxt = NULL;
static uint8 *written_bits = NULL;	/* RC_NGENS bits: slots written */
static int32 *written = NULL;	/* the same slots, as a list */
static int	nwritten = 0;
static int	written_cap = 0;
static bool did_ddl = false;	/* ran a utility statement that may write */

/* Slots whose in-flight count this backend raised (PRE_COMMIT) */
static int32 *held = NULL;
static int	nheld = 0;
static bool held_epoch = false;

/* What COMMIT/ROLLBACK PREPARED took over from the prepared transaction */
static int32 taken[RC_2PC_MAXSLOTS];
static int	ntaken = 0;
static bool taken_epoch = false;
static bool taken_finished = false; /* COMMIT PREPARED itself succeeded */
static RcPrepared *taken_entry = NULL;	/* the entry claimed (TAKEN) */

/* GID of the PREPARE TRANSACTION being executed, and its table entry */
static char prepare_gid[200];
static bool prepare_pending = false;
static RcPrepared *prepare_entry = NULL;

/*
 * A logical replication worker applying a two_phase subscription: epoch
 * in-flight counts it holds for the transactions it prepared and has not
 * finished yet.  Its COMMIT PREPARED (FinishPreparedTransaction, called
 * directly, past every hook) makes the rows visible before the wrapping
 * transaction's PRE_COMMIT could raise anything, so the count is raised at
 * PRE_PREPARE already and dropped after the wrapping transaction of a
 * COMMIT/ROLLBACK PREPARED bumped the epoch.
 */
static int	lw_held = 0;
static bool lw_prepare_raised = false;	/* raised by this transaction */
static bool lw_finishing = false;	/* this transaction ends a prepared one */

static void rc_xact_callback(XactEvent event, void *arg);
static void rc_exit_callback(int code, Datum arg);
static void rc_ensure_exit_callback(void);

/* Counter slot of a relation */
uint32
rc_gen_slot(Oid dbid, Oid relid)
{
	uint64		h = hash_bytes_uint32_extended(relid, dbid);

	return (uint32) (h & (RC_NGENS - 1));
}

void
rc_invalidate_init(void)
{
	RegisterXactCallback(rc_xact_callback, NULL);
}

/*
 * Exit callbacks registered in the postmaster are not inherited by its
 * children: each backend registers its own the first time it raises an
 * in-flight count.
 */
static void
rc_ensure_exit_callback(void)
{
	static int	registered_pid = 0;

	if (registered_pid != MyProcPid)
	{
		before_shmem_exit(rc_exit_callback, (Datum) 0);
		registered_pid = MyProcPid;
	}
}

static void
rc_reset_local(void)
{
	if (rc_xact_cxt)
		MemoryContextReset(rc_xact_cxt);
	written_bits = NULL;
	written = NULL;
	nwritten = 0;
	written_cap = 0;
	did_ddl = false;
	held = NULL;
	nheld = 0;
	held_epoch = false;
	ntaken = 0;
	taken_epoch = false;
	taken_finished = false;
}

/*
 * Remember that the current transaction writes slot s.  A bitmap over the
 * RC_NGENS slots keeps this O(1) however many relations are written.
 */
static void
rc_record_slot(int32 s)
{
	if (rc_xact_cxt == NULL)
		rc_xact_cxt = AllocSetContextCreate(TopMemoryContext,
											"result_cache transaction",
											ALLOCSET_SMALL_SIZES);
	if (written_bits == NULL)
		written_bits = MemoryContextAllocZero(rc_xact_cxt, RC_NGENS / 8);
	if (written_bits[s / 8] & (1 << (s % 8)))
		return;
	written_bits[s / 8] |= (1 << (s % 8));
	if (nwritten == written_cap)
	{
		written_cap = Max(16, written_cap * 2);
		if (written == NULL)
			written = MemoryContextAlloc(rc_xact_cxt, written_cap * sizeof(int32));
		else
			written = repalloc(written, written_cap * sizeof(int32));
	}
	written[nwritten++] = s;
}

/* Remember that the current transaction writes relid */
void
rc_record_write(Oid relid)
{
	if (rc_shared == NULL || !OidIsValid(relid))
		return;
	rc_record_slot(rc_gen_slot(MyDatabaseId, relid));
}

/*
 * Remember relid and everything that inherits from it: used where the
 * actual targets are not known (COPY FROM into a partitioned table).
 */
void
rc_record_write_tree(Oid relid)
{
	List	   *all;
	ListCell   *lc;

	rc_record_write(relid);
	all = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, all)
		rc_record_write(lfirst_oid(lc));
	list_free(all);
}

/* A utility statement that may change data or definitions ran */
void
rc_record_ddl(void)
{
	did_ddl = true;
}

/*
 * Did this transaction write any relation the plan reads (I3)?  By slot:
 * a relation sharing a slot with a written one also counts as written.
 */
bool
rc_xact_wrote(PlannedStmt *pstmt)
{
	ListCell   *lc;

	if (did_ddl)
		return true;
	if (nwritten == 0)
		return false;
	foreach(lc, pstmt->relationOids)
	{
		int32		s = rc_gen_slot(MyDatabaseId, lfirst_oid(lc));

		if (written_bits[s / 8] & (1 << (s % 8)))
			return true;
	}
	return false;
}

/*
 * The same test on a stored entry's dependencies, for hits looked up
 * before planning (rc_lookup).  Called under a partition lock: it only
 * reads backend-local memory.
 */
bool
rc_xact_wrote_deps(int ndeps, const Oid *deps)
{
	int			i;

	if (did_ddl)
		return true;
	if (nwritten == 0)
		return false;
	for (i = 0; i < ndeps; i++)
	{
		int32		s = rc_gen_slot(MyDatabaseId, deps[i]);

		if (written_bits[s / 8] & (1 << (s % 8)))
			return true;
	}
	return false;
}

/*
 * Read the counters of a query's dependencies before its snapshot is
 * taken (I1).  In-flight first, then generations.
 */
void
rc_capture_gens(RcLookup *lk)
{
	int			i;

	lk->inflight_seen = false;
	if (pg_atomic_read_u32(&rc_shared->epoch_inflight) != 0)
		lk->inflight_seen = true;
	for (i = 0; i < lk->ndeps; i++)
		if (pg_atomic_read_u32(&rc_shared->inflight[rc_gen_slot(MyDatabaseId, lk->deps[i])]) != 0)
			lk->inflight_seen = true;
	pg_read_barrier();
	lk->epoch = pg_atomic_read_u64(&rc_shared->epoch);
	for (i = 0; i < lk->ndeps; i++)
		lk->gens[i] = pg_atomic_read_u64(&rc_shared->gens[rc_gen_slot(MyDatabaseId, lk->deps[i])]);
}

/*
 * Are the stored generations still current, with nothing in flight (I2)?
 * Reads the in-flight counts before the generations: a writer bumps the
 * generation before it drops its in-flight count.
 */
bool
rc_gens_valid(int ndeps, const Oid *deps, const uint64 *gens, uint64 epoch)
{
	int			i;

	if (pg_atomic_read_u32(&rc_shared->epoch_inflight) != 0)
		return false;
	for (i = 0; i < ndeps; i++)
		if (pg_atomic_read_u32(&rc_shared->inflight[rc_gen_slot(MyDatabaseId, deps[i])]) != 0)
			return false;
	pg_read_barrier();
	if (pg_atomic_read_u64(&rc_shared->epoch) != epoch)
		return false;
	for (i = 0; i < ndeps; i++)
		if (pg_atomic_read_u64(&rc_shared->gens[rc_gen_slot(MyDatabaseId, deps[i])]) != gens[i])
			return false;
	return true;
}

/* result_cache.invalidate(): bump one relation's generation now */
void
rc_bump_relation(Oid dbid, Oid relid)
{
	pg_atomic_fetch_add_u64(&rc_shared->gens[rc_gen_slot(dbid, relid)], 1);
	rc_counter_add(RC_CTR_INVALIDATIONS, 1);
}

/*
 * Test-only pause: wait until no other session holds advisory lock
 * RC_PAUSE_KEY_BASE + point.  May raise an error (query cancel): only
 * called where that is allowed.
 */
void
rc_pause(RcPause point)
{
	Datum		key;

	if (rc_debug_pause_at != (int) point)
		return;
	key = Int64GetDatum(RC_PAUSE_KEY_BASE + (int64) point);
	DirectFunctionCall1(pg_advisory_lock_int8, key);
	DirectFunctionCall1(pg_advisory_unlock_int8, key);
}

/*
 * Catalog caches whose changes can change a cached result, or who may read
 * it, without any relation being invalidated: functions (CREATE OR REPLACE
 * FUNCTION, REVOKE EXECUTE), operators, casts, aggregates, collations,
 * enums, domain constraints, text search objects, and roles (membership,
 * which grants privileges on tables and functions, and attributes such as
 * BYPASSRLS).  A transaction that changed one of them invalidates
 * the whole cache (the epoch): such DDL is rare, and its messages carry
 * only hash values, not OIDs.
 */
static bool
rc_catcache_matters(int cacheid)
{
	switch (cacheid)
	{
		case AGGFNOID:
		case AUTHMEMMEMROLE:
		case AUTHMEMROLEMEM:
		case AUTHOID:
		case CASTSOURCETARGET:
		case COLLOID:
		case CONSTROID:
		case ENUMOID:
		case OPEROID:
		case PROCOID:
		case TSCONFIGMAP:
		case TSCONFIGOID:
		case TSDICTOID:
		case TSPARSEROID:
		case TSTEMPLATEOID:
			return true;
		default:
			return false;
	}
}

/*
 * Build the list of slots this transaction writes: recorded relations plus
 * the relcache invalidations it queued.  Sets *all when the whole cache
 * must go: a whole-database relcache invalidation, a catalog change of the
 * kinds above, or a logical replication worker's transaction (the apply
 * worker writes through ExecSimpleRelation*, past every hook).  Allocates:
 * PRE_COMMIT / PRE_PREPARE only.
 */
static int32 *
rc_collect_slots(int *n, bool *all)
{
	SharedInvalidationMessage *msgs;
	bool		initfile;
	int			nmsgs;
	int			i;
	int32	   *copy;

	*all = false;
	nmsgs = xactGetCommittedInvalidationMessages(&msgs, &initfile);
	for (i = 0; i < nmsgs; i++)
	{
		SharedInvalidationMessage *m = &msgs[i];

		if (m->id == SHAREDINVALRELCACHE_ID)
		{
			if (m->rc.dbId != MyDatabaseId)
				continue;
			if (!OidIsValid(m->rc.relId))
				*all = true;
			else
				rc_record_slot(rc_gen_slot(MyDatabaseId, m->rc.relId));
		}
		else if (m->id >= 0 && rc_catcache_matters(m->id))
			*all = true;
	}

	/*
	 * The apply worker's transactions: any that wrote WAL.  (The one that
	 * runs COMMIT PREPARED for a two_phase subscription has no XID of its
	 * own, but wrote the COMMIT PREPARED record.)
	 */
	if (IsLogicalWorker() &&
		(TransactionIdIsValid(GetTopTransactionIdIfAny()) ||
		 XactLastRecEnd != InvalidXLogRecPtr))
		*all = true;
	*n = nwritten;
	if (nwritten == 0)
		return NULL;
	/* a copy: the list may still grow (and move) after PRE_COMMIT */
	copy = MemoryContextAlloc(rc_xact_cxt, nwritten * sizeof(int32));
	memcpy(copy, written, nwritten * sizeof(int32));
	return copy;
}

/* Raise the in-flight counts of this transaction's slots */
static void
rc_pre_commit(void)
{
	bool		all;
	int			i;

	held = rc_collect_slots(&nheld, &all);
	/* a logical worker's wrapper of COMMIT/ROLLBACK PREPARED: no XID, WAL */
	lw_finishing = IsLogicalWorker() && lw_held > 0 &&
		!TransactionIdIsValid(GetTopTransactionIdIfAny()) &&
		XactLastRecEnd != InvalidXLogRecPtr;
	if (nheld > 0 || all)
		rc_ensure_exit_callback();
	for (i = 0; i < nheld; i++)
		pg_atomic_fetch_add_u32(&rc_shared->inflight[held[i]], 1);
	if (all)
	{
		pg_atomic_fetch_add_u32(&rc_shared->epoch_inflight, 1);
		held_epoch = true;
	}
	if (nheld > 0 || held_epoch)
		rc_pause(RC_PAUSE_PRE_COMMIT);
}

/*
 * End the in-flight state of slots: bump the generations when the data
 * may have changed, then drop the in-flight counts.  Atomics only (I4).
 */
static void
rc_finish_slots(const int32 *slots, int n, bool epoch, bool bump)
{
	int			i;

	if (bump)
	{
		for (i = 0; i < n; i++)
			pg_atomic_fetch_add_u64(&rc_shared->gens[slots[i]], 1);
		if (epoch)
			pg_atomic_fetch_add_u64(&rc_shared->epoch, 1);
		if (n > 0 || epoch)
			rc_counter_add(RC_CTR_INVALIDATIONS, n + (epoch ? 1 : 0));
	}
	for (i = 0; i < n; i++)
		pg_atomic_fetch_sub_u32(&rc_shared->inflight[slots[i]], 1);
	if (epoch)
		pg_atomic_fetch_sub_u32(&rc_shared->epoch_inflight, 1);
}

static RcPrepared *
rc_twophase_table(void)
{
	return (RcPrepared *) ((char *) rc_shared + rc_shared->twophase_off);
}

/*
 * PRE_PREPARE: reserve an entry of the shared table under the GID and put
 * the slots this transaction wrote in it.  Nothing is in flight yet: the
 * prepared transaction's changes become visible only in COMMIT PREPARED,
 * which raises the in-flight counts first (rc_twophase_utility).  The
 * entry turns READY at PREPARE, or is freed by the abort callback if the
 * PREPARE fails after this point (GID in use, prepared transactions
 * disabled, ...).  If no entry is free, COMMIT PREPARED falls back to the
 * global epoch.
 */
static void
rc_pre_prepare(void)
{
	bool		all;
	int32	   *slots;
	int			n;
	int			i;
	RcPrepared *tab = rc_twophase_table();

	prepare_entry = NULL;
	slots = rc_collect_slots(&n, &all);
	if (IsLogicalWorker())
	{
		/* see lw_held: in flight from now until the finishing commit */
		rc_ensure_exit_callback();
		pg_atomic_fetch_add_u32(&rc_shared->epoch_inflight, 1);
		lw_held++;
		lw_prepare_raised = true;
	}
	if (!prepare_pending)
		return;					/* (a read-only PREPARE is recorded too) */
	LWLockAcquire(rc_shared->twophase_lock, LW_EXCLUSIVE);
	for (i = 0; i < rc_shared->n2pc; i++)
	{
		uint32		state = pg_atomic_read_u32(&tab[i].state);

		/* GIDs are unique: a READY entry of this GID is a leftover */
		if (state == RC_2PC_READY && strcmp(tab[i].gid, prepare_gid) == 0)
		{
			pg_atomic_write_u32(&tab[i].state, RC_2PC_FREE);
			state = RC_2PC_FREE;
		}
		if (state == RC_2PC_FREE && prepare_entry == NULL)
			prepare_entry = &tab[i];
	}
	if (prepare_entry != NULL)
	{
		RcPrepared *p = prepare_entry;

		p->all = all || n > RC_2PC_MAXSLOTS;
		strlcpy(p->gid, prepare_gid, sizeof(p->gid));
		p->nslots = Min(n, RC_2PC_MAXSLOTS);
		if (p->nslots > 0)
			memcpy(p->slots, slots, p->nslots * sizeof(int32));
		pg_atomic_write_u32(&p->state, RC_2PC_RESERVED);
	}
	LWLockRelease(rc_shared->twophase_lock);
}

/*
 * Utility hook for transaction statements, before they run: remember the
 * GID of PREPARE TRANSACTION; before COMMIT PREPARED, copy the prepared
 * transaction's slots and raise their in-flight counts (or the global
 * epoch's, for a GID that is not in the table) so that they cover the
 * moment the prepared transaction becomes visible.  The table entry is
 * freed only once the statement succeeded (rc_twophase_finished): a COMMIT
 * or ROLLBACK PREPARED that fails (unknown GID, not the owner) leaves it,
 * and its abort drops the in-flight counts without invalidating anything.
 */
void
rc_twophase_utility(Node *parsetree)
{
	TransactionStmt *stmt;
	RcPrepared *tab;
	int			i;
	bool		found = false;

	if (rc_shared == NULL || !IsA(parsetree, TransactionStmt))
		return;
	stmt = (TransactionStmt *) parsetree;
	if (stmt->kind == TRANS_STMT_PREPARE)
	{
		strlcpy(prepare_gid, stmt->gid, sizeof(prepare_gid));
		prepare_pending = true;
		return;
	}
	if ((stmt->kind != TRANS_STMT_COMMIT_PREPARED &&
		 stmt->kind != TRANS_STMT_ROLLBACK_PREPARED) ||
		taken_entry != NULL || ntaken > 0 || taken_epoch)
		return;

	/* claim the entry: a PREPARE of the same GID may follow at once */
	tab = rc_twophase_table();
	LWLockAcquire(rc_shared->twophase_lock, LW_EXCLUSIVE);
	for (i = 0; i < rc_shared->n2pc; i++)
	{
		RcPrepared *p = &tab[i];

		if (pg_atomic_read_u32(&p->state) != RC_2PC_READY ||
			strcmp(p->gid, stmt->gid) != 0)
			continue;
		pg_atomic_write_u32(&p->state, RC_2PC_TAKEN);
		taken_entry = p;
		if (stmt->kind == TRANS_STMT_COMMIT_PREPARED)
		{
			ntaken = p->nslots;
			memcpy(taken, p->slots, ntaken * sizeof(int32));
			taken_epoch = p->all;
		}
		found = true;
		break;
	}
	LWLockRelease(rc_shared->twophase_lock);

	if (stmt->kind != TRANS_STMT_COMMIT_PREPARED)
		return;
	if (!found)
		taken_epoch = true;		/* unknown GID: its relations are unknown */
	for (i = 0; i < ntaken; i++)
		pg_atomic_fetch_add_u32(&rc_shared->inflight[taken[i]], 1);
	if (taken_epoch)
		pg_atomic_fetch_add_u32(&rc_shared->epoch_inflight, 1);
	rc_ensure_exit_callback();
}

/*
 * After a COMMIT or ROLLBACK PREPARED succeeded: free the entry it claimed,
 * and note that the prepared transaction's changes may now be visible.
 */
void
rc_twophase_finished(Node *parsetree)
{
	TransactionStmt *stmt;

	if (rc_shared == NULL || !IsA(parsetree, TransactionStmt))
		return;
	stmt = (TransactionStmt *) parsetree;
	if (stmt->kind != TRANS_STMT_COMMIT_PREPARED &&
		stmt->kind != TRANS_STMT_ROLLBACK_PREPARED)
		return;
	if (stmt->kind == TRANS_STMT_COMMIT_PREPARED)
		taken_finished = true;
	if (taken_entry != NULL)
	{
		pg_atomic_write_u32(&taken_entry->state, RC_2PC_FREE);
		taken_entry = NULL;
	}
}

/*
 * A transaction ends without committing (abort, or backend exit): drop the
 * in-flight counts it raised.  A COMMIT PREPARED that claimed a known GID's
 * entry may have failed after the prepared data became visible (a later
 * hook), so its slots are bumped and the entry given back; a failure on an
 * unknown GID invalidates nothing (anybody can run COMMIT PREPARED
 * 'nonsense').  Atomics only (I4).
 */
static void
rc_abandon_counts(void)
{
	rc_finish_slots(held, nheld, held_epoch, false);
	rc_finish_slots(taken, ntaken, taken_epoch,
					taken_finished || taken_entry != NULL);
	if (taken_entry != NULL)
	{
		pg_atomic_write_u32(&taken_entry->state, RC_2PC_READY);
		taken_entry = NULL;
	}
}

static void
rc_xact_callback(XactEvent event, void *arg)
{
	if (rc_shared == NULL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			rc_pre_commit();
			break;
		case XACT_EVENT_COMMIT:
			rc_finish_slots(held, nheld, held_epoch, true);
			rc_finish_slots(taken, ntaken, taken_epoch, true);
			if (lw_finishing)
			{
				/* the epoch was bumped just above: drop the PREPARE's count */
				pg_atomic_fetch_sub_u32(&rc_shared->epoch_inflight, 1);
				lw_held--;
				lw_finishing = false;
			}
			if (taken_entry != NULL)
			{
				pg_atomic_write_u32(&taken_entry->state, RC_2PC_FREE);
				taken_entry = NULL;
			}
			rc_reset_local();
			prepare_pending = false;
			break;
		case XACT_EVENT_ABORT:
			if (prepare_entry != NULL)
			{
				/* the PREPARE failed after PRE_PREPARE */
				pg_atomic_write_u32(&prepare_entry->state, RC_2PC_FREE);
				prepare_entry = NULL;
			}
			if (lw_prepare_raised)
			{
				pg_atomic_fetch_sub_u32(&rc_shared->epoch_inflight, 1);
				lw_held--;
				lw_prepare_raised = false;
			}
			lw_finishing = false;
			rc_abandon_counts();
			rc_reset_local();
			prepare_pending = false;
			break;
		case XACT_EVENT_PRE_PREPARE:
			rc_pre_prepare();
			break;
		case XACT_EVENT_PREPARE:
			lw_prepare_raised = false;	/* held until the finishing commit */
			if (prepare_entry != NULL)
				pg_atomic_write_u32(&prepare_entry->state, RC_2PC_READY);
			prepare_entry = NULL;
			rc_reset_local();
			prepare_pending = false;
			break;
		default:
			break;
	}
}

/* Backend exit: never leave an in-flight count behind */
static void
rc_exit_callback(int code, Datum arg)
{
	if (rc_shared == NULL)
		return;
	rc_abandon_counts();
	/* a worker leaving prepared transactions behind: see the docs */
	while (lw_held > 0)
	{
		pg_atomic_fetch_sub_u32(&rc_shared->epoch_inflight, 1);
		lw_held--;
	}
	held = NULL;
	nheld = 0;
	held_epoch = false;
	ntaken = 0;
	taken_epoch = false;
}

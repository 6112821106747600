/*-------------------------------------------------------------------------
 *
 * result_cache.h
 *		Shared declarations of result_cache, a transparent cache of SELECT
 *		results in shared memory.
 *
 * How it works
 * ------------
 * The planner hook decides whether a query *could* be cached (no mutable
 * functions, no row marks, no TABLESAMPLE, ...) and leaves its verdict in
 * the PlannedStmt as a marker PlanInvalItem (so that the verdict survives
 * plan caching and copying).  For a top-level SELECT in READ COMMITTED the
 * ExecutorStart hook checks the run-time conditions (relation kinds, RLS,
 * own writes, isolation level, recovery), captures the generation counters
 * of every relation the plan reads, takes a fresh snapshot, runs the normal
 * ExecutorStart (locks, permission checks), and then looks the key up.  The
 * ExecutorRun hook either feeds the stored tuples to the portal's own
 * DestReceiver (a hit: the plan is never executed) or runs the plan through
 * a tee receiver that copies the rows (a miss) and stores them afterwards.
 *
 * A simple-protocol SELECT that hits is served before planning: the
 * planner hook builds the same key from the rewritten Query, makes the
 * same checks (privileges included), looks it up, and on a hit returns a
 * stand-in plan (a Result node with the query's output columns and no
 * relation) whose ExecutorRun sends the copied rows.  This is for
 * exec_simple_query's plans, which are used once and never kept by a plan
 * cache (rc_planner in rc_hooks.c says how they are recognised, and how
 * the one Bind path that looks the same is handled).
 *
 * Key: database, current user, statement text, parameter types and values,
 * and the values of the GUCs that change parsing or output (rc_key.c).  An
 * entry also records a signature of the plan's dependencies (relation OIDs
 * and invalidation items), and the hit is refused when the current plan's
 * signature differs (a name that now resolves to another object).
 *
 * Invalidation (rc_invalidate.c)
 * ------------------------------
 * For every (database, relation) a slot of RC_NGENS counters (chosen by
 * hash; collisions share a slot, which only over-invalidates) holds a
 * generation and an in-flight count.  A writing transaction remembers every
 * relation it wrote, at every nesting level (executor result relations and
 * tuple-routing targets, COPY FROM, and every relcache invalidation the
 * transaction queued: TRUNCATE, DDL, REFRESH MATERIALIZED VIEW, ...).
 *
 *	PRE_COMMIT:		in-flight++ for each slot written
 *	(commit record; ProcArrayEndTransaction: the commit becomes visible)
 *	COMMIT:			generation++, then in-flight--
 *	ABORT:			in-flight-- (for the slots incremented)
 *	PREPARE:		the slots written are kept in a shared table keyed by
 *					GID (nothing is visible yet, so nothing is in flight);
 *					COMMIT PREPARED raises their in-flight counts *before*
 *					the prepared transaction becomes visible, and its own
 *					commit bumps and drops them.  A GID not in that table
 *					(prepared before a restart, or the table was full) uses
 *					the global epoch counters instead.
 *	logical apply:	a replication worker's transactions bypass every hook:
 *					each one that wrote WAL uses the epoch.  A two_phase
 *					worker's COMMIT PREPARED makes rows visible before its
 *					wrapper's PRE_COMMIT, so the worker raises the epoch's
 *					in-flight count at PRE_PREPARE already and drops it
 *					after the wrapper of COMMIT/ROLLBACK PREPARED bumped
 *					the epoch (rc_invalidate.c, lw_held).
 *
 * Invariants (each has a test in sql/, specs/ or t/):
 *	I1	An entry is stored with the generations read *before* the snapshot
 *		of the execution that produced it (the snapshot PortalStart took is
 *		replaced by a fresh one after the capture), and only if no in-flight
 *		count was set and no generation moved between capture and store.
 *	I2	A hit is served only if, read in this order after the reader's own
 *		snapshot was taken, every in-flight count is zero and every
 *		generation (and the global epoch) equals the stored one.  Any
 *		transaction visible to the reader's snapshot has passed PRE_COMMIT,
 *		so either its in-flight count is still set or its generation moved.
 *	I3	A transaction that wrote a relation (or ran DDL) neither serves nor
 *		stores results that read it.
 *	I4	Commit and abort callbacks never allocate, never take an LWLock and
 *		never raise an error: they only do atomic operations on memory
 *		prepared at PRE_COMMIT.
 *	I5	No LWLock is held while rows are sent to the client: a hit copies
 *		the stored rows into backend memory under the partition lock (shared)
 *		and sends them after releasing it.
 *	I6	Memory is bounded by construction: entries live in a DSA area
 *		created in place inside the fixed shared memory segment, with its
 *		size limit equal to result_cache.max_memory.  A store that does not
 *		fit evicts least recently used entries first, or is rejected.
 *	I7	Nothing is served or stored during recovery; a crash restart
 *		re-creates the shared memory, so the cache starts empty.
 *	I8	A stand-in plan is never executed: its rows are sent by
 *		rc_ExecutorRun, once, in the portal started right after the
 *		planning that made it (a plan cache's copy is recognised by its
 *		serial number and invalidated there); any other use of a stand-in
 *		raises an error.  A hit served before planning is validated after
 *		the snapshot the statement is analysed and planned with was taken,
 *		so I2 holds with that snapshot as the reader's; its own-write test
 *		(I3) is made on the entry's dependencies, which include the
 *		partitions only the plan names, and inheritance parents (whose
 *		children only the planner knows) are always planned.
 *
 * Locking (rc_store.c)
 * --------------------
 * The hash table of entries is split into RC_NPARTITIONS partitions, each
 * with its own LWLock: lookups take it shared, inserts and deletes
 * exclusive.  A slot's key hash, DSA pointer and chain link are protected by
 * the partition lock of its hash; its last-used stamp and hit count are
 * atomics written under the shared lock.  The free-slot list is protected by
 * a spinlock.  DSA's own locks are taken inside partition locks, never the
 * other way round; an evictor never holds two partition locks.
 *
 * IDENTIFICATION
 *	  extensions/result_cache/src/result_cache.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESULT_CACHE_H
#define RESULT_CACHE_H

#include "executor/execdesc.h"
#include "lib/stringinfo.h"
#include "nodes/plannodes.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/dsa.h"
#include "utils/timestamp.h"

/* Number of partitions (and partition LWLocks) of the entry hash table */
#define RC_NPARTITIONS		32

/* Number of (generation, in-flight) counter slots; a power of two */
#define RC_NGENS			65536

/* Most relation slots remembered per prepared transaction */
#define RC_2PC_MAXSLOTS		64

/* Slots of the admission filter (keys seen once); a power of two */
#define RC_NSEEN			65536

/* Relations an entry may depend on; more and the query is not cached */
#define RC_MAX_DEPS			256

/*
 * cacheIds of the PlanInvalItems that carry the planner's verdict and the
 * two halves of the hash of the query's constants (negative: they never
 * match a syscache invalidation)
 */
#define RC_MARKER_CACHEID	(-7243)
#define RC_CONSTS_LO_CACHEID (-7244)
#define RC_CONSTS_HI_CACHEID (-7245)
/* the two halves of the query's signature (rc_query_hashes) */
#define RC_SIG_LO_CACHEID	(-7246)
#define RC_SIG_HI_CACHEID	(-7247)
/* a relation behind a composite result column (rc_plan_type_deps) */
#define RC_TYPREL_CACHEID	(-7249)
/* marks a stand-in plan for a hit served before planning */
#define RC_STANDIN_CACHEID	(-7248)

/* result_cache.mode */
typedef enum RcMode
{
	RC_MODE_OFF,
	RC_MODE_ALL,
	RC_MODE_TABLES
} RcMode;

/* result_cache.debug_pause_at: test-only pause points */
typedef enum RcPause
{
	RC_PAUSE_NONE = 0,
	RC_PAUSE_BEFORE_CAPTURE,
	RC_PAUSE_AFTER_CAPTURE,
	RC_PAUSE_BEFORE_STORE,
	RC_PAUSE_PRE_COMMIT,
	RC_PAUSE_AFTER_FINISH_PREPARED
} RcPause;

/* advisory lock key of pause point p: RC_PAUSE_KEY_BASE + p */
#define RC_PAUSE_KEY_BASE	INT64CONST(7243000)

/*
 * Why a top-level SELECT was not looked up (bypass) or, executed after a
 * miss, not stored (reject).  RC_OK is 0 so that the planner's verdict can
 * be tested as a boolean.  Keep rc_reason_names in step.
 */
typedef enum RcReason
{
	RC_OK = 0,
	/* bypasses */
	RC_BYPASS_DISABLED,
	RC_BYPASS_ISOLATION,
	RC_BYPASS_RECOVERY,
	RC_BYPASS_MUTABLE,
	RC_BYPASS_TEMP_TABLE,
	RC_BYPASS_CATALOG,
	RC_BYPASS_FOREIGN_TABLE,
	RC_BYPASS_SEQUENCE,
	RC_BYPASS_TABLESAMPLE,
	RC_BYPASS_ROW_MARKS,
	RC_BYPASS_MODIFYING_CTE,
	RC_BYPASS_CURSOR,
	RC_BYPASS_NOT_CLIENT,
	RC_BYPASS_PARTIAL_FETCH,
	RC_BYPASS_EXPLAIN,
	RC_BYPASS_RLS,
	RC_BYPASS_OWN_WRITES,
	RC_BYPASS_PARAMS,
	RC_BYPASS_TOO_MANY_RELATIONS,
	RC_BYPASS_NO_TABLES,
	RC_BYPASS_RECORD_TYPE,
	/* rejects */
	RC_REJECT_TOO_LARGE,
	RC_REJECT_MIN_EXEC_TIME,
	RC_REJECT_CONCURRENT_WRITE,
	RC_REJECT_NO_MEMORY,
	RC_REJECT_FIRST_SIGHT,
	RC_NREASONS
} RcReason;

#define RC_FIRST_REJECT		RC_REJECT_TOO_LARGE

extern const char *const rc_reason_names[RC_NREASONS];

/* One entry slot.  See "Locking" above for what protects which field. */
typedef struct RcSlot
{
	uint64		hash;			/* key hash; 0 when the slot is free */
	dsa_pointer data;			/* RcEntryData in the DSA area */
	int32		next;			/* next slot in bucket chain or free list */
	bool		in_use;
	Oid			dbid;
	Oid			userid;
	uint64		rows;
	Size		bytes;			/* size of the DSA allocation */
	TimestampTz created;
	pg_atomic_uint64 last_used; /* TimestampTz of the last hit or store */
	pg_atomic_uint64 hits;
} RcSlot;

/*
 * The stored entry, in one DSA allocation:
 *	RcEntryData, then Oid deps[ndeps], uint64 gens[ndeps], Oid atttypes
 *	[natts], int32 atttypmods[natts], the key bytes, then (MAXALIGNed) the
 *	tuples: MinimalTuples, each starting on a MAXALIGN boundary.
 */
typedef struct RcEntryData
{
	uint32		keylen;
	uint32		textoff;		/* statement text within the key */
	uint32		textlen;
	uint32		ndeps;
	uint32		natts;
	uint64		epoch;			/* global epoch at capture */
	uint64		plansig;		/* signature of the plan's dependencies */
	uint64		ntuples;
	Size		tuplen;			/* bytes of tuple data */
	/* variable-length parts follow */
} RcEntryData;

/*
 * Statistics counters.  Every backend adds to the stripe of its PGPROC
 * number, each stripe on cache lines of its own, so that hits and misses
 * in different backends never write the same cache line; the views sum
 * the stripes.
 */
#define RC_NSTRIPES			16

typedef enum RcCounter
{
	RC_CTR_HITS,
	RC_CTR_HITS_BEFORE_PLANNING,	/* included in hits */
	RC_CTR_MISSES,
	RC_CTR_STORES,
	RC_CTR_EVICTIONS,
	RC_CTR_INVALIDATIONS,
	RC_CTR_REASONS				/* then one counter per RcReason */
} RcCounter;

#define RC_NCOUNTERS		(RC_CTR_REASONS + RC_NREASONS)

typedef union RcStripe
{
	pg_atomic_uint64 c[RC_NCOUNTERS];
	char		pad[TYPEALIGN(PG_CACHE_LINE_SIZE,
							  RC_NCOUNTERS * sizeof(pg_atomic_uint64))];
}
#if defined(pg_attribute_aligned)
			pg_attribute_aligned(PG_CACHE_LINE_SIZE)
#endif
RcStripe;

/* Shared state, one struct in the main shared memory segment */
typedef struct RcShared
{
	LWLockPadded *partition_locks;	/* RC_NPARTITIONS of them */
	LWLock	   *twophase_lock;	/* protects twophase[] */
	int			dsa_tranche;

	/* global epoch: bumped by reset() and by unknown prepared commits */
	pg_atomic_uint64 epoch;
	pg_atomic_uint32 epoch_inflight;

	/* statistics: counters striped by backend (rc_counter_add) */
	RcStripe	stripes[RC_NSTRIPES];
	pg_atomic_uint64 memory_used;
	pg_atomic_uint32 nentries;
	slock_t		mutex;			/* protects stats_reset and free list */
	TimestampTz stats_reset;
	int32		free_head;

	pg_atomic_uint32 clock_hand;	/* next slot the evictor samples */

	int32		max_entries;	/* length of slots[] */
	int32		nbuckets;		/* power of two */
	int32		n2pc;			/* length of twophase[] */
	Size		max_memory;

	/* offsets from the start of this struct */
	Size		buckets_off;	/* int32 buckets[nbuckets], -1 = empty */
	Size		slots_off;		/* RcSlot slots[max_entries] */
	Size		twophase_off;	/* RcPrepared twophase[n2pc] */
	Size		dsa_off;		/* the in-place DSA area */

	pg_atomic_uint64 gens[RC_NGENS];
	pg_atomic_uint32 inflight[RC_NGENS];
	pg_atomic_uint32 seen[RC_NSEEN];	/* admission filter: key hash tags */
} RcShared;

/*
 * The slots a prepared transaction wrote, waiting for COMMIT PREPARED.
 * state: RC_2PC_FREE, RC_2PC_RESERVED (PREPARE under way: filled at
 * PRE_PREPARE, freed by the abort callback if the PREPARE fails) or
 * RC_2PC_READY (prepared), RC_2PC_TAKEN (claimed by the COMMIT or
 * ROLLBACK PREPARED running for it: freed when it succeeds, READY again if
 * it fails).  Only READY entries are matched by GID.
 */
#define RC_2PC_FREE			0
#define RC_2PC_RESERVED		1
#define RC_2PC_READY		2
#define RC_2PC_TAKEN		3	/* claimed by a running COMMIT/ROLLBACK
								 * PREPARED */

typedef struct RcPrepared
{
	pg_atomic_uint32 state;
	bool		all;			/* too many slots: use the global epoch */
	char		gid[200];		/* GIDSIZE */
	int			nslots;
	int32		slots[RC_2PC_MAXSLOTS];
} RcPrepared;

/* Backend-local copy of a hit, and what a miss needs to store its result */
typedef struct RcLookup
{
	uint64		hash;
	StringInfoData key;
	uint32		textoff;
	uint32		textlen;
	int			ndeps;
	Oid		   *deps;
	uint64	   *gens;			/* captured before the snapshot */
	uint64		epoch;
	uint64		plansig;
	bool		inflight_seen;	/* some dependency was in flight at capture */
	bool		missed;			/* looked up before planning, and missed */
} RcLookup;

/* GUCs (rc_hooks.c) */
extern int	rc_mode;
extern bool rc_enabled;
extern int	rc_max_memory_kb;
extern int	rc_max_entries;
extern int	rc_max_entry_size_kb;
extern double rc_min_exec_time;
extern bool rc_store_first_miss;
extern int	rc_debug_pause_at;

/* rc_store.c */
extern RcShared *rc_shared;
extern Size rc_shmem_size(void);
extern void rc_shmem_startup(void);
extern void rc_require_loaded(void);
extern RcSlot *rc_slots(void);
extern uint32 rc_gen_slot(Oid dbid, Oid relid);
extern void rc_count(RcReason reason);
extern void rc_counter_add(int counter, uint64 n);
extern uint64 rc_counter_sum(int counter);
extern void rc_counters_reset(void);
extern bool rc_lookup(RcLookup *lk, TupleDesc tupdesc, bool check_writes,
					  char **data, Size *len, uint64 *ntuples,
					  int32 *typmods);
extern RcReason rc_store(RcLookup *lk, TupleDesc tupdesc, StringInfo tuples,
						 uint64 ntuples);
extern void rc_remove_all(void);
extern char *rc_slot_text(RcSlot *slot, int32 idx, bool *found);
extern bool rc_admit(uint64 hash);

/* rc_key.c */
extern RcReason rc_query_verdict(Query *parse);
extern void rc_query_hashes(Query *parse, uint64 *consts, uint64 *sig);
extern List *rc_query_relations(Query *parse);
extern RcReason rc_plan_verdict(PlannedStmt *pstmt, bool *has_marker);
extern RcReason rc_check_relations(List *rtable);
extern RcReason rc_build_key(QueryDesc *qd, RcLookup *lk);
extern RcReason rc_build_deps(PlannedStmt *pstmt, RcLookup *lk);
extern void rc_plan_type_deps(PlannedStmt *pstmt);
extern void rc_build_query_key(Query *parse, const char *query_string,
							   uint64 consts, uint64 sig, RcLookup *lk);
extern bool rc_table_enabled(Oid relid);

/* rc_invalidate.c */
extern void rc_invalidate_init(void);
extern void rc_record_write(Oid relid);
extern void rc_record_write_tree(Oid relid);
extern bool rc_xact_wrote(PlannedStmt *pstmt);
extern bool rc_xact_wrote_deps(int ndeps, const Oid *deps);
extern void rc_record_ddl(void);
extern void rc_twophase_utility(Node *parsetree);
extern void rc_twophase_finished(Node *parsetree);
extern void rc_capture_gens(RcLookup *lk);
extern bool rc_gens_valid(int ndeps, const Oid *deps, const uint64 *gens,
						  uint64 epoch);
extern void rc_bump_relation(Oid dbid, Oid relid);
extern void rc_pause(RcPause point);

#endif							/* RESULT_CACHE_H */

/*-------------------------------------------------------------------------
 *
 * rc_store.c
 *		Shared memory of result_cache: the partitioned entry table, the DSA
 *		area holding the entries, lookup, store and LRU eviction.
 *
 * The table is an array of bucket heads (int32 slot numbers) chained
 * through RcSlot.next; bucket b belongs to partition b % RC_NPARTITIONS.
 * Entry data (key, dependencies, tuples) is one DSA allocation per entry.
 * The DSA area is created in place inside the main shared memory segment
 * with a size limit equal to its own size, so it can never grow: that is
 * the hard memory bound (invariant I6 in result_cache.h).
 *
 * Eviction is approximate LRU: the evictor samples RC_EVICT_SAMPLE in-use
 * slots from a moving clock hand and evicts the one used least recently.
 * Hits only write an atomic time stamp, so they never need the partition
 * lock in exclusive mode.  An entry used more recently than any other
 * sampled entry is never the victim.
 *
 * IDENTIFICATION
 *	  extensions/result_cache/src/rc_store.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/twophase.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/memutils.h"

#include "result_cache.h"

/* How many in-use slots the evictor compares */
#define RC_EVICT_SAMPLE		8

/*
 * A store keeps evicting until its data fits (DSA frees coalesce, so a
 * large entry fits once enough neighbours are gone), but gives up once it
 * has evicted RC_EVICT_MAX_FACTOR times its own size (plus one DSA
 * superblock): one large result must not empty a fragmented cache.
 */
#define RC_EVICT_MAX_FACTOR	8
#define RC_EVICT_SLACK		(64 * 1024)

const char *const rc_reason_names[RC_NREASONS] = {
	"ok",
	"disabled",
	"isolation",
	"recovery",
	"mutable",
	"temp_table",
	"catalog",
	"foreign_table",
	"sequence",
	"tablesample",
	"row_marks",
	"modifying_cte",
	"cursor",
	"not_client",
	"partial_fetch",
	"explain",
	"rls",
	"own_writes",
	"params",
	"too_many_relations",
	"no_tables",
	"record_type",
	"too_large",
	"min_exec_time",
	"concurrent_write",
	"no_memory",
	"first_sight"
};

RcShared   *rc_shared = NULL;

/* This backend's attachment to the DSA area (made lazily) */
static dsa_area *rc_area = NULL;
static int	rc_area_pid = 0;

static Size
rc_twophase_count(void)
{
	return Max(max_prepared_xacts, 1);
}

/*
 * Sizes of the parts of the shared struct; the same arithmetic serves
 * rc_shmem_size() (at shmem_request time) and rc_shmem_startup().
 */
static void
rc_layout(Size *buckets_off, Size *slots_off, Size *twophase_off,
		  Size *dsa_off, Size *total, int32 *nbuckets)
{
	Size		off;
	int32		nb = 1;

	while (nb < rc_max_entries * 2)
		nb <<= 1;
	*nbuckets = nb;

	off = MAXALIGN(sizeof(RcShared));
	*buckets_off = off;
	off = add_size(off, MAXALIGN(mul_size(nb, sizeof(int32))));
	*slots_off = off;
	off = add_size(off, MAXALIGN(mul_size(rc_max_entries, sizeof(RcSlot))));
	*twophase_off = off;
	off = add_size(off, MAXALIGN(mul_size(rc_twophase_count(),
										  sizeof(RcPrepared))));
	/* DSA wants its control object suitably aligned */
	off = TYPEALIGN(PG_CACHE_LINE_SIZE, off);
	*dsa_off = off;
	off = add_size(off, (Size) rc_max_memory_kb * 1024);
	*total = add_size(off, PG_CACHE_LINE_SIZE);
}

/* Shared memory needed, for the shmem_request hook */
Size
rc_shmem_size(void)
{
	Size		b,
				s,
				t,
				d,
				total;
	int32		nb;

	rc_layout(&b, &s, &t, &d, &total, &nb);
	return total;
}

RcSlot *
rc_slots(void)
{
	return (RcSlot *) ((char *) rc_shared + rc_shared->slots_off);
}

static int32 *
rc_buckets(void)
{
	return (int32 *) ((char *) rc_shared + rc_shared->buckets_off);
}

/*
 * Create or attach to the shared struct (shmem_startup hook).  In the
 * postmaster this creates the DSA area in place; backends attach to it on
 * first use (rc_get_area).
 */
void
rc_shmem_startup(void)
{
	bool		found;
	Size		buckets_off,
				slots_off,
				twophase_off,
				dsa_off,
				total;
	int32		nbuckets;

	rc_layout(&buckets_off, &slots_off, &twophase_off, &dsa_off, &total,
			  &nbuckets);

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rc_shared = ShmemInitStruct("result_cache", total, &found);
	if (!found)
	{
		RcSlot	   *slots;
		int32	   *buckets;
		int			i;
		LWLockPadded *locks;

		memset(rc_shared, 0, offsetof(RcShared, gens));
		locks = GetNamedLWLockTranche("result_cache");
		rc_shared->partition_locks = locks;
		rc_shared->twophase_lock = &locks[RC_NPARTITIONS].lock;
		rc_shared->dsa_tranche = LWLockNewTrancheId();
		pg_atomic_init_u64(&rc_shared->epoch, 1);
		pg_atomic_init_u32(&rc_shared->epoch_inflight, 0);
		for (i = 0; i < RC_NSTRIPES; i++)
		{
			int			c;

			for (c = 0; c < RC_NCOUNTERS; c++)
				pg_atomic_init_u64(&rc_shared->stripes[i].c[c], 0);
		}
		pg_atomic_init_u64(&rc_shared->memory_used, 0);
		pg_atomic_init_u32(&rc_shared->nentries, 0);
		pg_atomic_init_u32(&rc_shared->clock_hand, 0);
		SpinLockInit(&rc_shared->mutex);
		rc_shared->stats_reset = GetCurrentTimestamp();
		rc_shared->max_entries = rc_max_entries;
		rc_shared->nbuckets = nbuckets;
		rc_shared->n2pc = (int32) rc_twophase_count();
		rc_shared->max_memory = (Size) rc_max_memory_kb * 1024;
		rc_shared->buckets_off = buckets_off;
		rc_shared->slots_off = slots_off;
		rc_shared->twophase_off = twophase_off;
		rc_shared->dsa_off = dsa_off;
		for (i = 0; i < RC_NGENS; i++)
		{
			pg_atomic_init_u64(&rc_shared->gens[i], 1);
			pg_atomic_init_u32(&rc_shared->inflight[i], 0);
		}
		for (i = 0; i < RC_NSEEN; i++)
			pg_atomic_init_u32(&rc_shared->seen[i], 0);

		buckets = rc_buckets();
		for (i = 0; i < nbuckets; i++)
			buckets[i] = -1;
		slots = rc_slots();
		for (i = 0; i < rc_max_entries; i++)
		{
			memset(&slots[i], 0, sizeof(RcSlot));
			slots[i].next = (i + 1 < rc_max_entries) ? i + 1 : -1;
			pg_atomic_init_u64(&slots[i].last_used, 0);
			pg_atomic_init_u64(&slots[i].hits, 0);
		}
		rc_shared->free_head = 0;
		memset((char *) rc_shared + twophase_off, 0,
			   rc_twophase_count() * sizeof(RcPrepared));
		for (i = 0; i < (int) rc_twophase_count(); i++)
			pg_atomic_init_u32(&((RcPrepared *) ((char *) rc_shared + twophase_off))[i].state,
							   RC_2PC_FREE);

		LWLockRegisterTranche(rc_shared->dsa_tranche, "result_cache_dsa");
		rc_area = dsa_create_in_place((char *) rc_shared + dsa_off,
									  rc_shared->max_memory,
									  rc_shared->dsa_tranche, NULL);
		dsa_set_size_limit(rc_area, rc_shared->max_memory);
		rc_area_pid = MyProcPid;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Fail with a clear error unless the library was preloaded; used by the
 * SQL-callable functions.
 */
void
rc_require_loaded(void)
{
	if (rc_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("result_cache must be loaded via shared_preload_libraries"),
				 errhint("Add result_cache to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/* This backend's handle on the DSA area, attaching on first use */
static dsa_area *
rc_get_area(void)
{
	if (rc_area == NULL || rc_area_pid != MyProcPid)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		LWLockRegisterTranche(rc_shared->dsa_tranche, "result_cache_dsa");
		rc_area = dsa_attach_in_place((char *) rc_shared + rc_shared->dsa_off,
									  NULL);
		on_shmem_exit(dsa_on_shmem_exit_release_in_place,
					  PointerGetDatum((char *) rc_shared + rc_shared->dsa_off));
		rc_area_pid = MyProcPid;
		MemoryContextSwitchTo(old);
	}
	return rc_area;
}

void
rc_count(RcReason reason)
{
	if (rc_shared)
		rc_counter_add(RC_CTR_REASONS + reason, 1);
}

/* Add n to a statistics counter, in this backend's stripe */
void
rc_counter_add(int counter, uint64 n)
{
	int			stripe = MyProc ? MyProc->pgprocno % RC_NSTRIPES : 0;

	pg_atomic_fetch_add_u64(&rc_shared->stripes[stripe].c[counter], n);
}

/* The value of a statistics counter: the sum of its stripes */
uint64
rc_counter_sum(int counter)
{
	uint64		sum = 0;
	int			i;

	for (i = 0; i < RC_NSTRIPES; i++)
		sum += pg_atomic_read_u64(&rc_shared->stripes[i].c[counter]);
	return sum;
}

/* Set every statistics counter to zero */
void
rc_counters_reset(void)
{
	int			i;
	int			c;

	for (i = 0; i < RC_NSTRIPES; i++)
		for (c = 0; c < RC_NCOUNTERS; c++)
			pg_atomic_write_u64(&rc_shared->stripes[i].c[c], 0);
}

static inline LWLock *
rc_partition_lock(uint64 hash)
{
	uint32		bucket = (uint32) (hash & (rc_shared->nbuckets - 1));

	return &rc_shared->partition_locks[bucket % RC_NPARTITIONS].lock;
}

/* Pointers into an entry's variable-length parts */
static inline Oid *
rc_entry_deps(RcEntryData *e)
{
	return (Oid *) ((char *) e + MAXALIGN(sizeof(RcEntryData)));
}

static inline uint64 *
rc_entry_gens(RcEntryData *e)
{
	return (uint64 *) ((char *) rc_entry_deps(e) +
					   MAXALIGN(e->ndeps * sizeof(Oid)));
}

static inline Oid *
rc_entry_types(RcEntryData *e)
{
	return (Oid *) ((char *) rc_entry_gens(e) + e->ndeps * sizeof(uint64));
}

static inline int32 *
rc_entry_typmods(RcEntryData *e)
{
	return (int32 *) ((char *) rc_entry_types(e) + e->natts * sizeof(Oid));
}

static inline char *
rc_entry_key(RcEntryData *e)
{
	return (char *) rc_entry_typmods(e) + e->natts * sizeof(int32);
}

static inline char *
rc_entry_tuples(RcEntryData *e)
{
	return (char *) e + MAXALIGN((rc_entry_key(e) + e->keylen) - (char *) e);
}

static Size
rc_entry_header_size(int ndeps, int natts, int keylen)
{
	Size		sz;

	sz = MAXALIGN(sizeof(RcEntryData));
	sz += MAXALIGN(ndeps * sizeof(Oid));
	sz += ndeps * sizeof(uint64);
	sz += natts * sizeof(Oid);
	sz += natts * sizeof(int32);
	sz += keylen;
	return MAXALIGN(sz);
}

/* Same result columns as when the entry was stored? */
static bool
rc_types_match(RcEntryData *e, TupleDesc tupdesc)
{
	Oid		   *types = rc_entry_types(e);
	int			i;

	if (e->natts != tupdesc->natts)
		return false;
	for (i = 0; i < tupdesc->natts; i++)
		if (types[i] != TupleDescAttr(tupdesc, i)->atttypid)
			return false;
	return true;
}

/*
 * Look the key of *lk up.  On a valid hit, copy the stored tuples into
 * palloc'd memory of the current context (the copy is made under the
 * shared partition lock; the rows are sent after it is released), update
 * the slot's use stamp and hit count, and return true.  check_writes: the
 * caller knows only the query's tables, not the plan's (partitions and
 * inheritance children come from the planner), so the test that this
 * transaction wrote none of them (I3) is made on the entry's dependencies.
 * typmods, if not NULL, receives the type modifiers of the result columns
 * of the plan that produced the entry (tupdesc->natts of them).
 */
bool
rc_lookup(RcLookup *lk, TupleDesc tupdesc, bool check_writes, char **data,
		  Size *len, uint64 *ntuples, int32 *typmods)
{
	dsa_area   *area = rc_get_area();
	RcSlot	   *slots = rc_slots();
	int32	   *buckets = rc_buckets();
	LWLock	   *lock = rc_partition_lock(lk->hash);
	int32		i;
	bool		hit = false;

	LWLockAcquire(lock, LW_SHARED);
	for (i = buckets[lk->hash & (rc_shared->nbuckets - 1)]; i >= 0;
		 i = slots[i].next)
	{
		RcSlot	   *s = &slots[i];
		RcEntryData *e;

		if (s->hash != lk->hash)
			continue;
		e = dsa_get_address(area, s->data);
		if (e->keylen != lk->key.len ||
			memcmp(rc_entry_key(e), lk->key.data, lk->key.len) != 0)
			continue;

		if (e->plansig == lk->plansig &&
			rc_types_match(e, tupdesc) &&
			!(check_writes &&
			  rc_xact_wrote_deps(e->ndeps, rc_entry_deps(e))) &&
			rc_gens_valid(e->ndeps, rc_entry_deps(e), rc_entry_gens(e),
						  e->epoch))
		{
			*len = e->tuplen;
			*ntuples = e->ntuples;
			*data = palloc(Max(e->tuplen, 1));
			memcpy(*data, rc_entry_tuples(e), e->tuplen);
			if (typmods != NULL)
				memcpy(typmods, rc_entry_typmods(e), e->natts * sizeof(int32));
			pg_atomic_write_u64(&s->last_used, (uint64) GetCurrentTimestamp());
			pg_atomic_fetch_add_u64(&s->hits, 1);
			hit = true;
		}
		break;
	}
	LWLockRelease(lock);
	return hit;
}

/*
 * Admission on second sight: a missed key is stored only if it missed
 * recently before (its hash tag is in the filter); the first miss only
 * records the tag.  One-off queries (pgbench -S over a large table) then
 * cost a lookup, not a copy, a store and an eviction.  Tags of other keys
 * overwrite each other: a key may need a third miss, never a wrong entry.
 */
bool
rc_admit(uint64 hash)
{
	pg_atomic_uint32 *seen = &rc_shared->seen[hash & (RC_NSEEN - 1)];
	uint32		tag = (uint32) (hash >> 32) | 1;

	if (rc_store_first_miss)
		return true;
	if (pg_atomic_read_u32(seen) == tag)
		return true;
	pg_atomic_write_u32(seen, tag);
	return false;
}

/* Unlink slot idx from its bucket chain; caller holds the partition lock */
static void
rc_unlink(int32 idx)
{
	RcSlot	   *slots = rc_slots();
	int32	   *head = &rc_buckets()[slots[idx].hash & (rc_shared->nbuckets - 1)];

	while (*head >= 0)
	{
		if (*head == idx)
		{
			*head = slots[idx].next;
			break;
		}
		head = &slots[*head].next;
	}
	slots[idx].in_use = false;
	slots[idx].next = -1;
}

/*
 * Release an unlinked slot: free its data and put it on the free list.
 * The DSA free happens while the caller still holds the partition lock, so
 * no lookup can be reading the data.
 */
static void
rc_release_slot(int32 idx)
{
	RcSlot	   *s = &rc_slots()[idx];

	dsa_free(rc_get_area(), s->data);
	pg_atomic_fetch_sub_u64(&rc_shared->memory_used, s->bytes);
	pg_atomic_fetch_sub_u32(&rc_shared->nentries, 1);
	s->data = InvalidDsaPointer;
	s->hash = 0;
	SpinLockAcquire(&rc_shared->mutex);
	s->next = rc_shared->free_head;
	rc_shared->free_head = idx;
	SpinLockRelease(&rc_shared->mutex);
}

/*
 * Evict the least recently used of a sample of in-use slots.  Returns
 * false when there is nothing to evict.  Takes one partition lock at a
 * time; the caller must hold none.
 */
static bool
rc_evict_one(Size *freed)
{
	RcSlot	   *slots = rc_slots();
	int32		n = rc_shared->max_entries;
	int32		best = -1;
	uint64		best_stamp = PG_UINT64_MAX;
	int			sampled = 0;
	int32		scanned;

	for (scanned = 0; scanned < n && sampled < RC_EVICT_SAMPLE; scanned++)
	{
		int32		i = pg_atomic_fetch_add_u32(&rc_shared->clock_hand, 1) % n;
		uint64		stamp;

		/* unlocked reads: only a hint, re-checked under the lock below */
		if (!slots[i].in_use)
			continue;
		sampled++;
		stamp = pg_atomic_read_u64(&slots[i].last_used);
		if (stamp < best_stamp)
		{
			best_stamp = stamp;
			best = i;
		}
	}
	if (best < 0)
		return false;

	{
		uint64		hash = slots[best].hash;
		LWLock	   *lock = rc_partition_lock(hash);
		bool		done = false;

		LWLockAcquire(lock, LW_EXCLUSIVE);
		if (slots[best].in_use && slots[best].hash == hash)
		{
			*freed += slots[best].bytes;
			rc_unlink(best);
			rc_release_slot(best);
			done = true;
		}
		LWLockRelease(lock);
		if (done)
			rc_counter_add(RC_CTR_EVICTIONS, 1);
	}
	/* a lost race still made progress for somebody: try again */
	return true;
}

static int32
rc_pop_free_slot(void)
{
	int32		idx;

	SpinLockAcquire(&rc_shared->mutex);
	idx = rc_shared->free_head;
	if (idx >= 0)
		rc_shared->free_head = rc_slots()[idx].next;
	SpinLockRelease(&rc_shared->mutex);
	return idx;
}

/*
 * Store the captured result of a miss.  Returns RC_OK or the reason the
 * result was rejected.  Dependencies must not have moved since the capture
 * that preceded the execution's snapshot (invariant I1).
 */
RcReason
rc_store(RcLookup *lk, TupleDesc tupdesc, StringInfo tuples, uint64 ntuples)
{
	dsa_area   *area = rc_get_area();
	RcSlot	   *slots = rc_slots();
	int32	   *buckets;
	Size		hdr;
	Size		size;
	dsa_pointer dp = InvalidDsaPointer;
	RcEntryData *e;
	int32		idx = -1;
	int32		old = -1;
	Size		freed = 0;
	LWLock	   *lock;
	uint32		bucket;
	int			i;

	hdr = rc_entry_header_size(lk->ndeps, tupdesc->natts, lk->key.len);
	size = hdr + tuples->len;
	if (size > (Size) rc_max_entry_size_kb * 1024)
		return RC_REJECT_TOO_LARGE;

	rc_pause(RC_PAUSE_BEFORE_STORE);

	if (lk->inflight_seen ||
		!rc_gens_valid(lk->ndeps, lk->deps, lk->gens, lk->epoch))
		return RC_REJECT_CONCURRENT_WRITE;

	if (size > rc_shared->max_memory / 2)
		return RC_REJECT_NO_MEMORY;

	/* Room for the data, evicting as needed */
	for (;;)
	{
		dp = dsa_allocate_extended(area, size, DSA_ALLOC_NO_OOM);
		if (DsaPointerIsValid(dp))
			break;
		if (freed > RC_EVICT_MAX_FACTOR * size + RC_EVICT_SLACK ||
			!rc_evict_one(&freed))
			return RC_REJECT_NO_MEMORY;
	}
	/* A slot, evicting as needed */
	for (;;)
	{
		idx = rc_pop_free_slot();
		if (idx >= 0)
			break;
		if (!rc_evict_one(&freed))
		{
			dsa_free(area, dp);
			return RC_REJECT_NO_MEMORY;
		}
	}

	/* Fill the entry; nobody else can see it yet */
	e = dsa_get_address(area, dp);
	e->keylen = lk->key.len;
	e->textoff = lk->textoff;
	e->textlen = lk->textlen;
	e->ndeps = lk->ndeps;
	e->natts = tupdesc->natts;
	e->epoch = lk->epoch;
	e->plansig = lk->plansig;
	e->ntuples = ntuples;
	e->tuplen = tuples->len;
	memcpy(rc_entry_deps(e), lk->deps, lk->ndeps * sizeof(Oid));
	memcpy(rc_entry_gens(e), lk->gens, lk->ndeps * sizeof(uint64));
	for (i = 0; i < tupdesc->natts; i++)
	{
		rc_entry_types(e)[i] = TupleDescAttr(tupdesc, i)->atttypid;
		rc_entry_typmods(e)[i] = TupleDescAttr(tupdesc, i)->atttypmod;
	}
	memcpy(rc_entry_key(e), lk->key.data, lk->key.len);
	Assert(rc_entry_tuples(e) == (char *) e + hdr);
	memcpy(rc_entry_tuples(e), tuples->data, tuples->len);

	slots[idx].hash = lk->hash;
	slots[idx].data = dp;
	slots[idx].dbid = MyDatabaseId;
	slots[idx].userid = GetUserId();
	slots[idx].rows = ntuples;
	slots[idx].bytes = size;
	slots[idx].created = GetCurrentTimestamp();
	pg_atomic_write_u64(&slots[idx].last_used, (uint64) slots[idx].created);
	pg_atomic_write_u64(&slots[idx].hits, 0);

	/* Publish it, replacing an older entry of the same key */
	lock = rc_partition_lock(lk->hash);
	bucket = (uint32) (lk->hash & (rc_shared->nbuckets - 1));
	buckets = rc_buckets();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	for (i = buckets[bucket]; i >= 0; i = slots[i].next)
	{
		RcEntryData *oe;

		if (slots[i].hash != lk->hash)
			continue;
		oe = dsa_get_address(area, slots[i].data);
		if (oe->keylen == lk->key.len &&
			memcmp(rc_entry_key(oe), lk->key.data, lk->key.len) == 0)
		{
			old = i;
			break;
		}
	}
	if (old >= 0)
	{
		rc_unlink(old);
		rc_release_slot(old);
	}
	slots[idx].next = buckets[bucket];
	slots[idx].in_use = true;
	buckets[bucket] = idx;
	pg_atomic_fetch_add_u64(&rc_shared->memory_used, size);
	pg_atomic_fetch_add_u32(&rc_shared->nentries, 1);
	LWLockRelease(lock);

	rc_counter_add(RC_CTR_STORES, 1);
	return RC_OK;
}

/* Remove every entry (result_cache.reset()) */
void
rc_remove_all(void)
{
	int32	   *buckets = rc_buckets();
	int			p;

	for (p = 0; p < RC_NPARTITIONS; p++)
	{
		LWLock	   *lock = &rc_shared->partition_locks[p].lock;
		int32		b;

		LWLockAcquire(lock, LW_EXCLUSIVE);
		for (b = p; b < rc_shared->nbuckets; b += RC_NPARTITIONS)
		{
			while (buckets[b] >= 0)
			{
				int32		idx = buckets[b];

				rc_unlink(idx);
				rc_release_slot(idx);
			}
		}
		LWLockRelease(lock);
	}
}

/*
 * The statement text of slot idx, palloc'd, for the entries view.  Caller
 * holds the slot's partition lock (shared).
 */
char *
rc_slot_text(RcSlot *slot, int32 idx, bool *found)
{
	RcEntryData *e;

	*found = false;
	if (!slot->in_use)
		return NULL;
	e = dsa_get_address(rc_get_area(), slot->data);
	*found = true;
	return pnstrdup(rc_entry_key(e) + e->textoff, e->textlen);
}

/*-------------------------------------------------------------------------
 *
 * xhinsert.c
 *		xhash insertion, uniqueness checking and bucket splits.
 *
 * UNIQUENESS
 *
 * An index entry holds only a hash, so equal hashes are candidates that
 * must be confirmed against the heap: the candidate's heap tuple is fetched
 * with a dirty snapshot, its key values recomputed (FormIndexDatum, so
 * expression indexes work) and compared with each opclass's "=" operator
 * and the column's collation.  The exclusive lock on the bucket's primary
 * page is held from the check through the insert, so two inserters of the
 * same key are serialized (both map to the same bucket).  An inserter that
 * finds an equal key from an in-progress transaction releases its locks,
 * waits for that transaction and starts over; one that finds a committed
 * equal key fails with btree's message, unless its own tuple is already
 * dead.  NULLs never conflict unless the index is NULLS NOT DISTINCT.
 *
 * SPLITS
 *
 * See the locking invariants in xhash.h.  A split runs with the metapage
 * exclusively locked and a cleanup lock on the old bucket's primary page,
 * taken conditionally so that a split never waits for a scan: if the lock
 * is not free the split is simply attempted again by a later insert.
 *
 * IDENTIFICATION
 *	  extensions/xhash/src/xhinsert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "common/pg_prng.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "storage/smgr.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "xhash.h"

/*
 * Set up recomputation of heap rows' key values: a slot, an executor state
 * for expression indexes, and each key column's "=" function.  The slot
 * uses a private copy of the table's descriptor, so that it holds no
 * reference that would have to be released before the end of the
 * transaction: xhinsert keeps one of these for a whole statement.
 */
void
xh_keys_init(XhKeyFetcher *kf, Relation heap, Relation index,
			 IndexInfo *indexInfo)
{
	int			i;

	kf->heap = heap;
	kf->index = index;
	kf->indexInfo = indexInfo;
	kf->nkeys = IndexRelationGetNumberOfKeyAttributes(index);
	kf->fetch = NULL;
	kf->slot = MakeSingleTupleTableSlot(CreateTupleDescCopy(RelationGetDescr(heap)),
										table_slot_callbacks(heap));
	kf->estate = NULL;
	if (indexInfo->ii_Expressions != NIL)
	{
		kf->estate = CreateExecutorState();
		GetPerTupleExprContext(kf->estate)->ecxt_scantuple = kf->slot;
	}
	for (i = 0; i < kf->nkeys; i++)
	{
		Oid			opno;

		opno = get_opfamily_member(index->rd_opfamily[i],
								   index->rd_opcintype[i],
								   index->rd_opcintype[i],
								   XHASH_EQUAL_STRATEGY);
		if (!OidIsValid(opno))
			elog(ERROR, "missing equality operator for type %u in xhash opfamily %u",
				 index->rd_opcintype[i], index->rd_opfamily[i]);
		fmgr_info(get_opcode(opno), &kf->eqfn[i]);
	}
}

/*
 * Start and finish a series of fetches: the heap fetch state holds a
 * buffer pin, so it never outlives one index operation.
 */
void
xh_keys_begin(XhKeyFetcher *kf)
{
	kf->fetch = table_index_fetch_begin(kf->heap);
}

void
xh_keys_finish(XhKeyFetcher *kf)
{
	table_index_fetch_end(kf->fetch);
	kf->fetch = NULL;
	ExecClearTuple(kf->slot);
}

/*
 * Release what xh_keys_init acquired.
 */
void
xh_keys_end(XhKeyFetcher *kf)
{
	if (kf->fetch)
		xh_keys_finish(kf);
	ExecDropSingleTupleTableSlot(kf->slot);
	if (kf->estate)
		FreeExecutorState(kf->estate);
}

/*
 * Fetch the heap tuple an index entry points to (following its HOT chain)
 * with the given snapshot and compute its key values.  Returns false if no
 * tuple is visible.  The values stay valid until the next fetch.
 */
bool
xh_keys_fetch(XhKeyFetcher *kf, ItemPointer tid, Snapshot snapshot,
			  Datum *values, bool *isnull)
{
	ItemPointerData htid = *tid;
	bool		call_again = false;
	bool		all_dead = false;

	if (kf->estate)
		ResetPerTupleExprContext(kf->estate);
	if (!table_index_fetch_tuple(kf->fetch, &htid, snapshot, kf->slot,
								 &call_again, &all_dead))
		return false;
	FormIndexDatum(kf->indexInfo, kf->slot, kf->estate, values, isnull);
	return true;
}

/*
 * Compare two rows' key values with the opclasses' "=" operators.
 */
bool
xh_keys_equal(XhKeyFetcher *kf, Datum *a, bool *anull, Datum *b, bool *bnull,
			  bool nulls_not_distinct)
{
	int			i;

	for (i = 0; i < kf->nkeys; i++)
	{
		if (anull[i] || bnull[i])
		{
			if (anull[i] && bnull[i] && nulls_not_distinct)
				continue;
			return false;
		}
		if (!DatumGetBool(FunctionCall2Coll(&kf->eqfn[i],
											kf->index->rd_indcollation[i],
											a[i], b[i])))
			return false;
	}
	return true;
}

/*
 * Raise btree's unique-violation error for the given key values.
 */
static void
xh_report_duplicate(Relation index, Relation heap, Datum *values,
					bool *isnull)
{
	char	   *key_desc = BuildIndexValueDescription(index, values, isnull);

	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("duplicate key value violates unique constraint \"%s\"",
					RelationGetRelationName(index)),
			 key_desc ? errdetail("Key %s already exists.", key_desc) : 0,
			 errtableconstraint(heap, RelationGetRelationName(index))));
}

/*
 * Look for a live or in-progress heap tuple whose key equals the new row's.
 * Called with the bucket's primary page exclusively locked.
 *
 * Returns true if a conflicting committed (or own-transaction) tuple exists.
 * If the conflicting tuple's transaction is in progress, returns false with
 * *xwait (and *spectoken) set: the caller must wait and retry.
 */
static bool
xh_find_conflict(XhKeyFetcher *kf, Buffer primary, const XhEntry *entry,
				 Datum *values, bool *isnull, bool nulls_not_distinct,
				 TransactionId *xwait, uint32 *spectoken,
				 ItemPointer waittid)
{
	Relation	index = kf->index;
	Buffer		buf = primary;
	bool		conflict = false;
	Datum		cvalues[INDEX_MAX_KEYS];
	bool		cisnull[INDEX_MAX_KEYS];
	SnapshotData dirty;

	*xwait = InvalidTransactionId;
	*spectoken = 0;
	InitDirtySnapshot(dirty);

	for (;;)
	{
		Page		page = BufferGetPage(buf);
		XhEntry    *entries = XhPageGetEntries(page);
		int			n = PageIsNew(page) ? 0 : XhPageGetNEntries(page);
		BlockNumber next;
		int			i;

		for (i = 0; i < n && !conflict && !TransactionIdIsValid(*xwait); i++)
		{
			if (entries[i].hash != entry->hash ||
				ItemPointerEquals(&entries[i].tid, (ItemPointer) &entry->tid))
				continue;
			if (!xh_keys_fetch(kf, &entries[i].tid, &dirty, cvalues, cisnull))
				continue;
			if (!xh_keys_equal(kf, values, isnull, cvalues, cisnull,
							   nulls_not_distinct))
				continue;
			if (TransactionIdIsValid(dirty.xmin) ||
				TransactionIdIsValid(dirty.xmax))
			{
				*xwait = TransactionIdIsValid(dirty.xmin) ?
					dirty.xmin : dirty.xmax;
				*spectoken = dirty.speculativeToken;
				*waittid = entries[i].tid;
			}
			else
				conflict = true;
		}
		next = PageIsNew(page) ? InvalidBlockNumber :
			XhPageGetOpaque(page)->next;
		if (buf != primary)
			UnlockReleaseBuffer(buf);
		if (conflict || TransactionIdIsValid(*xwait) ||
			next == InvalidBlockNumber)
			break;
		buf = ReadBuffer(index, next);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
	}
	return conflict;
}

/*
 * Add an entry to a bucket whose primary page we hold exclusively locked.
 * Only the chain's last page can have room (invariant 6 in xhash.h), so the
 * entry goes there, or into a new overflow page linked after it: one or two
 * page visits whatever the chain's length.  The primary buffer stays locked.
 */
static void
xh_add_to_bucket(Relation index, Buffer primary, uint32 bucket,
				 const XhEntry *entry)
{
	BlockNumber tailblk = XhPageGetOpaque(BufferGetPage(primary))->tail;
	Buffer		tail = primary;
	GenericXLogState *state;
	Page		page;
	Page		ppage;
	Page		npage;
	Buffer		nbuf;
	bool		isnew;

	if (tailblk != InvalidBlockNumber)
	{
		tail = ReadBuffer(index, tailblk);
		LockBuffer(tail, BUFFER_LOCK_EXCLUSIVE);
	}
	if (XhPageGetNEntries(BufferGetPage(tail)) < XH_PAGE_CAPACITY)
	{
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, tail, 0);
		xh_page_add_entry(page, entry);
		GenericXLogFinish(state);
	}
	else
	{
		/* the last page is full: chain a new one after it */
		nbuf = xh_new_overflow_buffer(index, &isnew);
		state = GenericXLogStart(index);
		ppage = GenericXLogRegisterBuffer(state, primary, 0);
		page = tail == primary ? ppage :
			GenericXLogRegisterBuffer(state, tail, 0);
		npage = GenericXLogRegisterBuffer(state, nbuf,
										  GENERIC_XLOG_FULL_IMAGE);
		xh_init_page(npage, XH_PAGE_OVERFLOW, bucket);
		xh_page_add_entry(npage, entry);
		XhPageGetOpaque(page)->next = BufferGetBlockNumber(nbuf);
		XhPageGetOpaque(ppage)->tail = BufferGetBlockNumber(nbuf);
		GenericXLogFinish(state);
		UnlockReleaseBuffer(nbuf);
	}
	if (tail != primary)
		UnlockReleaseBuffer(tail);
}

/*
 * What xhinsert keeps for the statement in IndexInfo->ii_AmCache.
 */
typedef struct XhInsertCache
{
	MemoryContext tmpCtx;		/* reset after each row */
	XhKeyFetcher kf;			/* unique indexes only */
	bool		kf_valid;
} XhInsertCache;

/*
 * aminsert: insert one row's entry, checking uniqueness if asked to.
 */
bool
xhinsert(Relation index, Datum *values, bool *isnull,
		 ItemPointer ht_ctid, Relation heapRel,
		 IndexUniqueCheck checkUnique, bool indexUnchanged,
		 IndexInfo *indexInfo)
{
	XhEntry		entry;
	uint64		fullhash;
	bool		check;
	bool		result = true;
	XhInsertCache *cache = (XhInsertCache *) indexInfo->ii_AmCache;
	XhKeyFetcher *kf = NULL;
	MemoryContext oldCtx;

	if (cache == NULL)
	{
		oldCtx = MemoryContextSwitchTo(indexInfo->ii_Context);
		cache = palloc0(sizeof(XhInsertCache));
		cache->tmpCtx = AllocSetContextCreate(indexInfo->ii_Context,
											  "xhash insert temporary context",
											  ALLOCSET_DEFAULT_SIZES);
		indexInfo->ii_AmCache = cache;
		MemoryContextSwitchTo(oldCtx);
	}
	oldCtx = MemoryContextSwitchTo(cache->tmpCtx);

	fullhash = xh_hash_values(index, values, isnull, &entry.flags);
	entry.tid = *ht_ctid;
	check = checkUnique != UNIQUE_CHECK_NO &&
		(!(entry.flags & XH_ENTRY_HASNULL) || indexInfo->ii_NullsNotDistinct);

	if (check)
	{
		if (!cache->kf_valid)
		{
			MemoryContextSwitchTo(indexInfo->ii_Context);
			xh_keys_init(&cache->kf, heapRel, index, indexInfo);
			cache->kf_valid = true;
			MemoryContextSwitchTo(cache->tmpCtx);
		}
		kf = &cache->kf;
		xh_keys_begin(kf);
	}

	CheckForSerializableConflictIn(index, NULL, InvalidBlockNumber);

	for (;;)
	{
		XhMapping	map;
		uint32		bucket;
		Buffer		primary;
		TransactionId xwait = InvalidTransactionId;
		uint32		spectoken = 0;
		ItemPointerData waittid;
		bool		conflict = false;

		entry.hash = fullhash;
		primary = xh_lock_bucket(index, &entry.hash, BUFFER_LOCK_EXCLUSIVE,
								 &map, &bucket);

		if (check)
			conflict = xh_find_conflict(kf, primary, &entry, values, isnull,
										indexInfo->ii_NullsNotDistinct,
										&xwait, &spectoken, &waittid);

		/*
		 * A partial check (deferred constraint) only needs to know a conflict
		 * is possible: it does not wait, as btree does not.
		 */
		if (TransactionIdIsValid(xwait) && checkUnique == UNIQUE_CHECK_PARTIAL)
		{
			xwait = InvalidTransactionId;
			conflict = true;
		}

		if (TransactionIdIsValid(xwait))
		{
			/* wait for the other inserter, holding no pin, then start over */
			UnlockReleaseBuffer(primary);
			table_index_fetch_reset(kf->fetch);
			ExecClearTuple(kf->slot);
			if (spectoken)
				SpeculativeInsertionWait(xwait, spectoken);
			else
				XactLockTableWait(xwait, heapRel, &waittid, XLTW_InsertIndex);
			continue;
		}

		if (conflict)
		{
			if (checkUnique == UNIQUE_CHECK_PARTIAL)
				result = false; /* recheck at commit (deferred) */
			else if (table_index_fetch_tuple_check(heapRel, ht_ctid,
												   SnapshotSelf, NULL))
			{
				/*
				 * Release the lock before building the message: it may access
				 * catalogs, possibly this very index.
				 */
				UnlockReleaseBuffer(primary);
				xh_report_duplicate(index, heapRel, values, isnull);
			}
			/* else our own tuple is already dead: no error */
		}

		if (checkUnique != UNIQUE_CHECK_EXISTING)
			xh_add_to_bucket(index, primary, bucket, &entry);
		UnlockReleaseBuffer(primary);
		break;
	}

	if (check)
		xh_keys_finish(kf);
	MemoryContextSwitchTo(oldCtx);
	MemoryContextReset(cache->tmpCtx);

	/*
	 * Count a sample of inserts, and split when over the fillfactor.  The
	 * caller's context may live for the whole statement: run in ours.
	 */
	if (checkUnique != UNIQUE_CHECK_EXISTING &&
		pg_prng_uint32(&pg_global_prng_state) % XH_COUNT_SAMPLE == 0)
	{
		oldCtx = MemoryContextSwitchTo(cache->tmpCtx);
		xh_maybe_split(index);
		MemoryContextSwitchTo(oldCtx);
		MemoryContextReset(cache->tmpCtx);
	}

	return result;
}

/*
 * qsort comparator: entries by hash.
 */
static int
xh_cmp_entry_hash(const void *a, const void *b)
{
	uint64		ha = ((const XhEntry *) a)->hash;
	uint64		hb = ((const XhEntry *) b)->hash;

	return ha < hb ? -1 : (ha > hb ? 1 : 0);
}

/*
 * Check a freshly built unique index for duplicates among the rows the
 * build saw as alive.  Raises btree's "could not create unique index".
 */
void
xh_build_check_unique(Relation heap, Relation index, IndexInfo *indexInfo)
{
	XhKeyFetcher kf;
	Buffer		metabuf;
	XhMetaPageData *meta;
	XhMetaPageData metacopy;
	uint32		maxbucket;
	uint32		b;
	XhEntry    *entries = NULL;
	int			nentries,
				maxentries = 0;
	MemoryContext tmpCtx;
	MemoryContext oldCtx;

	tmpCtx = AllocSetContextCreate(CurrentMemoryContext,
								   "xhash unique build check",
								   ALLOCSET_DEFAULT_SIZES);
	xh_keys_init(&kf, heap, index, indexInfo);
	xh_keys_begin(&kf);

	/* nobody else can use the index yet: work from a copy of the metapage */
	metabuf = ReadBuffer(index, XHASH_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	metacopy = *xh_check_metapage(index, BufferGetPage(metabuf));
	UnlockReleaseBuffer(metabuf);
	meta = &metacopy;
	maxbucket = meta->maxbucket;

	for (b = 0; b <= maxbucket; b++)
	{
		BlockNumber blkno = xh_bucket_block(meta, b);
		int			i,
					j;

		nentries = 0;
		while (blkno != InvalidBlockNumber)
		{
			Buffer		buf = ReadBuffer(index, blkno);
			Page		page = BufferGetPage(buf);
			int			n = XhPageGetNEntries(page);

			if (nentries + n > maxentries)
			{
				maxentries = Max(2 * maxentries, nentries + n);
				entries = entries ?
					repalloc(entries, maxentries * sizeof(XhEntry)) :
					palloc(maxentries * sizeof(XhEntry));
			}
			memcpy(entries + nentries, XhPageGetEntries(page),
				   n * sizeof(XhEntry));
			nentries += n;
			blkno = XhPageGetOpaque(page)->next;
			ReleaseBuffer(buf);
		}

		/* compare every pair of entries with equal hashes */
		qsort(entries, nentries, sizeof(XhEntry), xh_cmp_entry_hash);
		for (i = 0; i < nentries; i++)
		{
			Datum		v1[INDEX_MAX_KEYS];
			bool		n1[INDEX_MAX_KEYS];
			bool		fetched = false;
			int			k;

			if (entries[i].flags & XH_ENTRY_BUILD_DEAD ||
				(entries[i].flags & XH_ENTRY_HASNULL &&
				 !indexInfo->ii_NullsNotDistinct))
				continue;
			for (j = i + 1; j < nentries && entries[j].hash == entries[i].hash;
				 j++)
			{
				Datum		v2[INDEX_MAX_KEYS];
				bool		n2[INDEX_MAX_KEYS];

				if (entries[j].flags & XH_ENTRY_BUILD_DEAD)
					continue;
				oldCtx = MemoryContextSwitchTo(tmpCtx);
				if (!fetched)
				{
					if (!xh_keys_fetch(&kf, &entries[i].tid, SnapshotAny,
									   v1, n1))
						elog(ERROR, "could not fetch heap tuple (%u,%u) of index \"%s\"",
							 ItemPointerGetBlockNumber(&entries[i].tid),
							 ItemPointerGetOffsetNumber(&entries[i].tid),
							 RelationGetRelationName(index));
					for (k = 0; k < kf.nkeys; k++)
					{
						Form_pg_attribute att =
						TupleDescAttr(RelationGetDescr(index), k);

						if (!n1[k])
							v1[k] = datumCopy(v1[k], att->attbyval,
											  att->attlen);
					}
					fetched = true;
				}
				if (xh_keys_fetch(&kf, &entries[j].tid, SnapshotAny, v2, n2) &&
					xh_keys_equal(&kf, v1, n1, v2, n2,
								  indexInfo->ii_NullsNotDistinct))
				{
					char	   *key_desc;

					key_desc = BuildIndexValueDescription(index, v1, n1);
					ereport(ERROR,
							(errcode(ERRCODE_UNIQUE_VIOLATION),
							 errmsg("could not create unique index \"%s\"",
									RelationGetRelationName(index)),
							 key_desc ? errdetail("Key %s is duplicated.",
												  key_desc) :
							 errdetail("Duplicate keys exist."),
							 errtableconstraint(heap,
												RelationGetRelationName(index))));
				}
				MemoryContextSwitchTo(oldCtx);
			}
			MemoryContextReset(tmpCtx);
		}
		CHECK_FOR_INTERRUPTS();
	}
	xh_keys_end(&kf);
	/* the expression states lived in the executor state just freed */
	indexInfo->ii_ExpressionsState = NIL;
	if (entries)
		pfree(entries);
	MemoryContextDelete(tmpCtx);
}

/*
 * Reserve primary pages for buckets beyond meta->reserved: extend the
 * relation with zero pages and record a new extent in the (registered,
 * modifiable) metapage copy.  Returns false if the extent table is full.
 */
static bool
xh_reserve_buckets(Relation index, XhMetaPageData *meta)
{
	uint32		count = Max(16, meta->reserved / 16);
	BlockNumber first;
	PGAlignedBlock zero;
	bool		needLock = !RELATION_IS_LOCAL(index);

	if (meta->nextents >= XH_MAX_EXTENTS)
		return false;
	if (needLock)
		LockRelationForExtension(index, ExclusiveLock);
	first = RelationGetNumberOfBlocks(index);

	/*
	 * Write only the extent's last page (as core hash does): the file gets a
	 * hole that reads as zeros, so reserving costs one page however big the
	 * extent.  Extending is not WAL-logged, so log that page: replay then
	 * recreates the whole range, and a split after crash recovery never reads
	 * beyond the end of the file.  The page is marked free; the split that
	 * makes it a bucket logs a full image of it.
	 */
	xh_init_page(zero.data, XH_PAGE_FREE, 0);
	if (RelationNeedsWAL(index))
		log_newpage(&index->rd_node, MAIN_FORKNUM, first + count - 1,
					zero.data, true);
	PageSetChecksumInplace(zero.data, first + count - 1);
	smgrextend(RelationGetSmgr(index), MAIN_FORKNUM, first + count - 1,
			   zero.data, false);
	if (needLock)
		UnlockRelationForExtension(index, ExclusiveLock);

	meta->extents[meta->nextents].firstbucket = meta->reserved;
	meta->extents[meta->nextents].firstblock = first;
	meta->nextents++;
	meta->reserved += count;
	return true;
}

/*
 * Count a sample of inserts in the metapage and split one bucket if the
 * index is filled beyond its fillfactor.
 */
void
xh_maybe_split(Relation index)
{
	Buffer		metabuf;
	Buffer		oldbuf;
	Buffer		newbuf;
	GenericXLogState *state;
	XhMetaPageData *meta;
	XhMapping	newmap;
	uint32		newbucket,
				oldbucket;
	double		limit;
	BlockNumber *oldblocks = NULL;
	int			noldblocks = 0;
	XhEntry   **keep = NULL;
	int		   *nkeep = NULL;
	XhEntry    *moving = NULL;
	int			nmoving = 0,
				maxmoving = 0;
	BlockNumber blkno;
	int			npages,
				p,
				i;
	Buffer	   *newbufs;
	Page		page;

	metabuf = ReadBuffer(index, XHASH_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = xh_check_metapage(index, BufferGetPage(metabuf));

	state = GenericXLogStart(index);
	meta = XhPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	meta->ntuples += XH_COUNT_SAMPLE;
	GenericXLogFinish(state);

	limit = (double) XH_PAGE_CAPACITY * meta->fillfactor / 100.0 *
		((double) meta->maxbucket + 1);
	if ((double) meta->ntuples <= limit ||
		meta->maxbucket >= PG_UINT32_MAX / 2)
	{
		UnlockReleaseBuffer(metabuf);
		return;
	}

	/* The bucket to split and the new mapping */
	newbucket = meta->maxbucket + 1;
	newmap.maxbucket = newbucket;
	newmap.hashmask = xh_hashmask(meta->hashbits);
	{
		XhMetaPageData tmp;

		xh_set_maxbucket(&tmp, newbucket);
		newmap.highmask = tmp.highmask;
		newmap.lowmask = tmp.lowmask;
	}
	oldbucket = newbucket & newmap.lowmask;

	/* Never wait for scans: try again on a later insert instead */
	oldbuf = ReadBuffer(index, xh_bucket_block(meta, oldbucket));
	if (!ConditionalLockBufferForCleanup(oldbuf))
	{
		ReleaseBuffer(oldbuf);
		UnlockReleaseBuffer(metabuf);
		return;
	}

	/* Partition the old chain: entries staying (per page) and moving */
	blkno = BufferGetBlockNumber(oldbuf);
	while (blkno != InvalidBlockNumber)
	{
		Buffer		buf = (blkno == BufferGetBlockNumber(oldbuf)) ? oldbuf :
		ReadBuffer(index, blkno);
		XhEntry    *entries;
		int			n;

		if (buf != oldbuf)
			LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		n = PageIsNew(page) ? 0 : XhPageGetNEntries(page);
		entries = XhPageGetEntries(page);

		oldblocks = oldblocks ? repalloc(oldblocks, (noldblocks + 1) * sizeof(BlockNumber)) :
			palloc(sizeof(BlockNumber));
		keep = keep ? repalloc(keep, (noldblocks + 1) * sizeof(XhEntry *)) :
			palloc(sizeof(XhEntry *));
		nkeep = nkeep ? repalloc(nkeep, (noldblocks + 1) * sizeof(int)) :
			palloc(sizeof(int));
		oldblocks[noldblocks] = blkno;
		keep[noldblocks] = palloc(Max(n, 1) * sizeof(XhEntry));
		nkeep[noldblocks] = 0;
		for (i = 0; i < n; i++)
		{
			uint32		b = xh_hash_to_bucket(entries[i].hash, &newmap);

			if (b == oldbucket)
				keep[noldblocks][nkeep[noldblocks]++] = entries[i];
			else if (b == newbucket)
			{
				if (nmoving >= maxmoving)
				{
					maxmoving = Max(64, maxmoving * 2);
					moving = moving ? repalloc(moving, maxmoving * sizeof(XhEntry)) :
						palloc(maxmoving * sizeof(XhEntry));
				}
				moving[nmoving++] = entries[i];
			}
			/* else: a leftover of an earlier split, dropped */
		}
		noldblocks++;
		blkno = PageIsNew(page) ? InvalidBlockNumber :
			XhPageGetOpaque(page)->next;
		if (buf != oldbuf)
			UnlockReleaseBuffer(buf);
	}

	/* Write the new bucket's overflow pages first: unreachable until switch */
	state = GenericXLogStart(index);
	meta = XhPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	if (newbucket >= meta->reserved && !xh_reserve_buckets(index, meta))
	{
		GenericXLogAbort(state);
		UnlockReleaseBuffer(oldbuf);
		UnlockReleaseBuffer(metabuf);
		return;
	}
	newbuf = ReadBuffer(index, xh_bucket_block(meta, newbucket));
	LockBuffer(newbuf, BUFFER_LOCK_EXCLUSIVE);

	npages = Max(1, (nmoving + XH_PAGE_CAPACITY - 1) / XH_PAGE_CAPACITY);
	newbufs = palloc(npages * sizeof(Buffer));
	newbufs[0] = newbuf;
	for (p = 1; p < npages; p++)
	{
		bool		isnew;

		newbufs[p] = xh_new_overflow_buffer(index, &isnew);
	}
	for (p = npages - 1; p >= 1; p--)
	{
		GenericXLogState *ostate = GenericXLogStart(index);
		int			first = p * XH_PAGE_CAPACITY;

		page = GenericXLogRegisterBuffer(ostate, newbufs[p],
										 GENERIC_XLOG_FULL_IMAGE);
		xh_init_page(page, XH_PAGE_OVERFLOW, newbucket);
		xh_page_set_entries(page, moving + first,
							Min(XH_PAGE_CAPACITY, nmoving - first));
		if (p + 1 < npages)
			XhPageGetOpaque(page)->next = BufferGetBlockNumber(newbufs[p + 1]);
		GenericXLogFinish(ostate);
	}

	/* The switch: metapage, new primary and old primary in one record */
	xh_set_maxbucket(meta, newbucket);
	meta->nsplits++;
	page = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);
	xh_init_page(page, XH_PAGE_PRIMARY, newbucket);
	XhPageGetOpaque(page)->splitmax = newbucket;
	xh_page_set_entries(page, moving, Min(XH_PAGE_CAPACITY, nmoving));
	if (npages > 1)
	{
		XhPageGetOpaque(page)->next = BufferGetBlockNumber(newbufs[1]);
		XhPageGetOpaque(page)->tail = BufferGetBlockNumber(newbufs[npages - 1]);
	}
	page = GenericXLogRegisterBuffer(state, oldbuf, 0);
	if (PageIsNew(page))
		xh_init_page(page, XH_PAGE_PRIMARY, oldbucket);
	XhPageGetOpaque(page)->seq++;
	XhPageGetOpaque(page)->splitmax = newbucket;
	GenericXLogFinish(state);

	for (p = 0; p < npages; p++)
		UnlockReleaseBuffer(newbufs[p]);
	UnlockReleaseBuffer(metabuf);

	/*
	 * Rewrite the old chain with only the entries that stay, packed to its
	 * front; emptied overflow pages go to the FSM for the next split.
	 */
	{
		XhEntry    *stay;
		int			nstay = 0;

		for (p = 0; p < noldblocks; p++)
			nstay += nkeep[p];
		stay = palloc(Max(nstay, 1) * sizeof(XhEntry));
		nstay = 0;
		for (p = 0; p < noldblocks; p++)
		{
			memcpy(stay + nstay, keep[p], nkeep[p] * sizeof(XhEntry));
			nstay += nkeep[p];
		}
		xh_rewrite_bucket(index, oldbuf, oldblocks, noldblocks, stay, nstay);
	}
	UnlockReleaseBuffer(oldbuf);
}

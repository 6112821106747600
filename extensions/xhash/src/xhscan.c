/*-------------------------------------------------------------------------
 *
 * xhscan.c
 *		xhash index scans.
 *
 * A scan with an equality key on every key column is a lookup: hash the
 * keys, read the one bucket they map to, and collect the TIDs of entries
 * with that hash.  Any other scan (keys on only some columns; the planner
 * is discouraged from those by xhcostestimate) reads every bucket and
 * returns every entry whose hash maps to the bucket read.  Hash equality is
 * lossy, so every TID is returned with recheck.
 *
 * A bucket is read in one go: all matching TIDs are copied out before any
 * is returned.  A chain of more than one page is validated by re-checking
 * the primary page's seq (locking invariant 5 in xhash.h); on a change the
 * bucket is read again.  TIDs are sorted and de-duplicated.
 *
 * The primary page's pin is the VACUUM interlock: VACUUM needs a cleanup
 * lock on it to remove entries.  With an MVCC snapshot a recycled TID can
 * only point to a tuple the snapshot cannot see, so (as nbtree does) the
 * pin is dropped as soon as the bucket has been read; with any other
 * snapshot (exclusion checks use a dirty one, and always key every column)
 * a lookup keeps it until the scan ends or restarts.  A full scan cannot
 * pin every bucket; it is only ever a forced plan, and every TID it returns
 * is rechecked against the heap row.  Index-only scans are priced out of
 * reach in xhcostestimate, because with no pin held they would trust the
 * visibility map for a TID VACUUM may have recycled meanwhile.
 *
 * IDENTIFICATION
 *	  extensions/xhash/src/xhscan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "miscadmin.h"
#include "nodes/tidbitmap.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "xhash.h"

typedef struct XhScanOpaqueData
{
	bool		lookup;			/* equality keys on all key columns */
	bool		nomatch;		/* a key is NULL: nothing can match */
	uint64		hash;			/* lookup: combined, unmasked hash */
	bool		collected;		/* TIDs below are ready */
	ItemPointerData *tids;
	int			ntids;
	int			maxtids;
	int			next;			/* next TID to return */
	Buffer		pinned;			/* primary page kept pinned, or invalid */
	IndexTuple	nullitup;		/* for index-only scans needing no column */
} XhScanOpaqueData;

typedef XhScanOpaqueData *XhScanOpaque;

/*
 * ambeginscan
 */
IndexScanDesc
xhbeginscan(Relation r, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(r, nkeys, norderbys);
	XhScanOpaque so = palloc0(sizeof(XhScanOpaqueData));

	so->pinned = InvalidBuffer;
	so->maxtids = 16;
	so->tids = palloc(so->maxtids * sizeof(ItemPointerData));
	scan->opaque = so;
	return scan;
}

/*
 * Drop the pin kept for a non-MVCC scan.
 */
static void
xh_release_pin(XhScanOpaque so)
{
	if (BufferIsValid(so->pinned))
	{
		ReleaseBuffer(so->pinned);
		so->pinned = InvalidBuffer;
	}
}

/*
 * amrescan: decide between lookup and full scan, and hash the keys.
 */
void
xhrescan(IndexScanDesc scan, ScanKey scankey, int nscankeys,
		 ScanKey orderbys, int norderbys)
{
	XhScanOpaque so = (XhScanOpaque) scan->opaque;
	Relation	index = scan->indexRelation;
	int			nkeyatts = IndexRelationGetNumberOfKeyAttributes(index);
	uint64		colhash[INDEX_MAX_KEYS];
	bool		have[INDEX_MAX_KEYS];
	int			i;

	xh_release_pin(so);
	if (scankey && scan->numberOfKeys > 0)
		memmove(scan->keyData, scankey,
				scan->numberOfKeys * sizeof(ScanKeyData));

	so->collected = false;
	so->ntids = 0;
	so->next = 0;
	so->nomatch = false;
	so->lookup = false;
	memset(have, 0, sizeof(have));

	for (i = 0; i < scan->numberOfKeys; i++)
	{
		ScanKey		key = &scan->keyData[i];
		int			col = key->sk_attno - 1;
		FmgrInfo   *proc;
		FmgrInfo	crossproc;

		if (key->sk_flags & SK_ISNULL)
		{
			so->nomatch = true;
			return;
		}
		if (have[col])
			continue;			/* a second key on a column: recheck does it */

		if (key->sk_subtype == InvalidOid ||
			key->sk_subtype == index->rd_opcintype[col])
			proc = index_getprocinfo(index, col + 1, XHASH_EXTENDED_PROC);
		else
		{
			/* cross-type key, e.g. int8col = 42::int4: hash as its own type */
			Oid			procid = get_opfamily_proc(index->rd_opfamily[col],
												   key->sk_subtype,
												   key->sk_subtype,
												   XHASH_EXTENDED_PROC);

			if (!OidIsValid(procid))
				continue;		/* cannot hash it: this column is not keyed */
			fmgr_info(procid, &crossproc);
			proc = &crossproc;
		}
		colhash[col] = DatumGetUInt64(FunctionCall2Coll(proc,
														index->rd_indcollation[col],
														key->sk_argument,
														Int64GetDatum(0)));
		have[col] = true;
	}

	so->lookup = true;
	so->hash = 0;
	for (i = 0; i < nkeyatts; i++)
	{
		if (!have[i])
		{
			so->lookup = false;
			break;
		}
		so->hash = xh_combine(so->hash, colhash[i]);
	}
}

/*
 * Append a TID to the scan's array.
 */
static inline void
xh_add_tid(ItemPointerData **tids, int *ntids, int *maxtids,
		   ItemPointer tid)
{
	if (*ntids >= *maxtids)
	{
		*maxtids *= 2;
		*tids = repalloc_huge(*tids, *maxtids * sizeof(ItemPointerData));
	}
	(*tids)[(*ntids)++] = *tid;
}

/*
 * Collect the TIDs of one bucket.  "primary" is the bucket's primary page,
 * pinned and share-locked; it is returned pinned and unlocked.  With
 * match_hash, entries whose hash equals "hash" are collected, else those
 * that map to "bucket" under "map" (skipping leftovers of splits).
 *
 * Returns false, with *ntids restored, if the chain changed while it was
 * read (only possible on a standby): the caller must read it again.
 */
bool
xh_collect_bucket(Relation index, Buffer primary, uint32 bucket,
				  const XhMapping *map, bool match_hash, uint64 hash,
				  ItemPointerData **tids, int *ntids, int *maxtids)
{
	int			start = *ntids;
	Page		page = BufferGetPage(primary);
	Buffer		buf = primary;
	uint32		seq0;
	BlockNumber next;
	BlockNumber visited = 1;
	bool		broken = false;

	if (PageIsNew(page))
	{
		LockBuffer(primary, BUFFER_LOCK_UNLOCK);
		return true;			/* reserved bucket never written: empty */
	}
	seq0 = XhPageGetOpaque(page)->seq;

	for (;;)
	{
		XhEntry    *entries = XhPageGetEntries(page);
		int			n = XhPageGetNEntries(page);
		int			i;

		for (i = 0; i < n; i++)
		{
			if (match_hash ?
				(entries[i].hash == hash &&
				 !(entries[i].flags & XH_ENTRY_HASNULL)) :
				xh_hash_to_bucket(entries[i].hash, map) == bucket)
				xh_add_tid(tids, ntids, maxtids, &entries[i].tid);
		}
		next = XhPageGetOpaque(page)->next;
		if (buf == primary)
			LockBuffer(primary, BUFFER_LOCK_UNLOCK);
		else
			UnlockReleaseBuffer(buf);
		if (next == InvalidBlockNumber)
			break;
		/* a cycle can only come from a concurrent change (standby) */
		if (++visited > 1000 && visited > RelationGetNumberOfBlocks(index))
		{
			broken = true;
			break;
		}
		buf = ReadBuffer(index, next);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (PageIsNew(page) ||
			!(XhPageGetOpaque(page)->flags & XH_PAGE_OVERFLOW) ||
			XhPageGetOpaque(page)->bucket != bucket)
		{
			UnlockReleaseBuffer(buf);
			broken = true;		/* page recycled under us */
			break;
		}
	}

	if (visited > 1)
	{
		LockBuffer(primary, BUFFER_LOCK_SHARE);
		if (XhPageGetOpaque(BufferGetPage(primary))->seq != seq0)
			broken = true;
		LockBuffer(primary, BUFFER_LOCK_UNLOCK);
	}
	if (broken)
	{
		*ntids = start;
		return false;
	}
	return true;
}

/*
 * Collect every TID the scan returns.
 */
static void
xh_collect(IndexScanDesc scan)
{
	XhScanOpaque so = (XhScanOpaque) scan->opaque;
	Relation	index = scan->indexRelation;
	XhMapping	map;
	uint32		bucket;
	Buffer		primary;

	so->ntids = 0;
	so->next = 0;
	so->collected = true;
	if (so->nomatch)
		return;

	if (so->lookup)
	{
		for (;;)
		{
			uint64		hash = so->hash;

			CHECK_FOR_INTERRUPTS();
			primary = xh_lock_bucket(index, &hash, BUFFER_LOCK_SHARE, &map,
									 &bucket);
			if (xh_collect_bucket(index, primary, bucket, &map, true, hash,
								  &so->tids, &so->ntids, &so->maxtids))
				break;
			ReleaseBuffer(primary);
		}
		if (IsMVCCSnapshot(scan->xs_snapshot))
			ReleaseBuffer(primary);
		else
			so->pinned = primary;
	}
	else
	{
		/* every bucket; buckets created meanwhile are read too */
		for (bucket = 0;; bucket++)
		{
			Buffer		metabuf;
			XhMetaPageData *meta;

			CHECK_FOR_INTERRUPTS();
			metabuf = ReadBuffer(index, XHASH_METAPAGE_BLKNO);
			LockBuffer(metabuf, BUFFER_LOCK_SHARE);
			meta = xh_check_metapage(index, BufferGetPage(metabuf));
			if (bucket > meta->maxbucket)
			{
				UnlockReleaseBuffer(metabuf);
				break;
			}
			xh_get_mapping(meta, &map);
			primary = ReadBuffer(index, xh_bucket_block(meta, bucket));
			LockBuffer(primary, BUFFER_LOCK_SHARE);
			UnlockReleaseBuffer(metabuf);
			if (!xh_collect_bucket(index, primary, bucket, &map, false, 0,
								   &so->tids, &so->ntids, &so->maxtids))
				bucket--;		/* changed under us: read it again */
			ReleaseBuffer(primary);
		}
	}
	so->ntids = xh_dedup_tids(so->tids, so->ntids);
}

/*
 * amgettuple
 */
bool
xhgettuple(IndexScanDesc scan, ScanDirection dir)
{
	XhScanOpaque so = (XhScanOpaque) scan->opaque;

	if (!so->collected)
		xh_collect(scan);
	if (so->next >= so->ntids)
		return false;
	scan->xs_heaptid = so->tids[so->next++];
	scan->xs_recheck = true;

	/*
	 * No column can be returned (amcanreturn is NULL), but the planner can
	 * still build an index-only scan when the query needs no column at all,
	 * if every other plan is disabled too (see xhcostestimate).  Give it a
	 * tuple of NULLs rather than fail: nothing reads its values.
	 */
	if (scan->xs_want_itup)
	{
		if (so->nullitup == NULL)
		{
			TupleDesc	desc = RelationGetDescr(scan->indexRelation);
			Datum		values[INDEX_MAX_KEYS];
			bool		isnull[INDEX_MAX_KEYS];

			memset(isnull, true, sizeof(isnull));
			so->nullitup = index_form_tuple(desc, values, isnull);
		}
		scan->xs_itup = so->nullitup;
		scan->xs_itupdesc = RelationGetDescr(scan->indexRelation);
	}
	return true;
}

/*
 * amgetbitmap
 */
int64
xhgetbitmap(IndexScanDesc scan, TIDBitmap *tbm)
{
	XhScanOpaque so = (XhScanOpaque) scan->opaque;

	xh_collect(scan);
	if (so->ntids > 0)
		tbm_add_tuples(tbm, so->tids, so->ntids, true);
	return so->ntids;
}

/*
 * amendscan
 */
void
xhendscan(IndexScanDesc scan)
{
	XhScanOpaque so = (XhScanOpaque) scan->opaque;

	xh_release_pin(so);
	if (so->nullitup)
		pfree(so->nullitup);
	pfree(so->tids);
	pfree(so);
}

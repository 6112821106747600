/*-------------------------------------------------------------------------
 *
 * xhvacuum.c
 *		xhash VACUUM: remove dead entries, remove leftovers of interrupted
 *		splits, compact bucket chains and recycle emptied overflow pages.
 *
 * Each bucket is processed under a cleanup lock on its primary page
 * (locking invariant 3 in xhash.h), so no scan on this server is inside the
 * bucket and no writer can touch its chain.  The surviving entries are
 * packed towards the front of the chain and the pages left empty at its end
 * are marked free and handed to the index FSM, so a steady insert/delete
 * workload reuses space without REINDEX.  Every WAL record of a rewrite
 * includes the primary page and bumps its seq (invariant 5), which is what
 * keeps standby scans correct.
 *
 * Buckets are visited in increasing order until the current maxbucket: a
 * split only ever creates a higher-numbered bucket from a lower one, so an
 * entry copied by a concurrent split is always visited (possibly twice,
 * which is harmless for deletion).
 *
 * IDENTIFICATION
 *	  extensions/xhash/src/xhvacuum.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/freespace.h"
#include "storage/indexfsm.h"
#include "utils/rel.h"
#include "xhash.h"

static int	xh_cmp_entry(const void *a, const void *b);
static int	xh_cmp_entry_pos(const void *a, const void *b);
static XhEntry *xh_dedup_entries;

#define InvalidBucket	PG_UINT32_MAX

/*
 * Rewrite a bucket chain (blocks[0] is the primary page, locked for
 * cleanup by the caller) so that it holds exactly the given entries,
 * packed from the front.  Used by VACUUM and by splits.  Pages no longer needed are marked free and
 * recorded in the FSM.  Returns the number of pages freed.
 */
int
xh_rewrite_bucket(Relation index, Buffer primary, BlockNumber *blocks,
				  int nblocks, XhEntry *entries, int nentries)
{
	int			need = Max(1, (nentries + XH_PAGE_CAPACITY - 1) / XH_PAGE_CAPACITY);
	int			k = 1;
	int			nfreed = 0;
	bool		first = true;

	Assert(need <= nblocks);
	while (first || k < nblocks)
	{
		GenericXLogState *state = GenericXLogStart(index);
		Buffer		bufs[MAX_GENERIC_XLOG_PAGES - 1];
		int			nbufs = 0;
		Page		ppage;
		Page		page;
		int			j;

		ppage = GenericXLogRegisterBuffer(state, primary, 0);
		if (first)
		{
			xh_page_set_entries(ppage, entries,
								Min(nentries, XH_PAGE_CAPACITY));
			XhPageGetOpaque(ppage)->next =
				need > 1 ? blocks[1] : InvalidBlockNumber;
			if (need == 1)
				XhPageGetOpaque(ppage)->tail = InvalidBlockNumber;
			first = false;
		}
		XhPageGetOpaque(ppage)->seq++;

		for (; k < nblocks && nbufs < MAX_GENERIC_XLOG_PAGES - 1; k++)
		{
			Buffer		buf = ReadBuffer(index, blocks[k]);

			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			bufs[nbufs++] = buf;
			page = GenericXLogRegisterBuffer(state, buf, 0);
			if (k < need)
			{
				int			off = k * XH_PAGE_CAPACITY;

				xh_page_set_entries(page, entries + off,
									Min(nentries - off, XH_PAGE_CAPACITY));
				XhPageGetOpaque(page)->next =
					k + 1 < need ? blocks[k + 1] : InvalidBlockNumber;
				/* the chain's new end: "tail" changes in the same record */
				if (k + 1 == need)
					XhPageGetOpaque(ppage)->tail = blocks[k];
			}
			else
				xh_init_page(page, XH_PAGE_FREE, 0);
		}
		GenericXLogFinish(state);

		for (j = 0; j < nbufs; j++)
		{
			BlockNumber blkno = BufferGetBlockNumber(bufs[j]);
			bool		freed = XhPageGetOpaque(BufferGetPage(bufs[j]))->flags &
			XH_PAGE_FREE;

			UnlockReleaseBuffer(bufs[j]);
			if (freed)
			{
				/* make it findable now, not only after the next VACUUM */
				RecordFreeIndexPage(index, blkno);
				FreeSpaceMapVacuumRange(index, blkno, blkno + 1);
				nfreed++;
			}
		}
	}
	return nfreed;
}

/*
 * Vacuum one bucket whose primary page is cleanup-locked.  Returns the
 * number of entries kept.
 */
static int64
xh_vacuum_bucket(Relation index, Buffer primary, uint32 bucket,
				 const XhMapping *map, IndexBulkDeleteCallback callback,
				 void *callback_state, IndexBulkDeleteResult *stats,
				 uint8 *inchain, BlockNumber nvisible)
{
	BlockNumber *blocks;
	int			nblocks = 0,
				maxblocks = 8;
	XhEntry    *kept;
	int			nkept = 0,
				maxkept = XH_PAGE_CAPACITY;
	bool		changed = false;
	BlockNumber blkno = BufferGetBlockNumber(primary);
	Page		page = BufferGetPage(primary);

	if (PageIsNew(page))
		return 0;

	blocks = palloc(maxblocks * sizeof(BlockNumber));
	kept = palloc(maxkept * sizeof(XhEntry));
	while (blkno != InvalidBlockNumber)
	{
		Buffer		buf = blkno == BufferGetBlockNumber(primary) ? primary :
		ReadBuffer(index, blkno);
		XhEntry    *entries;
		int			n,
					i;

		if (buf != primary)
		{
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);

			/* never rewrite what is not this bucket's overflow page */
			if (blkno == XHASH_METAPAGE_BLKNO || PageIsNew(page) ||
				!(XhPageGetOpaque(page)->flags & XH_PAGE_OVERFLOW) ||
				XhPageGetOpaque(page)->bucket != bucket ||
				nblocks > (int) RelationGetNumberOfBlocks(index))
				ereport(ERROR,
						(errcode(ERRCODE_INDEX_CORRUPTED),
						 errmsg("index \"%s\" has an invalid page %u in the chain of bucket %u",
								RelationGetRelationName(index), blkno, bucket),
						 errhint("Rebuild the index with REINDEX.")));
		}
		page = BufferGetPage(buf);
		entries = XhPageGetEntries(page);
		n = XhPageGetNEntries(page);
		if (nblocks >= maxblocks)
		{
			maxblocks *= 2;
			blocks = repalloc(blocks, maxblocks * sizeof(BlockNumber));
		}
		blocks[nblocks++] = blkno;
		if (blkno < nvisible)
			inchain[blkno] = 1;
		for (i = 0; i < n; i++)
		{
			if (xh_hash_to_bucket(entries[i].hash, map) != bucket)
			{
				changed = true; /* leftover of an interrupted split */
				continue;
			}
			if (callback && callback(&entries[i].tid, callback_state))
			{
				changed = true;
				stats->tuples_removed += 1;
				continue;
			}
			if (nkept >= maxkept)
			{
				maxkept *= 2;
				kept = repalloc_huge(kept, maxkept * sizeof(XhEntry));
			}
			kept[nkept++] = entries[i];
		}
		/* an empty page that is not the last is also worth compacting */
		if (n == 0 && nblocks > 1)
			changed = true;
		blkno = XhPageGetOpaque(page)->next;
		if (buf != primary)
			UnlockReleaseBuffer(buf);
	}

	/*
	 * A crash in the middle of a multi-record rewrite can leave an entry
	 * twice in the chain: keep the first copy.  The survivors keep their
	 * chain order, so the rewrite below still only moves entries towards the
	 * front (invariant 5).
	 */
	if (nkept > 1)
	{
		int		   *order = palloc(nkept * sizeof(int));
		bool	   *drop = palloc0(nkept * sizeof(bool));
		int			i,
					n = 0;

		for (i = 0; i < nkept; i++)
			order[i] = i;
		xh_dedup_entries = kept;
		qsort(order, nkept, sizeof(int), xh_cmp_entry_pos);
		for (i = 1; i < nkept; i++)
		{
			if (xh_cmp_entry(&kept[order[i]], &kept[order[i - 1]]) == 0)
				drop[order[i]] = true;	/* a later copy: order[] is stable */
		}
		for (i = 0; i < nkept; i++)
		{
			if (!drop[i])
				kept[n++] = kept[i];
		}
		if (n < nkept)
		{
			nkept = n;
			changed = true;
		}
		pfree(order);
		pfree(drop);
	}

	if (changed)
	{
		int			nfreed = xh_rewrite_bucket(index, primary, blocks, nblocks,
											   kept, nkept);

		stats->pages_newly_deleted += nfreed;
		stats->pages_deleted += nfreed;
	}
	pfree(blocks);
	pfree(kept);
	return nkept;
}

/*
 * qsort comparator: entries by TID, then hash.
 */
static int
xh_cmp_entry(const void *a, const void *b)
{
	const XhEntry *ea = (const XhEntry *) a;
	const XhEntry *eb = (const XhEntry *) b;
	int			c = ItemPointerCompare((ItemPointer) &ea->tid,
									   (ItemPointer) &eb->tid);

	if (c != 0)
		return c;
	return ea->hash < eb->hash ? -1 : (ea->hash > eb->hash ? 1 : 0);
}

/*
 * qsort comparator on positions into xh_dedup_entries: by entry, then by
 * position, so that the first copy of an entry sorts first.
 */
static int
xh_cmp_entry_pos(const void *a, const void *b)
{
	int			pa = *(const int *) a;
	int			pb = *(const int *) b;
	int			c = xh_cmp_entry(&xh_dedup_entries[pa], &xh_dedup_entries[pb]);

	if (c != 0)
		return c;
	return pa < pb ? -1 : (pa > pb ? 1 : 0);
}

/*
 * Free overflow page blkno, which claims to belong to bucket owner, if it is
 * not part of that bucket's chain.  Called with the metapage share-locked,
 * so no split is in progress (a split's new pages are unreachable until its
 * switch).  The owner's primary page stays locked from the chain walk until
 * the page is freed: linking a page into a chain needs that lock
 * exclusively, so the page cannot join the chain between the two.  Returns
 * true if the page was freed.
 */
static bool
xh_free_if_orphan(Relation index, XhMetaPageData *meta, uint32 owner,
				  BlockNumber blkno, BlockNumber nblocks)
{
	Buffer		primary = InvalidBuffer;
	bool		found = false;
	bool		freed = false;
	Buffer		buf;
	Page		page;

	if (owner <= meta->maxbucket)
	{
		BlockNumber cur;
		BlockNumber steps = 0;

		primary = ReadBuffer(index, xh_bucket_block(meta, owner));
		LockBuffer(primary, BUFFER_LOCK_SHARE);
		cur = BufferGetBlockNumber(primary);
		while (cur != InvalidBlockNumber && !found && steps++ <= nblocks)
		{
			Buffer		cbuf = cur == BufferGetBlockNumber(primary) ? primary :
			ReadBuffer(index, cur);

			if (cbuf != primary)
				LockBuffer(cbuf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(cbuf);
			found = (cur == blkno);
			cur = PageIsNew(page) ? InvalidBlockNumber :
				XhPageGetOpaque(page)->next;
			if (cbuf != primary)
				UnlockReleaseBuffer(cbuf);
		}
		/* a cycle means damage that only REINDEX can mend: leave it */
		if (steps > nblocks)
			found = true;
	}

	if (!found)
	{
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		if (!PageIsNew(page) &&
			(XhPageGetOpaque(page)->flags & XH_PAGE_OVERFLOW) &&
			XhPageGetOpaque(page)->bucket == owner)
		{
			GenericXLogState *state = GenericXLogStart(index);

			page = GenericXLogRegisterBuffer(state, buf, 0);
			xh_init_page(page, XH_PAGE_FREE, 0);
			GenericXLogFinish(state);
			freed = true;
		}
		UnlockReleaseBuffer(buf);
	}
	if (BufferIsValid(primary))
		UnlockReleaseBuffer(primary);
	return freed;
}

/*
 * Reclaim pages that no bucket chain reaches: left by a crash between the
 * records of a split (new overflow pages written, switch not logged) or of
 * a chain rewrite (tail unlinked, not yet marked free), or never-used pages
 * of an extent reserved just before a crash.  inchain[] marks the pages the
 * bucket pass saw; a page it did not see may since have been linked into a
 * chain, so each candidate is confirmed against its bucket's chain with the
 * metapage share-locked, which keeps splits out.  Returns pages freed.
 */
static int
xh_reclaim_orphans(Relation index, uint8 *inchain, BlockNumber nvisible)
{
	Buffer		metabuf;
	XhMetaPageData *meta;
	uint8	   *reserved;
	BlockNumber blkno;
	uint32		b;
	int			nfreed = 0;

	/* primary pages reserved for future buckets are not orphans */
	reserved = palloc0(nvisible);
	metabuf = ReadBuffer(index, XHASH_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = xh_check_metapage(index, BufferGetPage(metabuf));
	for (b = meta->maxbucket + 1; b < meta->reserved; b++)
	{
		BlockNumber r = xh_bucket_block(meta, b);

		if (r < nvisible)
			reserved[r] = 1;
	}
	LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);

	for (blkno = XHASH_METAPAGE_BLKNO + 1; blkno < nvisible; blkno++)
	{
		Buffer		buf;
		Page		page;
		XhPageOpaque opaque;
		uint32		owner = InvalidBucket;
		bool		recycle = false;

		if (inchain[blkno] || reserved[blkno])
			continue;
		vacuum_delay_point();
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		opaque = PageIsNew(page) ? NULL : XhPageGetOpaque(page);
		if (opaque == NULL || (opaque->flags & XH_PAGE_FREE))
			recycle = true;		/* make sure the FSM knows it */
		else if (opaque->flags & XH_PAGE_OVERFLOW)
			owner = opaque->bucket;
		UnlockReleaseBuffer(buf);

		if (owner != InvalidBucket)
		{
			/* the metapage share lock keeps splits out while we decide */
			LockBuffer(metabuf, BUFFER_LOCK_SHARE);
			meta = xh_check_metapage(index, BufferGetPage(metabuf));
			if (xh_free_if_orphan(index, meta, owner, blkno, nvisible))
			{
				nfreed++;
				recycle = true;
			}
			LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
		}
		if (recycle)
			RecordFreeIndexPage(index, blkno);
	}
	ReleaseBuffer(metabuf);
	/* xhvacuumcleanup updates the FSM's upper levels */
	pfree(reserved);
	return nfreed;
}

/*
 * ambulkdelete: one pass over all buckets, then reclaim orphaned pages.
 */
IndexBulkDeleteResult *
xhbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			 IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	uint32		bucket;
	double		total = 0;
	Buffer		metabuf;
	GenericXLogState *state;
	XhMetaPageData *meta;
	uint8	   *inchain;
	BlockNumber nvisible;
	int			nfreed;

	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));

	/* pages allocated after this point are not candidates for reclaiming */
	nvisible = RelationGetNumberOfBlocks(index);
	inchain = palloc0(nvisible);
	inchain[XHASH_METAPAGE_BLKNO] = 1;

	for (bucket = 0;; bucket++)
	{
		XhMapping	map;
		Buffer		primary;

		vacuum_delay_point();
		metabuf = ReadBuffer(index, XHASH_METAPAGE_BLKNO);
		LockBuffer(metabuf, BUFFER_LOCK_SHARE);
		meta = xh_check_metapage(index, BufferGetPage(metabuf));
		if (bucket > meta->maxbucket)
		{
			UnlockReleaseBuffer(metabuf);
			break;
		}
		xh_get_mapping(meta, &map);
		primary = ReadBufferExtended(index, MAIN_FORKNUM,
									 xh_bucket_block(meta, bucket),
									 RBM_NORMAL, info->strategy);
		/* never wait for a bucket lock while holding the metapage */
		UnlockReleaseBuffer(metabuf);

		/*
		 * A split after we read the mapping only moves entries out of this
		 * bucket; the stale mapping then merely keeps them one pass longer.
		 */
		LockBufferForCleanup(primary);
		total += xh_vacuum_bucket(index, primary, bucket, &map, callback,
								  callback_state, stats, inchain, nvisible);
		UnlockReleaseBuffer(primary);
	}

	nfreed = xh_reclaim_orphans(index, inchain, nvisible);
	stats->pages_newly_deleted += nfreed;
	stats->pages_deleted += nfreed;
	pfree(inchain);

	/* the entry count is exact again */
	metabuf = ReadBuffer(index, XHASH_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	meta = XhPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	meta->ntuples = (uint64) total;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(metabuf);

	stats->num_index_tuples = total;
	stats->estimated_count = false;
	return stats;
}

/*
 * amvacuumcleanup: report statistics; recycle freed pages in the FSM.
 */
IndexBulkDeleteResult *
xhvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;

	if (info->analyze_only)
		return stats;

	if (stats == NULL)
	{
		/* no bulk-delete pass ran: use the metapage's estimate */
		Buffer		metabuf = ReadBuffer(index, XHASH_METAPAGE_BLKNO);
		XhMetaPageData *meta;

		LockBuffer(metabuf, BUFFER_LOCK_SHARE);
		meta = xh_check_metapage(index, BufferGetPage(metabuf));
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
		stats->num_index_tuples = (double) meta->ntuples;
		stats->estimated_count = true;
		UnlockReleaseBuffer(metabuf);
	}
	IndexFreeSpaceMapVacuum(index);
	stats->num_pages = RelationGetNumberOfBlocks(index);
	return stats;
}

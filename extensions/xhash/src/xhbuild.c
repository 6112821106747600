/*-------------------------------------------------------------------------
 *
 * xhbuild.c
 *		xhash index build.
 *
 * The build scans the heap once, computing each row's 64-bit hash into an
 * array of entries (spilled to a temporary file in chunks of
 * maintenance_work_mem).  Once the row count is known, the bucket count is
 * chosen so that buckets are filled to the fillfactor, each chunk is sorted
 * by bucket and appended to the bucket chains.  Pages are filled in shared
 * buffers without WAL and logged once at the end with log_newpage_range(),
 * which costs one full page image per page instead of one record per row.
 *
 * IDENTIFICATION
 *	  extensions/xhash/src/xhbuild.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/buffile.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "xhash.h"

/* Build sub-phases reported in pg_stat_progress_create_index */
#define XH_PHASE_SCAN			2
#define XH_PHASE_SORT			3
#define XH_PHASE_WRITE			4

typedef struct XhBuildState
{
	Relation	index;
	MemoryContext tmpCtx;		/* reset after each heap tuple */
	XhEntry    *entries;		/* current in-memory chunk */
	int64		nentries;		/* entries in the current chunk */
	int64		maxentries;		/* chunk capacity */
	int64		total;			/* entries seen */
	BufFile    *spill;			/* full chunks, or NULL */
	int			nchunks;		/* chunks written to spill */
} XhBuildState;

/* Mapping used by the sort comparator */
static XhMapping xh_sort_map;

/*
 * Expected number of pages of a bucket chain holding a Poisson(lambda)
 * number of entries (normal approximation, up to two pages).
 */
static double
xh_expected_pages(double lambda)
{
	double		over;

	if (lambda <= 0)
		return 1.0;
	over = 0.5 * erfc((XH_PAGE_CAPACITY + 0.5 - lambda) / sqrt(2.0 * lambda));
	return 1.0 + over;
}

/*
 * Number of buckets for a new index of ntuples entries.
 *
 * Linear hashing loads buckets uniformly only when their number is a power
 * of two (otherwise unsplit buckets hold twice as much as split ones), so
 * the build uses a power of two: the one with the fewest expected pages,
 * among those whose mean load is at most the fillfactor plus the slack the
 * page-count model shows is still cheaper than doubling (at most a full
 * page).  Inserts then split buckets one at a time as the load grows.
 */
uint32
xh_buckets_for(double ntuples, int fillfactor)
{
	double		target = XH_PAGE_CAPACITY * (fillfactor / 100.0);
	uint64		m = 1;
	uint64		best;

	while ((double) m * target < ntuples && m < PG_UINT32_MAX / 4)
		m <<= 1;
	best = m;
	/* half as many buckets, if they still fit in one page on average */
	if (m > 1 && ntuples / (m / 2) <= XH_PAGE_CAPACITY &&
		(m / 2) * xh_expected_pages(ntuples / (m / 2)) <
		m * xh_expected_pages(ntuples / m))
		best = m / 2;
	return (uint32) best;
}

/*
 * Names of the build sub-phases.
 */
char *
xhbuildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case XH_PHASE_SCAN:
			return "scanning table";
		case XH_PHASE_SORT:
			return "sorting entries into buckets";
		case XH_PHASE_WRITE:
			return "writing buckets";
		default:
			return NULL;
	}
}

/*
 * Write the current chunk to the spill file.
 */
static void
xh_spill_chunk(XhBuildState *bs)
{
	if (bs->spill == NULL)
		bs->spill = BufFileCreateTemp(false);
	BufFileWrite(bs->spill, bs->entries, bs->nentries * sizeof(XhEntry));
	bs->nchunks++;
	bs->nentries = 0;
}

/*
 * Per-tuple callback of table_index_build_scan.
 */
static void
xh_build_callback(Relation index, ItemPointer tid, Datum *values,
				  bool *isnull, bool tupleIsAlive, void *state)
{
	XhBuildState *bs = (XhBuildState *) state;
	MemoryContext oldCtx;
	XhEntry    *e;

	if (bs->nentries >= bs->maxentries)
		xh_spill_chunk(bs);

	oldCtx = MemoryContextSwitchTo(bs->tmpCtx);
	e = &bs->entries[bs->nentries];
	e->hash = xh_hash_values(index, values, isnull, &e->flags);
	e->tid = *tid;
	if (!tupleIsAlive)
		e->flags |= XH_ENTRY_BUILD_DEAD;
	MemoryContextSwitchTo(oldCtx);
	MemoryContextReset(bs->tmpCtx);

	bs->nentries++;
	bs->total++;
}

/*
 * Sort a chunk of entries by bucket with a counting sort (two linear
 * passes), using scratch space of the same size; the result is in scratch.
 */
static void
xh_sort_by_bucket(XhEntry *entries, XhEntry *scratch, int64 n,
				  uint32 nbuckets, uint32 *counts)
{
	int64		i;
	uint32		b;
	uint64		pos = 0;

	memset(counts, 0, sizeof(uint32) * (Size) nbuckets);
	for (i = 0; i < n; i++)
		counts[xh_hash_to_bucket(entries[i].hash, &xh_sort_map)]++;
	for (b = 0; b < nbuckets; b++)
	{
		uint32		c = counts[b];

		counts[b] = (uint32) pos;
		pos += c;
	}
	for (i = 0; i < n; i++)
		scratch[counts[xh_hash_to_bucket(entries[i].hash, &xh_sort_map)]++] =
			entries[i];
}

/*
 * Record a bucket's new last page in its primary page (block bucket + 1
 * during the build); "cur" is the buffer the caller holds locked.
 */
static void
xh_build_set_tail(Relation index, uint32 bucket, BlockNumber tail, Buffer cur)
{
	BlockNumber pblk = XHASH_METAPAGE_BLKNO + 1 + bucket;
	Buffer		pbuf;

	if (BufferGetBlockNumber(cur) == pblk)
	{
		XhPageGetOpaque(BufferGetPage(cur))->tail = tail;
		return;
	}
	pbuf = ReadBuffer(index, pblk);
	LockBuffer(pbuf, BUFFER_LOCK_EXCLUSIVE);
	XhPageGetOpaque(BufferGetPage(pbuf))->tail = tail;
	MarkBufferDirty(pbuf);
	UnlockReleaseBuffer(pbuf);
}

/*
 * Append a chunk of entries (already masked and sorted by bucket) to the
 * bucket chains.  lastblk[b] is the last page of bucket b's chain; *nblocks
 * the relation length, extended here for overflow pages.
 */
static void
xh_append_chunk(Relation index, XhEntry *entries, int64 n,
				BlockNumber *lastblk, BlockNumber *nblocks, int64 *done)
{
	int64		i = 0;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, XH_PHASE_WRITE);

	while (i < n)
	{
		uint32		bucket = xh_hash_to_bucket(entries[i].hash, &xh_sort_map);
		Buffer		buf = ReadBuffer(index, lastblk[bucket]);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		for (; i < n &&
			 xh_hash_to_bucket(entries[i].hash, &xh_sort_map) == bucket; i++)
		{
			if (!xh_page_add_entry(page, &entries[i]))
			{
				/* chain a new overflow page at the end of the relation */
				Buffer		nbuf = ReadBuffer(index, P_NEW);
				Page		npage;

				LockBuffer(nbuf, BUFFER_LOCK_EXCLUSIVE);
				Assert(BufferGetBlockNumber(nbuf) == *nblocks);
				(*nblocks)++;
				npage = BufferGetPage(nbuf);
				xh_init_page(npage, XH_PAGE_OVERFLOW, bucket);
				XhPageGetOpaque(page)->next = BufferGetBlockNumber(nbuf);
				lastblk[bucket] = BufferGetBlockNumber(nbuf);
				xh_build_set_tail(index, bucket, lastblk[bucket], buf);
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
				buf = nbuf;
				page = npage;
				if (!xh_page_add_entry(page, &entries[i]))
					elog(ERROR, "could not add entry to empty xhash page");
			}
			if ((++(*done) & 1023) == 0)
				pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
											 *done);
		}
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * ambuild: build a new xhash index.
 */
IndexBuildResult *
xhbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	XhBuildState bs;
	double		reltuples;
	uint32		nbuckets;
	BlockNumber nblocks;
	BlockNumber *lastblk;
	uint32	   *counts;
	XhEntry    *scratch;
	Buffer		metabuf;
	XhMetaPageData *meta;
	int64		done = 0;
	int64		i;
	int			c;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	/* Scan the heap, collecting entries */
	memset(&bs, 0, sizeof(bs));
	bs.index = index;
	bs.tmpCtx = AllocSetContextCreate(CurrentMemoryContext,
									  "xhash build temporary context",
									  ALLOCSET_DEFAULT_SIZES);
	/* half of maintenance_work_mem for entries, half for sorting them */
	bs.maxentries = Max((int64) maintenance_work_mem * 1024L / 2 /
						(int64) sizeof(XhEntry), 1024);
	bs.maxentries = Min(bs.maxentries,
						(int64) (MaxAllocHugeSize / sizeof(XhEntry)));
	bs.entries = MemoryContextAllocHuge(CurrentMemoryContext,
										bs.maxentries * sizeof(XhEntry));

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, XH_PHASE_SCAN);
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   xh_build_callback, (void *) &bs,
									   NULL);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, bs.total);

	/* Metapage and primary bucket pages */
	metabuf = ReadBuffer(index, P_NEW);
	Assert(BufferGetBlockNumber(metabuf) == XHASH_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	nbuckets = xh_buckets_for((double) bs.total,
							  index->rd_options ?
							  ((XhOptions *) index->rd_options)->fillfactor :
							  XH_DEFAULT_FILLFACTOR);
	xh_fill_metapage(index, BufferGetPage(metabuf), nbuckets);
	meta = XhPageGetMeta(BufferGetPage(metabuf));
	meta->ntuples = bs.total;
	xh_get_mapping(meta, &xh_sort_map);
	MarkBufferDirty(metabuf);

	lastblk = MemoryContextAllocHuge(CurrentMemoryContext,
									 sizeof(BlockNumber) * (Size) nbuckets);
	for (i = 0; i < nbuckets; i++)
	{
		Buffer		buf = ReadBuffer(index, P_NEW);

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		lastblk[i] = BufferGetBlockNumber(buf);
		Assert(lastblk[i] == xh_bucket_block(meta, i));
		xh_init_page(BufferGetPage(buf), XH_PAGE_PRIMARY, i);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	nblocks = nbuckets + 1;
	UnlockReleaseBuffer(metabuf);

	/* Mask the hashes (debug_hash_bits), then distribute chunk by chunk */
	counts = MemoryContextAllocHuge(CurrentMemoryContext,
									sizeof(uint32) * (Size) nbuckets);
	scratch = MemoryContextAllocHuge(CurrentMemoryContext,
									 Max(bs.nchunks > 0 ? bs.maxentries :
										 bs.nentries, 1) * sizeof(XhEntry));
	if (bs.spill != NULL)
	{
		if (bs.nentries > 0)
			xh_spill_chunk(&bs);
		if (BufFileSeek(bs.spill, 0, 0, SEEK_SET) != 0)
			elog(ERROR, "could not rewind xhash build spill file");
		for (c = 0; c < bs.nchunks; c++)
		{
			size_t		got;

			got = BufFileRead(bs.spill, bs.entries,
							  bs.maxentries * sizeof(XhEntry));
			bs.nentries = got / sizeof(XhEntry);
			for (i = 0; i < bs.nentries; i++)
				bs.entries[i].hash &= xh_sort_map.hashmask;
			pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
										 XH_PHASE_SORT);
			xh_sort_by_bucket(bs.entries, scratch, bs.nentries, nbuckets,
							  counts);
			xh_append_chunk(index, scratch, bs.nentries, lastblk,
							&nblocks, &done);
		}
		BufFileClose(bs.spill);
	}
	else
	{
		for (i = 0; i < bs.nentries; i++)
			bs.entries[i].hash &= xh_sort_map.hashmask;
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
									 XH_PHASE_SORT);
		xh_sort_by_bucket(bs.entries, scratch, bs.nentries, nbuckets, counts);
		xh_append_chunk(index, scratch, bs.nentries, lastblk, &nblocks,
						&done);
	}
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, done);

	if (indexInfo->ii_Unique)
		xh_build_check_unique(heap, index, indexInfo);

	/* One pass of full-page images instead of a record per row */
	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, nblocks, true);

	pfree(lastblk);
	pfree(counts);
	pfree(scratch);
	pfree(bs.entries);
	MemoryContextDelete(bs.tmpCtx);

	result = (IndexBuildResult *) palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = (double) bs.total;
	return result;
}

/*
 * ambuildempty: write the init fork of an unlogged index (metapage and one
 * empty bucket), WAL-logged so that it survives crashes and reaches standbys.
 */
void
xhbuildempty(Relation index)
{
	PGAlignedBlock meta;
	PGAlignedBlock bucket;
	SMgrRelation srel = RelationGetSmgr(index);

	xh_fill_metapage(index, meta.data, 1);
	xh_init_page(bucket.data, XH_PAGE_PRIMARY, 0);

	PageSetChecksumInplace(meta.data, XHASH_METAPAGE_BLKNO);
	smgrextend(srel, INIT_FORKNUM, XHASH_METAPAGE_BLKNO, meta.data, true);
	log_newpage(&srel->smgr_rnode.node, INIT_FORKNUM, XHASH_METAPAGE_BLKNO,
				meta.data, true);

	PageSetChecksumInplace(bucket.data, XHASH_METAPAGE_BLKNO + 1);
	smgrextend(srel, INIT_FORKNUM, XHASH_METAPAGE_BLKNO + 1, bucket.data,
			   true);
	log_newpage(&srel->smgr_rnode.node, INIT_FORKNUM,
				XHASH_METAPAGE_BLKNO + 1, bucket.data, true);

	/*
	 * The writes bypassed shared buffers, so a concurrent checkpoint may have
	 * moved the redo pointer past our WAL records: sync now.
	 */
	smgrimmedsync(srel, INIT_FORKNUM);
}

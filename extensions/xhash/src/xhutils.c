/*-------------------------------------------------------------------------
 *
 * xhutils.c
 *		xhash handler, reloptions, page and metapage helpers, hashing and
 *		bucket addressing.
 *
 * IDENTIFICATION
 *	  extensions/xhash/src/xhutils.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "commands/vacuum.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/rel.h"
#include "xhash.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(xhashhandler);

StaticAssertDecl(sizeof(XhEntry) == 16, "xhash entries must be 16 bytes");
StaticAssertDecl(MAXALIGN(SizeOfPageHeaderData) + sizeof(XhMetaPageData)
				 <= BLCKSZ - MAXALIGN(sizeof(XhPageOpaqueData)),
				 "xhash metapage does not fit in a page");

static relopt_kind xh_relopt_kind;
static relopt_parse_elt xh_relopt_tab[2];

/*
 * Module load: register the reloptions.
 */
void
_PG_init(void)
{
	xh_relopt_kind = add_reloption_kind();

	add_int_reloption(xh_relopt_kind, "fillfactor",
					  "Packs xhash buckets to this percentage before splitting",
					  XH_DEFAULT_FILLFACTOR, XH_MIN_FILLFACTOR, 100,
					  AccessExclusiveLock);
	xh_relopt_tab[0].optname = "fillfactor";
	xh_relopt_tab[0].opttype = RELOPT_TYPE_INT;
	xh_relopt_tab[0].offset = offsetof(XhOptions, fillfactor);

	add_int_reloption(xh_relopt_kind, "debug_hash_bits",
					  "Testing only: keep only this many low bits of each hash to force collisions",
					  64, 1, 64, AccessExclusiveLock);
	xh_relopt_tab[1].optname = "debug_hash_bits";
	xh_relopt_tab[1].opttype = RELOPT_TYPE_INT;
	xh_relopt_tab[1].offset = offsetof(XhOptions, debug_hash_bits);
}

/*
 * The access method handler: describes xhash's capabilities and callbacks.
 */
Datum
xhashhandler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = XHASH_NSTRATEGIES;
	amroutine->amsupport = XHASH_NPROC;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = false;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = true;
	amroutine->amcanmulticol = true;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = false;
	amroutine->amsearchnulls = false;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = true;
	amroutine->amparallelvacuumoptions =
		VACUUM_OPTION_PARALLEL_BULKDEL | VACUUM_OPTION_PARALLEL_COND_CLEANUP;
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = xhbuild;
	amroutine->ambuildempty = xhbuildempty;
	amroutine->aminsert = xhinsert;
	amroutine->ambulkdelete = xhbulkdelete;
	amroutine->amvacuumcleanup = xhvacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = xhcostestimate;
	amroutine->amoptions = xhoptions;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = xhbuildphasename;
	amroutine->amvalidate = xhvalidate;
	amroutine->amadjustmembers = NULL;
	amroutine->ambeginscan = xhbeginscan;
	amroutine->amrescan = xhrescan;
	amroutine->amgettuple = xhgettuple;
	amroutine->amgetbitmap = xhgetbitmap;
	amroutine->amendscan = xhendscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;

	PG_RETURN_POINTER(amroutine);
}

/*
 * Parse and validate reloptions.
 */
bytea *
xhoptions(Datum reloptions, bool validate)
{
	return (bytea *) build_reloptions(reloptions, validate, xh_relopt_kind,
									  sizeof(XhOptions), xh_relopt_tab,
									  lengthof(xh_relopt_tab));
}

/*
 * Initialize an xhash page (bucket or metapage layout).
 */
void
xh_init_page(Page page, uint16 flags, uint32 bucket)
{
	XhPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(XhPageOpaqueData));
	opaque = XhPageGetOpaque(page);
	opaque->next = InvalidBlockNumber;
	opaque->bucket = bucket;
	opaque->seq = 0;
	opaque->splitmax = 0;
	opaque->tail = InvalidBlockNumber;
	opaque->flags = flags;
	opaque->page_id = XH_PAGE_ID;
}

/*
 * Linear-hashing masks for a given highest bucket number.
 */
static void
xh_masks_for(uint32 maxbucket, uint32 *highmask, uint32 *lowmask)
{
	uint64		p = 1;

	while (p < (uint64) maxbucket + 1)
		p <<= 1;
	*highmask = (uint32) (p - 1);
	*lowmask = *highmask >> 1;
}

/*
 * Set a new maxbucket in the metapage, recomputing the masks.
 */
void
xh_set_maxbucket(XhMetaPageData *meta, uint32 maxbucket)
{
	meta->maxbucket = maxbucket;
	xh_masks_for(maxbucket, &meta->highmask, &meta->lowmask);
}

/*
 * Build the metapage of a new index with nbuckets primary bucket pages at
 * blocks 1 .. nbuckets.  Options are frozen here.
 */
void
xh_fill_metapage(Relation index, Page page, uint32 nbuckets)
{
	XhMetaPageData *meta;
	XhOptions  *opts = (XhOptions *) index->rd_options;

	Assert(nbuckets >= 1);
	xh_init_page(page, XH_PAGE_META, 0);
	meta = XhPageGetMeta(page);
	memset(meta, 0, sizeof(XhMetaPageData));
	meta->magic = XHASH_MAGIC;
	meta->version = XHASH_VERSION;
	meta->nkeys = IndexRelationGetNumberOfKeyAttributes(index);
	meta->fillfactor = opts ? opts->fillfactor : XH_DEFAULT_FILLFACTOR;
	meta->hashbits = opts ? opts->debug_hash_bits : 64;
	meta->nextents = 1;
	meta->extents[0].firstbucket = 0;
	meta->extents[0].firstblock = XHASH_METAPAGE_BLKNO + 1;
	meta->reserved = nbuckets;
	xh_set_maxbucket(meta, nbuckets - 1);
	((PageHeader) page)->pd_lower =
		((char *) meta + sizeof(XhMetaPageData)) - (char *) page;
}

/*
 * Check that a page is a valid xhash metapage and return its contents.
 */
XhMetaPageData *
xh_check_metapage(Relation index, Page page)
{
	XhMetaPageData *meta = XhPageGetMeta(page);

	if (PageIsNew(page) ||
		!(XhPageGetOpaque(page)->flags & XH_PAGE_META) ||
		meta->magic != XHASH_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not a valid xhash index",
						RelationGetRelationName(index)),
				 errdetail("The metapage is missing or damaged."),
				 errhint("Rebuild the index with REINDEX.")));
	if (meta->version != XHASH_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has xhash on-disk version %u, expected %u",
						RelationGetRelationName(index), meta->version,
						XHASH_VERSION),
				 errhint("Rebuild the index with REINDEX.")));
	return meta;
}

/*
 * Mask keeping the low hashbits bits of a hash.
 */
uint64
xh_hashmask(int hashbits)
{
	if (hashbits >= 64)
		return PG_UINT64_MAX;
	return (UINT64CONST(1) << hashbits) - 1;
}

/*
 * Copy what is needed to map hashes to buckets out of the metapage.
 */
void
xh_get_mapping(XhMetaPageData *meta, XhMapping *map)
{
	map->maxbucket = meta->maxbucket;
	map->highmask = meta->highmask;
	map->lowmask = meta->lowmask;
	map->hashmask = xh_hashmask(meta->hashbits);
}

/*
 * Block number of a bucket's primary page: binary search of the extents.
 */
BlockNumber
xh_bucket_block(XhMetaPageData *meta, uint32 bucket)
{
	int			lo = 0,
				hi = meta->nextents - 1;

	Assert(bucket < meta->reserved);
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (meta->extents[mid].firstbucket <= bucket)
			lo = mid;
		else
			hi = mid - 1;
	}
	return meta->extents[lo].firstblock +
		(bucket - meta->extents[lo].firstbucket);
}

/*
 * Combine one column's hash into the running row hash.
 */
uint64
xh_combine(uint64 acc, uint64 colhash)
{
	return hash_combine64(acc, colhash);
}

/*
 * Hash the key columns of one row.  Sets *flags to XH_ENTRY_HASNULL if any
 * key column is NULL.  The result is not yet masked by debug_hash_bits.
 */
uint64
xh_hash_values(Relation index, Datum *values, bool *isnull, uint16 *flags)
{
	int			nkeys = IndexRelationGetNumberOfKeyAttributes(index);
	uint64		h = 0;
	int			i;

	*flags = 0;
	for (i = 0; i < nkeys; i++)
	{
		uint64		colhash;

		if (isnull[i])
		{
			colhash = XH_NULL_HASH;
			*flags |= XH_ENTRY_HASNULL;
		}
		else
		{
			FmgrInfo   *proc = index_getprocinfo(index, i + 1,
												 XHASH_EXTENDED_PROC);

			colhash = DatumGetUInt64(FunctionCall2Coll(proc,
													   index->rd_indcollation[i],
													   values[i],
													   Int64GetDatum(0)));
		}
		h = xh_combine(h, colhash);
	}
	return h;
}

/*
 * Get an exclusively locked buffer for a new overflow page: a page recycled
 * through the FSM if one is free, else a new page at the end of the
 * relation.  *isnew tells the caller to log a full page image.
 */
Buffer
xh_new_overflow_buffer(Relation index, bool *isnew)
{
	Buffer		buffer;
	bool		needLock;

	for (;;)
	{
		BlockNumber blkno = GetFreeIndexPage(index);
		Page		page;

		if (blkno == InvalidBlockNumber)
			break;
		buffer = ReadBuffer(index, blkno);

		/*
		 * Never wait here: the FSM can be stale, and the page may belong to a
		 * bucket whose writer is waiting for us.
		 */
		if (ConditionalLockBuffer(buffer))
		{
			page = BufferGetPage(buffer);
			if (PageIsNew(page) ||
				(XhPageGetOpaque(page)->flags & XH_PAGE_FREE))
			{
				*isnew = true;
				return buffer;
			}
			LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
		}
		ReleaseBuffer(buffer);
	}

	needLock = !RELATION_IS_LOCAL(index);
	if (needLock)
		LockRelationForExtension(index, ExclusiveLock);
	buffer = ReadBuffer(index, P_NEW);
	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	if (needLock)
		UnlockRelationForExtension(index, ExclusiveLock);
	*isnew = true;
	return buffer;
}

/*
 * Append an entry to a bucket page; false if the page is full.
 */
bool
xh_page_add_entry(Page page, const XhEntry *entry)
{
	int			n = XhPageGetNEntries(page);

	if (n >= XH_PAGE_CAPACITY)
		return false;
	XhPageGetEntries(page)[n] = *entry;
	((PageHeader) page)->pd_lower += sizeof(XhEntry);
	return true;
}

/*
 * Replace the entries of a bucket page.
 */
void
xh_page_set_entries(Page page, const XhEntry *entries, int n)
{
	Assert(n >= 0 && n <= XH_PAGE_CAPACITY);
	if (n > 0)
		memcpy(XhPageGetEntries(page), entries, n * sizeof(XhEntry));
	((PageHeader) page)->pd_lower =
		MAXALIGN(SizeOfPageHeaderData) + n * sizeof(XhEntry);
}

/*
 * The metapage copy cached in rd_amcache, read again if refresh or absent.
 * Relcache invalidation (REINDEX, TRUNCATE, ...) drops it.
 */
static XhMetaPageData *
xh_cached_meta(Relation index, bool refresh)
{
	if (index->rd_amcache == NULL || refresh)
	{
		Buffer		metabuf = ReadBuffer(index, XHASH_METAPAGE_BLKNO);
		XhMetaPageData *meta;

		LockBuffer(metabuf, BUFFER_LOCK_SHARE);
		meta = xh_check_metapage(index, BufferGetPage(metabuf));
		if (index->rd_amcache == NULL)
			index->rd_amcache = MemoryContextAlloc(index->rd_indexcxt,
												   sizeof(XhMetaPageData));
		memcpy(index->rd_amcache, meta, sizeof(XhMetaPageData));
		UnlockReleaseBuffer(metabuf);
	}
	return (XhMetaPageData *) index->rd_amcache;
}

/*
 * Find and lock the primary page of the bucket a hash maps to.
 *
 * *hash is masked with the index's debug_hash_bits in place.  The mapping
 * comes from the cached metapage and is validated against the bucket page
 * (locking invariant 2 in xhash.h); *map returns it.  Returns the pinned
 * and locked primary buffer.
 */
Buffer
xh_lock_bucket(Relation index, uint64 *hash, int lockmode,
			   XhMapping *map, uint32 *bucket)
{
	bool		refresh = false;
	uint64		fullhash = *hash;
	int			attempts = 0;

	for (;;)
	{
		XhMetaPageData *meta = xh_cached_meta(index, refresh);
		Buffer		buf;
		Page		page;
		XhPageOpaque opaque;
		bool		isprimary;

		xh_get_mapping(meta, map);
		*hash = fullhash & map->hashmask;
		*bucket = xh_hash_to_bucket(*hash, map);
		buf = ReadBuffer(index, xh_bucket_block(meta, *bucket));
		LockBuffer(buf, lockmode);
		page = BufferGetPage(buf);
		isprimary = false;
		if (!PageIsNew(page))
		{
			opaque = XhPageGetOpaque(page);
			isprimary = (opaque->flags & XH_PAGE_PRIMARY) &&
				opaque->bucket == *bucket;
			if (isprimary && opaque->splitmax <= map->maxbucket)
				return buf;
		}

		/*
		 * The bucket split since the copy was taken: refresh and retry.  A
		 * page that is not this bucket's primary page at all, or a split
		 * stamp that a fresh metapage cannot explain, is damage.
		 */
		UnlockReleaseBuffer(buf);
		if (refresh && (!isprimary || ++attempts > 100))
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has an invalid primary page for bucket %u",
							RelationGetRelationName(index), *bucket),
					 errhint("Rebuild the index with REINDEX.")));
		refresh = true;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * qsort comparator for heap TIDs.
 */
int
xh_cmp_tid(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/*
 * Sort an array of TIDs and remove duplicates; returns the new length.
 */
int
xh_dedup_tids(ItemPointerData *tids, int n)
{
	int			i,
				j;

	if (n <= 1)
		return n;
	qsort(tids, n, sizeof(ItemPointerData), xh_cmp_tid);
	for (i = 1, j = 1; i < n; i++)
	{
		if (!ItemPointerEquals(&tids[i], &tids[j - 1]))
			tids[j++] = tids[i];
	}
	return j;
}

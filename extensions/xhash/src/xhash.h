/*-------------------------------------------------------------------------
 *
 * xhash.h
 *		Definitions for xhash, a compact hash index access method with
 *		UNIQUE and multi-column support.
 *
 * STORAGE
 *
 * Block 0 is the metapage.  Every other page is a bucket page: a primary
 * bucket page or an overflow page chained after it, or a free page waiting
 * in the index FSM.  A bucket page holds an array of fixed-size 16-byte
 * entries {64-bit hash, heap TID, flags} packed after the page header, with
 * no line pointers (as contrib/bloom does).  pd_lower always marks the end
 * of the entry array, so the number of entries is derived from it and
 * Generic WAL never has to log the unused middle of a page.
 *
 * The hash of a row is the combination (hash_combine64) of each key
 * column's extended hash (support function 2, seed 0, called with the
 * column's collation); a NULL column contributes a constant and sets
 * XH_ENTRY_HASNULL.  Every heap row is indexed, NULLs included, so that a
 * scan with keys on only some columns can still answer by reading the
 * whole index.
 *
 * Buckets are addressed by linear hashing on the low bits of the hash
 * (maxbucket, highmask, lowmask, as core hash).  Primary bucket pages sit in
 * contiguous "extents" recorded in the metapage: bucket b lives at
 * extents[i].firstblock + (b - extents[i].firstbucket).  An extent is
 * reserved (relation extended with zero pages) when a split first needs a
 * bucket beyond the reserved ones; extents grow geometrically (1/16 of the
 * bucket count) so at most ~6% of primary pages are reserved but unused.
 * A primary page that is still all-zero is an empty bucket.
 *
 * LOCKING INVARIANTS
 *
 * 1. The exclusive content lock on a bucket's primary page is the bucket's
 *	  write lock: every change to any page of a bucket chain (insert,
 *	  overflow page linking, split, vacuum) is made while holding it.
 *	  Overflow pages are additionally locked while they are read or written.
 * 2. Lock order is metapage before bucket pages.  Nobody requests the
 *	  metapage lock while holding a bucket page lock.  Readers and inserters
 *	  do not lock the metapage at all: they map the key with a copy of it
 *	  cached in rd_amcache, lock the primary page, and check its splitmax.
 *	  A key's bucket changes only when that bucket splits, and a split sets
 *	  splitmax on both primary pages to the new maxbucket; so if splitmax is
 *	  not above the cached maxbucket, the cached mapping is still right for
 *	  this key, and holding the primary page keeps it right (a split needs a
 *	  cleanup lock on it).  Otherwise the copy is refreshed and the lookup
 *	  retried.
 * 3. Entries are removed, or moved from one page to another, only under a
 *	  cleanup lock on the primary page (no other backend holds a pin on it):
 *	  VACUUM waits for one, a split only ever takes it conditionally.  Hence
 *	  on the primary server a scan that holds the primary page pinned never
 *	  sees a bucket change under it except by appended entries.
 * 4. A split never exposes a half-split state: the new bucket's overflow
 *	  pages are written first (unreachable), then one WAL record switches
 *	  metapage, new primary page and old primary page together.  Afterwards
 *	  the old bucket's chain is rewritten without the moved entries, packed
 *	  (as VACUUM does, invariant 5); until then the moved entries left in
 *	  it are harmless, as nobody who computes a bucket after the switch
 *	  looks for them there.
 * 5. Standbys replay Generic WAL without cleanup locks, so scans must
 *	  protect themselves: every WAL record that moves entries between pages
 *	  of a chain, or that removes entries a scan that started earlier might
 *	  still need (the split switch), includes the primary page and bumps its
 *	  "seq" counter.  A scan that read more than one page re-checks seq at the
 *	  end and starts over if it changed; collected TIDs are de-duplicated, so
 *	  a state between two records of one vacuum pass (entries only ever move
 *	  towards the front of a chain) is never wrong.
 * 6. Every page of a chain but the last is full: inserts append to the
 *	  page the primary page's "tail" names (or to the primary page itself),
 *	  and every rewrite packs the chain.  A rewrite updates "tail" in the
 *	  same record that cuts the chain at its new end, so at every WAL record
 *	  boundary "tail" names the page that ends the chain.
 * 7. Dead entries are removed only by VACUUM (ambulkdelete, which also
 *	  removes leftovers of splits and compacts chains).  Generic WAL carries
 *	  no recovery-conflict horizon, so removing entries opportunistically
 *	  would be unsafe on standbys.
 *
 * WAL
 *
 * Generic WAL (like contrib/bloom) rather than a custom resource manager:
 * PostgreSQL 15 extensions can register custom rmgrs, but that needs an ID
 * reserved with the community and the library preloaded on every standby
 * before it can replay anything; Generic WAL needs neither and our records
 * are small deltas of pages whose unused middle is never logged.  The build
 * writes pages in shared buffers and logs them once with
 * log_newpage_range(), as GIN and GiST do.
 *
 * IDENTIFICATION
 *	  extensions/xhash/src/xhash.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef XHASH_H
#define XHASH_H

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/itup.h"
#include "access/relscan.h"
#include "access/xlog.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "storage/bufmgr.h"
#include "utils/relcache.h"

/* Support procedures (numbering as core hash) */
#define XHASH_STANDARD_PROC		1	/* 32-bit hash, optional, unused */
#define XHASH_EXTENDED_PROC		2	/* 64-bit hash with seed, required */
#define XHASH_NPROC				2

/* Only one strategy: equality */
#define XHASH_EQUAL_STRATEGY	1
#define XHASH_NSTRATEGIES		1

#define XHASH_METAPAGE_BLKNO	0
#define XHASH_MAGIC				0x78486173	/* "xHas" */
#define XHASH_VERSION			1

/* Page flags (XhPageOpaque->flags) */
#define XH_PAGE_META			(1 << 0)
#define XH_PAGE_PRIMARY			(1 << 1)
#define XH_PAGE_OVERFLOW		(1 << 2)
#define XH_PAGE_FREE			(1 << 3)

#define XH_PAGE_ID				0xFF8B

typedef struct XhPageOpaqueData
{
	BlockNumber next;			/* next page of the bucket chain */
	uint32		bucket;			/* bucket this page belongs to */
	uint32		seq;			/* primary page: bumped when entries move */
	uint32		splitmax;		/* primary page: maxbucket right after the
								 * last split this bucket took part in */
	BlockNumber tail;			/* primary page: last overflow page of the
								 * chain, or InvalidBlockNumber */
	uint16		flags;
	uint16		page_id;		/* XH_PAGE_ID, for page inspection tools */
} XhPageOpaqueData;

typedef XhPageOpaqueData *XhPageOpaque;

/* One index entry */
typedef struct XhEntry
{
	uint64		hash;
	ItemPointerData tid;
	uint16		flags;
} XhEntry;

#define XH_ENTRY_HASNULL		0x0001	/* some key column is NULL */
#define XH_ENTRY_BUILD_DEAD		0x0002	/* row was not alive when the index
										 * was built; only used by the build's
										 * uniqueness check */

#define XH_NULL_HASH			UINT64CONST(0x9E3779B97F4A7C15)

#define XhPageGetOpaque(page) ((XhPageOpaque) PageGetSpecialPointer(page))
#define XhPageGetEntries(page) ((XhEntry *) PageGetContents(page))
#define XhPageGetNEntries(page) \
	((int) ((((PageHeader) (page))->pd_lower - MAXALIGN(SizeOfPageHeaderData)) \
			/ sizeof(XhEntry)))
#define XH_PAGE_CAPACITY \
	((int) ((BLCKSZ - MAXALIGN(SizeOfPageHeaderData) \
			 - MAXALIGN(sizeof(XhPageOpaqueData))) / sizeof(XhEntry)))

/*
 * A contiguous run of primary bucket pages.  Its length is the next
 * extent's firstbucket minus its own, or for the last extent
 * XhMetaPageData->reserved minus its firstbucket.
 */
typedef struct XhExtent
{
	uint32		firstbucket;
	BlockNumber firstblock;
} XhExtent;

#define XH_MAX_EXTENTS			480

typedef struct XhMetaPageData
{
	uint32		magic;
	uint32		version;
	uint16		nkeys;			/* key columns */
	uint16		fillfactor;		/* frozen at build */
	uint16		hashbits;		/* frozen at build; < 64 only in tests */
	uint16		nextents;
	uint32		maxbucket;		/* highest bucket in use */
	uint32		highmask;
	uint32		lowmask;
	uint32		reserved;		/* buckets [0, reserved) have a page */
	uint64		ntuples;		/* approximate number of entries */
	uint64		nsplits;		/* splits since build */
	XhExtent	extents[XH_MAX_EXTENTS];
} XhMetaPageData;

#define XhPageGetMeta(page) ((XhMetaPageData *) PageGetContents(page))

/* Reloptions */
typedef struct XhOptions
{
	int32		vl_len_;
	int			fillfactor;
	int			debug_hash_bits;
} XhOptions;

#define XH_DEFAULT_FILLFACTOR	90
#define XH_MIN_FILLFACTOR		10

/*
 * Inserts count themselves into the metapage only with probability
 * 1/XH_COUNT_SAMPLE (adding XH_COUNT_SAMPLE), so the metapage is not a
 * write hot spot; the count is an unbiased estimate, exact again after
 * each VACUUM.
 */
#define XH_COUNT_SAMPLE			16

/* Metapage snapshot used to map a hash to a bucket */
typedef struct XhMapping
{
	uint32		maxbucket;
	uint32		highmask;
	uint32		lowmask;
	uint64		hashmask;
} XhMapping;

/* xhutils.c */
extern void _PG_init(void);
extern Datum xhashhandler(PG_FUNCTION_ARGS);
extern bytea *xhoptions(Datum reloptions, bool validate);
extern void xh_init_page(Page page, uint16 flags, uint32 bucket);
extern void xh_fill_metapage(Relation index, Page page, uint32 nbuckets);
extern void xh_set_maxbucket(XhMetaPageData *meta, uint32 maxbucket);
extern XhMetaPageData *xh_check_metapage(Relation index, Page page);
extern void xh_get_mapping(XhMetaPageData *meta, XhMapping *map);
extern uint64 xh_hashmask(int hashbits);
extern BlockNumber xh_bucket_block(XhMetaPageData *meta, uint32 bucket);
extern uint64 xh_hash_values(Relation index, Datum *values, bool *isnull,
							 uint16 *flags);
extern uint64 xh_combine(uint64 acc, uint64 colhash);

static inline uint32
xh_hash_to_bucket(uint64 hash, const XhMapping *map)
{
	uint32		b = (uint32) hash & map->highmask;

	if (b > map->maxbucket)
		b &= map->lowmask;
	return b;
}

extern Buffer xh_new_overflow_buffer(Relation index, bool *isnew);
extern bool xh_page_add_entry(Page page, const XhEntry *entry);
extern void xh_page_set_entries(Page page, const XhEntry *entries, int n);
extern Buffer xh_lock_bucket(Relation index, uint64 *hash, int lockmode,
							 XhMapping *map, uint32 *bucket);
extern int	xh_cmp_tid(const void *a, const void *b);
extern int	xh_dedup_tids(ItemPointerData *tids, int n);

/* xhbuild.c */
extern IndexBuildResult *xhbuild(Relation heap, Relation index,
								 IndexInfo *indexInfo);
extern void xhbuildempty(Relation index);
extern char *xhbuildphasename(int64 phasenum);
extern uint32 xh_buckets_for(double ntuples, int fillfactor);

/* xhinsert.c */
extern bool xhinsert(Relation index, Datum *values, bool *isnull,
					 ItemPointer ht_ctid, Relation heapRel,
					 IndexUniqueCheck checkUnique, bool indexUnchanged,
					 IndexInfo *indexInfo);
extern void xh_maybe_split(Relation index);
extern void xh_build_check_unique(Relation heap, Relation index,
								  IndexInfo *indexInfo);

/*
 * Fetches heap tuples behind index entries and recomputes their key values,
 * to confirm that equal hashes are equal keys.
 */
typedef struct XhKeyFetcher
{
	Relation	heap;
	Relation	index;
	IndexInfo  *indexInfo;
	int			nkeys;
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
	EState	   *estate;			/* only for expression indexes */
	FmgrInfo	eqfn[INDEX_MAX_KEYS];
} XhKeyFetcher;

extern void xh_keys_init(XhKeyFetcher *kf, Relation heap, Relation index,
						 IndexInfo *indexInfo);
extern void xh_keys_begin(XhKeyFetcher *kf);
extern void xh_keys_finish(XhKeyFetcher *kf);
extern void xh_keys_end(XhKeyFetcher *kf);
extern bool xh_keys_fetch(XhKeyFetcher *kf, ItemPointer tid,
						  Snapshot snapshot, Datum *values, bool *isnull);
extern bool xh_keys_equal(XhKeyFetcher *kf, Datum *a, bool *anull,
						  Datum *b, bool *bnull, bool nulls_not_distinct);

/* xhscan.c */
extern IndexScanDesc xhbeginscan(Relation r, int nkeys, int norderbys);
extern void xhrescan(IndexScanDesc scan, ScanKey scankey, int nscankeys,
					 ScanKey orderbys, int norderbys);
extern bool xhgettuple(IndexScanDesc scan, ScanDirection dir);
extern int64 xhgetbitmap(IndexScanDesc scan, TIDBitmap *tbm);
extern void xhendscan(IndexScanDesc scan);
extern bool xh_collect_bucket(Relation index, Buffer primary, uint32 bucket,
							  const XhMapping *map, bool match_hash,
							  uint64 hash, ItemPointerData **tids,
							  int *ntids, int *maxtids);

/* xhvacuum.c */
extern IndexBulkDeleteResult *xhbulkdelete(IndexVacuumInfo *info,
										   IndexBulkDeleteResult *stats,
										   IndexBulkDeleteCallback callback,
										   void *callback_state);
extern IndexBulkDeleteResult *xhvacuumcleanup(IndexVacuumInfo *info,
											  IndexBulkDeleteResult *stats);
extern int	xh_rewrite_bucket(Relation index, Buffer primary,
							  BlockNumber *blocks, int nblocks,
							  XhEntry *entries, int nentries);

/* xhcost.c */
extern void xhcostestimate(PlannerInfo *root, IndexPath *path,
						   double loop_count, Cost *indexStartupCost,
						   Cost *indexTotalCost,
						   Selectivity *indexSelectivity,
						   double *indexCorrelation, double *indexPages);

/* xhvalidate.c */
extern bool xhvalidate(Oid opclassoid);

#endif							/* XHASH_H */

/*-------------------------------------------------------------------------
 *
 * xhfuncs.c
 *		SQL-callable diagnostics: xhash_verify() and xhash_stats().
 *
 * xhash_verify checks the structure (metapage, extents, every bucket chain:
 * page flags, owner bucket, acyclic, entry counts, masked hashes,
 * unreachable pages) and that every heap row the index should cover has
 * an entry with the right hash (heapallindexed, as amcheck).  It takes a
 * ShareLock on the table (writes wait, reads do not) so the comparison is
 * exact.  xhash_stats reads under AccessShareLock and reports sizes and
 * fill.  Both require owning the table or pg_stat_scan_tables membership.
 *
 * IDENTIFICATION
 *	  extensions/xhash/src/xhfuncs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
#include "xhash.h"

PG_FUNCTION_INFO_V1(xhash_verify);
PG_FUNCTION_INFO_V1(xhash_stats);

/*
 * Open an xhash index and its table for a diagnostic function, checking
 * what it is and who asks.  The table is locked first (as everywhere else)
 * to avoid deadlocks.
 */
static Relation
xh_open_for_check(Oid indexoid, LOCKMODE heaplock, Relation *heap)
{
	Oid			heapoid;
	Relation	index;
	HeapTuple	tp;

	heapoid = IndexGetRelation(indexoid, true);
	if (!OidIsValid(heapoid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an xhash index",
						get_rel_name(indexoid) ? get_rel_name(indexoid) :
						"(unknown relation)"),
				 errhint("Pass the name of an index created with USING xhash.")));
	*heap = table_open(heapoid, heaplock);
	index = index_open(indexoid, AccessShareLock);

	tp = SearchSysCache1(AMOID, ObjectIdGetDatum(index->rd_rel->relam));
	if (!HeapTupleIsValid(tp) ||
		strcmp(NameStr(((Form_pg_am) GETSTRUCT(tp))->amname), "xhash") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an xhash index",
						RelationGetRelationName(index)),
				 errhint("Pass the name of an index created with USING xhash.")));
	ReleaseSysCache(tp);

	if (!pg_class_ownercheck(heapoid, GetUserId()) &&
		!has_privs_of_role(GetUserId(), ROLE_PG_STAT_SCAN_TABLES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for index \"%s\"",
						RelationGetRelationName(index)),
				 errdetail("Only the owner of table \"%s\" or members of pg_stat_scan_tables may inspect its indexes.",
						   RelationGetRelationName(*heap))));
	if (!index->rd_index->indisvalid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" is not valid",
						RelationGetRelationName(index)),
				 errhint("Finish or redo the build with REINDEX.")));
	if (RELATION_IS_OTHER_TEMP(index))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot inspect temporary indexes of other sessions")));
	return index;
}

/* State of xhash_verify */
typedef struct XhVerify
{
	Relation	index;
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	XhEntry    *entries;		/* entries in their home bucket */
	int64		nentries;
	int64		maxentries;
	uint64		hashmask;
	int64		nproblems;
} XhVerify;

static void xh_problem(XhVerify *v, int64 blkno, const char *fmt,...)
			pg_attribute_printf(3, 4);

/*
 * Emit one problem row.
 */
static void
xh_problem(XhVerify *v, int64 blkno, const char *fmt,...)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};
	StringInfoData buf;
	va_list		args;

	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	if (blkno < 0)
		nulls[0] = true;
	else
		values[0] = Int64GetDatum(blkno);
	values[1] = CStringGetTextDatum(buf.data);
	tuplestore_putvalues(v->tupstore, v->tupdesc, values, nulls);
	v->nproblems++;
}

static int
xh_cmp_entry_tid(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) &((const XhEntry *) a)->tid,
							  (ItemPointer) &((const XhEntry *) b)->tid);
}

/*
 * Heap scan callback: is this row indexed with the right hash?
 */
static void
xh_verify_callback(Relation index, ItemPointer tid, Datum *values,
				   bool *isnull, bool tupleIsAlive, void *state)
{
	XhVerify   *v = (XhVerify *) state;
	XhEntry		key;
	XhEntry    *found;
	uint16		flags;
	uint64		hash = xh_hash_values(index, values, isnull, &flags) &
	v->hashmask;

	key.tid = *tid;
	found = bsearch(&key, v->entries, v->nentries, sizeof(XhEntry),
					xh_cmp_entry_tid);
	if (found == NULL)
		xh_problem(v, -1, "heap tuple (%u,%u) has no index entry",
				   ItemPointerGetBlockNumber(tid),
				   ItemPointerGetOffsetNumber(tid));
	else if (found->hash != hash || found->flags != flags)
		xh_problem(v, -1, "index entry for heap tuple (%u,%u) has hash %016llx, expected %016llx",
				   ItemPointerGetBlockNumber(tid),
				   ItemPointerGetOffsetNumber(tid),
				   (unsigned long long) found->hash,
				   (unsigned long long) hash);
}

/*
 * xhash_verify(regclass) returns setof (blkno bigint, problem text)
 */
Datum
xhash_verify(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Relation	heap;
	Relation	index;
	XhVerify	v;
	Buffer		metabuf;
	XhMetaPageData *meta;
	XhMetaPageData metacopy;
	XhMapping	map;
	BlockNumber nblocks;
	uint8	   *seen;
	uint32		b;
	BlockNumber blk;
	int			i;

	/*
	 * The heap-vs-index comparison needs writes held off with a SHARE lock,
	 * which cannot be taken while WAL replay is changing the index.
	 */
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("xhash_verify cannot run during recovery"),
				 errhint("Run it on the primary: a standby's indexes are page-for-page copies of the primary's.")));

	InitMaterializedSRF(fcinfo, 0);
	memset(&v, 0, sizeof(v));
	v.tupstore = rsinfo->setResult;
	v.tupdesc = rsinfo->setDesc;

	index = xh_open_for_check(indexoid, ShareLock, &heap);
	v.index = index;
	nblocks = RelationGetNumberOfBlocks(index);
	seen = palloc0(nblocks);

	metabuf = ReadBuffer(index, XHASH_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = xh_check_metapage(index, BufferGetPage(metabuf));
	metacopy = *meta;
	UnlockReleaseBuffer(metabuf);
	meta = &metacopy;
	seen[XHASH_METAPAGE_BLKNO] = 1;
	xh_get_mapping(meta, &map);
	v.hashmask = map.hashmask;

	/* extents */
	if (meta->nextents < 1 || meta->nextents > XH_MAX_EXTENTS)
		xh_problem(&v, 0, "metapage has %u extents", meta->nextents);
	else
	{
		for (i = 0; i < meta->nextents; i++)
		{
			uint32		end = i + 1 < meta->nextents ?
			meta->extents[i + 1].firstbucket : meta->reserved;

			if (end <= meta->extents[i].firstbucket ||
				meta->extents[i].firstblock + (end - meta->extents[i].firstbucket) > nblocks)
				xh_problem(&v, 0, "extent %d (buckets %u..%u at block %u) is out of range",
						   i, meta->extents[i].firstbucket, end,
						   meta->extents[i].firstblock);
		}
	}
	if (meta->maxbucket >= meta->reserved)
		xh_problem(&v, 0, "maxbucket %u is not below the %u reserved buckets",
				   meta->maxbucket, meta->reserved);
	if (v.nproblems > 0)
		goto done;

	/* every bucket chain */
	v.maxentries = 1024;
	v.entries = palloc(v.maxentries * sizeof(XhEntry));
	for (b = 0; b <= meta->maxbucket; b++)
	{
		BlockNumber prev = InvalidBlockNumber;
		BlockNumber tailblk = InvalidBlockNumber;

		blk = xh_bucket_block(meta, b);
		while (blk != InvalidBlockNumber)
		{
			Buffer		buf;
			Page		page;
			XhPageOpaque opaque;
			XhEntry    *entries;
			int			n;
			uint16		want = prev == InvalidBlockNumber ?
			XH_PAGE_PRIMARY : XH_PAGE_OVERFLOW;

			CHECK_FOR_INTERRUPTS();
			if (blk >= nblocks)
			{
				xh_problem(&v, prev, "bucket %u links to block %u beyond the end of the index",
						   b, blk);
				break;
			}
			if (seen[blk])
			{
				xh_problem(&v, prev, "bucket %u links to block %u, already part of a chain",
						   b, blk);
				break;
			}
			seen[blk] = 1;
			buf = ReadBuffer(index, blk);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			if (PageIsNew(page))
			{
				xh_problem(&v, blk, "page of bucket %u is uninitialized", b);
				UnlockReleaseBuffer(buf);
				break;
			}
			opaque = XhPageGetOpaque(page);
			if (opaque->page_id != XH_PAGE_ID ||
				(opaque->flags & (XH_PAGE_PRIMARY | XH_PAGE_OVERFLOW |
								  XH_PAGE_FREE | XH_PAGE_META)) != want)
				xh_problem(&v, blk, "page of bucket %u has flags 0x%x, expected 0x%x",
						   b, opaque->flags, want);
			if (opaque->bucket != b)
				xh_problem(&v, blk, "page is in the chain of bucket %u but says bucket %u",
						   b, opaque->bucket);
			if (want == XH_PAGE_PRIMARY && opaque->splitmax > meta->maxbucket)
				xh_problem(&v, blk, "bucket %u was split at maxbucket %u, beyond the metapage's %u",
						   b, opaque->splitmax, meta->maxbucket);
			if (((PageHeader) page)->pd_lower < MAXALIGN(SizeOfPageHeaderData) ||
				(((PageHeader) page)->pd_lower - MAXALIGN(SizeOfPageHeaderData)) % sizeof(XhEntry) != 0 ||
				XhPageGetNEntries(page) > XH_PAGE_CAPACITY)
			{
				xh_problem(&v, blk, "page has an invalid entry area (pd_lower %u)",
						   ((PageHeader) page)->pd_lower);
				UnlockReleaseBuffer(buf);
				break;
			}
			entries = XhPageGetEntries(page);
			n = XhPageGetNEntries(page);
			for (i = 0; i < n; i++)
			{
				if ((entries[i].hash & ~map.hashmask) != 0)
					xh_problem(&v, blk, "entry %d has hash %016llx with bits beyond debug_hash_bits",
							   i, (unsigned long long) entries[i].hash);
				if (!ItemPointerIsValid(&entries[i].tid))
					xh_problem(&v, blk, "entry %d has an invalid heap TID", i);
				if (xh_hash_to_bucket(entries[i].hash, &map) != b)
					continue;	/* leftover of an interrupted split */
				if (v.nentries >= v.maxentries)
				{
					v.maxentries *= 2;
					v.entries = repalloc_huge(v.entries,
											  v.maxentries * sizeof(XhEntry));
				}
				v.entries[v.nentries++] = entries[i];
			}
			prev = blk;
			blk = opaque->next;
			if (want == XH_PAGE_PRIMARY)
				tailblk = opaque->tail;
			UnlockReleaseBuffer(buf);
		}
		if (prev != xh_bucket_block(meta, b) ?
			tailblk != prev : tailblk != InvalidBlockNumber)
			xh_problem(&v, xh_bucket_block(meta, b),
					   "bucket %u names block %u as its last page, but its chain ends at block %u",
					   b, tailblk, prev);
	}

	/*
	 * Pages outside any chain must be free or never written, or overflow
	 * pages orphaned by a crash between the WAL records of a split or of a
	 * VACUUM rewrite: those are harmless and the next VACUUM reclaims them.
	 */
	for (blk = 0; blk < nblocks; blk++)
	{
		Buffer		buf;
		Page		page;

		if (seen[blk])
			continue;
		buf = ReadBuffer(index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!PageIsNew(page) &&
			!(XhPageGetOpaque(page)->flags & (XH_PAGE_FREE | XH_PAGE_OVERFLOW)))
			xh_problem(&v, blk, "page with flags 0x%x is not reachable from any bucket",
					   XhPageGetOpaque(page)->flags);
		UnlockReleaseBuffer(buf);
	}

	/* every row the index should hold has its entry (heapallindexed) */
	if (v.nproblems == 0)
	{
		IndexInfo  *indexInfo = BuildIndexInfo(index);
		int64		j,
					k;

		/*
		 * A crash in the middle of a VACUUM rewrite can leave an entry twice
		 * in its bucket; scans de-duplicate and VACUUM removes the copy, so
		 * that is not a problem.  The same TID in two buckets is.
		 */
		qsort(v.entries, v.nentries, sizeof(XhEntry), xh_cmp_entry_tid);
		for (j = 1, k = 1; j < v.nentries; j++)
		{
			if (!ItemPointerEquals(&v.entries[j].tid, &v.entries[k - 1].tid))
				v.entries[k++] = v.entries[j];
			else if (xh_hash_to_bucket(v.entries[j].hash, &map) !=
					 xh_hash_to_bucket(v.entries[k - 1].hash, &map))
				xh_problem(&v, -1, "heap tuple (%u,%u) has entries in two buckets",
						   ItemPointerGetBlockNumber(&v.entries[j].tid),
						   ItemPointerGetOffsetNumber(&v.entries[j].tid));
		}
		if (v.nentries > 0)
			v.nentries = k;
		indexInfo->ii_Concurrent = false;
		indexInfo->ii_Unique = false;
		table_index_build_scan(heap, index, indexInfo, true, false,
							   xh_verify_callback, (void *) &v, NULL);
	}

done:
	index_close(index, AccessShareLock);
	table_close(heap, ShareLock);
	return (Datum) 0;
}

/*
 * xhash_stats(regclass): one row of size and fill figures.
 */
Datum
xhash_stats(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Relation	heap;
	Relation	index;
	TupleDesc	tupdesc;
	Buffer		metabuf;
	XhMetaPageData metacopy;
	XhMapping	map;
	BlockNumber nblocks;
	BlockNumber blk;
	int64		primary_pages = 0,
				overflow_pages = 0,
				free_pages = 0,
				unused_pages = 0,
				live = 0,
				dead = 0,
				leftover = 0,
				max_chain = 0;
	Snapshot	snapshot;
	Datum		values[14];
	bool		nulls[14];
	uint32		b;
	double		bytes;
	uint8	   *reserved;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	index = xh_open_for_check(indexoid, AccessShareLock, &heap);
	nblocks = RelationGetNumberOfBlocks(index);
	metabuf = ReadBuffer(index, XHASH_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	metacopy = *xh_check_metapage(index, BufferGetPage(metabuf));
	UnlockReleaseBuffer(metabuf);
	xh_get_mapping(&metacopy, &map);

	snapshot = RegisterSnapshot(GetTransactionSnapshot());

	for (b = 0; b <= metacopy.maxbucket; b++)
	{
		int64		chain = 0;

		blk = xh_bucket_block(&metacopy, b);
		while (blk != InvalidBlockNumber && blk < nblocks)
		{
			Buffer		buf = ReadBuffer(index, blk);
			Page		page;
			XhEntry    *entries;
			int			n,
						i;

			CHECK_FOR_INTERRUPTS();
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			if (PageIsNew(page))
			{
				UnlockReleaseBuffer(buf);
				break;
			}
			chain++;
			entries = XhPageGetEntries(page);
			n = XhPageGetNEntries(page);
			for (i = 0; i < n; i++)
			{
				if (xh_hash_to_bucket(entries[i].hash, &map) != b)
					leftover++;
				else
				{
					ItemPointerData tid = entries[i].tid;
					bool		all_dead = false;

					table_index_fetch_tuple_check(heap, &tid, snapshot,
												  &all_dead);
					if (all_dead)
						dead++;
					else
						live++;
				}
			}
			blk = XhPageGetOpaque(page)->next;
			UnlockReleaseBuffer(buf);
		}
		primary_pages++;
		overflow_pages += Max(chain - 1, 0);
		max_chain = Max(max_chain, chain);
	}
	UnregisterSnapshot(snapshot);

	/* pages reserved for future buckets count as unused, whatever they hold */
	reserved = palloc0(nblocks);
	for (b = metacopy.maxbucket + 1; b < metacopy.reserved; b++)
	{
		blk = xh_bucket_block(&metacopy, b);
		if (blk < nblocks)
			reserved[blk] = 1;
	}
	for (blk = 1; blk < nblocks; blk++)
	{
		Buffer		buf;
		Page		page;

		if (reserved[blk])
		{
			unused_pages++;
			continue;
		}
		buf = ReadBuffer(index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (PageIsNew(page))
			unused_pages++;
		else if (XhPageGetOpaque(page)->flags & XH_PAGE_FREE)
			free_pages++;
		UnlockReleaseBuffer(buf);
	}

	bytes = (double) nblocks * BLCKSZ;
	memset(nulls, 0, sizeof(nulls));
	values[0] = Int64GetDatum((int64) metacopy.maxbucket + 1);
	values[1] = Int64GetDatum(primary_pages);
	values[2] = Int64GetDatum(overflow_pages);
	values[3] = Int64GetDatum(free_pages);
	values[4] = Int64GetDatum(unused_pages);
	values[5] = Int64GetDatum((int64) nblocks);
	values[6] = Int64GetDatum(live);
	values[7] = Int64GetDatum(dead);
	values[8] = Int64GetDatum(leftover);
	values[9] = Float8GetDatum((primary_pages + overflow_pages) > 0 ?
							   (double) (live + dead + leftover) /
							   ((double) (primary_pages + overflow_pages) *
								XH_PAGE_CAPACITY) : 0.0);
	if (live + dead > 0)
		values[10] = Float8GetDatum(bytes / (double) (live + dead));
	else
		nulls[10] = true;
	values[11] = Int64GetDatum((int64) metacopy.nsplits);
	values[12] = Int64GetDatum(max_chain);
	values[13] = Int32GetDatum(metacopy.hashbits);

	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

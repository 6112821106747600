/*-------------------------------------------------------------------------
 *
 * xhvalidate.c
 *		Opclass validator for xhash.
 *
 * An xhash operator family holds "=" operators (strategy 1), possibly
 * cross-type, and per input type the hash support functions: 1 (32-bit,
 * optional, accepted for parity with core hash opclasses) and 2 (64-bit
 * extended hash with a seed, required).  Every type appearing in an
 * operator must have function 2, so that a cross-type key can be hashed
 * as its own type.
 *
 * IDENTIFICATION
 *	  extensions/xhash/src/xhvalidate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "nodes/pg_list.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "xhash.h"

/*
 * Can a hash function declared on argtype hash values of datatype?  Yes if
 * binary coercible, or (as core hash relies on, e.g. hashint4 for date and
 * hashchar for bool) if both types have the same fixed-length physical
 * representation, or if it takes "internal" (hashvarlena for bytea).
 */
static bool
xh_hash_arg_ok(Oid argtype, Oid datatype)
{
	int16		len1,
				len2;
	bool		byval1,
				byval2;

	if (argtype == datatype || IsBinaryCoercible(datatype, argtype) ||
		argtype == INTERNALOID) /* hashvarlena, used for bytea */
		return true;
	get_typlenbyval(argtype, &len1, &byval1);
	get_typlenbyval(datatype, &len2, &byval2);
	return len1 > 0 && len1 == len2 && byval1 == byval2;
}

/*
 * Check a hash support function's signature.
 */
static bool
xh_check_hashproc(Oid funcid, int procnum, Oid datatype)
{
	HeapTuple	tp;
	Form_pg_proc procform;
	bool		ok;

	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for function %u", funcid);
	procform = (Form_pg_proc) GETSTRUCT(tp);
	if (procnum == XHASH_STANDARD_PROC)
		ok = procform->prorettype == INT4OID && procform->pronargs == 1 &&
			xh_hash_arg_ok(procform->proargtypes.values[0], datatype);
	else
		ok = procform->prorettype == INT8OID && procform->pronargs == 2 &&
			xh_hash_arg_ok(procform->proargtypes.values[0], datatype) &&
			procform->proargtypes.values[1] == INT8OID;
	ReleaseSysCache(tp);
	return ok;
}

/*
 * amvalidate
 */
bool
xhvalidate(Oid opclassoid)
{
	bool		result = true;
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	Oid			opcintype;
	char	   *opclassname;
	HeapTuple	familytup;
	char	   *opfamilyname;
	CatCList   *proclist,
			   *oprlist;
	List	   *hashtypes = NIL;
	bool		classeq = false;
	int			i;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;
	opcintype = classform->opcintype;
	opclassname = NameStr(classform->opcname);

	familytup = SearchSysCache1(OPFAMILYOID, ObjectIdGetDatum(opfamilyoid));
	if (!HeapTupleIsValid(familytup))
		elog(ERROR, "cache lookup failed for operator family %u", opfamilyoid);
	opfamilyname = NameStr(((Form_pg_opfamily) GETSTRUCT(familytup))->opfname);

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));

	for (i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc procform = (Form_pg_amproc)
		GETSTRUCT(&proclist->members[i]->tuple);

		if (procform->amproclefttype != procform->amprocrighttype)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains cross-type support function %s",
							opfamilyname, "xhash",
							format_procedure(procform->amproc))));
			result = false;
			continue;
		}
		if (procform->amprocnum != XHASH_STANDARD_PROC &&
			procform->amprocnum != XHASH_EXTENDED_PROC)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains function %s with invalid support number %d",
							opfamilyname, "xhash",
							format_procedure(procform->amproc),
							procform->amprocnum)));
			result = false;
			continue;
		}
		if (!xh_check_hashproc(procform->amproc, procform->amprocnum,
							   procform->amproclefttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains function %s with wrong signature for support number %d",
							opfamilyname, "xhash",
							format_procedure(procform->amproc),
							procform->amprocnum)));
			result = false;
			continue;
		}
		if (procform->amprocnum == XHASH_EXTENDED_PROC)
			hashtypes = list_append_unique_oid(hashtypes,
											   procform->amproclefttype);
	}

	for (i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop oprform = (Form_pg_amop)
		GETSTRUCT(&oprlist->members[i]->tuple);

		if (oprform->amopstrategy != XHASH_EQUAL_STRATEGY ||
			oprform->amoppurpose != AMOP_SEARCH ||
			OidIsValid(oprform->amopsortfamily))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains operator %s that is not a search operator with strategy 1",
							opfamilyname, "xhash",
							format_operator(oprform->amopopr))));
			result = false;
			continue;
		}
		if (!check_amop_signature(oprform->amopopr, BOOLOID,
								  oprform->amoplefttype,
								  oprform->amoprighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains operator %s with wrong signature",
							opfamilyname, "xhash",
							format_operator(oprform->amopopr))));
			result = false;
			continue;
		}
		if (!list_member_oid(hashtypes, oprform->amoplefttype) ||
			!list_member_oid(hashtypes, oprform->amoprighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s lacks support function 2 for operator %s",
							opfamilyname, "xhash",
							format_operator(oprform->amopopr))));
			result = false;
		}
		if (oprform->amoplefttype == opcintype &&
			oprform->amoprighttype == opcintype)
			classeq = true;
	}

	if (!classeq || !list_member_oid(hashtypes, opcintype))
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("operator class \"%s\" of access method %s is missing the \"=\" operator or support function 2 for its type",
						opclassname, "xhash")));
		result = false;
	}

	ReleaseCatCacheList(proclist);
	ReleaseCatCacheList(oprlist);
	ReleaseSysCache(familytup);
	ReleaseSysCache(classtup);
	return result;
}

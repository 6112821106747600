/*-------------------------------------------------------------------------
 *
 * rc_stress.c
 *		Concurrency checker for result_cache, written against libpq.
 *
 * Writers and readers run as separate processes (fork), each with its own
 * connections, against tables of their own in schema rc_stress (dropped and
 * created again at start).  Every read is a plain SELECT that result_cache
 * may serve from memory; half of them go through the simple query protocol
 * (PQexec), half through the extended one (PQexecParams and PQexecPrepared,
 * with text or binary parameters and text or binary results; binary values
 * are decoded and checked like text ones).  The properties checked:
 *
 *	a. read-after-commit: once a writer's COMMIT has returned, every SELECT
 *	   started afterwards, by any connection, sees the new value.  The "kv"
 *	   writer increments one key of one of the rc_stress.kvN tables per
 *	   transaction (autocommit, BEGIN/COMMIT, inside a released savepoint,
 *	   after a rolled back savepoint, from a PL/pgSQL function called by a
 *	   SELECT, from a trigger) and publishes the committed value in shared
 *	   memory; its second connection reads the key just before (so that a
 *	   cache entry exists) and right after the write and must see a value at
 *	   least the committed one, and so must every reader that reads the key
 *	   after the value was published.
 *	b. monotonic reads: the kv values only grow, so within one connection a
 *	   value read must never be smaller than one read before.
 *	c. multi-table atomicity: the "transfer" writer moves amounts from a row
 *	   of rc_stress.a to a row of rc_stress.b in one transaction (or rolls
 *	   such a transaction back); SELECT (SELECT sum(bal) FROM rc_stress.a) +
 *	   (SELECT sum(bal) FROM rc_stress.b) must always give the initial total.
 *
 * Besides, rows of rc_stress.static (never written) must always read back
 * exactly as inserted, every query must succeed, every process must have
 * done some work, the final contents read with the cache disabled must match
 * what the writers committed, and result_cache.stats must show that the
 * cache served hits during the run (unless --no-cache-check).
 *
 * Each check counts as passed or failed; the last line printed is
 * "N passed, N failed" and the exit status is 0 only if none failed.
 *
 * Usage:
 *	rc_stress CONNSTR [--seconds N] [--count M] [--readers R] [--tables T]
 *			  [--keys K] [--seed S] [--no-cache-check]
 *
 * The run ends after N seconds (default 10) or once each process has done
 * M operations (default 100000), whichever comes first.
 *
 * Build:
 *	cc -O2 -Wall -Werror -I$(pg_config --includedir) rc_stress.c \
 *		-L$(pg_config --libdir) -lpq -o rc_stress
 *
 * IDENTIFICATION
 *	  extensions/result_cache/tools/rc_stress.c
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define INT4OID			23
#define INT8OID			20
#define TEXTOID			25

#define MAX_TABLES		8
#define MAX_KEYS		64
#define MAX_READERS		64
#define MAX_PROCS		(MAX_READERS + 2)

#define NA_ROWS			20		/* rows of rc_stress.a */
#define NB_ROWS			20		/* rows of rc_stress.b */
#define A_BALANCE		1000
#define B_BALANCE		500
#define TOTAL			(NA_ROWS * A_BALANCE + NB_ROWS * B_BALANCE)
#define NSTATIC			16		/* rows of rc_stress.static */
#define STATIC_FACTOR	1000003
#define TOTAL_SQL \
	"SELECT (SELECT sum(bal) FROM rc_stress.a) + " \
	"(SELECT sum(bal) FROM rc_stress.b)"

#define MAX_REPORTS		20		/* failure messages printed per process */
#define GRACE_SECONDS	120		/* after the deadline, before SIGKILL */

/* The kinds of checks, counted separately */
typedef enum CheckKind
{
	CHECK_RAC,					/* a. read-after-commit */
	CHECK_MONO,					/* b. monotonic reads */
	CHECK_ATOMIC,				/* c. multi-table atomicity */
	CHECK_STATIC,				/* static rows read back unchanged */
	CHECK_QUERY,				/* queries that succeed */
	CHECK_WORK,					/* each process did some work */
	CHECK_FINAL,				/* final contents, cache disabled */
	CHECK_CACHE,				/* the cache served hits */
	NUM_CHECKS
} CheckKind;

static const char *const check_names[NUM_CHECKS] = {
	"read-after-commit",
	"monotonic reads",
	"multi-table atomicity",
	"static rows",
	"queries",
	"work done",
	"final contents",
	"cache hits",
};

/* The ways a read is sent; half are simple, half extended */
typedef enum ReadMode
{
	MODE_SIMPLE,				/* PQexec, literals */
	MODE_PARAMS_TEXT,			/* PQexecParams, text params and results */
	MODE_PARAMS_BINARY,			/* PQexecParams, binary params and results */
	MODE_PREPARED_TEXT,			/* PQexecPrepared, text results */
	MODE_PREPARED_BINARY		/* PQexecPrepared, binary results */
} ReadMode;

/* What one process counted; written by it, read by the parent at the end */
typedef struct ProcCounts
{
	int64_t		passed[NUM_CHECKS];
	int64_t		failed[NUM_CHECKS];
	int64_t		ops;			/* reads or write transactions */
	int64_t		simple_reads;
	int64_t		extended_reads;
	int			done;			/* set when the process finished normally */
} ProcCounts;

/* Shared between all processes (anonymous shared mapping) */
typedef struct Shared
{
	volatile int stop;			/* set by the parent at the deadline */
	int64_t		committed[MAX_TABLES][MAX_KEYS];	/* published kv values */
	int			writing[MAX_TABLES][MAX_KEYS];	/* 1 + variant of a write
												 * under way, or 0 */
	ProcCounts	counts[MAX_PROCS];
} Shared;

/* Settings */
static const char *connstr;
static int	run_seconds = 10;
static int64_t op_count = 100000;
static int	nreaders = 4;
static int	ntables = 3;
static int	nkeys = 8;
static uint64_t seed = 20251124;
static bool cache_check = true;

/* State of the current process */
static Shared *shared;
static ProcCounts *my_counts;
static const char *my_name = "main";
static int	nreports = 0;
static uint64_t rng_state;

/*
 * xorshift64*: a small deterministic generator, one stream per process.
 */
static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static int
rng_int(int n)
{
	return (int) (rng_next() % (uint64_t) n);
}

/*
 * Count one check; print a message for a failure (a limited number of them
 * per process, so that a broken cache does not flood the output).
 */
static void
check(CheckKind kind, bool ok, const char *fmt,...)
{
	va_list		ap;

	if (ok)
	{
		my_counts->passed[kind]++;
		return;
	}
	my_counts->failed[kind]++;
	if (nreports++ >= MAX_REPORTS)
		return;
	printf("FAILED [%s] %s: ", my_name, check_names[kind]);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("%s\n", nreports == MAX_REPORTS ? " (no more reports from this process)" : "");
	fflush(stdout);
}

/*
 * Print a message about a problem that is not a check (a connection or
 * setup failure, a process that had to be killed); the caller counts it.
 */
static void
fatal(const char *fmt,...)
{
	va_list		ap;

	fprintf(stdout, "rc_stress: ");
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fprintf(stdout, "\n");
	fflush(stdout);
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Open a connection named after the process (application_name), or return
 * NULL after printing why not.
 */
static PGconn *
connect_db(const char *appname)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {connstr, appname, NULL};
	PGconn	   *conn;

	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		fatal("%s: could not connect: %s", appname,
			  conn ? PQerrorMessage(conn) : "out of memory");
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/*
 * Run a command (or several, simple protocol) that must succeed; count it
 * as a query check.  Returns false on failure.
 */
static bool
exec_ok(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	bool		ok = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);

	check(CHECK_QUERY, ok, "\"%s\": %s", sql, PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

/*
 * Decode column col of row 0 as an integer, whatever the result format
 * (text or binary) and type (int4 or int8).  Returns false, after
 * counting a failed check, if the value is missing or malformed.
 */
static bool
get_int(PGresult *res, int col, int64_t *out, const char *what)
{
	int			len;
	const unsigned char *p;
	Oid			type;

	if (PQntuples(res) != 1 || PQnfields(res) <= col)
	{
		check(CHECK_QUERY, false, "%s: %d rows, %d columns", what,
			  PQntuples(res), PQnfields(res));
		return false;
	}
	if (PQgetisnull(res, 0, col))
	{
		check(CHECK_QUERY, false, "%s: NULL", what);
		return false;
	}
	len = PQgetlength(res, 0, col);
	p = (const unsigned char *) PQgetvalue(res, 0, col);
	type = PQftype(res, col);
	if (PQfformat(res, col) == 0)
	{
		char	   *end;

		errno = 0;
		*out = strtoll((const char *) p, &end, 10);
		if (errno != 0 || *end != '\0' || end == (const char *) p)
		{
			check(CHECK_QUERY, false, "%s: bad text value \"%s\"", what, p);
			return false;
		}
		return true;
	}
	if (type == INT8OID && len == 8)
	{
		uint64_t	v = 0;
		int			i;

		for (i = 0; i < 8; i++)
			v = (v << 8) | p[i];
		*out = (int64_t) v;
		return true;
	}
	if (type == INT4OID && len == 4)
	{
		uint32_t	v = 0;
		int			i;

		for (i = 0; i < 4; i++)
			v = (v << 8) | p[i];
		*out = (int32_t) v;
		return true;
	}
	check(CHECK_QUERY, false, "%s: binary value of type %u, %d bytes", what,
		  type, len);
	return false;
}

/*
 * Prepare the statements the extended-protocol reads use: one per kv table,
 * one for the static rows, one for the total.
 */
static bool
prepare_reads(PGconn *conn)
{
	char		name[32];
	char		sql[256];
	int			t;
	PGresult   *res;
	bool		ok = true;

	for (t = 0; t <= ntables + 1 && ok; t++)
	{
		if (t < ntables)
		{
			snprintf(name, sizeof(name), "kv%d", t);
			snprintf(sql, sizeof(sql),
					 "SELECT v FROM rc_stress.kv%d WHERE k = $1", t);
		}
		else if (t == ntables)
		{
			snprintf(name, sizeof(name), "static");
			snprintf(sql, sizeof(sql),
					 "SELECT v, s FROM rc_stress.static WHERE id = $1");
		}
		else
		{
			snprintf(name, sizeof(name), "total");
			snprintf(sql, sizeof(sql), "%s", TOTAL_SQL);
		}
		res = PQprepare(conn, name, sql, 0, NULL);
		ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		check(CHECK_QUERY, ok, "prepare \"%s\": %s", sql, PQerrorMessage(conn));
		PQclear(res);
	}
	return ok;
}

/*
 * Run one read.  simple_sql is the statement with its key as a literal,
 * param_sql the same with $1 (NULL when there is no parameter), stmt the
 * name of the prepared statement.  Counts the read; returns the result or
 * NULL after counting a failed query check.
 */
static PGresult *
run_read(PGconn *conn, ReadMode mode, const char *simple_sql,
		 const char *param_sql, const char *stmt, int key)
{
	PGresult   *res;
	char		text_key[16];
	uint32_t	bin_key;
	const char *values[1];
	int			lengths[1];
	int			formats[1];
	Oid			types[1] = {INT4OID};
	int			nparams = param_sql ? 1 : 0;
	const char *sql = param_sql ? param_sql : simple_sql;

	snprintf(text_key, sizeof(text_key), "%d", key);
	values[0] = text_key;
	lengths[0] = 0;
	formats[0] = 0;
	switch (mode)
	{
		case MODE_SIMPLE:
			res = PQexec(conn, simple_sql);
			sql = simple_sql;
			break;
		case MODE_PARAMS_TEXT:
			res = PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);
			break;
		case MODE_PARAMS_BINARY:
			/* the key as a binary int4 too */
			bin_key = htonl((uint32_t) key);
			values[0] = (const char *) &bin_key;
			lengths[0] = 4;
			formats[0] = 1;
			res = PQexecParams(conn, sql, nparams, types, values, lengths,
							   formats, 1);
			break;
		case MODE_PREPARED_TEXT:
		default:
			res = PQexecPrepared(conn, stmt, nparams, values, NULL, NULL,
								 mode == MODE_PREPARED_BINARY ? 1 : 0);
			break;
	}
	if (mode == MODE_SIMPLE)
		my_counts->simple_reads++;
	else
		my_counts->extended_reads++;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		check(CHECK_QUERY, false, "\"%s\" (key %d, mode %d): %s", sql, key,
			  (int) mode, PQerrorMessage(conn));
		PQclear(res);
		return NULL;
	}
	check(CHECK_QUERY, true, NULL);
	return res;
}

/* The mode of the i-th read of a connection: even ones simple */
static ReadMode
read_mode(int64_t i)
{
	if (i % 2 == 0)
		return MODE_SIMPLE;
	return (ReadMode) (MODE_PARAMS_TEXT + (i / 2) % 4);
}

/*
 * Read key k of table kvt; returns false if the read failed.
 */
static bool
read_kv(PGconn *conn, int64_t i, int t, int k, int64_t *v)
{
	char		simple_sql[128];
	char		param_sql[128];
	char		stmt[16];
	PGresult   *res;
	bool		ok;

	snprintf(simple_sql, sizeof(simple_sql),
			 "SELECT v FROM rc_stress.kv%d WHERE k = %d", t, k);
	snprintf(param_sql, sizeof(param_sql),
			 "SELECT v FROM rc_stress.kv%d WHERE k = $1", t);
	snprintf(stmt, sizeof(stmt), "kv%d", t);
	res = run_read(conn, read_mode(i), simple_sql, param_sql, stmt, k);
	if (res == NULL)
		return false;
	ok = get_int(res, 0, v, simple_sql);
	PQclear(res);
	return ok;
}

/*
 * Read the total of rc_stress.a and rc_stress.b and check it.
 */
static void
read_total(PGconn *conn, int64_t i)
{
	PGresult   *res;
	int64_t		total;

	res = run_read(conn, read_mode(i), TOTAL_SQL, NULL, "total", 0);
	if (res == NULL)
		return;
	if (get_int(res, 0, &total, "total"))
		check(CHECK_ATOMIC, total == TOTAL,
			  "total is %lld, expected %d (read mode %d)",
			  (long long) total, TOTAL, (int) read_mode(i));
	PQclear(res);
}

/*
 * Read one row of rc_stress.static and check both of its columns.
 */
static void
read_static(PGconn *conn, int64_t i)
{
	char		simple_sql[128];
	char		expected_s[32];
	int			id = 1 + rng_int(NSTATIC);
	PGresult   *res;
	int64_t		v;

	snprintf(simple_sql, sizeof(simple_sql),
			 "SELECT v, s FROM rc_stress.static WHERE id = %d", id);
	res = run_read(conn, read_mode(i), simple_sql,
				   "SELECT v, s FROM rc_stress.static WHERE id = $1",
				   "static", id);
	if (res == NULL)
		return;
	snprintf(expected_s, sizeof(expected_s), "row-%d", id);
	if (get_int(res, 0, &v, simple_sql))
	{
		bool		ok;

		/* text and binary forms of a text column are the same bytes */
		ok = v == (int64_t) id * STATIC_FACTOR &&
			PQnfields(res) == 2 && !PQgetisnull(res, 0, 1) &&
			PQgetlength(res, 0, 1) == (int) strlen(expected_s) &&
			memcmp(PQgetvalue(res, 0, 1), expected_s, strlen(expected_s)) == 0;
		check(CHECK_STATIC, ok, "id %d: got (%lld, %.*s), expected (%lld, %s), read mode %d",
			  id, (long long) v, PQgetlength(res, 0, 1),
			  PQnfields(res) == 2 ? PQgetvalue(res, 0, 1) : "",
			  (long long) id * STATIC_FACTOR, expected_s, (int) read_mode(i));
	}
	PQclear(res);
}

/*
 * Check one kv value read: not older than what was committed before the
 * read began (a), not smaller than what this connection read before (b).
 */
static void
check_kv(int t, int k, int64_t v, int64_t committed, int64_t *last,
		 int *last_mode, int64_t i)
{
	int			w = __atomic_load_n(&shared->writing[t][k - 1], __ATOMIC_ACQUIRE);

	check(CHECK_RAC, v >= committed,
		  "kv%d key %d: read %lld after %lld was committed (read mode %d; "
		  "write under way now: %s%d)",
		  t, k, (long long) v, (long long) committed, (int) read_mode(i),
		  w ? "variant " : "none", w - 1);
	check(CHECK_MONO, v >= *last,
		  "kv%d key %d: read %lld after this connection read %lld "
		  "(read modes %d then %d; write under way now: %s%d)",
		  t, k, (long long) v, (long long) *last, *last_mode,
		  (int) read_mode(i), w ? "variant " : "none", w - 1);
	if (v > *last)
	{
		*last = v;
		*last_mode = (int) read_mode(i);
	}
}

static int64_t
load_committed(int t, int k)
{
	return __atomic_load_n(&shared->committed[t][k], __ATOMIC_ACQUIRE);
}

/*
 * A reader: random reads of kv keys, totals and static rows on one
 * connection until the deadline or op_count reads.
 */
static void
reader_main(int id)
{
	char		name[32];
	PGconn	   *conn;
	int64_t		last[MAX_TABLES][MAX_KEYS];
	int			last_mode[MAX_TABLES][MAX_KEYS];
	int64_t		i;

	snprintf(name, sizeof(name), "rc_stress_reader%d", id);
	my_name = name;
	memset(last, 0, sizeof(last));
	memset(last_mode, 0, sizeof(last_mode));
	conn = connect_db(name);
	check(CHECK_QUERY, conn != NULL, "connection");
	if (conn == NULL || !prepare_reads(conn))
		return;

	for (i = 0; i < op_count && !shared->stop; i++)
	{
		int			r = rng_int(100);

		if (r < 55)
		{
			int			t = rng_int(ntables);
			int			k = rng_int(nkeys);
			int64_t		committed = load_committed(t, k);
			int64_t		v;

			if (read_kv(conn, i, t, k + 1, &v))
				check_kv(t, k + 1, v, committed, &last[t][k], &last_mode[t][k],
						 i);
		}
		else if (r < 80)
			read_total(conn, i);
		else
			read_static(conn, i);
		my_counts->ops++;
		if (PQstatus(conn) != CONNECTION_OK)
		{
			check(CHECK_QUERY, false, "connection lost");
			break;
		}
	}
	PQfinish(conn);
}

/*
 * Commit one increment of key k of table t on conn, in one of several
 * ways that put the write at different nesting levels.  Returns false if
 * it failed (then the transaction is rolled back).
 */
static bool
write_kv(PGconn *conn, int variant, int t, int k)
{
	char		sql[512];

	switch (variant)
	{
		case 0:					/* autocommit */
			snprintf(sql, sizeof(sql),
					 "UPDATE rc_stress.kv%d SET v = v + 1 WHERE k = %d", t, k);
			return exec_ok(conn, sql);
		case 1:					/* explicit transaction, several commands */
			snprintf(sql, sizeof(sql),
					 "UPDATE rc_stress.kv%d SET v = v + 1 WHERE k = %d", t, k);
			if (!exec_ok(conn, "BEGIN"))
				return false;
			if (!exec_ok(conn, sql))
			{
				exec_ok(conn, "ROLLBACK");
				return false;
			}
			return exec_ok(conn, "COMMIT");
		case 2:					/* in a released savepoint */
			snprintf(sql, sizeof(sql),
					 "BEGIN; SAVEPOINT s1; "
					 "UPDATE rc_stress.kv%d SET v = v + 1 WHERE k = %d; "
					 "RELEASE SAVEPOINT s1; COMMIT", t, k);
			break;
		case 3:					/* after a rolled back write */
			snprintf(sql, sizeof(sql),
					 "BEGIN; SAVEPOINT s1; "
					 "UPDATE rc_stress.kv%d SET v = v + 1000000 WHERE k = %d; "
					 "ROLLBACK TO SAVEPOINT s1; "
					 "UPDATE rc_stress.kv%d SET v = v + 1 WHERE k = %d; COMMIT",
					 t, k, t, k);
			break;
		case 4:					/* from a function called by a SELECT */
			snprintf(sql, sizeof(sql), "SELECT rc_stress.bump(%d, %d)", t, k);
			break;
		default:				/* from a trigger */
			snprintf(sql, sizeof(sql),
					 "INSERT INTO rc_stress.bumps VALUES (%d, %d)", t, k);
			break;
	}
	if (!exec_ok(conn, sql))
	{
		PQclear(PQexec(conn, "ROLLBACK"));
		return false;
	}
	return true;
}

/*
 * The kv writer: for each key in turn, read it on the verifying connection
 * (so that the cache holds it), increment it on the writing connection,
 * publish the committed value, read it again on the verifying connection.
 */
static void
kv_writer_main(void)
{
	PGconn	   *wconn;
	PGconn	   *vconn;
	int64_t		model[MAX_TABLES][MAX_KEYS];
	int64_t		last[MAX_TABLES][MAX_KEYS];
	int			last_mode[MAX_TABLES][MAX_KEYS];
	int64_t		i;
	int64_t		nreads = 0;

	my_name = "rc_stress_kv_writer";
	memset(model, 0, sizeof(model));
	memset(last, 0, sizeof(last));
	memset(last_mode, 0, sizeof(last_mode));
	wconn = connect_db("rc_stress_kv_writer");
	vconn = connect_db("rc_stress_kv_verifier");
	check(CHECK_QUERY, wconn != NULL && vconn != NULL, "connection");
	if (wconn == NULL || vconn == NULL || !prepare_reads(vconn))
		goto done;

	for (i = 0; i < op_count && !shared->stop; i++)
	{
		int			t = (int) (i % ntables);
		int			k = (int) ((i / ntables) % nkeys);
		int			variant = (int) ((i / (ntables * nkeys)) % 6);
		int64_t		v;

		/* before: the value committed last time, at least */
		if (read_kv(vconn, nreads++, t, k + 1, &v))
			check_kv(t, k + 1, v, model[t][k], &last[t][k], &last_mode[t][k],
					 nreads - 1);

		__atomic_store_n(&shared->writing[t][k], 1 + variant, __ATOMIC_RELEASE);
		if (!write_kv(wconn, variant, t, k + 1))
		{
			/* unknown whether it committed: no longer know the value */
			break;
		}
		model[t][k]++;
		__atomic_store_n(&shared->committed[t][k], model[t][k],
						 __ATOMIC_RELEASE);
		__atomic_store_n(&shared->writing[t][k], 0, __ATOMIC_RELEASE);
		my_counts->ops++;

		/* after: the committed value, at least */
		if (read_kv(vconn, nreads++, t, k + 1, &v))
			check_kv(t, k + 1, v, model[t][k], &last[t][k], &last_mode[t][k],
					 nreads - 1);
		if (PQstatus(wconn) != CONNECTION_OK || PQstatus(vconn) != CONNECTION_OK)
		{
			check(CHECK_QUERY, false, "connection lost");
			break;
		}
	}
done:
	PQfinish(wconn);
	PQfinish(vconn);
}

/*
 * The transfer writer: move an amount from a row of a to a row of b, in one
 * transaction sent in various ways, or roll such a transaction back; check
 * the total on a second connection after each commit.
 */
static void
transfer_writer_main(void)
{
	PGconn	   *conn;
	PGconn	   *vconn;
	int64_t		i;
	char		upd_a[128];
	char		upd_b[128];
	char		sql[512];

	my_name = "rc_stress_transfer_writer";
	conn = connect_db("rc_stress_transfer_writer");
	vconn = connect_db("rc_stress_transfer_verifier");
	check(CHECK_QUERY, conn != NULL && vconn != NULL, "connection");
	if (conn == NULL || vconn == NULL || !prepare_reads(vconn))
		goto done;

	for (i = 0; i < op_count && !shared->stop; i++)
	{
		int			from = 1 + rng_int(NA_ROWS);
		int			to = 1 + rng_int(NB_ROWS);
		int			d = 1 + rng_int(100);

		snprintf(upd_a, sizeof(upd_a),
				 "UPDATE rc_stress.a SET bal = bal - %d WHERE id = %d", d, from);
		snprintf(upd_b, sizeof(upd_b),
				 "UPDATE rc_stress.b SET bal = bal + %d WHERE id = %d", d, to);
		switch (i % 5)
		{
			case 0:				/* one query string, explicit transaction */
				snprintf(sql, sizeof(sql), "BEGIN; %s; %s; COMMIT", upd_a, upd_b);
				exec_ok(conn, sql);
				break;
			case 1:				/* one command at a time */
				if (exec_ok(conn, "BEGIN") && exec_ok(conn, upd_a) &&
					exec_ok(conn, upd_b))
					exec_ok(conn, "COMMIT");
				break;
			case 2:				/* one statement, the first write in a CTE */
				snprintf(sql, sizeof(sql),
						 "WITH x AS (UPDATE rc_stress.a SET bal = bal - %d "
						 "WHERE id = %d) "
						 "UPDATE rc_stress.b SET bal = bal + %d WHERE id = %d",
						 d, from, d, to);
				exec_ok(conn, sql);
				break;
			case 3:				/* rolled back */
				snprintf(sql, sizeof(sql), "BEGIN; %s; %s; ROLLBACK", upd_a, upd_b);
				exec_ok(conn, sql);
				break;
			default:			/* the transaction as one query string */
				snprintf(sql, sizeof(sql), "%s; %s", upd_a, upd_b);
				exec_ok(conn, sql);
				break;
		}
		if (PQtransactionStatus(conn) != PQTRANS_IDLE)
			PQclear(PQexec(conn, "ROLLBACK"));
		my_counts->ops++;
		read_total(vconn, i);
		if (PQstatus(conn) != CONNECTION_OK || PQstatus(vconn) != CONNECTION_OK)
		{
			check(CHECK_QUERY, false, "connection lost");
			break;
		}
	}
done:
	PQfinish(conn);
	PQfinish(vconn);
}

/*
 * Drop and create the schema rc_stress with its tables and functions.
 */
static bool
setup(PGconn *conn)
{
	char		sql[1024];
	int			t;

	if (!exec_ok(conn, "SET client_min_messages = warning") ||
		!exec_ok(conn, "DROP SCHEMA IF EXISTS rc_stress CASCADE") ||
		!exec_ok(conn, "CREATE SCHEMA rc_stress"))
		return false;
	for (t = 0; t < ntables; t++)
	{
		snprintf(sql, sizeof(sql),
				 "CREATE TABLE rc_stress.kv%d (k int4 PRIMARY KEY, v int8 NOT NULL); "
				 "INSERT INTO rc_stress.kv%d SELECT g, 0 FROM generate_series(1, %d) g",
				 t, t, nkeys);
		if (!exec_ok(conn, sql))
			return false;
	}
	snprintf(sql, sizeof(sql),
			 "CREATE TABLE rc_stress.a (id int4 PRIMARY KEY, bal int4 NOT NULL); "
			 "INSERT INTO rc_stress.a SELECT g, %d FROM generate_series(1, %d) g; "
			 "CREATE TABLE rc_stress.b (id int4 PRIMARY KEY, bal int4 NOT NULL); "
			 "INSERT INTO rc_stress.b SELECT g, %d FROM generate_series(1, %d) g; "
			 "CREATE TABLE rc_stress.static (id int4 PRIMARY KEY, v int8 NOT NULL, "
			 "s text NOT NULL); "
			 "INSERT INTO rc_stress.static SELECT g, g * %d::int8, 'row-' || g "
			 "FROM generate_series(1, %d) g",
			 A_BALANCE, NA_ROWS, B_BALANCE, NB_ROWS, STATIC_FACTOR, NSTATIC);
	if (!exec_ok(conn, sql))
		return false;
	return exec_ok(conn,
				   "CREATE FUNCTION rc_stress.bump(tbl int4, key int4) RETURNS int8 "
				   "LANGUAGE plpgsql AS $$ DECLARE r int8; BEGIN "
				   "EXECUTE format('UPDATE rc_stress.kv%s SET v = v + 1 "
				   "WHERE k = $1 RETURNING v', tbl) INTO r USING key; "
				   "RETURN r; END $$; "
				   "CREATE TABLE rc_stress.bumps (t int4, k int4); "
				   "CREATE FUNCTION rc_stress.bumps_trigger() RETURNS trigger "
				   "LANGUAGE plpgsql AS $$ BEGIN "
				   "EXECUTE format('UPDATE rc_stress.kv%s SET v = v + 1 "
				   "WHERE k = $1', NEW.t) USING NEW.k; "
				   "RETURN NULL; END $$; "
				   "CREATE TRIGGER bumps_kv AFTER INSERT ON rc_stress.bumps "
				   "FOR EACH ROW EXECUTE FUNCTION rc_stress.bumps_trigger()");
}

/*
 * Does the result_cache schema exist in the database?  -1 on error.
 */
static int
have_result_cache(PGconn *conn)
{
	PGresult   *res = PQexec(conn,
							 "SELECT count(*) FROM pg_namespace "
							 "WHERE nspname = 'result_cache'");
	int			r = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		r = atoi(PQgetvalue(res, 0, 0)) > 0;
	PQclear(res);
	return r;
}

/*
 * result_cache.stats.hits, or -1 (with a message) if it cannot be read.
 */
static int64_t
cache_hits(PGconn *conn, bool print)
{
	PGresult   *res = PQexec(conn, "SELECT * FROM result_cache.stats");
	int64_t		hits = -1;
	int			col;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		(col = PQfnumber(res, "hits")) < 0)
	{
		fatal("cannot read result_cache.stats: %s", PQerrorMessage(conn));
		PQclear(res);
		return -1;
	}
	hits = strtoll(PQgetvalue(res, 0, col), NULL, 10);
	if (print)
	{
		int			f;

		printf("result_cache.stats:");
		for (f = 0; f < PQnfields(res); f++)
			printf(" %s=%s", PQfname(res, f), PQgetvalue(res, 0, f));
		printf("\n");
	}
	PQclear(res);
	return hits;
}

/*
 * Print the non-zero counters of result_cache.reasons on one line.
 */
static void
print_reasons(PGconn *conn)
{
	PGresult   *res = PQexec(conn,
							 "SELECT kind || ':' || reason || '=' || count "
							 "FROM result_cache.reasons WHERE count > 0 "
							 "ORDER BY kind, reason");
	int			r;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fatal("cannot read result_cache.reasons: %s", PQerrorMessage(conn));
	else
	{
		printf("result_cache.reasons:");
		for (r = 0; r < PQntuples(res); r++)
			printf(" %s", PQgetvalue(res, r, 0));
		printf("\n");
	}
	PQclear(res);
}

/*
 * With the cache disabled (if there is one), the final contents must be
 * what the writers committed.
 */
static void
check_final(PGconn *conn, bool have_cache)
{
	char		sql[128];
	int			t;
	int			k;
	PGresult   *res;
	int64_t		v;

	if (have_cache)
		exec_ok(conn, "SET result_cache.enabled = off");
	for (t = 0; t < ntables; t++)
		for (k = 0; k < nkeys; k++)
		{
			snprintf(sql, sizeof(sql),
					 "SELECT v FROM rc_stress.kv%d WHERE k = %d", t, k + 1);
			res = PQexec(conn, sql);
			if (PQresultStatus(res) == PGRES_TUPLES_OK &&
				get_int(res, 0, &v, sql))
				check(CHECK_FINAL, v == shared->committed[t][k],
					  "kv%d key %d is %lld, the writer committed %lld",
					  t, k + 1, (long long) v,
					  (long long) shared->committed[t][k]);
			else
				check(CHECK_QUERY, false, "%s: %s", sql, PQerrorMessage(conn));
			PQclear(res);
		}
	res = PQexec(conn, TOTAL_SQL);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && get_int(res, 0, &v, "total"))
		check(CHECK_FINAL, v == TOTAL, "final total is %lld, expected %d",
			  (long long) v, TOTAL);
	PQclear(res);
	if (have_cache)
		exec_ok(conn, "RESET result_cache.enabled");
}

static void
usage(void)
{
	printf("usage: rc_stress CONNSTR [--seconds N] [--count M] [--readers R]\n"
		   "                 [--tables T] [--keys K] [--seed S] [--no-cache-check]\n");
	exit(2);
}

/*
 * Parse a numeric option argument within [min, max].
 */
static int64_t
int_arg(int argc, char **argv, int *i, int64_t min, int64_t max)
{
	char	   *end;
	long long	v;

	if (*i + 1 >= argc)
		usage();
	(*i)++;
	errno = 0;
	v = strtoll(argv[*i], &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
	{
		printf("rc_stress: %s: expected a number in [%lld, %lld]\n",
			   argv[*i - 1], (long long) min, (long long) max);
		exit(2);
	}
	return v;
}

/*
 * Start a child process running fn(arg); returns its pid, or -1.
 */
static pid_t
start_child(int slot, void (*fn) (int), int arg)
{
	pid_t		pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
	{
		fatal("fork failed: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
	{
		my_counts = &shared->counts[slot];
		rng_state = seed * 1000003 + (uint64_t) slot * 7919 + 1;
		fn(arg);
		my_counts->done = 1;
		fflush(stdout);
		_exit(0);
	}
	return pid;
}

static void
kv_writer_entry(int arg)
{
	kv_writer_main();
}

static void
transfer_writer_entry(int arg)
{
	transfer_writer_main();
}

/*
 * Parse the options, set up the tables, run the writers and readers until
 * the deadline or their operation count, then check the final contents and
 * the cache's hits and print the counts.
 */
int
main(int argc, char **argv)
{
	PGconn	   *conn;
	pid_t		pids[MAX_PROCS];
	const char *names[MAX_PROCS];
	char		reader_names[MAX_READERS][32];
	int			nprocs = 0;
	int			running;
	bool		killed = false;
	int			i;
	int			c;
	int			have_cache;
	int64_t		hits_before = -1;
	int64_t		hits_after;
	int64_t		total_passed = 0;
	int64_t		total_failed = 0;
	double		start;
	double		deadline;
	ProcCounts	main_counts;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || argv[1][0] == '-')
		usage();
	connstr = argv[1];
	for (i = 2; i < argc; i++)
	{
		if (strcmp(argv[i], "--seconds") == 0)
			run_seconds = (int) int_arg(argc, argv, &i, 1, 86400);
		else if (strcmp(argv[i], "--count") == 0)
			op_count = int_arg(argc, argv, &i, 1, INT64_MAX);
		else if (strcmp(argv[i], "--readers") == 0)
			nreaders = (int) int_arg(argc, argv, &i, 1, MAX_READERS);
		else if (strcmp(argv[i], "--tables") == 0)
			ntables = (int) int_arg(argc, argv, &i, 1, MAX_TABLES);
		else if (strcmp(argv[i], "--keys") == 0)
			nkeys = (int) int_arg(argc, argv, &i, 1, MAX_KEYS);
		else if (strcmp(argv[i], "--seed") == 0)
			seed = (uint64_t) int_arg(argc, argv, &i, 0, INT64_MAX);
		else if (strcmp(argv[i], "--no-cache-check") == 0)
			cache_check = false;
		else
			usage();
	}

	shared = mmap(NULL, sizeof(Shared), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
	{
		fatal("mmap failed: %s", strerror(errno));
		printf("0 passed, 1 failed\n");
		return 1;
	}
	memset(shared, 0, sizeof(Shared));
	memset(&main_counts, 0, sizeof(main_counts));
	my_counts = &main_counts;

	printf("rc_stress: %d readers, 2 writers, %d s at most, %lld operations per process at most, "
		   "%d tables x %d keys, seed %llu\n",
		   nreaders, run_seconds, (long long) op_count, ntables, nkeys,
		   (unsigned long long) seed);

	/* set up, and note the hits so far */
	conn = connect_db("rc_stress_main");
	check(CHECK_QUERY, conn != NULL, "connection");
	if (conn == NULL || !setup(conn))
		goto report;
	have_cache = have_result_cache(conn);
	check(CHECK_QUERY, have_cache >= 0, "looking for schema result_cache: %s",
		  PQerrorMessage(conn));
	if (have_cache > 0)
		hits_before = cache_hits(conn, false);
	PQfinish(conn);
	conn = NULL;

	/* start the writers and readers */
	names[nprocs] = "kv writer";
	pids[nprocs] = start_child(nprocs, kv_writer_entry, 0);
	nprocs++;
	names[nprocs] = "transfer writer";
	pids[nprocs] = start_child(nprocs, transfer_writer_entry, 0);
	nprocs++;
	for (i = 0; i < nreaders; i++)
	{
		snprintf(reader_names[i], sizeof(reader_names[i]), "reader %d", i + 1);
		names[nprocs] = reader_names[i];
		pids[nprocs] = start_child(nprocs, reader_main, i + 1);
		nprocs++;
	}

	/* wait for them, stopping them at the deadline */
	start = now_seconds();
	deadline = start + run_seconds;
	running = 0;
	for (i = 0; i < nprocs; i++)
		running += pids[i] > 0;
	while (running > 0)
	{
		double		t = now_seconds();

		if (t >= deadline && !shared->stop)
			__atomic_store_n(&shared->stop, 1, __ATOMIC_SEQ_CST);
		if (t >= deadline + GRACE_SECONDS && !killed)
		{
			killed = true;
			for (i = 0; i < nprocs; i++)
				if (pids[i] > 0)
				{
					fatal("%s did not stop within %d s of the deadline: killed",
						  names[i], GRACE_SECONDS);
					kill(pids[i], SIGKILL);
				}
		}
		for (i = 0; i < nprocs; i++)
		{
			int			status;

			if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i])
			{
				pids[i] = 0;
				running--;
			}
		}
		if (running > 0)
			usleep(50000);
	}
	printf("ran %.1f s\n", now_seconds() - start);

	/* each process must have finished normally and done some work */
	for (i = 0; i < nprocs; i++)
	{
		ProcCounts *pc = &shared->counts[i];

		printf("%s: %lld operations, %lld simple and %lld extended reads\n",
			   names[i], (long long) pc->ops, (long long) pc->simple_reads,
			   (long long) pc->extended_reads);
		check(CHECK_WORK, pc->done && pc->ops > 0,
			  "%s: %s, %lld operations", names[i],
			  pc->done ? "finished" : "did not finish", (long long) pc->ops);
	}

	/* final contents and cache hits */
	conn = connect_db("rc_stress_main");
	check(CHECK_QUERY, conn != NULL, "connection");
	if (conn != NULL)
	{
		have_cache = have_result_cache(conn);
		check_final(conn, have_cache > 0);
		if (have_cache > 0)
		{
			print_reasons(conn);
			hits_after = cache_hits(conn, true);
			if (cache_check)
				check(CHECK_CACHE, hits_before >= 0 && hits_after > hits_before,
					  "hits before the run %lld, after %lld",
					  (long long) hits_before, (long long) hits_after);
			printf("cache hits: %lld\n", (long long) (hits_after - hits_before));
		}
		else
		{
			printf("schema result_cache not found in the database\n");
			if (cache_check)
				check(CHECK_CACHE, false, "no schema result_cache (use --no-cache-check to run without it)");
		}
		PQfinish(conn);
	}

report:
	for (c = 0; c < NUM_CHECKS; c++)
	{
		int64_t		p = main_counts.passed[c];
		int64_t		f = main_counts.failed[c];

		for (i = 0; i < nprocs; i++)
		{
			p += shared->counts[i].passed[c];
			f += shared->counts[i].failed[c];
		}
		printf("%-22s %lld passed, %lld failed\n", check_names[c],
			   (long long) p, (long long) f);
		total_passed += p;
		total_failed += f;
	}
	printf("%lld passed, %lld failed\n", (long long) total_passed,
		   (long long) total_failed);
	return total_failed == 0 ? 0 : 1;
}

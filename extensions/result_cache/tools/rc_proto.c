/*-------------------------------------------------------------------------
 *
 * rc_proto.c
 *		Protocol checker for result_cache, written against libpq.
 *
 * Runs a fixed list of SELECTs on tables of schema rc_proto through each
 * way a client can send them:
 *
 *	simple		PQexec, parameters substituted as literals
 *	params		PQexecParams, text parameters, text results
 *	binary		PQexecParams, binary parameters (where the type allows),
 *				binary results
 *	prepared	PQprepare once per distinct statement, then PQexecPrepared
 *				six times per query, round robin over the queries (so that
 *				one statement runs with different parameters in turn, and
 *				past the point where the plan cache switches to a generic
 *				plan), text results on odd passes, binary on even ones;
 *				passes 3 and 5 start with DISCARD PLANS, so that their Binds
 *				analyse and plan again (the statements without parameters
 *				can then be served before planning)
 *
 * and prints one line per execution: "<mode>\t<query id>\t<rendering>".
 * The rendering is canonical: binary values are decoded (bool, int2, int4,
 * int8, float8, text, varchar, name, bytea; numeric and the like are cast
 * to text in SQL), text values parsed the same way, so that every mode
 * gives the same rendering for the same result.  It includes the row
 * description (names, type OIDs and modifiers, source table and column of
 * each field), the command tag and every value (NULL apart from a value).
 * A test compares renderings across modes, across runs with the cache on
 * and off, and watches result_cache.stats.hits grow on a second run.
 *
 * With --raw, a second list of queries whose text output depends on
 * settings (extra_float_digits, bytea_output, DateStyle, TimeZone,
 * IntervalStyle) is run with text results only (simple, params and
 * prepared), and the values are printed exactly as the server sent them:
 * a result served from the cache must match the session's settings.
 *
 * The first line is "# queries N cacheable K": K of the N queries are
 * plain SELECTs on ordinary tables that result_cache is expected to cache.
 * The exit status is 1 if any query failed (its line then shows the error),
 * 2 on a usage or connection error.
 *
 * Usage:
 *	rc_proto CONNSTR --setup					create schema rc_proto
 *	rc_proto CONNSTR [--mode M] [--raw] [--skip ID,...]
 *		M: all (default), simple, params, binary, prepared; --skip leaves
 *		out the queries of those ids (q16, with FOR SHARE, fails on a
 *		standby)
 *
 * Build:
 *	cc -O2 -Wall -Werror -I$(pg_config --includedir) rc_proto.c \
 *		-L$(pg_config --libdir) -lpq -o rc_proto
 *
 * IDENTIFICATION
 *	  extensions/result_cache/tools/rc_proto.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpq-fe.h"

#define BOOLOID			16
#define BYTEAOID		17
#define NAMEOID			19
#define INT8OID			20
#define INT2OID			21
#define INT4OID			23
#define TEXTOID			25
#define FLOAT8OID		701
#define BPCHAROID		1042
#define VARCHAROID		1043

#define MAX_PARAMS		3
#define PREPARED_PASSES	6

/* One query of the list */
typedef struct ProtoQuery
{
	const char *id;
	const char *sql;			/* with $n placeholders */
	int			nparams;
	const char *params[MAX_PARAMS]; /* text form; NULL is SQL NULL */
	Oid			types[MAX_PARAMS];	/* 0: let the server infer it */
	bool		cacheable;		/* expected to be cached */
} ProtoQuery;

/*
 * Results compared with canonical renderings.  q02 and q03 (and, in
 * prepared mode, one statement) differ only in their parameter, so the
 * parameters must be part of the cache key.
 */
static const ProtoQuery queries[] = {
	{"q01", "SELECT id, i2, i8, f, txt, vc, b, flag FROM rc_proto.t ORDER BY id",
	0, {NULL}, {0}, true},
	{"q02", "SELECT id, txt, vc FROM rc_proto.t WHERE id = $1",
	1, {"3"}, {0}, true},
	{"q03", "SELECT id, txt, vc FROM rc_proto.t WHERE id = $1",
	1, {"4"}, {0}, true},
	{"q04", "SELECT id, n::text, i8 FROM rc_proto.t WHERE i8 > $1 ORDER BY id",
	1, {"0"}, {INT8OID}, true},
	{"q05", "SELECT count(*), sum(i8)::text, max(txt), bool_and(flag) "
		"FROM rc_proto.t WHERE flag = $1",
	1, {"t"}, {BOOLOID}, true},
	{"q06", "SELECT id, b FROM rc_proto.t WHERE b = $1",
	1, {"\\x00ff10"}, {BYTEAOID}, true},
	{"q07", "SELECT id FROM rc_proto.t WHERE txt IS NOT DISTINCT FROM $1 ORDER BY id",
	1, {NULL}, {TEXTOID}, true},
	{"q08", "SELECT id, txt FROM rc_proto.t WHERE id < 0",
	0, {NULL}, {0}, true},
	{"q09", "SELECT FROM rc_proto.t WHERE id <= 2",
	0, {NULL}, {0}, true},
	{"q10", "SELECT id, h FROM rc_proto.big WHERE id % $1 = 0 ORDER BY id",
	1, {"7"}, {INT4OID}, true},
	{"q11", "SELECT t.id, t.txt, u.amt::text, u.note FROM rc_proto.t t "
		"JOIN rc_proto.u u ON u.t_id = t.id WHERE u.amt > $1 ORDER BY 1, 3",
	1, {"0.5"}, {0}, true},
	{"q12", "SELECT id, i8 FROM rc_proto.t WHERE i2 IS NULL OR i2 = $1 ORDER BY id",
	1, {"5"}, {INT2OID}, true},
	{"q13", "SELECT id, i2, txt FROM rc_proto.t WHERE txt LIKE $1 AND id > $2 "
		"AND i8 <> $3 ORDER BY id",
	3, {"%o%", "0", "-1"}, {TEXTOID, INT4OID, INT8OID}, true},
	/* the CASE is folded away by the planner: the column gets vc's typmod */
	{"q18", "SELECT id, CASE WHEN true THEN vc END AS vc2 FROM rc_proto.t "
		"WHERE id <= 3 ORDER BY id",
	0, {NULL}, {0}, true},
	/* about 170 kB of rows, fetched by an Execute after its Bind */
	{"q19", "SELECT id, h FROM rc_proto.big ORDER BY id",
	0, {NULL}, {0}, true},
	/* not expected to be cached: no table, a stable function, row marks */
	{"q14", "SELECT $1::int4 + $2::int8 AS s, $3::text AS t",
	3, {"1", "2", "x"}, {0, 0, 0}, false},
	{"q15", "SELECT id, f, now() IS NOT NULL AS nn FROM rc_proto.t WHERE id = $1",
	1, {"1"}, {0}, false},
	{"q16", "SELECT id, i2 FROM rc_proto.t WHERE id = $1 FOR SHARE",
	1, {"2"}, {0}, false},
	{"q17", "SELECT 'x'::name AS nm, relname FROM pg_class WHERE relname = $1",
	1, {"pg_class"}, {NAMEOID}, false},
};

/* Results printed as sent, text format, whose form depends on settings */
static const ProtoQuery raw_queries[] = {
	{"r01", "SELECT id, f, b, d, ts, iv, n FROM rc_proto.t ORDER BY id",
	0, {NULL}, {0}, true},
	{"r02", "SELECT id, ts, iv, f FROM rc_proto.t WHERE id = $1",
	1, {"1"}, {0}, true},
	{"r03", "SELECT id, ts FROM rc_proto.t WHERE ts > $1 ORDER BY id",
	1, {"1999-12-31 00:00:00+00"}, {0}, true},
};

#define NQUERIES	(sizeof(queries) / sizeof(queries[0]))
#define NRAW		(sizeof(raw_queries) / sizeof(raw_queries[0]))

static const char setup_sql[] =
"SET client_min_messages = warning;\n"
"DROP SCHEMA IF EXISTS rc_proto CASCADE;\n"
"CREATE SCHEMA rc_proto;\n"
"CREATE TABLE rc_proto.t (id int4 PRIMARY KEY, i2 int2, i8 int8, f float8,\n"
"  txt text, vc varchar(20), b bytea, flag bool, n numeric, d date,\n"
"  ts timestamptz, iv interval);\n"
"INSERT INTO rc_proto.t VALUES\n"
" (1, 1, 10000000000, 1.5, 'one', 'v1', '\\x00ff10', true, 1.25,\n"
"  '2024-02-29', '2024-02-29 13:45:00+00', '1 day 2 hours'),\n"
" (2, -2, -9223372036854775808, -0.1, 'two words', 'v2', '\\x', false,\n"
"  -0.0001, '1999-12-31', '1999-12-31 23:59:59.5+00', '-3 mons'),\n"
" (3, 32767, 9223372036854775807, 'NaN', E'tab\\there\\nnew''quote\\\\', NULL,\n"
"  NULL, NULL, 12345678901234567890.123, NULL, NULL, NULL),\n"
" (4, NULL, 42, 'Infinity', 'h\xc3\xa9llo \xe2\x98\x83', '\xc3\xbcn\xc3\xaf',\n"
"  '\\x5c27', true, 'NaN', 'infinity', '-infinity', '00:00:00.000001'),\n"
" (5, 0, 0, 1e-300, '', '', '\\x00', false, 0, '2000-01-01',\n"
"  '2000-01-01 00:00:00+00', '0'),\n"
" (6, 5, 5, 2.718281828459045, NULL, 'x', '\\x0102', NULL, 5, '2020-06-15',\n"
"  '2020-06-15 12:00:00+02', '1 year 2 mons 3 days 04:05:06.7'),\n"
" (7, 7, -1, -0.0, 'to be or not', 'seven', '\\xdeadbeef', true, -7.5,\n"
"  '2010-10-10', '2010-10-10 10:10:10.101+05:30', '-1 days +02:00');\n"
"CREATE TABLE rc_proto.big (id int4 PRIMARY KEY, h text NOT NULL);\n"
"INSERT INTO rc_proto.big SELECT g, md5(g::text) FROM generate_series(1, 3000) g;\n"
"CREATE TABLE rc_proto.u (t_id int4, amt numeric, note text);\n"
"INSERT INTO rc_proto.u VALUES (1, 0.25, 'a'), (1, 2.5, 'b'), (2, 1, NULL),\n"
"  (4, 100.125, 'c'), (7, 0.75, 'd'), (7, 0.5, 'e'), (9, 9, 'orphan');\n"
"ANALYZE rc_proto.t, rc_proto.big, rc_proto.u;\n";

/* A growing string */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static bool any_error = false;
static const char *skip_ids = NULL; /* --skip: "q16,q17" */

/*
 * Append n bytes to b, growing it as needed (always NUL-terminated).
 */
static void
buf_append(Buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;

		while (b->len + n + 1 > cap)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (b->data == NULL)
		{
			fprintf(stderr, "rc_proto: out of memory\n");
			exit(2);
		}
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_puts(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

/*
 * Append formatted text (short pieces: at most 511 bytes at a time).
 */
static void
buf_printf(Buf *b, const char *fmt,...)
{
	char		tmp[512];
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	buf_append(b, tmp, n < (int) sizeof(tmp) ? (size_t) n : sizeof(tmp) - 1);
}

/*
 * Append a string quoted: printable ASCII as is except quote and
 * backslash, every other byte as \xNN, so that a line stays one line.
 */
static void
buf_quoted(Buf *b, const unsigned char *s, int len)
{
	int			i;

	buf_puts(b, "'");
	for (i = 0; i < len; i++)
	{
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'' && s[i] != '\\')
			buf_append(b, (const char *) &s[i], 1);
		else
			buf_printf(b, "\\x%02x", s[i]);
	}
	buf_puts(b, "'");
}

/* Append bytes as \x and two hex digits each, like bytea's hex output */
static void
buf_hex(Buf *b, const unsigned char *s, size_t len)
{
	size_t		i;

	buf_puts(b, "\\x");
	for (i = 0; i < len; i++)
		buf_printf(b, "%02x", s[i]);
}

/* A big-endian unsigned integer of len bytes */
static uint64_t
be_uint(const unsigned char *p, int len)
{
	uint64_t	v = 0;
	int			i;

	for (i = 0; i < len; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * Append the canonical rendering of one value (not NULL): the same for its
 * text and binary forms.  Returns false for a type or a binary length it
 * does not know.
 */
static bool
render_value(Buf *b, Oid type, bool binary, const char *val, int len)
{
	const unsigned char *p = (const unsigned char *) val;

	switch (type)
	{
		case BOOLOID:
			if (binary)
			{
				if (len != 1)
					return false;
				buf_puts(b, p[0] ? "t" : "f");
			}
			else
				buf_puts(b, val);
			return true;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			if (binary)
			{
				int			want = type == INT2OID ? 2 : type == INT4OID ? 4 : 8;
				uint64_t	u;
				int64_t		v;

				if (len != want)
					return false;
				u = be_uint(p, len);
				if (len == 2)
					v = (int16_t) u;
				else if (len == 4)
					v = (int32_t) u;
				else
					v = (int64_t) u;
				buf_printf(b, "%lld", (long long) v);
			}
			else
				buf_printf(b, "%lld", strtoll(val, NULL, 10));
			return true;
		case FLOAT8OID:
			{
				double		d;

				if (binary)
				{
					uint64_t	u;

					if (len != 8)
						return false;
					u = be_uint(p, 8);
					memcpy(&d, &u, sizeof(d));
				}
				else
					d = strtod(val, NULL);
				/* one NaN, whatever its sign and payload bits */
				if (isnan(d))
					buf_puts(b, "NaN");
				else
					buf_printf(b, "%.17g", d);
				return true;
			}
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
			buf_quoted(b, p, len);
			return true;
		case BYTEAOID:
			if (binary)
				buf_hex(b, p, len);
			else
			{
				size_t		n;
				unsigned char *raw = PQunescapeBytea(p, &n);

				if (raw == NULL)
					return false;
				buf_hex(b, raw, n);
				PQfreemem(raw);
			}
			return true;
		default:
			return false;
	}
}

/*
 * The whole result as one line: row description, rows, command tag.  With
 * raw, values are printed as sent (text results only).
 */
static char *
render_result(PGresult *res, bool raw)
{
	Buf			b = {NULL, 0, 0};
	int			nf = PQnfields(res);
	int			nt = PQntuples(res);
	int			f;
	int			r;

	buf_puts(&b, "cols(");
	for (f = 0; f < nf; f++)
		buf_printf(&b, "%s%s:%u/%d/%u/%d", f ? "," : "", PQfname(res, f),
				   PQftype(res, f), PQfmod(res, f), PQftable(res, f),
				   PQftablecol(res, f));
	buf_printf(&b, ") rows %d [%s]:", nt, PQcmdStatus(res));
	for (r = 0; r < nt; r++)
	{
		buf_puts(&b, " (");
		for (f = 0; f < nf; f++)
		{
			if (f > 0)
				buf_puts(&b, ",");
			if (PQgetisnull(res, r, f))
				buf_puts(&b, "NULL");
			else if (raw)
				buf_quoted(&b, (const unsigned char *) PQgetvalue(res, r, f),
						   PQgetlength(res, r, f));
			else if (!render_value(&b, PQftype(res, f), PQfformat(res, f) == 1,
								   PQgetvalue(res, r, f),
								   PQgetlength(res, r, f)))
			{
				buf_printf(&b, "?type %u format %d length %d", PQftype(res, f),
						   PQfformat(res, f), PQgetlength(res, r, f));
				any_error = true;
			}
		}
		buf_puts(&b, ")");
	}
	return b.data;
}

/*
 * Print one execution's line, or its error.
 */
static void
print_result(const char *mode, const ProtoQuery *q, PGresult *res,
			 PGconn *conn, bool raw)
{
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		char	   *s = render_result(res, raw);

		printf("%s\t%s\t%s\n", mode, q->id, s);
		free(s);
	}
	else
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		char	   *msg = PQerrorMessage(conn);
		size_t		n = strlen(msg);

		while (n > 0 && msg[n - 1] == '\n')
			n--;
		printf("%s\t%s\tERROR %s: %.*s\n", mode, q->id, state ? state : "-",
			   (int) n, msg);
		any_error = true;
	}
	PQclear(res);
}

/* SQL name of the parameter types the queries declare, or NULL */
static const char *
type_name(Oid type)
{
	switch (type)
	{
		case BOOLOID:
			return "bool";
		case BYTEAOID:
			return "bytea";
		case NAMEOID:
			return "name";
		case INT8OID:
			return "int8";
		case INT2OID:
			return "int2";
		case INT4OID:
			return "int4";
		case TEXTOID:
			return "text";
		default:
			return NULL;
	}
}

/*
 * The statement with its parameters as literals (cast to their declared
 * type, if any), for the simple protocol.
 */
static char *
inline_params(const ProtoQuery *q)
{
	Buf			b = {NULL, 0, 0};
	const char *s = q->sql;

	while (*s)
	{
		if (s[0] == '$' && s[1] >= '1' && s[1] <= '0' + q->nparams)
		{
			int			i = s[1] - '1';
			const char *v = q->params[i];
			const char *tn = type_name(q->types[i]);

			if (v == NULL)
				buf_puts(&b, "NULL");
			else
			{
				buf_puts(&b, "'");
				for (; *v; v++)
					buf_append(&b, *v == '\'' ? "''" : v, 1 + (*v == '\''));
				buf_puts(&b, "'");
			}
			if (tn)
				buf_printf(&b, "::%s", tn);
			s += 2;
		}
		else
			buf_append(&b, s++, 1);
	}
	return b.data;
}

/*
 * Run q through PQexecParams; with binary, parameters of the types whose
 * binary form is simple go in binary and results come back in binary.
 */
static PGresult *
exec_params(PGconn *conn, const ProtoQuery *q, bool binary)
{
	const char *values[MAX_PARAMS];
	int			lengths[MAX_PARAMS];
	int			formats[MAX_PARAMS];
	unsigned char bin[MAX_PARAMS][8];
	unsigned char *unescaped[MAX_PARAMS];
	int			i;
	PGresult   *res;

	for (i = 0; i < q->nparams; i++)
	{
		const char *v = q->params[i];
		Oid			t = q->types[i];

		values[i] = v;
		lengths[i] = 0;
		formats[i] = 0;
		unescaped[i] = NULL;
		if (!binary || v == NULL)
			continue;
		if (t == INT2OID || t == INT4OID || t == INT8OID)
		{
			int			len = t == INT2OID ? 2 : t == INT4OID ? 4 : 8;
			uint64_t	u = (uint64_t) strtoll(v, NULL, 10);
			int			j;

			for (j = len - 1; j >= 0; j--, u >>= 8)
				bin[i][j] = (unsigned char) (u & 0xff);
			values[i] = (const char *) bin[i];
			lengths[i] = len;
			formats[i] = 1;
		}
		else if (t == BOOLOID)
		{
			bin[i][0] = v[0] == 't';
			values[i] = (const char *) bin[i];
			lengths[i] = 1;
			formats[i] = 1;
		}
		else if (t == BYTEAOID)
		{
			size_t		n;

			unescaped[i] = PQunescapeBytea((const unsigned char *) v, &n);
			values[i] = (const char *) unescaped[i];
			lengths[i] = (int) n;
			formats[i] = 1;
		}
		else if (t == TEXTOID || t == NAMEOID)
		{
			lengths[i] = (int) strlen(v);
			formats[i] = 1;
		}
	}
	res = PQexecParams(conn, q->sql, q->nparams, q->types, values, lengths,
					   formats, binary ? 1 : 0);
	for (i = 0; i < q->nparams; i++)
		if (unescaped[i])
			PQfreemem(unescaped[i]);
	return res;
}

/*
 * Run a list of queries in one mode ("simple", "params", "binary" or
 * "prepared").  raw: text results only, printed as sent.
 */
static void
run_mode(PGconn *conn, const char *mode, const ProtoQuery *list, int n,
		 bool raw)
{
	int			i;
	char		label[32];

	if (strcmp(mode, "simple") == 0)
	{
		snprintf(label, sizeof(label), "%ssimple", raw ? "raw-" : "");
		for (i = 0; i < n; i++)
		{
			char	   *sql = inline_params(&list[i]);

			print_result(label, &list[i], PQexec(conn, sql), conn, raw);
			free(sql);
		}
	}
	else if (strcmp(mode, "params") == 0 || strcmp(mode, "binary") == 0)
	{
		bool		binary = strcmp(mode, "binary") == 0;

		snprintf(label, sizeof(label), "%s%s", raw ? "raw-" : "", mode);
		for (i = 0; i < n; i++)
			print_result(label, &list[i], exec_params(conn, &list[i], binary),
						 conn, raw);
	}
	else
	{
		char		names[64][16];
		int			pass;

		/* one statement per distinct text and parameter types */
		for (i = 0; i < n && i < 64; i++)
		{
			int			j;

			snprintf(names[i], sizeof(names[i]), "rcp%d", i);
			for (j = 0; j < i; j++)
				if (strcmp(list[j].sql, list[i].sql) == 0 &&
					list[j].nparams == list[i].nparams &&
					memcmp(list[j].types, list[i].types,
						   sizeof(list[i].types)) == 0)
				{
					strcpy(names[i], names[j]);
					break;
				}
			if (j == i)
			{
				PGresult   *res = PQprepare(conn, names[i], list[i].sql,
											list[i].nparams, list[i].types);

				if (PQresultStatus(res) != PGRES_COMMAND_OK)
				{
					printf("prepare\t%s\tERROR: %s", list[i].id,
						   PQerrorMessage(conn));
					any_error = true;
				}
				PQclear(res);
			}
		}
		for (pass = 1; pass <= PREPARED_PASSES; pass++)
		{
			bool		binary = !raw && pass % 2 == 0;

			/*
			 * Passes 3 and 5 start with every plan invalidated: each
			 * statement is analysed again at its Bind (without parameters,
			 * the way the simple protocol analyses).
			 */
			if (pass == 3 || pass == 5)
				PQclear(PQexec(conn, "DISCARD PLANS"));

			snprintf(label, sizeof(label), "%sprepared%d", raw ? "raw-" : "",
					 pass);
			for (i = 0; i < n && i < 64; i++)
				print_result(label, &list[i],
							 PQexecPrepared(conn, names[i], list[i].nparams,
											list[i].params, NULL, NULL,
											binary ? 1 : 0),
							 conn, raw);
		}
	}
}

/*
 * The queries of all[0..nall-1] not named by --skip, in a malloc'd array.
 */
static const ProtoQuery *
select_queries(const ProtoQuery *all, int nall, int *n)
{
	ProtoQuery *list = malloc(sizeof(ProtoQuery) * nall);
	int			i;

	if (list == NULL)
	{
		fprintf(stderr, "rc_proto: out of memory\n");
		exit(2);
	}
	*n = 0;
	for (i = 0; i < nall; i++)
	{
		const char *p = skip_ids;
		size_t		idlen = strlen(all[i].id);
		bool		skip = false;

		while (p != NULL && *p != '\0')
		{
			size_t		len = strcspn(p, ",");

			if (len == idlen && strncmp(p, all[i].id, len) == 0)
				skip = true;
			p += len;
			if (*p == ',')
				p++;
		}
		if (!skip)
			list[(*n)++] = all[i];
	}
	return list;
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: rc_proto CONNSTR --setup\n"
			"       rc_proto CONNSTR [--mode all|simple|params|binary|prepared] [--raw]\n"
			"                        [--skip ID,...]\n");
	exit(2);
}

/*
 * Parse the options; create the tables (--setup) or run the queries of the
 * chosen list in the chosen modes.
 */
int
main(int argc, char **argv)
{
	const char *mode = "all";
	bool		raw = false;
	bool		do_setup = false;
	const ProtoQuery *list;
	int			n;
	int			i;
	int			ncacheable = 0;
	PGconn	   *conn;

	if (argc < 2 || argv[1][0] == '-')
		usage();
	for (i = 2; i < argc; i++)
	{
		if (strcmp(argv[i], "--setup") == 0)
			do_setup = true;
		else if (strcmp(argv[i], "--raw") == 0)
			raw = true;
		else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
			mode = argv[++i];
		else if (strcmp(argv[i], "--skip") == 0 && i + 1 < argc)
			skip_ids = argv[++i];
		else
			usage();
	}
	if (strcmp(mode, "all") != 0 && strcmp(mode, "simple") != 0 &&
		strcmp(mode, "params") != 0 && strcmp(mode, "binary") != 0 &&
		strcmp(mode, "prepared") != 0)
		usage();
	if (raw && strcmp(mode, "binary") == 0)
		usage();

	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "rc_proto: could not connect: %s", PQerrorMessage(conn));
		return 2;
	}

	if (do_setup)
	{
		PGresult   *res = PQexec(conn, setup_sql);
		int			ok = PQresultStatus(res) == PGRES_COMMAND_OK;

		if (!ok)
			fprintf(stderr, "rc_proto: setup failed: %s", PQerrorMessage(conn));
		PQclear(res);
		PQfinish(conn);
		return ok ? 0 : 1;
	}

	list = select_queries(raw ? raw_queries : queries,
						  raw ? (int) NRAW : (int) NQUERIES, &n);
	for (i = 0; i < n; i++)
		ncacheable += list[i].cacheable;
	printf("# queries %d cacheable %d\n", n, ncacheable);

	if (strcmp(mode, "all") == 0 || strcmp(mode, "simple") == 0)
		run_mode(conn, "simple", list, n, raw);
	if (strcmp(mode, "all") == 0 || strcmp(mode, "params") == 0)
		run_mode(conn, "params", list, n, raw);
	if (!raw && (strcmp(mode, "all") == 0 || strcmp(mode, "binary") == 0))
		run_mode(conn, "binary", list, n, raw);
	if (strcmp(mode, "all") == 0 || strcmp(mode, "prepared") == 0)
		run_mode(conn, "prepared", list, n, raw);

	PQfinish(conn);
	return any_error ? 1 : 0;
}

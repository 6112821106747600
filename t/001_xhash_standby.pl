# Streaming replication of xhash indexes (Generic WAL).
#
# A primary and a hot standby.  Tables with xhash indexes (int8, two columns
# (int, text), UNIQUE text, and debug_hash_bits = 4 to force collisions) go
# through an initial build, inserts that force bucket splits, deletes plus
# VACUUM that free pages, and inserts that reuse them.  After each step the
# standby, once caught up, must give the same answers through the index (plain
# index scans and bitmap scans) as a sequential scan on the primary, and the
# index structure seen there must match the primary's.  Readers on the standby
# also run while the primary splits and vacuums.  Finally the standby is
# promoted: its indexes must verify clean and keep working (splits included),
# and the UNLOGGED table's index must be empty but valid.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use XhashTest;

my @logged_indexes = qw(t8_xh tm_xh tu_xh tc_xh);

my %mode_gucs = %SCAN_MODES;

# One output line per lookup: label, number of rows, digest of the rows.
sub lookup
{
	my ($label, $table, $cols, $where) = @_;
	return "SELECT '$label', count(*), "
	  . "coalesce(md5(string_agg(($cols)::text, ',' ORDER BY ($cols)::text)), '-') "
	  . "FROM $table WHERE $where;";
}

# Point lookups (hits and misses), cross-type keys, IN lists, and lookups
# on only some columns of the two-column index (full index scans).
my @t8_keys = (0, 1, 2, 17, 123, 999, 4321, 6999, 7000, 15000, 29999,
	30000, 45000, -1, -250, -500, -501, 123456789, -9999999);
my @tm_keys = (
	[ 0, 'b0' ], [ 1, 'b1' ], [ 5, 'b5' ], [ 42, 'b17' ],
	[ 99, 'b36' ], [ 100, 'b1' ], [ 1, 'b37' ], [ 1, 'nope' ],
	[ -1, 'b0' ]);
my @tu_keys = (1, 2, 17, 42, 43, 123, 4999, 5000, 5001, 12345, 29999,
	30000, 34999, 35000, 40000, -1);
my @tc_keys = (0, 1, 7, 150, 299, 300, -1, -25, -50, -51, 100000);

my @queries;
push @queries, lookup("t8 id=$_", 't8', 'id, v', "id = $_") for @t8_keys;
push @queries, lookup('t8 id=17::int4', 't8', 'id, v', 'id = 17::int4');
push @queries, lookup('t8 id=-250::int2', 't8', 'id, v', 'id = (-250)::int2');
push @queries,
  lookup('t8 in', 't8', 'id, v', 'id IN (1, 2, 17, 123, -5, 15000, 99999999)');
push @queries, lookup("tm a=$_->[0] b=$_->[1]",
	'tm', 'a, b, c', "a = $_->[0] AND b = '$_->[1]'")
  for @tm_keys;
push @queries,
  lookup('tm in', 'tm', 'a, b, c', "a = 5 AND b IN ('b5', 'b6', 'b42')");
push @queries, lookup('tm a only', 'tm', 'a, b, c', 'a = 7');
push @queries, lookup('tm b only', 'tm', 'a, b, c', "b = 'b11'");
push @queries, lookup("tu k=md5($_)", 'tu', 'k, n', "k = md5('$_')")
  for @tu_keys;
push @queries, lookup('tu miss', 'tu', 'k, n', "k = 'no such key'");
push @queries,
  lookup('tu in', 'tu', 'k, n', "k IN (md5('3'), md5('6'), md5('7'), 'x')");
push @queries, lookup("tc x=$_", 'tc', 'x, y', "x = $_") for @tc_keys;
push @queries, lookup('tc in', 'tc', 'x, y', 'x IN (3, 4, 5, -3, 301)');
my $queries = join("\n", @queries);

sub run_lookups
{
	my ($node, $mode) = @_;
	return $node->safe_psql('postgres', "$mode_gucs{$mode}\n$queries");
}

sub plan_of
{
	my ($node, $mode, $query) = @_;
	return $node->safe_psql('postgres',
		"$mode_gucs{$mode}\nEXPLAIN (COSTS OFF) $query");
}

# The index must really be used by the index-mode and bitmap-mode queries.
sub check_plans
{
	my ($node, $label) = @_;
	my %probe = (
		t8_xh => 'SELECT * FROM t8 WHERE id = 17',
		tm_xh => "SELECT * FROM tm WHERE a = 5 AND b = 'b5'",
		tu_xh => "SELECT * FROM tu WHERE k = md5('17')",
		tc_xh => 'SELECT * FROM tc WHERE x = 7',);
	foreach my $idx (sort keys %probe)
	{
		like(plan_of($node, 'index', $probe{$idx}),
			qr/Index Scan using $idx\b/,
			"$label: index scan on $idx is used");
		like(plan_of($node, 'bitmap', $probe{$idx}),
			qr/Bitmap Index Scan on $idx\b/,
			"$label: bitmap scan on $idx is used");
	}
	like(
		plan_of($node, 'bitmap', 'SELECT * FROM t8 WHERE id IN (1, 2, 3)'),
		qr/Bitmap Index Scan on t8_xh/,
		"$label: IN list uses a bitmap scan on t8_xh");
}

# Structural figures that must be identical on primary and standby.
my $stats_cols =
  'buckets, primary_pages, overflow_pages, free_pages, unused_pages, total_pages, '
  . 'live_entries + dead_entries + leftover_entries AS entries, splits, '
  . 'max_chain_pages, hash_bits';

sub stats
{
	my ($node, $idx, $cols) = @_;
	$cols //= $stats_cols;
	return $node->safe_psql('postgres',
		"SELECT $cols FROM xhash.xhash_stats('$idx')");
}

sub stat_value
{
	my ($node, $idx, $col) = @_;
	return stats($node, $idx, $col) + 0;
}

sub verify_clean
{
	my ($node, $label, @indexes) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	foreach my $idx (@indexes)
	{
		my $res = $node->safe_psql('postgres',
			"SELECT blkno, problem FROM xhash.xhash_verify('$idx')");
		is($res, '', "$label: xhash_verify($idx) is empty on " . $node->name);
	}
}

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
# VACUUM runs only when the test says so
$primary->append_conf('postgresql.conf', "autovacuum = off\n");
$primary->start;
$primary->backup('base');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# Everything below is created after the base backup, so the standby gets the
# extension, the tables and the index builds through WAL.
$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION xhash;
CREATE TABLE t8 (id int8, v text);
CREATE TABLE tm (a int, b text, c int);
CREATE TABLE tu (k text, n int);
CREATE TABLE tc (x int, y int);
CREATE UNLOGGED TABLE tl (id int, v text);

INSERT INTO t8 SELECT i % 7000, 'v' || i FROM generate_series(1, 10000) i;
-- "stable" rows: never deleted, looked up by the standby readers
INSERT INTO t8 SELECT -i, 'stable' || i FROM generate_series(1, 500) i;
INSERT INTO t8 VALUES (NULL, 'null1'), (NULL, 'null2');
INSERT INTO tm SELECT i % 100, 'b' || (i % 37), i FROM generate_series(1, 10000) i;
INSERT INTO tm VALUES (NULL, 'b5', -1), (5, NULL, -2);
INSERT INTO tu SELECT md5(i::text), i FROM generate_series(1, 5000) i;
INSERT INTO tu VALUES (NULL, -1), (NULL, -2);
INSERT INTO tc SELECT i % 300, i FROM generate_series(1, 2000) i;
INSERT INTO tc SELECT -i, -i FROM generate_series(1, 50) i;
INSERT INTO tl SELECT i, 'l' || i FROM generate_series(1, 20000) i;

CREATE INDEX t8_xh ON t8 USING xhash (id);
CREATE INDEX tm_xh ON tm USING xhash (a, b);
CREATE UNIQUE INDEX tu_xh ON tu USING xhash (k);
CREATE INDEX tc_xh ON tc USING xhash (x) WITH (debug_hash_bits = 4);
CREATE INDEX tl_xh ON tl USING xhash (id);
});

# Compare, after replay, the standby's index answers with the primary's
# sequential-scan answers, and the index structures of both.
sub check_step
{
	my ($label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	$primary->wait_for_catchup($standby);

	my $expected = run_lookups($primary, 'seq');
	my $hits = () = $expected =~ /^[^|]*\|[1-9][0-9]*\|/mg;
	cmp_ok($hits, '>=', 20, "$label: sequential scans find rows ($hits hits)");

	is(run_lookups($primary, 'index'), $expected,
		"$label: primary index scans match sequential scans");
	is(run_lookups($standby, 'index'),
		$expected, "$label: standby index scans match primary");
	is(run_lookups($standby, 'bitmap'),
		$expected, "$label: standby bitmap scans match primary");

	verify_clean($primary, $label, @logged_indexes);

	foreach my $idx (@logged_indexes)
	{
		is(stats($standby, $idx), stats($primary, $idx),
			"$label: $idx has the same structure on the standby");
	}
}

# Step 1: the initial build
check_plans($standby, 'initial build (standby)');
check_step('initial build');

# xhash_verify needs a SHARE lock on the table, which recovery does not grant:
# it must refuse clearly.  The structure replayed on the standby is checked by
# comparing xhash_stats with the primary's (above) and by xhash_verify after
# promotion (below).
foreach my $idx (@logged_indexes)
{
	my ($ret, $out, $err) = $standby->psql('postgres',
		"SELECT blkno, problem FROM xhash.xhash_verify('$idx')");
	ok($ret != 0 && $err =~ /xhash_verify cannot run during recovery/,
		"xhash_verify($idx) refuses clearly on the standby");
}

# Step 2: enough inserts to split buckets
my %splits_before = map { $_ => stat_value($primary, $_, 'splits') }
  @logged_indexes;
$primary->safe_psql(
	'postgres', q{
INSERT INTO t8 SELECT i % 30000, 'w' || i FROM generate_series(10001, 70000) i;
INSERT INTO tm SELECT i % 100, 'b' || (i % 37), i FROM generate_series(10001, 40000) i;
INSERT INTO tu SELECT md5(i::text), i FROM generate_series(5001, 30000) i;
INSERT INTO tc SELECT i % 300, i FROM generate_series(2001, 20000) i;
INSERT INTO tl SELECT i, 'l' || i FROM generate_series(20001, 60000) i;
});
foreach my $idx (@logged_indexes)
{
	cmp_ok(stat_value($primary, $idx, 'splits'),
		'>', $splits_before{$idx}, "inserts split buckets of $idx");
}
my ($ret, $out, $err) = $primary->psql('postgres',
	"\\set VERBOSITY verbose\nINSERT INTO tu VALUES (md5('4242'), 0);");
like($err, qr/ERROR:  23505: duplicate key value violates unique constraint "tu_xh"/,
	'unique xhash index rejects a duplicate key');
check_step('inserts with splits');

# Step 3: deletes and VACUUM free pages
$primary->safe_psql(
	'postgres', q{
DELETE FROM t8 WHERE id > 0 AND id % 5 <> 0;
DELETE FROM tm WHERE c % 4 <> 0;
DELETE FROM tu WHERE n % 3 <> 0;
DELETE FROM tc WHERE x >= 0 AND y % 2 = 0;
VACUUM t8, tm, tu, tc;
});
my $tc_free = stat_value($primary, 'tc_xh', 'free_pages');
cmp_ok($tc_free, '>', 0, "VACUUM freed pages of tc_xh ($tc_free)");
is(stat_value($primary, 'tc_xh', 'dead_entries'),
	0, 'VACUUM removed the dead entries of tc_xh');
check_step('deletes and vacuum');

# Step 4: inserts reuse the freed pages; deleted unique keys can come back
$primary->safe_psql(
	'postgres', q{
INSERT INTO tc SELECT i % 300, i FROM generate_series(20001, 30000) i;
INSERT INTO t8 SELECT i % 45000, 'r' || i FROM generate_series(70001, 90000) i;
INSERT INTO tm SELECT i % 100, 'b' || (i % 37), i FROM generate_series(40001, 50000) i;
INSERT INTO tu SELECT md5(i::text), i FROM generate_series(1, 35000) i WHERE i % 3 <> 0;
});
my $tc_free_after = stat_value($primary, 'tc_xh', 'free_pages');
cmp_ok($tc_free_after, '<', $tc_free,
	"inserts reused free pages of tc_xh ($tc_free -> $tc_free_after)");
check_step('inserts reusing pages');

# Step 5: standby restart
$standby->restart;
check_step('standby restart');

# Step 6: standby readers while the primary splits, compacts and recycles.
# Each stable key has exactly one row; a scan that misses a row moved by a
# concurrently replayed record fails the pgbench client.
$primary->safe_psql(
	'postgres', q{
CREATE FUNCTION check_stable_index(k int8) RETURNS void LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_indexscan = on
AS $$
DECLARE c int8;
BEGIN
	SELECT count(*) INTO c FROM t8 WHERE id = k;
	IF c <> 1 THEN
		RAISE EXCEPTION 'index scan found % rows of t8 for id = %', c, k;
	END IF;
	SELECT count(*) INTO c FROM tc WHERE x = (k % 50)::int - 1;
	IF c <> 1 THEN
		RAISE EXCEPTION 'index scan found % rows of tc for x = %', c, (k % 50) - 1;
	END IF;
END $$;
CREATE FUNCTION check_stable_bitmap(k int8) RETURNS void LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = on SET enable_indexscan = off
AS $$
DECLARE c int8;
BEGIN
	SELECT count(*) INTO c FROM t8 WHERE id = k;
	IF c <> 1 THEN
		RAISE EXCEPTION 'bitmap scan found % rows of t8 for id = %', c, k;
	END IF;
	SELECT count(*) INTO c FROM tc WHERE x = (k % 50)::int - 1;
	IF c <> 1 THEN
		RAISE EXCEPTION 'bitmap scan found % rows of tc for x = %', c, (k % 50) - 1;
	END IF;
END $$;
});
$primary->wait_for_catchup($standby);
# the readers' queries must use the indexes
like(
	plan_of($standby, 'index', 'SELECT count(*) FROM tc WHERE x = -3'),
	qr/Index Scan using tc_xh/,
	'standby reader query on tc uses tc_xh');

my $script = $PostgreSQL::Test::Utils::tmp_check . '/standby_reader.sql';
PostgreSQL::Test::Utils::append_to_file(
	$script, q{\set k random(1, 500)
SELECT check_stable_index(-:k);
SELECT check_stable_bitmap(-:k);
});
my $reader_secs = 8;
my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start(
	[
		'pgbench', '-n', '-c', '2', '-j', '2', '-T', $reader_secs,
		'-f', $script, $standby->connstr('postgres')
	],
	'>', \$bench_out, '2>', \$bench_err);

my $rounds = 0;
my $t0 = time;
while (time - $t0 < $reader_secs - 1 || $rounds < 2)
{
	$rounds++;
	my $lo = 100000 * $rounds;
	my $hi = $lo + 15000;
	$primary->safe_psql(
		'postgres', qq{
INSERT INTO t8 SELECT i % 40000, 'c' || i FROM generate_series($lo, $hi) i;
INSERT INTO tc SELECT i % 300, i FROM generate_series($lo, $lo + 6000) i;
DELETE FROM t8 WHERE id >= 0 AND v LIKE 'c%' AND id % 3 <> 0;
DELETE FROM tc WHERE x >= 0 AND y >= 100000 AND y % 4 <> 0;
VACUUM t8, tc;
});
}
my $bench_ok = $bench->finish;
my ($bench_tx) = $bench_out =~ /number of transactions actually processed: (\d+)/;
note "pgbench on the standby: $rounds primary rounds, "
  . ($bench_tx // '?') . " reader transactions";
ok($bench_ok, 'standby readers ran without error during replay')
  or diag "pgbench stdout:\n$bench_out\npgbench stderr:\n$bench_err";
unlike($bench_err, qr/found \d+ rows/,
	'standby readers always found exactly one row per stable key');
cmp_ok($bench_tx // 0, '>', 100, 'standby readers ran enough lookups');
check_step('concurrent readers');

# Step 7: promotion.  First an index whose last change before promotion
# reserves a new extent of primary pages (relation extension itself is not
# WAL-logged): the promoted standby must be able to split into it.
$primary->safe_psql('postgres',
	'CREATE TABLE tr (id int); CREATE INDEX tr_xh ON tr USING xhash (id);');
is(stats($primary, 'tr_xh', 'buckets, total_pages'),
	'1|2', 'empty index has one bucket');
for my $batch (1 .. 100)
{
	$primary->safe_psql('postgres',
		"INSERT INTO tr SELECT $batch * 1000 + g FROM generate_series(1, 50) g");
	last if stat_value($primary, 'tr_xh', 'splits') > 0;
}
is(stat_value($primary, 'tr_xh', 'splits'), 1, 'tr_xh had its first split');
cmp_ok(stat_value($primary, 'tr_xh', 'total_pages'),
	'>', 3, 'the first split reserved an extent of bucket pages');
$primary->wait_for_catchup($standby);
is(stats($standby, 'tr_xh'), stats($primary, 'tr_xh'),
	'tr_xh has the same structure (and size) on the standby');

$standby->promote;
my $promoted = $standby;

# The UNLOGGED table's index is reset from its init fork: empty but valid.
is( $promoted->safe_psql('postgres',
		"$mode_gucs{index}\nSELECT count(*) FROM tl WHERE id = 5"),
	'0',
	'promoted: unlogged index lookup returns no rows');
is( $promoted->safe_psql('postgres',
		"$mode_gucs{bitmap}\nSELECT count(*) FROM tl WHERE id IN (5, 6)"),
	'0',
	'promoted: unlogged bitmap lookup returns no rows');
like(plan_of($promoted, 'index', 'SELECT * FROM tl WHERE id = 5'),
	qr/Index Scan using tl_xh/, 'promoted: unlogged lookup uses tl_xh');
is($promoted->safe_psql('postgres', 'SELECT count(*) FROM tl'),
	'0', 'promoted: unlogged table is empty');
verify_clean($promoted, 'promoted (unlogged)', 'tl_xh');
is(stats($promoted, 'tl_xh', 'buckets, live_entries'),
	'1|0', 'promoted: unlogged index has one empty bucket');
$promoted->safe_psql('postgres',
	"INSERT INTO tl SELECT i, 'p' || i FROM generate_series(1, 5000) i");
is( $promoted->safe_psql('postgres',
		"$mode_gucs{index}\nSELECT v FROM tl WHERE id = 4321"),
	'p4321',
	'promoted: unlogged index works after new inserts');
verify_clean($promoted, 'promoted (unlogged, refilled)', 'tl_xh');

# The replayed indexes are structurally sound ...
verify_clean($promoted, 'promoted', @logged_indexes, 'tr_xh');
($ret, $out, $err) = $promoted->psql('postgres',
	'INSERT INTO tr SELECT g FROM generate_series(1, 20000) g');
is($ret, 0, 'promoted: splits into the extent reserved before promotion work')
  or diag $err;
cmp_ok(stat_value($promoted, 'tr_xh', 'splits'),
	'>', 16, 'promoted: tr_xh split beyond its first extent');
verify_clean($promoted, 'promoted (reserved extent)', 'tr_xh');
is( $promoted->safe_psql('postgres',
		"$mode_gucs{bitmap}\nSELECT count(*) FROM tr WHERE id IN (17, 999)"),
	'2',
	'promoted: tr_xh lookups work');

# ... and keep working as the new primary, including further splits.
my %promoted_splits = map { $_ => stat_value($promoted, $_, 'splits') }
  @logged_indexes;
($ret, $out, $err) = $promoted->psql(
	'postgres', q{
INSERT INTO t8 SELECT i % 50000, 'n' || i FROM generate_series(1000001, 1060000) i;
INSERT INTO tm SELECT i % 100, 'b' || (i % 37), i FROM generate_series(50001, 90000) i;
INSERT INTO tu SELECT md5(i::text), i FROM generate_series(35001, 60000) i;
INSERT INTO tc SELECT i % 300, i FROM generate_series(1000001, 1020000) i;
});
is($ret, 0, 'promoted: inserts succeed') or diag $err;
foreach my $idx (@logged_indexes)
{
	cmp_ok(stat_value($promoted, $idx, 'splits'),
		'>', $promoted_splits{$idx}, "promoted: inserts split buckets of $idx");
}
verify_clean($promoted, 'promoted after inserts', @logged_indexes);
my $expected = run_lookups($promoted, 'seq');
is(run_lookups($promoted, 'index'),
	$expected, 'promoted: index scans match sequential scans');
is(run_lookups($promoted, 'bitmap'),
	$expected, 'promoted: bitmap scans match sequential scans');

$standby->stop;
$primary->stop;
done_testing();

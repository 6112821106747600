# result_cache across crashes.
#
# The cache lives in shared memory only: after a crash it must start empty
# (no entry, counters reset) and answer with what the database holds.  Two
# crashes:
#
#  1. kill -9 of a backend with an uncommitted write, after the cache was
#     filled: the postmaster reinitializes shared memory in place
#     (restart_after_crash = on).
#  2. an immediate shutdown while a transaction that wrote is stopped in
#     its pre-commit window (result_cache.debug_pause_at = 'pre_commit',
#     held on its advisory lock), after the cache was filled again and a
#     committed write was cached; then a restart.
#
# After each: the cache is empty and its counters are reset, every query
# returns the same rows as with the cache disabled (the aborted writes are
# not there, the committed ones are), new results are stored and then
# served from the cache, and writes still invalidate.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use ResultCacheTest;

# result_cache.debug_pause_at = 'pre_commit' waits on this advisory lock
my $pre_commit_key = 7243004;

my $node = rc_new_node('crash');
# no autovacuum: its ANALYZE could invalidate entries in the middle of a check
$node->append_conf('postgresql.conf',
	"restart_after_crash = on\nautovacuum = off\n");
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION result_cache;
CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g;
CREATE TABLE g (grp int, n int);
INSERT INTO g SELECT i % 10, i FROM generate_series(1, 5000) i;
});

# Twenty point lookups and a few aggregates: distinct cache entries.
my @queries = map { "SELECT id, v FROM t WHERE id = $_;" } (1 .. 20);
push @queries, map { "SELECT grp, count(*), sum(n) FROM g WHERE grp = $_ GROUP BY grp;" }
  (0 .. 4);
my $nq = scalar @queries;
my $queries = join("\n", @queries);

# What the queries return with the cache disabled.
sub uncached
{
	return $node->safe_psql('postgres',
		"SET result_cache.enabled = off;\n$queries");
}

# Run the queries twice; the second time every one must be a hit.  The
# first run must store every result when the cache was empty ($empty), or
# else store the results not cached (a write invalidated some).
sub fill_and_check
{
	my ($label, $expected, $empty) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my $before = rc_stats($node);
	is($node->safe_psql('postgres', $queries), $expected,
		"$label: first run returns the right rows");
	my $mid = rc_stats($node);
	if ($empty)
	{
		cmp_ok($mid->{stores} - $before->{stores},
			'>=', $nq, "$label: first run stores every result");
	}
	else
	{
		cmp_ok(
			$mid->{stores} - $before->{stores} + $mid->{hits} - $before->{hits},
			'>=', $nq, "$label: first run stores the results not cached");
	}
	is($node->safe_psql('postgres', $queries), $expected,
		"$label: second run returns the right rows");
	my $after = rc_stats($node);
	cmp_ok($after->{hits} - $mid->{hits},
		'>=', $nq, "$label: second run is served from the cache");
	cmp_ok($after->{entries}, '>=', $nq, "$label: entries are in the cache");
}

# Right after a restart: nothing cached, nothing counted.
sub check_empty
{
	my ($label, $crash_time) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my $s = rc_stats($node);
	is($s->{entries}, 0, "$label: no entry");
	is($s->{hits}, 0, "$label: hits reset");
	is($s->{stores}, 0, "$label: stores reset");
	is($s->{invalidations}, 0, "$label: invalidations reset");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM result_cache.entries'),
		'0', "$label: result_cache.entries is empty");
	is( $node->safe_psql(
			'postgres',
			"SELECT stats_reset >= '$crash_time' FROM result_cache.stats"),
		't',
		"$label: stats_reset is after the crash");
}

my $expected = uncached();
like($expected, qr/^1\|v1\n2\|v2\n/, 'queries return rows');
fill_and_check('before the crashes', $expected, 1);

# ---------------------------------------------------------------------------
# Crash 1: kill -9 of a backend holding an uncommitted write.
# ---------------------------------------------------------------------------
my $victim = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $victim->query_safe(
	"BEGIN; UPDATE t SET v = 'uncommitted' WHERE id = 1; SELECT pg_backend_pid();");
like($pid, qr/^\d+$/, 'crash 1: victim backend pid');
my $crash_time = $node->safe_psql('postgres', 'SELECT now()');
my $log_offset = -s $node->logfile;
ok(kill('KILL', $pid), 'crash 1: backend killed');
# The postmaster notices, terminates everything and restarts.
$node->wait_for_log(qr/all server processes terminated; reinitializing/,
	$log_offset);
# (a query the cache does not take: the cache must stay empty until checked)
ok($node->poll_query_until('postgres', 'SELECT now() IS NOT NULL'),
	'crash 1: server accepts connections again');
eval { $victim->quit; };

check_empty('after crash 1', $crash_time);
is(uncached(), $expected, 'after crash 1: the uncommitted write is gone');
fill_and_check('after crash 1', $expected, 1);

# Writes still invalidate.
$node->safe_psql('postgres',
	"UPDATE t SET v = 'after crash 1' WHERE id = 2; DELETE FROM g WHERE n = 10;");
$expected = uncached();
like($expected, qr/^1\|v1\n2\|after crash 1\n/,
	'after crash 1: the write is there without the cache');
is($node->safe_psql('postgres', $queries),
	$expected, 'after crash 1: cached reads see the write');

# ---------------------------------------------------------------------------
# Crash 2: immediate shutdown while a writing transaction is in its
# pre-commit window.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', "UPDATE t SET v = 'committed' WHERE id = 3;");
$expected = uncached();
like($expected, qr/^1\|v1\n2\|after crash 1\n3\|committed\n/,
	'crash 2: committed write is there');
fill_and_check('before crash 2', $expected, 0);

my $holder = $node->background_psql('postgres');
$holder->query_safe("SELECT pg_advisory_lock($pre_commit_key);");
my $writer = $node->background_psql('postgres', on_error_stop => 0);
$writer->query_safe(
	    "SET result_cache.debug_pause_at = 'pre_commit';\n"
	  . "BEGIN;\n"
	  . "UPDATE t SET v = 'in pre-commit' WHERE id = 4;\n"
	  . "INSERT INTO g VALUES (1, 1000000);");
$writer->query_until(qr/committing/, "\\echo committing\nCOMMIT;\n");
ok( $node->poll_query_until(
		'postgres',
		'SELECT count(*) > 0 FROM pg_locks '
		  . "WHERE locktype = 'advisory' AND objid = $pre_commit_key AND NOT granted"
	),
	'crash 2: the writer waits in its pre-commit window');
is($node->safe_psql('postgres', $queries),
	$expected, 'crash 2: the paused transaction is not visible yet');

$crash_time = $node->safe_psql('postgres', 'SELECT now()');
$node->stop('immediate');
eval { $writer->quit; };
eval { $holder->quit; };
$node->start;

check_empty('after crash 2', $crash_time);
is(uncached(), $expected,
	'after crash 2: the committed write is there, the paused one is not');
fill_and_check('after crash 2', $expected, 1);

$node->safe_psql('postgres',
	"UPDATE t SET v = 'after crash 2' WHERE id = 4; INSERT INTO g VALUES (2, 7);");
$expected = uncached();
like($expected, qr/\n4\|after crash 2\n/,
	'after crash 2: the write is there without the cache');
is($node->safe_psql('postgres', $queries),
	$expected, 'after crash 2: cached reads see the write');

$node->stop;
done_testing();

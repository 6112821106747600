# result_cache on a streaming standby, and after its promotion.
#
# The extension is created on the primary (and so exists on the standby);
# both servers preload it.  The primary caches a repeated SELECT.  On the
# hot standby the same SELECT, repeated, must never be served from the
# cache (no hit, no entry, no store; the "recovery" bypass counter grows
# by at least the number of executions) and must always return what replay
# has applied, through several rounds of writes on the primary; the queries
# of rc_proto (every protocol path) must match the primary's results and get
# no hit either.  Then the standby is promoted: a session opened during
# recovery and new sessions must get hits, and writes (from both kinds of
# session) must invalidate so that every read returns the committed value.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use ResultCacheTest;

my $query = 'SELECT v FROM kv WHERE k = 7;';
my $query2 = 'SELECT count(*), sum(n) FROM other;';

my $primary = rc_new_node('primary', allows_streaming => 1);
# no autovacuum: its ANALYZE could invalidate entries in the middle of a check
$primary->append_conf('postgresql.conf', "autovacuum = off\n");
$primary->start;
$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION result_cache;
CREATE TABLE kv (k int PRIMARY KEY, v text NOT NULL);
INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 100) g;
CREATE TABLE other (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO other SELECT g, g FROM generate_series(1, 10) g;
});

# The primary caches the query: otherwise the standby checks prove nothing.
my $before = rc_stats($primary);
is($primary->safe_psql('postgres', $query x 3),
	"v7\nv7\nv7", 'primary: repeated query returns its row');
my $after = rc_stats($primary);
cmp_ok($after->{hits} - $before->{hits},
	'>=', 2, 'primary: repeated query is served from the cache');

# Tables of rc_proto, for queries through every protocol path
my $proto = rc_compile_tool('rc_proto');
my ($rc, $out, $err) = rc_run($proto, $primary->connstr('postgres'), '--setup');
is($rc, 0, 'rc_proto --setup on the primary') or diag $err;

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf',
	"shared_preload_libraries = 'result_cache'\n");
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'standby is in recovery');

# ---------------------------------------------------------------------------
# On the standby: never served from the cache, always what replay applied.
# ---------------------------------------------------------------------------
$before = rc_stats($standby);
my $recovery_before = rc_reason($standby, 'bypass', 'recovery');
is($standby->safe_psql('postgres', ($query x 10) . ($query2 x 5)),
	join("\n", ('v7') x 10, ('10|55') x 5),
	'standby: repeated queries return their rows');
$after = rc_stats($standby);
is($after->{hits}, $before->{hits}, 'standby: no hit');
is($after->{stores}, $before->{stores}, 'standby: nothing stored');
is($after->{entries}, 0, 'standby: no entry');
cmp_ok(rc_reason($standby, 'bypass', 'recovery') - $recovery_before,
	'>=', 15, "standby: each query bypassed the cache for 'recovery'");

# Every protocol path (simple, extended, binary, prepared): the same results
# as the primary's with its cache off, and no hit.  (q16 takes row locks,
# which a standby refuses.)
{
	local $ENV{PGOPTIONS} = '-c result_cache.enabled=off';
	($rc, $out, $err) =
	  rc_run($proto, $primary->connstr('postgres'), '--skip', 'q16');
}
is($rc, 0, 'rc_proto on the primary, cache off') or diag $err;
$before = rc_stats($standby);
my ($rc2, $out2, $err2) =
  rc_run($proto, $standby->connstr('postgres'), '--skip', 'q16');
is($rc2, 0, 'rc_proto on the standby') or diag $out2, $err2;
is($out2, $out, 'standby: rc_proto results match the primary\'s');
$after = rc_stats($standby);
is($after->{hits}, $before->{hits}, 'standby: no hit through any protocol path');
is($after->{entries}, 0, 'standby: still no entry');

for my $round (1 .. 5)
{
	$primary->safe_psql('postgres',
		"UPDATE kv SET v = 'r$round' WHERE k = 7; "
		  . "INSERT INTO other VALUES (100 + $round, $round);");
	# the primary's cache follows its own writes
	is($primary->safe_psql('postgres', $query x 2),
		"r$round\nr$round", "round $round: primary reads its write");
	$primary->wait_for_catchup($standby);
	my $n = 10 + $round;
	my $sum = 55 + $round * ($round + 1) / 2;
	is($standby->safe_psql('postgres', ($query x 3) . ($query2 x 2)),
		join("\n", ("r$round") x 3, ("$n|$sum") x 2),
		"round $round: standby returns the replayed rows");
}
$after = rc_stats($standby);
is($after->{hits}, $before->{hits}, 'standby: still no hit after replay');
is($after->{entries}, 0, 'standby: still no entry after replay');

# A session opened during recovery, kept open across the promotion
my $old_session = $standby->background_psql('postgres');
is($old_session->query_safe($query), 'r5',
	'session opened during recovery reads the row');

# ---------------------------------------------------------------------------
# Promotion: the cache works, and writes invalidate.
# ---------------------------------------------------------------------------
$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'standby promoted');

$before = rc_stats($standby);
is($standby->safe_psql('postgres', ($query x 3) . ($query2 x 3)),
	join("\n", ('r5') x 3, ('15|70') x 3),
	'promoted: repeated queries return their rows');
$after = rc_stats($standby);
cmp_ok($after->{hits} - $before->{hits},
	'>=', 4, 'promoted: repeated queries are served from the cache');
cmp_ok($after->{entries}, '>=', 2, 'promoted: entries are stored');

$before = $after;
is($old_session->query_safe($query), 'r5',
	'promoted: session opened during recovery reads the row');
is($old_session->query_safe($query), 'r5',
	'promoted: session opened during recovery reads the row again');
$after = rc_stats($standby);
cmp_ok($after->{hits} - $before->{hits},
	'>=', 2, 'promoted: session opened during recovery gets hits');

# A write in a new session: every session sees it.
$before = $after;
$standby->safe_psql('postgres',
	"UPDATE kv SET v = 'promoted' WHERE k = 7; DELETE FROM other WHERE id > 100;");
is($standby->safe_psql('postgres', $query . $query2),
	"promoted\n10|55", 'promoted: a new session reads the committed write');
is($old_session->query_safe($query . $query2),
	"promoted\n10|55",
	'promoted: session opened during recovery reads the committed write');
$after = rc_stats($standby);
cmp_ok($after->{invalidations} - $before->{invalidations},
	'>=', 1, 'promoted: the write invalidated entries');

# A write from the session opened during recovery: every session sees it.
$standby->safe_psql('postgres', $query x 2);
$old_session->query_safe(
	"BEGIN; UPDATE kv SET v = 'old session' WHERE k = 7; COMMIT;");
is($standby->safe_psql('postgres', $query x 2),
	"old session\nold session",
	'promoted: a write by the session opened during recovery is seen');
is($old_session->query_safe($query),
	'old session', 'promoted: that session reads its own write');

# The old primary's cache is its own: it still returns its own data.
is($primary->safe_psql('postgres', $query), 'r5',
	'old primary still returns its own data');

$old_session->quit;
$standby->stop;
$primary->stop;
done_testing();

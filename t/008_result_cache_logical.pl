# result_cache on a logical replication subscriber.
#
# The apply worker writes tables through ExecSimpleRelation* and
# ExecuteTruncateGuts, past the executor hooks that record a transaction's
# writes: the extension invalidates the whole cache (its epoch) when a
# logical replication worker's transaction commits.  A cached result must
# never outlive a replicated change.
#
# A publisher and a subscriber (both preload result_cache; the extension is
# created on the subscriber).  Each round, on the subscriber, every query is
# read twice (the second read must be a hit: there is a cached entry to go
# stale); then the publisher writes, the subscriber catches up, and every
# query on the subscriber must return the new rows, the same as with
# result_cache.enabled = off, in new sessions and in a session kept open
# since the start; the invalidation counter must have grown.  Rounds:
# UPDATE, INSERT, DELETE, TRUNCATE, a transaction over two tables, a
# prepared transaction replicated at COMMIT PREPARED (subscription without
# two_phase), a transaction large enough to be streamed (streaming = on).
# Then a second subscription with two_phase = true: PREPARE TRANSACTION on
# the publisher leaves the old rows on the subscriber (a prepared
# transaction there), COMMIT PREPARED must show the new ones, ROLLBACK
# PREPARED must keep the old ones.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use ResultCacheTest;

# no autovacuum: its ANALYZE could invalidate entries in the middle of a
# check (a miss where the test wants to see a hit)
my $common = "max_prepared_transactions = 10\nautovacuum = off\n";

my $publisher = rc_new_node('publisher', allows_streaming => 'logical');
# small, so that the big round's transaction is streamed
$publisher->append_conf('postgresql.conf',
	$common . "logical_decoding_work_mem = '64kB'\n");
$publisher->start;

my $subscriber = rc_new_node('subscriber');
$subscriber->append_conf('postgresql.conf', $common);
$subscriber->start;

my $tables = q{
CREATE TABLE lr (k int PRIMARY KEY, v text);
CREATE TABLE lr2 (id int PRIMARY KEY, n int NOT NULL);
CREATE TABLE tp (k int PRIMARY KEY, v text);
};
$publisher->safe_psql('postgres', $tables);
$subscriber->safe_psql('postgres', $tables);
$subscriber->safe_psql('postgres', 'CREATE EXTENSION result_cache');

$publisher->safe_psql(
	'postgres', q{
INSERT INTO lr VALUES (1, 'a'), (2, 'b'), (3, 'c');
INSERT INTO lr2 VALUES (1, 10), (2, 20);
INSERT INTO tp VALUES (1, 'p0');
CREATE PUBLICATION pub FOR TABLE lr, lr2;
CREATE PUBLICATION pub_tp FOR TABLE tp;
});
is( $publisher->safe_psql(
		'postgres',
		"SELECT pubinsert AND pubupdate AND pubdelete AND pubtruncate "
		  . "FROM pg_publication WHERE pubname = 'pub'"),
	't',
	'publication publishes inserts, updates, deletes and truncates');

my $pub_connstr = $publisher->connstr . ' dbname=postgres';
$subscriber->safe_psql('postgres',
	"CREATE SUBSCRIPTION sub CONNECTION '$pub_connstr application_name=sub' "
	  . 'PUBLICATION pub WITH (copy_data = true, streaming = on)');
$subscriber->wait_for_subscription_sync($publisher, 'sub');
# past "synced": the apply worker's own switch to "ready" writes a catalog
$subscriber->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate <> 'r'")
  or die "tables did not reach the ready state";

my $q1 = 'SELECT v FROM lr WHERE k = 1';
my $qall = q{SELECT count(*), sum(k), string_agg(v, ',' ORDER BY k) FROM lr};
my $q2 = 'SELECT n FROM lr2 WHERE id = 1';
my $qjoin =
  'SELECT lr.k, lr.v, lr2.n FROM lr JOIN lr2 ON lr2.id = lr.k ORDER BY lr.k';
my $qtp = 'SELECT v FROM tp WHERE k = 1';

is($subscriber->safe_psql('postgres', $qall),
	'3|6|a,b,c', 'initial copy reached the subscriber');

# A session on the subscriber kept open through every round
my $session = $subscriber->background_psql('postgres');

# Read $query on the subscriber twice; the second read must be a hit, and
# both must return $expect.
sub prime
{
	my ($label, $query, $expect) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is($subscriber->safe_psql('postgres', $query),
		$expect, "$label: first read of \"$query\"");

	# Any transaction of a replication worker that writes WAL (a table
	# sync state change, say) empties the cache: try a few times until the
	# second read of a pair is a hit.
	my $hit = 0;
	for my $try (1 .. 5)
	{
		my $before = rc_stats($subscriber);
		is($subscriber->safe_psql('postgres', $query),
			$expect, "$label: read of \"$query\" (try $try)");
		my $after = rc_stats($subscriber);
		if ($after->{hits} - $before->{hits} >= 1)
		{
			$hit = 1;
			last;
		}
	}
	ok($hit, "$label: a second read of \"$query\" is a hit");
	return;
}

# While a two_phase subscriber holds a prepared transaction, nothing is
# served from the cache: the worker's COMMIT PREPARED would make the rows
# visible before any hook could invalidate, so the cache stands aside from
# PREPARE on.  $query returns $expect, twice, and neither read is a hit.
sub no_hit
{
	my ($label, $query, $expect) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $before = rc_stats($subscriber);
	is($subscriber->safe_psql('postgres', $query),
		$expect, "$label: first read of \"$query\"");
	is($subscriber->safe_psql('postgres', $query),
		$expect, "$label: second read of \"$query\"");
	my $after = rc_stats($subscriber);
	is($after->{hits} - $before->{hits}, 0,
		"$label: no read of \"$query\" is served from the cache");
	return;
}

# $query on the subscriber returns $expect: in a new session, again (from
# the cache, once stored), in the open session, and with the cache off.
sub check_read
{
	my ($label, $query, $expect) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is($subscriber->safe_psql('postgres', $query),
		$expect, "$label: \"$query\" returns the replicated rows");
	is($subscriber->safe_psql('postgres', $query),
		$expect, "$label: \"$query\" read again");
	is($session->query_safe($query),
		$expect, "$label: \"$query\" in the open session");
	is( $subscriber->safe_psql(
			'postgres', "SET result_cache.enabled = off; $query"),
		$expect,
		"$label: \"$query\" with the cache off");
	return;
}

# One round: prime every query of %$expect (query => rows after the
# round), run $sql on the publisher, wait for the subscription $sub, check.
sub round
{
	my ($label, $sql, $sub, $expect) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	for my $q (sort keys %$expect)
	{
		my $old = $subscriber->safe_psql('postgres',
			"SET result_cache.enabled = off; $q");
		prime("$label (before)", $q, $old);
	}
	my $before = rc_stats($subscriber);
	$publisher->safe_psql('postgres', $sql);
	$publisher->wait_for_catchup($sub);
	my $after = rc_stats($subscriber);
	cmp_ok($after->{invalidations} - $before->{invalidations},
		'>=', 1, "$label: the applied transaction invalidated the cache");
	check_read($label, $_, $expect->{$_}) for sort keys %$expect;
	return;
}

round(
	'UPDATE',
	"UPDATE lr SET v = 'u1' WHERE k = 1",
	'sub',
	{
		$q1 => 'u1',
		$qall => '3|6|u1,b,c',
		$qjoin => "1|u1|10\n2|b|20"
	});

round(
	'INSERT',
	"INSERT INTO lr VALUES (4, 'd')",
	'sub',
	{ $q1 => 'u1', $qall => '4|10|u1,b,c,d' });

round(
	'DELETE',
	'DELETE FROM lr WHERE k = 1',
	'sub',
	{
		$q1 => '',
		$qall => '3|9|b,c,d',
		$qjoin => '2|b|20'
	});

round(
	'INSERT of the deleted key',
	"INSERT INTO lr VALUES (1, 'i1')",
	'sub',
	{ $q1 => 'i1', $qall => '4|10|i1,b,c,d' });

round(
	'transaction over two tables',
	q{BEGIN;
UPDATE lr SET v = 'm1' WHERE k = 1;
DELETE FROM lr WHERE k = 3;
UPDATE lr2 SET n = 11 WHERE id = 1;
INSERT INTO lr2 VALUES (4, 40);
COMMIT;},
	'sub',
	{
		$q1 => 'm1',
		$qall => '3|7|m1,b,d',
		$q2 => '11',
		$qjoin => "1|m1|11\n2|b|20\n4|d|40"
	});

round(
	'TRUNCATE',
	'TRUNCATE lr',
	'sub',
	{
		$q1 => '',
		$qall => '0||',
		$q2 => '11',
		$qjoin => ''
	});

round(
	'INSERT after TRUNCATE',
	"INSERT INTO lr VALUES (1, 't1'), (2, 't2')",
	'sub',
	{
		$q1 => 't1',
		$qall => '2|3|t1,t2',
		$qjoin => "1|t1|11\n2|t2|20"
	});

round(
	'TRUNCATE and rewrite of two tables in one transaction',
	q{BEGIN;
TRUNCATE lr, lr2;
INSERT INTO lr VALUES (1, 'x1'), (5, 'x5');
INSERT INTO lr2 VALUES (1, 100), (5, 500);
COMMIT;},
	'sub',
	{
		$q1 => 'x1',
		$qall => '2|6|x1,x5',
		$q2 => '100',
		$qjoin => "1|x1|100\n5|x5|500"
	});

round(
	'UPDATE again',
	"UPDATE lr SET v = v || 'y'",
	'sub',
	{ $q1 => 'x1y', $qall => '2|6|x1y,x5y' });

# A prepared transaction on the publisher: a subscription without two_phase
# receives it at COMMIT PREPARED, as an ordinary transaction.
round(
	'prepared transaction, subscription without two_phase',
	q{BEGIN;
UPDATE lr SET v = 'pp1' WHERE k = 1;
UPDATE lr2 SET n = 101 WHERE id = 1;
PREPARE TRANSACTION 'plain';
COMMIT PREPARED 'plain';},
	'sub',
	{
		$q1 => 'pp1',
		$q2 => '101',
		$qjoin => "1|pp1|101\n5|x5y|500"
	});

# Larger than logical_decoding_work_mem: streamed to the subscriber while in
# progress, applied at its commit.  (Whether it is streamed or not, the
# result must be the same.)
round(
	'large transaction (streaming)',
	q{BEGIN;
INSERT INTO lr SELECT g, repeat('s', 20) FROM generate_series(100, 5099) g;
UPDATE lr SET v = 'big1' WHERE k = 1;
COMMIT;},
	'sub',
	{
		$q1 => 'big1',
		'SELECT count(*), sum(k), sum(length(v)) FROM lr' =>
		  '5002|' . (1 + 5 + (100 + 5099) * 5000 / 2) . '|' . (4 + 3 + 5000 * 20),
	});

# ---------------------------------------------------------------------------
# Subscription with two_phase = true: the prepared transaction is applied
# and prepared on the subscriber at PREPARE, committed at COMMIT PREPARED.
# ---------------------------------------------------------------------------
$subscriber->safe_psql('postgres',
	"CREATE SUBSCRIPTION sub_tp CONNECTION '$pub_connstr application_name=sub_tp' "
	  . 'PUBLICATION pub_tp WITH (copy_data = true, two_phase = true)');
$subscriber->wait_for_subscription_sync($publisher, 'sub_tp');
# two_phase is pending until the initial sync is over
ok( $subscriber->poll_query_until(
		'postgres',
		"SELECT subtwophasestate = 'e' FROM pg_subscription WHERE subname = 'sub_tp'"
	),
	'two_phase subscription: two_phase enabled');

for my $n (1 .. 3)
{
	my $old = $subscriber->safe_psql('postgres',
		"SET result_cache.enabled = off; $qtp");
	prime("two_phase round $n (before PREPARE)", $qtp, $old);
	$publisher->safe_psql('postgres',
		"BEGIN; UPDATE tp SET v = 'p$n' WHERE k = 1; "
		  . "INSERT INTO tp VALUES (100 + $n, 'n$n'); "
		  . "PREPARE TRANSACTION 'x$n';");
	$publisher->wait_for_catchup('sub_tp');
	is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
		'1', "two_phase round $n: the transaction is prepared on the subscriber");
	check_read("two_phase round $n (prepared)", $qtp, $old);

	# the cache stands aside while the transaction is prepared here
	no_hit("two_phase round $n (before COMMIT PREPARED)", $qtp, $old);
	my $before = rc_stats($subscriber);
	$publisher->safe_psql('postgres', "COMMIT PREPARED 'x$n'");
	$publisher->wait_for_catchup('sub_tp');
	is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
		'0', "two_phase round $n: committed on the subscriber");
	my $after = rc_stats($subscriber);
	cmp_ok($after->{invalidations} - $before->{invalidations},
		'>=', 1, "two_phase round $n: COMMIT PREPARED invalidated the cache");
	check_read("two_phase round $n (committed)", $qtp, "p$n");
	check_read("two_phase round $n (committed)",
		'SELECT count(*) FROM tp', 1 + $n);
	# and serves again once it is finished
	prime("two_phase round $n (after COMMIT PREPARED)", $qtp, "p$n");
}

# ROLLBACK PREPARED: the old rows stay
prime('two_phase rollback (before PREPARE)', $qtp, 'p3');
$publisher->safe_psql('postgres',
	"BEGIN; UPDATE tp SET v = 'gone' WHERE k = 1; PREPARE TRANSACTION 'xr';");
$publisher->wait_for_catchup('sub_tp');
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'1', 'two_phase rollback: the transaction is prepared on the subscriber');
no_hit('two_phase rollback (before ROLLBACK PREPARED)', $qtp, 'p3');
$publisher->safe_psql('postgres', "ROLLBACK PREPARED 'xr'");
$publisher->wait_for_catchup('sub_tp');
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'0', 'two_phase rollback: rolled back on the subscriber');
check_read('two_phase rollback', $qtp, 'p3');
prime('two_phase rollback (after ROLLBACK PREPARED)', $qtp, 'p3');

# The ordinary subscription still works after all this
round(
	'final UPDATE',
	"UPDATE lr SET v = 'end' WHERE k = 1",
	'sub',
	{ $q1 => 'end' });

$session->quit;
$subscriber->stop;
$publisher->stop;
done_testing();

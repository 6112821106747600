# result_cache installed but not preloaded.
#
# CREATE EXTENSION works (so that pg_dump/restore and upgrades of a database
# that uses it do not fail), queries run normally, and every SQL function and
# view of the extension fails with the same clear error and hint instead of
# returning nonsense.  Then, preloaded after a restart, the same calls work.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('not_loaded');
$node->init;
# TEMP_CONFIG (the suite's settings) preloads result_cache: undo that
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->start;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'', 'result_cache is not preloaded');
$node->safe_psql('postgres', 'CREATE EXTENSION result_cache');
$node->safe_psql('postgres',
	'CREATE TABLE t (k int PRIMARY KEY, v text); INSERT INTO t VALUES (1, \'a\')');
is($node->safe_psql('postgres', 'SELECT v FROM t WHERE k = 1'),
	'a', 'queries run normally without the preload');

my @calls = (
	'SELECT * FROM result_cache.stats',
	'SELECT * FROM result_cache.reasons',
	'SELECT * FROM result_cache.entries',
	'SELECT result_cache.reset()',
	'SELECT result_cache.reset_stats()',
	"SELECT result_cache.invalidate('t')",
	"SELECT result_cache.enable_table('t')",
	"SELECT result_cache.disable_table('t')");
foreach my $sql (@calls)
{
	my ($ret, $out, $err) =
	  $node->psql('postgres', $sql, extra_params => [ '-v', 'VERBOSITY=default' ]);
	isnt($ret, 0, "$sql fails");
	like(
		$err,
		qr/ERROR:  result_cache must be loaded via shared_preload_libraries/,
		"$sql: the error names the setting");
	like(
		$err,
		qr/HINT:  Add result_cache to shared_preload_libraries in postgresql.conf and restart the server\./,
		"$sql: the hint says what to do");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM result_cache.tables'),
	'0', 'enable_table() wrote nothing when it failed');

# Preloaded after a restart, the same calls work
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'result_cache'\n");
$node->restart;
$node->safe_psql('postgres', 'SELECT v FROM t WHERE k = 1');
$node->safe_psql('postgres', 'SELECT v FROM t WHERE k = 1');
is($node->safe_psql('postgres', 'SELECT hits FROM result_cache.stats'),
	'1', 'once preloaded, the cache serves hits');
$node->safe_psql('postgres', "SELECT result_cache.enable_table('t')");
is($node->safe_psql('postgres', 'SELECT relid FROM result_cache.tables'),
	't', 'and enable_table() works');

$node->stop;
done_testing();

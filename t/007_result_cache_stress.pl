# result_cache under concurrent readers and writers.
#
# extensions/result_cache/tools/rc_stress.c runs four readers and two
# writers (separate processes and connections, simple and extended
# protocol, text and binary results) for about 15 seconds and checks
# read-after-commit across connections, monotonic reads within a
# connection, atomicity of two-table transactions, unchanged static rows,
# the final contents, and that the cache served hits; its last line must
# say "0 failed".  A second, shorter run restarts the server with a cache
# of 64 entries, so that evictions race with lookups, stores and
# invalidations; it must also pass and evict.  Neither run may leave an
# assertion failure or a crash in the server log.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use ResultCacheTest;

my $node = rc_new_node('stress');
# hundreds of thousands of statements: do not log each one
$node->append_conf('postgresql.conf',
	"max_connections = 40\nlog_statement = none\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION result_cache;');
my $connstr = $node->connstr('postgres');
my $stress = rc_compile_tool('rc_stress');

sub stress_run
{
	my ($label, @args) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my $log_offset = -s $node->logfile;
	my ($rc, $out, $err) = rc_run($stress, $connstr, @args);
	note "$label: rc_stress output:\n$out$err";
	my @lines = split /\n/, $out;
	my $last = @lines ? $lines[-1] : '';
	like($last, qr/^[1-9]\d* passed, 0 failed$/, "$label: no check failed")
	  or diag "$label: rc_stress output:\n$out$err";
	is($rc, 0, "$label: rc_stress exits 0");
	my ($hits) = $out =~ /^cache hits: (\d+)$/m;
	ok(defined $hits && $hits > 0,
		"$label: the cache served hits (" . ($hits // 'none') . ')');
	my $log = slurp_file($node->logfile, $log_offset);
	my @crashes = $log =~
	  /^.*(?:TRAP:|PANIC:|terminated by signal|was terminated|server process .* exited with).*$/mg;
	is(join("\n", @crashes), '', "$label: no crash in the server log");
	return $out;
}

stress_run('default cache', '--seconds', '15', '--readers', '4');

# A small cache: entries are evicted all the time.
$node->append_conf('postgresql.conf', "result_cache.max_entries = 64\n");
$node->restart;
is($node->safe_psql('postgres', 'SELECT max_entries FROM result_cache.stats'),
	'64', 'small cache: max_entries is 64');
stress_run('small cache', '--seconds', '8', '--readers', '4', '--seed', '7');
my $s = rc_stats($node);
cmp_ok($s->{evictions}, '>', 0, 'small cache: entries were evicted');
cmp_ok($s->{entries}, '<=', 64, 'small cache: at most 64 entries');

$node->stop;
done_testing();

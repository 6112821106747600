# t/lib/ResultCacheTest.pm -- what the result_cache TAP tests share.
#
# rc_new_node($name, %init_params) creates and initializes a node with
# result_cache in shared_preload_libraries (whatever TEMP_CONFIG says).
# rc_stats($node) returns result_cache.stats as a hash reference;
# rc_reason($node, $kind, $reason) one counter of result_cache.reasons.
# rc_compile_tool($name) compiles extensions/result_cache/tools/$name.c
# with the cc in PATH against libpq (pg_config, or $ENV{PG_CONFIG}) and
# returns the program's path.  rc_run(@cmd) runs a program and returns
# its exit status, stdout and stderr.

package ResultCacheTest;

use strict;
use warnings;

use Exporter 'import';
use FindBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
our @EXPORT = qw(@RC_STATS rc_new_node rc_stats rc_reason rc_compile_tool rc_run);

our @RC_STATS =
  qw(hits hits_before_planning misses stores bypasses rejects evictions
  invalidations entries);

sub rc_new_node
{
	my ($name, %params) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%params);
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'result_cache'\n");
	return $node;
}

sub rc_stats
{
	my ($node, $db) = @_;
	my $row = $node->safe_psql($db // 'postgres',
		'SELECT ' . join(', ', @RC_STATS) . ' FROM result_cache.stats');
	my %s;
	@s{@RC_STATS} = split /\|/, $row;
	return \%s;
}

sub rc_reason
{
	my ($node, $kind, $reason) = @_;
	return $node->safe_psql('postgres',
		'SELECT coalesce(sum(count), 0) FROM result_cache.reasons '
		  . "WHERE kind = '$kind' AND reason = '$reason'") + 0;
}

sub rc_run
{
	my @cmd = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

sub rc_compile_tool
{
	my ($name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
	my ($rc1, $inc) = rc_run($pg_config, '--includedir');
	my ($rc2, $lib) = rc_run($pg_config, '--libdir');
	chomp($inc, $lib);
	my $src = "$FindBin::RealBin/../extensions/result_cache/tools/$name.c";
	my $bin = PostgreSQL::Test::Utils::tempdir() . "/$name";
	my ($rc, $out, $err) = rc_run(
		'cc', '-O2', '-Wall', '-Werror', "-I$inc", $src, "-L$lib",
		"-Wl,-rpath,$lib", '-lpq', '-o', $bin);
	ok($rc1 == 0 && $rc2 == 0 && $rc == 0 && -x $bin, "$name.c compiles")
	  or BAIL_OUT("cannot compile $src: $out$err");
	return $bin;
}

1;

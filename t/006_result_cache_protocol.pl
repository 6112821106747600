# result_cache and the wire protocol, with a libpq client.
#
# extensions/result_cache/tools/rc_proto.c runs a fixed list of SELECTs
# (NULLs, int2/4/8, float8 with NaN/Infinity/-0, text with escapes and
# non-ASCII, varchar with a typmod, bytea, bool, numeric as text, an empty
# result, a zero-column result, 428 rows, parameters of several types, one
# statement run with different parameters) through the simple protocol,
# PQexecParams with text and with binary parameters/results, and prepared
# statements executed six times in turn.  It prints a canonical rendering of
# each result (row description, command tag, values decoded from text or
# binary), so that:
#
#  - every mode renders each query the same, with the cache off and on;
#  - with the cache on, a first and a second run of each mode give exactly
#    the output of a run with the cache off, and the second run gets at
#    least one hit per cacheable query: served before planning with the
#    simple protocol (same row description: types, typmods, table and
#    column of origin), planned with the others;
#  - after writes to the tables, cached runs give the new rows;
#  - with --raw, values whose text depends on settings (bytea_output,
#    extra_float_digits, DateStyle, TimeZone, IntervalStyle) come back as
#    the session's settings want them, cache on as off, even when another
#    setting's result is cached.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use ResultCacheTest;

my $off = '-c result_cache.enabled=off';

my $node = rc_new_node('protocol');
# no autovacuum: its ANALYZE could invalidate entries in the middle of a check
$node->append_conf('postgresql.conf', "autovacuum = off\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION result_cache;');
my $connstr = $node->connstr('postgres');
my $proto = rc_compile_tool('rc_proto');

# Run rc_proto with PGOPTIONS $options; it must succeed.
sub proto
{
	my ($options, @args) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	local $ENV{PGOPTIONS} = $options;
	my ($rc, $out, $err) = rc_run($proto, $connstr, @args);
	is($rc, 0, "rc_proto @args with \"$options\" succeeds")
	  or diag(($out =~ /^(.*ERROR.*)$/mg), $err);
	return $out;
}

# The number of cacheable queries the output announces.
sub cacheable
{
	my ($out) = @_;
	return $out =~ /^# queries \d+ cacheable (\d+)$/m ? $1 : 0;
}

# Every mode must render each query the same.
sub check_consistent
{
	my ($label, $out) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my (%first, @bad);
	foreach my $line (split /\n/, $out)
	{
		next if $line =~ /^#/;
		my ($mode, $q, $rendering) = split /\t/, $line, 3;
		if (!exists $first{$q})
		{
			$first{$q} = $rendering;
		}
		elsif ($first{$q} ne $rendering)
		{
			push @bad, "$mode $q";
		}
	}
	cmp_ok(scalar(keys %first), '>', 0, "$label: queries ran");
	is(join(', ', @bad), '', "$label: every mode renders each query the same");
}

# The lines of some modes only
sub lines_of
{
	my ($out, $mode_re) = @_;
	return join('', grep { /^(?:$mode_re)\t/ } split /^/m, $out);
}

is(system($proto, $connstr, '--setup'), 0, 'rc_proto --setup');

# ---------------------------------------------------------------------------
# Reference: the cache off.
# ---------------------------------------------------------------------------
my $before = rc_stats($node);
my $disabled_before = rc_reason($node, 'bypass', 'disabled');
my $reference = proto($off);
my $after = rc_stats($node);
my $k = cacheable($reference);
cmp_ok($k, '>=', 10, "$k cacheable queries");
check_consistent('cache off', $reference);
like(
	lines_of($reference, 'binary'),
	qr/\tq01\t.*\(3,32767,9223372036854775807,NaN,'tab\\x09here\\x0anew\\x27quote\\x5c',NULL,NULL,NULL\)/,
	'cache off: binary results decoded');
is($after->{hits}, $before->{hits}, 'cache off: no hit');
is($after->{stores}, $before->{stores}, 'cache off: nothing stored');
cmp_ok(rc_reason($node, 'bypass', 'disabled') - $disabled_before,
	'>=', $k, "cache off: queries bypassed for 'disabled'");

# ---------------------------------------------------------------------------
# Each mode, cache on, twice.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'SELECT result_cache.reset();');
my %label_re = (
	simple => 'simple',
	params => 'params',
	binary => 'binary',
	prepared => 'prepared\d');
foreach my $mode (qw(simple params binary prepared))
{
	my $expected = lines_of($reference, $label_re{$mode});
	isnt($expected, '', "$mode: reference lines");
	my $first = proto('', '--mode', $mode);
	is(lines_of($first, $label_re{$mode}),
		$expected, "$mode: first run with the cache matches the cache off");
	$before = rc_stats($node);
	my $second = proto('', '--mode', $mode);
	$after = rc_stats($node);
	is(lines_of($second, $label_re{$mode}),
		$expected, "$mode: second run with the cache matches the cache off");
	cmp_ok($after->{hits} - $before->{hits},
		'>=', $k, "$mode: second run is served from the cache");

	# The simple protocol's hits are served before planning.  The other
	# modes' plans may be kept (the unnamed statement, prepared
	# statements), so they are planned, except when a prepared statement
	# without parameters is analysed again at its Bind (after DISCARD
	# PLANS): that Bind is served before planning, and its next one is
	# planned (the output matching the cache off shows that the stand-in
	# plan was not kept).
	my $early = $after->{hits_before_planning} - $before->{hits_before_planning};
	if ($mode eq 'simple')
	{
		cmp_ok($early, '>=', $k,
			"$mode: the hits of the second run are served before planning");
	}
	elsif ($mode eq 'prepared')
	{
		cmp_ok($early, '>=', 2,
			"$mode: Binds that analyse again are served before planning");
		cmp_ok($early, '<', $after->{hits} - $before->{hits},
			"$mode: the other executions are planned");
	}
	else
	{
		is($early, 0, "$mode: no hit is served before planning");
	}
}

# All modes in one session, the cache warm.
my $warm = proto('');
is($warm, $reference, 'all modes, warm cache: output matches the cache off');
check_consistent('warm cache', $warm);
cmp_ok(
	$node->safe_psql('postgres',
		"SELECT count(*) FROM result_cache.entries WHERE query LIKE '%rc_proto.%'"),
	'>=', $k, 'result_cache.entries lists the cached queries');

# ---------------------------------------------------------------------------
# Writes invalidate what each mode cached.
# ---------------------------------------------------------------------------
$before = rc_stats($node);
$node->safe_psql(
	'postgres', q{
UPDATE rc_proto.t SET txt = 'changed', b = '\xabcd', i8 = i8 - 1 WHERE id = 4;
UPDATE rc_proto.t SET flag = NOT flag WHERE id IN (1, 2);
DELETE FROM rc_proto.big WHERE id % 14 = 0;
INSERT INTO rc_proto.u VALUES (6, 3.5, 'new');
});
my $reference2 = proto($off);
isnt($reference2, $reference, 'the writes change the results');
check_consistent('after writes, cache off', $reference2);
my $changed = proto('');
is($changed, $reference2, 'after writes: cached runs return the new rows');
$after = rc_stats($node);
cmp_ok($after->{invalidations} - $before->{invalidations},
	'>=', 1, 'after writes: entries were invalidated');
$before = $after;
is(proto(''), $reference2, 'after writes: second cached run returns the new rows');
$after = rc_stats($node);
cmp_ok($after->{hits} - $before->{hits},
	'>=', $k, 'after writes: second cached run is served from the cache');

# ---------------------------------------------------------------------------
# Output settings: a result cached under one setting is not served under
# another.
# ---------------------------------------------------------------------------
my @settings = (
	'',
	'-c bytea_output=escape',
	'-c extra_float_digits=0',
	'-c DateStyle=German',
	'-c TimeZone=Asia/Tokyo',
	'-c IntervalStyle=sql_standard',
	'-c bytea_output=escape -c extra_float_digits=-3 -c DateStyle=SQL,DMY '
	  . '-c TimeZone=America/New_York -c IntervalStyle=postgres_verbose');
my $raw_default;
foreach my $setting (@settings)
{
	my $name = $setting eq '' ? 'default settings' : $setting;
	my $raw_ref = proto("$off $setting", '--raw');
	my $rk = cacheable($raw_ref);
	check_consistent("raw, $name, cache off", $raw_ref);
	if ($setting eq '')
	{
		$raw_default = $raw_ref;
	}
	else
	{
		isnt($raw_ref, $raw_default, "raw, $name: the setting changes the output");
	}
	is(proto($setting, '--raw'), $raw_ref,
		"raw, $name: first cached run matches the cache off");
	$before = rc_stats($node);
	is(proto($setting, '--raw'), $raw_ref,
		"raw, $name: second cached run matches the cache off");
	$after = rc_stats($node);
	cmp_ok($after->{hits} - $before->{hits},
		'>=', $rk, "raw, $name: second run is served from the cache");
}

$node->stop;
done_testing();

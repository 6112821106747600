# Crash recovery of xhash indexes.
#
# Background sessions insert, update (key and non-key columns), delete and
# roll back on tables with xhash indexes (one UNIQUE, one with collisions
# forced by debug_hash_bits) while another vacuums; the server is stopped in
# immediate mode in the middle, while bucket splits are happening, and
# restarted.  Then every xhash index must verify clean, index scans must
# agree with sequential scans, the unique index must still reject duplicates
# of committed keys (and accept the key of a transaction the crash aborted),
# the UNLOGGED table's index must be empty but valid, and the indexes must
# keep working (inserts, splits, VACUUM) after recovery.  Two crash cycles.
#
# Then crashes at chosen points, made reproducible with point-in-time
# recovery stopped right after a given WAL record of a split or of VACUUM.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use XhashTest;

my @indexes = qw(cw_id_xh cw_grp_xh cu_xh);

my %mode_gucs = %SCAN_MODES;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init(allows_streaming => 1, has_archiving => 1);
$node->append_conf(
	'postgresql.conf', q{
autovacuum_naptime = 1s
max_connections = 20
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION xhash;
CREATE TABLE cw (id int8, grp int, payload text);
CREATE TABLE cu (k text, n int8);
CREATE UNLOGGED TABLE cl (id int, v text);
INSERT INTO cw SELECT i, i % 500, 'pre' FROM generate_series(1, 20000) i;
INSERT INTO cu SELECT 'pre-' || i, i FROM generate_series(1, 5000) i;
INSERT INTO cl SELECT i, 'l' || i FROM generate_series(1, 10000) i;
CREATE INDEX cw_id_xh ON cw USING xhash (id);
CREATE INDEX cw_grp_xh ON cw USING xhash (grp) WITH (debug_hash_bits = 5);
CREATE UNIQUE INDEX cu_xh ON cu USING xhash (k);
CREATE INDEX cl_xh ON cl USING xhash (id);
});

# The write workload of session $s in crash cycle $c: one transaction per
# iteration, every fourth rolled back.  Its cw ids start at ($c * 10 + $s) *
# 10^9 and its cu keys with "c${c}s${s}-".  "sharedC-N" keys are inserted by
# both sessions, so unique checks wait for each other.
sub workload
{
	my ($s, $c) = @_;
	my $p = "c${c}s${s}-";
	return qq{
DO \$\$
DECLARE
	i int := 0;
	base int8;
BEGIN
	LOOP
		i := i + 1;
		base := ($c * 10 + $s) * 1000000000::int8 + i * 100;
		INSERT INTO cw SELECT base + g, (base + g) % 500, 'w$s'
		  FROM generate_series(1, 40) g;
		INSERT INTO cl SELECT (base + g) % 1000000, 'x'
		  FROM generate_series(1, 10) g;
		-- key update, non-key update, update of the other key
		UPDATE cw SET id = id + 50 WHERE id = base - 100 + 3;
		UPDATE cw SET payload = 'u' || i WHERE id = base - 100 + 7;
		UPDATE cw SET grp = grp + 1 WHERE id = base - 100 + 9;
		DELETE FROM cw WHERE id BETWEEN base - 200 + 10 AND base - 200 + 30;
		DELETE FROM cw WHERE id = (i * 7 + $s) % 20000 + 1;
		INSERT INTO cu VALUES ('$p' || i, base);
		UPDATE cu SET k = k || 'u' WHERE k = '$p' || (i - 3);
		DELETE FROM cu WHERE k = '$p' || (i - 6) || 'u' AND i % 2 = 0;
		BEGIN
			INSERT INTO cu VALUES ('shared$c-' || (i / 3), base);
		EXCEPTION WHEN unique_violation THEN
			NULL;
		END;
		IF i % 4 = 0 THEN
			ROLLBACK;
		ELSE
			COMMIT;
		END IF;
	END LOOP;
END
\$\$;
};
}

sub stat_value
{
	my ($idx, $col) = @_;
	return $node->safe_psql('postgres',
		"SELECT $col FROM xhash.xhash_stats('$idx')") + 0;
}

sub lookup
{
	my ($label, $table, $cols, $where) = @_;
	return "SELECT '$label', count(*), "
	  . "coalesce(md5(string_agg(($cols)::text, ',' ORDER BY ($cols)::text)), '-') "
	  . "FROM $table WHERE $where;";
}

# Index scans (plain and bitmap) against sequential scans, for a sample of
# present and absent keys taken from the table itself.
sub compare_scans
{
	my ($label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my @ids = split /\n/,
	  $node->safe_psql('postgres',
		"$mode_gucs{seq}\n"
		  . 'SELECT id FROM (SELECT id FROM cw ORDER BY id DESC LIMIT 30) a '
		  . 'UNION ALL SELECT id FROM cw WHERE id % 997 = 0 '
		  . 'UNION ALL SELECT max(id) + 1 FROM cw '
		  . 'UNION ALL VALUES (0), (-1), (20001), (11000000101), (22000000150)');
	my @keys = split /\n/,
	  $node->safe_psql('postgres',
		"$mode_gucs{seq}\n"
		  . 'SELECT k FROM (SELECT k FROM cu ORDER BY n DESC, k LIMIT 30) a '
		  . "UNION ALL SELECT k FROM cu WHERE k LIKE '%u' AND n % 7 = 0 "
		  . "UNION ALL SELECT k FROM cu WHERE k LIKE 'shared%' AND n % 5 = 0 "
		  . "UNION ALL VALUES ('pre-1'), ('pre-5000'), ('pre-5001'), "
		  . "('c1s1-1'), ('c1s2-0'), ('c2s1-5'), ('c2s2-7u'), ('nope')");
	cmp_ok(scalar(@ids), '>', 40, "$label: sampled cw ids");
	cmp_ok(scalar(@keys), '>', 35, "$label: sampled cu keys");

	my @q;
	push @q, lookup("id=$_", 'cw', 'id, grp, payload', "id = $_") for @ids;
	push @q, lookup("grp=$_", 'cw', 'id, grp, payload', "grp = $_")
	  for (0, 1, 7, 123, 250, 499, 500, -1);
	push @q, lookup('id in', 'cw', 'id, grp, payload',
		'id IN (' . join(', ', @ids[ 0 .. 9 ]) . ')');
	push @q, lookup("k=$_", 'cu', 'k, n', "k = '$_'") for @keys;
	my $q = join("\n", @q);

	my $expected = $node->safe_psql('postgres', "$mode_gucs{seq}\n$q");
	my $hits = () = $expected =~ /^[^|]*\|[1-9][0-9]*\|/mg;
	cmp_ok($hits, '>=', 60, "$label: sequential scans find rows ($hits hits)");
	is($node->safe_psql('postgres', "$mode_gucs{index}\n$q"),
		$expected, "$label: index scans match sequential scans");
	is($node->safe_psql('postgres', "$mode_gucs{bitmap}\n$q"),
		$expected, "$label: bitmap scans match sequential scans");

	like(
		$node->safe_psql('postgres',
			"$mode_gucs{index}\nEXPLAIN (COSTS OFF) SELECT * FROM cw WHERE id = 5"),
		qr/Index Scan using cw_id_xh/,
		"$label: lookups use cw_id_xh");

	# Every row of cw must be found through cw_id_xh by its own id.
	my $missing = $node->safe_psql(
		'postgres', qq{
$mode_gucs{seq}
CREATE TEMP TABLE all_ids AS SELECT id FROM cw WHERE id IS NOT NULL;
$mode_gucs{index}
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
SELECT count(*) FROM all_ids a WHERE NOT EXISTS (SELECT FROM cw WHERE cw.id = a.id);
EXPLAIN (COSTS OFF)
SELECT count(*) FROM all_ids a WHERE NOT EXISTS (SELECT FROM cw WHERE cw.id = a.id);
});
	like($missing, qr/^0\n/, "$label: every cw row is found through cw_id_xh");
	like($missing, qr/Index Scan using cw_id_xh/,
		"$label: the all-rows check probes cw_id_xh");
}

sub verify_all
{
	my ($label, @idx) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	verify_clean($node, $label, @idx);
}

# A committed key duplicated must fail with 23505.
sub check_unique
{
	my ($label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my @keys = split /\n/,
	  $node->safe_psql('postgres',
		"$mode_gucs{seq}\n"
		  . 'SELECT k FROM (SELECT k FROM cu ORDER BY n DESC, k LIMIT 15) a '
		  . "UNION ALL SELECT k FROM cu WHERE k LIKE 'shared%' AND n % 3 = 0 "
		  . "UNION ALL VALUES ('pre-17')");
	my $sql = "\\set VERBOSITY verbose\n";
	$sql .= "INSERT INTO cu VALUES ('$_', -1);\n" for @keys;
	my ($ret, $out, $err) =
	  $node->psql('postgres', $sql, on_error_stop => 0);
	my $violations = () = $err =~
	  /ERROR:  23505: duplicate key value violates unique constraint "cu_xh"/g;
	is($violations, scalar(@keys),
		"$label: all " . scalar(@keys) . ' duplicates of committed keys fail with 23505');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM cu WHERE n = -1'),
		'0', "$label: no duplicate was inserted");
}

for my $cycle (1, 2)
{
	my $label = "crash $cycle";
	my %splits = map { $_ => stat_value($_, 'splits') } @indexes;
	my $log_offset = -s $node->logfile;

	# An open transaction holding a new unique key at the time of the crash
	my $inflight = $node->background_psql('postgres');
	$inflight->query_safe(
		"BEGIN; INSERT INTO cu VALUES ('inflight-$cycle', 0);");

	my @sessions;
	foreach my $s (1, 2)
	{
		my $bg = $node->background_psql('postgres', on_error_stop => 0);
		$bg->query_until(qr/workload started/,
			"\\echo workload started\n" . workload($s, $cycle));
		push @sessions, $bg;
	}
	my $vac = $node->background_psql('postgres', on_error_stop => 0);
	$vac->query_until(qr/vacuum started/,
		"\\echo vacuum started\n"
		  . ("VACUUM cw; VACUUM cu; SELECT pg_sleep(0.2);\n" x 200));

	# Crash while splits are going on: once the id index has split at least
	# $cycle more times (and, in cycle 2, after a while longer).
	my $target = $splits{cw_id_xh} + ($cycle == 1 ? 1 : 3);
	my $t0 = time;
	my $split = 0;
	while (time - $t0 < 60)
	{
		last
		  if $split = stat_value('cw_id_xh', 'splits') >= $target;
		select(undef, undef, undef, 0.1);
	}
	ok($split, "$label: the workload splits buckets");
	sleep(2) if $cycle == 2;
	my $committed = $node->safe_psql('postgres',
		"SELECT count(*) FROM cu WHERE k LIKE 'c${cycle}s%'");
	note "$label: $committed workload keys committed before the crash";

	my $log = slurp_file($node->logfile, $log_offset);
	my @errors = $log =~ /^.*(?:ERROR|FATAL|PANIC):.*$/mg;
	is(join("\n", @errors), '', "$label: no error in the workload before the crash");

	$node->stop('immediate');
	foreach my $bg (@sessions, $vac, $inflight)
	{
		eval { $bg->quit; };
	}
	$node->start;

	verify_all("$label: after recovery", @indexes, 'cl_xh');
	foreach my $idx (@indexes)
	{
		cmp_ok(stat_value($idx, 'splits'),
			'>=', $splits{$idx}, "$label: $idx keeps its splits");
	}
	compare_scans("$label: after recovery");
	check_unique("$label: after recovery");

	# The crash aborted the open transaction: its key is free again.
	my ($ret, $out, $err) = $node->psql('postgres',
		"INSERT INTO cu VALUES ('inflight-$cycle', 1);");
	is($ret, 0, "$label: key of the aborted transaction can be inserted")
	  or diag $err;

	# UNLOGGED: reset to its init fork, empty but valid
	is( $node->safe_psql('postgres',
			"$mode_gucs{index}\nSELECT count(*) FROM cl WHERE id = 5"),
		'0',
		"$label: unlogged index lookup returns no rows");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM cl'),
		'0', "$label: unlogged table is empty");
	is( $node->safe_psql(
			'postgres',
			"SELECT buckets, live_entries FROM xhash.xhash_stats('cl_xh')"),
		'1|0',
		"$label: unlogged index has one empty bucket");

	# The indexes keep working: more inserts (splits), VACUUM, inserts again.
	my $id_splits = stat_value('cw_id_xh', 'splits');
	$node->safe_psql(
		'postgres', qq{
INSERT INTO cw SELECT 900000000 + $cycle * 1000000 + g, g % 500, 'after'
  FROM generate_series(1, 30000) g;
INSERT INTO cu SELECT 'after$cycle-' || g, g FROM generate_series(1, 3000) g;
INSERT INTO cl SELECT g, 'after' FROM generate_series(1, 3000) g;
});
	cmp_ok(stat_value('cw_id_xh', 'splits'),
		'>', $id_splits, "$label: inserts after recovery split buckets");
	$node->safe_psql(
		'postgres', qq{
DELETE FROM cw WHERE id > 900000000 AND id % 3 = 0;
DELETE FROM cu WHERE k LIKE 'after$cycle-%' AND n % 2 = 0;
VACUUM cw, cu, cl;
INSERT INTO cw SELECT 950000000 + $cycle * 1000000 + g, g % 500, 'after2'
  FROM generate_series(1, 5000) g;
});
	verify_all("$label: after more writes", @indexes, 'cl_xh');
	compare_scans("$label: after more writes");
	is( $node->safe_psql('postgres',
			"$mode_gucs{index}\nSELECT count(*) FROM cl WHERE id = 2999"),
		'1',
		"$label: unlogged index works again");
}

# ---------------------------------------------------------------------------
# Crashes at chosen WAL records.  Recovery replays a prefix of the WAL, so
# stopping point-in-time recovery just after a record reproduces a crash
# right after that record was flushed.  Chosen points: inside a bucket split
# (after the new bucket's overflow pages, before the switch record; after the
# switch, before the moved entries are removed from the old chain) and inside
# VACUUM's rewrite of one bucket chain (between two of its records).  Each
# recovered index must verify clean, answer like a sequential scan, and keep
# working.
# ---------------------------------------------------------------------------

# Few distinct keys with thousands of rows each: a split moves whole keys,
# so new buckets span several pages, and chains are long.
$node->safe_psql('postgres',
	'CREATE TABLE ts (v int, n int); CREATE INDEX ts_xh ON ts USING xhash (v);');
$node->backup('pitr_base');

# Without full_page_writes, only the images xhash asks for (new pages) are
# full-page images, which tells the records apart.
$node->safe_psql('postgres',
	'ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();');
my $lsn_q = 'SELECT pg_current_wal_insert_lsn()';
my $lsn_split0 = $node->safe_psql('postgres', $lsn_q);
$node->safe_psql('postgres',
	'INSERT INTO ts SELECT g % 4, g FROM generate_series(1, 24000) g');
my $lsn_split1 = $node->safe_psql('postgres', $lsn_q);
$node->safe_psql('postgres', 'DELETE FROM ts WHERE n % 4 = 0');
my $lsn_vac0 = $node->safe_psql('postgres', $lsn_q);
$node->safe_psql('postgres', 'VACUUM ts');
my $lsn_vac1 = $node->safe_psql('postgres', $lsn_q);
$node->safe_psql('postgres',
	'ALTER SYSTEM RESET full_page_writes; SELECT pg_reload_conf();');
my $walfile = $node->safe_psql('postgres',
	"SELECT pg_walfile_name('$lsn_vac1')");
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok( $node->poll_query_until(
		'postgres',
		"SELECT last_archived_wal >= '$walfile' FROM pg_stat_archiver"),
	'WAL of the split and vacuum phases is archived');
cmp_ok(stat_value('ts_xh', 'splits'), '>', 0, 'ts_xh split');

my $ts_rel = $node->safe_psql('postgres',
	"SELECT coalesce(nullif(reltablespace, 0), 1663) || '/' || "
	  . "(SELECT oid FROM pg_database WHERE datname = current_database()) || '/' || "
	  . "pg_relation_filenode(oid) FROM pg_class WHERE relname = 'ts_xh'");

# The xhash (Generic) records of ts_xh between two LSNs:
# [ lsn, [ [ block, is_full_image ], ... ] ]
sub generic_records
{
	my ($from, $to) = @_;
	my ($stdout, $stderr);
	IPC::Run::run [
		'pg_waldump', '-p', $node->data_dir . '/pg_wal',
		'-s', $from, '-e', $to, '-r', 'Generic', '-R', $ts_rel
	  ],
	  '>', \$stdout, '2>', \$stderr;
	my @recs;
	foreach my $line (split /\n/, $stdout)
	{
		next unless $line =~ /lsn: ([0-9A-F]+)\/([0-9A-F]+),/;
		my $lsn = sprintf('%X/%X', hex($1), hex($2));
		my @blocks;
		while ($line =~ /blkref #\d+: rel \S+ blk (\d+)( FPW)?/g)
		{
			push @blocks, [ $1, defined $2 ? 1 : 0 ];
		}
		push @recs, [ $lsn, \@blocks ];
	}
	return @recs;
}

sub is_switch
{
	my ($r) = @_;
	my @b = @{ $r->[1] };
	return @b == 3 && $b[0][0] == 0 && $b[1][1];
}

sub is_new_page
{
	my ($r) = @_;
	my @b = @{ $r->[1] };
	return @b == 1 && $b[0][0] != 0 && $b[0][1];
}

# The split whose new bucket got the most overflow pages: consecutive
# single full-page records (new overflow pages, maybe the reserved extent's
# last page first) right before its switch record.
my @split_recs = generic_records($lsn_split0, $lsn_split1);
my ($best, $best_pages) = (undef, 0);
for my $i (2 .. $#split_recs)
{
	next unless is_switch($split_recs[$i]);
	my $n = 0;
	$n++ while $i - $n - 1 >= 0 && is_new_page($split_recs[ $i - $n - 1 ]);
	($best, $best_pages) = ($i, $n) if $n > $best_pages;
}
ok(defined $best && $best_pages >= 2,
	'found a split that wrote overflow pages for its new bucket')
  or diag 'records: ' . scalar(@split_recs);

# A vacuum rewrite record followed by another one of the same bucket chain
# (same primary page first).
my @vac_recs = generic_records($lsn_vac0, $lsn_vac1);
my $mid_vacuum;
for my $i (0 .. $#vac_recs - 1)
{
	my ($r, $next) = ($vac_recs[$i], $vac_recs[ $i + 1 ]);
	next unless @{ $r->[1] } >= 2 && @{ $next->[1] } >= 2;
	next if grep { $_->[0] == 0 } @{ $r->[1] };
	if ($r->[1][0][0] == $next->[1][0][0])
	{
		$mid_vacuum = $r->[0];
		last;
	}
}
ok(defined $mid_vacuum, 'found a bucket rewrite of several records in VACUUM');

my %points;
$points{'split, new bucket written, before switch'} =
  $split_recs[ $best - 1 ][0]
  if defined $best;
$points{'split, after switch, before old chain cleanup'} = $split_recs[$best][0]
  if defined $best;
$points{'vacuum, inside a bucket rewrite'} = $mid_vacuum if defined $mid_vacuum;

my $pitr_n = 0;
foreach my $point (sort keys %points)
{
	my $lsn = $points{$point};
	my $r = PostgreSQL::Test::Cluster->new('pitr' . ++$pitr_n);
	$r->init_from_backup($node, 'pitr_base', has_restoring => 1, standby => 0);
	$r->append_conf(
		'postgresql.conf', qq{
archive_mode = off
recovery_target_lsn = '$lsn'
recovery_target_inclusive = on
recovery_target_timeline = 'current'
recovery_target_action = 'promote'
});
	$r->start;
	ok($r->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
		"$point: recovered");
	ok($r->log_contains(qr/recovery stopping after WAL location \(LSN\) "$lsn"/),
		"$point: recovery stopped right after $lsn");
	note "$point: ts_xh "
	  . $r->safe_psql('postgres', 'SELECT * FROM xhash.xhash_stats(\'ts_xh\')');

	my $problems = $r->safe_psql('postgres',
		"SELECT blkno, problem FROM xhash.xhash_verify('ts_xh')");
	is($problems, '', "$point: xhash_verify(ts_xh) is empty");

	my $q = join("\n",
		map { "SELECT $_, count(*) FROM ts WHERE v = $_;" } (0 .. 4));
	my $expected = $r->safe_psql('postgres', "$mode_gucs{seq}\n$q");
	is($r->safe_psql('postgres', "$mode_gucs{index}\n$q"),
		$expected, "$point: index scans match sequential scans");
	is($r->safe_psql('postgres', "$mode_gucs{bitmap}\n$q"),
		$expected, "$point: bitmap scans match sequential scans");

	# Writing on: inserts (splits), deletes, VACUUM
	$r->safe_psql(
		'postgres', q{
INSERT INTO ts SELECT g % 5, g FROM generate_series(100001, 112000) g;
DELETE FROM ts WHERE n % 5 = 1;
VACUUM ts;
});
	is( $r->safe_psql(
			'postgres', "SELECT blkno, problem FROM xhash.xhash_verify('ts_xh')"),
		'',
		"$point: xhash_verify(ts_xh) is empty after more writes and VACUUM");
	$expected = $r->safe_psql('postgres', "$mode_gucs{seq}\n$q");
	is($r->safe_psql('postgres', "$mode_gucs{index}\n$q"),
		$expected, "$point: index scans match sequential scans after more writes");
	$r->stop;
}

$node->stop;
done_testing();

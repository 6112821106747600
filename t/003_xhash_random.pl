# Randomized workload on xhash indexes, with a fixed seed.
#
# One table with a UNIQUE xhash index on its id, an xhash index with
# debug_hash_bits = 6 (collisions), a two-column xhash index, and at times a
# fourth one built with CREATE INDEX CONCURRENTLY.  Batches of random
# operations (inserts single and bulk, deletes, updates of key and non-key
# columns and of the unique key, rolled-back transactions, duplicate inserts
# that must fail, VACUUM, REINDEX, CREATE INDEX / REINDEX CONCURRENTLY running
# alongside) are applied while a model of the table is kept in Perl.  After
# each batch, random present and absent keys are looked up with index scans,
# bitmap scans and sequential scans: all three must agree, and agree with the
# model; every xhash index must verify clean.
#
# XHASH_TEST_SEED=n overrides the seed; XHASH_TEST_BATCHES the batch count.

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use XhashTest;

my $seed = $ENV{XHASH_TEST_SEED} // 20251124;
my $nbatches = $ENV{XHASH_TEST_BATCHES} // 10;
my $ops_per_batch = 500;
my $k1_max = 300;
note "random seed $seed";
srand($seed);

my %mode_gucs = %SCAN_MODES;

my $node = PostgreSQL::Test::Cluster->new('random');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', "autovacuum = off\n");
$node->start;

# ---------------------------------------------------------------------------
# The model: id => [k1, k2, payload] (undef is NULL), and the ids in an array
# for picking one at random.
# ---------------------------------------------------------------------------
my %rows;
my @ids;
my %pos;
my $next_id = 1;

sub model_add
{
	my ($id, $k1, $k2, $payload) = @_;
	die "model: duplicate id $id" if exists $rows{$id};
	$rows{$id} = [ $k1, $k2, $payload ];
	$pos{$id} = scalar @ids;
	push @ids, $id;
}

sub model_del
{
	my ($id) = @_;
	my $p = delete $pos{$id};
	delete $rows{$id};
	my $last = pop @ids;
	if ($p < @ids)
	{
		$ids[$p] = $last;
		$pos{$last} = $p;
	}
}

sub random_id { return $ids[ int(rand(@ids)) ]; }
sub random_k1 { return rand() < 0.03 ? undef : int(rand($k1_max + 1)); }
sub random_k2 { return rand() < 0.1 ? undef : 'a' . int(rand(50)); }
sub random_payload { return 'p' . int(rand(1_000_000)); }

sub lit
{
	my ($v) = @_;
	return 'NULL' unless defined $v;
	return $v =~ /^-?\d+$/ ? $v : "'$v'";
}

# Bulk insert of $n rows from $base: the same formulas in SQL and in Perl.
sub bulk_insert
{
	my ($base, $n) = @_;
	for my $g (1 .. $n)
	{
		my $id = $base + $g;
		model_add($id, ($id * 7) % ($k1_max + 1),
			$g % 10 == 0 ? undef : 'a' . ($g % 50), "b$g");
	}
	return "INSERT INTO r SELECT $base + g, (($base + g) * 7) % "
	  . ($k1_max + 1)
	  . ", CASE WHEN g % 10 = 0 THEN NULL ELSE 'a' || (g % 50) END, 'b' || g "
	  . "FROM generate_series(1, $n) g;";
}

# ---------------------------------------------------------------------------
# Schema and initial data (indexes built over existing rows)
# ---------------------------------------------------------------------------
$node->safe_psql('postgres',
	    "CREATE EXTENSION xhash;\n"
	  . "CREATE TABLE r (id int8 NOT NULL, k1 int, k2 text, payload text);\n"
	  . bulk_insert(0, 5000) . "\n"
	  . "CREATE UNIQUE INDEX r_id ON r USING xhash (id);\n"
	  . "CREATE INDEX r_k1 ON r USING xhash (k1) WITH (debug_hash_bits = 6);\n"
	  . "CREATE INDEX r_k12 ON r USING xhash (k1, k2) WITH (fillfactor = 30);\n");
$next_id = 5001;
my $have_k2_index = 0;

# ---------------------------------------------------------------------------
# Random operations.  Each returns SQL and updates the model.
# ---------------------------------------------------------------------------
sub op_insert
{
	my $id = $next_id++;
	my ($k1, $k2, $p) = (random_k1(), random_k2(), random_payload());
	model_add($id, $k1, $k2, $p);
	return 'INSERT INTO r VALUES (' . join(', ', map { lit($_) } $id, $k1, $k2, $p) . ');';
}

sub op_bulk_insert
{
	my $n = 50 + int(rand(300));
	my $base = $next_id - 1;
	$next_id += $n;
	return bulk_insert($base, $n);
}

sub op_delete
{
	my $id = random_id();
	model_del($id);
	return "DELETE FROM r WHERE id = $id;";
}

sub op_delete_k1
{
	my $k1 = int(rand($k1_max + 1));
	model_del($_) for sort { $a <=> $b }
	  grep { defined $rows{$_}[0] && $rows{$_}[0] == $k1 } keys %rows;
	return "DELETE FROM r WHERE k1 = $k1;";
}

sub op_update_keys
{
	my $id = random_id();
	my $r = $rows{$id};
	my $what = rand();
	if ($what < 0.4)
	{
		$r->[0] = random_k1();
		return "UPDATE r SET k1 = " . lit($r->[0]) . " WHERE id = $id;";
	}
	elsif ($what < 0.7)
	{
		$r->[1] = random_k2();
		return "UPDATE r SET k2 = " . lit($r->[1]) . " WHERE id = $id;";
	}
	($r->[0], $r->[1]) = (random_k1(), random_k2());
	return "UPDATE r SET k1 = " . lit($r->[0]) . ", k2 = " . lit($r->[1])
	  . " WHERE id = $id;";
}

sub op_update_k1_multi
{
	my $k1 = int(rand($k1_max));
	for my $id (keys %rows)
	{
		$rows{$id}[0] = $k1 + 1 if defined $rows{$id}[0] && $rows{$id}[0] == $k1;
	}
	return "UPDATE r SET k1 = k1 + 1 WHERE k1 = $k1;";
}

sub op_update_payload
{
	my $id = random_id();
	$rows{$id}[2] = random_payload();
	return "UPDATE r SET payload = '$rows{$id}[2]' WHERE id = $id;";
}

sub op_update_id
{
	my $id = random_id();
	my $new = $next_id++;
	my $r = $rows{$id};
	model_del($id);
	model_add($new, @$r);
	return "UPDATE r SET id = $new WHERE id = $id;";
}

# Must fail with unique_violation; anything else fails the batch.
sub op_duplicate
{
	my $id = random_id();
	return "DO \$\$ BEGIN INSERT INTO r VALUES ($id, 1, 'dup', 'dup'); "
	  . "RAISE EXCEPTION 'xhash accepted a duplicate id $id'; "
	  . "EXCEPTION WHEN unique_violation THEN NULL; END \$\$;";
}

# Changes that are rolled back: the model stays as it is, and the ids the
# transaction inserted are used again later.
sub op_rollback
{
	my @sql = ('BEGIN;');
	my $id = $next_id;
	push @sql, "INSERT INTO r VALUES ($id, 1, 'rb', 'rb'), (" . ($id + 1) . ", 2, NULL, 'rb');";
	push @sql, 'UPDATE r SET k1 = ' . int(rand($k1_max)) . ', id = id + 1000000000 WHERE id = ' . random_id() . ';';
	push @sql, 'DELETE FROM r WHERE id = ' . random_id() . ';';
	push @sql, "UPDATE r SET k2 = 'rb' WHERE k1 = " . int(rand($k1_max)) . ';';
	push @sql, bulk_insert_sql_only($next_id + 10, 100);
	push @sql, 'ROLLBACK;';
	return join("\n", @sql);
}

sub bulk_insert_sql_only
{
	my ($base, $n) = @_;
	return "INSERT INTO r SELECT $base + g, g % 7, 'rb', 'rb' FROM generate_series(1, $n) g;";
}

sub op_vacuum
{
	return rand() < 0.5 ? 'VACUUM (INDEX_CLEANUP ON) r;' : 'VACUUM r;';
}

sub op_reindex
{
	my @choices = ('REINDEX INDEX r_k1;', 'REINDEX INDEX r_id;', 'REINDEX TABLE r;');
	return $choices[ int(rand(@choices)) ];
}

my @op_table = (
	[ 28, \&op_insert ],
	[ 3, \&op_bulk_insert ],
	[ 14, \&op_delete ],
	[ 1, \&op_delete_k1 ],
	[ 16, \&op_update_keys ],
	[ 1, \&op_update_k1_multi ],
	[ 14, \&op_update_payload ],
	[ 5, \&op_update_id ],
	[ 3, \&op_duplicate ],
	[ 3, \&op_rollback ],
	[ 1, \&op_vacuum, 'maintenance' ],
	[ 0.3, \&op_reindex, 'maintenance' ],);

sub random_op
{
	my ($no_maintenance) = @_;
	my $total = 0;
	$total += $_->[0] for @op_table;
	for (;;)
	{
		my $x = rand($total);
		foreach my $op (@op_table)
		{
			if ($x < $op->[0])
			{
				last if $no_maintenance && $op->[2];
				return $op->[1]->();
			}
			$x -= $op->[0];
		}
	}
}

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------
my $rowfmt =
  q{id || ':' || coalesce(k1::text, '~') || ':' || coalesce(k2, '~') || ':' || payload};

sub expected_line
{
	my ($label, @match) = @_;
	my @lines = map {
		my $r = $rows{$_};
		join(':', $_, $r->[0] // '~', $r->[1] // '~', $r->[2])
	} sort { $a <=> $b } @match;
	return "$label|" . scalar(@lines) . '|'
	  . (@lines ? md5_hex(join(',', @lines)) : '-');
}

sub lookup_sql
{
	my ($label, $where) = @_;
	return "SELECT '$label', count(*), "
	  . "coalesce(md5(string_agg($rowfmt, ',' ORDER BY id)), '-') "
	  . "FROM r WHERE $where;";
}

sub check_batch
{
	my ($label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my @indexes = ('r_id', 'r_k1', 'r_k12');
	push @indexes, 'r_k2' if $have_k2_index;
	verify_clean($node, $label, @indexes);

	# where each key is, from the model
	my (%by_k1, %by_pair, %by_k2);
	while (my ($id, $r) = each %rows)
	{
		push @{ $by_k1{ $r->[0] } }, $id if defined $r->[0];
		push @{ $by_k2{ $r->[1] } }, $id if defined $r->[1];
		push @{ $by_pair{"$r->[0]\0$r->[1]"} }, $id
		  if defined $r->[0] && defined $r->[1];
	}

	my (@sql, @expected);
	my $add = sub {
		my ($lbl, $where, @match) = @_;
		push @sql, lookup_sql($lbl, $where);
		push @expected, expected_line($lbl, @match);
	};

	# ids: present and absent
	my @probe_ids = map { random_id() } 1 .. 30;
	push @probe_ids, map { $next_id + int(rand(1000)) } 1 .. 5;
	push @probe_ids, map { -1 - int(rand(1000)) } 1 .. 3;
	push @probe_ids, 1000000000 + random_id(), 0;
	foreach my $id (@probe_ids)
	{
		$add->("id=$id", "id = $id", grep { exists $rows{$_} } $id);
	}
	my @in = @probe_ids[ 0 .. 9 ];
	my %in = map { $_ => 1 } @in;
	$add->('id in', 'id IN (' . join(', ', @in) . ')',
		grep { exists $rows{$_} } keys %in);
	my $id4 = $probe_ids[0];
	$add->("id=${id4}::int4", "id = ${id4}::int4", $id4);

	# k1 (debug_hash_bits = 6: many keys share a hash)
	foreach my $k1 ((map { int(rand($k1_max + 1)) } 1 .. 20),
		$k1_max + 1, $k1_max + 77, -5)
	{
		$add->("k1=$k1", "k1 = $k1", @{ $by_k1{$k1} // [] });
	}
	my $k1x = int(rand($k1_max + 1));
	$add->("k1=${k1x}::int8", "k1 = ${k1x}::int8", @{ $by_k1{$k1x} // [] });
	my %k1in = map { int(rand($k1_max + 1)) => 1 } 1 .. 4;
	$add->('k1 in', 'k1 IN (' . join(', ', sort { $a <=> $b } keys %k1in) . ')',
		map { @{ $by_k1{$_} // [] } } keys %k1in);

	# (k1, k2): pairs of existing rows and random pairs
	my @pairs = map { my $r = $rows{ random_id() }; [ $r->[0], $r->[1] ] } 1 .. 15;
	push @pairs, map { [ int(rand($k1_max + 1)), 'a' . int(rand(50)) ] } 1 .. 10;
	push @pairs, [ 5, 'zz' ];
	foreach my $p (@pairs)
	{
		my ($k1, $k2) = @$p;
		next unless defined $k1 && defined $k2;
		$add->("k1=$k1 k2=$k2", "k1 = $k1 AND k2 = '$k2'",
			@{ $by_pair{"$k1\0$k2"} // [] });
	}

	# k2 alone: a full scan of the two-column index, or a lookup in r_k2
	foreach my $k2 ('a' . int(rand(50)), 'a' . int(rand(50)), 'nope')
	{
		$add->("k2=$k2", "k2 = '$k2'", @{ $by_k2{$k2} // [] });
	}

	my $q = join("\n", @sql);
	my $expected = join("\n", @expected);
	my $seq = $node->safe_psql('postgres', "$mode_gucs{seq}\n$q");
	is($seq, $expected, "$label: sequential scans match the model");
	is($node->safe_psql('postgres', "$mode_gucs{index}\n$q"),
		$seq, "$label: index scans match sequential scans");
	is($node->safe_psql('postgres', "$mode_gucs{bitmap}\n$q"),
		$seq, "$label: bitmap scans match sequential scans");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM r'),
		scalar(keys %rows), "$label: row count matches the model");
}

sub check_plans
{
	my ($label) = @_;
	my $id = random_id();
	my %probe = (
		r_id => "id = $id",
		r_k1 => 'k1 = 17',
		r_k12 => "k1 = 17 AND k2 = 'a3'",);
	$probe{r_k2} = "k2 = 'a3'" if $have_k2_index;
	foreach my $idx (sort keys %probe)
	{
		my $plan = $node->safe_psql('postgres',
			"$mode_gucs{index}\nEXPLAIN (COSTS OFF) SELECT * FROM r WHERE $probe{$idx}");
		like($plan, qr/Index Scan using $idx on r/, "$label: $idx is used by index scans");
		$plan = $node->safe_psql('postgres',
			"$mode_gucs{bitmap}\nEXPLAIN (COSTS OFF) SELECT * FROM r WHERE $probe{$idx}");
		like($plan, qr/Bitmap Index Scan on $idx\b/, "$label: $idx is used by bitmap scans");
	}
}

check_batch('initial build');
check_plans('initial build');

# ---------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------
# splits seen during the batches (the counter restarts at each rebuild)
my %split_growth = map { $_ => 0 } qw(r_id r_k1 r_k12);

sub splits_now
{
	return map {
		$_ => $node->safe_psql('postgres',
			"SELECT splits FROM xhash.xhash_stats('$_')")
	} qw(r_id r_k1 r_k12);
}

for my $batch (1 .. $nbatches)
{
	my $label = "batch $batch";
	my %splits_before = splits_now();

	# Maybe a concurrent maintenance command alongside this batch
	my ($maint, $maint_sql, $maint_out);
	if (rand() < 0.5)
	{
		if (!$have_k2_index)
		{
			$maint_sql = 'CREATE INDEX CONCURRENTLY r_k2 ON r USING xhash (k2);';
			$have_k2_index = 1;
		}
		else
		{
			my @c = (
				'REINDEX INDEX CONCURRENTLY r_k12;',
				'REINDEX INDEX CONCURRENTLY r_id;',
				'REINDEX INDEX CONCURRENTLY r_k2;');
			$maint_sql = $c[ int(rand(@c)) ];
		}
	}
	elsif ($have_k2_index && rand() < 0.3)
	{
		$node->safe_psql('postgres', 'DROP INDEX CONCURRENTLY r_k2;');
		$have_k2_index = 0;
		note "$label: dropped r_k2";
	}

	my @sql = map { random_op(defined $maint_sql) } 1 .. $ops_per_batch;

	if (defined $maint_sql)
	{
		note "$label: concurrently $maint_sql";
		$maint = $node->background_psql('postgres', on_error_stop => 0);
		# query_until() returns and forgets everything read so far: when the
		# maintenance is quick, "maintenance done" is already in it
		$maint_out = $maint->query_until(qr/maintenance started/,
			"\\echo maintenance started\n$maint_sql\n\\echo maintenance done\n");
	}

	my ($ret, $out, $err) = $node->psql('postgres', join("\n", @sql));
	is($ret, 0, "$label: $ops_per_batch operations applied")
	  or diag "stderr: $err";
	is($err, '', "$label: no error or warning");

	if (defined $maint)
	{
		$maint->query_until(qr/maintenance done/, '')
		  unless $maint_out =~ /maintenance done/;
		$maint->quit;
		is( $node->safe_psql(
				'postgres',
				"SELECT count(*) FROM pg_index WHERE indrelid = 'r'::regclass AND NOT (indisvalid AND indisready)"),
			'0',
			"$label: $maint_sql left only valid indexes");
	}
	my %splits_after = splits_now();
	foreach my $idx (keys %splits_after)
	{
		my $d = $splits_after{$idx} - $splits_before{$idx};
		$split_growth{$idx} += $d if $d > 0;
	}
	check_batch($label);
}
check_plans('end');

foreach my $idx (qw(r_id r_k1 r_k12))
{
	cmp_ok($split_growth{$idx}, '>', 0,
		"$idx split buckets during the batches ($split_growth{$idx} splits)");
}
note 'final stats: '
  . $node->safe_psql('postgres',
	"SELECT i, s.* FROM unnest(ARRAY['r_id', 'r_k1', 'r_k12']) i, xhash.xhash_stats(i::regclass) s");
note "final row count: " . scalar(keys %rows);

$node->stop;
done_testing();

# t/lib/HashshardTest.pm -- what the hashshard TAP tests share.
#
# hs_new_shard($name) creates and starts a shard cluster ("node") with
# max_prepared_transactions = 20.  hs_new_coordinator($name) creates and
# starts the coordinator with hashshard in shared_preload_libraries (merged
# with the preload list of TEMP_CONFIG, so the suite's other preloaded
# libraries stay).  hs_add_nodes($coord, name => $cluster, ...) creates the
# extension, one hashshard server per shard cluster and the user mappings.
#
# The accounts table: hs_create_accounts($coord, $rows, $shards) creates
# accounts(id int primary key, balance int) with $rows rows of balance 1000
# and distributes it; it returns the model (id => balance) the tests keep up
# to date.  hs_keys_by_node($coord) returns node name => [ids held there].
# hs_transfer_sql($from, $to) is the bank-transfer transaction.
# hs_apply($model, $from, $to) records a committed transfer in the model.
#
# hs_check_accounts($coord, \%nodes, $model, $label) checks the invariants
# of the two-phase commit tests: no prepared transaction on any node,
# nothing left for recovery to do, hashshard.commit_records empty, the rows
# (seen through the coordinator and read directly from every node) are
# exactly the model's, the total balance is unchanged, and every row is in
# the shard table its key hashes to (hashshard.shard_for), on the node that
# hashshard.shards names.  When the accounts differ from the model, the
# difference is reported and the model is reset to what the coordinator
# reads, so that a later check reports only its own differences.
#
# hs_prepared($node) is the number of prepared transactions on a cluster.

package HashshardTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
our @EXPORT = qw(hs_new_shard hs_new_coordinator hs_add_nodes
  hs_create_accounts hs_keys_by_node hs_transfer_sql hs_apply
  hs_check_accounts hs_prepared hs_balance);

# The preload list of TEMP_CONFIG (the suite's settings) plus hashshard.
sub hs_preload_list
{
	my @libs;
	if (defined $ENV{TEMP_CONFIG} && -r $ENV{TEMP_CONFIG})
	{
		open my $fh, '<', $ENV{TEMP_CONFIG} or die "$ENV{TEMP_CONFIG}: $!";
		while (my $line = <$fh>)
		{
			if ($line =~ /^\s*shared_preload_libraries\s*=\s*'([^']*)'/)
			{
				@libs = grep { $_ ne '' } map { s/^\s+|\s+$//gr } split /,/, $1;
			}
		}
		close $fh;
	}
	push @libs, 'hashshard' unless grep { $_ eq 'hashshard' } @libs;
	return join(',', @libs);
}

sub hs_new_shard
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"max_prepared_transactions = 20\nlog_statement = 'all'\n");
	$node->start;
	return $node;
}

sub hs_new_coordinator
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = '"
		  . hs_preload_list()
		  . "'\nhashshard.recovery_interval = 0\n");
	$node->start;
	return $node;
}

sub hs_add_nodes
{
	my ($coord, %nodes) = @_;
	my $sql = "CREATE EXTENSION hashshard;\n";
	foreach my $name (sort keys %nodes)
	{
		my $n = $nodes{$name};
		$sql .=
		    "CREATE SERVER $name FOREIGN DATA WRAPPER hashshard OPTIONS "
		  . "(host '"
		  . $n->host
		  . "', port '"
		  . $n->port
		  . "', dbname 'postgres');\n"
		  . "CREATE USER MAPPING FOR CURRENT_USER SERVER $name;\n";
	}
	$coord->safe_psql('postgres', $sql);
	return;
}

sub hs_create_accounts
{
	my ($coord, $rows, $shards) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $moved = $coord->safe_psql(
		'postgres', qq{
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, $rows) g;
SELECT hashshard.create_distributed_table('accounts', 'id', $shards);
});
	is($moved, $rows, "create_distributed_table moves the $rows rows");
	my %model = map { $_ => 1000 } (1 .. $rows);
	return \%model;
}

sub hs_keys_by_node
{
	my ($coord) = @_;
	my $out = $coord->safe_psql(
		'postgres', q{
SELECT s.node, string_agg(g::text, ',' ORDER BY g)
FROM generate_series(1, (SELECT count(*) FROM accounts)::int) g
JOIN hashshard.shards s ON s.table_name = 'accounts'::regclass
  AND s.shard = hashshard.shard_for('accounts'::regclass, g)
GROUP BY s.node ORDER BY s.node});
	my %keys;
	foreach my $line (split /\n/, $out)
	{
		my ($node, $ids) = split /\|/, $line;
		$keys{$node} = [ split /,/, $ids ];
	}
	return \%keys;
}

sub hs_transfer_sql
{
	my ($from, $to) = @_;
	return "BEGIN;\n"
	  . "UPDATE accounts SET balance = balance - 1 WHERE id = $from;\n"
	  . "UPDATE accounts SET balance = balance + 1 WHERE id = $to;\n"
	  . "COMMIT;\n";
}

sub hs_apply
{
	my ($model, $from, $to) = @_;
	$model->{$from}--;
	$model->{$to}++;
	return;
}

sub hs_prepared
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		'SELECT count(*) FROM pg_catalog.pg_prepared_xacts');
}

# balance of one account, read through the coordinator
sub hs_balance
{
	my ($coord, $id) = @_;
	return $coord->safe_psql('postgres',
		"SELECT balance FROM accounts WHERE id = $id");
}

# The accounts whose balance differs from the model's (or that are missing
# or unknown), as "id: got (want)" lines; '' when they agree.
sub hs_model_diff
{
	my ($model, $got) = @_;
	my %ids = map { $_ => 1 } (keys %$model, keys %$got);
	my @diff;
	foreach my $id (sort { $a <=> $b } keys %ids)
	{
		my ($g, $w) = ($got->{$id} // 'missing', $model->{$id} // 'none');
		push @diff, "$id: $g (want $w)" if $g ne $w;
	}
	return join("\n", @diff);
}

sub hs_check_accounts
{
	my ($coord, $nodes, $model, $label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	foreach my $name (sort keys %$nodes)
	{
		is(hs_prepared($nodes->{$name}),
			0, "$label: no prepared transaction on $name");
	}
	is($coord->safe_psql('postgres',
			'SELECT count(*) FROM hashshard.prepared_transactions()'),
		0, "$label: hashshard.prepared_transactions() is empty");
	is($coord->safe_psql('postgres',
			'SELECT count(*) FROM hashshard.commit_records'),
		0, "$label: hashshard.commit_records is empty");

	my $total = 0;
	$total += $_ foreach values %$model;
	my @rows = split /\n/,
	  $coord->safe_psql('postgres', 'SELECT id, balance FROM accounts');
	is(scalar @rows, scalar keys %$model,
		"$label: the coordinator reads one row per account");
	my %seen = map { split /\|/ } @rows;
	my $diff = hs_model_diff($model, \%seen);
	is($diff, '',
		"$label: the coordinator reads every account with its balance");
	# after reporting a difference, go on from what the database holds, so
	# that later checks report only their own differences
	%$model = %seen if $diff ne '';
	is($coord->safe_psql('postgres', 'SELECT sum(balance) FROM accounts'),
		$total, "$label: total balance is $total");
	is( $coord->safe_psql(
			'postgres', q{
SELECT count(*) FROM accounts a
JOIN hashshard.shards s ON s.partition = a.tableoid
WHERE s.shard <> hashshard.shard_for('accounts'::regclass, a.id)}),
		0,
		"$label: every row is read from the partition of its hash");

	# the nodes themselves: each shard table on the node hashshard.shards
	# names, holding exactly the rows whose key hashes to it
	my $placements = $coord->safe_psql(
		'postgres', q{
SELECT shard, node, remote_table FROM hashshard.shards
WHERE table_name = 'accounts'::regclass ORDER BY shard});
	my %on_node;
	foreach my $line (split /\n/, $placements)
	{
		my ($shard, $node, $remote) = split /\|/, $line;
		push @{ $on_node{$node} }, [ $shard, $remote ];
	}
	my (%found, @pairs);    # id => balance; "(id, shard)"
	my $dups = 0;
	foreach my $name (sort keys %$nodes)
	{
		my @shards = @{ $on_node{$name} // [] };
		ok(@shards > 0, "$label: $name holds shards");
		next unless @shards;
		my $rows = $nodes->{$name}->safe_psql('postgres',
			join("\nUNION ALL\n",
				map { "SELECT $_->[0], id, balance FROM $_->[1]" } @shards));
		foreach my $row (split /\n/, $rows)
		{
			my ($shard, $id, $balance) = split /\|/, $row;
			$dups++ if exists $found{$id};
			$found{$id} = $balance;
			push @pairs, "($id, $shard)";
		}
		is( $nodes->{$name}->safe_psql(
				'postgres',
				"SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class "
				  . "WHERE relname LIKE 'accounts\\_%' AND relkind = 'r'"),
			join(',', sort map { $_->[1] =~ s/^.*\.//r } @shards),
			"$label: $name has exactly its shard tables");
	}
	is($dups, 0, "$label: no account is stored twice on the nodes");
	is(hs_model_diff($model, \%found),
		'', "$label: the nodes hold every account with its balance");
	is( $coord->safe_psql(
			'postgres',
			'SELECT count(*) FROM (VALUES '
			  . join(',', @pairs)
			  . ") v(id, shard) WHERE hashshard.shard_for('accounts'::regclass, v.id) <> v.shard"
		),
		0,
		"$label: every row on the nodes is in the shard of its hash");
	return;
}

1;

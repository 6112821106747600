# hashshard's recovery background worker.
#
# One coordinator (hashshard preloaded) and two shard clusters.  With
# hashshard.recovery_interval = 1 (ALTER SYSTEM + reload) the worker must
# resolve in-doubt transactions by itself, following invariant C5 of
# hashshard.h:
#
#  1. a transaction paused between PREPARE TRANSACTION and its local commit
#     (debug_fault = pause_after_prepare) is in progress: the worker leaves
#     its prepared transactions alone, however many times it runs;
#  2. meanwhile a transaction committed locally whose COMMIT PREPARED was
#     skipped (skip_commit_prepared) is committed by the worker, which logs
#     "hashshard recovery: <gid> on node ...: committed";
#  3. the paused transaction then finishes (committed), and the worker
#     deletes the commit records no node needs any more;
#  4. a transaction whose backend exited after PREPARE (exit_after_prepare)
#     has no commit record: the worker rolls it back.
#
# Afterwards: no prepared transaction, no commit record, every account as
# the committed transfers left it, every row on its shard.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use HashshardTest;

# hashshard.debug_fault = pause_after_prepare waits on this advisory lock
my $pause_key = 7245001;

my %nodes = map { ("node$_" => hs_new_shard("shard$_")) } (1 .. 2);
my $coord = hs_new_coordinator('coord');
hs_add_nodes($coord, %nodes);
my $model = hs_create_accounts($coord, 100, 4);
my $keys = hs_keys_by_node($coord);
is_deeply([ sort keys %$keys ], [qw(node1 node2)],
	'accounts are spread over the two nodes');
is($coord->safe_psql('postgres',
		'SELECT count(*) FROM hashshard.recover_prepared()'),
	0, 'nothing in doubt after distribution');

# the gids prepared on a node
sub prepared_gids
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(gid, ',' ORDER BY gid) FROM pg_prepared_xacts");
}

# The action the worker logged for a transaction on node $n since $offset
# (it logs after acting, so wait for the line; any action matches, so that a
# wrong one fails at once instead of timing out).
sub worker_action
{
	my ($n, $offset) = @_;
	my $re = qr/LOG:  hashshard recovery: hs_\S+ on node "$n": ([a-z ]+)\n/;
	$coord->wait_for_log($re, $offset);
	my ($action) = slurp_file($coord->logfile, $offset) =~ $re;
	return $action;
}

# ---------------------------------------------------------------------------
# The worker on
# ---------------------------------------------------------------------------
$coord->safe_psql('postgres',
	"ALTER SYSTEM SET hashshard.recovery_interval = 1;\nSELECT pg_reload_conf();");
ok( $coord->poll_query_until(
		'postgres',
		"SELECT current_setting('hashshard.recovery_interval') = '1s'"),
	'recovery_interval is 1s after the reload');
ok( $coord->poll_query_until(
		'postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'hashshard recovery'"
	),
	'the recovery launcher runs');

# ---------------------------------------------------------------------------
# 1. a transaction paused after PREPARE: in progress
# ---------------------------------------------------------------------------
my ($p_from, $p_to) = ($keys->{node1}[0], $keys->{node2}[0]);
my $holder = $coord->background_psql('postgres');
$holder->query_safe("SELECT pg_advisory_lock($pause_key);");
my $writer = $coord->background_psql('postgres', on_error_stop => 0);
$writer->query_safe("SET hashshard.debug_fault = pause_after_prepare;");
$writer->query_until(qr/committing/,
	"\\echo committing\n" . hs_transfer_sql($p_from, $p_to));
ok( $coord->poll_query_until(
		'postgres',
		'SELECT count(*) = 1 FROM pg_locks '
		  . "WHERE locktype = 'advisory' AND objid = $pause_key AND NOT granted"),
	'1: the transaction waits after PREPARE');
my %paused = map { $_ => prepared_gids($nodes{$_}) } keys %nodes;
foreach my $n (sort keys %nodes)
{
	like($paused{$n}, qr/^hs_\d+_\d+_\d+x[0-9a-f]{16}_\d+\.\d+$/, "1: $n holds its prepared transaction");
}

# ---------------------------------------------------------------------------
# 2. an in-doubt transaction with commit record: the worker commits it
# ---------------------------------------------------------------------------
my ($s_from, $s_to) = ($keys->{node2}[1], $keys->{node1}[1]);
my $log_offset = -s $coord->logfile;
my ($rc, $out, $err) = $coord->psql('postgres',
	"SET hashshard.debug_fault = skip_commit_prepared;\n"
	  . hs_transfer_sql($s_from, $s_to));
is($rc, 0, '2: the COMMIT succeeds');
like($err, qr/could not commit prepared transaction/,
	'2: with warnings: COMMIT PREPARED was skipped');
hs_apply($model, $s_from, $s_to);
foreach my $n (sort keys %nodes)
{
	ok( $nodes{$n}->poll_query_until(
			'postgres',
			"SELECT coalesce(string_agg(gid, ',' ORDER BY gid), '') = '$paused{$n}' "
			  . 'FROM pg_prepared_xacts'),
		"2: on $n only the paused transaction is left prepared");
}
foreach my $n (sort keys %nodes)
{
	is(worker_action($n, $log_offset),
		'committed', "2: the worker logs that it committed the transaction on $n");
}
is(hs_balance($coord, $s_from), $model->{$s_from}, '2: the debit is visible');
is(hs_balance($coord, $s_to), $model->{$s_to}, '2: the credit is visible');
foreach my $n (sort keys %nodes)
{
	unlike(
		slurp_file($coord->logfile, $log_offset),
		qr/\Q$paused{$n}\E/,
		"2: the worker did not act on the paused transaction on $n");
	is(prepared_gids($nodes{$n}), $paused{$n},
		"2: the paused transaction is still prepared on $n");
}

# ---------------------------------------------------------------------------
# 3. the paused transaction finishes by itself
# ---------------------------------------------------------------------------
$holder->query_safe("SELECT pg_advisory_unlock($pause_key);");
$writer->{stderr} = '';
is($writer->query("SELECT 'after commit'"),
	'after commit', '3: the paused transaction commits');
# (no assertion on warnings: the worker may legitimately commit a branch
# between the local commit and the session's own COMMIT PREPARED)
unlike($writer->{stderr}, qr/ERROR/, '3: without error');
hs_apply($model, $p_from, $p_to);
foreach my $n (sort keys %nodes)
{
	ok( $nodes{$n}->poll_query_until(
			'postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
		"3: nothing is left prepared on $n");
}
$writer->quit;
$holder->quit;
ok( $coord->poll_query_until(
		'postgres', 'SELECT count(*) = 0 FROM hashshard.commit_records'),
	'3: the worker deletes the commit records');
hs_check_accounts($coord, \%nodes, $model, 'after 3');

# ---------------------------------------------------------------------------
# 4. an in-doubt transaction without commit record: rolled back
# ---------------------------------------------------------------------------
my ($r_from, $r_to) = ($keys->{node1}[2], $keys->{node2}[2]);
$log_offset = -s $coord->logfile;
($rc, $out, $err) = $coord->psql('postgres',
	"SET hashshard.debug_fault = exit_after_prepare;\n"
	  . hs_transfer_sql($r_from, $r_to));
isnt($rc, 0, '4: the session is lost at COMMIT');
foreach my $n (sort keys %nodes)
{
	ok( $nodes{$n}->poll_query_until(
			'postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
		"4: the worker resolves the transaction on $n");
	is(worker_action($n, $log_offset),
		'rolled back', "4: the worker logs that it rolled it back on $n");
}
hs_check_accounts($coord, \%nodes, $model, 'after 4');

$coord->stop;
$_->stop foreach values %nodes;
done_testing();

# hashshard's two-phase commit under faults.
#
# One coordinator and three shard clusters; accounts(id, balance) in 8
# shards over the three nodes.  A bank transfer moves 1 from an account on
# one node to an account on another: BEGIN; two UPDATEs; COMMIT, which
# hashshard commits with two-phase commit (commit record, PREPARE
# TRANSACTION on both nodes, local commit, COMMIT PREPARED).  A fault is
# injected at each step (hashshard.debug_fault), then the in-doubt
# transactions are resolved with hashshard.recover_prepared() and the
# invariants checked (HashshardTest::hs_check_accounts): no prepared
# transaction left, no commit record left, every account exactly as the
# committed transfers left it (total unchanged), every row on its shard.
#
#  a. error_after_prepare: the COMMIT fails; the abort path rolls the
#     prepared transactions back.
#  b. exit_after_prepare: the backend exits between PREPARE and the local
#     commit: the prepared transactions are left, without commit record;
#     recovery rolls them back.
#  c. skip_commit_prepared: committed locally, COMMIT PREPARED never sent:
#     recovery commits them.
#  d. a node stopped (-m immediate) while the committing session waits
#     between its local commit and COMMIT PREPARED (pause_after_commit):
#     COMMIT only warns; recovery (after a pass that finds the node
#     unreachable and must keep the commit record) commits the rest.
#  e. the coordinator stopped (-m immediate) at the same point: after the
#     restart recovery commits both prepared transactions.
#  e2. the coordinator stopped between PREPARE and its local commit
#     (pause_after_prepare) while the transfer also wrote a local table:
#     after the restart the next transaction must not reuse the lost
#     transaction's id (gids and commit records are named after it), and
#     recovery rolls the lost transaction back: neither its local row nor
#     its transfer survive.
#  f. a node stopped in the middle of a transaction: the next statement on
#     it fails cleanly (or the COMMIT does), nothing is left prepared, and
#     the next transaction of the same session works once the node is back;
#     idle sessions whose cached connection died re-connect by themselves
#     (a write and a read as first command).
#  g. a node with max_prepared_transactions = 0: a transfer involving it
#     fails with an error naming the setting; a transfer within that node
#     commits in one phase.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use HashshardTest;

my %nodes = map { ("node$_" => hs_new_shard("shard$_")) } (1 .. 3);
my $coord = hs_new_coordinator('coord');
hs_add_nodes($coord, %nodes);

my $model = hs_create_accounts($coord, 300, 8);
my $keys = hs_keys_by_node($coord);
is_deeply([ sort keys %$keys ], [qw(node1 node2 node3)],
	'accounts are spread over the three nodes');
foreach my $n (sort keys %$keys)
{
	cmp_ok(scalar @{ $keys->{$n} }, '>=', 10, "$n holds at least 10 accounts");
}
# create_distributed_table wrote on every node: two-phase commit, whose
# commit record the next recovery deletes
is(recover(), '', 'after distribution: nothing in doubt');
hs_check_accounts($coord, \%nodes, $model, 'after distribution');

# The k-th account held by a node: each case uses accounts of its own.
sub key_on
{
	my ($node, $k) = @_;
	return $keys->{$node}[$k];
}

# Statements sent to a node since a log offset (shards log every statement).
sub node_log_since
{
	my ($node, $offset) = @_;
	return slurp_file($node->logfile, $offset);
}

# recover_prepared() as "node|action" lines, ordered
sub recover
{
	return $coord->safe_psql('postgres',
		'SELECT node, action FROM hashshard.recover_prepared() ORDER BY node, gid');
}

# the gids of hashshard.commit_records
sub commit_records
{
	return $coord->safe_psql('postgres',
		"SELECT string_agg(gid, ',' ORDER BY gid) FROM hashshard.commit_records");
}

sub has_record
{
	my ($gid) = @_;
	return $coord->safe_psql('postgres',
		"SELECT count(*) FROM hashshard.commit_records WHERE gid = '$gid'");
}

# hashshard.debug_fault = pause_after_prepare waits on this advisory lock
my $pause_key = 7245001;

my $pause_dir = PostgreSQL::Test::Utils::tempdir();
my $pause_file = "$pause_dir/pause_after_commit";

# ---------------------------------------------------------------------------
# A transfer without fault: two-phase commit across two nodes.
# ---------------------------------------------------------------------------
{
	my ($from, $to) = (key_on('node1', 0), key_on('node2', 0));
	my ($rc, $out, $err) =
	  $coord->psql('postgres', hs_transfer_sql($from, $to));
	is($rc, 0, 'plain transfer: committed');
	is($err, '', 'plain transfer: no warning');
	hs_apply($model, $from, $to);
	is(recover(), '', 'plain transfer: nothing in doubt');
	hs_check_accounts($coord, \%nodes, $model, 'plain transfer');
}

# ---------------------------------------------------------------------------
# a. error_after_prepare
# ---------------------------------------------------------------------------
{
	my ($from, $to) = (key_on('node1', 1), key_on('node3', 1));
	my %off = map { $_ => -s $nodes{$_}->logfile } keys %nodes;
	my ($rc, $out, $err) = $coord->psql('postgres',
		"SET hashshard.debug_fault = error_after_prepare;\n"
		  . hs_transfer_sql($from, $to));
	isnt($rc, 0, 'a: the COMMIT fails');
	like(
		$err,
		qr/hashshard fault injected after PREPARE TRANSACTION/,
		'a: with the injected error');
	foreach my $n (qw(node1 node3))
	{
		my $log = node_log_since($nodes{$n}, $off{$n});
		like($log, qr/PREPARE TRANSACTION 'hs_/, "a: $n prepared");
		like($log, qr/ROLLBACK PREPARED 'hs_/, "a: $n rolled back");
	}
	is(recover(), '', 'a: nothing in doubt');
	hs_check_accounts($coord, \%nodes, $model, 'a: error_after_prepare');
}

# ---------------------------------------------------------------------------
# b. exit_after_prepare
# ---------------------------------------------------------------------------
{
	my ($from, $to) = (key_on('node2', 2), key_on('node3', 2));
	my $log_off = -s $coord->logfile;
	my ($rc, $out, $err) = $coord->psql('postgres',
		"SET hashshard.debug_fault = exit_after_prepare;\n"
		  . hs_transfer_sql($from, $to));
	isnt($rc, 0, 'b: the session is lost at COMMIT');
	ok( $coord->log_contains(
			qr/hashshard fault: exiting after PREPARE TRANSACTION/, $log_off),
		'b: the backend exited after PREPARE');
	is(hs_prepared($nodes{node1}), 0, 'b: nothing prepared on node1');
	is(hs_prepared($nodes{node2}), 1, 'b: node2 is in doubt');
	is(hs_prepared($nodes{node3}), 1, 'b: node3 is in doubt');
	is( $coord->safe_psql(
			'postgres',
			'SELECT node, has_commit_record, local_xact_running '
			  . 'FROM hashshard.prepared_transactions() ORDER BY node'),
		"node2|f|f\nnode3|f|f",
		'b: prepared_transactions() shows them without commit record');
	is(hs_balance($coord, $from), $model->{$from},
		'b: the debit is not visible');
	is(recover(), "node2|rolled back\nnode3|rolled back",
		'b: recovery rolls both back');
	hs_check_accounts($coord, \%nodes, $model, 'b: exit_after_prepare');
}

# ---------------------------------------------------------------------------
# c. skip_commit_prepared
# ---------------------------------------------------------------------------
{
	my ($from, $to) = (key_on('node3', 3), key_on('node1', 3));
	my ($rc, $out, $err) = $coord->psql('postgres',
		"SET hashshard.debug_fault = skip_commit_prepared;\n"
		  . hs_transfer_sql($from, $to));
	is($rc, 0, 'c: the COMMIT succeeds');
	like(
		$err,
		qr/WARNING:  could not commit prepared transaction "hs_\S+" on node "node1"/,
		'c: with a warning for node1');
	like(
		$err,
		qr/WARNING:  could not commit prepared transaction "hs_\S+" on node "node3"/,
		'c: with a warning for node3');
	unlike($err, qr/ERROR/, 'c: and no error');
	hs_apply($model, $from, $to);
	is(hs_prepared($nodes{node1}), 1, 'c: node1 is in doubt');
	is(hs_prepared($nodes{node2}), 0, 'c: nothing prepared on node2');
	is(hs_prepared($nodes{node3}), 1, 'c: node3 is in doubt');
	is($coord->safe_psql('postgres', 'SELECT count(*) FROM hashshard.commit_records'),
		1, 'c: the commit record is there');
	is( $coord->safe_psql(
			'postgres',
			'SELECT node, has_commit_record, local_xact_running '
			  . 'FROM hashshard.prepared_transactions() ORDER BY node'),
		"node1|t|f\nnode3|t|f",
		'c: prepared_transactions() shows them with their commit record');
	is(recover(), "node1|committed\nnode3|committed",
		'c: recovery commits both');
	is($coord->safe_psql('postgres', 'SELECT count(*) FROM hashshard.commit_records'),
		0, 'c: the recovery that resolved them deletes the commit record');
	hs_check_accounts($coord, \%nodes, $model, 'c: skip_commit_prepared');
}

# Start a transfer that pauses after its local commit (before COMMIT
# PREPARED) and wait until it got there; returns the background session
# and the gid of the transaction's commit record.
sub start_paused_transfer
{
	my ($label, $from, $to) = @_;
	my $records = $coord->safe_psql('postgres',
		'SELECT count(*) FROM hashshard.commit_records');
	my $before = commit_records();
	open my $fh, '>', $pause_file or die "$pause_file: $!";
	close $fh;
	my $bg = $coord->background_psql('postgres', on_error_stop => 0);
	$bg->query_safe("SET hashshard.debug_fault = pause_after_commit;\n"
		  . "SET hashshard.debug_pause_file = '$pause_file';");
	$bg->{stderr} = '';
	$bg->query_until(qr/committing/,
		"\\echo committing\n" . hs_transfer_sql($from, $to));
	ok( $coord->poll_query_until(
			'postgres',
			"SELECT count(*) = $records + 1 FROM hashshard.commit_records"),
		"$label: the transaction committed locally");
	my $gid = $coord->safe_psql('postgres',
		"SELECT gid FROM hashshard.commit_records WHERE gid <> ALL ('{$before}'::text[])");
	like($gid, qr/^hs_\d+_\d+_\d+x[0-9a-f]{16}$/, "$label: its commit record");
	return ($bg, $gid);
}

# ---------------------------------------------------------------------------
# d. a node down during COMMIT PREPARED
# ---------------------------------------------------------------------------
{
	my ($from, $to) = (key_on('node1', 4), key_on('node2', 4));
	my ($bg, $gid) = start_paused_transfer('d', $from, $to);
	is(hs_prepared($nodes{node1}), 1, 'd: node1 prepared');
	is(hs_prepared($nodes{node2}), 1, 'd: node2 prepared');
	$nodes{node2}->stop('immediate');
	unlink $pause_file or die "$pause_file: $!";
	my ($out, $ret) = $bg->query("SELECT 'after commit'");
	is($out, 'after commit', 'd: the session goes on after COMMIT');
	like(
		$bg->{stderr},
		qr/WARNING:  could not commit prepared transaction "hs_\S+" on node "node2"/,
		'd: COMMIT warns about node2');
	unlike($bg->{stderr}, qr/ERROR/, 'd: COMMIT raises no error');
	unlike($bg->{stderr}, qr/on node "node1"/, 'd: node1 committed');
	$bg->quit;
	hs_apply($model, $from, $to);
	is(hs_prepared($nodes{node1}), 0, 'd: nothing left prepared on node1');
	is(hs_balance($coord, $from), $model->{$from},
		'd: the debit on node1 is visible');

	# recovery while node2 is down: the record must stay
	my ($rc, $rout, $rerr) = $coord->psql('postgres',
		'SELECT node, gid IS NULL, action FROM hashshard.recover_prepared() ORDER BY node'
	);
	is($rc, 0, 'd: recovery with node2 down runs');
	is($rout, 'node2|t|node unreachable', 'd: it reports node2 unreachable');
	like($rerr, qr/node "node2" is unreachable/, 'd: with a warning');
	is(has_record($gid), 1,
		'd: the commit record is kept while a node is unreachable');

	$nodes{node2}->start;
	is(hs_prepared($nodes{node2}), 1,
		'd: node2 still holds the prepared transaction after its restart');
	is(recover(), 'node2|committed', 'd: recovery commits it');
	hs_check_accounts($coord, \%nodes, $model, 'd: node down at COMMIT PREPARED');
}

# ---------------------------------------------------------------------------
# e. the coordinator stopped after its local commit
# ---------------------------------------------------------------------------
{
	my ($from, $to) = (key_on('node2', 5), key_on('node3', 5));
	my ($bg, $gid) = start_paused_transfer('e', $from, $to);
	is(hs_prepared($nodes{node2}), 1, 'e: node2 prepared');
	is(hs_prepared($nodes{node3}), 1, 'e: node3 prepared');
	$coord->stop('immediate');
	eval { $bg->quit; };
	unlink $pause_file or die "$pause_file: $!";
	$coord->start;
	hs_apply($model, $from, $to);
	is(hs_prepared($nodes{node2}), 1, 'e: node2 still in doubt');
	is(hs_prepared($nodes{node3}), 1, 'e: node3 still in doubt');
	is(has_record($gid), 1, 'e: the commit record survived the crash');
	is(recover(), "node2|committed\nnode3|committed",
		'e: recovery commits both');
	hs_check_accounts($coord, \%nodes, $model, 'e: coordinator crash');
}

# ---------------------------------------------------------------------------
# e2. the coordinator stopped between PREPARE and its local commit
# ---------------------------------------------------------------------------
{
	my ($from, $to) = (key_on('node1', 11), key_on('node3', 11));
	my ($a2, $b2) = (key_on('node2', 11), key_on('node2', 12));
	my ($from2, $to2) = (key_on('node1', 12), key_on('node3', 12));
	$coord->safe_psql('postgres', 'CREATE TABLE audit (note text)');
	my $holder = $coord->background_psql('postgres');
	$holder->query_safe("SELECT pg_advisory_lock($pause_key);");
	my $bg = $coord->background_psql('postgres', on_error_stop => 0);
	$bg->query_safe("SET hashshard.debug_fault = pause_after_prepare;");
	# the transfer also writes a local table: all or nothing
	$bg->query_until(qr/committing/,
		"\\echo committing\n"
		  . hs_transfer_sql($from, $to) =~ s/^BEGIN;\n/BEGIN;\nINSERT INTO audit VALUES ('lost');\n/r);
	ok( $coord->poll_query_until(
			'postgres',
			'SELECT count(*) = 1 FROM pg_locks '
			  . "WHERE locktype = 'advisory' AND objid = $pause_key AND NOT granted"),
		'e2: the transaction waits between PREPARE and its local commit');
	my %gid;
	foreach my $n (qw(node1 node3))
	{
		$gid{$n} = $nodes{$n}->safe_psql('postgres',
			"SELECT string_agg(gid, ',') FROM pg_prepared_xacts");
		like($gid{$n}, qr/^hs_\d+_\d+_\d+x[0-9a-f]{16}_\d+\.\d+$/, "e2: $n prepared");
	}
	my ($lost_fxid) = $gid{node1} =~ /^hs_\d+_\d+_(\d+)x/;
	$coord->stop('immediate');
	eval { $bg->quit; };
	eval { $holder->quit; };
	$coord->start;
	is( $coord->safe_psql(
			'postgres',
			'SELECT node, has_commit_record, local_xact_running '
			  . 'FROM hashshard.prepared_transactions() ORDER BY node'),
		"node1|f|f\nnode3|f|f",
		'e2: after the restart the transaction is in doubt without commit record');

	# The first transaction of the restarted coordinator (a transfer within
	# node2 that also writes a local table) may get the transaction id of
	# the lost one (its WAL need not have reached disk); the gids' nonce
	# keeps its commit record from deciding for the lost one's branches.
	my ($rc, $out, $err) = $coord->psql(
		'postgres', qq{BEGIN;
INSERT INTO audit VALUES ('e2');
SELECT pg_current_xact_id();
UPDATE accounts SET balance = balance - 1 WHERE id = $a2;
UPDATE accounts SET balance = balance + 1 WHERE id = $b2;
COMMIT;});
	is($rc, 0, 'e2: the first transaction after the restart commits');
	hs_apply($model, $a2, $b2) if $rc == 0;
	note("lost transaction id $lost_fxid, first one after the restart $out");
	is(recover(), "node1|rolled back\nnode3|rolled back",
		'e2: recovery rolls the lost transaction back');
	is( $coord->safe_psql(
			'postgres',
			"SELECT (SELECT count(*) FROM audit WHERE note = 'lost') || '|' || "
			  . "(SELECT balance FROM accounts WHERE id = $from)"),
		"0|$model->{$from}",
		'e2: the lost transaction left neither its local row nor its transfer');

	# and a transfer on the nodes of the lost transaction works
	($rc, $out, $err) =
	  $coord->psql('postgres', hs_transfer_sql($from2, $to2));
	is($rc, 0, 'e2: a transfer on the same nodes commits');
	is($err, '', 'e2: without warning');
	hs_apply($model, $from2, $to2) if $rc == 0;
	is(recover(), '', 'e2: nothing in doubt');
	hs_check_accounts($coord, \%nodes, $model, 'e2: coordinator crash before commit');
}

# ---------------------------------------------------------------------------
# f. a node stopped in the middle of a transaction
# ---------------------------------------------------------------------------
{
	my ($x1, $x2, $y1) =
	  (key_on('node3', 6), key_on('node3', 7), key_on('node1', 6));

	# idle sessions with a cached connection to node3
	my $idle = $coord->background_psql('postgres', on_error_stop => 0);
	is($idle->query_safe("SELECT balance FROM accounts WHERE id = $x1"),
		$model->{$x1}, 'f: idle session read from node3');
	my $idle_r = $coord->background_psql('postgres', on_error_stop => 0);
	is($idle_r->query_safe("SELECT balance FROM accounts WHERE id = $x1"),
		$model->{$x1}, 'f: second idle session read from node3');

	# f1: the next statement on the dead node fails
	my $bg = $coord->background_psql('postgres', on_error_stop => 0);
	my $records = commit_records();
	$bg->query_safe("BEGIN;\n"
		  . "UPDATE accounts SET balance = balance - 1 WHERE id = $x1;");
	$nodes{node3}->stop('immediate');
	$bg->{stderr} = '';
	$bg->query("UPDATE accounts SET balance = balance + 1 WHERE id = $y1;");
	is($bg->{stderr}, '', 'f1: a statement on another node still works');
	$bg->query("UPDATE accounts SET balance = balance - 1 WHERE id = $x2;");
	like($bg->{stderr}, qr/ERROR:  node "node3": /,
		'f1: the next statement on node3 fails');
	$bg->{stderr} = '';
	$bg->query('ROLLBACK;');
	unlike($bg->{stderr}, qr/ERROR|FATAL/, 'f1: ROLLBACK is clean');
	is(hs_prepared($nodes{node1}), 0, 'f1: nothing prepared on node1');
	is(commit_records(), $records, 'f1: no commit record');
	$nodes{node3}->start;

	$bg->{stderr} = '';
	$bg->query(hs_transfer_sql($x1, $y1));
	is($bg->{stderr}, '', 'f1: the next transaction of the session works');
	hs_apply($model, $x1, $y1);
	is(recover(), '', 'f1: nothing in doubt');
	hs_check_accounts($coord, \%nodes, $model, 'f1: node lost mid-transaction');

	# f2: a node lost before COMMIT: the COMMIT fails, the other node's
	# prepared transaction is rolled back
	$bg->{stderr} = '';
	$records = commit_records();
	$bg->query_safe("BEGIN;\n"
		  . "UPDATE accounts SET balance = balance - 1 WHERE id = $x2;");
	$nodes{node3}->stop('immediate');
	$bg->query("UPDATE accounts SET balance = balance + 1 WHERE id = $y1;");
	is($bg->{stderr}, '', 'f2: a statement on another node still works');
	$bg->query('COMMIT;');
	like($bg->{stderr}, qr/ERROR:  .*node "node3"/, 'f2: the COMMIT fails, naming node3');
	is(hs_prepared($nodes{node1}), 0, 'f2: nothing left prepared on node1');
	is(commit_records(), $records, 'f2: no commit record');
	is(hs_balance($coord, $y1), $model->{$y1}, 'f2: the credit on node1 is rolled back');
	$nodes{node3}->start;

	$bg->{stderr} = '';
	$bg->query(hs_transfer_sql($x2, $y1));
	is($bg->{stderr}, '', 'f2: the next transaction of the session works');
	hs_apply($model, $x2, $y1);
	$bg->quit;

	# the idle sessions' connections to node3 died twice meanwhile: the
	# first command of a transaction re-connects by itself (nothing was lost
	# on the node)
	$idle->{stderr} = '';
	$idle->query(hs_transfer_sql($x1, $y1));
	is($idle->{stderr}, '',
		'f: an idle session writes on the restarted node (re-connected by itself)');
	hs_apply($model, $x1, $y1) unless $idle->{stderr} =~ /ERROR/;
	$idle->quit;
	$idle_r->{stderr} = '';
	my $b = $idle_r->query("SELECT balance FROM accounts WHERE id = $x1");
	is($idle_r->{stderr}, '',
		'f: an idle session reads from the restarted node (re-connected by itself)');
	is($b, $model->{$x1}, 'f: and reads the right balance');
	$idle_r->quit;
	is(recover(), '', 'f2: nothing in doubt');
	hs_check_accounts($coord, \%nodes, $model, 'f2: node lost before COMMIT');
}

# ---------------------------------------------------------------------------
# g. a node without prepared transactions
# ---------------------------------------------------------------------------
{
	my ($x1, $x2, $y1) =
	  (key_on('node2', 8), key_on('node2', 9), key_on('node1', 8));
	$nodes{node2}->append_conf('postgresql.conf', "max_prepared_transactions = 0\n");
	$nodes{node2}->restart;
	is($nodes{node2}->safe_psql('postgres', 'SHOW max_prepared_transactions'),
		0, 'g: node2 has max_prepared_transactions = 0');
	is( $coord->safe_psql(
			'postgres',
			"SELECT max_prepared_transactions FROM hashshard.nodes WHERE node = 'node2'"),
		0,
		'g: hashshard.nodes shows it');

	my ($rc, $out, $err) = $coord->psql('postgres', hs_transfer_sql($y1, $x1));
	isnt($rc, 0, 'g: a transfer between node1 and node2 fails');
	like($err, qr/ERROR:  node "node2" does not allow prepared transactions/,
		'g: the error names the node');
	like($err, qr/max_prepared_transactions/, 'g: and the setting');
	is(recover(), '', 'g: nothing in doubt');
	hs_check_accounts($coord, \%nodes, $model, 'g: failed transfer');

	($rc, $out, $err) = $coord->psql('postgres', hs_transfer_sql($x1, $x2));
	is($rc, 0, 'g: a transfer within node2 commits in one phase');
	is($err, '', 'g: without warning');
	hs_apply($model, $x1, $x2);

	$nodes{node2}->append_conf('postgresql.conf', "max_prepared_transactions = 20\n");
	$nodes{node2}->restart;
	($rc, $out, $err) = $coord->psql('postgres', hs_transfer_sql($y1, $x1));
	is($rc, 0, 'g: with prepared transactions allowed again the transfer works');
	hs_apply($model, $y1, $x1);
	is(recover(), '', 'g: nothing in doubt');
	hs_check_accounts($coord, \%nodes, $model, 'g: at the end');
}

$coord->stop;
$_->stop foreach values %nodes;
done_testing();

# denorm_advisor's workload sources on a real server: pg_stat_statements
# and the collector (both need shared_preload_libraries, hence TAP).
#
#  1. With pg_stat_statements installed, workload() reads its normalized
#     statements of this database (calls per hour, measured mean times) and
#     recommend() works from them without any add_query.  Its top
#     recommendation, applied and rolled back with psql -f, leaves
#     pg_dump --schema-only exactly as it was.
#  2. With denorm_advisor preloaded and collect_sample_rate = 1, the
#     collector records every top-level SELECT: its text, calls, time, rows
#     and the joins of the executed plan; with use_pg_stat_statements off it
#     is the workload source, and other roles' texts are hidden.
#  3. Without the preload the collector functions fail with a clear error
#     and hint, and the advisor still works from add_query.

use strict;
use warnings;

use FindBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $shop = "$FindBin::RealBin/../sql/include/denorm_advisor_shop.sql";
ok(-e $shop, 'the shop generator is found');

my $node = PostgreSQL::Test::Cluster->new('da_workload');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pg_stat_statements,denorm_advisor'
denorm_advisor.collect_sample_rate = 1
pg_stat_statements.track = top
});
$node->start;

$node->safe_psql('postgres', "SET client_min_messages = warning;\n\\set scale 0.01\n\\i $shop");
$node->safe_psql('postgres',
	'CREATE EXTENSION pg_stat_statements; CREATE EXTENSION denorm_advisor; SELECT pg_stat_statements_reset()');

# the workload: a hot join along orders -> customers, parents rarely updated
my $sql = '';
foreach my $i (1 .. 150)
{
	my $day = sprintf('2023-%02d-%02d', 1 + $i % 12, 1 + $i % 28);
	$sql .=
	  "SELECT o.id, o.ordered_at, c.name, c.segment FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.ordered_at >= '$day' AND o.ordered_at < '$day'::timestamptz + interval '1 day';\n";
}
$sql .= "UPDATE customers SET segment = 'gold' WHERE id = $_;\n" foreach (1 .. 3);
$node->safe_psql('postgres', $sql);

# 1. pg_stat_statements
my $rows = $node->safe_psql(
	'postgres', q{
	SELECT source, command, fk_name, parent_columns, calls_per_hour > 0, time_measured
	  FROM denorm_advisor.workload()
	 WHERE query LIKE '%JOIN customers%' OR command = 'UPDATE'
	 ORDER BY command, fk_name});
is( $rows,
	"pg_stat_statements|SELECT|orders_customer_id_fkey|{name,segment}|t|t\n"
	  . "pg_stat_statements|UPDATE|||t|t",
	'workload() reads the normalized statements of pg_stat_statements');
like(
	$node->safe_psql(
		'postgres',
		q{SELECT query FROM denorm_advisor.workload() WHERE command = 'SELECT' AND fk_name IS NOT NULL}),
	qr/o\.ordered_at >= \$1/,
	'the statements carry parameters, not constants');
is( $node->safe_psql(
		'postgres',
		q{SELECT kind, target FROM denorm_advisor.recommend() WHERE kind = 'copy_column'}),
	'copy_column|orders (customers_name, customers_segment)',
	'recommend() works from pg_stat_statements alone');

# apply and roll back the top recommendation with psql -f, as a DBA would:
# the schema dump afterwards is the one before
my $dump_before = $node->safe_psql('postgres', 'SELECT 1') && dump_schema();
my $apply = $node->safe_psql('postgres',
	q{SELECT denorm_advisor.ddl(id) FROM denorm_advisor.candidates WHERE kind = 'copy_column' AND status = 'recommended'});
my $rollback = $node->safe_psql('postgres',
	q{SELECT denorm_advisor.rollback_ddl(id) FROM denorm_advisor.candidates WHERE kind = 'copy_column' AND status = 'recommended'});
my $tmp = PostgreSQL::Test::Utils::tempdir();
PostgreSQL::Test::Utils::append_to_file("$tmp/apply.sql", $apply . "\n");
PostgreSQL::Test::Utils::append_to_file("$tmp/rollback.sql", $rollback . "\n");
$node->command_ok([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', "$tmp/apply.sql" ],
	'the apply script runs with psql -f');
is($node->safe_psql('postgres',
		q{SELECT denorm_advisor.verify(id) FROM denorm_advisor.candidates WHERE kind = 'copy_column' AND status = 'recommended'}),
	'0', 'the copies are consistent after the script');
isnt(dump_schema(), $dump_before, 'the script changed the schema');
$node->command_ok([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', "$tmp/rollback.sql" ],
	'the rollback script runs with psql -f');
is(dump_schema(), $dump_before, 'after the rollback, pg_dump --schema-only is what it was');

sub dump_schema
{
	my ($stdout, $stderr);
	IPC::Run::run([ 'pg_dump', '--schema-only', '--no-comments', '-d', $node->connstr('postgres') ],
		'>', \$stdout, '2>', \$stderr)
	  or die "pg_dump failed: $stderr";
	# pg_dump's \restrict line carries a random key
	$stdout =~ s/^\\(un)?restrict .*$//mg;
	return $stdout;
}

# 2. the collector
is($node->safe_psql('postgres', 'SELECT denorm_advisor.collector_active()'),
	't', 'the collector runs when preloaded');
$rows = $node->safe_psql(
	'postgres', q{
	SELECT sampled_calls, mean_time_ms > 0, mean_rows >= 0, joins
	  FROM denorm_advisor.collected()
	 WHERE query LIKE '%JOIN customers%' AND query NOT LIKE '%denorm_advisor%'});
like($rows, qr/^150\|t\|t\|/, 'every sampled execution is counted');
like($rows, qr/\((orders|customers)\) x \((customers|orders)\): \d+/,
	'the join of the executed plan is recorded with its rows');
$rows = $node->safe_psql(
	'postgres', q{
	SET denorm_advisor.use_pg_stat_statements = off;
	SELECT source, fk_name, parent_columns FROM denorm_advisor.workload()
	 WHERE fk_name IS NOT NULL});
like($rows, qr/^collector\|orders_customer_id_fkey\|\{name,segment\}$/m,
	'with pg_stat_statements off, the collector is the workload source');
is( $node->safe_psql(
		'postgres', q{
	SET denorm_advisor.use_pg_stat_statements = off;
	SELECT kind, target FROM denorm_advisor.recommend() WHERE kind = 'copy_column'}),
	'copy_column|orders (customers_name, customers_segment)',
	'recommend() works from the collector alone');

# other roles see their own texts only
$node->safe_psql('postgres',
	'CREATE ROLE da_other LOGIN; GRANT SELECT ON orders TO da_other');
$node->safe_psql('postgres', 'SELECT count(*) FROM orders WHERE id < 10',
	extra_params => [ '-U', 'da_other' ]);
$rows = $node->safe_psql(
	'postgres',
	q{SELECT query FROM denorm_advisor.collected() WHERE userid <> (SELECT oid FROM pg_roles WHERE rolname = 'da_other') ORDER BY 1 LIMIT 1},
	extra_params => [ '-U', 'da_other' ]);
is($rows, '<insufficient privilege>', "other roles' texts are hidden");
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT denorm_advisor.collector_reset()',
	extra_params => [ '-U', 'da_other' ]);
like($err, qr/permission denied for function collector_reset/,
	'only privileged roles reset the collector');
$node->safe_psql('postgres', 'SELECT denorm_advisor.collector_reset()');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM denorm_advisor.collected() WHERE query LIKE '%JOIN customers%' AND query NOT LIKE '%collected%'}),
	'0', 'collector_reset() forgets every query');

# 3. without the preload
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_stat_statements'\n");
$node->restart;
is($node->safe_psql('postgres', 'SELECT denorm_advisor.collector_active()'),
	'f', 'no collector without the preload');
($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM denorm_advisor.collected()');
like($err, qr/ERROR:  the denorm_advisor collector is not running/, 'collected() says why it fails');
like($err, qr/HINT:  Add denorm_advisor to shared_preload_libraries/, 'and what to do');
is( $node->safe_psql(
		'postgres', q{
	SET denorm_advisor.use_pg_stat_statements = off;
	SELECT denorm_advisor.add_query($q$SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1$q$, 1000, 1);
	SELECT count(*) FROM denorm_advisor.workload() WHERE source = 'add_query'}),
	"1\n1",
	'the advisor works from add_query without the preload');

$node->stop;
done_testing();

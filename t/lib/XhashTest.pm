# t/lib/XhashTest.pm -- what the xhash TAP tests share.
#
# %XhashTest::SCAN_MODES maps a scan method to the settings that force it,
# so that index-scan, bitmap-scan and sequential-scan answers to the same
# query can be compared.  verify_clean($node, $label, @indexes) asserts that
# xhash_verify reports no problem for each index.

package XhashTest;

use strict;
use warnings;

use Exporter 'import';
use Test::More;
our @EXPORT = qw(%SCAN_MODES verify_clean);

our %SCAN_MODES = (
	seq => 'SET enable_seqscan = on; SET enable_indexscan = off; '
	  . 'SET enable_bitmapscan = off;',
	index => 'SET enable_seqscan = off; SET enable_indexscan = on; '
	  . 'SET enable_bitmapscan = off;',
	bitmap => 'SET enable_seqscan = off; SET enable_indexscan = off; '
	  . 'SET enable_bitmapscan = on;',);

sub verify_clean
{
	my ($node, $label, @indexes) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	foreach my $idx (@indexes)
	{
		is( $node->safe_psql(
				'postgres',
				"SELECT blkno, problem FROM xhash.xhash_verify('$idx')"),
			'',
			"$label: xhash_verify($idx) is empty");
	}
}

1;

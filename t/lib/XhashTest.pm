# t/lib/XhashTest.pm -- what the xhash TAP tests share.
#
# %XhashTest::SCAN_MODES maps a scan method to the settings that force it,
# so that index-scan, bitmap-scan and sequential-scan answers to the same
# query can be compared.

package XhashTest;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT = qw(%SCAN_MODES);

our %SCAN_MODES = (
	seq => 'SET enable_seqscan = on; SET enable_indexscan = off; '
	  . 'SET enable_bitmapscan = off;',
	index => 'SET enable_seqscan = off; SET enable_indexscan = on; '
	  . 'SET enable_bitmapscan = off;',
	bitmap => 'SET enable_seqscan = off; SET enable_indexscan = off; '
	  . 'SET enable_bitmapscan = on;',);

1;

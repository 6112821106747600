#!/usr/bin/perl
# bench/denorm_advisor/stmt.pl -- statement text helpers of
# bench/denorm_advisor/run.
#
# A read script (r1.sql ...) is pgbench \set lines plus one SQL statement on
# one line that uses pgbench variables (:name).  With pgbench -M prepared,
# the k occurrences of variables become $1 .. $k in order, and
# pg_stat_statements then replaces the constants of that text by $k+1 ...
# (numbered in text order).  The advisor's rewritten statements use the same
# numbering.  To run a rewritten statement as the script would, each $n is
# mapped back: n <= k to the n-th variable occurrence, n > k to the constant
# it replaced, found by matching the normalized text against the prepared
# text.
#
#   stmt.pl match SCRIPT NORMFILE
#       exit 0 when the pg_stat_statements text in NORMFILE is the
#       statement of SCRIPT (prints nothing), 1 otherwise
#   stmt.pl pgbench SCRIPT NORMFILE STMTFILE
#       print a pgbench script: the \set lines of SCRIPT, then the statement
#       in STMTFILE (which uses $n numbered as in NORMFILE) with every $n
#       made a pgbench variable or the constant it stands for
#   stmt.pl literal SCRIPT NORMFILE STMTFILE NAME=VALUE...
#       print the statement of STMTFILE (or of SCRIPT when STMTFILE is "-")
#       with every $n (:name) replaced by a quoted literal of the VALUE given
#       for its variable, or the constant it stands for
#   stmt.pl castable NORMFILE
#       print the normalized text with "interval $3" (a typed literal that
#       pg_stat_statements normalized, which does not parse) made "$3::interval",
#       for PREPARE to find the parameter types
#   stmt.pl uncast STMTFILE
#       print how many $n of STMTFILE (outside string literals) have no
#       "::type" cast after them
# The advisor's rewritten statements cast every $n to the type of the
# original's parameter ($1::timestamp with time zone), so pgbench and literal
# substitute them as they are.  Fallback for a rewritten statement with a bare
# $n (which PREPARE cannot always type: "unknown + unknown"): with STMT_TYPES
# set to a file holding the parameter types ($1, $2 ..., separated by commas,
# as pg_prepared_statements.parameter_types gives them), pgbench and literal
# write such a $n as (value)::type.
use strict;
use warnings;

sub slurp
{
	my ($f) = @_;
	open(my $fh, '<', $f) or die "stmt.pl: cannot read $f: $!\n";
	local $/;
	my $s = <$fh>;
	close $fh;
	return $s;
}

# the \set lines and the SQL statement of a script
sub parse_script
{
	my ($f) = @_;
	my (@meta, @sql);
	for my $l (split /\n/, slurp($f))
	{
		next if $l =~ /^\s*(--.*)?$/;
		if ($l =~ /^\s*\\/) { push @meta, $l; }
		else { push @sql, $l; }
	}
	my $sql = join(' ', @sql);
	$sql =~ s/^\s+//;
	$sql =~ s/[\s;]+$//;
	return (\@meta, $sql);
}

# pgbench's prepared text: every :name (not ::) becomes $1, $2 ... in order
sub prepared
{
	my ($sql) = @_;
	my @vars;
	my $n = 0;
	# pgbench skips "::" (a cast), then takes :name
	$sql =~ s/(::)|:([A-Za-z_][A-Za-z0-9_]*)/defined $1 ? '::' : do { push @vars, $2; '$' . ++$n }/ge;
	return ($sql, \@vars);
}

# match the normalized text against the prepared text: the constants of
# $k+1 ... (hash n => text), or undef
sub constants
{
	my ($prep, $k, $norm) = @_;
	$norm =~ s/^\s+|[\s;]+$//g;
	my @parts = split /(\$\d+)/, $norm;
	my $re = '';
	my @order;
	for my $p (@parts)
	{
		if ($p =~ /^\$(\d+)$/)
		{
			if ($1 <= $k) { $re .= quotemeta($p); }
			else { $re .= '(.+?)'; push @order, $1; }
		}
		else
		{
			my $q = quotemeta($p);
			$q =~ s/(\\\s)+/\\s+/g;
			$re .= $q;
		}
	}
	# (a match without groups returns (1): test the match, then take them)
	return undef unless $prep =~ /^$re$/s;
	my @m = @order ? ($prep =~ /^$re$/s) : ();
	return undef if scalar(@m) != scalar(@order);
	my %c;
	for my $i (0 .. $#order)
	{
		return undef if exists $c{ $order[$i] } && $c{ $order[$i] } ne $m[$i];
		$c{ $order[$i] } = $m[$i];
	}
	return \%c;
}

sub quote_literal
{
	my ($v) = @_;
	$v =~ s/'/''/g;
	return "'$v'";
}

my $mode = shift @ARGV // '';
if ($mode eq 'castable')
{
	my $t = slurp(shift @ARGV // die "usage: stmt.pl castable NORMFILE\n");
	my $types = 'interval|date|time|timetz|timestamp|timestamptz|numeric|text|int2|int4|int8|bigint|integer|smallint|boolean|bool|float4|float8|real|double precision|timestamp with time zone|timestamp without time zone|time with time zone|time without time zone|jsonb|json|uuid|bytea|inet';
	$t =~ s/\b($types)\s+\$(\d+)/\$$2::$1/gi;
	$t =~ s/[\s;]+$//;
	print $t, "\n";
	exit 0;
}
if ($mode eq 'uncast')
{
	my $t = slurp(shift @ARGV // die "usage: stmt.pl uncast STMTFILE\n");
	$t =~ s/'(?:[^']|'')*'//g;
	my $n = () = $t =~ /\$\d+(?![0-9]|\s*::)/g;
	print $n, "\n";
	exit 0;
}
my ($script, $normf) = (shift @ARGV, shift @ARGV);
die "usage: stmt.pl match|pgbench|literal SCRIPT NORMFILE ...\n" unless defined $normf;
my ($meta, $sql) = parse_script($script);
my ($prep, $vars) = prepared($sql);
my $k = scalar(@$vars);
my $norm = slurp($normf);
my $consts = constants($prep, $k, $norm);

if ($mode eq 'match')
{
	exit(defined $consts ? 0 : 1);
}
die "stmt.pl: the statement of $script does not match $normf\n" unless defined $consts;

my $stmtf = shift @ARGV;
die "stmt.pl: STMTFILE missing\n" unless defined $stmtf;
my $stmt = $stmtf eq '-' ? $prep : slurp($stmtf);
$stmt =~ s/^\s+|[\s;]+$//g;

# (the script's own statement has its casts already)
my @types;
if (defined $ENV{STMT_TYPES} && $ENV{STMT_TYPES} ne '' && $stmtf ne '-')
{
	my $t = slurp($ENV{STMT_TYPES});
	$t =~ s/^\s+|\s+$//g;
	@types = split /\s*,\s*/, $t;
}

# replace every $n by what $repl->(n) gives; a $n without a cast after it
# gets the one of STMT_TYPES, when known
sub subst_params
{
	my ($s, $repl) = @_;
	$s =~ s/\$(\d+)(?![0-9])(?=(\s*::)?)/
		my ($n, $cast) = ($1, $2);
		my $v = $repl->($n);
		(!defined $cast && defined $types[$n - 1] && $types[$n - 1] ne '') ? "($v)::$types[$n - 1]" : $v/gex;
	return $s;
}

if ($mode eq 'pgbench')
{
	my $out = subst_params($stmt, sub {
		my $n = shift;
		return ':' . $vars->[ $n - 1 ] if $n <= $k;
		die "stmt.pl: \$$n has no value (not a variable nor a known constant)\n" unless exists $consts->{$n};
		return $consts->{$n};
	});
	$out =~ s/\s*\n\s*/ /g;
	print join("\n", @$meta), "\n", $out, ";\n";
}
elsif ($mode eq 'literal')
{
	my %val;
	for my $a (@ARGV)
	{
		my ($n, $v) = split /=/, $a, 2;
		$val{$n} = $v;
	}
	print subst_params($stmt, sub {
		my $n = shift;
		if ($n <= $k)
		{
			my $name = $vars->[ $n - 1 ];
			die "stmt.pl: no value for variable $name\n" unless exists $val{$name};
			return quote_literal($val{$name});
		}
		die "stmt.pl: \$$n has no value (not a variable nor a known constant)\n" unless exists $consts->{$n};
		return $consts->{$n};
	}), "\n";
}
else
{
	die "stmt.pl: unknown mode $mode\n";
}

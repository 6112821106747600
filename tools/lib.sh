# tools/lib.sh -- shell library shared by tools/run-tests, tools/demo,
# tools/bench and the benchmark scripts bench/<ext>/run.
#
# Source it (bash), then call pgs_init.  What it provides:
#
#   set-up      pgs_install_packages      apt-get what tools/apt-packages lists and
#                                         is missing (NO_APT=1 skips the step)
#               pgs_pg_paths              PG_CONFIG, PGS_BINDIR, PGS_PGXS_TOP, PGS_PGVERSION
#   users       pgs_as_tester CMD...      run CMD as the user owning throwaway clusters:
#                                         "postgres" when we are root (initdb refuses
#                                         root), else ourselves
#               pgs_as_root CMD...        run CMD as root (sudo when we are not root)
#               pgs_as_installer CMD...   run CMD as a user who may install extensions
#   work dir    pgs_make_work PREFIX      private temp dir $PGS_WORK owned by the tester;
#                                         on exit its servers are stopped and it is removed
#                                         (PGS_KEEP_WORK=1 keeps the files,
#                                         PGS_KEEP_SERVERS=1 the files and servers)
#               pgs_copy_tree             copy the source tree to $PGS_WORK/src ($PGS_SRC,
#                                         and $PGS_TREE then points there)
#   extensions  pgs_extensions            every directory under extensions/, sorted
#               pgs_selected_extensions   the same, or the ones named in EXT
#               pgs_test_conf EXT         a file with the settings of EXT's test clusters:
#                                         every selected extension's suite.conf, then
#                                         EXT's test.conf (preload lists merged)
#   build       pgs_build_install CFLAGS EXT...
#                                         clean, build (PG_CFLAGS=CFLAGS), install
#   clusters    pgs_cluster_start DIR [CONF...]
#                                         initdb + start a cluster in DIR (socket in DIR,
#                                         no TCP, free port); CONF files are appended to
#                                         postgresql.conf; exports PGHOST PGPORT PGUSER
#                                         PGDATABASE for it
#               pgs_bench_cluster_start DIR [CONF...]
#                                         the same with settings for benchmarks
#               pgs_cluster_stop DIR
#               pgs_stop_servers_under DIR [quiet]
#                                         stop every postmaster whose data directory
#                                         lies under DIR (leftovers of crashed tests)
#               pgs_psql ARGS...          psql -X, ON_ERROR_STOP, as the tester
#               pgs_psql_value SQL        one value, unaligned
#               pgs_pgbench ARGS...
#   benchmarks  pgs_bench_setup           for bench/<ext>/run: init, paths, and a work
#                                         dir unless "make bench" made one
#   messages    pgs_say, pgs_warn, pgs_die
#
# Variables read: PG_CONFIG (default pg_config), EXT, NO_APT, PGS_KEEP_WORK.

# shellcheck disable=SC2034  # variables for the scripts that source this file
PGS_LIB=$(readlink -f "${BASH_SOURCE[0]}")
PGS_TOP=$(dirname "$(dirname "$PGS_LIB")")
PGS_TREE=${PGS_TREE:-$PGS_TOP}

# A PATH for commands run as the tester: no entries of the calling user's home.
PGS_SYSTEM_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

pgs_say() { printf '%s\n' "$*"; }
pgs_warn() { printf '%s\n' "$*" >&2; }
# pgs_die MESSAGE: print it and exit 1.  A script may define pgs_on_die
# (called in the main shell only, after clean-up) to have the last word.
pgs_die()
{
	printf 'error: %s\n' "$*" >&2
	if [ "$BASH_SUBSHELL" = 0 ] && declare -F pgs_on_die >/dev/null; then
		pgs_cleanup
		pgs_on_die
	fi
	exit 1
}

pgs_init()
{
	if [ "$(id -u)" = 0 ]; then
		PGS_IS_ROOT=1
		PGS_TESTER=postgres
	else
		PGS_IS_ROOT=0
		PGS_TESTER=$(id -un)
	fi
	PGS_NPROC=$(nproc 2>/dev/null || echo 2)
}

pgs_as_tester()
{
	if [ "$PGS_IS_ROOT" = 1 ]; then
		runuser -u postgres -- env PATH="${PGS_BINDIR:+$PGS_BINDIR:}$PGS_SYSTEM_PATH" "$@"
	else
		"$@"
	fi
}

pgs_as_root()
{
	if [ "$PGS_IS_ROOT" = 1 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		pgs_warn "root is needed for: $* (run as root, or install sudo)"
		return 1
	fi
}

# "make install" as root, unless we may write where PostgreSQL keeps
# extensions (a PostgreSQL installed by this user).
pgs_as_installer()
{
	if [ -w "$("$PG_CONFIG" --pkglibdir)" ] &&
		[ -w "$("$PG_CONFIG" --sharedir)/extension" ]; then
		"$@"
	else
		pgs_as_root "$@"
	fi
}

# The packages of tools/apt-packages that dpkg does not know as installed.
pgs_missing_packages()
{
	local pkg
	sed -e 's/#.*//' "$PGS_TOP/tools/apt-packages" | awk 'NF { print $1 }' |
		while read -r pkg; do
			dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null |
				grep -q 'install ok installed' || printf '%s\n' "$pkg"
		done
}

pgs_install_packages()
{
	local missing
	if [ "${NO_APT:-0}" = 1 ]; then
		pgs_say "NO_APT=1: skipping the package check"
	elif ! command -v dpkg-query >/dev/null 2>&1; then
		pgs_warn "no dpkg-query: not a Debian system, install the packages of tools/apt-packages yourself"
	else
		missing=$(pgs_missing_packages | tr '\n' ' ')
		if [ -n "${missing// /}" ]; then
			pgs_say "Installing missing packages with apt-get: $missing"
			# shellcheck disable=SC2086
			if ! pgs_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
				! pgs_as_root env DEBIAN_FRONTEND=noninteractive \
					apt-get install -y -qq --no-install-recommends $missing; then
				pgs_die "apt-get could not install: $missing"
			fi
		fi
	fi
	pgs_pg_paths
}

# Locate the PostgreSQL installation named by PG_CONFIG.
pgs_pg_paths()
{
	local pgxs
	PG_CONFIG=${PG_CONFIG:-pg_config}
	PG_CONFIG=$(command -v "$PG_CONFIG") ||
		pgs_die "pg_config not found: install postgresql-server-dev-15 or set PG_CONFIG"
	PGS_BINDIR=$("$PG_CONFIG" --bindir)
	pgxs=$("$PG_CONFIG" --pgxs)
	PGS_PGXS_TOP=$(cd "$(dirname "$pgxs")/../.." && pwd)
	PGS_PGVERSION=$("$PG_CONFIG" --version)
	case "$PGS_PGVERSION" in
		"PostgreSQL 15"*) ;;
		*) pgs_warn "warning: $PG_CONFIG is $PGS_PGVERSION; pgscale targets PostgreSQL 15" ;;
	esac
	[ -x "$PGS_BINDIR/initdb" ] ||
		pgs_die "$PGS_BINDIR/initdb missing: install postgresql-15"
	if [ "$PGS_IS_ROOT" = 1 ] && ! id postgres >/dev/null 2>&1; then
		pgs_die "no postgres user: install postgresql-15"
	fi
	export PG_CONFIG
}

# ---------------------------------------------------------------------------
# Work directory and clean-up
# ---------------------------------------------------------------------------

pgs_make_work()
{
	PGS_WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || pgs_die "mktemp failed"
	if [ "$PGS_IS_ROOT" = 1 ]; then
		chown postgres: "$PGS_WORK"
	fi
	PGS_CLEANED=0
	PGS_JOB_GROUPS=()
	export PGS_WORK
	trap 'pgs_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
}

# Stop what is still running under $PGS_WORK and remove it.  Runs once: the
# scripts call it before their last line of output, the EXIT trap otherwise.
pgs_cleanup()
{
	local g
	[ "${PGS_CLEANED:-1}" = 1 ] && return 0
	PGS_CLEANED=1
	for g in "${PGS_JOB_GROUPS[@]}"; do
		kill -TERM -- "-$g" 2>/dev/null
	done
	if [ "${PGS_KEEP_SERVERS:-0}" = 1 ]; then
		return 0
	fi
	pgs_stop_servers_under "$PGS_WORK"
	if [ "${PGS_KEEP_WORK:-0}" = 1 ]; then
		return 0
	fi
	rm -rf "$PGS_WORK"
}

# Copy the source tree (without git data and build products) into the work
# directory: the build and the tests then never write into the user's tree,
# and the tester user can read and write everything.
pgs_copy_tree()
{
	PGS_SRC=$PGS_WORK/src
	mkdir -p "$PGS_SRC"
	tar -C "$PGS_TOP" --exclude=./.git --exclude='*.o' --exclude='*.so' \
		--exclude='*.bc' --exclude=./results --exclude=./output_iso \
		--exclude=./tmp_check --exclude=./log --exclude='./regression.*' \
		-cf - . | tar -C "$PGS_SRC" -xf - || pgs_die "could not copy the tree"
	if [ "$PGS_IS_ROOT" = 1 ]; then
		chown -R postgres: "$PGS_SRC"
	fi
	PGS_TREE=$PGS_SRC
}

# ---------------------------------------------------------------------------
# Extensions
# ---------------------------------------------------------------------------

pgs_extensions()
{
	local d
	for d in "$PGS_TREE"/extensions/*/; do
		[ -d "$d" ] && basename "$d"
	done | LC_ALL=C sort
}

# EXT may name several extensions, separated by spaces or commas.
pgs_selected_extensions()
{
	local all e
	all=$(pgs_extensions)
	if [ -z "${EXT:-}" ]; then
		printf '%s\n' "$all" | sed '/^$/d'
		return 0
	fi
	for e in ${EXT//,/ }; do
		printf '%s\n' "$all" | grep -qx -- "$e" ||
			pgs_die "EXT=$e: no such extension (have: ${all//$'\n'/ })"
		printf '%s\n' "$e"
	done
}

pgs_test_conf()
{
	# The settings every test cluster of EXT gets: the suite.conf of every
	# selected extension (settings that must hold for the whole suite, like
	# result_cache's preload, which must be harmless to every test), then
	# EXT's own test.conf.  The shared_preload_libraries lines of all of
	# them are merged into one, since the last one would otherwise win.
	local ext=$1 e f out libs="" line v
	out=$PGS_WORK/conf/$ext.conf
	mkdir -p "$PGS_WORK/conf"
	: >"$out"
	for f in $(for e in $(pgs_selected_extensions); do
		printf '%s\n' "$PGS_TREE/extensions/$e/suite.conf"
	done) "$PGS_TREE/extensions/$ext/test.conf"; do
		[ -f "$f" ] || continue
		printf '# from %s\n' "${f#"$PGS_TREE"/}" >>"$out"
		while IFS= read -r line; do
			if [[ $line =~ ^[[:space:]]*shared_preload_libraries[[:space:]]*=[[:space:]]*\'([^\']*)\' ]]; then
				for v in ${BASH_REMATCH[1]//,/ }; do
					[[ ,$libs, == *,$v,* ]] || libs=${libs:+$libs,}$v
				done
			else
				printf '%s\n' "$line" >>"$out"
			fi
		done <"$f"
	done
	[ -n "$libs" ] && printf "shared_preload_libraries = '%s'\n" "$libs" >>"$out"
	chmod a+r "$out"
	[ -s "$out" ] && printf '%s\n' "$out"
	return 0
}

# pgs_build_install CFLAGS EXT...: clean first so that CFLAGS reach every
# object, build as the tester, install as root.  On failure, print what the
# compiler said.
pgs_build_install()
{
	local cflags=$1 ext dir log
	shift
	for ext in "$@"; do
		dir=$PGS_TREE/extensions/$ext
		log=$PGS_WORK/build-$ext.log
		if ! {
			pgs_as_tester make -C "$dir" PG_CONFIG="$PG_CONFIG" clean &&
				pgs_as_tester make -C "$dir" -j"$PGS_NPROC" PG_CONFIG="$PG_CONFIG" \
					${cflags:+PG_CFLAGS="$cflags"} &&
				pgs_as_installer make -C "$dir" PG_CONFIG="$PG_CONFIG" install
		} >"$log" 2>&1; then
			# the compiler's messages, without the echo of each command
			pgs_warn "build of $ext failed (full log: $log):"
			grep -vE '^(gcc|cc|/usr/bin/clang[-0-9]*|clang[-0-9]*|rm -f) |^make\[[0-9]+\]: (Entering|Leaving)' \
				"$log" >&2 || cat "$log" >&2
			return 1
		fi
	done
}

# ---------------------------------------------------------------------------
# Throwaway clusters
# ---------------------------------------------------------------------------

# A port nobody listens on (TCP) and no socket file in the usual places uses.
pgs_free_port()
{
	local port tries=0
	port=$((20000 + RANDOM % 20000))
	while [ $tries -lt 1000 ]; do
		if [ ! -e "/tmp/.s.PGSQL.$port" ] &&
			[ ! -e "/var/run/postgresql/.s.PGSQL.$port" ] &&
			! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			printf '%s\n' "$port"
			return 0
		fi
		port=$((port + 1))
		tries=$((tries + 1))
	done
	pgs_die "no free port found"
}

pgs_cluster_start()
{
	local dir=$1 port conf
	shift
	pgs_as_tester mkdir -p "$dir" || return 1
	pgs_as_tester "$PGS_BINDIR/initdb" -D "$dir/data" -U postgres -A trust \
		--encoding=UTF8 --locale=C --no-sync >"$dir.initdb.log" 2>&1 || {
		cat "$dir.initdb.log" >&2
		return 1
	}
	port=$(pgs_free_port)
	{
		printf '\n# pgscale throwaway cluster\n'
		printf "port = %s\nlisten_addresses = ''\nunix_socket_directories = '%s'\n" \
			"$port" "$dir"
		for conf in "$@"; do
			[ -n "$conf" ] || continue
			printf '\n# from %s\n' "$conf"
			cat "$conf"
		done
	} | pgs_as_tester tee -a "$dir/data/postgresql.conf" >/dev/null
	if ! pgs_as_tester "$PGS_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
		-w -t 120 start >/dev/null; then
		pgs_warn "server in $dir did not start:"
		tail -n 30 "$dir/server.log" >&2
		return 1
	fi
	export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres
}

# Settings for side-by-side measurements: enough shared_buffers to hold the
# data sets, no checkpoints in the middle of a run, no JIT or autovacuum
# noise (benchmarks VACUUM ANALYZE explicitly).  BENCH_SHARED_BUFFERS overrides.
pgs_bench_cluster_start()
{
	local dir=$1 mem_mb sb
	shift
	mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
	sb=$((mem_mb / 4))
	if [ "$sb" -gt 4096 ]; then sb=4096; fi
	if [ "$sb" -lt 128 ]; then sb=128; fi
	pgs_as_tester mkdir -p "$dir" || return 1
	cat <<EOF | pgs_as_tester tee "$dir.tuned.conf" >/dev/null
shared_buffers = ${BENCH_SHARED_BUFFERS:-${sb}MB}
max_connections = 200
work_mem = 64MB
maintenance_work_mem = 1GB
max_wal_size = 16GB
min_wal_size = 1GB
checkpoint_timeout = 30min
checkpoint_completion_target = 0.9
autovacuum = off
jit = off
track_io_timing = on
EOF
	pgs_cluster_start "$dir" "$dir.tuned.conf" "$@"
}

pgs_cluster_stop()
{
	pgs_as_tester "$PGS_BINDIR/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null
}

# Is process PID alive?  A zombie is not: a postmaster whose parent test
# driver was killed is reaped by init only some time after it exits.
pgs_running()
{
	local state
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# pgs_stop_servers_under DIR [quiet]: stop (immediate shutdown) every
# postmaster whose postmaster.pid file lies under DIR, and say so unless
# "quiet": only a crashed or killed test leaves one behind.
pgs_stop_servers_under()
{
	local pidfile pid datadir quiet=${2:-}
	[ -n "${1:-}" ] && [ -d "$1" ] || return 0
	find "$1" -name postmaster.pid 2>/dev/null | while read -r pidfile; do
		pid=$(head -n 1 "$pidfile" 2>/dev/null)
		datadir=$(sed -n 2p "$pidfile" 2>/dev/null)
		case "$pid" in '' | *[!0-9]*) continue ;; esac
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q postgres || continue
		kill -QUIT "$pid" 2>/dev/null || continue
		for _ in $(seq 1 50); do
			pgs_running "$pid" || break
			sleep 0.1
		done
		if pgs_running "$pid"; then kill -KILL "$pid" 2>/dev/null; fi
		[ -n "$quiet" ] || pgs_warn "stopped a leftover server (pid $pid, $datadir)"
	done
}

pgs_psql()
{
	pgs_as_tester "$PGS_BINDIR/psql" -X -v ON_ERROR_STOP=1 "$@"
}

pgs_psql_value()
{
	pgs_psql -qAt -c "$1"
}

pgs_pgbench()
{
	pgs_as_tester "$PGS_BINDIR/pgbench" "$@"
}

# For bench/<ext>/run.  Under "make bench" the extension is built and
# installed and $PGS_WORK exists (tools/bench removes it and stops its servers
# afterwards); run alone, the script gets a work directory of its own.
pgs_bench_setup()
{
	pgs_init
	pgs_pg_paths
	if [ -z "${PGS_WORK:-}" ] || [ ! -d "$PGS_WORK" ]; then
		pgs_make_work pgscale-bench
	fi
}

# Makefile -- top level of the pgscale distribution
#
# Packager targets (PGXS):  make, make install, make uninstall, make clean,
#   make installcheck   regress + isolation tests against a running server
#                       (PGHOST/PGPORT...), e.g. "pg_virtualenv make installcheck"
# Project targets (scripts in tools/):
#   make test           set up, build, install, run every test   (tools/run-tests)
#   make demo           throwaway cluster running each demo.sql  (tools/demo)
#   make bench EXT=x    run bench/x/run                           (tools/bench)
#   make format         re-indent C sources, refresh typedefs.list
#   make format-check   show the diff of misformatted C sources, fail if any
#   make check-meta     validate META.json against the tree
# Selection (installcheck, test): EXT="xhash ..." and TESTS="name pattern ...".
#
# Every directory under extensions/ is one extension with its own PGXS
# Makefile (PGXS allows one MODULE_big per Makefile); this file only recurses.

PG_CONFIG ?= pg_config

EXTENSIONS := $(sort $(patsubst extensions/%/,%,$(wildcard extensions/*/)))
SUBDIRS := $(addprefix extensions/,$(EXTENSIONS))

# Files installcheck leaves at the top level.
EXTRA_CLEAN = results/ output_iso/ regression.diffs regression.out log/ tmp_check/

# On a fresh machine pg_config may not exist yet: "make test" and "make demo"
# install it, so only the PGXS targets need it.
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
$(call recurse,all install uninstall clean,$(SUBDIRS))
else
all install uninstall clean installcheck:
	@echo "$(PG_CONFIG) not found: install postgresql-server-dev-15 (\"make test\" does it) or pass PG_CONFIG=/path/to/pg_config" >&2
	@exit 1
endif

# ---------------------------------------------------------------------------
# installcheck: for each selected extension, its pg_regress tests
# (sql/<ext>_*.sql, input/<ext>_*.source) then its isolation specs
# (specs/<ext>_*.spec) against the server named by PGHOST/PGPORT.  TAP tests
# need their own clusters: they run in "make test" only.
# ---------------------------------------------------------------------------
comma := ,
SELECTED := $(if $(EXT),$(subst $(comma), ,$(EXT)),$(EXTENSIONS))
test_filter = $(if $(TESTS),$(filter $(subst *,%,$(TESTS)),$(1)),$(1))
regress_tests = $(call test_filter,$(sort \
	$(patsubst sql/%.sql,%,$(wildcard sql/$(1)_*.sql)) \
	$(patsubst input/%.source,%,$(wildcard input/$(1)_*.source))))
isolation_tests = $(call test_filter,$(sort \
	$(patsubst specs/%.spec,%,$(wildcard specs/$(1)_*.spec))))

ifneq ($(PGXS),)
installcheck: $(addprefix installcheck-,$(SELECTED))
endif

# Settings of extensions/<ext>/test.conf as pg_virtualenv options.
virtualenv_opts = $(shell sed -e 's/\#.*//' -e "s/'//g" -e 's/[[:space:]]*=[[:space:]]*/=/' \
	-e 's/^[[:space:]]*//' -e 's/[[:space:]]*$$//' -e '/^$$/d' extensions/$(1)/test.conf | \
	sed 's/.*/-o "&"/' | tr '\n' ' ')

installcheck-%:
	@test -d extensions/$* || { echo "no extension \"$*\" under extensions/" >&2; exit 1; }
	$(if $(wildcard extensions/$*/test.conf),@echo 'note: $* needs the settings of extensions/$*/test.conf in the server; for example: pg_virtualenv $(call virtualenv_opts,$*)make installcheck EXT=$*')
	$(if $(call regress_tests,$*),$(pg_regress_installcheck) --dbname=contrib_regression $(REGRESS_OPTS) $(call regress_tests,$*))
	$(if $(call isolation_tests,$*),$(pg_isolation_regress_installcheck) --dbname=isolation_regression $(ISOLATION_OPTS) $(call isolation_tests,$*))

# ---------------------------------------------------------------------------
# Project targets: thin dispatch to tools/, passing the selection through.
# ---------------------------------------------------------------------------
tool_env = PG_CONFIG='$(PG_CONFIG)' EXT='$(EXT)' TESTS='$(TESTS)'

test:
	@$(tool_env) bash tools/run-tests

demo:
	@$(tool_env) bash tools/demo

bench:
	@$(tool_env) bash tools/bench

format:
	@perl tools/format

format-check:
	@perl tools/format --check

check-meta:
	@perl tools/check-meta

.PHONY: test demo bench format format-check check-meta installcheck

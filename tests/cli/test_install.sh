#!/usr/bin/env bash
# `cmake --install BUILD --prefix P` into a temporary prefix, then everything from there:
# the files in their places, the installed `mongonorm --version`, `check` of the
# installed mapping, `generate` from the installed model, and (with MN_TEST_PG_DSN) `init`
# from the installed SQL, a `run` and a `verify`; a small C program compiled against the
# installed headers and library with `pkg-config --cflags --libs mongonorm`, and each
# installed header compiled on its own.
source "$(dirname "$0")/lib.sh"

setup_workdir
isolate_env
prefix="$work/prefix"
version=$(sed -n 's/^project(mongonorm VERSION \([0-9.]*\).*/\1/p' "$MN_SOURCE_DIR/CMakeLists.txt")
cache="$MN_BUILD_DIR/CMakeCache.txt"
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$cache"; }

try cmake --install "$MN_BUILD_DIR" --prefix "$prefix" >"$work/install.log" 2>&1
if [ "$rc" -eq 0 ]; then pass "cmake --install into a temporary prefix"; else fail "cmake --install: exit $rc: $(tail -3 "$work/install.log")"; fi

# ---- the files --------------------------------------------------------------------

libdir=$(dirname "$(find "$prefix" -name mongonorm.pc | head -1)")
libdir=${libdir%/pkgconfig}
share="$prefix/share/mongonorm"
want=(bin/mongonorm share/man/man1/mongonorm.1
      share/mongonorm/mapping/medichat.yaml share/mongonorm/generator/medichat/generator.yaml
      share/mongonorm/generator/medichat/vocab/first_en.txt
      "${libdir#"$prefix"/}/libmongonorm.a" "${libdir#"$prefix"/}/pkgconfig/mongonorm.pc")
for f in "$MN_SOURCE_DIR"/sql/*.sql; do want+=("share/mongonorm/sql/$(basename "$f")"); done
for f in "$MN_SOURCE_DIR"/src/include/mongonorm/*.h; do
  [ "$(basename "$f")" = generate.h ] || want+=("include/mongonorm/$(basename "$f")")
done
missing=()
for f in "${want[@]}"; do [ -f "$prefix/$f" ] || missing+=("$f"); done
if [ ${#missing[@]} -eq 0 ]; then pass "installed: ${#want[@]} files in their places"; else fail "not installed: ${missing[*]}"; fi
expect_same_files "the installed man page is docs/mongonorm.1" "$MN_SOURCE_DIR/docs/mongonorm.1" \
  "$prefix/share/man/man1/mongonorm.1"
if [ -x "$prefix/bin/mongonorm" ] && [ "$(MANPATH="$prefix/share/man" man -w mongonorm 2>/dev/null)" = "$prefix/share/man/man1/mongonorm.1" ]; then
  pass "man finds the page under the prefix (MANPATH=P/share/man man -w mongonorm)"
elif ! command -v man >/dev/null; then
  echo "# SKIP man -w: no man"
else
  fail "man -w mongonorm under MANPATH=P/share/man: $(MANPATH="$prefix/share/man" man -w mongonorm 2>&1)"
fi

# ---- the installed tool -----------------------------------------------------------

mn=$prefix/bin/mongonorm
try "$mn" --version >"$out" 2>"$err"
if [ "$rc" -eq 0 ] && [ "$(head -1 "$out")" = "mongonorm $version" ] && [ ! -s "$err" ] &&
   grep -q '^libmongoc [0-9]' "$out" && grep -q '^libpq [0-9]' "$out" && grep -q '^libyaml [0-9]' "$out"; then
  pass "installed mongonorm --version: mongonorm $version and the libraries' versions"
else
  fail "installed mongonorm --version: exit $rc: $(head -3 "$out") $(head -2 "$err")"
fi
try "$mn" check --mapping "$share/mapping/medichat.yaml" >"$out" 2>"$err"
expect_same "installed check of the installed mapping: exit 0" 0 "$rc"
try "$mn" generate --model "$share/generator/medichat/generator.yaml" --scale 20 --seed 3 \
  --out "$work/gen" --quiet >"$out" 2>"$err"
if [ "$rc" -eq 0 ] && [ -s "$work/gen/medichat/users.bson" ]; then
  pass "installed generate from the installed model (and its vocabularies)"
else
  fail "installed generate: exit $rc: $(head -2 "$err")"
fi

# ---- a program built against the installed library (pkg-config) -------------------

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc=$(cache_value CMAKE_C_COMPILER)
cc=${cc:-cc}
extra=()
[ -z "$(cache_value MN_SANITIZE)" ] || extra=(-fsanitize="$(cache_value MN_SANITIZE)")
got=$(pkg-config --modversion mongonorm 2>&1) || true
expect_same "pkg-config --modversion mongonorm" "$version" "$got"
cat >"$work/prog.c" <<'EOF'
#include <mongonorm/mapping.h>
#include <mongonorm/version.h>

#include <stdio.h>

int
main(int argc, char **argv)
{
   mn_error_t error = {0};
   mn_library_version_t libs[MN_VERSION_N_LIBRARIES];
   size_t n = mn_version_libraries(libs, MN_VERSION_N_LIBRARIES);
   mn_mapping_t *m = argc == 2 ? mn_mapping_load(argv[1], &error) : NULL;

   printf("mongonorm %s with %s %s\n", mn_version(), libs[0].name, n ? libs[0].version : "?");
   if (!m) {
      fprintf(stderr, "%s\n", error.message);
      return 1;
   }
   printf("%zu collections, %zu tables\n", mn_mapping_n_collections(m), mn_mapping_n_tables(m));
   mn_mapping_destroy(m);
   return 0;
}
EOF
# shellcheck disable=SC2046 # pkg-config's words are meant to split
try "$cc" -std=c11 -Wall -Wextra -Werror "${extra[@]}" $(pkg-config --cflags mongonorm) \
  "$work/prog.c" -o "$work/prog" $(pkg-config --libs mongonorm) 2>"$err"
if [ "$rc" -eq 0 ]; then pass "a C program builds with pkg-config --cflags --libs mongonorm"; else fail "building the program: $(head -5 "$err")"; fi
try "$work/prog" "$share/mapping/medichat.yaml" >"$out" 2>"$err"
lib_mongoc=$(sed -n 's/^libmongoc //p' <("$mn" --version))
expect_same "the program runs: version and the installed mapping" \
  "mongonorm $version with libmongoc $lib_mongoc
3 collections, 12 tables (exit 0)" "$(cat "$out") (exit $rc)"
# The .pc file finds the prefix from its own folder: a moved prefix still builds.
mv "$prefix" "$work/moved"
# shellcheck disable=SC2046
try "$cc" -std=c11 "${extra[@]}" $(PKG_CONFIG_PATH="$work/moved/${libdir#"$prefix"/}/pkgconfig" \
  pkg-config --cflags mongonorm) "$work/prog.c" -o "$work/prog2" \
  $(PKG_CONFIG_PATH="$work/moved/${libdir#"$prefix"/}/pkgconfig" pkg-config --libs mongonorm) 2>"$err"
mv "$work/moved" "$prefix"
expect_same "a moved prefix still builds the program (prefix=\${pcfiledir}/../..)" 0 "$rc"
bad=()
for h in "$prefix"/include/mongonorm/*.h; do
  printf '#include <mongonorm/%s>\n' "$(basename "$h")" >"$work/one.c"
  # shellcheck disable=SC2046
  "$cc" -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags mongonorm) -fsyntax-only \
    "$work/one.c" 2>"$err" || bad+=("$(basename "$h")")
done
if [ ${#bad[@]} -eq 0 ]; then pass "each installed header compiles on its own"; else fail "headers that do not compile alone: ${bad[*]}"; fi

# ---- the installed tool against PostgreSQL --------------------------------------

pg_or_finish
dsn=$(fresh_db mn_install)
try "$mn" init --pg "$dsn" --sql-dir "$share/sql" >"$out" 2>"$err"
expect_same "installed init from the installed SQL folder" "0 applied 1 schema file" "$rc $(cat "$out")"
try "$mn" run --source "$MEDICHAT/dump" --mapping "$share/mapping/medichat.yaml" --pg "$dsn" \
  --rejects "$work/rejects.jsonl" --quiet >"$out" 2>"$err"
expect_same "installed run of the MediChat dump: exit 1 (the sample's rejects)" 1 "$rc"
try "$mn" verify --source "$MEDICHAT/dump" --mapping "$share/mapping/medichat.yaml" --pg "$dsn" \
  --quiet >"$out" 2>"$err"
expect_same "installed verify: source and target agree" 0 "$rc"
finish

#!/usr/bin/env bash
# Fuzz every Go fuzz target of the module for a while each.
#
#   bash bench/fuzz-all.sh [TIME] [PACKAGES...]     (default: 20s ./...)
#
# 1. Lists the targets with `go test -list '^Fuzz'`. go test -fuzz takes one
#    target per run, so each is run on its own.
# 2. Builds each package's fuzzing test binary once (go test -c -fuzz) and
#    runs all its targets over their seeds (-test.run '^Fuzz' -test.v),
#    counting per target the seeds that passed: f.Add seeds ("seed#N") and
#    committed corpus files (testdata/fuzz/<Target>/). A target that ran no
#    seed, has no committed corpus file, or fails on a seed fails the run:
#    in a plain clone it would fuzz from nothing, or is already broken.
# 3. Fuzzes each target for TIME with that binary, as go test -fuzz would
#    (same corpus cache), and reads the executions from the last
#    "execs: N" line. A crasher fails the run; the failing input is written
#    under testdata/fuzz/<Target>/, where it stays as a regression seed once
#    the bug is fixed.
#
# It prints one summary line per target (package, target, f.Add seeds,
# corpus files, executions, result) and exits non-zero, naming each failed
# target. CI runs it briefly (bash bench/fuzz-all.sh 1s); the first run on a
# machine also compiles the coverage-instrumented build of every package
# and dependency, which takes longer than the fuzzing itself.
#
# FUZZ_MINIMIZE bounds the minimization of each new interesting input
# (default 1s; go test's own default, 60s, eats a short run on the targets
# whose inputs are whole recorded sessions).
set -uo pipefail
cd "$(dirname "$0")/.."

time=${1:-20s}
shift || true
pkgs=("$@")
((${#pkgs[@]})) || pkgs=(./...)
minimize=${FUZZ_MINIMIZE:-1s}
module=$(go list -m)
fuzzcache="$(go env GOCACHE)/fuzz"
logdir=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-all.XXXXXX")
trap 'rm -rf "$logdir"' EXIT
start=$SECONDS

# 1. Targets per package, from go test -list: target names, then the
# package's "ok" line.
declare -a order=() packages=() # "pkg target" in listing order; packages with targets
declare -A targets_of=()        # pkg -> space-separated targets
if ! go test -list '^Fuzz' "${pkgs[@]}" >"$logdir/list" 2>&1; then
	cat "$logdir/list" >&2
	echo "fuzz-all: go test -list failed" >&2
	exit 1
fi
pending=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*) pending+=("$line") ;;
	ok*)
		pkg=$(awk '{print $2}' <<<"$line")
		((${#pending[@]})) && packages+=("$pkg")
		for t in "${pending[@]}"; do
			order+=("$pkg $t")
			targets_of[$pkg]+="$t "
		done
		pending=()
		;;
	esac
done <"$logdir/list"
if ((${#order[@]} == 0)); then
	echo "fuzz-all: no fuzz targets found in ${pkgs[*]}" >&2
	exit 1
fi
echo "fuzz-all: ${#order[@]} targets in ${#packages[@]} packages, $time each (listed in $((SECONDS - start))s)"

failures=()
deadline_races=0
declare -A adds=() files=() execs=() result=()

for pkg in "${packages[@]}"; do
	name=$(tr / _ <<<"${pkg#"$module"/}")
	bin="$logdir/$name.test"
	dir=$(go list -f '{{.Dir}}' "$pkg")
	# 2. The package's fuzzing binary, and its seeds.
	if ! go test -c -fuzz=. -o "$bin" "$pkg" >"$logdir/$name.build" 2>&1; then
		cat "$logdir/$name.build" >&2
		for t in ${targets_of[$pkg]}; do result["$pkg $t"]="BUILD-FAIL"; done
		failures+=("$pkg: the fuzzing test binary does not build")
		continue
	fi
	(cd "$dir" && "$bin" -test.run='^Fuzz' -test.v -test.count=1) >"$logdir/$name.seeds" 2>&1
	for t in ${targets_of[$pkg]}; do
		key="$pkg $t"
		adds[$key]=$(grep -cE "^ +--- PASS: $t/seed#[0-9]+ " "$logdir/$name.seeds")
		all=$(grep -cE "^ +--- PASS: $t/[^ /]+ " "$logdir/$name.seeds")
		files[$key]=$((all - adds[$key]))
		if grep -qE "^ *--- FAIL: $t[ /]" "$logdir/$name.seeds"; then
			result[$key]="SEED-FAIL"
			grep -E -A3 "^ *--- FAIL: $t/" "$logdir/$name.seeds" | head -20 >&2
			failures+=("$pkg $t: a seed input fails: go test -run '^$t\$' $pkg")
		elif ((all == 0)); then
			result[$key]="NO-SEEDS"
			failures+=("$pkg $t: ran no seed input (add f.Add seeds and files under testdata/fuzz/$t/)")
		elif ((files[$key] == 0)); then
			result[$key]="NO-CORPUS"
			failures+=("$pkg $t: no committed corpus file ran (testdata/fuzz/$t/ of ${pkg#"$module"/} is missing or empty)")
		fi
	done

	# 3. Fuzz each target that passed its seeds.
	for t in ${targets_of[$pkg]}; do
		key="$pkg $t"
		[[ -z ${result[$key]:-} ]] || continue
		echo "== ${pkg#"$module"/} $t ($time)"
		log="$logdir/$name.$t.fuzz"
		if (cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^${t}\$" -test.fuzztime="$time" \
			-test.fuzzminimizetime="$minimize" -test.fuzzcachedir="$fuzzcache/$pkg") >"$log" 2>&1; then
			result[$key]="ok"
		elif ! grep -q 'Failing input written to' "$log" && grep -qx '    context deadline exceeded' "$log"; then
			# Go's fuzzing coordinator can report its own -fuzztime
			# deadline as a failure, with no input at fault
			# (go.dev/issue/75804, fixed in Go 1.27): not a crash.
			result[$key]="ok*"
			deadline_races=$((deadline_races + 1))
		else
			result[$key]="CRASH"
			tail -n 40 "$log" >&2
			crasher=$(grep -oE 'testdata/fuzz/[^ ]+' "$log" | tail -n 1)
			failures+=("$pkg $t: fuzzing failed${crasher:+, input kept in ${pkg#"$module"/}/${crasher}}")
		fi
		execs[$key]=$(grep -oE 'execs: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')
		echo "   execs ${execs[$key]:-0}: ${result[$key]}"
	done
done

total=0
echo
printf '%-28s %-26s %6s %6s %12s  %s\n' package target f.Add files execs result
for key in "${order[@]}"; do
	read -r pkg t <<<"$key"
	n=${execs[$key]:-0}
	total=$((total + n))
	printf '%-28s %-26s %6s %6s %12s  %s\n' "${pkg#"$module"/}" "$t" "${adds[$key]:-0}" "${files[$key]:-0}" "$n" "${result[$key]}"
done
echo "fuzz-all: ${#order[@]} targets, $total executions in total, $((SECONDS - start))s"
if ((deadline_races)); then
	echo "fuzz-all: ok* = Go's fuzzing coordinator reported its own -fuzztime deadline as a failure without a failing input (go.dev/issue/75804, fixed in Go 1.27); counted as passed"
fi

if ((${#failures[@]})); then
	echo >&2
	echo "fuzz-all: FAILED (${#failures[@]}):" >&2
	printf '  %s\n' "${failures[@]}" >&2
	exit 1
fi

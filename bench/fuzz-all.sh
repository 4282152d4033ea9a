#!/usr/bin/env bash
# Fuzz every Go fuzz target of the module for a while each.
#
#   bash bench/fuzz-all.sh [TIME] [PACKAGES...]     (default: 20s ./...)
#
# 1. Lists the targets with `go test -list '^Fuzz'` (go test -fuzz takes one
#    target per run, so each is run on its own).
# 2. Runs every package's targets once over their seeds (`go test -run
#    '^Fuzz' -v`) and counts, per target, the seeds that ran: f.Add seeds
#    ("seed#N") and committed corpus files (testdata/fuzz/<Target>/). A
#    target that ran no seed, or has no committed corpus file, fails: it
#    would fuzz from nothing in a plain clone.
# 3. Fuzzes each target for TIME and reads the executions from the last
#    "execs: N" line. A crasher fails the run (go test writes it under
#    testdata/fuzz/<Target>/, where it stays as a regression seed once the
#    bug is fixed).
#
# It prints one summary line per target (package, target, seeds, corpus
# files, executions, result) and exits non-zero, naming each target, when
# any target failed. CI runs it briefly: bash bench/fuzz-all.sh 2s.
set -uo pipefail
cd "$(dirname "$0")/.."

time=${1:-20s}
shift || true
# Minimizing each new interesting input (go test's default: up to 60s) would
# eat a short run on the targets with large inputs (whole recorded
# sessions); FUZZ_MINIMIZE sets it.
minimize=${FUZZ_MINIMIZE:-1s}
pkgs=("$@")
((${#pkgs[@]})) || pkgs=(./...)
module=$(go list -m)
logdir=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-all.XXXXXX")
trap 'rm -rf "$logdir"' EXIT

# Targets per package, from go test -list: target names, then the
# package's "ok" line.
declare -a order=()        # "pkg target" in listing order
declare -A targets_of=()   # pkg -> space-separated targets
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
echo "fuzz-all: ${#order[@]} targets in ${#targets_of[@]} packages, $time each"

failures=()
declare -A adds=() files=() execs=() result=()

# Seeds: one plain run per package of all its targets.
for pkg in "${!targets_of[@]}"; do
	log="$logdir/seeds.$(tr / _ <<<"$pkg")"
	if ! go test -count=1 -run '^Fuzz' -v "$pkg" >"$log" 2>&1; then
		grep -E '^\s*--- FAIL' "$log" | head -20 >&2
		for t in ${targets_of[$pkg]}; do
			if grep -qE "^\s*--- FAIL: $t[ /]" "$log"; then
				result["$pkg $t"]="SEED-FAIL"
				failures+=("$pkg $t: a seed input fails (see go test -run '^$t\$' $pkg)")
			fi
		done
	fi
	for t in ${targets_of[$pkg]}; do
		adds["$pkg $t"]=$(grep -cE "^ +--- PASS: $t/seed#[0-9]+ " "$log")
		all=$(grep -cE "^ +--- PASS: $t/[^ ]+ " "$log")
		files["$pkg $t"]=$((all - adds["$pkg $t"]))
	done
done

for key in "${order[@]}"; do
	read -r pkg t <<<"$key"
	if [[ -n ${result[$key]:-} ]]; then
		continue
	fi
	if ((adds[$key] + files[$key] == 0)); then
		result[$key]="NO-SEEDS"
		failures+=("$pkg $t: ran no seed input (add f.Add seeds and files under testdata/fuzz/$t/)")
		continue
	fi
	if ((files[$key] == 0)); then
		result[$key]="NO-CORPUS"
		failures+=("$pkg $t: no committed corpus file ran (testdata/fuzz/$t/ of ${pkg#"$module"/} is missing or empty)")
		continue
	fi
	echo "== $pkg $t ($time)"
	log="$logdir/fuzz.$(tr / _ <<<"$pkg").$t"
	if go test -run '^$' -fuzz "^${t}\$" -fuzztime "$time" -fuzzminimizetime "$minimize" "$pkg" >"$log" 2>&1; then
		result[$key]="ok"
	else
		result[$key]="CRASH"
		tail -n 40 "$log" >&2
		crasher=$(grep -oE 'testdata/fuzz/[^ ]+' "$log" | tail -n 1)
		failures+=("$pkg $t: fuzzing failed${crasher:+, input kept in ${crasher}}")
	fi
	execs[$key]=$(grep -oE 'execs: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')
	echo "   execs ${execs[$key]:-0}: ${result[$key]}"
done

total=0
echo
printf '%-44s %-26s %6s %6s %12s  %s\n' package target f.Add files execs result
for key in "${order[@]}"; do
	read -r pkg t <<<"$key"
	n=${execs[$key]:-0}
	total=$((total + n))
	printf '%-44s %-26s %6s %6s %12s  %s\n' "${pkg#"$module"/}" "$t" "${adds[$key]}" "${files[$key]}" "$n" "${result[$key]}"
done
echo "fuzz-all: ${#order[@]} targets, $total executions in total"

if ((${#failures[@]})); then
	echo >&2
	echo "fuzz-all: FAILED (${#failures[@]}):" >&2
	printf '  %s\n' "${failures[@]}" >&2
	exit 1
fi

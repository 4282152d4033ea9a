# Helpers shared by the example scripts; source it, don't run it.
#
#   section TITLE      start a part of the walk-through
#   say TEXT           one line explaining the next step
#   run CMD ARGS...    print "$ CMD ARGS..." (bold on a terminal), then run it
#   capture VAR CMD... the same, and also keep the command's stdout in $VAR
#   capture -q VAR CMD...  the same without printing the output (secrets, JSON)
#   check TEST... TEXT stop the script with TEXT unless `[ TEST... ]` holds
#   die TEXT           stop the script with an error
#   coldcard N LIST    the selector of the Nth ready Coldcard in LIST, the
#                      output of `countersign device list` (coldcard:FPR)
#   playground         make sure we run inside the regtest playground
#
# The scripts run with `set -euo pipefail`: the first command that fails
# stops the script with that command's exit code (see `countersign --help`).

# Bold commands and dim comments on a terminal, unless NO_COLOR is set.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	_b=$'\e[1m' _d=$'\e[2m' _r=$'\e[0m'
else
	_b='' _d='' _r=''
fi

section() { printf '\n%s== %s ==%s\n' "$_b" "$*" "$_r"; }
say() { printf '%s# %s%s\n' "$_d" "$*" "$_r"; }

# _quote prints its arguments as a shell would need them typed.
_quote() {
	local a out=()
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./:=@%+,^-]+$ ]]; then
			out+=("$a")
		else
			out+=("'${a//\'/\'\\\'\'}'")
		fi
	done
	printf '%s' "${out[*]}"
}

show() { printf '%s$ %s%s\n' "$_b" "$(_quote "$@")" "$_r"; }

run() {
	show "$@"
	"$@"
}

capture() {
	local __quiet='' __var __out
	if [ "$1" = -q ]; then
		__quiet=1
		shift
	fi
	__var=$1
	shift
	show "$@"
	__out=$("$@")
	[ -n "$__quiet" ] || printf '%s\n' "$__out"
	printf -v "$__var" '%s' "$__out"
}

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

check() {
	local msg=${*: -1}
	set -- "${@:1:$#-1}"
	[ "$@" ] || die "check failed: $msg"
}

coldcard() {
	awk -v n="$1" '$1 ~ /^coldcard:/ && $NF == "ready" && ++seen == n { print $1 }' <<<"$2"
}

# ledger_emulator VERSION WORDS: starts an emulated Ledger (Bitcoin Test
# app VERSION, seed WORDS) on a free loopback port, points countersign at
# it (COUNTERSIGN_LEDGER_SPECULOS) and sets LEDGER to its fingerprint (not
# in a $(...) subshell, so that the variables stay). The playground stops
# it with the script.
ledger_emulator() {
	local log
	log=$(mktemp)
	countersign-emulator ledger --app-version "$1" --mnemonic "$2" --network regtest --listen 127.0.0.1:0 >"$log" 2>&1 &
	for _ in $(seq 100); do
		grep -q 'listening on' "$log" && break
		sleep 0.1
	done
	local line
	line=$(grep -m1 'listening on' "$log") || die "the Ledger emulator did not start: $(cat "$log")"
	export COUNTERSIGN_LEDGER_SPECULOS=${line##* }
	LEDGER=$(awk '{print $3}' <<<"$line")
}

playground() {
	if [ -z "${COUNTERSIGN_FAUCET_URL:-}" ] || ! command -v faucet >/dev/null 2>&1; then
		cat >&2 <<-EOF
			This script spends coins on a private regtest chain with emulated devices.
			Run it in the playground, which provides them (and a fresh data directory):
			  make build && go build -o bin/countersign-demo ./examples/demo
			  bin/countersign-demo run $0
		EOF
		exit 2
	fi
}

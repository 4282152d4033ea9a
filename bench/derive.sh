#!/usr/bin/env bash
# Time `countersign descriptor derive` of 10,000 receive addresses of a
# 3-of-5 wsh(sortedmulti) wallet as a whole process (the issue's figure),
# five runs after a warm-up, with /usr/bin/time's wall and CPU seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/countersign ./cmd/countersign
desc=$(go run ./bench/desc35)
bin/countersign descriptor derive "$desc" --from 0 --count 10000 >/dev/null
for i in 1 2 3 4 5; do
	/usr/bin/time -f "run $i: %e s wall, %U s user, %S s sys, %M KiB max RSS" \
		bin/countersign descriptor derive "$desc" --from 0 --count 10000 >/dev/null
done

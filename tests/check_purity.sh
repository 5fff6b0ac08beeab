#!/bin/sh
# The dependency rule (DESIGN.md): cesr/, crypto/, kel/ and tel/ (and their public
# headers) include no libuv, llhttp or SQLite header. TAP output, one line per module.
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
set -- cesr crypto kel tel
echo "1..$#"
n=0
status=0
for m in "$@"; do
    n=$((n + 1))
    hits=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](uv|uv/[^">]*|llhttp|sqlite3)\.h[">]' \
        "$top/src/$m"/*.c "$top/src/$m"/*.h 2>/dev/null)
    # the public headers a module includes must be pure as well
    for h in $(grep -ho '#include "kerid/[a-z_]*\.h"' "$top/src/$m"/*.c "$top/src/$m"/*.h 2>/dev/null |
               sed 's/.*"kerid\/\(.*\)"/\1/' | sort -u); do
        case "$h" in http.h | node.h | role.h | sweep.h | metrics.h)
            hits="$hits
$m includes kerid/$h" ;;
        esac
        more=$(grep -nE '#[[:space:]]*include[[:space:]]*[<"](uv|llhttp|sqlite3)\.h[">]' "$top/include/kerid/$h" 2>/dev/null)
        [ -n "$more" ] && hits="$hits
include/kerid/$h: $more"
    done
    if [ -n "$(echo "$hits" | tr -d '[:space:]')" ]; then
        echo "not ok $n - $m is pure"
        echo "$hits" | sed 's/^/# /'
        status=1
    else
        echo "ok $n - $m is pure"
    fi
done
exit $status

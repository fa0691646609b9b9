#!/bin/sh
# The systemd units verify cleanly (systemd-analyze verify prints nothing and
# exits 0: no unknown key, no bad value, the binary executable, the man page
# found), and a unit with a typo, a bad value or a missing binary does not:
# the check can fail.
set -u
SA=${SYSTEMD_ANALYZE:-systemd-analyze}
src=${PGQ_SRCDIR:?PGQ_SRCDIR not set (run through make check)}
build=${PGQ_BUILDDIR:?PGQ_BUILDDIR not set (run through make check)}
if ! command -v "$SA" >/dev/null 2>&1; then
    echo "FAIL: systemd-analyze not found (install systemd): the units cannot be verified"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The man pages the units name, where man(1) finds them.
mkdir -p "$tmp/man/man1" "$tmp/man/man8" "$tmp/units"
cp "$src/man/pgquorumd.8" "$tmp/man/man8/" && cp "$src/man/pgquorumctl.1" "$tmp/man/man1/" || exit 1
MANPATH="$tmp/man"
export MANPATH

# verify FILE: 0 when systemd-analyze accepts it without a word.
verify() {
    out=$("$SA" verify "$1" 2>&1)
    rc=$?
    if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
        printf '%s (exit %d):\n%s\n' "$1" "$rc" "$out"
        return 1
    fi
    return 0
}

fail=0
for unit in pgquorum-monitor@ pgquorum-node@; do
    # ExecStart names the binary just built, so that verify checks it runs.
    sed -e "s|@bindir[@]|$build|g" "$src/dist/systemd/$unit.service.in" >"$tmp/units/$unit.service"
    if verify "$tmp/units/$unit.service"; then
        echo "ok: $unit.service verifies"
    else
        echo "FAIL: $unit.service does not verify"
        fail=1
    fi
    # Broken copies must be refused: a misspelt key, a bad value, no binary.
    n=0
    for edit in 's/^Type=notify/Tpye=notify/' 's/^Restart=on-failure/Restart=sometimes/' \
                "s|^ExecStart=$build/|ExecStart=$tmp/nowhere/|"; do
        n=$((n + 1))
        sed -e "$edit" "$tmp/units/$unit.service" >"$tmp/units/broken$n-$unit.service"
        if cmp -s "$tmp/units/$unit.service" "$tmp/units/broken$n-$unit.service"; then
            echo "FAIL: $unit.service: the edit $edit changed nothing"
            fail=1
        elif verify "$tmp/units/broken$n-$unit.service" >/dev/null; then
            echo "FAIL: $unit.service broken by $edit still verifies: the check cannot fail"
            fail=1
        else
            echo "ok: $unit.service broken by $edit is refused"
        fi
    done
done
exit $fail

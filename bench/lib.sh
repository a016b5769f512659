# shellcheck shell=bash disable=SC2034
# Shared by the benchmarks under bench/ (sourced, not run). bash.

# The tools a benchmark needs, as "command:apt package"; bench/run checks them all
# before it starts, each benchmark again for itself.
bench_tools_hyperfine=(hyperfine:hyperfine)
bench_tools_sandbox=(bwrap:bubblewrap runc:runc busybox:busybox-static cc:gcc runuser:util-linux)

bench_die() {
    echo "bench: $*" >&2
    exit 1
}

# bench_need CMD:PACKAGE...: fails naming the first missing command and its package.
# bench/ installs nothing itself.
bench_need() {
    local pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 ||
            bench_die "${pair%%:*} is not installed; install it: apt-get install ${pair#*:}"
    done
}

# The JSON parser for hyperfine's export: jq, or else python3.
bench_need_json() {
    command -v jq >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 ||
        bench_die "neither jq nor python3 is installed (one is needed to read hyperfine's JSON);" \
            "install one: apt-get install jq"
}

# busybox-static, not just busybox: tools/busybox-rootfs copies /bin/busybox into the
# rootfs, which has no libc.
bench_need_busybox_static() {
    [[ -x /bin/busybox ]] ||
        bench_die "/bin/busybox is not installed; install it: apt-get install busybox-static"
    local ldd
    ldd=$(LC_ALL=C ldd /bin/busybox 2>&1 || true)
    if [[ $ldd != *"not a dynamic"* ]]; then
        bench_die "/bin/busybox is dynamically linked; install it: apt-get install busybox-static"
    fi
}

# hyperfine >= 1.13 has -N (run without a shell), which these benchmarks rely on: a
# shell's start-up would hide differences of a millisecond.
bench_need_hyperfine_n() {
    hyperfine --help 2>/dev/null | grep -qE '^ *-N' ||
        bench_die "hyperfine $(hyperfine --version 2>/dev/null | cut -d' ' -f2) has no -N" \
            "(needs >= 1.13); install a newer one: apt-get install hyperfine (Debian >= 12)"
}

# bench_stats FILE: "MEDIAN MEAN STDDEV" in milliseconds from hyperfine --export-json
# (its first result).
bench_stats() {
    if command -v jq >/dev/null 2>&1; then
        jq -r '.results[0] | [.median, .mean, (.stddev // 0)] | map(. * 1000) | map(tostring) | join(" ")' "$1"
    else
        python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(" ".join(str(x * 1000) for x in (r["median"], r["mean"], r.get("stddev") or 0)))
' "$1"
    fi
}

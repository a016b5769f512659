# Shared by scripts/demo and scripts/test: installing what is missing, building.

# Debian packages the build and the tests need. Boost is pinned to 1.81 (Debian 12's
# default libboost-dev is 1.74, which lacks Process v2). libarchive's static link names
# its compression and ACL libraries, so their -dev packages (with the .a files) are here;
# libseccomp-dev gives the containers their filter (its .a for the static driver).
build_packages="meson ninja-build g++ pkg-config libboost1.81-dev doctest-dev busybox-static libxxhash-dev libgit2-dev libarchive-dev libssl-dev libacl1-dev liblz4-dev liblzma-dev libzstd-dev libbz2-dev zlib1g-dev libxml2-dev nettle-dev libseccomp-dev"
# The fuzz tree's compiler: clang 16 (clang 14, Debian 12's default, cannot compile
# std::source_location against libstdc++ 12) with its libFuzzer and sanitizer runtimes.
fuzz_packages="clang-16 libclang-rt-16-dev"
test_packages="uidmap fuse-overlayfs util-linux procps tmux gcc libc6-dev git tar gzip bzip2 xz-utils zstd openssl ca-certificates docker-registry skopeo umoci curl python3 slirp4netns iproute2 slurm-wlm munge"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the packages of $@ that are not installed yet (apt-get update only then).
install_missing() {
    missing=""
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
            missing="$missing $package"
        fi
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
}

# Configures (once) and builds into ./build.
build() {
    if [ ! -f build/build.ninja ]; then
        meson setup build "$@" >/dev/null
    elif [ $# -gt 0 ]; then
        meson configure build "$@" >/dev/null
    fi
    ninja -C build
}

# Configures (once) the sanitizer tree ./build-asan (gcc, AddressSanitizer and
# UndefinedBehaviorSanitizer in every object) and builds what the unit, sandbox and
# core suites run: bincastle-inside is linked dynamically there (tools/meson.build).
# Not -Dwerror: with the sanitizers, gcc 12 sees Beast's parser use an optional
# "maybe uninitialized" (a false positive); ./build is the one held warning-free.
build_asan() {
    [ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined >/dev/null
    ninja -C build-asan tests/unit/unit-tests tools/bincastle-inside tests/core/core-definition
}

# Configures (once) and builds the fuzz tree ./build-fuzz: clang, libFuzzer, ASan and
# UBSan, and only the fuzz targets (fuzz/meson.build). Not -Dwerror: gcc's build is the
# one held warning-free, and clang warns about libgit2's own initializer macros.
build_fuzz() {
    # Meson puts ccache in front of the compiler it finds, not of one named in CXX.
    local ccache=
    command -v ccache >/dev/null && ccache="ccache "
    [ -f build-fuzz/build.ninja ] ||
        CC="${ccache}clang-16" CXX="${ccache}clang++-16" meson setup build-fuzz -Dfuzz=true \
            -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
    ninja -C build-fuzz fuzz-targets
}

# The fuzz targets: one seed corpus directory each under fuzz/corpus/.
fuzz_targets() {
    ls fuzz/corpus
}

# run_fuzz_target NAME SECONDS: runs build-fuzz/fuzz/fuzz-NAME for SECONDS over its seeds
# (new inputs go to build-fuzz/corpus/NAME, findings to build-fuzz/findings/NAME/) and
# prints "NAME EXECUTIONS CORPUS FINDINGS" (FINDINGS "error" when libFuzzer failed
# without one); libFuzzer's log is build-fuzz/fuzz-NAME.log. Returns non-zero on a
# finding (libFuzzer stops at the first).
run_fuzz_target() {
    local name=$1 seconds=$2 log=build-fuzz/fuzz-$1.log status=0 earlier
    mkdir -p "build-fuzz/corpus/$name" "build-fuzz/findings/$name"
    earlier=$(find "build-fuzz/findings/$name" -type f | wc -l)
    ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer || true) \
        "build-fuzz/fuzz/fuzz-$name" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="build-fuzz/findings/$name/" "build-fuzz/corpus/$name" "fuzz/corpus/$name" \
        >"$log" 2>&1 || status=$?
    local executions corpus findings
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    corpus=$(grep -o 'corp: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    findings=$(($(find "build-fuzz/findings/$name" -type f | wc -l) - earlier))
    [ "$status" -eq 0 ] || [ "$findings" -gt 0 ] || findings=error
    echo "$name ${executions:-0} ${corpus:-0} $findings"
    return "$status"
}

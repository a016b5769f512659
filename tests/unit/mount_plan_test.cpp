#include "container/limits.hpp"
#include "container/mount_plan.hpp"
#include "container/overlay.hpp"
#include "container/hints.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>

using namespace bincastle::container;
using Kind = MountOp::Kind;

namespace {

const MountOp* find(const std::vector<MountOp>& ops, const std::string& target) {
    auto it = std::find_if(ops.begin(), ops.end(), [&](auto& op) { return op.target == target; });
    return it == ops.end() ? nullptr : &*it;
}

size_t index_of(const std::vector<MountOp>& ops, const std::string& target) {
    return static_cast<size_t>(std::find_if(ops.begin(), ops.end(), [&](auto& op) { return op.target == target; }) - ops.begin());
}

}  // namespace

TEST_CASE("the mount plan gives /proc, a read-only /sys, a minimal /dev and /tmp") {
    Spec spec;
    spec.rootfs = "/r";
    auto ops = plan_mounts(spec);
    REQUIRE(find(ops, "/proc"));
    CHECK(find(ops, "/proc")->kind == Kind::proc);
    CHECK(find(ops, "/proc/sys")->kind == Kind::remount_ro);
    CHECK(find(ops, "/sys")->kind == Kind::sysfs);
    CHECK(find(ops, "/sys")->read_only);
    for (const char* node : {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}) {
        REQUIRE(find(ops, node));
        CHECK(find(ops, node)->kind == Kind::bind);
        CHECK(find(ops, node)->source == node);
    }
    CHECK(find(ops, "/dev/pts")->kind == Kind::devpts);
    CHECK(find(ops, "/dev/ptmx")->source == "pts/ptmx");
    CHECK(find(ops, "/dev/shm")->mode == 01777);
    CHECK(find(ops, "/dev/fd")->source == "/proc/self/fd");
    CHECK(find(ops, "/tmp")->mode == 01777);
    // /dev is a tmpfs mounted before its nodes.
    CHECK(index_of(ops, "/dev") < index_of(ops, "/dev/null"));
    CHECK(index_of(ops, "/proc") < index_of(ops, "/proc/sys"));
}

TEST_CASE("with the host's network /sys is the host's, bound read-only") {
    Spec spec;
    spec.network = Network::host;
    auto ops = plan_mounts(spec);
    CHECK(find(ops, "/sys")->kind == Kind::bind);
    CHECK(find(ops, "/sys")->source == "/sys");
    CHECK(find(ops, "/sys")->read_only);
}

TEST_CASE("the spec's own mounts come last, in order, so they may cover the defaults") {
    Spec spec;
    spec.mounts = {{Mount::Kind::ro_bind, "/a", "/tmp"}, {Mount::Kind::bind, "/b", "/x"},
                   {Mount::Kind::tmpfs, "", "/scratch"}};
    auto ops = plan_mounts(spec);
    REQUIRE(ops.size() >= 3);
    auto tail = std::vector<MountOp>(ops.end() - 3, ops.end());
    CHECK(tail[0] == mount_op(Kind::bind, "/a", "/tmp", true));
    CHECK(tail[1] == mount_op(Kind::bind, "/b", "/x"));
    CHECK(tail[2].kind == Kind::tmpfs);
    CHECK(tail[2].target == "/scratch");
    CHECK(index_of(ops, "/tmp") < ops.size() - 3);
}

TEST_CASE("a classic lowerdir option lists the top layer first and escapes separators") {
    CHECK(lowerdir_option({"/l/base", "/l/mid", "/l/top"}) == "/l/top:/l/mid:/l/base");
    CHECK(lowerdir_option({"/a:b", "/c,d"}) == "/c\\,d:/a\\:b");
}

TEST_CASE("an upper dir's work dir is a hidden sibling") {
    CHECK(work_dir_for("/store/systems/demo/upper") == "/store/systems/demo/.upper.work");
    CHECK(work_dir_for("/store/up/") == "/store/.up.work");
    CHECK(work_dir_for("up") == ".up.work");
}

TEST_CASE("fuse-overlayfs is told host paths and how host ids read inside") {
    IdMapPlan ids;
    ids.uids = {{0, 1000, 1}, {1, 100000, 65536}};
    ids.gids = {{0, 1000, 1}};
    auto command = fuse_overlayfs_command({"/l/base", "/l/top"}, "/s/up", "/s/.up.work", ids, 7);
    CHECK(command == std::vector<std::string>{
                         "fuse-overlayfs", "-o",
                         "lowerdir=/l/top:/l/base,upperdir=/s/up,workdir=/s/.up.work,"
                         "uidmapping=1000:0:1:100000:1:65536,gidmapping=1000:0:1",
                         "/dev/fd/7"});
}

TEST_CASE("limits go to the caller's cgroup v2 directory") {
    const std::string mountinfo =
        "30 23 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n"
        "31 23 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
    CHECK(cgroup2_dir(mountinfo, "12:cpu:/\n0::/user.slice/user-1000.slice\n") ==
          "/sys/fs/cgroup/unified/user.slice/user-1000.slice");
    CHECK(cgroup2_dir(mountinfo, "0::/\n") == "/sys/fs/cgroup/unified");
    CHECK_FALSE(cgroup2_dir(mountinfo, "12:cpu:/\n").has_value());
    const std::string namespaced = "40 1 0:26 /outer /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    CHECK(cgroup2_dir(namespaced, "0::/outer/inner\n") == "/sys/fs/cgroup/inner");
    CHECK(cpu_max(1.5) == "150000 100000");
    const std::string proc_cgroup = "12:pids:/user.slice\n4:cpu,cpuacct:/\n0::/user.slice\n";
    const std::string v1 =
        "31 23 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
        "32 23 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
    CHECK(cgroup1_dir(v1, proc_cgroup, "pids") == "/sys/fs/cgroup/pids/user.slice");
    CHECK(cgroup1_dir(v1, proc_cgroup, "cpu") == "/sys/fs/cgroup/cpu,cpuacct");
    CHECK_FALSE(cgroup1_dir(v1, proc_cgroup, "memory").has_value());
    CHECK(cpu_max(0.001) == "1000 100000");
    Limits limits;
    limits.pids_max = 50;
    limits.cpus = 1;
    CHECK(needed_controllers(limits) == std::vector<std::string>{"pids", "cpu"});
    CHECK(rlimit_notice(limits, "no cgroup v2 hierarchy") ==
          "limits: no cgroup v2 hierarchy; using RLIMIT_NPROC, CPU affinity (whole CPUs) instead (weaker than a cgroup)");
}

TEST_CASE("namespace failures name the setting that blocks them") {
    UserNamespacePolicy debian_off{"0", "15000", std::nullopt};
    CHECK(namespace_hint(EPERM, false, debian_off).find("kernel.unprivileged_userns_clone=1") != std::string::npos);
    UserNamespacePolicy ubuntu{std::nullopt, "15000", "1"};
    CHECK(namespace_hint(EPERM, false, ubuntu).find("apparmor_restrict_unprivileged_userns") != std::string::npos);
    UserNamespacePolicy none_allowed{"1", "0", std::nullopt};
    CHECK(namespace_hint(ENOSPC, false, none_allowed).find("user.max_user_namespaces") != std::string::npos);
    UserNamespacePolicy open{"1", "15000", "0"};
    CHECK(namespace_hint(EPERM, false, open).find("seccomp") != std::string::npos);
}

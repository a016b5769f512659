// A small system for the core's integration tests. The environment shapes it:
//   BC_SLOW=SECONDS  two independent layers that sleep that long (or until the sleep is killed)
//   BC_FAIL=1        a layer whose script fails
//   BC_GIT_URL, BC_GIT_REF      a git source, copied to /opt/git by a layer built on it
//   BC_HTTP_URL, BC_HTTP_SHA    a tar.gz (one top directory, stripped), copied to /opt/archive
//   BC_WHITEOUT=1    a layer that deletes /bin/vi and replaces /etc (overlay whiteouts)
//   BC_HOSTILE=1     a layer that leaves modes its owner cannot read through: a mode-000
//                    directory, a mode-0555 one, an unreadable file
//   BC_ODD=DIR       a layer of what trees rarely hold: a fifo, a socket, names with a
//                    newline, a path longer than PATH_MAX, hard links, a sparse file,
//                    symlinks to host paths (/etc/shadow, ../.., /, DIR); and a layer on
//                    it that puts a directory where the symlink to DIR was
//   BC_LINKS=1       a layer of three names of one file (/opt/links/one, two, three),
//                    and a layer on it that writes to three (a copy-up)
//   BC_FILL=KIB      a layer that writes KIB KiB of random bytes (which do not compress)
//                    to /opt/fill
//   BC_MOUNT_DIR=DIR where the system mounts its wrapped source (default /home/src)
//   BC_IMAGE=REF     a layer "image" of Image(REF), merged into the system
//   BC_IMAGE_SYSTEM=REF  instead of all the above, a system of Image(REF) alone that
//                    runs /bin/cat /opt/app/content (an export of the above, say)
// LocalDir paths are relative to BINCASTLE_DEFINITION_DIR, which the tests set to a
// directory holding rootfs/ (busybox) and src/.
#include <bincastle/main.hpp>

#include <cstdlib>
#include <string>

using namespace bincastle;

namespace {

struct Base {
    Layer spec() const { return Layer(Name("base"), LocalDir("rootfs")); }
};

struct Source {
    Layer spec() const { return Layer(Name("src"), LocalDir("src"), LocalOverride()); }
};

struct Tool {
    Layer spec() const {
        return Layer(Name("tool"), Dep(Base{}), BuildDep(Wrap(Source{}, MountDir("/src"))),
                     BuildScript({"mkdir -p /opt/tool", "cat /src/* > /opt/tool/content",
                                  "echo \"$MAKEFLAGS\" > /opt/tool/makeflags"}));
    }
};

struct App {
    Layer spec() const {
        return Layer(Name("app"), Dep(Tool{}), BuildScript({"mkdir -p /opt/app", "cp /opt/tool/content /opt/app/"}));
    }
};

Layer slow(const char* name, const std::string& seconds) {
    // A test may end the sleep early (kill it): the build goes on.
    return Layer(Name(name), Dep(Base{}), BuildScript({"sleep " + seconds + " || true", std::string("echo done > /") + name}));
}

}  // namespace

int main(int argc, char** argv) {
    const char* slow_seconds = std::getenv("BC_SLOW");
    std::string seconds = slow_seconds ? slow_seconds : "0";
    std::vector<Layer> parts = {App{}.spec(), slow("slow-a", seconds), slow("slow-b", seconds)};
    if (std::getenv("BC_FAIL"))
        parts.push_back(Layer(Name("broken"), Dep(Base{}), BuildScript({"echo about to fail", "false", "echo not reached"})));
    if (const char* url = std::getenv("BC_GIT_URL")) {
        Layer repo(Name("git-src"), Git(url, std::getenv("BC_GIT_REF") ? std::getenv("BC_GIT_REF") : "main"));
        parts.push_back(Layer(Name("git-copy"), Dep(Base{}), BuildDep(Wrap(repo, MountDir("/g"))),
                              BuildScript({"mkdir -p /opt", "cp -r /g /opt/git"})));
    }
    if (const char* url = std::getenv("BC_HTTP_URL")) {
        const char* sha = std::getenv("BC_HTTP_SHA");
        Layer archive(Name("archive-src"), HttpArchive(url, sha ? sha : "", 1));
        parts.push_back(Layer(Name("archive-copy"), Dep(Base{}), BuildDep(Wrap(archive, MountDir("/a"))),
                              BuildScript({"mkdir -p /opt", "cp -r /a /opt/archive"})));
    }
    // A layer that deletes a file and replaces a directory of the base: whiteouts.
    if (std::getenv("BC_WHITEOUT"))
        parts.push_back(Layer(Name("prune"), Dep(Base{}),
                              BuildScript({"rm /bin/vi", "rm -rf /etc", "mkdir /etc", "echo pruned > /etc/marker"})));
    if (std::getenv("BC_HOSTILE"))
        parts.push_back(Layer(Name("hostile"), Dep(Base{}),
                              BuildScript({"mkdir -p /opt/hostile/closed/inner /opt/hostile/readonly",
                                           "echo secret > /opt/hostile/closed/inner/file",
                                           "echo kept > /opt/hostile/readonly/file",
                                           "echo hidden > /opt/hostile/unreadable", "chmod 000 /opt/hostile/unreadable",
                                           "chmod 0555 /opt/hostile/readonly", "chmod 000 /opt/hostile/closed"})));
    if (const char* outside = std::getenv("BC_ODD")) {
        Layer odd(Name("odd"), Dep(Base{}),
                  BuildScript({"mkdir -p /opt/odd && cd /opt/odd", "mkfifo fifo",
                               // syslogd makes its socket at /dev/log: in a chroot, here.
                               "mkdir -p jail/bin jail/dev && cp /bin/busybox jail/bin/",
                               "chroot jail /bin/busybox syslogd -n -O /dev/null & pid=$!",
                               "n=0; until [ -S jail/dev/log ] || [ $n -gt 100 ]; do sleep 0.1; n=$((n+1)); done",
                               "kill $pid; wait $pid 2>/dev/null || true", "mv jail/dev/log socket && rm -rf jail",
                               "nl=$(printf 'new\nline'); mkdir \"dir $nl\" && echo newline > \"dir $nl/file $nl\"",
                               // 25 steps of 200 characters: 5025 in all.
                               "long=$(head -c 200 /dev/zero | tr '\\0' d); mkdir deep && cd deep",
                               "for i in $(seq 25); do mkdir $long && cd -P $long; done; echo deep > file; cd /opt/odd",
                               "echo linked > hard1 && mkdir links && ln hard1 hard2 && ln hard1 links/hard3",
                               "echo end | dd of=sparse bs=1M seek=16 conv=notrunc 2>/dev/null",
                               "ln -s /etc/shadow shadow && ln -s ../../../../../../../etc/passwd up && ln -s / root",
                               std::string("ln -s '") + outside + "' outside"}));
        parts.push_back(Layer(Name("odd-over"), Dep(odd),
                              BuildScript({"rm /opt/odd/outside && mkdir /opt/odd/outside",
                                           "echo inside > /opt/odd/outside/file"})));
    }
    if (std::getenv("BC_LINKS")) {
        Layer links(Name("links"), Dep(Base{}),
                    BuildScript({"mkdir -p /opt/links", "echo linked > /opt/links/one", "ln /opt/links/one /opt/links/two",
                                 "ln /opt/links/one /opt/links/three"}));
        parts.push_back(Layer(Name("links-over"), Dep(links), BuildScript({"echo over > /opt/links/three"})));
    }
    if (const char* kib = std::getenv("BC_FILL"))
        parts.push_back(Layer(Name("fill"), Dep(Base{}),
                              BuildScript({"mkdir -p /opt", std::string("dd if=/dev/urandom of=/opt/fill bs=1024 count=") + kib})));
    if (const char* ref = std::getenv("BC_IMAGE")) parts.push_back(Layer(Name("image"), Image(ref)));
    if (const char* ref = std::getenv("BC_IMAGE_SYSTEM"))
        return bincastle::main(argc, argv,
                               Layer(Name("system"), RunDep(Layer(Name("image"), Image(ref))),
                                     RunArgs({"/bin/cat", "/opt/app/content"})));
    const char* mount_dir = std::getenv("BC_MOUNT_DIR");
    Layer root(Name("system"), RunDep(Base{}), RunDep(Wrap(Source{}, MountDir(mount_dir ? mount_dir : "/home/src"))),
               RunDeps(parts), Env("GREETING", "hello"), RunWorkingDir("/opt"), RunArgs({"/bin/cat", "/opt/app/content"}));
    return bincastle::main(argc, argv, root);
}

#pragma once

// The files of a system that are not programs: the directory skeleton and the user.
// Built on the bootstrap's shell, so that they do not change when the libc does.

#include "distro/bootstrap.hpp"

#include <string>

namespace distro {

// The directories a system expects, /tmp and /var/tmp sticky and world-writable.
struct Skeleton {
    Layer spec() const {
        return Layer(Name("skeleton"), BuildDep(Bootstrap{}),
                     BuildScript({"mkdir -p /out", "cd /out", "mkdir -p bin sbin usr/bin usr/sbin usr/lib usr/include usr/share etc "
                                  "root home tmp var/tmp run mnt opt dev proc sys",
                                  "chmod 1777 tmp var/tmp", "chmod 700 root",
                                  "printf 'bincastle\\n' >etc/hostname",
                                  "printf '/bin/sh\\n' >etc/shells"}),
                     OutputDir("/out"));
    }
};

// root and `user` (uid 1000), with a home directory and a shell profile that says
// where things are. Everything runs as root inside (the container maps the caller to
// it); `user` is the owner of /home/user by name.
struct User {
    std::string name = "user";

    Layer spec() const {
        std::string home = "/home/" + name;
        return Layer(
            Name("user"), BuildDep(Bootstrap{}),
            BuildScript({"mkdir -p /out/etc /out" + home,
                         "printf 'root:x:0:0:root:/root:/bin/sh\\n" + name + ":x:1000:1000::" + home +
                             ":/bin/sh\\n' >/out/etc/passwd",
                         "printf 'root:x:0:\\n" + name + ":x:1000:\\n' >/out/etc/group",
                         "printf 'export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin\\n"
                         "export PS1=\"\\\\w # \"\\n' >/out/etc/profile",
                         "chmod 755 /out" + home}),
            OutputDir("/out"));
    }
};

// What a booted system (`bincastle run --boot`) starts: busybox's init reads
// /etc/inittab, which sets the hostname, runs a web server on port 8080 as a service,
// and a login shell through getty on the console (the terminal).
struct Init {
    Layer spec() const {
        return Layer(Name("init"), BuildDep(Bootstrap{}),
                     BuildScript({"mkdir -p /out/etc /out/var/www /out/usr/sbin",
                                  "printf '%s\\n' '::sysinit:/bin/hostname -F /etc/hostname' "
                                  "'::respawn:/usr/sbin/httpd -f -p 8080 -h /var/www' "
                                  "'::respawn:/sbin/getty -n -l /usr/sbin/console-shell 0 -' "
                                  "'::shutdown:/bin/echo the system is going down' >/out/etc/inittab",
                                  // busybox init sets HOME=/: the shell starts as a plain run's does.
                                  "printf '#!/bin/sh\\nexport HOME=/home/user USER=user\\ncd /home/user\\n"
                                  "exec /bin/sh -l\\n' >/out/usr/sbin/console-shell",
                                  "chmod 755 /out/usr/sbin/console-shell",
                                  "echo 'served by the demo since boot' >/out/var/www/index.html"}),
                     OutputDir("/out"));
    }
};

}  // namespace distro

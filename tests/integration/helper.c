/* A small static helper for the sandbox integration tests: the rootfs is busybox
 * only, so what a shell cannot do is done here. Built by the test with `cc -static`.
 *
 *   helper escape PATH...      the classic chroot escape, then report whether any PATH
 *                              (host-only files) became visible: exit 0 contained,
 *                              3 escaped, 2 on an unexpected error
 *   helper memhog MIB          allocate and touch MIB MiB: exit 0, or 1 when refused
 *   helper getxattr PATH NAME  print the value of an extended attribute (exit 1 if none)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static int escape(int argc, char **argv) {
    /* Keep a handle on the current root, chroot into a subdirectory, then walk up
     * from the handle: with a plain chroot this climbs past the root to the host's. */
    if (chdir("/") != 0) { perror("chdir /"); return 2; }
    int fd = open(".", O_RDONLY | O_DIRECTORY);
    if (fd < 0) { perror("open ."); return 2; }
    if (mkdir("/tmp/escape", 0755) != 0 && errno != EEXIST) { perror("mkdir /tmp/escape"); return 2; }
    if (chroot("/tmp/escape") != 0) {
        printf("chroot refused (%s): contained\n", strerror(errno));
        return 0;
    }
    if (fchdir(fd) != 0) { perror("fchdir"); return 2; }
    close(fd);
    for (int i = 0; i < 100; i++) (void)!chdir("..");
    if (chroot(".") != 0) { perror("chroot ."); return 2; }
    if (chdir("/") != 0) { perror("chdir / after"); return 2; }
    int escaped = 0;
    for (int i = 0; i < argc; i++) {
        if (access(argv[i], F_OK) == 0) {
            printf("escaped: %s is visible\n", argv[i]);
            escaped = 1;
        }
    }
    if (access("/bin/busybox", F_OK) != 0) {
        printf("escaped: /bin/busybox of the container is gone from /\n");
        escaped = 1;
    }
    if (escaped) return 3;
    printf("contained\n");
    return 0;
}

static int memhog(const char *mib_text) {
    size_t size = (size_t)strtoul(mib_text, NULL, 10) << 20;
    char *block = malloc(size);
    if (!block) {
        printf("malloc(%zu) refused\n", size);
        return 1;
    }
    for (size_t i = 0; i < size; i += 4096) block[i] = (char)i;
    printf("allocated %zu bytes\n", size);
    return 0;
}

static int print_xattr(const char *path, const char *name) {
    char value[256];
    ssize_t n = lgetxattr(path, name, value, sizeof value - 1);
    if (n < 0) {
        fprintf(stderr, "lgetxattr(%s, %s): %s\n", path, name, strerror(errno));
        return 1;
    }
    value[n] = '\0';
    printf("%s\n", value);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "escape") == 0) return escape(argc - 2, argv + 2);
    if (argc == 3 && strcmp(argv[1], "memhog") == 0) return memhog(argv[2]);
    if (argc == 4 && strcmp(argv[1], "getxattr") == 0) return print_xattr(argv[2], argv[3]);
    fprintf(stderr, "usage: helper escape PATH... | memhog MIB | getxattr PATH NAME\n");
    return 2;
}

/* kernel-overlay: the kernel's own cost of what a rootless overlay sandbox must do
 * before it can run anything, with nothing else around it. bench/sandbox times this
 * for 1, 50 and 200 layers to get the kernel's cost per extra layer, to compare
 * with bincastle's.
 *
 *   kernel-overlay [--count] [--exec PATH] LAYER...   (lowest first, as `--layer`)
 *
 * --count prints how many entries the merged root has (a check that every layer is
 * there; bench/sandbox uses it once before timing without it).
 * --exec PATH then execs PATH of the merged tree (bench/sandbox: /bin/true), so the
 * cost of looking it up through the overlay is in too: a lookup in the merged root
 * asks every layer, which is part of the per-layer cost any runner pays.
 *
 * In order: a new user namespace (the caller mapped to root, one id) and mount
 * namespace; open the layer directories; a tmpfs on /tmp holding the upper and work
 * directories; an overlay built with the new mount API (fsopen; fsconfig "userxattr",
 * "lowerdir+" once per layer, top first, "upperdir", "workdir", each given as an fd),
 * mounted nodev on /tmp/merged. Then it exits, or execs PATH: no pivot_root, no /proc
 * or /dev, no fork, no pid namespace. It is a lower bound on the overlay part of a
 * sandbox, not a runner.
 *
 * Needs Linux >= 6.8 (lowerdir+). Overlay directories given as fds need 6.13 (the
 * keys stay "lowerdir+", "upperdir", "workdir": there is no "upperdir+"); before that
 * it passes /proc/self/fd/N strings.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char* what, const char* arg) {
    fprintf(stderr, "kernel-overlay: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
            strerror(errno));
    exit(1);
}

static void write_file(const char* path, const char* text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) die("open", path);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) die("write", path);
    close(fd);
}

/* Gives the directory as an fd (6.13), or else as a /proc/self/fd/N path. */
static void set_dir(int ctx, const char* key, int dir_fd) {
    if (fsconfig(ctx, FSCONFIG_SET_FD, key, NULL, dir_fd) == 0) return;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", dir_fd);
    if (fsconfig(ctx, FSCONFIG_SET_STRING, key, path, 0) != 0) die("fsconfig", key);
}

static int open_dir(const char* path) {
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) die("open", path);
    return fd;
}

int main(int argc, char** argv) {
    int count = 0;
    const char* exec_path = NULL;
    for (;;) {
        if (argc > 1 && strcmp(argv[1], "--count") == 0) {
            count = 1;
            ++argv, --argc;
        } else if (argc > 2 && strcmp(argv[1], "--exec") == 0) {
            exec_path = argv[2];
            argv += 2, argc -= 2;
        } else {
            break;
        }
    }
    if (argc < 2 || (exec_path && exec_path[0] != '/')) {
        fprintf(stderr, "usage: kernel-overlay [--count] [--exec /PATH] LAYER...   (lowest first)\n");
        return 2;
    }
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) die("unshare", "user+mount");
    char map[64];
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
    write_file("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
    write_file("/proc/self/gid_map", map);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("mount", "/ private");

    /* Open the layers inside the new mount namespace (overlayfs refuses paths on mounts
     * of another namespace: "failed to clone lowerpath") and before the tmpfs covers
     * /tmp, where they may live. */
    int* layers = calloc((size_t)argc, sizeof *layers);
    if (!layers) die("calloc", NULL);
    for (int i = 1; i < argc; ++i) layers[i] = open_dir(argv[i]);

    int tmp = fsopen("tmpfs", FSOPEN_CLOEXEC);
    if (tmp < 0) die("fsopen", "tmpfs");
    if (fsconfig(tmp, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) die("fsconfig", "tmpfs create");
    int tmp_mnt = fsmount(tmp, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
    if (tmp_mnt < 0) die("fsmount", "tmpfs");
    if (move_mount(tmp_mnt, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH) != 0)
        die("move_mount", "/tmp");
    if (mkdir("/tmp/upper", 0755) || mkdir("/tmp/work", 0755) || mkdir("/tmp/merged", 0755))
        die("mkdir", "/tmp/{upper,work,merged}");

    int ovl = fsopen("overlay", FSOPEN_CLOEXEC);
    if (ovl < 0) die("fsopen", "overlay");
    if (fsconfig(ovl, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) != 0) die("fsconfig", "userxattr");
    for (int i = argc - 1; i >= 1; --i) set_dir(ovl, "lowerdir+", layers[i]);
    set_dir(ovl, "upperdir", open_dir("/tmp/upper"));
    set_dir(ovl, "workdir", open_dir("/tmp/work"));
    if (fsconfig(ovl, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) die("fsconfig", "overlay create");
    int ovl_mnt = fsmount(ovl, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
    if (ovl_mnt < 0) die("fsmount", "overlay");
    if (move_mount(ovl_mnt, "", AT_FDCWD, "/tmp/merged", MOVE_MOUNT_F_EMPTY_PATH) != 0)
        die("move_mount", "/tmp/merged");
    if (count) {
        DIR* dir = opendir("/tmp/merged");
        if (!dir) die("opendir", "/tmp/merged");
        int entries = 0;
        for (struct dirent* e; (e = readdir(dir));)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) ++entries;
        printf("%d\n", entries);
        fflush(stdout);
    }
    if (exec_path) {
        char path[4096];
        snprintf(path, sizeof path, "/tmp/merged%s", exec_path);
        char* args[] = {path, NULL};
        char* env[] = {NULL};
        execve(path, args, env);
        die("execve", path);
    }
    return 0;
}

/* The seccomp suite's probe, built by the test with `cc -static`: makes each system
 * call the default filter refuses, straight through syscall(2), and prints one line
 * per call: its name and the errno it got ("ok" when it succeeded).
 *
 * Every call gets arguments that change nothing even where it is allowed and
 * privileged (null or invalid pointers, fds, flags or commands), so the probe is
 * harmless with --seccomp=off and as root. On x86-64 it also makes getpid through
 * the 32-bit ABI (int 0x80) and through the x32 ABI (bit 30 set in the number).
 *
 *   probe deny-seccomp CMD [ARG...]   runs CMD where seccomp(2) and
 *                                     prctl(PR_SET_SECCOMP) fail with EPERM, as under
 *                                     a runtime that refuses nested filters
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void report(const char *name, long result, int error) {
    if (result < 0) printf("%s %s\n", name, strerrorname_np(error) ? strerrorname_np(error) : "unknown");
    else printf("%s ok\n", name);
}

#define PROBE(name, ...)                                      \
    do {                                                      \
        errno = 0;                                            \
        long result_ = syscall(SYS_##name, __VA_ARGS__);      \
        report(#name, result_, errno);                        \
    } while (0)

static int deny_seccomp(char **command) {
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_seccomp, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_prctl, 0, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_SECCOMP, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    };
    struct sock_fprog program = {sizeof code / sizeof code[0], code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
        perror("probe: installing the filter");
        return 2;
    }
    execvp(command[0], command);
    perror(command[0]);
    return 127;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "deny-seccomp") == 0) return deny_seccomp(argv + 2);
    PROBE(add_key, NULL, NULL, NULL, 0, 0);
    PROBE(keyctl, -1, 0, 0, 0, 0);  /* no such operation */
    PROBE(request_key, NULL, NULL, NULL, 0);
    PROBE(bpf, -1, NULL, 0);
    PROBE(perf_event_open, NULL, 0, -1, -1, 0);
    PROBE(lookup_dcookie, 0, NULL, 0);
    PROBE(kexec_load, 0, 0, NULL, -1L);  /* invalid flags */
    PROBE(kexec_file_load, -1, -1, 0, NULL, -1L);
    PROBE(init_module, NULL, 0, NULL);
    PROBE(finit_module, -1, NULL, 0);
    PROBE(delete_module, NULL, 0);
    PROBE(userfaultfd, -1);
    PROBE(open_by_handle_at, -1, NULL, 0);
#ifdef SYS_iopl
    PROBE(iopl, 0);                /* never raises the level */
    PROBE(ioperm, 0, 0, 0);        /* an empty range */
#endif
    PROBE(swapon, NULL, 0);
    PROBE(swapoff, NULL);
    PROBE(acct, (const char *)1);  /* a bad pointer: never turns accounting off */
    PROBE(quotactl, -1, NULL, 0, NULL);
    PROBE(quotactl_fd, -1, -1, 0, NULL);
    PROBE(settimeofday, NULL, NULL);
    PROBE(clock_settime, CLOCK_REALTIME, NULL);
#ifdef __x86_64__
    long result;
    __asm__ volatile("int $0x80" : "=a"(result) : "0"(20L /* getpid, i386 */) : "memory");
    report("int80_getpid", result, (int)-result);
    errno = 0;
    result = syscall(0x40000000L | SYS_getpid);
    report("x32_getpid", result, errno);
#endif
    return 0;
}

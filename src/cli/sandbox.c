/*
 * sandbox.c - seccomp and Landlock confinement for every desk command (see
 * sandbox.h; docs/SECURITY.md states the policy in words).
 *
 * seccomp comes from libseccomp (an allow-list per mode: anything not
 * listed fails with EPERM); Landlock has no library on Debian 12, so it is
 * driven through its three system calls, with the constants of ABIs newer
 * than the installed <linux/landlock.h> defined here (they are kernel ABI,
 * fixed once released).  The ABI is probed at run time and each feature
 * used where the kernel has it.
 */
#define _GNU_SOURCE /* syscall, O_PATH */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli.h"

/* ---- Landlock ABI constants newer than Debian 12's header ---- */

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0) /* ABI 4 */
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#define DESK_LL_RULE_NET_PORT 2 /* LANDLOCK_RULE_NET_PORT, ABI 4 */
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* struct landlock_ruleset_attr as of ABI 6; older kernels are passed the
 * prefix they know (its size names the version). */
typedef struct ll_ruleset_attr {
    uint64_t handled_fs, handled_net, scoped;
} ll_ruleset_attr;

/* struct landlock_net_port_attr (ABI 4). */
typedef struct __attribute__((packed)) ll_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
} ll_net_port_attr;

#if defined(__SANITIZE_ADDRESS__)
#define DESK_SANITIZED_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DESK_SANITIZED_BUILD 1
#endif
#endif
#ifndef DESK_SANITIZED_BUILD
#define DESK_SANITIZED_BUILD 0
#endif

/* ---- the policies ---- */

typedef struct mode_policy {
    const char *name;
    bool serve;         /* accepted connections: receive, send, epoll, eventfd */
    bool client;        /* TCP connections out, to one port (bench --url) */
    bool tty;           /* line editing: terminal settings and terminfo */
    const char *reads;  /* for `desk sandbox`: what the command names to read */
    const char *writes; /* and to write */
} mode_policy;

static const mode_policy MODES[] = {
    {"run", false, false, false, "the model", "the --manifest file"},
    {"replay", false, false, false, "the manifest's model and adapters", "nothing (standard output)"},
    {"chat", false, false, true, "the model, terminfo", "nothing (standard output)"},
    {"perplexity", false, false, false, "the model, the text, a KL-divergence base", "a KL-divergence base being saved"},
    {"bench", false, false, false, "the models, the reports shown or compared", "the -o and --html reports"},
    {"bench-url", false, true, false, "the --dataset file, name resolution and CA files", "the -o and --html reports"},
    {"serve", true, false, false, "the models", "nothing"},
    {"tokenize", false, false, false, "the model", "nothing (standard output)"},
    {"info", false, false, false, "the model", "nothing (standard output)"},
    {"quantize", false, false, false, "the input model", "the output model"},
    {"synth", false, false, false, "the vocabulary model", "the output model"},
    {"tune", false, false, false, "the model, the training and validation data", "the adapter"},
    {"fit", false, false, false, "the models", "nothing (standard output)"},
    {"cost", false, false, false, "the --bench report", "nothing (standard output)"},
};
#define N_MODES (sizeof MODES / sizeof MODES[0])

size_t cli_sandbox_n_modes(void) { return N_MODES; }

const char *cli_sandbox_mode(size_t i) { return i < N_MODES ? MODES[i].name : NULL; }

/* What computing on local files needs: file I/O on descriptors and on
 * paths (Landlock decides which paths), memory, threads and their
 * synchronisation, time, signals to itself.  Nothing here creates a
 * socket, reaches another process or runs a program.  Names a platform
 * lacks (open on aarch64) are skipped. */
static const char *const BASE_CALLS[] = {
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
    "lseek", "open", "openat", "close", "close_range", "stat", "fstat", "lstat", "newfstatat", "statx",
    "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64", "getcwd", "rename",
    "renameat", "renameat2", "unlink", "unlinkat", "fsync", "fdatasync", "ftruncate", "fallocate",
    "fchmod", "umask", "fadvise64", "readahead", "mmap", "munmap", "mremap", "mprotect", "madvise", "brk",
    "mincore", "msync", "mlock", "munlock", "futex", "futex_waitv", "set_robust_list", "get_robust_list",
    "rseq", "set_tid_address", "exit", "exit_group", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "rt_sigtimedwait", "rt_sigpending", "sigaltstack", "getpid", "gettid", "getppid", "clock_gettime",
    "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time", "sched_yield",
    "sched_getaffinity", "sched_setaffinity", "getpriority", "getrandom", "fcntl", "dup", "dup2", "dup3",
    "poll", "ppoll", "select", "pselect6", "prlimit64", "getrlimit", "getrusage", "sysinfo", "uname",
    "times", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "prctl", "membarrier",
    "arch_prctl", "restart_syscall",
};

/* serve, on top: its listening socket exists before the filter; it may
 * accept on it and talk on the accepted connections (epoll and an eventfd
 * are libmicrohttpd's event loop and its inter-thread signal).  No socket,
 * socketpair, connect, bind or listen.  sendmsg's address lies in memory a
 * filter cannot read: it stays allowed because the only sockets that can
 * exist are connected TCP streams, where an address is refused. */
static const char *const SERVE_CALLS[] = {
    "accept", "accept4", "recvfrom", "recvmsg", "shutdown", "setsockopt", "getsockopt", "getsockname",
    "getpeername", "sendmsg", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
    "epoll_pwait2", "eventfd", "eventfd2",
};

/* bench --url, on top: libcurl's connections (poll or epoll, its wake-up
 * pipe or socket pair).  Sockets are TCP streams only (apply_seccomp checks
 * socket's arguments; socketpair is AF_UNIX): no UDP, so no DNS query
 * either, and names resolve from /etc/hosts.  send without an address only.
 * Landlock (ABI 4) narrows connect to the one port of the URL. */
static const char *const CLIENT_CALLS[] = {
    "connect", "getsockopt", "setsockopt", "getsockname", "getpeername", "recvfrom", "recvmsg", "shutdown",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "eventfd", "eventfd2", "pipe", "pipe2",
};
/* What resolving a name and checking a certificate read. */
static const char *const CLIENT_READ[] = {
    "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/host.conf",
    "/etc/ssl", "/usr/lib/ssl", "/usr/share/ca-certificates", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
};

/* The sanitizer build's leak check stops the world at exit: a helper
 * (a clone without CLONE_THREAD) lists /proc/PID/task with the old
 * getdents and ptrace-attaches to every thread. */
static const char *const SANITIZER_CALLS[] = {"ptrace", "wait4", "getdents"};

/* Terminal requests every mode may make (isatty, window size); chat adds
 * setting the terminal for line editing.  TIOCSTI (typing into the
 * terminal) is never among them. */
static const unsigned long IOCTL_ANY[] = {TCGETS, TIOCGWINSZ, FIONREAD};
static const unsigned long IOCTL_TTY[] = {TCSETS, TCSETSW, TCSETSF, TIOCGPGRP, TCFLSH, TCXONC};

/* System files any mode may read: CPU topology and features, memory
 * figures, this process's own /proc entries, the time zone, OpenSSL's
 * configuration (read when libcrypto first hashes), random bytes, and the
 * RAPL energy counters bench reads. */
static const char *const SYS_READ[] = {
    "/proc/self", "/proc/meminfo", "/proc/cpuinfo", "/sys/devices/system/cpu",
    "/sys/kernel/mm/transparent_hugepage", "/sys/class/powercap", "/dev/urandom", "/dev/null",
    "/etc/localtime", "/usr/lib/ssl/openssl.cnf",
};
/* chat's line editor reads the terminal's description. */
static const char *const TTY_READ[] = {"/etc/terminfo", "/lib/terminfo", "/usr/share/terminfo"};

static const mode_policy *find_mode(const char *name) {
    for (size_t i = 0; i < N_MODES; i++)
        if (strcmp(MODES[i].name, name) == 0) return &MODES[i];
    return NULL;
}

/* The process's one setting (--no-sandbox): the CLI's, not the library's. */
static bool g_disabled;

void cli_sandbox_disable(void) { g_disabled = true; }

/* ---- probing ---- */

int cli_sandbox_landlock_abi(void) {
    long v = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

bool cli_sandbox_seccomp_available(void) {
    /* PR_GET_SECCOMP answers on any kernel built with seccomp; filters
     * (mode 2) came in 3.5, which every kernel desk runs on has. */
    return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 && seccomp_api_get() >= 1;
}

/* ---- Landlock ---- */

static uint64_t fs_handled(int abi) {
    uint64_t m = LANDLOCK_ACCESS_FS_REFER - 1; /* ABI 1: bits 0..12 */
    if (abi >= 2) m |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) m |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5) m |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return m;
}

/* Rights Landlock accepts on a rule for a file that is not a directory. */
#define FILE_RIGHTS (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
                     LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* Adds RIGHTS beneath PATH (trimmed to what a file takes when it is one,
 * and to what the ABI handles).  A path that does not exist is skipped:
 * the system lists name files some machines lack.  Returns 0 or an errno. */
static int ll_add_path(int ruleset, const char *path, uint64_t rights, int abi) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? 0 : errno;
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) != 0) {
        rc = errno;
    } else {
        if (!S_ISDIR(sb.st_mode)) rights &= FILE_RIGHTS;
        struct landlock_path_beneath_attr pb = {.allowed_access = rights & fs_handled(abi), .parent_fd = fd};
        if (pb.allowed_access &&
            syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0)
            rc = errno;
    }
    close(fd);
    return rc;
}

/* The directory holding output file PATH ("." when it has none), in BUF. */
static const char *dir_of(const char *path, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) return ".";
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= cap) n = cap - 1;
    memcpy(buf, path, n);
    buf[n] = 0;
    return buf;
}

static int fail(const char *mode, const char *what, int e) {
    return cli_fail(mode, DESK_EXIT_FAIL, "sandbox: %s: %s (--no-sandbox runs without it)", what, strerror(e));
}

static int apply_landlock(const char *mode, const mode_policy *mp, const cli_sandbox_spec *s, int abi) {
    ll_ruleset_attr attr = {.handled_fs = fs_handled(abi)};
    size_t size = sizeof attr.handled_fs;
    if (abi >= 4) {
        attr.handled_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
        size = 2 * sizeof(uint64_t);
    }
    if (abi >= 6) {
        attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
        size = sizeof attr;
    }
    int rs = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0) return fail(mode, "cannot create a Landlock ruleset", errno);
    const uint64_t R = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
    /* An output is written as a temporary file (opened read-write), then
     * renamed over the output in the same directory. */
    const uint64_t W = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG |
                       LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE;
    int e = 0;
    const char *bad = NULL;
    for (size_t i = 0; !e && i < sizeof SYS_READ / sizeof SYS_READ[0]; i++)
        if ((e = ll_add_path(rs, SYS_READ[i], R, abi))) bad = SYS_READ[i];
    /* bench resets its peak RSS figure through this file. */
    if (!e && (e = ll_add_path(rs, "/proc/self/clear_refs",
                                 LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE, abi)))
        bad = "/proc/self/clear_refs";
    if (!e && (e = ll_add_path(rs, "/dev/null", LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE, abi))) bad = "/dev/null";
    for (size_t i = 0; !e && mp->tty && i < sizeof TTY_READ / sizeof TTY_READ[0]; i++)
        if ((e = ll_add_path(rs, TTY_READ[i], R, abi))) bad = TTY_READ[i];
    for (size_t i = 0; !e && mp->client && i < sizeof CLIENT_READ / sizeof CLIENT_READ[0]; i++)
        if ((e = ll_add_path(rs, CLIENT_READ[i], R, abi))) bad = CLIENT_READ[i];
    for (size_t i = 0; !e && i < s->n_read; i++)
        if (s->read[i] && (e = ll_add_path(rs, s->read[i], R, abi))) bad = s->read[i];
    char dir[4096];
    for (size_t i = 0; !e && i < s->n_write; i++) {
        if (!s->write[i]) continue;
        const char *d = dir_of(s->write[i], dir, sizeof dir);
        if ((e = ll_add_path(rs, d, W, abi))) bad = d;
    }
    if (!e && abi >= 4 && (mp->serve || mp->client) && s->port > 0) {
        ll_net_port_attr np = {.allowed_access = mp->serve ? LANDLOCK_ACCESS_NET_BIND_TCP : LANDLOCK_ACCESS_NET_CONNECT_TCP,
                               .port = (uint64_t)s->port};
        if (syscall(__NR_landlock_add_rule, rs, DESK_LL_RULE_NET_PORT, &np, 0) != 0) e = errno, bad = "the TCP port";
    }
    if (e) {
        close(rs);
        char what[4200];
        snprintf(what, sizeof what, "Landlock rule for %s", bad);
        return fail(mode, what, e);
    }
    int rc = (int)syscall(__NR_landlock_restrict_self, rs, 0);
    e = errno;
    close(rs);
    return rc == 0 ? 0 : fail(mode, "cannot restrict this process with Landlock", e);
}

/* ---- seccomp ---- */

static int allow_names(scmp_filter_ctx ctx, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int nr = seccomp_syscall_resolve_name(names[i]);
        if (nr == __NR_SCMP_ERROR) continue;
        int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (rc < 0) return -rc;
    }
    return 0;
}

/* One argument comparison, every field given (libseccomp's SCMP_An
 * macros leave datum_b out, which clang's -Wextra refuses). */
static struct scmp_arg_cmp arg_is(unsigned arg, enum scmp_compare op, scmp_datum_t a, scmp_datum_t b) {
    return (struct scmp_arg_cmp){.arg = arg, .op = op, .datum_a = a, .datum_b = b};
}

static int apply_seccomp(const char *mode, const mode_policy *mp) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx) return fail(mode, "cannot start a seccomp filter", ENOMEM);
    int e = -seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (!e) e = allow_names(ctx, BASE_CALLS, sizeof BASE_CALLS / sizeof BASE_CALLS[0]);
    if (!e && mp->serve) e = allow_names(ctx, SERVE_CALLS, sizeof SERVE_CALLS / sizeof SERVE_CALLS[0]);
    if (!e && mp->client) e = allow_names(ctx, CLIENT_CALLS, sizeof CLIENT_CALLS / sizeof CLIENT_CALLS[0]);
    if (!e && DESK_SANITIZED_BUILD)
        e = allow_names(ctx, SANITIZER_CALLS, sizeof SANITIZER_CALLS / sizeof SANITIZER_CALLS[0]);
    /* Threads only (the sanitizer's leak checker excepted): a clone
     * without CLONE_THREAD would be a new process. */
    if (!e)
        e = DESK_SANITIZED_BUILD ? -seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0)
                                 : -seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                                     arg_is(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    /* clone3's flags lie in memory a filter cannot read: ENOSYS makes the
     * C library fall back to clone, which is checked above. */
    if (!e) e = -seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* Signals to this process only. */
    if (!e)
        e = -seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, arg_is(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0));
    /* send and sendto without an address (a connected socket) only. */
    if (!e && (mp->serve || mp->client))
        e = -seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1, arg_is(4, SCMP_CMP_EQ, 0, 0));
    /* bench --url: TCP stream sockets (IPv4 or IPv6), and AF_UNIX pairs. */
    const scmp_datum_t stream_mask = 0xf; /* the type without SOCK_NONBLOCK / SOCK_CLOEXEC */
    for (int d = 0; !e && mp->client && d < 2; d++)
        e = -seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2, arg_is(0, SCMP_CMP_EQ, d ? AF_INET6 : AF_INET, 0),
                              arg_is(1, SCMP_CMP_MASKED_EQ, stream_mask, SOCK_STREAM));
    if (!e && mp->client)
        e = -seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, arg_is(0, SCMP_CMP_EQ, AF_UNIX, 0));
    for (size_t i = 0; !e && i < sizeof IOCTL_ANY / sizeof IOCTL_ANY[0]; i++)
        e = -seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, arg_is(1, SCMP_CMP_EQ, IOCTL_ANY[i], 0));
    for (size_t i = 0; !e && mp->tty && i < sizeof IOCTL_TTY / sizeof IOCTL_TTY[0]; i++)
        e = -seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, arg_is(1, SCMP_CMP_EQ, IOCTL_TTY[i], 0));
    if (!e) e = -seccomp_load(ctx);
    seccomp_release(ctx);
    /* A kernel (or an emulator such as valgrind) that refuses filters is a
     * missing feature: said once, and the rest stays in force. */
    if (e == EOPNOTSUPP || e == ENOSYS || e == EINVAL) {
        fprintf(stderr, "desk %s: note: seccomp filters are not available here (%s): system calls are not confined\n",
                mode, strerror(e));
        return 0;
    }
    return e ? fail(mode, "cannot install the seccomp filter", e) : 0;
}

/* ---- applying ---- */

int cli_sandbox_apply(const char *mode, const cli_sandbox_spec *spec) {
    if (g_disabled) return 0;
    const mode_policy *mp = find_mode(mode);
    if (!mp) return cli_fail(mode, DESK_EXIT_FAIL, "sandbox: no policy for this mode");
    static const cli_sandbox_spec none = {0};
    if (!spec) spec = &none;
    /* Both need it (Landlock unless privileged): no exec could regain
     * privileges anyway, and it keeps the two independent. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail(mode, "cannot set no_new_privs", errno);
    /* Landlock first: its own system calls are not in the seccomp list. */
    int abi = cli_sandbox_landlock_abi();
    if (abi == 0) {
        fprintf(stderr, "desk %s: note: this kernel has no Landlock: file and TCP access are not confined\n", mode);
    } else {
        if (abi < 4)
            fprintf(stderr, "desk %s: note: Landlock ABI %d has no network rules (4 does): TCP is confined by seccomp only\n",
                    mode, abi);
        int rc = apply_landlock(mode, mp, spec, abi);
        if (rc) return rc;
    }
    if (!cli_sandbox_seccomp_available()) {
        fprintf(stderr, "desk %s: note: this kernel has no seccomp filters: system calls are not confined\n", mode);
        return 0;
    }
    return apply_seccomp(mode, mp);
}

/* ---- desk sandbox ---- */

static const char SANDBOX_USAGE[] =
    "usage: desk sandbox\n"
    "\n"
    "Prints what this kernel enforces when each desk command confines itself\n"
    "(seccomp and Landlock; see docs/SECURITY.md).  Every command does so after\n"
    "parsing its arguments; `desk --no-sandbox CMD ...` (or --no-sandbox anywhere\n"
    "among CMD's arguments) runs it unconfined, with a warning.\n";

/* One mode's paragraph: what it may read, write and do on the network,
 * with what this kernel's seccomp and Landlock ABI make of it. */
static void report_mode(const mode_policy *mp, bool sc, int abi) {
    printf("%s\n", mp->name);
    if (sc) {
        printf("  seccomp  allow-list (anything else fails with EPERM): no exec, fork, ptrace, io_uring\n");
        if (mp->serve)
            printf("           sockets: accept on its listening socket, send and receive on accepted connections;\n"
                   "           no socket, connect, bind, listen, or sendto with an address\n");
        else if (mp->client)
            printf("           sockets: TCP streams out (libcurl); no UDP (names resolve from /etc/hosts), bind or listen\n");
        else
            printf("           sockets: none\n");
        if (mp->tty) printf("           terminal settings for line editing\n");
    } else {
        printf("  seccomp  not available on this kernel\n");
    }
    if (abi == 0) {
        printf("  files    not confined (no Landlock on this kernel)\n");
        return;
    }
    printf("  files    read: %s, system files (/proc/self, CPU and memory figures)\n", mp->reads);
    printf("           write: %s%s\n", mp->writes,
           strncmp(mp->writes, "nothing", 7) ? " (their directories: temporary file, then rename)" : "");
    printf("           no exec%s (Landlock ABI %d)\n", abi >= 5 ? ", no ioctl on devices" : "", abi);
    if (abi >= 4)
        printf("  network  TCP connect: %s; TCP bind: %s (Landlock)\n", mp->client ? "the URL's port only" : "none",
               mp->serve ? "its own port only" : "none");
    else
        printf("  network  TCP rules need Landlock ABI 4: seccomp alone denies sockets\n");
    if (abi >= 6) printf("  scope    no signals to other processes, no abstract unix sockets (Landlock)\n");
}

int cmd_sandbox(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return cli_usage(SANDBOX_USAGE);
        return cli_fail("sandbox", DESK_EXIT_USAGE, "unknown argument '%s' (see desk sandbox --help)", argv[i]);
    }
    const bool sc = cli_sandbox_seccomp_available();
    const int abi = cli_sandbox_landlock_abi();
    struct utsname u;
    if (uname(&u) != 0) snprintf(u.release, sizeof u.release, "?");
    printf("kernel: Linux %s; seccomp filters: %s; Landlock: ", u.release, sc ? "yes" : "no");
    if (abi) printf("ABI %d\n", abi); else printf("no\n");
    if (DESK_SANITIZED_BUILD) printf("sanitizer build: ptrace and wait4 allowed for the leak checker\n");
    printf("\n");
    for (size_t i = 0; i < N_MODES; i++) report_mode(&MODES[i], sc, abi);
    return 0;
}

/*
 * test_sandbox.c - every mode's sandbox refuses what a leak would need.
 *
 * For each mode a child process makes a TCP and a UDP socket (before
 * confinement, so that connect and sendto themselves are tried), confines
 * itself with cli_sandbox_apply (the call each command makes, linked from
 * src/cli/sandbox.c), then tries: a TCP connect to a loopback listener, a
 * UDP send to a loopback receiver, a new socket, a write outside its
 * declared output, a read of a file it was not given, an exec, a new
 * process and io_uring.  Each must fail with EPERM or EACCES, and the
 * listener and receiver must have received nothing.  What the mode is
 * allowed (reading its input, writing its output through a temporary file
 * and a rename, starting threads) must still work.  Then the real commands
 * run with and without --no-sandbox and their greedy output must match.
 */
#define _GNU_SOURCE /* syscall, pipe2 */
#include "util/testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

typedef struct fixture {
    char dir[64];
    char input[128], secret[128], output[160], outside[160], outdir[128], otherdir[128];
    int tcp_listener, udp_receiver;
    struct sockaddr_in tcp_addr, udp_addr;
} fixture;

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void loopback_socket(int type, int *fd, struct sockaddr_in *addr) {
    *fd = socket(AF_INET, type | SOCK_NONBLOCK, 0);
    assert_true(*fd >= 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(*fd, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t n = sizeof *addr;
    assert_int_equal(getsockname(*fd, (struct sockaddr *)addr, &n), 0);
    if (type == SOCK_STREAM) assert_int_equal(listen(*fd, 4), 0);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/desk_sandbox_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->outdir, sizeof f->outdir, "%s/out", f->dir);
    snprintf(f->otherdir, sizeof f->otherdir, "%s/other", f->dir);
    mkdir(f->outdir, 0700);
    mkdir(f->otherdir, 0700);
    snprintf(f->input, sizeof f->input, "%s/input.txt", f->dir);
    snprintf(f->secret, sizeof f->secret, "%s/secret.txt", f->dir);
    snprintf(f->output, sizeof f->output, "%s/result.txt", f->outdir);
    snprintf(f->outside, sizeof f->outside, "%s/stolen.txt", f->otherdir);
    write_file(f->input, "the input\n");
    write_file(f->secret, "the secret\n");
    loopback_socket(SOCK_STREAM, &f->tcp_listener, &f->tcp_addr);
    loopback_socket(SOCK_DGRAM, &f->udp_receiver, &f->udp_addr);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    close(f->tcp_listener);
    close(f->udp_receiver);
    const char *files[] = {f->input, f->secret, f->output, f->outside};
    for (size_t i = 0; i < 4; i++) unlink(files[i]);
    rmdir(f->outdir);
    rmdir(f->otherdir);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A refusal: -1 with errno EPERM (seccomp) or EACCES (Landlock). */
static bool refused(long rc, int e) { return rc == -1 && (e == EPERM || e == EACCES); }

static void *thread_body(void *arg) { return arg; }

/* The child's checks, one letter each in OUT: '.' as expected, else the
 * letter of the check that went wrong (the parent prints them). */
static void child_checks(const fixture *f, const char *mode, char *out) {
    int tcp = socket(AF_INET, SOCK_STREAM, 0), udp = socket(AF_INET, SOCK_DGRAM, 0);
    const char *reads[] = {f->input};
    const char *writes[] = {f->output};
    cli_sandbox_spec spec = {.read = reads, .n_read = 1, .write = writes, .n_write = 1,
                             .port = strcmp(mode, "serve") == 0 ? 65001 : 0};
    if (cli_sandbox_apply(mode, &spec) != 0) {
        strcpy(out, "apply failed");
        return;
    }
    const bool landlock = cli_sandbox_landlock_abi() > 0;
    size_t k = 0;
    long rc = connect(tcp, (const struct sockaddr *)&f->tcp_addr, sizeof f->tcp_addr);
    out[k++] = refused(rc, errno) ? '.' : 'C';
    rc = sendto(udp, "x", 1, 0, (const struct sockaddr *)&f->udp_addr, sizeof f->udp_addr);
    out[k++] = refused(rc, errno) ? '.' : 'U';
    rc = socket(AF_INET, SOCK_DGRAM, 0);
    out[k++] = refused(rc, errno) ? '.' : 'S';
    rc = socket(AF_UNIX, SOCK_STREAM, 0);
    out[k++] = refused(rc, errno) ? '.' : 'X';
    if (landlock) {
        rc = open(f->outside, O_WRONLY | O_CREAT, 0600);
        out[k++] = refused(rc, errno) ? '.' : 'W';
        rc = open(f->secret, O_RDONLY);
        out[k++] = refused(rc, errno) ? '.' : 'R';
    }
    char *const argv[] = {"/bin/true", NULL};
    rc = execve("/bin/true", argv, NULL);
    out[k++] = refused(rc, errno) ? '.' : 'E';
    struct io_uring_params p = {0};
    rc = syscall(__NR_io_uring_setup, 1, &p);
    out[k++] = refused(rc, errno) ? '.' : 'I';
    if (!SANITIZED) { /* the leak checker's helper needs a plain clone there */
        pid_t pid = fork();
        if (pid == 0) _exit(0);
        out[k++] = refused(pid, errno) ? '.' : 'F';
    }
    /* What the mode may do. */
    int fd = open(f->input, O_RDONLY);
    char buf[16];
    out[k++] = fd >= 0 && read(fd, buf, sizeof buf) > 0 ? '.' : 'r';
    if (fd >= 0) close(fd);
    char tmp[192];
    snprintf(tmp, sizeof tmp, "%s.tmp", f->output);
    fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_TRUNC, 0600);
    bool wrote = fd >= 0 && write(fd, "ok\n", 3) == 3;
    if (fd >= 0) close(fd);
    out[k++] = wrote && rename(tmp, f->output) == 0 ? '.' : 'w';
    pthread_t th;
    out[k++] = pthread_create(&th, NULL, thread_body, NULL) == 0 && pthread_join(th, NULL) == 0 ? '.' : 't';
    out[k] = 0;
}

static void check_mode(const fixture *f, const char *mode) {
    int pipefd[2];
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        char out[64] = {0};
        child_checks(f, mode, out);
        ssize_t w = write(pipefd[1], out, strlen(out));
        _exit(w > 0 ? 0 : 1);
    }
    close(pipefd[1]);
    char got[64] = {0};
    ssize_t n = read(pipefd[0], got, sizeof got - 1);
    close(pipefd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(n > 0);
    bool ok = strspn(got, ".") == strlen(got);
    if (!ok) fprintf(stderr, "mode %s: checks %s (a letter names a check that went wrong)\n", mode, got);
    assert_true(ok);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Nothing arrived, and nothing was written outside. */
    int c = accept(f->tcp_listener, NULL, NULL);
    assert_true(c < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    char b;
    assert_true(recv(f->udp_receiver, &b, 1, MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    struct stat sb;
    assert_int_not_equal(stat(f->outside, &sb), 0);
    assert_int_equal(stat(f->output, &sb), 0);
    unlink(f->output);
}

static void test_every_mode_refuses(void **state) {
    const fixture *f = *state;
    assert_true(cli_sandbox_seccomp_available());
    if (cli_sandbox_landlock_abi() == 0) fprintf(stderr, "note: no Landlock here: file checks left out\n");
    for (size_t i = 0; i < cli_sandbox_n_modes(); i++) check_mode(f, cli_sandbox_mode(i));
}

/* The probes are real: with --no-sandbox the same connect and send reach
 * the listener and the receiver (so the refusals above are the sandbox's). */
static void test_probes_reach_without_sandbox(void **state) {
    const fixture *f = *state;
    pid_t pid = fork();
    if (pid == 0) {
        cli_sandbox_disable();
        int tcp = socket(AF_INET, SOCK_STREAM, 0), udp = socket(AF_INET, SOCK_DGRAM, 0);
        bool ok = cli_sandbox_apply("run", NULL) == 0 &&
                  connect(tcp, (const struct sockaddr *)&f->tcp_addr, sizeof f->tcp_addr) == 0 &&
                  sendto(udp, "x", 1, 0, (const struct sockaddr *)&f->udp_addr, sizeof f->udp_addr) == 1;
        _exit(ok ? 0 : 4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int c = accept(f->tcp_listener, NULL, NULL);
    assert_true(c >= 0);
    close(c);
    char b = 0;
    assert_int_equal(recv(f->udp_receiver, &b, 1, MSG_DONTWAIT), 1);
    assert_int_equal(b, 'x');
}

/* An unknown mode is an error, not an unconfined run. */
static void test_unknown_mode(void **state) {
    (void)state;
    pid_t pid = fork();
    if (pid == 0) _exit(cli_sandbox_apply("download", NULL) == 0 ? 0 : 3);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 3);
}

/* The real commands under their sandbox: greedy output unchanged. */
static void compare_runs(const char *const *args, size_t n) {
    const char *with[24], *without[25];
    without[0] = "--no-sandbox";
    for (size_t i = 0; i < n; i++) with[i] = args[i], without[i + 1] = args[i];
    with[n] = NULL;
    without[n + 1] = NULL;
    tu_run a, b;
    tu_desk(&a, NULL, 0, with);
    tu_desk(&b, NULL, 0, without);
    if (a.code != 0) fprintf(stderr, "sandboxed: exit %d: %s\n", a.code, a.err);
    assert_int_equal(a.code, 0);
    assert_int_equal(b.code, 0);
    assert_true(strlen(a.out) > 0);
    assert_string_equal(a.out, b.out);
    assert_non_null(strstr(b.err, "--no-sandbox"));
    assert_null(strstr(a.err, "--no-sandbox"));
    tu_run_free(&a);
    tu_run_free(&b);
}

static void test_run_unchanged(void **state) {
    (void)state;
    const char *args[] = {"run", "-m", "smollm2", "-p", "The capital of France is", "-n", "12", "--temp", "0"};
    compare_runs(args, sizeof args / sizeof args[0]);
}

static void test_perplexity_unchanged(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/model/ppl.txt", tu_source_dir());
    const char *args[] = {"perplexity", "-m", "smollm2", "-f", path, "--ctx", "64", "--chunks", "2", "--json"};
    compare_runs(args, sizeof args / sizeof args[0]);
}

static void test_sandbox_report(void **state) {
    (void)state;
    tu_run r;
    tu_desk(&r, NULL, 0, (const char *[]){"sandbox", NULL});
    assert_int_equal(r.code, 0);
    for (size_t i = 0; i < cli_sandbox_n_modes(); i++) {
        char line[64];
        snprintf(line, sizeof line, "\n%s\n", cli_sandbox_mode(i));
        assert_non_null(strstr(r.out, line));
    }
    assert_non_null(strstr(r.out, "seccomp filters: yes"));
    tu_run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_mode_refuses),
        cmocka_unit_test(test_probes_reach_without_sandbox),
        cmocka_unit_test(test_unknown_mode),
        cmocka_unit_test(test_run_unchanged),
        cmocka_unit_test(test_perplexity_unchanged),
        cmocka_unit_test(test_sandbox_report),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

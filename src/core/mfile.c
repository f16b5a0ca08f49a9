/*
 * mfile.c - mmap-based file access and temp-then-rename output.
 */
#define _GNU_SOURCE
#include "core/mfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

/* What a file that is not regular is, for the message. */
static const char *kind_of(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a plain file";
}

static desk_status open_regular(const char *path, int *fd_out, size_t *size, desk_status missing, desk_err *err) {
    *fd_out = -1;
    if (!path || !*path) return desk_errf(err, DESK_E_ARG, "no file path given");
    /* O_NONBLOCK: opening a FIFO with no writer (or a device that waits)
     * returns at once instead of blocking; it is cleared below. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return desk_errf(err, e == ENOENT || e == ENOTDIR ? missing : DESK_E_IO, "%s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return desk_errf(err, DESK_E_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return desk_errf(err, DESK_E_ARG, "%s: not a regular file (%s)", path, kind_of(st.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return desk_errf(err, DESK_E_IO, "%s: %s", path, strerror(e));
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return desk_errf(err, DESK_E_RANGE, "%s: too large to map", path);
    }
    *fd_out = fd;
    if (size) *size = (size_t)st.st_size;
    return DESK_OK;
}

desk_status desk_file_open_read(const char *path, int *fd, size_t *size, desk_err *err) {
    return open_regular(path, fd, size, DESK_E_IO, err);
}

desk_status desk_mfile_open(const char *path, desk_mfile *mf, desk_err *err) {
    mf->data = NULL;
    mf->size = 0;
    int fd;
    size_t size;
    desk_status st = desk_file_open_read(path, &fd, &size, err);
    if (st != DESK_OK) return st;
    if (size == 0) {
        close(fd);
        return DESK_OK;
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    /* No address space (ulimit -v) is a lack of resources, not bad input. */
    if (p == MAP_FAILED)
        return desk_errf(err, e == ENOMEM ? DESK_E_NOMEM : DESK_E_IO, "%s: mmap: %s", path, strerror(e));
    mf->data = p;
    mf->size = size;
    return DESK_OK;
}

/* Reads FD to its end into *BUF, at most MAX bytes (one more is an error). */
static desk_status read_fd_capped(int fd, FILE *f, const char *what, size_t max, size_t hint, char **buf,
                                  size_t *len, desk_err *err) {
    *buf = NULL;
    *len = 0;
    size_t cap = hint < max ? hint + 1 : max + 1, n = 0;
    if (cap < 4096) cap = max + 1 < 4096 ? max + 1 : 4096;
    char *b = malloc(cap + 1);
    if (!b) return desk_errf(err, DESK_E_NOMEM, "%s: out of memory", what);
    for (;;) {
        if (n == cap) {
            if (cap > max) break; /* holds max + 1 bytes: too long */
            size_t nc = cap > max / 2 ? max + 1 : cap * 2;
            char *p = realloc(b, nc + 1);
            if (!p) {
                free(b);
                return desk_errf(err, DESK_E_NOMEM, "%s: out of memory", what);
            }
            b = p;
            cap = nc;
        }
        size_t got;
        if (f) {
            got = fread(b + n, 1, cap - n, f);
            if (got == 0) {
                if (ferror(f)) {
                    int e = errno;
                    free(b);
                    return desk_errf(err, DESK_E_IO, "%s: read error: %s", what, strerror(e));
                }
                break;
            }
        } else {
            ssize_t r = read(fd, b + n, cap - n);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) {
                int e = errno;
                free(b);
                return desk_errf(err, DESK_E_IO, "%s: read error: %s", what, strerror(e));
            }
            if (r == 0) break;
            got = (size_t)r;
        }
        n += got;
    }
    if (n > max) {
        free(b);
        return desk_errf(err, DESK_E_RANGE, "%s is longer than %zu bytes", what, max);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return DESK_OK;
}

desk_status desk_file_read_all(const char *path, size_t max, char **buf, size_t *len, desk_err *err) {
    *buf = NULL;
    *len = 0;
    int fd;
    size_t size;
    desk_status st = open_regular(path, &fd, &size, DESK_E_NOTFOUND, err);
    if (st != DESK_OK) return st;
    if (size > max) {
        close(fd);
        return desk_errf(err, DESK_E_RANGE, "%s is longer than %zu bytes", path, max);
    }
    st = read_fd_capped(fd, NULL, path, max, size, buf, len, err);
    close(fd);
    return st;
}

desk_status desk_stream_read_all(FILE *f, const char *what, size_t max, char **buf, size_t *len, desk_err *err) {
    return read_fd_capped(-1, f, what, max, 1 << 16, buf, len, err);
}

bool desk_file_same(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void desk_mfile_close(desk_mfile *mf) {
    if (mf->data) munmap((void *)mf->data, mf->size);
    mf->data = NULL;
    mf->size = 0;
}

/* Temporary files being written, for desk_afile_unlink_pending: a slot's
 * path is complete before its flag is set, and the flag is cleared before
 * the path is reused.  Atomic files are opened from one thread. */
#define PENDING_MAX 8
#define PENDING_PATH 4096
static char g_pending[PENDING_MAX][PENDING_PATH];
static volatile sig_atomic_t g_pending_on[PENDING_MAX];

static int pending_add(const char *path) {
    size_t n = strlen(path);
    if (n >= PENDING_PATH) return -1;
    for (int i = 0; i < PENDING_MAX; i++) {
        if (g_pending_on[i]) continue;
        memcpy(g_pending[i], path, n + 1);
        atomic_signal_fence(memory_order_seq_cst);
        g_pending_on[i] = 1;
        return i;
    }
    return -1;
}

static void pending_remove(int slot) {
    if (slot < 0) return;
    g_pending_on[slot] = 0;
    atomic_signal_fence(memory_order_seq_cst);
}

void desk_afile_unlink_pending(void) {
    for (int i = 0; i < PENDING_MAX; i++)
        if (g_pending_on[i]) unlink(g_pending[i]);
}

static void afile_release(desk_afile *af) {
    pending_remove(af->slot);
    af->slot = -1;
    free(af->tmp_path);
    free(af->final_path);
    af->tmp_path = af->final_path = NULL;
    af->fp = NULL;
}

desk_status desk_afile_open(const char *path, desk_afile *af, desk_err *err) {
    memset(af, 0, sizeof *af);
    af->slot = -1;
    if (!path || !*path) return desk_errf(err, DESK_E_ARG, "no output path given");
    size_t n = strlen(path);
    af->final_path = strdup(path);
    af->tmp_path = malloc(n + 16);
    if (!af->final_path || !af->tmp_path) {
        afile_release(af);
        return desk_errf(err, DESK_E_NOMEM, "out of memory opening %s", path);
    }
    memcpy(af->tmp_path, path, n);
    memcpy(af->tmp_path + n, ".tmp.XXXXXX", 12);
    /* No signal between creating the file and recording it for removal. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int fd = mkostemp(af->tmp_path, O_CLOEXEC);
    int e = errno;
    if (fd >= 0) af->slot = pending_add(af->tmp_path);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (fd < 0) {
        desk_errf(err, DESK_E_IO, "%s: cannot create temporary file: %s", path, strerror(e));
        afile_release(af);
        return DESK_E_IO;
    }
    fchmod(fd, 0644);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        close(fd);
        unlink(af->tmp_path);
        afile_release(af);
        return desk_errf(err, DESK_E_IO, "%s: fdopen failed", path);
    }
    return DESK_OK;
}

desk_status desk_afile_commit(desk_afile *af, desk_err *err) {
    int e = 0;
    int bad = ferror(af->fp);
    if (fflush(af->fp) != 0) bad = 1, e = errno;
    if (!bad && fsync(fileno(af->fp)) != 0) bad = 1, e = errno;
    if (fclose(af->fp) != 0 && !bad) bad = 1, e = errno;
    af->fp = NULL;
    if (!bad && rename(af->tmp_path, af->final_path) != 0) bad = 1, e = errno;
    if (bad) {
        desk_errf(err, DESK_E_IO, "%s: write failed%s%s", af->final_path, e ? ": " : "", e ? strerror(e) : "");
        unlink(af->tmp_path);
        afile_release(af);
        return DESK_E_IO;
    }
    afile_release(af);
    return DESK_OK;
}

void desk_afile_abort(desk_afile *af) {
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    afile_release(af);
}

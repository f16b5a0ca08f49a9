/*
 * mfile.c - mmap-based file access and temp-then-rename output.
 */
#define _GNU_SOURCE
#include "core/mfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

desk_status desk_mfile_open(const char *path, desk_mfile *mf, desk_err *err) {
    mf->data = NULL;
    mf->size = 0;
    if (!path) return desk_errf(err, DESK_E_ARG, "no file path given");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return desk_errf(err, DESK_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return desk_errf(err, DESK_E_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return desk_errf(err, DESK_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return DESK_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return desk_errf(err, e == ENOMEM ? DESK_E_NOMEM : DESK_E_IO, "%s: mmap: %s", path, strerror(e));
    mf->data = p;
    mf->size = (size_t)st.st_size;
    return DESK_OK;
}

void desk_mfile_close(desk_mfile *mf) {
    if (mf->data) munmap((void *)mf->data, mf->size);
    mf->data = NULL;
    mf->size = 0;
}

static void afile_release(desk_afile *af) {
    free(af->tmp_path);
    free(af->final_path);
    af->tmp_path = af->final_path = NULL;
    af->fp = NULL;
}

desk_status desk_afile_open(const char *path, desk_afile *af, desk_err *err) {
    memset(af, 0, sizeof *af);
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
    int fd = mkostemp(af->tmp_path, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
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
    int bad = ferror(af->fp);
    if (fflush(af->fp) != 0) bad = 1;
    if (!bad && fsync(fileno(af->fp)) != 0) bad = 1;
    int e = errno;
    if (fclose(af->fp) != 0) bad = 1;
    af->fp = NULL;
    if (bad || rename(af->tmp_path, af->final_path) != 0) {
        if (!bad) e = errno;
        desk_errf(err, DESK_E_IO, "%s: write failed: %s", af->final_path, strerror(e));
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

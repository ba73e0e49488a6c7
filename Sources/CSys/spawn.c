#define _GNU_SOURCE 1
#include "csys.h"
#include <sys/syscall.h>

// Everything between vfork and execve runs in the child while it shares the parent's
// memory: only raw system calls and stack variables. The set*id calls go straight to the
// kernel because the libc wrappers of glibc and musl broadcast the change to all threads
// of the process, which in a vfork child are the parent's threads.

static void reset_signals(void) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < 65; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &action, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static int wire_stdio(const struct csys_spawn_request *r) {
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0) return -1;
    if (dup2(null_fd, 0) < 0 || dup2(r->stdout_fd, 1) < 0 || dup2(r->stderr_fd, 2) < 0) return -1;
    return 0;
}

static int change_identity(const struct csys_spawn_request *r) {
    if (syscall(SYS_setgid, (gid_t)r->gid) != 0) return -1;
    if (syscall(SYS_setgroups, (size_t)r->group_count, r->groups) != 0) return -1;
    if (syscall(SYS_setuid, (uid_t)r->uid) != 0) return -1;
    // Verify the drop took: every id is the user's, and root cannot be regained.
    if (getuid() != r->uid || geteuid() != r->uid || getgid() != r->gid || getegid() != r->gid) {
        errno = EPERM;
        return -1;
    }
    if (r->uid != 0 && syscall(SYS_setuid, 0) == 0) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

static void close_other_descriptors(void) {
    if (syscall(SYS_close_range, 3u, ~0u, 0) == 0) return;
    struct rlimit limit;
    long max = getrlimit(RLIMIT_NOFILE, &limit) == 0 ? (long)limit.rlim_cur : 1024;
    for (long fd = 3; fd < max; fd++) close((int)fd);
}

// execvpe, without its allocation: tries each directory of `path` in turn.
static int exec_searching(const struct csys_spawn_request *r) {
    const char *name = r->argv[0];
    if (strchr(name, '/')) {
        execve(name, (char *const *)r->argv, (char *const *)r->envp);
        return -1;
    }
    size_t name_len = strlen(name);
    int saw_eacces = 0;
    const char *dir = r->search_path;
    char candidate[4096];
    for (;;) {
        const char *end = strchr(dir, ':');
        size_t dir_len = end ? (size_t)(end - dir) : strlen(dir);
        if (dir_len + 1 + name_len + 1 <= sizeof(candidate)) {
            memcpy(candidate, dir_len ? dir : ".", dir_len ? dir_len : 1);
            size_t at = dir_len ? dir_len : 1;
            candidate[at++] = '/';
            memcpy(candidate + at, name, name_len + 1);
            execve(candidate, (char *const *)r->argv, (char *const *)r->envp);
            if (errno == EACCES) saw_eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR) return -1;
        }
        if (!end) break;
        dir = end + 1;
    }
    errno = saw_eacces ? EACCES : ENOENT;
    return -1;
}

int csys_spawn(const struct csys_spawn_request *request, struct csys_spawn_failure *failure) {
    // Written by the child before it exits; the parent reads it once vfork returns.
    volatile int stage = CSYS_SPAWN_OK;
    volatile int error = 0;
    pid_t pid = vfork();
    if (pid == 0) {
        int at = CSYS_SPAWN_STAGE_STDIO;
        reset_signals();
        setpgid(0, 0);
        // The directory is entered as the user, so it needs the user's permissions.
        if (wire_stdio(request) == 0) {
            at = CSYS_SPAWN_STAGE_IDENTITY;
            if (!request->change_identity || change_identity(request) == 0) {
                at = CSYS_SPAWN_STAGE_CHDIR;
                if (chdir(request->cwd) == 0) {
                    at = CSYS_SPAWN_STAGE_EXEC;
                    close_other_descriptors();
                    exec_searching(request);
                }
            }
        }
        error = errno;
        stage = at;
        _exit(127);
    }
    if (pid < 0) {
        failure->stage = CSYS_SPAWN_STAGE_FORK;
        failure->error = errno;
        return -1;
    }
    if (stage != CSYS_SPAWN_OK) {
        failure->stage = stage;
        failure->error = error;
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        return -1;
    }
    failure->stage = CSYS_SPAWN_OK;
    failure->error = 0;
    return pid;
}

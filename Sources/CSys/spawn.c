#define _GNU_SOURCE 1
#include "csys.h"
#include "spawn-steps.h"
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/syscall.h>

// Everything between vfork and execve runs in the child while it shares the parent's
// memory: only raw system calls and stack variables. The set*id calls go straight to the
// kernel because the libc wrappers of glibc and musl broadcast the change to all threads
// of the process, which in a vfork child are the parent's threads.

void spawn_reset_signals(void) {
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

int spawn_wire_stdio(const struct csys_spawn_request *r) {
    if (r->terminal_fd >= 0) {
        // A session of its own, with the terminal as its controlling terminal.
        if (setsid() < 0 || ioctl(r->terminal_fd, TIOCSCTTY, 0) < 0) return -1;
        for (int fd = 0; fd < 3; fd++) {
            if (dup2(r->terminal_fd, fd) < 0) return -1;
        }
        return 0;
    }
    setpgid(0, 0);
    int input = r->stdin_fd >= 0 ? r->stdin_fd : open("/dev/null", O_RDONLY);
    if (input < 0) return -1;
    if (dup2(input, 0) < 0 || dup2(r->stdout_fd, 1) < 0 || dup2(r->stderr_fd, 2) < 0) return -1;
    return 0;
}

int spawn_change_identity(const struct csys_spawn_request *r) {
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

// Closes every descriptor from 3 up, except `keep` (the close-on-exec error pipe).
void spawn_close_other_descriptors(int keep) {
    if (syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0) == 0 &&
        syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0) == 0) return;
    struct rlimit limit;
    long max = getrlimit(RLIMIT_NOFILE, &limit) == 0 ? (long)limit.rlim_cur : 1024;
    for (long fd = 3; fd < max; fd++) {
        if (fd != keep) close((int)fd);
    }
}

// execvpe, without its allocation: tries each directory of `path` in turn.
int spawn_exec_searching(const struct csys_spawn_request *r) {
    const char *name = r->program ? r->program : r->argv[0];
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

void spawn_report(int report_fd, int stage, int detail, int error) {
    struct csys_spawn_failure failure = { stage, error, detail };
    while (write(report_fd, &failure, sizeof(failure)) < 0 && errno == EINTR) {}
}

_Noreturn void spawn_run_program(const struct csys_spawn_request *r, int report_fd) {
    int stage = CSYS_SPAWN_STAGE_STDIO;
    spawn_reset_signals();
    // The directory is entered as the user, so it needs the user's permissions.
    if (spawn_wire_stdio(r) == 0) {
        stage = CSYS_SPAWN_STAGE_IDENTITY;
        if (!r->change_identity || spawn_change_identity(r) == 0) {
            stage = CSYS_SPAWN_STAGE_CHDIR;
            if (chdir(r->cwd) == 0) {
                stage = CSYS_SPAWN_STAGE_EXEC;
                spawn_close_other_descriptors(report_fd);
                spawn_exec_searching(r);
            }
        }
    }
    spawn_report(report_fd, stage, 0, errno);
    _exit(127);
}

int csys_spawn(const struct csys_spawn_request *request, struct csys_spawn_failure *failure) {
    // A failing child reports through this close-on-exec pipe: the parent reads end of
    // file when execve succeeded. (Writing into the shared memory of vfork would be
    // enough on Linux, but emulators such as qemu-user run vfork as fork.)
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        failure->stage = CSYS_SPAWN_STAGE_FORK;
        failure->error = errno;
        failure->detail = 0;
        return -1;
    }
    if (report[1] < 3) {
        // Only when stdio was closed: the pipe would collide with the child's 0-2.
        int moved = fcntl(report[1], F_DUPFD_CLOEXEC, 3);
        close(report[1]);
        report[1] = moved;
    }
    // A contained child does not execute the program itself (it starts the namespace's
    // init, which starts the program), so it cannot share the agent's memory: fork.
    pid_t pid = request->container ? fork() : vfork();
    if (pid == 0) {
        if (request->container) spawn_contained(request, report[1]);
        spawn_run_program(request, report[1]);
    }
    int saved = errno;
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        failure->stage = CSYS_SPAWN_STAGE_FORK;
        failure->error = saved;
        failure->detail = 0;
        return -1;
    }
    struct csys_spawn_failure reported;
    ssize_t got;
    while ((got = read(report[0], &reported, sizeof(reported))) < 0 && errno == EINTR) {}
    close(report[0]);
    if (got == (ssize_t)sizeof(reported)) {
        *failure = reported;
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        return -1;
    }
    failure->stage = CSYS_SPAWN_OK;
    failure->error = 0;
    failure->detail = 0;
    return pid;
}

int csys_open_pty(int *master, int *slave, unsigned short rows, unsigned short cols) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (m < 0) return -1;
    char name[64];
    if (grantpt(m) != 0 || unlockpt(m) != 0 || ptsname_r(m, name, sizeof(name)) != 0) {
        int saved = errno;
        close(m);
        errno = saved;
        return -1;
    }
    int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        int saved = errno;
        close(m);
        errno = saved;
        return -1;
    }
    struct winsize size = { .ws_row = rows, .ws_col = cols };
    ioctl(m, TIOCSWINSZ, &size);
    *master = m;
    *slave = s;
    return 0;
}

int csys_set_window_size(int master, unsigned short rows, unsigned short cols) {
    struct winsize size = { .ws_row = rows, .ws_col = cols };
    return ioctl(master, TIOCSWINSZ, &size);
}

int csys_set_terminal_mode(int master, int mode) {
    struct termios t;
    if (tcgetattr(master, &t) != 0) return -1;
    if (mode == CSYS_TERMINAL_PIPE) {
        // stty raw icrnl isig -echo: bytes pass as they are, except that CR is read
        // as NL and ^C, ^\ and ^Z still signal.
        cfmakeraw(&t);
        t.c_iflag |= ICRNL;
        t.c_lflag |= ISIG;
        t.c_lflag &= ~(tcflag_t)ECHO;
    } else {
        // stty sane: line editing, echo, signals, NL sent as CR NL, the usual keys.
        t.c_iflag &= ~(tcflag_t)(IGNBRK | INLCR | IGNCR | IXOFF | IXANY | ISTRIP | PARMRK);
        t.c_iflag |= BRKINT | ICRNL | IMAXBEL | IXON;
        t.c_oflag &= ~(tcflag_t)(OCRNL | ONOCR | ONLRET | OFILL);
        t.c_oflag |= OPOST | ONLCR;
        t.c_cflag |= CREAD;
        t.c_lflag &= ~(tcflag_t)(ECHONL | NOFLSH | TOSTOP | ECHOPRT);
        t.c_lflag |= ICANON | ISIG | IEXTEN | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE;
        t.c_cc[VINTR] = 0x03;
        t.c_cc[VQUIT] = 0x1c;
        t.c_cc[VERASE] = 0x7f;
        t.c_cc[VKILL] = 0x15;
        t.c_cc[VEOF] = 0x04;
        t.c_cc[VSTART] = 0x11;
        t.c_cc[VSTOP] = 0x13;
        t.c_cc[VSUSP] = 0x1a;
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
    }
    return tcsetattr(master, TCSANOW, &t);
}

#define _GNU_SOURCE 1
#include "csys.h"
#include "spawn-steps.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>

// A program inside the distro rootfs. Three processes, because a new PID namespace only
// applies to the children of the process that creates it:
//   the outer child (in the agent's namespaces): unshares, starts the init, waits for it
//     and exits with its status, so the agent waits for one pid as for any command;
//   the init (pid 1 inside): mounts, enters the root, starts the program, passes the
//     agent's signals on, reaps orphans, and exits with the program's status (which ends
//     everything left inside);
//   the program, started like any other (spawn_run_program).
// fork, not clone with namespace flags: qemu-user refuses clone flags it does not know,
// but runs unshare and fork.

_Noreturn static void fail(int report_fd, int stage, int detail) {
    spawn_report(report_fd, stage, detail, errno);
    _exit(127);
}

static int write_text(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t length = (ssize_t)strlen(text);
    ssize_t written = write(fd, text, (size_t)length);
    int saved = errno;
    close(fd);
    errno = saved;
    return written == length ? 0 : -1;
}

// Decimal digits of `value` at `out`; returns the end.
static char *put_number(char *out, unsigned long value) {
    char digits[24];
    int count = 0;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (count) *out++ = digits[--count];
    return out;
}

// "ID ID 1\n": the caller's id maps to itself, and nothing else exists inside.
static int write_identity_map(const char *path, uint32_t id) {
    char line[64];
    char *at = put_number(line, id);
    *at++ = ' ';
    at = put_number(at, id);
    memcpy(at, " 1\n", 4);
    return write_text(path, line);
}

static void descriptor_path(char *out, int fd) {
    memcpy(out, "/proc/self/fd/", 14);
    *put_number(out + 14, (unsigned long)fd) = 0;
}

// A bind mount of a host object opened (O_PATH) before entering the root, through its
// /proc/self/fd link: the target is resolved inside the root, the source outside.
static int bind_descriptor(int fd, const char *target, unsigned long flags) {
    char source[32];
    descriptor_path(source, fd);
    return mount(source, target, NULL, MS_BIND | flags, NULL);
}

static int make_directory(const char *path, mode_t mode) {
    return mkdir(path, mode) == 0 || errno == EEXIST ? 0 : -1;
}

// mkdir -p inside the root (symlinks resolve inside it too: the process is chrooted).
static int make_parents(const char *path) {
    char partial[4096];
    size_t length = strlen(path);
    if (length >= sizeof(partial)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (size_t at = 1; at < length; at++) {
        if (path[at] != '/') continue;
        memcpy(partial, path, at);
        partial[at] = 0;
        if (make_directory(partial, 0755) != 0) return -1;
    }
    return 0;
}

static int make_file(const char *path, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return errno == EEXIST ? 0 : -1;
    close(fd);
    return 0;
}

static const char *const device_names[] = { "null", "zero", "full", "random", "urandom", "tty" };
#define DEVICE_COUNT 6

struct host_objects {
    int sys;
    int pts;
    int devices[DEVICE_COUNT];
    int binds[CSYS_MAX_BINDS];
};

static int open_path(const char *path) { return open(path, O_PATH | O_CLOEXEC); }

// proc for the new PID namespace; sysfs (or, where a user namespace may not mount it,
// the host's); a small tmpfs dev with the host's device nodes and terminals bound in;
// a fresh tmp. Mount points missing from the rootfs are created.
static void mount_system(const struct host_objects *host, int report_fd) {
    const unsigned long hidden = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (make_directory("/proc", 0555) != 0 || mount("proc", "/proc", "proc", hidden, NULL) != 0)
        fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_PROC);
    if (make_directory("/sys", 0555) != 0 ||
        (mount("sysfs", "/sys", "sysfs", hidden | MS_RDONLY, NULL) != 0 &&
         (host->sys < 0 || bind_descriptor(host->sys, "/sys", MS_REC) != 0)))
        fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_SYS);
    if (make_directory("/dev", 0755) != 0 ||
        mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=1m") != 0)
        fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_DEV);
    for (int i = 0; i < DEVICE_COUNT; i++) {
        char path[16] = "/dev/";
        memcpy(path + 5, device_names[i], strlen(device_names[i]) + 1);
        if (host->devices[i] < 0 || make_file(path, 0666) != 0 || bind_descriptor(host->devices[i], path, 0) != 0)
            fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_DEV);
    }
    // The host's terminals, so that a shell's PTY (opened by the agent) has its name here.
    if (make_directory("/dev/pts", 0755) != 0 || host->pts < 0 || bind_descriptor(host->pts, "/dev/pts", 0) != 0)
        fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_DEVPTS);
    static const char *const links[][2] = {
        { "pts/ptmx", "/dev/ptmx" }, { "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" },
        { "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" },
    };
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        if (symlink(links[i][0], links[i][1]) != 0) fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_DEV);
    }
    if (mkdir("/dev/shm", 01777) != 0 || chmod("/dev/shm", 01777) != 0)
        fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_DEV);
    if (make_directory("/tmp", 01777) != 0 || mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0)
        fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_TMP);
}

static void apply_binds(const struct csys_container *c, const struct host_objects *host, int report_fd) {
    for (int i = 0; i < c->bind_count; i++) {
        const char *target = c->bind_targets[i];
        int made = make_parents(target) == 0 &&
                   (c->bind_source_is_directory[i] ? make_directory(target, 0755) : make_file(target, 0644)) == 0;
        if (!made || bind_descriptor(host->binds[i], target, MS_REC) != 0)
            fail(report_fd, CSYS_SPAWN_STAGE_BIND, i);
    }
}

// The per-mount flags of a mountinfo options field ("rw,nosuid,nodev,relatime") that a
// remount must keep: in a user namespace they are locked, and leaving one out is EPERM.
static unsigned long kept_flags(const char *options, size_t length) {
    static const struct { const char *name; unsigned long flag; } known[] = {
        { "nosuid", MS_NOSUID }, { "nodev", MS_NODEV }, { "noexec", MS_NOEXEC }, { "noatime", MS_NOATIME },
        { "nodiratime", MS_NODIRATIME }, { "relatime", MS_RELATIME }, { "strictatime", MS_STRICTATIME },
    };
    unsigned long flags = 0;
    size_t start = 0;
    while (start < length) {
        size_t end = start;
        while (end < length && options[end] != ',') end++;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            if (strlen(known[i].name) == end - start && memcmp(options + start, known[i].name, end - start) == 0)
                flags |= known[i].flag;
        }
        start = end + 1;
    }
    return flags;
}

// A mountinfo path with its octal escapes (\040 for a space) decoded, in place.
static void unescape(char *path) {
    char *out = path;
    for (char *in = path; *in; in++) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '7' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' && in[3] <= '7') {
            *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
            in += 3;
        } else {
            *out++ = *in;
        }
    }
    *out = 0;
}

// What stays writable in a sandbox: its own /tmp, and the fresh /proc and /dev (whose
// device nodes are written through whatever their mount says anyway).
static int stays_writable(const char *point) {
    if (strcmp(point, "/tmp") == 0) return 1;
    static const char *const trees[] = { "/proc", "/dev" };
    for (size_t i = 0; i < 2; i++) {
        size_t length = strlen(trees[i]);
        if (strncmp(point, trees[i], length) == 0 && (point[length] == 0 || point[length] == '/')) return 1;
    }
    return 0;
}

// Every other mount of this (new, private) namespace, the binds included, becomes
// read-only: a bind remount per line of /proc/self/mountinfo ("ID PARENT MAJ:MIN ROOT
// MOUNTPOINT OPTIONS ...").
static void make_mounts_read_only(int report_fd) {
    const size_t size = 4u << 20;
    char *text = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (text == MAP_FAILED || fd < 0) fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_READ_ONLY);
    size_t filled = 0;
    for (;;) {
        ssize_t got = read(fd, text + filled, size - 1 - filled);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_READ_ONLY);
        if (got == 0) break;
        filled += (size_t)got;
        if (filled == size - 1) {
            errno = EFBIG;
            fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_READ_ONLY);
        }
    }
    close(fd);
    text[filled] = 0;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        char *fields[6];
        int count = 0;
        for (char *at = line; count < 6 && *at;) {
            fields[count++] = at;
            while (*at && *at != ' ') at++;
            if (*at) *at++ = 0;
        }
        if (count == 6) unescape(fields[4]);
        if (count == 6 && !stays_writable(fields[4])) {
            unsigned long flags = kept_flags(fields[5], strlen(fields[5]));
            // ENOENT and EINVAL: a mount hidden under another (a host mount below /tmp,
            // now under the sandbox's own): its path reaches no mount, and nothing can
            // reach the hidden one.
            if (mount(NULL, fields[4], NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | flags, NULL) != 0 && errno != ENOENT &&
                errno != EINVAL)
                fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_READ_ONLY);
        }
        if (!end) break;
        line = end + 1;
    }
    munmap(text, size);
}

// The new network namespace's loopback, up: its only interface.
static void loopback_up(int report_fd) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    memcpy(request.ifr_name, "lo", 3);
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &request) != 0) fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_LOOPBACK);
    request.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &request) != 0) fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_LOOPBACK);
    close(fd);
}

// In the init: a signal from the agent goes to every process of the namespace.
static void forward_signal(int sig) {
    int saved = errno;
    kill(-1, sig);
    errno = saved;
}

_Noreturn static void run_init(const struct csys_spawn_request *r, int report_fd) {
    const struct csys_container *c = r->container;
    // Nothing mounted here may show up in the agent's namespace.
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        fail(report_fd, CSYS_SPAWN_STAGE_MOUNT, CSYS_MOUNT_PRIVATE);
    if (c->hostname && c->hostname[0] && sethostname(c->hostname, strlen(c->hostname)) != 0)
        fail(report_fd, CSYS_SPAWN_STAGE_NAMESPACE, 3);
    struct host_objects host;
    host.sys = open_path("/sys");
    host.pts = open_path("/dev/pts");
    for (int i = 0; i < DEVICE_COUNT; i++) {
        char path[16] = "/dev/";
        memcpy(path + 5, device_names[i], strlen(device_names[i]) + 1);
        host.devices[i] = open_path(path);
    }
    for (int i = 0; i < c->bind_count && i < CSYS_MAX_BINDS; i++) {
        host.binds[i] = open_path(c->bind_sources[i]);
        if (host.binds[i] < 0) fail(report_fd, CSYS_SPAWN_STAGE_BIND, i);
    }
    if (chdir(c->root) != 0 || chroot(".") != 0 || chdir("/") != 0) fail(report_fd, CSYS_SPAWN_STAGE_ROOT, 0);
    mount_system(&host, report_fd);
    apply_binds(c, &host, report_fd);
    if (c->sandbox) make_mounts_read_only(report_fd);

    pid_t program = fork();
    if (program < 0) fail(report_fd, CSYS_SPAWN_STAGE_FORK, 0);
    if (program == 0) spawn_run_program(r, report_fd);
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = forward_signal;
    sigemptyset(&action.sa_mask);
    static const int forwarded[] = { SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH };
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) sigaction(forwarded[i], &action, NULL);
    // The program holds what it needs; the init keeps nothing open (not the report pipe,
    // which must close when the program has executed, nor the program's stdio).
    syscall(SYS_close_range, 0u, ~0u, 0);
    for (;;) {
        int status;
        pid_t reaped = waitpid(-1, &status, 0);
        if (reaped == program) _exit(csys_exit_code(status));
        if (reaped < 0 && errno == ECHILD) _exit(127);
    }
}

_Noreturn void spawn_contained(const struct csys_spawn_request *r, int report_fd) {
    const struct csys_container *c = r->container;
    spawn_reset_signals();
    // The agent signals this group (timeouts, hang-ups); this process only waits, and the
    // init passes the signals on inside.
    setpgid(0, 0);
    if (c->user_namespace) {
        if (unshare(CLONE_NEWUSER) != 0) fail(report_fd, CSYS_SPAWN_STAGE_NAMESPACE, 0);
        // setgroups must be denied before an unprivileged process may write its gid_map.
        if ((write_text("/proc/self/setgroups", "deny") != 0 && errno != ENOENT) ||
            write_identity_map("/proc/self/uid_map", c->map_uid) != 0 ||
            write_identity_map("/proc/self/gid_map", c->map_gid) != 0)
            fail(report_fd, CSYS_SPAWN_STAGE_NAMESPACE, 1);
    }
    int isolated = c->sandbox ? CLONE_NEWIPC | CLONE_NEWNET : 0;
    if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | isolated) != 0) fail(report_fd, CSYS_SPAWN_STAGE_NAMESPACE, 2);
    if (c->sandbox) loopback_up(report_fd);
    struct sigaction ignore;
    memset(&ignore, 0, sizeof(ignore));
    ignore.sa_handler = SIG_IGN;
    static const int ignored[] = { SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH };
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) sigaction(ignored[i], &ignore, NULL);
    pid_t init = fork();
    if (init < 0) fail(report_fd, CSYS_SPAWN_STAGE_FORK, 0);
    if (init == 0) run_init(r, report_fd);
    syscall(SYS_close_range, 3u, ~0u, 0);
    int status;
    while (waitpid(init, &status, 0) < 0 && errno == EINTR) {}
    _exit(csys_exit_code(status));
}

int csys_input_file(const void *bytes, size_t length) {
    int fd = (int)syscall(SYS_memfd_create, "dbgd-input", MFD_CLOEXEC);
    if (fd < 0) return -1;
    const char *at = bytes;
    while (length > 0) {
        ssize_t written = write(fd, at, length);
        if (written < 0) {
            if (errno == EINTR) continue;
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        at += written;
        length -= (size_t)written;
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

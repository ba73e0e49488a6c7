#define _GNU_SOURCE 1
#include "csys.h"
#include <sys/statvfs.h>
#include <netdb.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/vfs.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <sys/syscall.h>

int csys_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev = { .events = events, .data.u64 = token };
    return epoll_ctl(epfd, op, fd, &ev);
}

int csys_epoll_wait(int epfd, csys_ready_event *out, int capacity, int timeout_ms) {
    struct epoll_event ready[64];
    if (capacity > 64) capacity = 64;
    int n;
    do {
        n = epoll_wait(epfd, ready, capacity, timeout_ms);
    } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; i++) {
        out[i].token = ready[i].data.u64;
        out[i].events = ready[i].events;
    }
    return n;
}

int csys_accept(int fd, struct sockaddr *peer, socklen_t *peer_len) {
    return accept4(fd, peer, peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int csys_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int csys_signalfd_for(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int csys_ignore_signal(int signal) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = SIG_IGN;
    return sigaction(signal, &action, NULL);
}

int csys_timerfd_arm(int fd, uint64_t deadline_ms) {
    struct itimerspec spec;
    memset(&spec, 0, sizeof(spec));
    spec.it_value.tv_sec = (time_t)(deadline_ms / 1000);
    spec.it_value.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

uint64_t csys_monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

uint64_t csys_wall_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

int csys_disk_space(const char *path, uint64_t *total, uint64_t *available) {
    struct statvfs info;
    if (statvfs(path, &info) != 0) return -1;
    *total = (uint64_t)info.f_blocks * info.f_frsize;
    *available = (uint64_t)info.f_bavail * info.f_frsize;
    return 0;
}

int csys_unsent_bytes(int fd) {
    int count = 0;
    return ioctl(fd, TIOCOUTQ, &count) == 0 ? count : -1;
}

uint64_t csys_monotonic_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
}

uint64_t csys_today(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec > 0 ? (uint64_t)now.tv_sec / 86400u : 0;
}

int csys_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int csys_nofile_limit(uint64_t *soft, uint64_t *hard) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    *soft = (uint64_t)limit.rlim_cur;
    *hard = (uint64_t)limit.rlim_max;
    return 0;
}

int csys_set_nofile_soft_limit(uint64_t soft) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    limit.rlim_cur = (rlim_t)soft;
    return setrlimit(RLIMIT_NOFILE, &limit);
}

int csys_open(const char *path, int flags) {
    return open(path, flags, 0);
}

// <sys/mount.h> has the older block ioctls; these two come from <linux/fs.h>, which
// musl's headers lack.
#ifndef BLKDISCARD
#define BLKDISCARD _IO(0x12, 119)
#endif
#ifndef BLKZEROOUT
#define BLKZEROOUT _IO(0x12, 127)
#endif

const int CSYS_O_DIRECT = O_DIRECT;

int csys_block_size(int fd, uint64_t *bytes) { return ioctl(fd, BLKGETSIZE64, bytes); }

int csys_block_sector_size(int fd, unsigned int *bytes) {
    int size = 0;
    if (ioctl(fd, BLKSSZGET, &size) != 0) return -1;
    *bytes = (unsigned int)size;
    return 0;
}

int csys_block_flush(int fd) { return ioctl(fd, BLKFLSBUF, 0); }

int csys_block_discard(int fd, uint64_t offset, uint64_t length) {
    uint64_t range[2] = { offset, length };
    return ioctl(fd, BLKDISCARD, range);
}

int csys_block_zero_out(int fd, uint64_t offset, uint64_t length) {
    uint64_t range[2] = { offset, length };
    return ioctl(fd, BLKZEROOUT, range);
}

int csys_sync_range(int fd, uint64_t offset, uint64_t length) {
    return sync_file_range(fd, (off_t)offset, (off_t)length,
                           SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
}

int csys_open_log(const char *path) {
    // O_NONBLOCK: a FIFO without a reader fails at once instead of blocking (and is then refused).
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0640);
}

int csys_open_pidfile(const char *path) {
    return open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0644);
}

int csys_thread_start(void *(*fn)(void *), void *arg, size_t stack_size) {
    pthread_attr_t attr;
    pthread_t thread;
    if (pthread_attr_init(&attr) != 0) return -1;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (stack_size > 0) pthread_attr_setstacksize(&attr, stack_size);
    int rc = pthread_create(&thread, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
}

struct csys_monitor {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
};

csys_monitor *csys_monitor_new(void) {
    csys_monitor *m = malloc(sizeof(*m));
    if (!m) return NULL;
    pthread_mutex_init(&m->mutex, NULL);
    pthread_cond_init(&m->cond, NULL);
    return m;
}

void csys_monitor_lock(csys_monitor *m) { pthread_mutex_lock(&m->mutex); }
void csys_monitor_unlock(csys_monitor *m) { pthread_mutex_unlock(&m->mutex); }
void csys_monitor_wait(csys_monitor *m) { pthread_cond_wait(&m->cond, &m->mutex); }
void csys_monitor_signal(csys_monitor *m) { pthread_cond_signal(&m->cond); }

int csys_random_bytes(void *buf, size_t count) {
    unsigned char *p = buf;
    while (count > 0) {
        ssize_t got = getrandom(p, count, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += got;
        count -= (size_t)got;
    }
    return 0;
}

void csys_wipe(void *buf, size_t count) { explicit_bzero(buf, count); }

void csys_ensure_stdio(void) {
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int opened = open("/dev/null", O_RDWR);
            if (opened >= 0 && opened != fd) close(opened);
        }
    }
}

// The calling thread's effective capabilities: none, or all it is permitted (a raw
// capget/capset, as musl has no <sys/capability.h>; version 3 holds 64 bits).
static int set_effective_capabilities(int all) {
    struct { uint32_t version; int pid; } header = { 0x20080522, 0 };
    struct { uint32_t effective, permitted, inheritable; } data[2];
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    for (int i = 0; i < 2; i++) data[i].effective = all ? data[i].permitted : 0;
    return (int)syscall(SYS_capset, &header, data);
}

int csys_fs_identity(uint32_t uid, uint32_t gid, const uint32_t *groups, int count) {
    // Back to root: the capabilities first, as setgroups and setfs*id need them.
    if (uid == 0 && set_effective_capabilities(1) != 0) return -1;
    if (syscall(SYS_setgroups, (size_t)count, groups) != 0) return -1;
    syscall(SYS_setfsgid, (gid_t)gid);
    syscall(SYS_setfsuid, (uid_t)uid);
    // setfs*id report no errors: ask for the current value back to check.
    if ((uint32_t)syscall(SYS_setfsuid, (uid_t)-1) != uid || (uint32_t)syscall(SYS_setfsgid, (gid_t)-1) != gid) {
        errno = EPERM;
        return -1;
    }
    // As a user: no capability either. A new fsuid drops only the file ones; with
    // CAP_SYS_PTRACE still effective, procfs would let the "user" read where other
    // users' processes' magic links (cwd, root, exe, fd/N) point.
    if (uid != 0 && set_effective_capabilities(0) != 0) return -1;
    return 0;
}

int csys_own_groups(uint32_t *groups, int capacity) {
    return getgroups(capacity, (gid_t *)groups);
}

ssize_t csys_splice(int in, int64_t *in_offset, int out, size_t length, int nonblocking) {
    loff_t offset = in_offset ? (loff_t)*in_offset : 0;
    unsigned flags = SPLICE_F_MOVE | (nonblocking ? SPLICE_F_NONBLOCK : 0);
    ssize_t moved;
    do {
        moved = splice(in, in_offset ? &offset : NULL, out, NULL, length, flags);
    } while (moved < 0 && errno == EINTR);
    if (in_offset && moved > 0) *in_offset = (int64_t)offset;
    return moved;
}

int csys_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }
int csys_pipe_capacity(int fd) { return fcntl(fd, F_GETPIPE_SZ); }

long csys_getdents(int fd, void *buffer, size_t size) { return syscall(SYS_getdents64, fd, buffer, size); }

int csys_openat(int dirfd, const char *path, int flags) { return openat(dirfd, path, flags | O_CLOEXEC, 0); }

int csys_renameat(int from_dir, const char *from, int to_dir, const char *to, int replace) {
    return (int)syscall(SYS_renameat2, from_dir, from, to_dir, to, replace ? 0 : 1 /* RENAME_NOREPLACE */);
}

int csys_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

int csys_open_path(int dirfd, const char *name) { return openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC); }

int csys_is_procfs_root(int fd) {
    struct stat status;
    if (fstat(fd, &status) != 0) return -1;
    if (status.st_ino != 1) return 0;  // PROC_ROOT_INO
    struct statfs fs;
    if (fstatfs(fd, &fs) != 0) return -1;
    return fs.f_type == 0x9fa0;  // PROC_SUPER_MAGIC
}

int csys_peer_credentials(int fd, uint32_t *uid, uint32_t *gid) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}

int csys_peer_process(int fd) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    return credentials.pid;
}

int csys_unmount_detached(const char *path) { return umount2(path, MNT_DETACH); }

const char *csys_resolve_message(int error) { return gai_strerror(error); }

int csys_wait_ready(int fd, int writable, int timeout_ms) {
    struct pollfd wait = { fd, (short)(writable ? POLLOUT : POLLIN), 0 };
    int ready = poll(&wait, 1, timeout_ms);
    return ready < 0 && errno == EINTR ? 0 : ready;
}

dev_t csys_makedev(uint32_t major, uint32_t minor) { return makedev(major, minor); }
uint32_t csys_major(uint64_t device) { return major((dev_t)device); }
uint32_t csys_minor(uint64_t device) { return minor((dev_t)device); }

int csys_syncfs(int fd) { return syncfs(fd); }

int csys_dup_cloexec(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }

int csys_openat_create(int dirfd, const char *name, mode_t mode) {
    return openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
}

int csys_socketpair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
}

ssize_t csys_send_quietly(int socket, const void *bytes, size_t length) {
    return send(socket, bytes, length, MSG_NOSIGNAL);
}

ssize_t csys_send_with_descriptor(int socket, const void *bytes, size_t length, int descriptor) {
    struct iovec part = { (void *)bytes, length };
    union { struct cmsghdr header; char space[CMSG_SPACE(sizeof(int))]; } control;
    memset(&control, 0, sizeof(control));
    struct msghdr message = { 0 };
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = sizeof(control.space);
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &descriptor, sizeof(int));
    ssize_t sent;
    do sent = sendmsg(socket, &message, MSG_NOSIGNAL); while (sent < 0 && errno == EINTR);
    return sent;
}

ssize_t csys_receive_with_descriptor(int socket, void *bytes, size_t length, int *descriptor) {
    struct iovec part = { bytes, length };
    union { struct cmsghdr header; char space[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr message = { 0 };
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = sizeof(control.space);
    *descriptor = -1;
    ssize_t got;
    do got = recvmsg(socket, &message, MSG_CMSG_CLOEXEC); while (got < 0 && errno == EINTR);
    for (struct cmsghdr *header = got >= 0 ? CMSG_FIRSTHDR(&message) : NULL; header != NULL;
         header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS && header->cmsg_len == CMSG_LEN(sizeof(int))) {
            memcpy(descriptor, CMSG_DATA(header), sizeof(int));
        }
    }
    return got;
}

int csys_peek_byte(int fd, uint8_t *byte) {
    ssize_t got;
    do got = recv(fd, byte, 1, MSG_PEEK | MSG_DONTWAIT); while (got < 0 && errno == EINTR);
    return (int)got;
}

#ifndef DBG_CRYPT_SCHEMES
#define DBG_CRYPT_SCHEMES "the system's libcrypt (all it knows)"
#endif
const char *csys_crypt_schemes(void) { return DBG_CRYPT_SCHEMES; }

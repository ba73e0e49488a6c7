// The agent's window onto Linux: system headers plus the few helpers Swift cannot
// express portably. Constants are re-exported as plain `static const` values because
// glibc imports some of them as enums (SOCK_STREAM) or not at all (EPOLLIN), while musl
// imports them as Int32; this way the Swift code is identical on both C libraries.
#ifndef CSYS_H
#define CSYS_H

#include <stdint.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/auxv.h>
#include <sys/file.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netdb.h>
#include <poll.h>
#include <termios.h>

// Sockets
static const int CSYS_SOCK_STREAM = SOCK_STREAM;
static const int CSYS_SOCK_NONBLOCK = SOCK_NONBLOCK;
static const int CSYS_SOCK_CLOEXEC = SOCK_CLOEXEC;
static const int CSYS_AF_INET = AF_INET;
static const int CSYS_AF_INET6 = AF_INET6;
static const int CSYS_AF_UNIX = AF_UNIX;
static const int CSYS_SOL_SOCKET = SOL_SOCKET;
static const int CSYS_SO_REUSEADDR = SO_REUSEADDR;
static const int CSYS_SO_LINGER = SO_LINGER;
static const int CSYS_SO_KEEPALIVE = SO_KEEPALIVE;
static const int CSYS_IPPROTO_TCP = IPPROTO_TCP;
static const int CSYS_IPPROTO_IPV6 = IPPROTO_IPV6;
static const int CSYS_TCP_NODELAY = TCP_NODELAY;
static const int CSYS_IPV6_V6ONLY = IPV6_V6ONLY;
static const int CSYS_SHUT_WR = SHUT_WR;

// epoll
static const uint32_t CSYS_EPOLLIN = EPOLLIN;
static const uint32_t CSYS_EPOLLOUT = EPOLLOUT;
static const uint32_t CSYS_EPOLLERR = EPOLLERR;
static const uint32_t CSYS_EPOLLHUP = EPOLLHUP;
static const uint32_t CSYS_EPOLLRDHUP = EPOLLRDHUP;
static const int CSYS_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
static const int CSYS_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
static const int CSYS_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

// Descriptors, files, memory
static const int CSYS_O_RDONLY = O_RDONLY;
static const int CSYS_O_RDWR = O_RDWR;
static const int CSYS_O_WRONLY = O_WRONLY;
static const int CSYS_O_CREAT_EXCL = O_CREAT | O_EXCL;
static const int CSYS_O_NOCTTY = O_NOCTTY;
static const int CSYS_EEXIST = EEXIST;
static const int CSYS_EISDIR = EISDIR;
static const int CSYS_ENOSPC = ENOSPC;
static const int CSYS_EPERM = EPERM;
static const int CSYS_O_CLOEXEC = O_CLOEXEC;
static const int CSYS_TFD_CLOEXEC = TFD_CLOEXEC;
static const int CSYS_TFD_NONBLOCK = TFD_NONBLOCK;
static const int CSYS_SFD_NONBLOCK = SFD_NONBLOCK;
static const int CSYS_SFD_CLOEXEC = SFD_CLOEXEC;
static const int CSYS_CLOCK_MONOTONIC = CLOCK_MONOTONIC;
static const int CSYS_PROT_READ_WRITE = PROT_READ | PROT_WRITE;
static const int CSYS_MAP_PRIVATE_ANONYMOUS = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
static const int CSYS_MADV_DONTNEED = MADV_DONTNEED;
static const mode_t CSYS_S_IFMT = S_IFMT;
static const mode_t CSYS_S_ISVTX = S_ISVTX;
static const mode_t CSYS_S_IFSOCK = S_IFSOCK;
static const mode_t CSYS_S_IFDIR = S_IFDIR;
static const int CSYS_WNOHANG = WNOHANG;
static const int CSYS_SIGKILL = SIGKILL;
static const int CSYS_SIGHUP = SIGHUP;
static const int CSYS_EACCES = EACCES;
static const int CSYS_ENOEXEC = ENOEXEC;
static const int CSYS_ENOTDIR = ENOTDIR;

// waitpid status decoding (macros, which Swift cannot call).
static inline int csys_exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
}
/// The signal that ended a process (0 when it exited), and whether it dumped core.
static inline int csys_term_signal(int status) { return WIFSIGNALED(status) ? WTERMSIG(status) : 0; }
static inline int csys_core_dumped(int status) {
#ifdef WCOREDUMP
    return WIFSIGNALED(status) && WCOREDUMP(status);
#else
    return 0;
#endif
}

// eventfd
static const int CSYS_EFD_NONBLOCK_CLOEXEC = EFD_NONBLOCK | EFD_CLOEXEC;

// Signals
static const int CSYS_SIGCHLD = SIGCHLD;
static const int CSYS_SIGTERM = SIGTERM;
static const int CSYS_SIGINT = SIGINT;
static const int CSYS_SIGPIPE = SIGPIPE;

// errno values the agent tells apart
static const int CSYS_EINTR = EINTR;
static const int CSYS_EAGAIN = EAGAIN;
static const int CSYS_EWOULDBLOCK = EWOULDBLOCK;
static const int CSYS_EINPROGRESS = EINPROGRESS;
static const int CSYS_ECONNREFUSED = ECONNREFUSED;
static const int CSYS_ECONNABORTED = ECONNABORTED;
static const int CSYS_EMFILE = EMFILE;
static const int CSYS_ENFILE = ENFILE;
static const int CSYS_ENOENT = ENOENT;
static const int CSYS_ENOMEM = ENOMEM;
static const int CSYS_EAFNOSUPPORT = EAFNOSUPPORT;
static const int CSYS_EADDRINUSE = EADDRINUSE;

static const int CSYS_NO_ARGUMENT = no_argument;
static const int CSYS_REQUIRED_ARGUMENT = required_argument;

static inline int csys_errno(void) { return errno; }
static const int CSYS_F_OK = F_OK;
// The kernel passes the page size in the aux vector; musl's sysconf would bring its table
// of every _SC_ name (1 KB) for this one value.
static inline long csys_page_size(void) { return (long)getauxval(AT_PAGESZ); }

// getopt_long keeps its state in C globals; Swift 6 rejects direct access to mutable
// globals, so they are read and reset through these accessors.
static inline const char *csys_optarg(void) { return optarg; }
static inline int csys_optind(void) { return optind; }
static inline void csys_getopt_reset(void) { optind = 0; opterr = 0; }

// epoll_event is packed on x86_64 (glibc and musl), which Swift cannot lay out
// reliably, so readiness is copied into this plain struct.
typedef struct {
    uint64_t token;
    uint32_t events;
} csys_ready_event;

int csys_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
int csys_epoll_wait(int epfd, csys_ready_event *out, int capacity, int timeout_ms);

// _GNU_SOURCE functions: glibc's headers belong to the SwiftGlibc module, where a
// #define here cannot reach them, so they are wrapped out of line in csys.c.
int csys_accept(int fd, struct sockaddr *peer, socklen_t *peer_len);
// A pipe whose both ends are close-on-exec (pipe2), so no other child inherits it.
int csys_pipe(int fds[2]);

// Blocks `signals` (count entries) for the whole process and returns a signalfd for them.
int csys_signalfd_for(const int *signals, int count);
int csys_ignore_signal(int signal);

// Arms a timerfd to fire once at an absolute CLOCK_MONOTONIC time; 0 disarms it.
int csys_timerfd_arm(int fd, uint64_t deadline_ms);
uint64_t csys_monotonic_ms(void);
uint64_t csys_monotonic_us(void);
// Milliseconds since 1970-01-01 by the wall clock (log timestamps).
uint64_t csys_wall_ms(void);
// Size and free space (for unprivileged users) of the file system holding path, in bytes.
int csys_disk_space(const char *path, uint64_t *total, uint64_t *available);
// Bytes a socket has queued to send that the peer has not acknowledged yet; -1 on error.
int csys_unsent_bytes(int fd);
// Days since 1970-01-01 by the wall clock (shadow's date unit).
uint64_t csys_today(void);

// RLIMIT_NOFILE: glibc and musl disagree on the resource parameter's type.
int csys_nofile_limit(uint64_t *soft, uint64_t *hard);
int csys_set_nofile_soft_limit(uint64_t soft);

// libxcrypt (static in the firmware, libcrypt.so.1 on the host). musl ships no
// <crypt.h>, so the two functions used are declared here. crypt_rn is thread-safe: the
// caller owns the work area (CSYS_CRYPT_DATA_SIZE bytes).
#define CSYS_CRYPT_DATA_SIZE 32768
char *crypt_rn(const char *phrase, const char *setting, void *data, int size);
char *crypt_gensalt_rn(const char *prefix, unsigned long count, const char *rbytes, int nrbytes,
                       char *output, int output_size);
// The schemes the firmware's libxcrypt was built with (DBG_CRYPT_SCHEMES, CMakeLists.txt);
// on the host, the system's libcrypt.
const char *csys_crypt_schemes(void);

// Threads: a detached thread running fn(arg) with the given stack size (0: default).
int csys_thread_start(void *(*fn)(void *), void *arg, size_t stack_size);

// A mutex with one condition variable, allocated here because pthread types differ in
// size and shape between glibc and musl.
typedef struct csys_monitor csys_monitor;
csys_monitor *csys_monitor_new(void);
void csys_monitor_lock(csys_monitor *m);
void csys_monitor_unlock(csys_monitor *m);
void csys_monitor_wait(csys_monitor *m);
void csys_monitor_signal(csys_monitor *m);

// Opens /dev/null on any of descriptors 0-2 that is closed (an agent started without
// stdio), so later descriptors never land there and get clobbered by a child's dup2.
void csys_ensure_stdio(void);

// Fills buf with count random bytes from the kernel (getrandom); 0 on success.
int csys_random_bytes(void *buf, size_t count);

// Overwrites secrets in a way the compiler may not optimise away.
void csys_wipe(void *buf, size_t count);

// Process creation for RunCommand/RunShell and distro Run/ShellOpen (spawn.c,
// container.c). The child is created with vfork and runs only async-signal-safe code
// until execve: it resets signals, joins a new process group, wires stdin to /dev/null
// (or stdin_fd) and stdout/stderr to the given pipes, drops to the user (setgid,
// setgroups, setuid through raw syscalls, checked), changes directory as that user,
// closes every other descriptor and executes argv[0], searched on `search_path` when it
// has no '/'.

// Where a contained program runs: inside `root`, in new mount, PID and UTS namespaces
// (and a user namespace mapping map_uid/map_gid to themselves, for an agent that is not
// root). The namespace's init (pid 1) mounts proc, sys, a minimal dev (null, zero, full,
// random, urandom, tty, the host's devpts) and tmp, applies the binds, starts the
// program and passes SIGHUP, SIGINT, SIGTERM and SIGQUIT on to every process inside.
// Its exit status is the program's (128+N when a signal N ended it).
#define CSYS_MAX_BINDS 16
struct csys_container {
    const char *root;
    const char *hostname;
    int user_namespace;
    uint32_t map_uid;
    uint32_t map_gid;
    // Host path -> absolute path inside the root; a missing target is created (a
    // directory, or an empty file when the source is not a directory).
    const char *const *bind_sources;
    const char *const *bind_targets;
    const int *bind_source_is_directory;
    int bind_count;
    // A sandbox (the application runtime's `sandbox` method): root is "/", every mount
    // but its own /tmp, /proc and /dev (the binds too) is made read-only inside, and the
    // program also gets IPC and network namespaces of its own (with only its own
    // loopback, brought up). hostname NULL or empty: the host's is kept.
    int sandbox;
};

struct csys_spawn_request {
    // The file to execute; NULL: argv[0], searched on search_path when it has no '/'.
    const char *program;
    const char *const *argv;
    const char *const *envp;
    const char *search_path;
    const char *cwd;
    // < 0: /dev/null.
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    // >= 0: a terminal (PTY slave). The child then starts a new session with it as the
    // controlling terminal and as stdin, stdout and stderr; the descriptors above are unused.
    int terminal_fd;
    int change_identity;
    uint32_t uid;
    uint32_t gid;
    const uint32_t *groups;
    int group_count;
    // NULL: run on the host.
    const struct csys_container *container;
};

// Where a child that failed before execve stopped.
enum {
    CSYS_SPAWN_OK = 0,
    CSYS_SPAWN_STAGE_FORK = 1,
    CSYS_SPAWN_STAGE_STDIO = 2,
    CSYS_SPAWN_STAGE_IDENTITY = 3,
    CSYS_SPAWN_STAGE_CHDIR = 4,
    CSYS_SPAWN_STAGE_EXEC = 5,
    // Contained only. NAMESPACE detail: 0 user namespace, 1 its id maps, 2 the others,
    // 3 the host name. ROOT: entering the root. MOUNT detail: one of CSYS_MOUNT_*.
    // BIND detail: the index of the bind.
    CSYS_SPAWN_STAGE_NAMESPACE = 6,
    CSYS_SPAWN_STAGE_ROOT = 7,
    CSYS_SPAWN_STAGE_MOUNT = 8,
    CSYS_SPAWN_STAGE_BIND = 9,
};

enum {
    CSYS_MOUNT_PRIVATE = 0,  // making the namespace's mounts private
    CSYS_MOUNT_PROC = 1,
    CSYS_MOUNT_SYS = 2,
    CSYS_MOUNT_DEV = 3,
    CSYS_MOUNT_DEVPTS = 4,
    CSYS_MOUNT_TMP = 5,
    CSYS_MOUNT_READ_ONLY = 6,  // a sandbox's mounts made read-only
    CSYS_MOUNT_LOOPBACK = 7,   // a sandbox's loopback brought up
};

struct csys_spawn_failure {
    int stage;
    int error;
    int detail;
};

// Returns the child's pid once it has executed (for a contained program: once the
// program has), or -1 with `failure` set (the failed child has already been reaped).
int csys_spawn(const struct csys_spawn_request *request, struct csys_spawn_failure *failure);

// A memfd holding `length` bytes of `bytes`, positioned at 0: a command's stdin.
// Returns the descriptor (close-on-exec), or -1 with errno.
int csys_input_file(const void *bytes, size_t length);

// PTYs: opens a master (close-on-exec, non-blocking) and its slave (close-on-exec),
// sized rows x cols. Returns 0, or -1 with errno.
int csys_open_pty(int *master, int *slave, unsigned short rows, unsigned short cols);
// TIOCSWINSZ: the kernel then sends SIGWINCH to the terminal's foreground process group.
int csys_set_window_size(int master, unsigned short rows, unsigned short cols);
// A terminal's line discipline, set through its master: CSYS_TERMINAL_SANE is `stty sane`,
// CSYS_TERMINAL_PIPE `stty raw icrnl isig -echo` (output as close to what the program
// wrote as a terminal allows). Returns 0, or -1 with errno.
enum { CSYS_TERMINAL_SANE = 0, CSYS_TERMINAL_PIPE = 1 };
int csys_set_terminal_mode(int master, int mode);
static const int CSYS_EIO = EIO;
static const int CSYS_EBADF = EBADF;
static const int CSYS_EPIPE = EPIPE, CSYS_EPROTO = EPROTO;

// Files as a user: switches the calling thread's filesystem identity (fsuid, fsgid and
// supplementary groups; all per thread on Linux, set with raw syscalls so libc does not
// broadcast them to the other threads), and, for a uid other than 0, empties the thread's
// effective capabilities until it switches back to 0. Returns 0, or -1 with errno.
int csys_fs_identity(uint32_t uid, uint32_t gid, const uint32_t *groups, int count);
// The agent's own supplementary groups (to restore after csys_fs_identity).
int csys_own_groups(uint32_t *groups, int capacity);

// splice(2) with in/out offsets (NULL: the descriptor's own position), and the pipe size.
ssize_t csys_splice(int in, int64_t *in_offset, int out, size_t length, int nonblocking);
int csys_set_pipe_size(int fd, int size);
int csys_pipe_capacity(int fd);

// Directory entries (getdents64) into `buffer`: bytes filled, 0 at the end, -1 on error.
long csys_getdents(int fd, void *buffer, size_t size);
// openat is variadic.
int csys_openat(int dirfd, const char *path, int flags);
// renameat2; without `replace`, an existing target is EEXIST (RENAME_NOREPLACE).
int csys_renameat(int from_dir, const char *from, int to_dir, const char *to, int replace);
// An O_PATH descriptor of `name` in `dirfd` itself (a symlink is not followed): a handle
// for walking a path, which needs search permission on `dirfd` only.
int csys_open_path(int dirfd, const char *name);
// prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants become the agent's children.
int csys_become_subreaper(void);
// 1 when `fd` is the root directory of a procfs mount, 0 when not, -1 with errno.
int csys_is_procfs_root(int fd);
static const int CSYS_O_NONBLOCK = O_NONBLOCK;
static const int CSYS_ENAMETOOLONG = ENAMETOOLONG;
static const int CSYS_ESPIPE = ESPIPE;
static const int CSYS_EINVAL = EINVAL;
static const int CSYS_ENXIO = ENXIO;

static const int CSYS_AT_FDCWD = AT_FDCWD;
static const int CSYS_AT_SYMLINK_NOFOLLOW = AT_SYMLINK_NOFOLLOW;
static const int CSYS_AT_REMOVEDIR = AT_REMOVEDIR;
static const int CSYS_O_DIRECTORY_NOFOLLOW = O_DIRECTORY | O_NOFOLLOW;
static const int CSYS_O_DIRECTORY = O_DIRECTORY;
static const int CSYS_SEEK_SET = SEEK_SET;
static const int CSYS_ENOTEMPTY = ENOTEMPTY;
static const int CSYS_ELOOP = ELOOP;
static const int CSYS_EXDEV = EXDEV;
static const int CSYS_EROFS = EROFS;
static const mode_t CSYS_S_IFREG = S_IFREG;
static const mode_t CSYS_S_IFLNK = S_IFLNK;
static const mode_t CSYS_S_IFCHR = S_IFCHR;
static const mode_t CSYS_S_IFBLK = S_IFBLK;
static const mode_t CSYS_S_IFIFO = S_IFIFO;

// TCP connect (DbgPlatform): getaddrinfo's hints and error text, connect's progress.
static const int CSYS_AF_UNSPEC = AF_UNSPEC;
static const int CSYS_SO_ERROR = SO_ERROR;
static const int CSYS_ETIMEDOUT = ETIMEDOUT;
static const int CSYS_ECANCELED = ECANCELED;
const char *csys_resolve_message(int error);
// poll for one descriptor: 1 ready, 0 not yet (timeout or a signal), -1 with errno.
int csys_wait_ready(int fd, int writable, int timeout_ms);
dev_t csys_makedev(uint32_t major, uint32_t minor);
uint32_t csys_major(uint64_t device);
uint32_t csys_minor(uint64_t device);
int csys_dup_cloexec(int fd);
// A new file (O_EXCL, O_NOFOLLOW) for writing: refuses to open anything that exists.
int csys_openat_create(int dirfd, const char *name, mode_t mode);
int csys_syncfs(int fd);

// Serial lines (DbgPlatform): the termios flags and the standard rates' speed codes.
static const tcflag_t CSYS_IXON = IXON, CSYS_IXOFF = IXOFF, CSYS_IXANY = IXANY;
static const tcflag_t CSYS_CSTOPB = CSTOPB, CSYS_PARENB = PARENB, CSYS_CRTSCTS = CRTSCTS, CSYS_HUPCL = HUPCL;
static const tcflag_t CSYS_CLOCAL = CLOCAL, CSYS_CREAD = CREAD, CSYS_CS8 = CS8;
static const int CSYS_VMIN = VMIN, CSYS_VTIME = VTIME, CSYS_TCSANOW = TCSANOW, CSYS_TCIOFLUSH = TCIOFLUSH;
static const int CSYS_O_RDWR_NOCTTY_NONBLOCK_CLOEXEC = O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
static const speed_t CSYS_B1200 = B1200, CSYS_B2400 = B2400, CSYS_B4800 = B4800, CSYS_B9600 = B9600;
static const speed_t CSYS_B19200 = B19200, CSYS_B38400 = B38400, CSYS_B57600 = B57600, CSYS_B115200 = B115200;
static const speed_t CSYS_B230400 = B230400, CSYS_B460800 = B460800, CSYS_B500000 = B500000, CSYS_B576000 = B576000;
static const speed_t CSYS_B921600 = B921600, CSYS_B1000000 = B1000000, CSYS_B1152000 = B1152000;
static const speed_t CSYS_B1500000 = B1500000, CSYS_B2000000 = B2000000, CSYS_B2500000 = B2500000;
static const speed_t CSYS_B3000000 = B3000000, CSYS_B3500000 = B3500000, CSYS_B4000000 = B4000000;
// socketpair(AF_UNIX, SOCK_STREAM), both ends non-blocking and close-on-exec.
int csys_socketpair(int fds[2]);
// The next byte a socket will read, left there (MSG_PEEK): 1 with *byte set, 0 at the
// end of the stream, -1 with errno (EAGAIN: nothing yet).
int csys_peek_byte(int fd, uint8_t *byte);
// send(2) with MSG_NOSIGNAL: a peer that went away is EPIPE, not SIGPIPE (the client does
// not ignore it).
ssize_t csys_send_quietly(int socket, const void *bytes, size_t length);
// A message on a Unix socket with a descriptor along (SCM_RIGHTS): the bytes sent, or -1
// with errno.
ssize_t csys_send_with_descriptor(int socket, const void *bytes, size_t length, int descriptor);
// Reads like read(2); a descriptor that came along is put in *descriptor (close-on-exec),
// else it is -1.
ssize_t csys_receive_with_descriptor(int socket, void *bytes, size_t length, int *descriptor);

// umount2(MNT_DETACH): 0, or -1 with errno.
int csys_unmount_detached(const char *path);
static const int CSYS_O_NOFOLLOW = O_NOFOLLOW;

// SO_PEERCRED: who is at the other end of a Unix socket. 0, or -1 with errno.
int csys_peer_credentials(int fd, uint32_t *uid, uint32_t *gid);
// The process at the other end of a Unix socket (when it connected), or -1 with errno.
int csys_peer_process(int fd);

// Multicast DNS (mdns.c): the UDP socket on 224.0.0.251:5353, the addresses of the
// interfaces it is answered on, and netlink news of address changes.
struct csys_interface_address {
    int family;  // AF_INET or AF_INET6
    unsigned int index;
    unsigned char address[16];
    unsigned char netmask[16];
};
// Addresses of interfaces that are up, multicast-capable and not loopback: how many were
// written (at most `capacity`), or -1 with errno.
int csys_interface_addresses(struct csys_interface_address *out, int capacity);
// A UDP socket bound to 0.0.0.0:port (shared with other responders), non-blocking,
// close-on-exec, multicast TTL 255 and loopback on: the descriptor, or -1 with errno.
int csys_mdns_socket(int port);
// Joins 224.0.0.251 on the interface with this IPv4 address (already joined counts):
// 0, or -1 with errno.
int csys_mdns_join(int fd, const unsigned char interface_address[4]);
// One datagram (0 when it was cut), with its source and the interface it came in on.
long csys_mdns_receive(int fd, void *buffer, size_t length, unsigned char source[4], unsigned short *port,
                       unsigned int *interface_index);
// Sends to address:port (NULL: the mDNS group) out of the interface (0: as routed).
long csys_mdns_send(int fd, const void *buffer, size_t length, const unsigned char address[4], unsigned short port,
                    unsigned int interface_index);
// A netlink socket that becomes readable when an address is added or removed.
int csys_address_watch_socket(void);

// open and fcntl are variadic, which Swift cannot call.
int csys_open(const char *path, int flags);
// O_DIRECT needs _GNU_SOURCE, which this header cannot assume (its value differs by architecture).
extern const int CSYS_O_DIRECT;
static const int CSYS_O_EXCL = O_EXCL;
static const int CSYS_EBUSY = EBUSY;

// Block devices (flashing); ioctl is variadic. Each returns 0 or -1 with errno.
// BLKGETSIZE64: the device's size in bytes.
int csys_block_size(int fd, uint64_t *bytes);
// BLKSSZGET: the logical sector size.
int csys_block_sector_size(int fd, unsigned int *bytes);
// BLKFLSBUF: write back and drop the device's cached pages, so reads come from it.
int csys_block_flush(int fd);
// BLKDISCARD and BLKZEROOUT of [offset, offset + length).
int csys_block_discard(int fd, uint64_t offset, uint64_t length);
int csys_block_zero_out(int fd, uint64_t offset, uint64_t length);
// sync_file_range, waiting: the range's dirty pages written back (_GNU_SOURCE).
int csys_sync_range(int fd, uint64_t offset, uint64_t length);
int csys_set_nonblocking(int fd);

// Running under an init system: the log file (appended to, created 0640), the pidfile
// (created 0644, locked for the agent's life), the datagram to systemd's NOTIFY_SOCKET.
int csys_open_log(const char *path);
int csys_open_pidfile(const char *path);
static const int CSYS_LOCK_EX_NB = LOCK_EX | LOCK_NB;
static const int CSYS_SOCK_DGRAM = SOCK_DGRAM;

#endif

#define _GNU_SOURCE 1
#include "csys.h"

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

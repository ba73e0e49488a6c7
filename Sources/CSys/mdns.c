// Multicast DNS plumbing for the agent's responder and the client's browser: the UDP
// socket on 224.0.0.251:5353, the interfaces' addresses, and address-change news from
// netlink. Here in C because ip_mreqn, in_pktinfo and their control messages are
// structures Swift cannot build portably (glibc and musl).
#define _GNU_SOURCE 1
#include "csys.h"
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

// From <linux/netlink.h> and <linux/rtnetlink.h> (kernel ABI, stable), which musl's
// headers do not bring.
#define DBG_NETLINK_ROUTE 0
#define DBG_RTMGRP_IPV4_IFADDR 0x10
#define DBG_RTMGRP_IPV6_IFADDR 0x100
struct dbg_sockaddr_nl {
    sa_family_t nl_family;
    unsigned short nl_pad;
    uint32_t nl_pid;
    uint32_t nl_groups;
};

static const unsigned char mdns_group[4] = {224, 0, 0, 251};

// fd once bound to `address`; else closed, -1 with bind's errno.
static int bound_or_closed(int fd, const struct sockaddr *address, socklen_t length) {
    if (bind(fd, address, length) == 0) return fd;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int csys_interface_addresses(struct csys_interface_address *out, int capacity) {
    struct ifaddrs *list;
    if (getifaddrs(&list) != 0) return -1;
    int count = 0;
    for (struct ifaddrs *entry = list; entry && count < capacity; entry = entry->ifa_next) {
        if (!entry->ifa_addr || !(entry->ifa_flags & IFF_UP) || (entry->ifa_flags & IFF_LOOPBACK)) continue;
        if (!(entry->ifa_flags & IFF_MULTICAST)) continue;
        int family = entry->ifa_addr->sa_family;
        if (family != AF_INET && family != AF_INET6) continue;
        struct csys_interface_address *a = &out[count];
        memset(a, 0, sizeof(*a));
        a->family = family;
        a->index = if_nametoindex(entry->ifa_name);
        if (family == AF_INET) {
            memcpy(a->address, &((struct sockaddr_in *)entry->ifa_addr)->sin_addr, 4);
            if (entry->ifa_netmask) memcpy(a->netmask, &((struct sockaddr_in *)entry->ifa_netmask)->sin_addr, 4);
        } else {
            memcpy(a->address, &((struct sockaddr_in6 *)entry->ifa_addr)->sin6_addr, 16);
            if (entry->ifa_netmask) memcpy(a->netmask, &((struct sockaddr_in6 *)entry->ifa_netmask)->sin6_addr, 16);
        }
        count++;
    }
    freeifaddrs(list);
    return count;
}

int csys_mdns_socket(int port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1, ttl = 255;
    unsigned char loop = 1, mttl = 255;
    // Other responders (avahi) may share the port; each socket sees every packet.
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &mttl, sizeof(mttl));
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop));
    // A small receive buffer: what does not fit while the loop is busy is dropped, and
    // mDNS repeats itself.
    int buffer = 64 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
    return bound_or_closed(fd, (struct sockaddr *)&address, sizeof(address));
}

int csys_mdns_join(int fd, const unsigned char interface_address[4]) {
    // ip_mreq by the interface's address rather than ip_mreqn by its index: the older
    // form is what every kernel and qemu-user carry alike.
    struct ip_mreq request;
    memcpy(&request.imr_multiaddr, mdns_group, 4);
    memcpy(&request.imr_interface, interface_address, 4);
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof(request)) == 0) return 0;
    return errno == EADDRINUSE ? 0 : -1;
}

long csys_mdns_receive(int fd, void *buffer, size_t length, unsigned char source[4], unsigned short *port,
                       unsigned int *interface_index) {
    struct sockaddr_in from;
    char control[CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct iovec io = { .iov_base = buffer, .iov_len = length };
    struct msghdr message = {
        .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &io, .msg_iovlen = 1,
        .msg_control = control, .msg_controllen = sizeof(control),
    };
    ssize_t got = recvmsg(fd, &message, MSG_DONTWAIT);
    if (got < 0) return -1;
    if (message.msg_flags & MSG_TRUNC) return 0;  // larger than any packet we read: ignored
    memcpy(source, &from.sin_addr, 4);
    *port = ntohs(from.sin_port);
    *interface_index = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof(info));
            *interface_index = (unsigned int)info.ipi_ifindex;
        }
    }
    return got;
}

long csys_mdns_send(int fd, const void *buffer, size_t length, const unsigned char address[4], unsigned short port,
                    unsigned int interface_index) {
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
    memcpy(&to.sin_addr, address ? address : mdns_group, 4);
    char control[CMSG_SPACE(sizeof(struct in_pktinfo))];
    memset(control, 0, sizeof(control));
    struct iovec io = { .iov_base = (void *)buffer, .iov_len = length };
    struct msghdr message = { .msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &io, .msg_iovlen = 1 };
    if (interface_index != 0) {
        // Out of this interface, multicast included.
        message.msg_control = control;
        message.msg_controllen = sizeof(control);
        struct cmsghdr *c = CMSG_FIRSTHDR(&message);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo info = { .ipi_ifindex = (int)interface_index };
        memcpy(CMSG_DATA(c), &info, sizeof(info));
    }
    return sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
}

int csys_address_watch_socket(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, DBG_NETLINK_ROUTE);
    if (fd < 0) return -1;
    struct dbg_sockaddr_nl address = { .nl_family = AF_NETLINK, .nl_groups = DBG_RTMGRP_IPV4_IFADDR | DBG_RTMGRP_IPV6_IFADDR };
    return bound_or_closed(fd, (struct sockaddr *)&address, sizeof(address));
}

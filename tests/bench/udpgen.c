// Minimal AF_PACKET UDP frame blaster (stand-in for trafgen where trafgen's TX_RING aborts on EAGAIN,
// e.g. when RPS queues skbs on another CPU and the socket's sndbuf fills: "Flushing TX_RING failed").
// Sends pre-built 60-byte frames (NFLOWS source ports) with sendmmsg() batches of 64, PACKET_QDISC_BYPASS,
// SO_SNDBUFFORCE 64 MiB, retries on EAGAIN/ENOBUFS. Stops after SECS seconds.
// usage: udpgen IFACE DSTMAC SRCIP DSTIP DPORT NFLOWS SECS
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static uint16_t csum(const uint8_t *b, int n) { uint32_t s = 0; for (int i = 0; i < n; i += 2) s += (b[i] << 8) | b[i + 1]; while (s >> 16) s = (s & 0xffff) + (s >> 16); return ~s; }
int main(int argc, char **argv) {
    if (argc < 8) { fprintf(stderr, "usage\n"); return 2; }
    int nf = atoi(argv[6]); double secs = atof(argv[7]);
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    struct sockaddr_ll sll = {0}; sll.sll_family = AF_PACKET; sll.sll_ifindex = if_nametoindex(argv[1]);
    if (bind(fd, (void *)&sll, sizeof sll)) { perror("bind"); return 1; }
    int one = 1, sb = 64 << 20; setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sb, sizeof sb);
    uint8_t smac[6], dmac[6]; struct ifreq ifr = {0}; strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1); ioctl(fd, SIOCGIFHWADDR, &ifr); memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
    sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1], &dmac[2], &dmac[3], &dmac[4], &dmac[5]);
    uint32_t sip = inet_addr(argv[3]), dip = inet_addr(argv[4]); uint16_t dport = atoi(argv[5]);
    uint8_t (*fr)[60] = calloc(nf, 60);
    for (int i = 0; i < nf; i++) {
        uint8_t *f = fr[i]; memcpy(f, dmac, 6); memcpy(f + 6, smac, 6); f[12] = 8; f[13] = 0;
        uint8_t *ip = f + 14; ip[0] = 0x45; ip[3] = 46; ip[4] = i >> 8; ip[5] = i; ip[6] = 0x40; ip[8] = 64; ip[9] = 17;
        memcpy(ip + 12, &sip, 4); memcpy(ip + 16, &dip, 4); uint16_t c = csum(ip, 20); ip[10] = c >> 8; ip[11] = c;
        uint8_t *u = ip + 20; uint16_t sp = 10000 + i; u[0] = sp >> 8; u[1] = sp; u[2] = dport >> 8; u[3] = dport; u[5] = 26;
    }
    enum { B = 64 }; struct mmsghdr m[B]; struct iovec iov[B]; memset(m, 0, sizeof m);
    for (int i = 0; i < B; i++) { m[i].msg_hdr.msg_iov = &iov[i]; m[i].msg_hdr.msg_iovlen = 1; iov[i].iov_len = 60; }
    struct timespec t0, t; clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long long sent = 0, again = 0; int k = 0;
    for (;;) {
        if ((sent & 0xfff) < B) { clock_gettime(CLOCK_MONOTONIC, &t); if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > secs) break; }
        for (int i = 0; i < B; i++) iov[i].iov_base = fr[(k + i) % nf];
        int r = sendmmsg(fd, m, B, 0);
        if (r < 0) { if (errno == EAGAIN || errno == ENOBUFS) { again++; sched_yield(); continue; } perror("sendmmsg"); return 1; }
        sent += r; k = (k + r) % nf;
    }
    fprintf(stderr, "udpgen: sent %llu in %.1f s (%.0f pps), eagain %llu\n", sent, secs, sent / secs, again);
    return 0;
}

// SPDX-License-Identifier: Apache-2.0
// bench-udp-flood DST_IPV4 COUNT: sends COUNT one-byte UDP datagrams to
// DST_IPV4, destination ports 1..COUNT (each a new connection), with
// sendmmsg(2) 256 at a time so that the sender costs little next to the
// path the packets take (veth, openvswitch.ko, conntrack). Prints the
// seconds it took. Built by tests/vm/bench-run.sh for `make bench`.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 256

int main(int argc, char **argv)
{
	struct sockaddr_in to[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov = { .iov_base = "z", .iov_len = 1 };
	struct timespec t0, t1;
	long count, sent = 0;
	int fd, i;

	if (argc != 3 || (count = atol(argv[2])) < 1 || count > 65535) {
		fprintf(stderr, "usage: bench-udp-flood DST_IPV4 COUNT(1..65535)\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("bench-udp-flood: socket");
		return 1;
	}
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		to[i].sin_family = AF_INET;
		if (inet_pton(AF_INET, argv[1], &to[i].sin_addr) != 1) {
			fprintf(stderr, "bench-udp-flood: bad address %s\n", argv[1]);
			return 2;
		}
		msgs[i].msg_hdr.msg_name = &to[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(to[i]);
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (sent < count) {
		int n = count - sent < BATCH ? count - sent : BATCH, done;

		for (i = 0; i < n; i++)
			to[i].sin_port = htons(sent + i + 1);
		done = sendmmsg(fd, msgs, n, 0);
		if (done < 0) {
			perror("bench-udp-flood: sendmmsg");
			return 1;
		}
		sent += done;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

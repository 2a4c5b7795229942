#!/usr/bin/env python3
"""A real server for the end-to-end tests, on kernel sockets (IPv4 and IPv6, dual stack).

usage: server.py NAME DIR
  TCP 80 and 8080  HTTP/1.0 GET of files in DIR (the body of /id is NAME)
  TCP 9000         reads to EOF, answers "NAME SHA256HEX\n" (uploads checked by digest)
  TCP 9002         answers "NAME\n" and then holds the connection open until the client
                   closes (long-lived connections for the quiesce test)
  UDP 9001         answers each datagram with "NAME:" + the datagram
Prints "ready" when every socket listens.
"""
import hashlib
import http.server
import os
import socket
import socketserver
import sys
import threading

NAME, ROOT = sys.argv[1], sys.argv[2]


class Http(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=ROOT, **kw)

    def log_message(self, *a):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class Digest(socketserver.BaseRequestHandler):
    def handle(self):
        h = hashlib.sha256()
        while True:
            b = self.request.recv(65536)
            if not b:
                break
            h.update(b)
        self.request.sendall(f"{NAME} {h.hexdigest()}\n".encode())


class Hold(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(f"{NAME}\n".encode())
        while True:
            b = self.request.recv(4096)
            if not b:
                break
            self.request.sendall(b)


def udp():
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", 9001))
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(NAME.encode() + b":" + data, peer)


servers = [Server(("::", p), Http) for p in (80, 8080)]
servers += [Server(("::", 9000), Digest), Server(("::", 9002), Hold)]
for srv in servers:
    threading.Thread(target=srv.serve_forever, daemon=True).start()
threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()

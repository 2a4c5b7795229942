#!/usr/bin/env python3
"""A real server for the end-to-end tests, on kernel sockets (IPv4 and IPv6, dual stack).

usage: server.py NAME DIR [VIP...]
  TCP 80 and 8080  HTTP/1.0 GET of files in DIR (the body of /id is NAME); GET /health
                   answers 200 "ok", or 500 while the file DIR/fail500 exists (health checks)
  TCP 9000         reads to EOF, answers "NAME SHA256HEX\n" (uploads checked by digest)
  TCP 9002         answers "NAME PEER-IP\n", then echoes until the client closes
                   (long-lived connections: quiesce, FULLNAT's source address)
  UDP 9001         answers each datagram with "NAME:" + the datagram; also bound to each
                   VIP (IP_FREEBIND: the VIP may appear later), so DR/TUN replies leave from
                   the VIP and not from the wildcard socket's routed source address
Prints "ready" when every socket listens.
"""
import hashlib
import http.server
import os
import socket
import socketserver
import sys
import threading

NAME, ROOT, VIPS = sys.argv[1], sys.argv[2], sys.argv[3:]
IP_FREEBIND = 15


class Http(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=ROOT, **kw)

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path != "/health":
            return super().do_GET()
        failing = os.path.exists(os.path.join(ROOT, "fail500"))
        body = b"failing\n" if failing else b"ok\n"
        self.send_response(500 if failing else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


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
        peer = self.client_address[0].removeprefix("::ffff:")
        self.request.sendall(f"{NAME} {peer}\n".encode())
        while True:
            b = self.request.recv(4096)
            if not b:
                break
            self.request.sendall(b)


def udp_socket(addr):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    # Wildcard and specific binds of one port coexist only with SO_REUSEADDR on both.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if addr == "::":
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    else:
        s.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
    s.bind((addr, 9001))
    return s


def udp(s):
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(NAME.encode() + b":" + data, peer)


servers = [Server(("::", p), Http) for p in (80, 8080)]
servers += [Server(("::", 9000), Digest), Server(("::", 9002), Hold)]
for srv in servers:
    threading.Thread(target=srv.serve_forever, daemon=True).start()
for a in ["::"] + VIPS:
    threading.Thread(target=udp, args=(udp_socket(a),), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()

"""Loopback fault proxy and paced writer shared by the replication benchmark scripts (python3,
standard library only).

    python3 bench/tools.py proxy LISTEN_PORT TARGET_PORT RATE_KBPS [ACCEPT_LOG]
        Forwards every connection to TARGET_PORT; the target -> client direction is throttled to
        RATE_KBPS kB/s per connection (0: unthrottled). SIGUSR1 cuts the link: every open
        connection is closed (both ends) and new ones are accepted and closed at once until SIGUSR2
        restores it (a replica keeps retrying and failing meanwhile). With ACCEPT_LOG, the time of
        every connection it forwards is appended to that file (ms since the epoch, one a line).
    python3 bench/tools.py writer PORT RATE_KBPS
        Sends `SET load:<i> <1000 bytes>` (i cycling over 100,000 keys) at RATE_KBPS kB/s of
        commands, in pipelined batches of 16, reading and dropping the replies.
"""
import signal
import socket
import sys
import threading
import time

open_socks = set()
lock = threading.Lock()
cut = False


def close(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


def pump(src, dst, rate):
    # rate: bytes per second, 0 for unthrottled.
    try:
        start, sent = time.monotonic(), 0
        while True:
            b = src.recv(16384)
            if not b:
                break
            dst.sendall(b)
            if rate:
                sent += len(b)
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    with lock:
        open_socks.discard(src)
        open_socks.discard(dst)


def on_cut(*_):
    global cut
    with lock:
        cut = True
        socks = list(open_socks)
        open_socks.clear()
    for s in socks:
        close(s)


def on_restore(*_):
    global cut
    with lock:
        cut = False


def proxy(listen, target, rate, accept_log=None):
    signal.signal(signal.SIGUSR1, on_cut)
    signal.signal(signal.SIGUSR2, on_restore)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen))
    ls.listen(16)
    while True:
        c, _ = ls.accept()
        with lock:
            refused = cut
        if refused:
            close(c)
            continue
        try:
            u = socket.create_connection(("127.0.0.1", target))
        except OSError:
            close(c)
            continue
        if accept_log:
            with open(accept_log, "a") as f:
                f.write("%d\n" % int(time.time() * 1000))
        with lock:
            open_socks.update((c, u))
        threading.Thread(target=pump, args=(u, c, rate), daemon=True).start()
        threading.Thread(target=pump, args=(c, u, 0), daemon=True).start()


def writer(port, rate):
    s = socket.create_connection(("127.0.0.1", port))

    def drain():
        while s.recv(65536):
            pass

    threading.Thread(target=drain, daemon=True).start()
    val = b"v" * 1000
    start, sent, i = time.monotonic(), 0, 0
    while True:
        batch = []
        for _ in range(16):
            k = b"load:%d" % (i % 100000)
            i += 1
            batch.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1000\r\n%s\r\n" % (len(k), k, val))
        data = b"".join(batch)
        s.sendall(data)
        sent += len(data)
        ahead = sent / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)


if __name__ == "__main__":
    if sys.argv[1] == "proxy":
        proxy(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) * 1000, (sys.argv[5:] or [None])[0])
    else:
        writer(int(sys.argv[2]), int(sys.argv[3]) * 1000)

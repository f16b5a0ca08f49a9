#!/usr/bin/env python3
"""sse_stub.py - a tiny OpenAI-compatible server for `desk bench --url` tests.

POST /v1/chat/completions streams chat-completion chunks (SSE over chunked
HTTP/1.1) with known delays: the first token D1 ms after the request came,
then each D2 ms after the one before (so no gap is ever shorter than D2,
however late a busy machine wakes the stub).  The request's "model" picks a behaviour:

  stub        the normal stream: max_tokens content chunks, a finish_reason,
              a usage chunk when stream_options.include_usage, then [DONE]
  nousage     the same without a usage chunk (the client counts chunks)
  malformed   two good chunks, then a data line that is not JSON
  garbage     two good chunks, then a line that is not SSE at all
  close       two good chunks, then the connection closes mid-stream
  http429 / http503   that status with a JSON error body
  json        200 with one non-streamed JSON body (a server ignoring "stream")
  drop        the normal stream, but a connection's second request is met
              by closing it unanswered (a server that closes kept-alive
              connections, caught in the race: the client must send again)

GET /v1/models lists "stub"; POST /tokenize {"content"} returns one token per
whitespace-separated word (as llama.cpp's /tokenize answers).  GET /stats
returns what the stub did: per finished normal stream, the delays it
actually achieved (ttft_ms from reading the request to writing the first
token, itl_ms between the writes), measured on its own monotonic clock.

Usage: sse_stub.py D1_MS D2_MS  (prints "PORT n" on stdout once listening)
"""
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

D1 = float(sys.argv[1]) / 1e3 if len(sys.argv) > 1 else 0.04
D2 = float(sys.argv[2]) / 1e3 if len(sys.argv) > 2 else 0.015
stats_lock = threading.Lock()
stats = []


def sleep_until(t):
    while True:
        d = t - time.monotonic()
        if d <= 0:
            return
        time.sleep(d)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        if self.path == "/v1/models":
            self.reply(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})
        elif self.path == "/stats":
            with stats_lock:
                self.reply(200, {"streams": list(stats)})
        else:
            self.reply(404, {"error": {"message": "not found"}})

    def setup(self):
        super().setup()
        self.served = 0  # requests answered on this connection
        # Each write goes out at once, as a real server's tokens do.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        try:
            self.post()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer

    def post(self):
        t0 = time.monotonic()
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        if self.path == "/tokenize":
            self.reply(200, {"tokens": list(range(len(req.get("content", "").split())))})
            return
        if self.path != "/v1/chat/completions":
            self.reply(404, {"error": {"message": "not found"}})
            return
        mode = req.get("model", "stub")
        if mode == "drop" and self.served:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.served += 1
        if mode in ("http429", "http503"):
            self.reply(int(mode[4:]), {"error": {"message": "busy", "code": int(mode[4:])}})
            return
        if mode == "json":
            self.reply(200, {"choices": [{"message": {"role": "assistant", "content": "hi"}}]})
            return
        max_tokens = int(req.get("max_tokens", 16))
        words = len(req["messages"][-1]["content"].split()) if req.get("messages") else 0
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(obj):
            self.chunk(b"data: " + json.dumps(obj).encode() + b"\n\n")

        base = {"id": "c1", "object": "chat.completion.chunk", "model": mode}
        # A role-only chunk first, as real servers send: not a token.
        event(dict(base, choices=[{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]))
        sent = []
        for k in range(max_tokens):
            sleep_until(t0 + D1 if k == 0 else sent[-1] + D2)
            if k == 2 and mode == "malformed":
                self.chunk(b"data: {\"choices\": [\n\n")
                return
            if k == 2 and mode == "garbage":
                self.chunk(b"<html>oops</html>\n\n")
                return
            if k == 2 and mode == "close":
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            fin = "length" if k == max_tokens - 1 else None
            data = dict(base, choices=[{"index": 0, "delta": {"content": " w%d" % k}, "finish_reason": fin}])
            # Stamped just before the write: a busy machine may hold this
            # thread after it, and the token has left by then.
            sent.append(time.monotonic())
            event(data)
        if req.get("stream_options", {}).get("include_usage") and mode != "nousage":
            event(dict(base, choices=[], usage={"prompt_tokens": words, "completion_tokens": max_tokens,
                                                "total_tokens": words + max_tokens}))
        self.chunk(b": a comment line, as keep-alives are\n\n")
        self.chunk(b"data: [DONE]\n\n")
        self.chunk(b"")
        with stats_lock:
            stats.append({"ttft_ms": (sent[0] - t0) * 1e3 if sent else None,
                          "itl_ms": [(b - a) * 1e3 for a, b in zip(sent, sent[1:])]})


def main():
    ThreadingHTTPServer.request_queue_size = 256  # many clients connect at once
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()

"""test_chat_tty.py - `desk chat` on a terminal (a pseudo-terminal): the
banner and prompt, a streamed answer, history recall with the up arrow,
/reset, Ctrl-C stopping an answer without ending the program, /quit, and
Ctrl-C or Ctrl-D at the prompt ending it.  Uses the real smollm2 model.
"""
import os
import pty
import select
import sys
import time

DESK = os.environ.get("DESK_BIN", "build/desk")
SLOW = 4 if os.environ.get("DESK_SANITIZED") else 1
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


class Session:
    def __init__(self, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(DESK, [DESK, "chat", "-m", "smollm2", "-t", "1", *args])
        self.buf = b""
        self.reads = 0  # reads that returned data, to see streaming

    def read_until(self, marker, timeout):
        """Reads until MARKER appears in what has not been consumed yet;
        consumes and returns the text up to it (marker included), or None
        on timeout or end of output."""
        end = time.time() + timeout * SLOW
        while time.time() < end:
            i = self.buf.find(marker)
            if i >= 0:
                got = self.buf[:i + len(marker)]
                self.buf = self.buf[i + len(marker):]
                return got
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    d = os.read(self.fd, 4096)
                except OSError:
                    return None
                if not d:
                    return None
                self.reads += 1
                self.buf += d
        return None

    def send(self, data):
        # libedit may flush typed-ahead input while it sets the terminal
        # up after printing the prompt, as a person never types that fast
        time.sleep(0.3 * SLOW)
        os.write(self.fd, data)

    def wait(self, timeout):
        end = time.time() + timeout * SLOW
        while time.time() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                try:
                    while os.read(self.fd, 4096):
                        pass
                except OSError:
                    pass
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        return None


def main():
    s = Session("--temp", "0", "-n", "120", "--ctx", "1024")
    banner = s.read_until(b"> ", 60)
    check("banner", banner is not None and b"desk chat" in banner, repr(banner))

    s.send(b"What is the capital of France?\r")
    reads_before = s.reads
    answer = s.read_until(b"\r\n> ", 120)
    check("answer", answer is not None and b"Paris" in answer, repr(answer))
    check("streamed", s.reads - reads_before >= 3, f"{s.reads - reads_before} reads")

    # the up arrow recalls the last line from history
    s.send(b"\x1b[A")
    recalled = s.read_until(b"France?", 10)
    check("history", recalled is not None, repr(s.buf[-200:]))
    s.send(b"\x15")  # Ctrl-U clears the recalled line

    s.send(b"/reset\r")
    cleared = s.read_until(b"conversation cleared]", 10)
    check("reset", cleared is not None, repr(s.buf[-200:]))
    check("prompt after reset", s.read_until(b"> ", 10) is not None)

    s.send(b"Count from 1 to 200, separated by commas.\r")
    echoed = s.read_until(b"commas.\r\n", 30)
    # the answer's first line has arrived: it is streaming now
    started = echoed is not None and s.read_until(b"\r\n", 120)
    check("long answer starts", started is not None, repr(s.buf[-200:]))
    s.send(b"\x03")
    stopped = s.read_until(b"[stopped]", 30)
    check("ctrl-c stops the answer", stopped is not None, repr(s.buf[-300:]))
    check("prompt after ctrl-c", s.read_until(b"> ", 10) is not None, repr(s.buf[-200:]))

    s.send(b"Thanks!\r")
    again = s.read_until(b"\r\n> ", 120)
    check("still answering after ctrl-c", again is not None and len(again) > 12, repr(again))

    s.send(b"/quit\r")
    check("/quit exits 0", s.wait(30) == 0)

    s = Session("--temp", "0", "-n", "16")
    check("second banner", s.read_until(b"> ", 60) is not None)
    s.send(b"\x03")
    check("ctrl-c at the prompt exits 0", s.wait(30) == 0)

    s = Session("--temp", "0", "-n", "16")
    check("third banner", s.read_until(b"> ", 60) is not None)
    s.send(b"\x04")
    check("ctrl-d exits 0", s.wait(30) == 0)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

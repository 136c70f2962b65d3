"""A TCP proxy the Python test scripts control, standing in for a network path between a client
and a server: it can stall (hold every byte and every new connection, as a path that silently
drops traffic) and delay each new connection (a peer slow to answer a handshake)."""
import socket
import threading
import time


class TcpProxy:
    """Forwards 127.0.0.1:<port> to (upstream_host, upstream_port). Each new connection is held
    `connect_delay` seconds before it is relayed; stall() holds every byte and every new connection
    until resume(). `connections` counts the connections accepted."""

    def __init__(self, upstream_host, upstream_port, connect_delay=0.0):
        self.upstream = (upstream_host, upstream_port)
        self.connect_delay = connect_delay
        self.connections = 0
        self.flowing = threading.Event()
        self.flowing.set()
        self.server = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.server.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self):
        self.flowing.clear()

    def resume(self):
        self.flowing.set()

    def close(self):
        """Stops accepting; connections being relayed go on until either side closes."""
        self.server.close()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed
            self.connections += 1
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client):
        time.sleep(self.connect_delay)
        self.flowing.wait()
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source, target):
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                target.sendall(data)
        except OSError:
            pass
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

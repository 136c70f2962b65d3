"""The channel to the engines: plaintext or TLS (optionally mutual), a bearer token, calls spread
round-robin over every address of the target, and the client retry policy of
docs/reliability.md: UNAVAILABLE (and CANCELLED, which a caller here cannot cause) is retried with
exponential backoff (0.1 s doubling to 2 s) for calls that are safe to repeat, until
`retry_timeout` has passed."""
import json
import random
import time

import grpc

from . import errors

_SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


class _TokenAuth(grpc.AuthMetadataPlugin):
    def __init__(self, token):
        self._token = token

    def __call__(self, context, callback):
        callback((("authorization", "Bearer " + self._token),), None)


def _read(path):
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


def open_channel(address, tls=False, tls_ca=None, tls_cert=None, tls_key=None, token=None,
                 tls_server_name=None):
    """A channel to `address` ("host:port", or "dns:///name:port" for every replica)."""
    # Retries are the Caller's (below); reconnect attempts stay frequent (at most 2 s apart) so a
    # restarted replica is found again within seconds: an attempt after a failure also waits for
    # the target's re-resolution, rate-limited by gRPC (a worker took 11 s to poll again after a
    # 35 s outage before the last option and the worker's 2 s poll retry). Not
    # grpc.min_reconnect_backoff_ms: gRPC's core takes it as the time an attempt may take
    # (default 20 s), and an attempt cut at 100 ms–2 s fails again and again when a busy engine
    # needs longer for its TLS handshake.
    options = [("grpc.service_config", _SERVICE_CONFIG), ("grpc.enable_retries", 0),
               ("grpc.max_receive_message_length", 64 * 1024 * 1024),
               ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 2000),
               ("grpc.dns_min_time_between_resolutions_ms", 1000)]
    if tls_server_name:
        options.append(("grpc.ssl_target_name_override", tls_server_name))
    secure = tls or tls_ca or tls_cert or token
    if not secure:
        return grpc.insecure_channel(address, options=options)
    if token and not (tls or tls_ca):
        raise ValueError("a token is only sent over TLS: give tls=True or tls_ca")
    credentials = grpc.ssl_channel_credentials(root_certificates=_read(tls_ca),
                                               private_key=_read(tls_key),
                                               certificate_chain=_read(tls_cert))
    if token:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.metadata_call_credentials(_TokenAuth(token)))
    return grpc.secure_channel(address, credentials, options=options)


class Caller:
    """Makes unary calls with a per-call timeout, turning RpcErrors into GridflowErrors and
    retrying UNAVAILABLE and CANCELLED for calls marked safe to repeat."""

    def __init__(self, timeout=30.0, retry_timeout=30.0):
        self.timeout = timeout
        self.retry_timeout = retry_timeout

    def call(self, method, request, retry=True, timeout=None, stale_lease=False):
        deadline = time.monotonic() + self.retry_timeout
        backoff = 0.1
        while True:
            try:
                return method(request, timeout=timeout or self.timeout)
            except grpc.RpcError as e:
                error = errors.from_rpc_error(e, stale_lease=stale_lease)
                if not (retry and isinstance(error, (errors.Unavailable, errors.Cancelled))):
                    raise error from None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise error from None
                time.sleep(min(left, random.uniform(backoff / 2, backoff)))
                backoff = min(backoff * 2, 2.0)

"""The gRPC health check of an engine replica, for the Python test scripts."""
import grpc


def health(address):
    """grpc.health.v1 Check of the whole server: 1 SERVING, 2 NOT_SERVING, None unreachable."""
    channel = grpc.insecure_channel(address)
    check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda b: b,
                                response_deserializer=lambda b: b)
    try:
        answer = check(b"", timeout=3)  # an empty HealthCheckRequest: the server as a whole
        return answer[1] if len(answer) >= 2 else 0  # field 1 (status) as a one-byte varint
    except grpc.RpcError:
        return None
    finally:
        channel.close()

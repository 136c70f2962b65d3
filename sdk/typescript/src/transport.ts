// The channel to the engines and the client retry policy (docs/reliability.md): plaintext or TLS
// (optionally mutual), a bearer token (TLS only), calls spread round-robin over every address of
// the target, UNAVAILABLE (and a CANCELLED the caller did not cause) retried with backoff (0.1 s
// doubling to 2 s) for calls that are safe to repeat, until `retryTimeoutMs` has passed. The API is loaded from the package's copy of proto/.
import * as fs from "fs";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { Cancelled, fromServiceError, Unavailable } from "./errors";
import type { ProtoGrpcType as WorkflowApi } from "./generated/workflow_service";
import type { ProtoGrpcType as WorkerApi } from "./generated/worker_service";

export interface ConnectionOptions {
  /** "host:port", or "dns:///name:port" to use every replica. */
  address: string;
  namespace?: string;
  /** Recorded with what the caller does (the engine records its authenticated principal too). */
  identity?: string;
  tls?: boolean;
  /** PEM files: the CA to trust, and a client certificate and key for mutual TLS. */
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
  /** A bearer token (sent only over TLS). */
  token?: string;
  timeoutMs?: number;
  retryTimeoutMs?: number;
}

const PROTO_DIR = path.resolve(__dirname, "..", "..", "proto");
const definition = protoLoader.loadSync(
  ["gridflow/v1/workflow_service.proto", "gridflow/v1/worker_service.proto"],
  { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true },
);
export const api = grpc.loadPackageDefinition(definition) as unknown as WorkflowApi & WorkerApi;

function read(file?: string): Buffer | null {
  return file ? fs.readFileSync(file) : null;
}

export function channelCredentials(o: ConnectionOptions): grpc.ChannelCredentials {
  const secure = o.tls || o.tlsCa || o.tlsCert;
  if (!secure) {
    if (o.token) throw new Error("a token is only sent over TLS: give tls or tlsCa");
    return grpc.credentials.createInsecure();
  }
  let credentials = grpc.credentials.createSsl(read(o.tlsCa), read(o.tlsKey), read(o.tlsCert));
  if (o.token) {
    const token = o.token;
    credentials = grpc.credentials.combineChannelCredentials(
      credentials,
      grpc.credentials.createFromMetadataGenerator((_params, callback) => {
        const metadata = new grpc.Metadata();
        metadata.set("authorization", `Bearer ${token}`);
        callback(null, metadata);
      }),
    );
  }
  return credentials;
}

export function channelOptions(o: ConnectionOptions): grpc.ChannelOptions {
  // Retries are the Caller's; reconnects stay at most 2 s apart, and the target may be resolved
  // again once a second (a reconnection after a failure waits for it), so a restarted replica
  // is found again within seconds.
  const options: grpc.ChannelOptions = {
    "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    "grpc.enable_retries": 0,
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 2000,
    "grpc.dns_min_time_between_resolutions_ms": 1000,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  };
  if (o.tlsServerName) options["grpc.ssl_target_name_override"] = o.tlsServerName;
  return options;
}

type Callback<Res> = (error: grpc.ServiceError | null, response?: Res) => void;
/** Starts one attempt of a unary call: (options, callback) => stub.Method(request, options, callback). */
export type Invoke<Res> = (options: grpc.CallOptions, callback: Callback<Res>) => grpc.ClientUnaryCall;

export interface CallOptions {
  retry?: boolean;
  timeoutMs?: number;
  staleLease?: boolean;
  /** Set to the call in flight, so that a caller can cancel it. */
  onCall?: (call: grpc.ClientUnaryCall) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Caller {
  constructor(readonly timeoutMs = 30_000, readonly retryTimeoutMs = 30_000) {}

  /**
   * Calls `method`, retrying UNAVAILABLE (when `retry`) until the retry window closes; CANCELLED
   * too when the caller cannot cancel the call (no `onCall`): gRPC answers it for a call that
   * reached a replica just as the replica closed, and that never ran.
   */
  async call<Res>(invoke: Invoke<Res>, o: CallOptions = {}): Promise<Res> {
    const retry = o.retry ?? true;
    const until = Date.now() + this.retryTimeoutMs;
    let backoff = 100;
    for (;;) {
      try {
        return await new Promise<Res>((resolve, reject) => {
          const deadline = new Date(Date.now() + (o.timeoutMs ?? this.timeoutMs));
          const call = invoke({ deadline }, (error, response) =>
            error ? reject(fromServiceError(error, o.staleLease)) : resolve(response as Res));
          o.onCall?.(call);
        });
      } catch (e) {
        const left = until - Date.now();
        const transient = e instanceof Unavailable || (e instanceof Cancelled && !o.onCall);
        if (!(retry && transient) || left <= 0) throw e;
        await sleep(Math.min(left, backoff / 2 + (Math.random() * backoff) / 2));
        backoff = Math.min(backoff * 2, 2000);
      }
    }
  }
}

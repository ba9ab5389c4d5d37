import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * A CRI client over containerd's unix socket: the calls the kubelet makes,
 * with the CRI's published protobuf definition (api.proto beside this file)
 * loaded by @grpc/proto-loader and spoken by @grpc/grpc-js. Field names are
 * the proto's (snake_case, keepCase); every call has a deadline.
 */

/** A CRI call that failed: the gRPC status (UNIMPLEMENTED, DEADLINE_EXCEEDED…) and containerd's message. */
export class CriCallError extends Error {
  override readonly name = 'CriCallError';
  readonly method: string;
  readonly code: grpc.status;
  readonly details: string;
  constructor(method: string, code: grpc.status, details: string) {
    super(`CRI ${method} failed: ${grpc.status[code] ?? code}: ${details}`);
    this.method = method;
    this.code = code;
    this.details = details;
  }
  get codeName(): string {
    return grpc.status[this.code] ?? String(this.code);
  }
}

type Msg = Record<string, unknown>;
type Unary = (req: Msg, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Msg) => void) => void;

/** The calls of the CRI's ImageService (the rest are RuntimeService's). */
const IMAGE_METHODS = new Set(['ImageStatus', 'PullImage', 'ListImages', 'RemoveImage', 'ImageFsInfo']);

let loaded: grpc.GrpcObject | undefined;
function definitions(): grpc.GrpcObject {
  loaded ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(join(import.meta.dirname, 'api.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true }),
  );
  return loaded;
}

export interface CriClientOptions {
  /** Host path of the socket (a unix socket path: at most 107 bytes). */
  socket: string;
}

export class CriClient {
  private readonly runtime: grpc.Client;
  private readonly images: grpc.Client;

  constructor(o: CriClientOptions) {
    if (Buffer.byteLength(o.socket) > 107) throw new RangeError(`containerd's socket path is too long for a unix socket (${Buffer.byteLength(o.socket)} > 107 bytes): ${o.socket}`);
    const v1 = (definitions()['runtime'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject;
    const Runtime = v1['RuntimeService'] as grpc.ServiceClientConstructor;
    const Image = v1['ImageService'] as grpc.ServiceClientConstructor;
    // No proxy, no retries, no keepalive pings: a call either answers or hits its deadline.
    const opts: grpc.ChannelOptions = { 'grpc.enable_http_proxy': 0, 'grpc.enable_retries': 0, 'grpc.max_receive_message_length': 64 << 20 };
    this.runtime = new Runtime(`unix:${o.socket}`, grpc.credentials.createInsecure(), opts);
    this.images = new Image(`unix:${o.socket}`, grpc.credentials.createInsecure(), opts);
  }

  /** One unary call with a deadline (ms); rejects with CriCallError. */
  call<T extends Msg = Msg>(method: string, req: Msg, timeoutMs: number): Promise<T> {
    const client = IMAGE_METHODS.has(method) ? this.images : this.runtime;
    const fn = (client as unknown as Record<string, Unary>)[method];
    if (!fn) throw new TypeError(`no CRI method ${method} in api.proto`);
    return new Promise<T>((res, rej) => {
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) => {
        if (e) rej(new CriCallError(method, e.code, e.details || e.message));
        else res((r ?? {}) as T);
      });
    });
  }

  version(timeoutMs: number) {
    return this.call<{ version: string; runtime_name: string; runtime_version: string; runtime_api_version: string }>('Version', { version: 'v1' }, timeoutMs);
  }

  /**
   * CheckpointContainer as the kubelet calls it: the container, the tar
   * file to write (a path on the node) and the timeout in seconds, which the
   * kubelet also sets as the call's deadline.
   */
  checkpoint(containerId: string, location: string, timeoutS: number) {
    return this.call('CheckpointContainer', { container_id: containerId, location, timeout: timeoutS }, timeoutS * 1000);
  }

  close(): void {
    this.runtime.close();
    this.images.close();
  }
}

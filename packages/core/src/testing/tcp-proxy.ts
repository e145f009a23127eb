import { connect, createServer, type Server, type Socket } from 'node:net';

/** Which way a {@link TcpProxy.cut} blocks traffic. */
export type CutDirection = 'both' | 'to-server' | 'to-client';

interface Pair {
  client: Socket;
  server: Socket;
  /** Bytes were dropped on this pair: it can never carry a valid stream again. */
  tainted: boolean;
}

/**
 * A loopback TCP proxy that a test controls, for cutting a client off from a server without
 * touching either process (Kazoo's harness does the same with its `lose_connection`).
 *
 * - {@link TcpProxy.cut}: a black hole — connections stay open but bytes in the chosen
 *   direction are silently dropped, and new connections are accepted but go nowhere.
 *   Neither side sees an error: only timeouts can tell.
 * - {@link TcpProxy.reset}: destroys every open connection (both sides see a reset/close).
 * - {@link TcpProxy.heal}: forwards again; connections that lost bytes are destroyed, since
 *   their streams can no longer be parsed.
 */
export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  private cutDirection: CutDirection | null = null;
  /** Bytes forwarded client→server and server→client since start. */
  readonly bytes = { toServer: 0, toClient: 0 };

  private constructor(
    private readonly server: Server,
    /** The proxy's own port on 127.0.0.1: point clients at `127.0.0.1:<port>`. */
    readonly port: number,
    readonly targetHost: string,
    readonly targetPort: number,
  ) {}

  /** Listens on a free 127.0.0.1 port and forwards every connection to `targetHost:targetPort`. */
  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const holder: { proxy?: TcpProxy } = {};
    const server = createServer((client) => holder.proxy!.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('unexpected proxy address');
    holder.proxy = new TcpProxy(server, addr.port, targetHost, targetPort);
    return holder.proxy;
  }

  /** `127.0.0.1:<port>`, for a client's connect string. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Number of open proxied connections. */
  get connections(): number {
    return this.pairs.size;
  }

  private accept(client: Socket): void {
    const server = connect({ host: this.targetHost, port: this.targetPort });
    const pair: Pair = { client, server, tainted: false };
    this.pairs.add(pair);
    client.setNoDelay(true);
    server.setNoDelay(true);
    client.on('data', (d: Buffer) => {
      if (this.cutDirection === 'both' || this.cutDirection === 'to-server') {
        pair.tainted = true;
        return;
      }
      this.bytes.toServer += d.length;
      server.write(d);
    });
    server.on('data', (d: Buffer) => {
      if (this.cutDirection === 'both' || this.cutDirection === 'to-client') {
        pair.tainted = true;
        return;
      }
      this.bytes.toClient += d.length;
      client.write(d);
    });
    const close = (): void => {
      client.destroy();
      server.destroy();
      this.pairs.delete(pair);
    };
    client.on('close', close);
    server.on('close', close);
    client.on('error', close);
    server.on('error', close);
  }

  /** Starts dropping traffic silently (default both directions). */
  cut(direction: CutDirection = 'both'): void {
    this.cutDirection = direction;
  }

  /** Forwards traffic again; destroys connections whose streams lost bytes while cut. */
  heal(): void {
    this.cutDirection = null;
    for (const p of this.pairs) {
      if (p.tainted) {
        p.client.destroy();
        p.server.destroy();
        this.pairs.delete(p);
      }
    }
  }

  /** Destroys every open connection now (the client sees the connection drop). */
  reset(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.server.destroy();
    }
    this.pairs.clear();
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    this.reset();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

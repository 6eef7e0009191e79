/**
 * The per-IP rate-limit bucket of a client address (docs/security.md A-67): an IPv6 client
 * counts as its /64, the smallest block a host is routinely given, so rotating addresses inside
 * one allocation does not buy new buckets; an IPv4-mapped IPv6 address counts as its IPv4 one.
 * Also the bounds on what one client holds open at a time: connections and step requests.
 * @module
 */
import type { Server } from 'node:http';
import { isIPv4, isIPv6, type Socket } from 'node:net';

/** Eight 16-bit groups of an IPv6 address (zone id dropped, `::` expanded, embedded IPv4 read). */
function ipv6Groups(address: string): number[] | null {
  const ip = address.split('%')[0] as string;
  if (!isIPv6(ip)) return null;
  let text = ip;
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (v4) {
    const [a, b, c, d] = (v4[2] as string).split('.').map(Number) as [
      number,
      number,
      number,
      number,
    ];
    text = `${v4[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const zeros = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<number>(zeros).fill(0), ...right];
}

/** The bucket key of a client IP address. */
export function rateLimitKey(address: string): string {
  if (isIPv4(address)) return address;
  const g = ipv6Groups(address);
  if (!g) return address;
  // ::ffff:a.b.c.d is an IPv4 client seen through a dual-stack socket.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff)
    return `${(g[6] as number) >> 8}.${(g[6] as number) & 255}.${(g[7] as number) >> 8}.${(g[7] as number) & 255}`;
  return `${g
    .slice(0, 4)
    .map((x) => x.toString(16))
    .join(':')}::/64`;
}

/**
 * Caps the open connections of each client address (its rate-limit bucket): one over the cap is
 * closed at once, before a byte is read. A WebSocket is an upgraded connection and counts until
 * it closes. Behind a proxy every connection comes from the proxy, so the cap applies to it.
 */
export function limitConnections(server: Server, max: number, refused: () => void): void {
  const open = new InFlight();
  server.on('connection', (socket: Socket) => {
    const release =
      socket.remoteAddress !== undefined &&
      open.acquire([{ key: rateLimitKey(socket.remoteAddress), max }]);
    if (!release) {
      refused();
      return void socket.destroy();
    }
    socket.once('close', release);
  });
}

/**
 * Counts requests in flight per key (a subject, a client address): `acquire` takes one under
 * every key, or none if any key is at its cap, and returns the function that gives them back.
 */
export class InFlight {
  readonly #counts = new Map<string, number>();

  acquire(keys: readonly { key: string; max: number }[]): (() => void) | null {
    if (keys.some(({ key, max }) => (this.#counts.get(key) ?? 0) >= max)) return null;
    for (const { key } of keys) this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const { key } of keys) {
        const left = (this.#counts.get(key) ?? 1) - 1;
        if (left === 0) this.#counts.delete(key);
        else this.#counts.set(key, left);
      }
    };
  }
}

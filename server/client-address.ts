import { createHmac } from 'node:crypto';
import net from 'node:net';

// Who is sending, as far as limits and abuse review need to know, without keeping the address: an
// IPv4 address, or the /64 network of an IPv6 address (one household or server holds a whole /64
// and can change address at will), under a keyed hash.

/** The address a limit counts: the IPv4 address, or the IPv6 /64 network ("2001:db8:1:2::/64"). */
export function limitedNetwork(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!net.isIPv6(ip)) return ip;
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

/** The keyed hash (HMAC-SHA-256, 128 bits as hex) of the sender's network; the address itself is never stored. */
export function addressHash(ip: string | undefined, secret: string): string {
  return createHmac('sha256', secret)
    .update(`ip:${limitedNetwork(ip ?? 'unknown')}`)
    .digest('hex')
    .slice(0, 32);
}

// Who a limit counts a call against: the signed-in user when the call carries a valid access
// token, otherwise the address it came from. Users behind one address (an office, a carrier's NAT)
// then do not share one allowance, and one user cannot escape theirs by changing networks.
import ipaddr from 'ipaddr.js';
import type { FastifyRequest } from 'fastify';
import { bearerToken } from '../auth/authenticate.ts';
import type { Keys } from '../auth/keys.ts';
import { verifyAccessToken, type TokenEnv } from '../auth/tokens.ts';
import type { ViewerCache } from '../auth/viewer-cache.ts';

/**
 * An address as limits count it. An IPv6 client counts by its /64: that is one subscriber's
 * network, inside which any host can take a fresh address at will. IPv4 inside IPv6
 * (::ffff:1.2.3.4) counts as the IPv4 address it is.
 */
export function addressKey(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  const parts = (address as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((part) => part.toString(16)).join(':')}::/64`;
}

export type ClientIdentifier = (request: FastifyRequest) => Promise<string>;

/**
 * Reads the token's signature and claims only (the session is checked later, by the procedure):
 * enough to know whose allowance to use, without a database read in front of every request.
 * A token that does not verify counts against the address, like no token.
 */
export function clientIdentifier(keys: Keys, env: TokenEnv, viewers: ViewerCache): ClientIdentifier {
  return async (request) => {
    const token = bearerToken(request.headers.authorization);
    if (token) {
      const userId = viewers.peek(token)?.id ?? (await verifyAccessToken(keys, env, token).catch(() => null))?.userId;
      if (userId) return `user:${userId}`;
    }
    return `addr:${addressKey(request.ip)}`;
  };
}

// Key pairs for the asymmetric token algorithms, as the PEM text JWT_PRIVATE_KEY / JWT_PUBLIC_KEYS take.
import { createPublicKey, generateKeyPairSync, type JsonWebKey } from 'node:crypto';

export interface PemKeyPair {
  /** PKCS #8 PEM. */
  privateKey: string;
  /** SPKI PEM. */
  publicKey: string;
}

/** A P-256 key pair, for ES256. */
export function ecKeyPair(): PemKeyPair {
  return generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

/** A 2048-bit RSA key pair, for RS256. */
export function rsaKeyPair(): PemKeyPair {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

/** The public JWK of a PEM public key (no kid, alg or use). */
export function publicJwk(publicKeyPem: string): JsonWebKey {
  return createPublicKey(publicKeyPem).export({ format: 'jwk' });
}

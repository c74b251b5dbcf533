// The keys behind every token, built once at start-up as KeyObjects (verification with a
// KeyObject skips re-parsing a PEM or secret string on every request).
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  hkdfSync,
  randomBytes,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { JwksClient, JwksRateLimitError, SigningKeyNotFoundError } from 'jwks-rsa';
import type { Env } from '../env.ts';

export type Algorithm = Env['JWT_ALGORITHM'];

const JWKS_KEY_LIFETIME_MS = 10 * 60_000;

export interface Keys {
  algorithm: Algorithm;
  /** The key tokens are signed with, or null in a verify-only process. */
  signing: { key: KeyObject; kid: string | undefined } | null;
  /** The key that verifies a token with this `kid` (undefined: none known). */
  verificationKey(kid: string | undefined): Promise<KeyObject | undefined>;
  /** Public keys to publish at /.well-known/jwks.json; null with HS256 or a JWKS URL. */
  jwks: { keys: JsonWebKey[] } | null;
  /** Secret for deriving a refresh token's successor; null in a verify-only process. */
  refreshDerivationKey: Buffer | null;
}

export class KeyConfigurationError extends Error {
  override name = 'KeyConfigurationError';
}

/** The JWKS URL did not answer: the token may be fine, we just cannot check it now (a 503). */
export class KeySourceUnavailableError extends Error {
  override name = 'KeySourceUnavailableError';
}

// Env values cannot hold newlines everywhere (Docker env files, some CI UIs): accept "\n" escapes.
const pem = (value: string) => value.replaceAll('\\n', '\n').trim();

/** RFC 7638 thumbprint: a kid that every party computes the same from the key alone. */
function thumbprint(jwk: JsonWebKey): string {
  const members =
    jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function checkKeyType(key: KeyObject, algorithm: Algorithm, what: string): void {
  const expected = algorithm === 'RS256' ? 'rsa' : 'ec';
  const curveOk = algorithm !== 'ES256' || key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (key.asymmetricKeyType !== expected || !curveOk) {
    throw new KeyConfigurationError(
      `${what} is not ${algorithm === 'RS256' ? 'an RSA key' : 'a P-256 EC key'}, as JWT_ALGORITHM=${algorithm} needs`,
    );
  }
}

/** PEM public keys, one after another, or a JWKS document ({"keys": [...]}). */
function parsePublicKeys(value: string, algorithm: Algorithm): KeyObject[] {
  const text = pem(value);
  let keys: KeyObject[];
  try {
    if (text.startsWith('{')) {
      const document = JSON.parse(text) as { keys?: JsonWebKey[] };
      keys = (document.keys ?? []).map((jwk) => createPublicKey({ key: jwk, format: 'jwk' }));
    } else {
      const blocks = text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? [];
      keys = blocks.map((block) => createPublicKey(block));
    }
  } catch {
    throw new KeyConfigurationError('JWT_PUBLIC_KEYS: not PEM public keys or a JWKS document');
  }
  if (keys.length === 0) throw new KeyConfigurationError('JWT_PUBLIC_KEYS: no key found');
  keys.forEach((key, index) => checkKeyType(key, algorithm, `JWT_PUBLIC_KEYS key ${index + 1}`));
  return keys;
}

/** Outside production only: a secret made on first start and kept, so tokens survive restarts. */
async function developmentSecret(dataDir: string): Promise<string> {
  const file = path.resolve(dataDir, 'jwt-secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = randomBytes(48).toString('base64url');
    await mkdir(path.dirname(file), { recursive: true });
    try {
      await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      // Another process made it first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    return (await readFile(file, 'utf8')).trim();
  }
}

// Separate keys for separate jobs, derived from the one configured secret (HKDF, RFC 5869).
const deriveKey = (material: Buffer, purpose: string) =>
  Buffer.from(hkdfSync('sha256', material, '', `warble ${purpose}`, 32));

export async function loadKeys(env: Env): Promise<Keys> {
  const algorithm = env.JWT_ALGORITHM;

  if (algorithm === 'HS256') {
    const secret =
      env.JWT_SECRET ?? (env.NODE_ENV === 'production' ? undefined : await developmentSecret(env.DATA_DIR));
    if (!secret) throw new KeyConfigurationError('JWT_SECRET is required when NODE_ENV=production');
    const key = createSecretKey(Buffer.from(secret, 'utf8'));
    return {
      algorithm,
      signing: { key, kid: undefined },
      verificationKey: () => Promise.resolve(key),
      jwks: null,
      refreshDerivationKey: deriveKey(Buffer.from(secret, 'utf8'), 'refresh token successor'),
    };
  }

  const published = new Map<string, KeyObject>();
  let signing: Keys['signing'] = null;
  let refreshDerivationKey: Buffer | null = null;
  if (env.JWT_PRIVATE_KEY) {
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(pem(env.JWT_PRIVATE_KEY));
    } catch {
      throw new KeyConfigurationError('JWT_PRIVATE_KEY: not a PEM private key');
    }
    checkKeyType(privateKey, algorithm, 'JWT_PRIVATE_KEY');
    const publicKey = createPublicKey(privateKey);
    const kid = thumbprint(publicKey.export({ format: 'jwk' }));
    published.set(kid, publicKey);
    signing = { key: privateKey, kid };
    refreshDerivationKey = deriveKey(privateKey.export({ format: 'der', type: 'pkcs8' }), 'refresh token successor');
  }
  // Extra public keys: the previous key during a rotation, or the only keys of a verify-only process.
  if (env.JWT_PUBLIC_KEYS) {
    for (const key of parsePublicKeys(env.JWT_PUBLIC_KEYS, algorithm)) {
      published.set(thumbprint(key.export({ format: 'jwk' })), key);
    }
  }

  let remote: JwksClient | undefined;
  // Kept for a while rather than forever, so a key removed from the JWKS stops verifying.
  const fetched = new Map<string, { key: KeyObject; until: number }>();
  // Loaded only when used: jwks-rsa and its dependencies add ~20 MB to every process otherwise.
  let jwksErrors:
    | { JwksRateLimitError: typeof JwksRateLimitError; SigningKeyNotFoundError: typeof SigningKeyNotFoundError }
    | undefined;
  if (env.JWT_JWKS_URL) {
    const jwks = await import('jwks-rsa');
    jwksErrors = jwks;
    // jwks-rsa caches keys and refetches (rate-limited) when a token names an unknown kid.
    remote = new jwks.JwksClient({
      jwksUri: env.JWT_JWKS_URL,
      cache: true,
      cacheMaxAge: JWKS_KEY_LIFETIME_MS,
      rateLimit: true,
      jwksRequestsPerMinute: 10,
      timeout: 5000,
    });
  }
  if (published.size === 0 && !remote) {
    throw new KeyConfigurationError(
      `JWT_ALGORITHM=${algorithm} needs JWT_PRIVATE_KEY, JWT_PUBLIC_KEYS or JWT_JWKS_URL`,
    );
  }

  return {
    algorithm,
    signing,
    async verificationKey(kid) {
      if (!kid) return undefined;
      const cached = fetched.get(kid);
      const known = published.get(kid) ?? (cached && cached.until > Date.now() ? cached.key : undefined);
      if (known || !remote) return known;
      let jwk;
      try {
        jwk = await remote.getSigningKey(kid);
      } catch (error) {
        // An unknown kid (or one we asked about too often) is a bad token; a fetch failure is ours.
        if (error instanceof jwksErrors!.SigningKeyNotFoundError || error instanceof jwksErrors!.JwksRateLimitError) {
          return undefined;
        }
        throw new KeySourceUnavailableError('the JWKS URL did not answer', { cause: error });
      }
      const key = createPublicKey(jwk.getPublicKey());
      fetched.set(kid, { key, until: Date.now() + JWKS_KEY_LIFETIME_MS });
      return key;
    },
    jwks: published.size
      ? {
          keys: [...published].map(([kid, key]) => ({
            ...key.export({ format: 'jwk' }),
            kid,
            alg: algorithm,
            use: 'sig',
          })),
        }
      : null,
    refreshDerivationKey,
  };
}

import { defineEntity, p } from '@mikro-orm/core';
import { RATE_LIMIT_TABLE } from '../limits/quota.ts';

/**
 * The counters of rate-limiter-flexible's PostgreSQL store (see rate-limit.ts), in the layout it
 * expects. Mapped only so that migrations create the table and schema checks know it; the
 * limiter reads and writes it itself.
 */
export const LoginAttemptSchema = defineEntity({
  name: 'LoginAttempt',
  tableName: RATE_LIMIT_TABLE,
  properties: {
    key: p.string().length(255).primary(),
    points: p.integer().default(0),
    // Epoch milliseconds at which the window ends.
    expire: p.bigint('number').nullable(),
  },
});

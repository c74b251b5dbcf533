// `Page<T>` (pagination/cursor.ts) as a zod schema, for the output of every list procedure.
import { z } from 'zod';

/** `{ items: T[], nextCursor }`, named `id` in the OpenAPI document. */
export function pageOf<Item extends z.ZodType>(item: Item, id: string) {
  return z
    .object({
      items: z.array(item),
      nextCursor: z
        .string()
        .nullable()
        .meta({ description: 'Pass as `cursor` for the next page; null on the last page.' }),
    })
    .meta({ id, description: 'One page of a list, newest first.' });
}

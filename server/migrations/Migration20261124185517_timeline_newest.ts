import { Migration } from '@mikro-orm/migrations';

export class Migration20261124185517_timeline_newest extends Migration {
  override name = 'Migration20261124185517_timeline_newest';

  override up(): void | Promise<void> {
    // Blocks writes to posts while it builds: about half a second per million posts.
    this.addSql(
      `create index "posts_live_recent" on "posts" ("created_at" desc, "id" desc) include ("author_id") where "deleted_at" is null;`,
    );
    // Timelines are index-only scans of posts and follows, which skip the heap only for pages the
    // visibility map marks all-visible, and only VACUUM marks them. By default an insert-only table
    // is vacuumed after growing by 20%: at a million posts, the newest 200,000 (the ones timelines
    // read) would cost a heap visit each. 1% keeps them marked.
    this.addSql(`alter table "posts" set (autovacuum_vacuum_insert_scale_factor = 0.01);`);
    this.addSql(`alter table "follows" set (autovacuum_vacuum_insert_scale_factor = 0.01);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "follows" reset (autovacuum_vacuum_insert_scale_factor);`);
    this.addSql(`alter table "posts" reset (autovacuum_vacuum_insert_scale_factor);`);
    this.addSql(`drop index "posts_live_recent";`);
  }
}

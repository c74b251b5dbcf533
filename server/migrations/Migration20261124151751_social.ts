import { Migration } from '@mikro-orm/migrations';

export class Migration20261124151751_social extends Migration {
  override name = 'Migration20261124151751_social';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "posts" ("id" uuid not null, "author_id" uuid not null, "body" text not null, "created_at" timestamptz(3) not null, "deleted_at" timestamptz(3) null, primary key ("id"));`,
    );
    this.addSql(
      `create index "posts_author_live_recent" on "posts" ("author_id", "created_at" desc, "id" desc) where "deleted_at" is null;`,
    );

    this.addSql(
      `create table "follows" ("follower_id" uuid not null, "followee_id" uuid not null, "created_at" timestamptz(3) not null, primary key ("follower_id", "followee_id"));`,
    );
    this.addSql(`alter table "follows" add constraint "follows_not_self" check (follower_id <> followee_id);`);
    this.addSql(
      `create index "follows_followee_recent" on "follows" ("followee_id", "created_at" desc, "follower_id" desc);`,
    );
    this.addSql(
      `create index "follows_follower_recent" on "follows" ("follower_id", "created_at" desc, "followee_id" desc);`,
    );

    this.addSql(
      `alter table "posts" add constraint "posts_author_id_foreign" foreign key ("author_id") references "users" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "follows" add constraint "follows_follower_id_foreign" foreign key ("follower_id") references "users" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "follows" add constraint "follows_followee_id_foreign" foreign key ("followee_id") references "users" ("id") on update cascade on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "posts" cascade;`);
    this.addSql(`drop table if exists "follows" cascade;`);
  }
}

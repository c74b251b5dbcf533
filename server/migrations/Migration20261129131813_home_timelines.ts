import { Migration } from '@mikro-orm/migrations';

export class Migration20261129131813_home_timelines extends Migration {
  override name = 'Migration20261129131813_home_timelines';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "home_fanout_cursor" ("id" smallint primary key, "tx" bigint not null, "event_id" bigint not null, "updated_at" timestamptz(3) not null default now());`,
    );

    this.addSql(
      `create table "home_timeline_entries" ("user_id" uuid not null, "created_at" timestamptz(3) not null, "post_id" uuid not null, primary key ("user_id", "created_at", "post_id"));`,
    );

    this.addSql(
      `create table "home_merged_authors" ("author_id" uuid not null, "since" timestamptz(3) not null default now(), primary key ("author_id"));`,
    );

    this.addSql(
      `create table "home_timelines" ("user_id" uuid not null, "built_at" timestamptz(3) null, "floor_created_at" timestamptz(3) null, "floor_id" uuid null, "read_at" timestamptz(3) not null default now(), primary key ("user_id"));`,
    );

    this.addSql(`alter table "home_fanout_cursor" add constraint "home_fanout_cursor_one_row" check (id = 1);`);
    // The fan-out starts at the beginning of the post log; with no home timeline built yet, it
    // only moves the cursor.
    this.addSql(`insert into "home_fanout_cursor" ("id", "tx", "event_id") values (1, 0, 0);`);
    // users.deleted_at came with the accounts migration and has no statistics until autovacuum
    // gets to the table: the planner then takes almost every account for deleted, and plans a page
    // of a home timeline as a hash join over all posts (600 ms instead of 0.3 ms at the bench scale).
    this.addSql(`analyze "users";`);

    this.addSql(
      `alter table "home_merged_authors" add constraint "home_merged_authors_author_id_foreign" foreign key ("author_id") references "users" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "home_timelines" add constraint "home_timelines_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "home_fanout_cursor" cascade;`);
    this.addSql(`drop table if exists "home_timeline_entries" cascade;`);
    this.addSql(`drop table if exists "home_merged_authors" cascade;`);
    this.addSql(`drop table if exists "home_timelines" cascade;`);
  }
}

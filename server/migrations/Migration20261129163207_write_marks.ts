import { Migration } from '@mikro-orm/migrations';

export class Migration20261129163207_write_marks extends Migration {
  override name = 'Migration20261129163207_write_marks';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "write_marks" ("user_id" uuid not null, "lsn" pg_lsn not null, "at" timestamptz(3) not null default now(), primary key ("user_id"));`,
    );

    // The schema diff's own find: the cursor's one row has always been inserted with id 1, and its
    // entity declares no default (home.entity.ts).
    this.addSql(`alter table "home_fanout_cursor" alter column "id" drop default;`);

    this.addSql(
      `alter table "write_marks" add constraint "write_marks_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "write_marks" cascade;`);

    this.addSql(`create sequence if not exists "home_fanout_cursor_id_seq";`);
    this.addSql(`select setval('home_fanout_cursor_id_seq', (select max("id") from "home_fanout_cursor"));`);
    this.addSql(`alter table "home_fanout_cursor" alter column "id" set default nextval('home_fanout_cursor_id_seq');`);
  }
}

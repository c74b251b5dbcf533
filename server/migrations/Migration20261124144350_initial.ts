import { Migration } from '@mikro-orm/migrations';

export class Migration20261124144350_initial extends Migration {
  override name = 'Migration20261124144350_initial';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "users" ("id" uuid not null, "username" varchar(32) not null, "password_hash" varchar(255) not null, "created_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(`create unique index "users_username_lower_unique" on "users" (lower("username"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "users" cascade;`);
  }
}

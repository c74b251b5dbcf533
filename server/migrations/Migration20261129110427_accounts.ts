import { Migration } from '@mikro-orm/migrations';

export class Migration20261129110427_accounts extends Migration {
  override name = 'Migration20261129110427_accounts';

  override up(): void | Promise<void> {
    // Accounts (#15): profile fields, soft-deleted accounts, and the erasure of their personal data
    // (users/account-purge.ts); password_hash is null once erased.
    this.addSql(
      `alter table "users" add "display_name" varchar(50) null, add "bio" varchar(160) not null default '', add "deleted_at" timestamptz(3) null, add "purged_at" timestamptz(3) null;`,
    );
    this.addSql(`alter table "users" alter column "password_hash" drop not null;`);
    this.addSql(
      `create index "users_deleted_unpurged" on "users" ("deleted_at") where "deleted_at" is not null and "purged_at" is null;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "users_deleted_unpurged";`);
    this.addSql(
      `alter table "users" drop column "display_name", drop column "bio", drop column "deleted_at", drop column "purged_at";`,
    );
    this.addSql(`alter table "users" alter column "password_hash" set not null;`);
  }
}

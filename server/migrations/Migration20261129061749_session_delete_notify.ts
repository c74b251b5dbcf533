import { Migration } from '@mikro-orm/migrations';

export class Migration20261129061749_session_delete_notify extends Migration {
  override name = 'Migration20261129061749_session_delete_notify';

  override up(): void | Promise<void> {
    // Declared on the Session entity: deleting a live session (a user's deletion cascades to
    // theirs) NOTIFYs the token caches' revocation channel, so no process keeps honouring it.
    this.addSql(
      `create or replace function "sessions_notify_deleted_fn"() returns trigger as \$\$ begin perform pg_notify('warble_sessions_revoked', json_build_object('sessionId', old.id)::text); return null; end; \$\$ language plpgsql;`,
    );
    this.addSql(`create trigger "notify_deleted" AFTER DELETE on "sessions" for each ROW
  when (((old.revoked_at IS NULL) AND (old.expires_at > now()))) execute function "sessions_notify_deleted_fn"();`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop trigger if exists "notify_deleted" on "sessions";`);
    this.addSql(`drop function if exists "sessions_notify_deleted_fn"();`);
  }
}
